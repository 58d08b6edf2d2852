"""Causal Latte in plain tensor ops: the exportable form (ONNX ``Scan`` and ``If``).

Same numbers as ``latte_causal``, built only from ops every exporter knows: no cummax, no
logcumsumexp, no Python loop over a data-dependent length.  onnxruntime runs a ``Scan`` body once per
chunk with real overhead per node, so each scan body holds only a chunk-level state update on (L x Dh)
tensors; everything per token is computed for all chunks at once, outside it.  Two forms, as in
``latte_causal``, chosen at run time by ``torch.cond`` (an ONNX ``If``):
  * fast: one reference per chunk, the running key max R_n, carried by a scan;
    keys exp(k_s - R_n) <= 1, alpha_t e^-R_n a cumulative sum, and one C x C matmul per chunk.  Taken
    when every real token has alpha_t e^-R_n >= e^-SAFE_SPREAD (keys do not jump by ~40 inside a chunk);
  * exact, for any key spread:
      - in-chunk log alpha by Hillis-Steele doubling with a stable ``logaddexp``;
      - per-chunk summaries U_n = sum_s exp(k_s - g_n) v_s, g_n the chunk's log-sum-exp (factors <= 1);
      - the scan carries the streaming state (S, z, m) across chunks and emits what each chunk starts from;
      - earlier chunks: p(l|t) exp(P_n - log alpha_t) S_n, every factor <= 1;
      - same chunk: recursive halving (blocks C, C/2, ..., 2) with log alpha at each split point as the
        reference, so both factors exp(k_s - ref), exp(ref - log alpha_t) are <= 1, as batched matmuls.
For export and onnxruntime, not for training (use ``latte_causal``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from latte_vt.attention.latte import NEG, SAFE_SPREAD, LatteState
from latte_vt.attention.shapes import check_mask, check_qkv, compute_dtype

#: Chunk length of both forms.  32: a trace at T >= 33 keeps N >= 2, so the exporter does not fix N = 1.
EXPORT_CHUNK = 32
#: Half-blocks up to this size use broadcast multiply-and-sum, larger ones matmuls (faster in onnxruntime).
SMALL_BLOCK = 2

Carry = tuple[Tensor, Tensor, Tensor]


def _shift_down(x: Tensor, d: int, fill: float) -> Tensor:
    """x[..., t, :] -> x[..., t - d, :] along dim -2, the first d rows filled with ``fill``."""
    return F.pad(x, (0, 0, d, 0), value=fill)[..., : x.shape[-2], :]


def _masked_tokens(x: Tensor, mask: Tensor, fill: float) -> Tensor:
    """x (B, H, T, F) with ``fill`` at the padded tokens (mask (B, T) False), also where x is NaN there.

    Filled in token-major layout (B, T, H, F): onnxruntime's Where broadcasts a (B, T, 1, 1) mask 2x faster
    than a (B, 1, T, 1) one, and the transposes cancel those of the heads' split and merge around this function."""
    return x.transpose(1, 2).masked_fill(~mask[:, :, None, None], fill).transpose(1, 2)  # (B, H, T, F)


def _logaddexp(a: Tensor, b: Tensor) -> Tensor:
    """log(exp(a) + exp(b)) that never overflows.  ``torch.logaddexp`` as exported ran in onnxruntime went
    wrong once keys passed ~88 (float32 exp overflow; seen with recency-biased keys at T ~ 200)."""
    hi = torch.maximum(a, b)
    return hi + torch.log1p(torch.exp(torch.minimum(a, b) - hi))


def _prefix_logsumexp(k: Tensor) -> Tensor:
    """log sum_{s<=t} exp(k_s) along dim -2 (static length C), by log2(C) stable doubling steps."""
    out, d = k, 1
    while d < k.shape[-2]:
        out = _logaddexp(out, _shift_down(out, d, NEG))
        d *= 2
    return out


def _fast_step(carry: Carry, chunk: tuple[Tensor, Tensor, Tensor]):
    """Fast form: carry S (B, H, L, Dh), z (B, H, L), running max m (B, H, L) over one chunk with key max
    kmax (B, H, L) and summaries U (B, H, L, Dh), u (B, H, L) scaled by exp(-kmax); emits the state the
    chunk starts from, rescaled to the new reference R = max(m, kmax), and exp(kmax - R)."""
    S, z, m = carry
    kmax, U, u = chunk
    R = torch.maximum(m, kmax)  # (B, H, L)
    decay = torch.exp(m - R)  # (B, H, L) <= 1
    w = torch.exp(kmax - R)  # (B, H, L) <= 1
    S_from, z_from = decay.unsqueeze(-1) * S, decay * z  # (B, H, L, Dh), (B, H, L)
    return (S_from + w.unsqueeze(-1) * U, z_from + w * u, R), (S_from, z_from, w)


def _fast_finish(pc: Tensor, vc: Tensor, keyf: Tensor, denom: Tensor, S_from: Tensor, *final: Tensor):
    """Fast form's outputs: pc, keyf, denom (B, H, N, C, L), vc (B, H, N, C, Dh), S_from (B, H, N, L, Dh)
    -> y (B, H, N, C, Dh) and the final (S, z, m)."""
    C = keyf.shape[-2]
    q_scaled = pc / denom.clamp_min(math.exp(-SAFE_SPREAD[pc.dtype]))  # (B, H, N, C, L) p(l|t) e^R / alpha_t
    causal = torch.ones(C, C, dtype=pc.dtype, device=pc.device).tril()  # (C, C) s <= t
    scores = (q_scaled @ keyf.transpose(-1, -2)) * causal  # (B, H, N, C, C)
    y = scores @ vc + q_scaled @ S_from  # (B, H, N, C, Dh)
    return (y, *(x.clone() for x in final))  # clones: a branch may not return its inputs


def _fast_parts(kc: Tensor, vc: Tensor, init: Carry, pad: Tensor | None) -> tuple[Tensor, tuple]:
    """Everything of the fast form up to its check, for kc (B, H, N, C, L), vc (B, H, N, C, Dh) and
    pad (B, 1, N, C, 1) 1.0 at padded tokens or None.  Returns ok and keyf, denom, S_from and the final
    state for ``_fast_finish``."""
    kmax = kc.amax(dim=-2)  # (B, H, N, L)
    keyl = torch.exp(kc - kmax.unsqueeze(-2))  # (B, H, N, C, L) <= 1, relative to the chunk's max
    U, u = keyl.transpose(-1, -2) @ vc, keyl.sum(-2)  # (B, H, N, L, Dh), (B, H, N, L)
    xs = (kmax.permute(2, 0, 1, 3), U.permute(2, 0, 1, 3, 4), u.permute(2, 0, 1, 3))  # chunk axis first
    final, (S_from, z_from, w) = _scan(_fast_step, init, xs)  # (N, B, H, L, Dh), (N, B, H, L), (N, B, H, L)
    keyf = keyl * w.permute(1, 2, 0, 3).unsqueeze(-2)  # (B, H, N, C, L) exp(k - R_n) <= 1
    denom = torch.cumsum(keyf, dim=-2) + z_from.permute(1, 2, 0, 3).unsqueeze(-2)  # (B, H, N, C, L) alpha_t e^-R_n
    check = denom if pad is None else denom + pad  # padded tokens never fail
    ok = check.min() >= math.exp(-SAFE_SPREAD[kc.dtype])
    return ok, (keyf, denom, S_from.permute(1, 2, 0, 3, 4), *final)


def _exact_step(carry: Carry, chunk: tuple[Tensor, Tensor, Tensor]):
    """Exact form: carry S (B, H, L, Dh), z (B, H, L), m (B, H, L) over one chunk with log-sum-exp g (B, H, L),
    summary U (B, H, L, Dh) and key max kmax (B, H, L); emits the log normaliser P (B, H, L) and
    S exp(m - P) (B, H, L, Dh) the chunk starts from."""
    S, z, m = carry
    g, U, kmax = chunk
    zc = z.clamp_min(1e-30)  # (B, H, L) z = 0 only before any token, where S = 0 too
    before = (m + torch.log(zc), S / zc.unsqueeze(-1))
    m_new = torch.maximum(m, kmax)  # (B, H, L)
    decay = torch.exp(m - m_new)  # (B, H, L) <= 1
    w = torch.exp(g - m_new)  # (B, H, L) <= C (g <= kmax + log C)
    S_new = decay.unsqueeze(-1) * S + w.unsqueeze(-1) * U  # (B, H, L, Dh)
    return (S_new, decay * z + w, m_new), before


def _within_chunks(p: Tensor, k: Tensor, v: Tensor, la: Tensor) -> Tensor:
    """sum_{s<=t, same chunk} p(l|t) exp(k_s - la_t) v_s for p, k, la (B, H, N, C, L), v (B, H, N, C, Dh).

    Only the static chunk axis is reshaped (blocks of b), never the dynamic N: the exporter keeps N free."""
    C = k.shape[-2]
    y = (p * torch.exp(k - la)).sum(-1, keepdim=True) * v  # (B, H, N, C, Dh) each token with itself
    b = C
    while b >= 2:
        h = b // 2
        pb, kb, vb, lab = (x.unflatten(3, (C // b, b)) for x in (p, k, v, la))  # (B, H, N, C/b, b, F)
        ref = lab[..., h - 1 : h, :]  # (B, H, N, C/b, 1, L) log alpha at the split, >= every left key
        k_left = torch.exp(kb[..., :h, :] - ref)  # (B, H, N, C/b, h, L) <= 1
        q_right = pb[..., h:, :] * torch.exp(ref - lab[..., h:, :])  # (B, H, N, C/b, h, L) <= 1
        if h <= SMALL_BLOCK:  # onnxruntime runs many tiny matmuls slowly: multiply and sum instead
            scores = (q_right.unsqueeze(-2) * k_left.unsqueeze(-3)).sum(-1, keepdim=True)  # (.., C/b, h, h, 1)
            y_right = (scores * vb[..., None, :h, :]).sum(-2)  # (B, H, N, C/b, h, Dh)
        else:
            y_right = (q_right @ k_left.transpose(-1, -2)) @ vb[..., :h, :]  # (B, H, N, C/b, h, Dh)
        y = y + torch.cat([torch.zeros_like(y_right), y_right], dim=-2).flatten(3, 4)  # (B, H, N, C, Dh)
        b = h
    return y


def _exact(pc: Tensor, kc: Tensor, vc: Tensor, S0: Tensor, z0: Tensor, m0: Tensor):
    """The exact form for pc, kc (B, H, N, C, L), vc (B, H, N, C, Dh) from the state (S0, z0, m0)
    -> y (B, H, N, C, Dh) and the final (S, z, m)."""
    lc = _prefix_logsumexp(kc)  # (B, H, N, C, L) log-sum-exp within the chunk up to t
    g = lc[..., -1, :]  # (B, H, N, L) each chunk's log-sum-exp
    U = torch.exp(kc - g.unsqueeze(-2)).transpose(-1, -2) @ vc  # (B, H, N, L, Dh) factors <= 1
    xs = (g.permute(2, 0, 1, 3), U.permute(2, 0, 1, 3, 4), kc.amax(dim=-2).permute(2, 0, 1, 3))  # chunk axis first
    (S, z, m), (P, S_before) = _scan(_exact_step, (S0, z0, m0), xs)  # P (N, B, H, L), S_before (N, B, H, L, Dh)
    P, S_before = P.permute(1, 2, 0, 3).unsqueeze(-2), S_before.permute(1, 2, 0, 3, 4)  # (B, H, N, 1, L), (.., L, Dh)
    la = _logaddexp(lc, P)  # (B, H, N, C, L) log alpha_t
    y = (pc * torch.exp(P - la)) @ S_before  # (B, H, N, C, Dh) earlier chunks, factors <= 1
    return y + _within_chunks(pc, kc, vc, la), S, z, m  # (B, H, N, C, Dh)


def _scan(step: Callable, init: Carry, xs: tuple[Tensor, ...]):
    from torch._higher_order_ops.scan import scan

    return scan(step, init, xs)


def _branch(ok: Tensor, fast: Callable, exact: Callable, operands: tuple[Tensor, ...]):
    """``fast(*operands)`` if ``ok`` else ``exact(*operands)``: an ONNX ``If`` when exported, a plain branch
    in eager torch (``torch.cond`` would compile there)."""
    if torch.compiler.is_exporting():
        return torch.cond(ok, fast, exact, operands)
    return fast(*operands) if bool(ok) else exact(*operands)


def latte_causal_scan(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    state: LatteState | None = None,
    mask: Tensor | None = None,
    chunk_size: int = EXPORT_CHUNK,
) -> tuple[Tensor, LatteState]:
    """Causal Latte by scans over chunks; returns (y (B, H, T, Dh), final state).  Exportable.

    Arguments as ``latte_causal``; ``state`` continues a sequence; mask (B, T) bool, True = real;
    ``chunk_size`` a power of two.
    """
    check_qkv(q, k, v, per_token=False)
    B, H, T, L = q.shape
    check_mask(mask, B, T)
    C = chunk_size
    if C < 1 or C & (C - 1):
        raise ValueError(f"chunk_size must be a power of two >= 1, got {chunk_size!r}")
    out_dtype, dt = q.dtype, compute_dtype(q.dtype)
    q, k, v = q.to(dt), k.to(dt), v.to(dt)
    pad = None
    if mask is not None:  # q stays: a padded token's p(l|t) reaches only its own output, zeroed below
        k, v = _masked_tokens(k, mask, NEG), _masked_tokens(v, mask, 0.0)  # (B, H, T, L), (B, H, T, Dh)
        pad = ~mask[:, None, :, None]  # (B, 1, T, 1)
    tail = (C - T % C) % C  # pad the end to whole chunks: later tokens never touch earlier ones
    pc = F.pad(torch.softmax(q, dim=-1), (0, 0, 0, tail)).unflatten(2, (-1, C))  # (B, H, N, C, L) p(l|t)
    kc = F.pad(k, (0, 0, 0, tail), value=NEG).unflatten(2, (-1, C))  # (B, H, N, C, L)
    vc = F.pad(v, (0, 0, 0, tail)).unflatten(2, (-1, C))  # (B, H, N, C, Dh)
    if state is None:  # built from the inputs' shapes, not from size arguments: exports with dynamic axes
        z0 = torch.zeros_like(k[:, :, 0, :], memory_format=torch.contiguous_format)  # (B, H, L) as the carry's
        init = (z0.unsqueeze(-1) * torch.zeros_like(v[:, :, 0, :]).unsqueeze(-2), z0, torch.full_like(z0, NEG))
    else:
        init = (state.S.to(dt), state.z.to(dt), state.m.to(dt))
    pad_f = None if pad is None else F.pad(pad.to(dt), (0, 0, 0, tail)).unflatten(2, (-1, C))  # (B, 1, N, C, 1)
    ok, fast_operands = _fast_parts(kc, vc, init, pad_f)

    def exact(pc: Tensor, kc: Tensor, vc: Tensor, S0: Tensor, z0: Tensor, m0: Tensor, *fast_parts: Tensor):
        return _exact(pc, kc, vc, S0, z0, m0)

    def fast(pc: Tensor, kc: Tensor, vc: Tensor, S0: Tensor, z0: Tensor, m0: Tensor, *fast_parts: Tensor):
        return _fast_finish(pc, vc, *fast_parts)

    # operands must not alias one another (torch.cond), and no branch reshapes the dynamic chunk axis N
    y, S, z, m = _branch(ok, fast, exact, (pc, kc, vc, *init, *fast_operands))
    y = y.flatten(2, 3)[:, :, :T]  # (B, H, T, Dh)
    if mask is not None:
        y = _masked_tokens(y, mask, 0.0)  # (B, H, T, Dh)
    return y.to(out_dtype), LatteState(S, z, m)

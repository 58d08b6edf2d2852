"""Causal Latte as a scan over chunks, in plain tensor ops: the exportable form (ONNX ``Scan``).

Same numbers as ``latte_causal``, built only from ops every exporter knows: no cummax, no
logcumsumexp, no Python loop over a data-dependent length.  onnxruntime runs a ``Scan`` body once per
chunk with real overhead per node, so the body holds only the chunk-level state update on (L x Dh)
tensors; everything per token is computed for all chunks at once, outside it:
  * in-chunk log alpha by Hillis-Steele doubling with a stable ``logaddexp``;
  * per-chunk summaries U_n = sum_s exp(k_s - g_n) v_s, g_n the chunk's log-sum-exp (factors <= 1);
  * the scan carries the streaming state (S, z, m) across chunks and emits what each chunk starts from;
  * earlier chunks: p(l|t) exp(P_n - log alpha_t) S_n, every factor <= 1;
  * same chunk: recursive halving (blocks C, C/2, ..., 2) with log alpha at each split point as the
    reference, so both factors exp(k_s - ref), exp(ref - log alpha_t) are <= 1, as batched matmuls.
Exact for any key spread.  For export and onnxruntime, not for training (use ``latte_causal``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from latte_vt.attention.latte import NEG, LatteState
from latte_vt.attention.shapes import check_mask, check_qkv, compute_dtype

EXPORT_CHUNK = 16
#: Half-blocks up to this size use broadcast multiply-and-sum, larger ones matmuls (faster in onnxruntime).
SMALL_BLOCK = 2


def _shift_down(x: Tensor, d: int, fill: float) -> Tensor:
    """x[..., t, :] -> x[..., t - d, :] along dim -2, the first d rows filled with ``fill``."""
    return F.pad(x, (0, 0, d, 0), value=fill)[..., : x.shape[-2], :]


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


def _carry_step(carry: tuple[Tensor, Tensor, Tensor], chunk: tuple[Tensor, Tensor, Tensor]):
    """Carry S (B, H, L, Dh), z (B, H, L), m (B, H, L) over one chunk with log-sum-exp g (B, H, L),
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


def _within_chunks(p: Tensor, k: Tensor, v: Tensor, la: Tensor, C: int) -> Tensor:
    """sum_{s<=t, same chunk} p(l|t) exp(k_s - la_t) v_s for p, k, la (B, H, T, L), v (B, H, T, Dh)."""
    y = (p * torch.exp(k - la)).sum(-1, keepdim=True) * v  # (B, H, T, Dh) each token with itself
    b = C
    while b >= 2:
        h = b // 2
        pb, kb, vb, lab = (x.unflatten(2, (-1, b)) for x in (p, k, v, la))  # (B, H, T/b, b, F)
        ref = lab[..., h - 1 : h, :]  # (B, H, T/b, 1, L) log alpha at the split, >= every left key
        k_left = torch.exp(kb[..., :h, :] - ref)  # (B, H, T/b, h, L) <= 1
        q_right = pb[..., h:, :] * torch.exp(ref - lab[..., h:, :])  # (B, H, T/b, h, L) <= 1
        if h <= SMALL_BLOCK:  # onnxruntime runs many tiny matmuls slowly: multiply and sum instead
            scores = (q_right.unsqueeze(-2) * k_left.unsqueeze(-3)).sum(-1, keepdim=True)  # (B, H, T/b, h, h, 1)
            y_right = (scores * vb[..., None, :h, :]).sum(-2)  # (B, H, T/b, h, Dh)
        else:
            y_right = (q_right @ k_left.transpose(-1, -2)) @ vb[..., :h, :]  # (B, H, T/b, h, Dh)
        y = y + torch.cat([torch.zeros_like(y_right), y_right], dim=-2).flatten(2, 3)  # (B, H, T, Dh)
        b = h
    return y


def latte_causal_scan(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    state: LatteState | None = None,
    mask: Tensor | None = None,
    chunk_size: int = EXPORT_CHUNK,
) -> tuple[Tensor, LatteState]:
    """Causal Latte by a scan over chunks; returns (y (B, H, T, Dh), final state).  Exportable.

    Arguments as ``latte_causal``; ``state`` continues a sequence; mask (B, T) bool, True = real;
    ``chunk_size`` a power of two.
    """
    from torch._higher_order_ops.scan import scan

    check_qkv(q, k, v, per_token=False)
    B, H, T, L = q.shape
    check_mask(mask, B, T)
    C = chunk_size
    if C < 1 or C & (C - 1):
        raise ValueError(f"chunk_size must be a power of two >= 1, got {chunk_size!r}")
    out_dtype, dt = q.dtype, compute_dtype(q.dtype)
    q, k, v = q.to(dt), k.to(dt), v.to(dt)
    if mask is not None:
        pad = ~mask[:, None, :, None]
        q, k, v = q.masked_fill(pad, 0.0), k.masked_fill(pad, NEG), v.masked_fill(pad, 0.0)
    tail = (C - T % C) % C  # pad the end to whole chunks: later tokens never touch earlier ones
    p = F.pad(torch.softmax(q, dim=-1), (0, 0, 0, tail))  # (B, H, Tp, L) p(l|t)
    k = F.pad(k, (0, 0, 0, tail), value=NEG)  # (B, H, Tp, L)
    v = F.pad(v, (0, 0, 0, tail))  # (B, H, Tp, Dh)
    kc, vc = k.unflatten(2, (-1, C)), v.unflatten(2, (-1, C))  # (B, H, N, C, L), (B, H, N, C, Dh)
    lc = _prefix_logsumexp(kc)  # (B, H, N, C, L) log-sum-exp within the chunk up to t
    g = lc[..., -1, :]  # (B, H, N, L) each chunk's log-sum-exp
    U = torch.exp(kc - g.unsqueeze(-2)).transpose(-1, -2) @ vc  # (B, H, N, L, Dh) factors <= 1
    if state is None:  # built from the inputs' shapes, not from size arguments: exports with dynamic axes
        z0 = torch.zeros_like(k[:, :, 0, :])  # (B, H, L)
        init = (z0.unsqueeze(-1) * torch.zeros_like(v[:, :, 0, :]).unsqueeze(-2), z0, torch.full_like(z0, NEG))
    else:
        init = (state.S.to(dt), state.z.to(dt), state.m.to(dt))
    xs = (g.permute(2, 0, 1, 3), U.permute(2, 0, 1, 3, 4), kc.amax(dim=-2).permute(2, 0, 1, 3))  # chunk axis first
    (S, z, m), (P, S_before) = scan(_carry_step, init, xs)  # P (N, B, H, L), S_before (N, B, H, L, Dh)
    P, S_before = P.permute(1, 2, 0, 3).unsqueeze(-2), S_before.permute(1, 2, 0, 3, 4)  # (B, H, N, 1, L), (.., L, Dh)
    la = _logaddexp(lc, P)  # (B, H, N, C, L) log alpha_t
    pc = p.unflatten(2, (-1, C))  # (B, H, N, C, L)
    y = (pc * torch.exp(P - la)) @ S_before  # (B, H, N, C, Dh) earlier chunks, factors <= 1
    y = y.flatten(2, 3) + _within_chunks(p, k, v, la.flatten(2, 3), C)  # (B, H, Tp, Dh)
    y = y[:, :, :T]
    if mask is not None:
        y = y.masked_fill(~mask[:, None, :, None], 0.0)
    return y.to(out_dtype), LatteState(S, z, m)

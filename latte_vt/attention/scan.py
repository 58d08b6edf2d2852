"""Causal Latte as a scan over chunks, in plain tensor ops: the exportable form (ONNX ``Scan``).

Same numbers as ``latte_causal``, built only from ops every exporter knows: no cummax, no
logcumsumexp, no Python loop over a data-dependent length.  The carry between chunks is the
streaming state (S, z, m); inside a chunk of C tokens (a static size):
  * running log-normaliser log alpha_t by Hillis-Steele doubling with ``logaddexp`` (stable),
    merged with the carried m + log z;
  * earlier chunks: p(l|t) exp(m - log alpha_t) S, every factor <= 1;
  * same chunk: weights exp(k_s - log alpha_t) (s <= t) formed directly as a (C, C, L) tensor.
Cost per token O(C L + L Dh): for export and onnxruntime, not for training (use ``latte_causal``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from latte_vt.attention.latte import NEG, LatteState
from latte_vt.attention.shapes import check_mask, check_qkv, compute_dtype

EXPORT_CHUNK = 16


def _shift_down(x: Tensor, d: int, fill: float) -> Tensor:
    """x[..., t, :] -> x[..., t - d, :] along dim -2, the first d rows filled with ``fill``."""
    return F.pad(x, (0, 0, d, 0), value=fill)[..., : x.shape[-2], :]


def _logaddexp(a: Tensor, b: Tensor) -> Tensor:
    """log(exp(a) + exp(b)) that never overflows.  ``torch.logaddexp`` as exported ran in onnxruntime went
    wrong once keys passed ~88 (float32 exp overflow; seen with recency-biased keys at T ~ 200)."""
    return torch.maximum(a, b) + torch.log1p(torch.exp(-(a - b).abs()))


def _prefix_logsumexp(k: Tensor) -> Tensor:
    """log sum_{s<=t} exp(k_s) along dim -2 (static length C), by log2(C) stable doubling steps."""
    out, d = k, 1
    while d < k.shape[-2]:
        out = _logaddexp(out, _shift_down(out, d, NEG))
        d *= 2
    return out


def _chunk_step(carry: tuple[Tensor, Tensor, Tensor], chunk: tuple[Tensor, Tensor, Tensor]):
    """One chunk: carry S (B, H, L, Dh), z (B, H, L), m (B, H, L); chunk q, k (B, H, C, L), v (B, H, C, Dh)."""
    S, z, m = carry
    q, k, v = chunk
    p_lat = torch.softmax(q, dim=-1)  # (B, H, C, L)
    carried = (m + torch.log(z.clamp_min(1e-30))).unsqueeze(-2)  # (B, H, 1, L) log of what came before
    la = _logaddexp(_prefix_logsumexp(k), carried)  # (B, H, C, L) log alpha_t
    y = (p_lat * torch.exp(m.unsqueeze(-2) - la)) @ S  # (B, H, C, Dh) earlier chunks
    C = k.shape[-2]
    causal = torch.ones(C, C, dtype=torch.bool, device=k.device).tril()  # (t, s): s <= t
    logits = k.unsqueeze(-3) - la.unsqueeze(-2)  # (B, H, t, s, L) k_s - log alpha_t
    weights = torch.exp(logits.masked_fill(~causal[:, :, None], NEG))  # (B, H, C, C, L) <= 1
    scores = (weights * p_lat.unsqueeze(-2)).sum(-1)  # (B, H, C, C)
    y = y + scores @ v  # (B, H, C, Dh)
    m_new = torch.maximum(m, k.amax(dim=-2))  # (B, H, L)
    decay = torch.exp(m - m_new)  # (B, H, L) <= 1
    keyf = torch.exp(k - m_new.unsqueeze(-2))  # (B, H, C, L) <= 1
    S_new = decay.unsqueeze(-1) * S + keyf.transpose(-1, -2) @ v  # (B, H, L, Dh)
    z_new = decay * z + keyf.sum(dim=-2)  # (B, H, L)
    return (S_new, z_new, m_new), y


def latte_causal_scan(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    state: LatteState | None = None,
    mask: Tensor | None = None,
    chunk_size: int = EXPORT_CHUNK,
) -> tuple[Tensor, LatteState]:
    """Causal Latte by a scan over chunks; returns (y (B, H, T, Dh), final state).  Exportable.

    Arguments as ``latte_causal``; ``state`` continues a sequence; mask (B, T) bool, True = real.
    """
    from torch._higher_order_ops.scan import scan

    check_qkv(q, k, v, per_token=False)
    B, H, T, L = q.shape
    check_mask(mask, B, T)
    out_dtype, dt = q.dtype, compute_dtype(q.dtype)
    q, k, v = q.to(dt), k.to(dt), v.to(dt)
    if mask is not None:
        pad = ~mask[:, None, :, None]
        q, k, v = q.masked_fill(pad, 0.0), k.masked_fill(pad, NEG), v.masked_fill(pad, 0.0)
    C = chunk_size
    tail = (C - T % C) % C  # pad the end to whole chunks: later tokens never touch earlier ones
    q = F.pad(q, (0, 0, 0, tail))
    k = F.pad(k, (0, 0, 0, tail), value=NEG)
    v = F.pad(v, (0, 0, 0, tail))

    def chunks(x: Tensor) -> Tensor:  # (B, H, N*C, F) -> (N, B, H, C, F)
        return x.unflatten(2, (-1, C)).permute(2, 0, 1, 3, 4)

    if state is None:  # built from the inputs' shapes, not from size arguments: exports with dynamic axes
        z0 = torch.zeros_like(k[:, :, 0, :])  # (B, H, L)
        init = (z0.unsqueeze(-1) * torch.zeros_like(v[:, :, 0, :]).unsqueeze(-2), z0, torch.full_like(z0, NEG))
    else:
        init = (state.S.to(dt), state.z.to(dt), state.m.to(dt))
    (S, z, m), ys = scan(_chunk_step, init, (chunks(q), chunks(k), chunks(v)))  # ys: (N, B, H, C, Dh)
    y = ys.permute(1, 2, 0, 3, 4).flatten(2, 3)[:, :, :T]  # (B, H, T, Dh)
    if mask is not None:
        y = y.masked_fill(~mask[:, None, :, None], 0.0)
    return y.to(out_dtype), LatteState(S, z, m)

"""Baselines and the Macchiato mix, with the same (B, H, T, .) layout as the Latte functions.

* ``softmax_attention``: plain scaled-dot-product attention (PyTorch SDPA), with padding mask.
* ``sliding_window_attention``: softmax over a local band, O(T * window), also returning the
  log-sum-exp of each row so it can share a normaliser with Latte.
* ``macchiato_mix``: Latte and the sliding window under ONE softmax over [latents, window tokens]:
  pi = softmax([q_latent, s_local]); y = sum_l pi_l ybar_l + sum_s pi_s v_s.  Since
  sum_l pi_l = 1 - lambda with lambda = sigmoid(lse_local - lse_latent), this is
  y = (1 - lambda) y_latte + lambda y_local, and the weights still sum to 1.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from latte_vt.attention.latte import NEG
from latte_vt.attention.shapes import check_float, check_mask


def softmax_attention(q: Tensor, k: Tensor, v: Tensor, causal: bool = False, mask: Tensor | None = None) -> Tensor:
    """SDPA over (B, H, T, D) tensors; mask (B, T) bool, True = real token; padded outputs are 0."""
    for name, x in (("q", q), ("k", k), ("v", v)):
        check_float(name, x, 4, "(B, H, T, D)")
    check_mask(mask, q.shape[0], q.shape[2])
    if mask is None:
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    T = q.shape[2]
    allowed = mask[:, None, None, :] | ~mask[:, None, :, None]  # (B, 1, T, T) padded queries see all: finite
    if causal:
        allowed = allowed & torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
    v = v.masked_fill(~mask[:, None, :, None], 0.0)
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)  # (B, H, T, D)
    return y.masked_fill(~mask[:, None, :, None], 0.0)


def _neighbour_blocks(x: Tensor, N: int, w: int, shifts: tuple[int, ...], value: float = 0.0) -> Tensor:
    """(..., N*w, F) -> (..., N, len(shifts)*w, F): for block i, blocks i+s (s in shifts) side by side."""
    blocks = F.pad(x, (0, 0, w, w), value=value).unflatten(-2, (N + 2, w))  # (..., N+2, w, F)
    return torch.cat([blocks[..., 1 + s : 1 + s + N, :, :] for s in shifts], dim=-2)


def sliding_window_attention(
    q: Tensor, k: Tensor, v: Tensor, window: int, causal: bool, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Softmax attention over a local band, computed block by block in O(T * window).

    Band: causal -> the last ``window`` tokens including t; bidirectional -> |t - s| <= window // 2.
    q, k: (B, H, T, D); v: (B, H, T, Dv); mask: (B, T) bool.  Returns y (B, H, T, Dv) and the
    log-sum-exp of each row's scaled scores (B, H, T), padded keys excluded.
    """
    B, H, T, D = q.shape
    w = window if causal else max(window // 2, 1)  # block size = reach of the band
    shifts = (-1, 0) if causal else (-1, 0, 1)
    N = -(-T // w)
    tail = N * w - T
    key_ok = torch.ones(B, T, 1, device=q.device) if mask is None else mask.unsqueeze(-1).to(q.dtype)  # (B, T, 1)
    q, k, v, key_ok = (F.pad(x, (0, 0, 0, tail)) for x in (q, k, v * key_ok.unsqueeze(1), key_ok))
    positions = torch.arange(N * w, device=q.device, dtype=q.dtype).unsqueeze(-1)  # (N*w, 1)
    kb = _neighbour_blocks(k, N, w, shifts)  # (B, H, N, nw, D)
    vb = _neighbour_blocks(v, N, w, shifts)  # (B, H, N, nw, Dv)
    okb = _neighbour_blocks(key_ok, N, w, shifts).squeeze(-1) > 0.5  # (B, N, nw)
    far = float(-4 * (N + 2) * w)  # padding positions lie outside every band
    s_pos = _neighbour_blocks(positions, N, w, shifts, value=far).squeeze(-1)  # (N, nw)
    t_pos = positions.view(N, w, 1)  # (N, w, 1)
    dist = t_pos - s_pos.unsqueeze(1)  # (N, w, nw) t - s
    in_band = ((dist >= 0) & (dist < window)) if causal else (dist.abs() <= window // 2)
    allowed = in_band & okb.unsqueeze(2)  # (B, N, w, nw)
    scores = (q.view(B, H, N, w, D) @ kb.transpose(-1, -2)) / math.sqrt(D)  # (B, H, N, w, nw)
    scores = scores.masked_fill(~allowed.unsqueeze(1), NEG)
    lse = torch.logsumexp(scores, dim=-1)  # (B, H, N, w)
    y = torch.softmax(scores, dim=-1) @ vb  # (B, H, N, w, Dv)
    return y.reshape(B, H, N * w, -1)[:, :, :T], lse.reshape(B, H, N * w)[:, :, :T]


def macchiato_mix(y_latte: Tensor, q_latent: Tensor, y_local: Tensor, lse_local: Tensor) -> Tensor:
    """One normaliser over latents and window tokens: y = (1 - lam) y_latte + lam y_local.

    y_latte, y_local: (B, H, T, Dv); q_latent: (B, H, T, L) latent logits; lse_local: (B, H, T).
    """
    lam = torch.sigmoid(lse_local - torch.logsumexp(q_latent, dim=-1)).unsqueeze(-1)  # (B, H, T, 1)
    return y_latte + lam * (y_local - y_latte)

"""O(T^2) float64 references for Latte, written straight from the definitions (tests, parity checks)."""

from __future__ import annotations

import torch
from torch import Tensor


def latte_causal_reference(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """y_t = sum_l softmax(q_t)_l sum_{s<=t} softmax_{s<=t}(k_{s,l}) v_s, in float64.  (B, H, T, Dh)."""
    q, k, v = q.double(), k.double(), v.double()
    T = q.shape[2]
    p_lat = torch.softmax(q, dim=-1)  # (B, H, T, L)
    future = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)  # (t, s): s > t
    logits = k.unsqueeze(2).expand(-1, -1, T, -1, -1)  # (B, H, t, s, L)
    logits = logits.masked_fill(future[:, :, None], float("-inf"))
    p_pos = torch.softmax(logits, dim=3)  # (B, H, t, s, L)  p(s|l, t)
    return torch.einsum("bhtl,bhtsl,bhsd->bhtd", p_lat, p_pos, v)


def latte_bidirectional_reference(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None) -> Tensor:
    """y_t = sum_l softmax(q_t)_l sum_s softmax_s(k_{s,l}) v_s over real tokens s; padded outputs 0."""
    q, k, v = q.double(), k.double(), v.double()
    p_lat = torch.softmax(q, dim=-1)  # (B, H, T, L)
    if mask is not None:
        k = k.masked_fill(~mask[:, None, :, None], float("-inf"))
        v = v.masked_fill(~mask[:, None, :, None], 0.0)
    p_pos = torch.softmax(k, dim=2).nan_to_num(0.0)  # (B, H, T, L); all-padding rows -> 0
    y = torch.einsum("bhtl,bhsl,bhsd->bhtd", p_lat, p_pos, v)
    if mask is not None:
        y = y.masked_fill(~mask[:, None, :, None], 0.0)
    return y

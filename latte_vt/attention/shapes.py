"""Argument checks shared by the attention functions: clear ValueErrors, compute dtype."""

from __future__ import annotations

import torch
from torch import Tensor

FLOAT_DTYPES = (torch.float64, torch.float32, torch.bfloat16, torch.float16)


def check_float(name: str, x: Tensor, ndim: int, layout: str) -> None:
    """Raise ValueError unless ``x`` is a floating tensor with ``ndim`` dims (``layout`` names them)."""
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape {layout}, got {type(x).__name__}")
    if x.ndim != ndim:
        raise ValueError(f"{name} must have shape {layout} ({ndim} dims), got shape {tuple(x.shape)}")
    if x.dtype not in FLOAT_DTYPES:
        raise ValueError(f"{name} must be float64/float32/bfloat16/float16, got {x.dtype}")


def check_qkv(q: Tensor, k: Tensor, v: Tensor, *, per_token: bool) -> None:
    """Validate latent logits q, k and values v.

    per_token=False: q, k (B, H, T, L) and v (B, H, T, Dh); per_token=True: q, k (B, H, L), v (B, H, Dh).
    """
    qk_layout, v_layout = ("(B, H, L)", "(B, H, Dh)") if per_token else ("(B, H, T, L)", "(B, H, T, Dh)")
    ndim = 3 if per_token else 4
    check_float("q", q, ndim, qk_layout)
    check_float("k", k, ndim, qk_layout)
    check_float("v", v, ndim, v_layout)
    if k.shape != q.shape:
        raise ValueError(f"k must have the same shape as q {qk_layout} = {tuple(q.shape)}, got {tuple(k.shape)}")
    if v.shape[:-1] != q.shape[:-1]:
        want = tuple(q.shape[:-1]) + ("Dh",)
        raise ValueError(f"v must have shape {v_layout} = {want}, got {tuple(v.shape)}")
    if not (q.dtype == k.dtype == v.dtype):
        raise ValueError(f"q, k and v must share one dtype, got q={q.dtype}, k={k.dtype}, v={v.dtype}")
    if q.shape[-1] < 1 or v.shape[-1] < 1:
        raise ValueError(f"q needs L >= 1 latents and v Dh >= 1 channels, got {tuple(q.shape)}, {tuple(v.shape)}")


def check_mask(mask: Tensor | None, batch: int, length: int) -> None:
    """Validate a (B, T) boolean padding mask (True = real token)."""
    if mask is None:
        return
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
        raise ValueError(f"mask must be a bool tensor of shape (B, T) = ({batch}, {length}), True = real token")
    if tuple(mask.shape) != (batch, length):
        raise ValueError(f"mask must have shape (B, T) = ({batch}, {length}), got {tuple(mask.shape)}")


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Half precision inputs are computed in float32; float32/float64 stay as they are."""
    return torch.float32 if dtype in (torch.bfloat16, torch.float16) else dtype

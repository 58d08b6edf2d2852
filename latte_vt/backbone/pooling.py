"""Sequence pooling after the encoder: masked mean, or latent cross-attention queries."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latte_vt.backbone.config import LatteConfig
from latte_vt.backbone.mixers import merge_heads, split_heads


class MeanPooling(nn.Module):
    """Mean over real tokens: (B, T, D) -> (B, D)."""

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        if mask is None:
            return x.mean(dim=1)
        w = mask.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
        return (x * w).sum(dim=1) / w.sum(dim=1).clamp_min(1.0)


class LatentPooling(nn.Module):
    """A few learned queries attend over the real tokens; their outputs are averaged: (B, T, D) -> (B, D)."""

    def __init__(self, cfg: LatteConfig) -> None:
        super().__init__()
        self.heads = cfg.heads
        self.queries = nn.Parameter(torch.randn(cfg.pool_queries, cfg.dim) * cfg.dim**-0.5)
        self.kv = nn.Linear(cfg.dim, 2 * cfg.dim)
        self.out = nn.Linear(cfg.dim, cfg.dim)
        self.norm = nn.LayerNorm(cfg.dim)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        B = x.shape[0]
        q = split_heads(self.queries.expand(B, -1, -1), self.heads)  # (B, H, M, Dh)
        k, v = (split_heads(t, self.heads) for t in self.kv(x).chunk(2, dim=-1))  # (B, H, T, Dh)
        if mask is not None:  # a sequence with no real token attends to all (finite, never NaN)
            mask = mask | ~mask.any(dim=1, keepdim=True)
        attn_mask = None if mask is None else mask[:, None, None, :]  # (B, 1, 1, T)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # (B, H, M, Dh)
        return self.norm(self.out(merge_heads(y)).mean(dim=1))  # (B, D)


def make_pooling(cfg: LatteConfig) -> nn.Module | None:
    """The pooling ``cfg.pooling`` names (None for ``none``: token features come out)."""
    if cfg.pooling == "mean":
        return MeanPooling()
    return LatentPooling(cfg) if cfg.pooling == "latent" else None

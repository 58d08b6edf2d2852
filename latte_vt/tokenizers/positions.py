"""Learned position tables that stretch to new lengths and grids by interpolation."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def sinusoids(length: int, dim: int) -> Tensor:
    """(length, dim) sine/cosine features of the position (transformer-style frequencies)."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]  # (T, 1)
    freq = torch.exp(-torch.arange(0, dim, 2, dtype=torch.float32) * (math.log(10000.0) / dim))  # (ceil(dim/2),)
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return table


class LearnedPositions1d(nn.Module):
    """A learned (length, dim) table; other lengths get it linearly interpolated.

    Initialised with small sinusoids (plus noise), so that earlier vs later is readable from the start.
    """

    def __init__(self, length: int, dim: int, init_scale: float = 0.2) -> None:
        super().__init__()
        self.table = nn.Parameter(sinusoids(length, dim) * init_scale + torch.randn(length, dim) * 0.02)

    def forward(self, length: int) -> Tensor:
        """(length, dim) position embeddings, linearly interpolated (aligned ends) from the table.

        Written with gathers instead of ``F.interpolate`` so the exported graph keeps ``length`` dynamic;
        at the learned length it returns the table itself.
        """
        L = self.table.shape[0]
        pos = torch.arange(length, device=self.table.device, dtype=self.table.dtype)  # (T,)
        pos = pos * (L - 1) / pos[-1:].clamp(min=1.0)  # (T,) in [0, L-1]
        lo = pos.floor().long().clamp(max=L - 1)
        hi = (lo + 1).clamp(max=L - 1)
        w = (pos - lo.to(pos.dtype)).unsqueeze(-1)  # (T, 1)
        return self.table[lo] * (1 - w) + self.table[hi] * w  # (T, dim)


class LearnedPositions2d(nn.Module):
    """A learned (rows, cols, dim) grid; other grids get it bicubically interpolated."""

    def __init__(self, rows: int, cols: int, dim: int) -> None:
        super().__init__()
        self.grid = nn.Parameter(torch.randn(rows, cols, dim) * 0.02)

    def forward(self, rows: int, cols: int) -> Tensor:
        """(rows * cols, dim) position embeddings, row-major."""
        grid = self.grid
        if (rows, cols) != tuple(grid.shape[:2]):
            grid = F.interpolate(
                grid.permute(2, 0, 1).unsqueeze(0), size=(rows, cols), mode="bicubic", align_corners=False
            )
            grid = grid[0].permute(1, 2, 0)  # (rows, cols, dim)
        return grid.reshape(rows * cols, -1)

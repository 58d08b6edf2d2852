"""Spatial soft-argmax ("keypoints"): a feature map -> where each channel fires, as coordinates.

For every channel c of a (C, h, w) map, a softmax over the h * w positions (sharpened by a learned
temperature) weights the position grid; the expected x and y in [-1, 1] say *where* the channel
responds, and its spatial mean says *how much*. A CNN channel that fires on an object thus yields
that object's coordinates as plain features, which a sequence model can compare across frames
(Levine et al., "End-to-End Training of Deep Visuomotor Policies", 2016).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def grid_coordinates(n: int, like: Tensor) -> Tensor:
    """(n,) positions spaced evenly over [-1, 1] (a single position sits at 0)."""
    step = 2.0 / max(n - 1, 1)
    return torch.arange(n, device=like.device, dtype=like.dtype) * step - (1.0 if n > 1 else 0.0)


class SpatialSoftmax(nn.Module):
    """(N, C, h, w) feature maps -> (N, 3C): expected x per channel, expected y per channel, channel mean.

    Args:
        temperature: initial sharpness of the per-channel softmax (learned).
    """

    def __init__(self, temperature: float = 10.0) -> None:
        super().__init__()
        self.temperature = nn.Parameter(torch.tensor(float(temperature)))

    def forward(self, maps: Tensor) -> Tensor:
        if maps.ndim != 4:
            raise ValueError(f"keypoint pooling needs (N, C, h, w) feature maps (a CNN), got {tuple(maps.shape)}")
        N, C, h, w = maps.shape
        weights = (maps.flatten(2) * self.temperature).softmax(dim=-1).view(N, C, h, w)  # (N, C, h, w), sums to 1
        x = (weights.sum(dim=2) * grid_coordinates(w, maps)).sum(dim=-1)  # (N, C) expected column
        y = (weights.sum(dim=3) * grid_coordinates(h, maps)).sum(dim=-1)  # (N, C) expected row
        return torch.cat([x, y, maps.mean(dim=(2, 3))], dim=1)  # (N, 3C)

"""``ClipPreprocess``: decoded frames at any resolution -> the model's normalised clips (torch).

The evaluation half of the video task's preprocessing (see ``latte_vt.data.video.spec``): short-side
resize with antialiasing, centre crop, scale to [0, 1], normalise. It is one ``nn.Module`` so that the
same code runs in the validation loop, in checkpoint inference and, exported inside ``model.onnx``
(an ONNX ``Resize`` with ``antialias=1``), in the torch-free runtime. Frame height and width may be
anything and stay dynamic in the exported graph.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latte_vt.data.video.spec import ClipSpec


class ClipPreprocess(nn.Module):
    """uint8 frames (B, T, H, W, 3) -> float32 clips (B, T, 3, size, size), normalised."""

    def __init__(self, spec: ClipSpec) -> None:
        super().__init__()
        self.size, self.short_side = spec.size, int(spec.short_side)
        self.register_buffer("mean", torch.tensor(spec.mean, dtype=torch.float32).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(spec.std, dtype=torch.float32).view(1, 3, 1, 1) * 255.0)

    def forward(self, frames: Tensor) -> Tensor:
        B, T, H, W, _ = frames.shape
        x = frames.permute(0, 1, 4, 2, 3).reshape(B * T, 3, H, W).float()  # (B*T, 3, H, W) in [0, 255]
        short = torch.sym_min(H, W)
        h = (2 * H * self.short_side + short) // (2 * short)  # round(H * short_side / short), in integers
        w = (2 * W * self.short_side + short) // (2 * short)
        x = F.interpolate(x, size=(h, w), mode="bilinear", antialias=True, align_corners=False)  # (B*T, 3, h, w)
        top, left = (h - self.size) // 2, (w - self.size) // 2
        x = x[:, :, top : top + self.size, left : left + self.size]  # (B*T, 3, S, S)
        x = (x - self.mean) / self.std
        return x.reshape(B, T, 3, self.size, self.size)

"""Video tokenizers: clips (B, T, 3, H, W) float -> tokens (B, N, D) for the encoder.

* ``PatchTokenizer``: tubelets (t x p x p) by a strided Conv3d, plus separable learned time and
  space position embeddings, interpolated when frames or resolution differ from training.
* ``FrameTokenizer``: any timm 2D backbone (by name; random init or a local weights file), one token
  per frame, plus a learned time embedding. ``pool=1`` averages the backbone's final feature map
  (timm's global pool); ``pool=n`` average-pools it to an n x n grid and flattens that into the
  token, so the token keeps *where* things are in the frame (motion direction needs it).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latte_vt.tokenizers.positions import LearnedPositions1d, LearnedPositions2d


def _check_clip(x: Tensor) -> None:
    if x.ndim != 5 or x.shape[2] != 3:
        raise ValueError(f"clips must have shape (B, T, 3, H, W), got {tuple(x.shape)}")


class PatchTokenizer(nn.Module):
    """Tubelet embedding: (B, T, 3, H, W) -> (B, T/t * H/p * W/p, dim) tokens, time-major."""

    def __init__(self, dim: int, num_frames: int = 16, image_size: int = 112, tubelet: int = 2, patch: int = 16):
        super().__init__()
        if num_frames % tubelet or image_size % patch:
            raise ValueError(
                f"num_frames ({num_frames}) / image_size ({image_size}) must be multiples of "
                f"tubelet ({tubelet}) / patch ({patch})"
            )
        self.tubelet, self.patch = tubelet, patch
        self.proj = nn.Conv3d(3, dim, kernel_size=(tubelet, patch, patch), stride=(tubelet, patch, patch))
        self.time = LearnedPositions1d(num_frames // tubelet, dim)
        self.space = LearnedPositions2d(image_size // patch, image_size // patch, dim)

    def forward(self, x: Tensor) -> Tensor:
        _check_clip(x)
        T, H, W = x.shape[1], x.shape[3], x.shape[4]
        if self.tubelet > T or self.patch > H or self.patch > W:
            raise ValueError(f"clip {T}x{H}x{W} is smaller than one tubelet {self.tubelet}x{self.patch}x{self.patch}")
        z = self.proj(x.transpose(1, 2))  # (B, D, T', H', W')
        B, D, Tp, Hp, Wp = z.shape
        z = z.permute(0, 2, 3, 4, 1)  # (B, T', H', W', D)
        pos = self.time(Tp)[:, None, :] + self.space(Hp, Wp)[None, :, :]  # (T', H'W', D)
        return (z.reshape(B, Tp, Hp * Wp, D) + pos).reshape(B, Tp * Hp * Wp, D)  # (B, N, D)


class FrameTokenizer(nn.Module):
    """One token per frame from a timm 2D backbone: (B, T, 3, H, W) -> (B, T, dim).

    Args:
        dim: token width.
        backbone: timm model name (random init unless ``weights`` is given).
        num_frames: frames the time embedding is learned for (other lengths interpolate).
        weights: optional local weights file (``.safetensors`` or a ``torch.save`` state dict).
        pool: 1 = global average of the final feature map (any timm model); n > 1 = average-pooled to
            an n x n grid and flattened (CNN backbones, whose features are (C, h, w) maps), which keeps
            the layout of the frame in its token.
        output_stride: optional timm ``output_stride`` (e.g. 16 or 8 for ResNets: dilated last stages,
            a larger final map at low input resolution).
    """

    def __init__(
        self,
        dim: int,
        backbone: str = "resnet18",
        num_frames: int = 16,
        weights: str | None = None,
        pool: int = 1,
        output_stride: int | None = None,
    ):
        super().__init__()
        try:
            import timm
        except ImportError as exc:  # pragma: no cover - exercised only without the extra
            raise ImportError("FrameTokenizer needs timm: pip install 'latte-vt[video]'") from exc
        if pool < 1:
            raise ValueError(f"pool must be >= 1 (1 = global average, n = n x n grid), got {pool}")
        extra = {} if output_stride is None else {"output_stride": output_stride}
        self.pool = pool
        self.backbone = timm.create_model(
            backbone, pretrained=False, num_classes=0, global_pool="avg" if pool == 1 else "", **extra
        )
        if weights is not None:
            self._load_weights(Path(weights))
        self.proj = nn.Linear(self.backbone.num_features * pool * pool, dim)
        self.time = LearnedPositions1d(num_frames, dim)

    def _load_weights(self, path: Path) -> None:
        if not path.is_file():
            raise FileNotFoundError(f"backbone weights file not found: {path}")
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
        missing, unexpected = self.backbone.load_state_dict(state, strict=False)
        if len(missing) == len(self.backbone.state_dict()):
            raise ValueError(f"{path}: no weight matches the backbone (unexpected keys such as {unexpected[:3]})")

    def forward(self, x: Tensor) -> Tensor:
        _check_clip(x)
        B, T = x.shape[:2]
        feats = self.backbone(x.flatten(0, 1))  # (B*T, F) pooled, or (B*T, F, h, w) with pool > 1
        if self.pool > 1:
            if feats.ndim != 4:
                raise ValueError(
                    f"pool={self.pool} needs a backbone with (C, h, w) feature maps; it gave {tuple(feats.shape[1:])}"
                )
            feats = F.adaptive_avg_pool2d(feats, self.pool).flatten(1)  # (B*T, F * pool * pool)
        return self.proj(feats).view(B, T, -1) + self.time(T)  # (B, T, D)

"""Video tokenizers: clips (B, T, 3, H, W) float -> tokens (B, N, D) for the encoder.

* ``PatchTokenizer``: tubelets (t x p x p) by a strided Conv3d, plus separable learned time and
  space position embeddings, interpolated when frames or resolution differ from training. With
  ``stem=c`` two small convolutions (c then 2c channels, 3x3 in space, the second also 3 frames in
  time, each halving the resolution) come before the tubelet projection: early convolutions make a
  transformer far easier to train from scratch (Xiao et al., "Early Convolutions Help Transformers
  See Better", 2021).
* ``FrameTokenizer``: any timm 2D backbone (by name; random init or a local weights file), one token
  per frame, plus a learned time embedding. ``pool="avg"`` averages the backbone's feature map
  (timm's global pool), ``pool="max"`` takes its maximum (which features fire anywhere, however
  small the object: what an order-of-events class needs); ``pool="keypoints"`` turns it into where
  each channel fires (spatial soft-argmax), so the token keeps *where* things are in the frame,
  which motion direction needs.
  ``stage`` cuts the backbone after one of its feature stages (a finer map, less compute).

Both take ``temporal_centering``: each pixel minus its mean over the clip's frames, which removes
whatever does not move (background, static objects). The mean is the same for a clip, its time
reversal and any shuffle of its frames, so the option adds no cue about frame order; it only makes
motion stand out. Leave it off when static appearance decides the label.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

import torch
from torch import Tensor, nn

from latte_vt.tokenizers.keypoints import SpatialSoftmax
from latte_vt.tokenizers.positions import LearnedPositions1d, LearnedPositions2d

FramePool = Literal["avg", "max", "keypoints"]
FRAME_POOLS: tuple[str, ...] = get_args(FramePool)


def _check_clip(x: Tensor) -> None:
    if x.ndim != 5 or x.shape[2] != 3:
        raise ValueError(f"clips must have shape (B, T, 3, H, W), got {tuple(x.shape)}")


def center_in_time(x: Tensor) -> Tensor:
    """(B, T, 3, H, W) -> the same clips minus each pixel's mean over the T frames."""
    return x - x.mean(dim=1, keepdim=True)


def conv_stem(channels: int) -> nn.Sequential:
    """(B, 3, T, H, W) -> (B, 2 * channels, T, H/4, W/4): two conv + BatchNorm + GELU layers."""
    c = channels
    return nn.Sequential(
        nn.Conv3d(3, c, kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), bias=False),
        nn.BatchNorm3d(c),
        nn.GELU(),
        nn.Conv3d(c, 2 * c, kernel_size=3, stride=(1, 2, 2), padding=1, bias=False),
        nn.BatchNorm3d(2 * c),
        nn.GELU(),
    )


class PatchTokenizer(nn.Module):
    """Tubelet embedding: (B, T, 3, H, W) -> (B, T/t * H/p * W/p, dim) tokens, time-major.

    Args:
        dim: token width.
        num_frames, image_size: the clip shape the position tables are learned for.
        tubelet, patch: tubelet depth (frames) and patch side (px); one token per tubelet.
        temporal_centering: subtract each pixel's mean over the clip first (see the module note).
        stem: channels of an optional convolutional stem before the tubelet projection (0 = none).
    """

    def __init__(
        self,
        dim: int,
        num_frames: int = 16,
        image_size: int = 112,
        tubelet: int = 2,
        patch: int = 16,
        temporal_centering: bool = False,
        stem: int = 0,
    ):
        super().__init__()
        if num_frames % tubelet or image_size % patch:
            raise ValueError(
                f"num_frames ({num_frames}) / image_size ({image_size}) must be multiples of "
                f"tubelet ({tubelet}) / patch ({patch})"
            )
        if stem and patch % 4:
            raise ValueError(
                f"a convolutional stem halves the resolution twice: patch ({patch}) must be a multiple of 4"
            )
        self.tubelet, self.patch, self.temporal_centering = tubelet, patch, temporal_centering
        self.stem = conv_stem(stem) if stem else None
        p = patch // 4 if stem else patch  # what is left of the patch after the stem
        self.proj = nn.Conv3d(2 * stem if stem else 3, dim, kernel_size=(tubelet, p, p), stride=(tubelet, p, p))
        self.time = LearnedPositions1d(num_frames // tubelet, dim)
        self.space = LearnedPositions2d(image_size // patch, image_size // patch, dim)

    def forward(self, x: Tensor) -> Tensor:
        _check_clip(x)
        T, H, W = x.shape[1], x.shape[3], x.shape[4]
        if self.tubelet > T or self.patch > H or self.patch > W:
            raise ValueError(f"clip {T}x{H}x{W} is smaller than one tubelet {self.tubelet}x{self.patch}x{self.patch}")
        if self.temporal_centering:
            x = center_in_time(x)
        if self.stem is None and torch.compiler.is_exporting():
            z = self._tubelets_as_matmul(x)  # (B, T', H', W', D)
        else:
            x = x.transpose(1, 2)  # (B, 3, T, H, W)
            z = self.proj(x if self.stem is None else self.stem(x))  # (B, D, T', H', W')
            z = z.permute(0, 2, 3, 4, 1)  # (B, T', H', W', D)
        B, Tp, Hp, Wp, D = z.shape
        pos = self.time(Tp)[:, None, :] + self.space(Hp, Wp)[None, :, :]  # (T', H'W', D)
        return (z.reshape(B, Tp, Hp * Wp, D) + pos).reshape(B, Tp * Hp * Wp, D)  # (B, N, D)

    def _tubelets_as_matmul(self, x: Tensor) -> Tensor:
        """The tubelet projection without a stem as one transpose and one matmul (what ``self.proj`` computes,
        as exported: onnxruntime runs it faster than its Conv): (B, T, 3, H, W) -> (B, T', H', W', D)."""
        t, p = self.tubelet, self.patch
        B, T, C, H, W = x.shape
        Tp, Hp, Wp = T // t, H // p, W // p
        x = x[:, : Tp * t, :, : Hp * p, : Wp * p]  # whole tubelets, as the strided Conv3d sees them
        x = x.reshape(B, Tp, t, C, Hp, p, Wp, p).permute(0, 1, 4, 6, 3, 2, 5, 7)  # (B, T', H', W', 3, t, p, p)
        weight = self.proj.weight.flatten(1)  # (D, 3 * t * p * p), the same (channel, time, row, column) order
        return torch.nn.functional.linear(x.flatten(4), weight, self.proj.bias)  # (B, T', H', W', D)


class FrameTokenizer(nn.Module):
    """One token per frame from a timm 2D backbone: (B, T, 3, H, W) -> (B, T, dim).

    Args:
        dim: token width.
        backbone: timm model name (random init unless ``weights`` is given).
        num_frames: frames the time embedding is learned for (other lengths interpolate).
        weights: optional local weights file (``.safetensors`` or a ``torch.save`` state dict).
        pool: ``avg`` (global average of the feature map), ``max`` (global maximum: which features
            fire anywhere in the frame, however small the object) or ``keypoints`` (spatial
            soft-argmax: per channel where it fires and how much; CNN backbones).
        stage: None = the whole backbone; k = its output after feature stage k (timm
            ``features_only``; e.g. stage 1 of a ResNet is the stride-4 map).
        temporal_centering: subtract each pixel's mean over the clip first (see the module note).
    """

    def __init__(
        self,
        dim: int,
        backbone: str = "resnet18",
        num_frames: int = 16,
        weights: str | None = None,
        pool: FramePool = "avg",
        stage: int | None = None,
        temporal_centering: bool = False,
    ):
        super().__init__()
        try:
            import timm
        except ImportError as exc:  # pragma: no cover - exercised only without the extra
            raise ImportError("FrameTokenizer needs timm: pip install 'latte-vt[video]'") from exc
        if pool not in FRAME_POOLS:
            raise ValueError(f"pool must be one of {FRAME_POOLS}, got {pool!r}")
        self.stage, self.pool, self.temporal_centering = stage, pool, temporal_centering
        if stage is None:
            global_pool = "" if pool == "keypoints" else pool
            self.backbone = timm.create_model(backbone, pretrained=False, num_classes=0, global_pool=global_pool)
            channels = self.backbone.num_features
        else:
            self.backbone = timm.create_model(backbone, pretrained=False, features_only=True, out_indices=(stage,))
            channels = self.backbone.feature_info.channels()[0]
        if weights is not None:
            self._load_weights(Path(weights))
        self.keypoints = SpatialSoftmax() if pool == "keypoints" else None
        self.proj = nn.Linear(channels * (3 if self.keypoints is not None else 1), dim)
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
        if self.temporal_centering:
            x = center_in_time(x)
        feats = self.backbone(x.flatten(0, 1))  # (B*T, C) pooled, or (B*T, C, h, w)
        if self.stage is not None:
            feats = feats[0]  # features_only: the list of the one requested stage
        if self.keypoints is not None:
            feats = self.keypoints(feats)  # (B*T, 3C)
        elif feats.ndim == 4:  # a stage's map: (B*T, C, h, w) -> (B*T, C)
            feats = feats.amax(dim=(2, 3)) if self.pool == "max" else feats.mean(dim=(2, 3))
        return self.proj(feats).view(B, T, -1) + self.time(T)  # (B, T, D)

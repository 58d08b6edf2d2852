"""Video classifier: clip tokenizer -> LatteEncoder (bidirectional, or causal over time-major tokens) -> pooling
-> linear head."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import torch
from torch import Tensor, nn

from latte_vt.backbone import LatteConfig, LatteEncoder
from latte_vt.tokenizers.video import FramePool, FrameTokenizer, PatchTokenizer


class VideoClassificationModel(nn.Module):
    """(B, T, 3, H, W) normalised clips -> (B, num_classes) logits.

    Args:
        num_classes: number of labels.
        encoder: encoder config; ``pooling`` defaults to mean pooling when ``none``. ``causal=True`` runs the
            encoder causally over the time-major tokens: each token's state summarises the clip so far, so
            the order of events is read directly (what the long-clip order task needs; see docs/video.md).
        tokenizer: ``patch`` (tubelets) or ``frame`` (a timm 2D backbone per frame).
        num_frames, image_size: the clip shape position embeddings are learned for.
        tubelet, patch: PatchTokenizer tubelet depth and patch size.
        patch_stem: PatchTokenizer convolutional stem channels (0 = the plain linear tubelet embedding).
        frame_backbone, frame_weights: FrameTokenizer timm model name and optional local weights file.
        frame_pool: FrameTokenizer pooling, ``avg``, ``max`` or ``keypoints`` (where each channel fires).
        frame_stage: FrameTokenizer backbone cut after this feature stage (None: the whole backbone).
        temporal_centering: both tokenizers: subtract each pixel's mean over the clip (what moves stands out).
    """

    def __init__(
        self,
        num_classes: int,
        encoder: LatteConfig | None = None,
        tokenizer: Literal["patch", "frame"] = "patch",
        num_frames: int = 16,
        image_size: int = 112,
        tubelet: int = 2,
        patch: int = 16,
        frame_backbone: str = "resnet18",
        frame_weights: str | None = None,
        frame_pool: FramePool = "avg",
        frame_stage: int | None = None,
        temporal_centering: bool = False,
        patch_stem: int = 0,
    ) -> None:
        super().__init__()
        cfg = encoder or LatteConfig(dim=128, depth=4, heads=4, latents=32, pooling="latent")
        cfg = replace(cfg, pooling=cfg.pooling if cfg.pooling != "none" else "mean")
        if tokenizer == "patch":
            self.tokenizer: nn.Module = PatchTokenizer(
                cfg.dim, num_frames, image_size, tubelet, patch, temporal_centering, patch_stem
            )
        elif tokenizer == "frame":
            self.tokenizer = FrameTokenizer(
                cfg.dim, frame_backbone, num_frames, frame_weights, frame_pool, frame_stage, temporal_centering
            )
        else:
            raise ValueError(f"tokenizer must be 'patch' or 'frame', got {tokenizer!r}")
        self.encoder = LatteEncoder(cfg)
        self.head = nn.Linear(cfg.dim, num_classes)

    def forward(self, clips: Tensor) -> Tensor:
        tokens = self.tokenizer(clips)  # (B, N, D)
        return self.head(self.encoder(tokens))  # (B, num_classes)

    @torch.no_grad()
    def predict_proba(self, views: Tensor) -> Tensor:
        """(B, V, T, 3, H, W) multi-view clips -> (B, num_classes) probabilities averaged over views."""
        B, V = views.shape[:2]
        probs = self(views.flatten(0, 1)).softmax(dim=-1)  # (B*V, C)
        return probs.view(B, V, -1).mean(dim=1)

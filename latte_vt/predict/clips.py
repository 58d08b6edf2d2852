"""Decode and sample a file's evaluation clips at their native resolution (numpy; no torch, no resize).

Resizing, cropping and normalisation happen inside the model (``ClipPreprocess``, exported in
``model.onnx``), so this is everything a runtime does to a video before the model sees it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from latte_vt.data.video.sampling import eval_clip_indices
from latte_vt.data.video.spec import ClipSpec
from latte_vt.errors import InputError


def sample_views(num_video_frames: int, spec: ClipSpec) -> np.ndarray:
    """Frame indices of the evaluation views: (V, T)."""
    return eval_clip_indices(num_video_frames, spec.num_frames, spec.num_clips, spec.eval_stride)


def decode_clips(source: str | Path | np.ndarray, spec: ClipSpec) -> np.ndarray:
    """A file (decoded with decord) or frames (T, H, W, 3) uint8 -> the views (V, T, H, W, 3) uint8."""
    if isinstance(source, np.ndarray):
        if source.ndim != 4 or source.shape[-1] != 3 or source.dtype != np.uint8 or len(source) == 0:
            raise InputError(f"frames must be uint8 (T, H, W, 3) with T >= 1, got {source.dtype} {source.shape}")
        idx = sample_views(len(source), spec)
        return source[idx.ravel()].reshape(*idx.shape, *source.shape[1:])
    from latte_vt.data.video import reader

    if "torch" not in sys.modules:
        reader.TORCH_BEFORE_DECORD = False  # a torch-free process: nothing to load before decord
    video = reader.open_video(source)
    idx = sample_views(video.num_frames, spec)
    unique, inverse = np.unique(idx, return_inverse=True)  # decode each frame once, in file order
    frames = video.get(unique)[inverse.reshape(-1)]  # (V*T, H, W, 3)
    return frames.reshape(*idx.shape, *frames.shape[1:])

"""Decode and sample what the model sees of a file (numpy; no torch).

* ``decode_clips``: the spec's evaluation views at the file's native resolution; the model resizes,
  crops and normalises (``ClipPreprocess``, exported in ``model.onnx``).
* ``decode_footage``: long files (``FootageSampling``): frames at a rate (``fps``) or ``stride`` across
  the whole file, at most ``max_frames``, decoded in chunks with the decoder scaling each frame down
  to the model's short side and cutting the centre square ``ClipPreprocess`` crops from (so its resize
  is the identity and its crop the same pixels). Memory is the sampled frames at model size, never the
  file: 1,024 frames at ``short_side`` 128 are 48 MiB. The decoder's scaler (FFmpeg) is not the
  model's antialiased bilinear resize: pixels differ by about 1/255 on average from ``decode_clips``.
"""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from latte_vt.data.video.sampling import eval_clip_indices
from latte_vt.data.video.spec import ClipSpec
from latte_vt.errors import InputError


def sample_views(num_video_frames: int, spec: ClipSpec) -> np.ndarray:
    """Frame indices of the evaluation views: (V, T)."""
    return eval_clip_indices(num_video_frames, spec.num_frames, spec.num_clips, spec.eval_stride)


def _open(path: str | Path) -> Any:
    from latte_vt.data.video import reader

    if "torch" not in sys.modules:
        reader.TORCH_BEFORE_DECORD = False  # a torch-free process: nothing to load before decord
    return reader.open_video(path)


def decode_clips(source: str | Path | np.ndarray, spec: ClipSpec) -> np.ndarray:
    """A file (decoded with decord) or frames (T, H, W, 3) uint8 -> the views (V, T, H, W, 3) uint8."""
    if isinstance(source, np.ndarray):
        _check_frames(source)
        idx = sample_views(len(source), spec)
        return source[idx.ravel()].reshape(*idx.shape, *source.shape[1:])
    video = _open(source)
    idx = sample_views(video.num_frames, spec)  # (V, T)
    frames = video.get(idx.ravel())  # (V*T, H, W, 3)
    return frames.reshape(*idx.shape, *frames.shape[1:])


def _check_frames(frames: np.ndarray) -> None:
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise InputError(f"frames must be uint8 (T, H, W, 3) with T >= 1, got {frames.dtype} {frames.shape}")


@dataclass(frozen=True)
class FootageSampling:
    """How a long file is sampled: ``fps`` frames per second of video, or every ``stride``-th frame,
    across the whole file; at most ``max_frames`` (more are spread evenly over the file instead).

    The count is rounded up to whole clips of the model's ``num_frames`` (so tubelets are whole) and is
    at least one clip. ``windows=False``: one model pass over all sampled frames (the model's time
    positions stretch to the length); ``windows=True``: consecutive windows of ``num_frames`` frames
    as separate clips (a few per model call), their class probabilities averaged (per-window results kept).
    """

    fps: float | None = None
    stride: int | None = None
    max_frames: int = 1024
    windows: bool = False

    def __post_init__(self) -> None:
        if (self.fps is None) == (self.stride is None):
            raise InputError("footage sampling: give exactly one of fps or stride")
        if self.fps is not None and not (math.isfinite(self.fps) and self.fps > 0):
            raise InputError(f"footage sampling: fps must be a positive number, got {self.fps}")
        if self.stride is not None and self.stride < 1:
            raise InputError(f"footage sampling: stride must be at least 1, got {self.stride}")
        if self.max_frames < 1:
            raise InputError(f"footage sampling: max_frames must be at least 1, got {self.max_frames}")

    def check(self, spec: ClipSpec) -> None:
        """Refuse a ``max_frames`` below one clip of the model's."""
        if self.max_frames < spec.num_frames:
            clip = spec.num_frames
            raise InputError(f"max_frames ({self.max_frames}) must be at least the model's clip ({clip} frames)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def footage_indices(num_video_frames: int, video_fps: float, spec: ClipSpec, sampling: FootageSampling) -> np.ndarray:
    """Frame indices (V, T): one view of all sampled frames, or (``windows``) V windows of ``num_frames``.

    ``stride`` keeps its spacing, centred in the file (one middle gap may be a frame shorter, so that the
    set stays symmetric under time reversal, as ``eval_clip_indices`` makes it), unless rounding up to
    whole clips or the cap needs more span than the file has; ``fps`` (and the cap) place the frames at
    ``linspace(0, n - 1, count)``."""
    sampling.check(spec)
    n, clip = num_video_frames, spec.num_frames
    if sampling.stride is not None:
        count, stride = (n - 1) // sampling.stride + 1, sampling.stride
    elif not (math.isfinite(video_fps) and video_fps > 0):
        raise InputError("the file has no frame rate to sample by fps: use stride instead")
    else:
        count, stride = math.floor((n - 1) * sampling.fps / video_fps + 1e-9) + 1, n
    count = max(clip, math.ceil(count / clip) * clip)  # whole clips, at least one
    cap = sampling.max_frames // clip * clip
    if count > cap:
        count, stride = cap, n
    idx = eval_clip_indices(n, count, 1, stride)[0]  # (count,)
    return idx.reshape(-1, clip) if sampling.windows else idx[None]  # (V, T)


def footage_crop(width: int, height: int, spec: ClipSpec) -> tuple[tuple[int, int], tuple[int, int, int, int]] | None:
    """For frames larger than the model's short side: the decoder's output size (``ClipPreprocess``'s
    resize, same rounding) and the square (left, top, side, side) around the crop it takes; else None."""
    side = int(spec.short_side)
    short = min(width, height)
    if short <= side:
        return None
    w, h = (2 * width * side + short) // (2 * short), (2 * height * side + short) // (2 * short)
    left = (w - spec.size) // 2 - (side - spec.size) // 2  # the model crops (side - size) // 2 in from here
    top = (h - spec.size) // 2 - (side - spec.size) // 2
    return (w, h), (left, top, side, side)


@dataclass
class Footage:
    """Sampled frames of one file: ``views`` (V, T, H, W, 3) uint8, their frame ``indices`` (V, T) and the
    file's frame rate (nan when unknown)."""

    views: np.ndarray
    indices: np.ndarray
    fps: float


def _check_complete(video: Any) -> None:
    """Refuse a file whose frames cover clearly less than the duration its container declares (cut off)."""
    from latte_vt.data.video.reader import VideoReadError

    declared = video.declared_seconds
    if declared is None or not np.isfinite(video.fps):
        return
    covered = video.num_frames / video.fps
    if covered < 0.95 * declared - 1.0:  # slack: rounding, and a file-level duration that counts audio
        reason = (
            f"truncated: {video.num_frames} frames ({covered:.1f} s) of the {declared:.1f} s the container declares"
        )
        raise VideoReadError(video.path, reason)


def decode_footage(source: str | Path | np.ndarray, spec: ClipSpec, sampling: FootageSampling) -> Footage:
    """A long file, or frames (T, H, W, 3) uint8 (no frame rate: stride only), sampled by ``sampling``."""
    if isinstance(source, np.ndarray):
        _check_frames(source)
        idx = footage_indices(len(source), float("nan"), spec, sampling)  # (V, T)
        return Footage(source[idx.ravel()].reshape(*idx.shape, *source.shape[1:]), idx, float("nan"))
    from latte_vt.data.video.reader import VideoReadError

    sampling.check(spec)
    video = _open(source)
    try:
        idx = footage_indices(video.num_frames, video.fps, spec, sampling)  # (V, T)
    except InputError as exc:  # the file has no frame rate
        raise VideoReadError(source, str(exc)) from exc
    _check_complete(video)
    scaled = footage_crop(*video.frame_size, spec)
    if scaled is not None:
        video.resize(*scaled[0], crop=scaled[1])
    frames = video.get(idx.ravel())  # (V*T, h, w, 3)
    return Footage(frames.reshape(*idx.shape, *frames.shape[1:]), idx, video.fps)

"""Which frames of a video make a clip.

* Training: one clip of ``num_frames`` frames at a random temporal stride (drawn from ``strides``,
  keeping only strides whose span fits the video) from a random start.
* Evaluation: ``num_clips`` clips spread uniformly over the video, each spanning
  ``(num_frames - 1) * eval_stride + 1`` frames; frame positions are ``linspace(start, end, k)``
  rounded **symmetrically**: reversing the video maps the set of sampled frames onto itself
  (``indices(n)[::-1, ::-1] == n - 1 - indices(n)``). An order-invariant statistic therefore sees
  exactly the same frames for a clip and its time reversal and cannot tell "left" from "right".
  The one exception: a lone centre position that falls half-way between two frames (an odd number
  of positions in all, an even ``n``) must pick one of them.
* Videos shorter than a clip are padded by repeating frames: frame ``j`` of the clip is the frame
  under position ``(j + 0.5) * n / num_frames``, so every frame is used, in order, each
  ``floor`` or ``ceil`` of ``num_frames / n`` times (a slow-motion stretch, not a frozen tail), and
  the set is symmetric as above.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from latte_vt.errors import InputError


def _round_symmetric(numerator: np.ndarray, denominator: int, n: int) -> np.ndarray:
    """Round numerator / denominator (positions in [0, n - 1]) so that position p and n - 1 - p round to mirror images.

    Positions left of the centre round half up; those right of it are rounded as their mirror
    image and mirrored back. Integer arithmetic, so ties are exact.
    """
    mirror = (n - 1) * denominator - numerator  # (..., k)
    left = (2 * numerator + denominator) // (2 * denominator)
    right = (n - 1) - (2 * mirror + denominator) // (2 * denominator)
    return np.where(2 * numerator <= (n - 1) * denominator, left, right).astype(np.int64)


def eval_clip_indices(num_video_frames: int, num_frames: int, num_clips: int = 1, stride: int = 2) -> np.ndarray:
    """Frame indices of ``num_clips`` uniform clips -> (num_clips, num_frames) int64, symmetric under reversal."""
    n, k, K = num_video_frames, num_frames, num_clips
    if n < 1 or k < 1 or K < 1 or stride < 1:
        raise InputError(f"need num_video_frames, num_frames, num_clips, stride >= 1, got {n}, {k}, {K}, {stride}")
    span = min(n, (k - 1) * stride + 1)  # source frames one clip covers
    if span < k:  # shorter than a clip: every clip is the whole video, frames repeated evenly
        j = np.arange(k, dtype=np.int64)
        den = 2 * k
        num = np.broadcast_to((2 * j + 1) * n - k, (K, k))  # (K, k) position (j + 0.5) n / k - 0.5
    else:  # position of frame j of clip c: c * (n - span) / (K - 1) + j * (span - 1) / (k - 1)
        kd, Kd = max(k - 1, 1), max(K - 1, 1)
        den = 2 * kd * Kd
        c2 = 2 * np.arange(K)[:, None] if K > 1 else np.ones((1, 1), np.int64)  # 2c; a single clip sits in the middle
        j2 = 2 * np.arange(k)[None, :] if k > 1 else np.ones((1, 1), np.int64)  # 2j; a single frame too
        num = c2 * kd * (n - span) + j2 * Kd * (span - 1)  # (K, k)
    idx = np.clip(_round_symmetric(num, den, n), 0, n - 1)  # (K, k)
    # Positions exactly half-way between the two middle frames (n even) all round up; the later of each
    # mirror pair takes the lower frame instead, so the pair stays symmetric.
    order = np.arange(K * k).reshape(K, k)
    tie = (2 * num == (n - 1) * den) & (n % 2 == 0) & (order > order[::-1, ::-1])
    return np.where(tie, idx - 1, idx)


def train_clip_indices(
    num_video_frames: int, num_frames: int, rng: np.random.Generator, strides: Sequence[int] = (1, 2, 3, 4)
) -> np.ndarray:
    """One random training clip -> (num_frames,) int64, non-decreasing, all in [0, num_video_frames)."""
    n, k = num_video_frames, num_frames
    if n < 1 or k < 1 or not strides or min(strides) < 1:
        raise InputError(f"need num_video_frames, num_frames >= 1 and positive strides, got {n}, {k}, {strides}")
    fitting = [s for s in strides if (k - 1) * s + 1 <= n]
    if not fitting:
        if n >= k:  # every configured stride is too long for this video: fall back to consecutive frames
            fitting = [1]
        else:  # shorter than one clip: stretch over the whole video by repeating frames
            return eval_clip_indices(n, k, num_clips=1, stride=1)[0]
    stride = int(rng.choice(fitting))
    start = int(rng.integers(0, n - (k - 1) * stride))
    return start + stride * np.arange(k, dtype=np.int64)


@dataclass(frozen=True)
class ClipSampler:
    """Clip sampling settings for one dataset.

    Args:
        num_frames: frames per clip.
        strides: temporal strides a training clip may use (one drawn per clip).
        num_clips: clips per video at evaluation (scores are averaged over them).
        eval_stride: temporal stride of evaluation clips.
    """

    num_frames: int = 16
    strides: tuple[int, ...] = (1, 2, 3, 4)
    num_clips: int = 1
    eval_stride: int = 2

    def __call__(self, num_video_frames: int, train: bool, rng: np.random.Generator) -> np.ndarray:
        """Indices -> (V, num_frames) int64: V = 1 for training, ``num_clips`` for evaluation."""
        if train:
            return train_clip_indices(num_video_frames, self.num_frames, rng, self.strides)[None, :]
        return eval_clip_indices(num_video_frames, self.num_frames, self.num_clips, self.eval_stride)

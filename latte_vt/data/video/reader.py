"""Decode video files with decord: frames as (T, H, W, 3) uint8, and a clear reason when a file is bad.

decord is imported lazily and, in any process that uses torch, only after torch: decord first can
segfault or hang DataLoader workers. Everything that goes wrong while opening or decoding a file is
raised as ``VideoReadError(path, reason)``; decord's silent fault tolerance (returning copies of
neighbouring frames for frames it could not decode) is switched off, so a damaged stream raises
instead of yielding duplicated frames. decord 0.6.0 cannot copy out frames 16, 24, 48 or 72 px wide;
such files are decoded at an integer multiple of their size (same aspect) instead.

``get`` decodes in file order, ``CHUNK_FRAMES`` frames per decord call, into one array of the frames
asked for; ``resize`` makes the decoder itself scale frames down (FFmpeg's scaler), so a long 720p file
sampled at a few hundred frames never holds more than a chunk of frames, none at full resolution.

A file whose container over-reports its frame count can hang decord. Untrusted files should be
probed first with ``probe`` (``latte_vt.data.video.probe``), which decodes in a subprocess with a
timeout.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from latte_vt.errors import InputError

VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".flv", ".wmv"})
"""File suffixes treated as videos when a folder is scanned."""

TORCH_BEFORE_DECORD = True
"""Import torch before decord. Only the probe worker, which never loads torch, turns this off."""

_FAULT_TOLERANCE = 1e-6  # raise if even one frame had to be "recovered" from a neighbour
_DECORD_LOG_PREFIX = re.compile(r"\[\d{2}:\d{2}:\d{2}\] \S+?:\d+: ")
_INVALID_DATA = re.compile(r"-?\b1094995529\b")  # FFmpeg's AVERROR_INVALIDDATA as decord prints it
_WIDTH_BUG = "DECORDArrayCopyFromTo"
_UPSCALE_FACTORS = (2, 3, 4)
CHUNK_FRAMES = 32
"""Frames per decord ``get_batch`` call in ``DecordVideo.get``."""


class VideoReadError(InputError):
    """A video file that cannot be opened or decoded; ``reason`` says why in one line."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across DataLoader workers
        return (type(self), (self.path, self.reason))


@dataclass(frozen=True)
class VideoInfo:
    """What a probe learns about a file: decodable frame count, frame rate and frame size."""

    num_frames: int
    fps: float
    width: int
    height: int


def _decord() -> Any:
    try:
        if TORCH_BEFORE_DECORD:
            import torch  # noqa: F401  (must be loaded before decord)
        import decord
    except ImportError as exc:
        raise ImportError("reading videos needs decord: pip install 'latte-vt[video]'") from exc
    return decord


def _clean(message: object) -> str:
    """decord's error text on one line, without timestamps and C++ source locations, FFmpeg codes named."""
    text = _DECORD_LOG_PREFIX.sub("", str(message))
    text = _INVALID_DATA.sub("AVERROR_INVALIDDATA (truncated or corrupt data)", text)
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("Stack trace")]
    return " ".join(lines[:2]).removeprefix("Error: ")[:300] or type(message).__name__


def _sniff(path: Path) -> str | None:
    """A reason that needs no decoder: missing, a folder, empty, or plain text."""
    if not path.exists():
        return "file not found"
    if not path.is_file():
        return "not a regular file"
    size = path.stat().st_size
    if size == 0:
        return "empty file (0 bytes)"
    with path.open("rb") as fh:
        head = fh.read(512)
    if _is_text(head):
        return f"a text file, not a video ({size} bytes)"
    return None


def _is_text(head: bytes) -> bool:
    if b"\0" in head:
        return False
    text = head.decode("utf-8", errors="replace")
    return sum(ch != "\ufffd" and (ch.isprintable() or ch in "\r\n\t") for ch in text) >= 0.95 * len(text)


def _stream_size(path: Path) -> tuple[int, int]:
    """(width, height) of the first video stream, read from the container with PyAV."""
    try:
        import av
    except ImportError as exc:
        raise ImportError("reading this video needs PyAV: pip install 'latte-vt[video]'") from exc
    try:
        with av.open(str(path)) as container:
            ctx = container.streams.video[0].codec_context
            return ctx.width, ctx.height
    except (av.FFmpegError, IndexError) as exc:
        raise VideoReadError(path, f"cannot read the frame size with PyAV: {exc}") from exc


def _declared_seconds(path: Path) -> float | None:
    """The duration the container declares for the first video stream (else for the whole file: its
    longest stream), read with PyAV; None if it declares none."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if stream.duration and stream.time_base:
                return float(stream.duration * stream.time_base)
            return container.duration / 1e6 if container.duration else None
    except (av.FFmpegError, IndexError) as exc:
        raise VideoReadError(path, f"cannot read the duration with PyAV: {exc}") from exc


class DecordVideo:
    """One open video file. ``get(indices)`` returns frames (T, H, W, 3) uint8 in the order asked;
    after ``resize(width, height)`` they come out at that size."""

    def __init__(self, path: str | Path, num_threads: int = 1) -> None:
        self.path = Path(path)
        self.num_threads = num_threads
        reason = _sniff(self.path)
        if reason is not None:
            raise VideoReadError(self.path, reason)
        self._reader = self._open(-1, -1)
        self.scale = 1  # > 1 when frames come out upscaled (decord's width bug)
        self.size: tuple[int, int] | None = None  # (width, height) the decoder scales to; None: the file's own
        self._crop: tuple[int, int, int, int] | None = None  # (left, top, width, height) kept of each frame
        self.num_frames = len(self._reader)
        fps = float(self._reader.get_avg_fps())
        self.fps = fps if np.isfinite(fps) and fps > 0 else float("nan")

    def _open(self, width: int, height: int) -> Any:
        decord = _decord()
        try:
            reader = decord.VideoReader(
                str(self.path), ctx=decord.cpu(0), width=width, height=height,
                num_threads=self.num_threads, fault_tol=_FAULT_TOLERANCE,
            )  # fmt: skip
        except RuntimeError as exc:  # decord's "Error reading <path>...": no container or stream it can open
            reason = "cannot open: not a video container decord can read (unknown format, or a truncated file)"
            raise VideoReadError(self.path, reason) from exc
        except AssertionError as exc:  # decord asserts a positive frame count
            raise VideoReadError(self.path, "no video frames") from exc
        except Exception as exc:  # DECORDError and friends
            if "cannot find video stream" in str(exc):
                raise VideoReadError(self.path, "no video stream (audio only?)") from exc
            raise VideoReadError(self.path, f"cannot open: {_clean(exc)}") from exc
        if len(reader) < 1:
            raise VideoReadError(self.path, "no video frames")
        return reader

    @property
    def frame_size(self) -> tuple[int, int]:
        """(width, height) of the file's frames, from the container (nothing decoded)."""
        return _stream_size(self.path)

    @property
    def declared_seconds(self) -> float | None:
        """Video duration the container declares (None if none): more than the frames cover means a cut-off file."""
        return _declared_seconds(self.path)

    def resize(self, width: int, height: int, crop: tuple[int, int, int, int] | None = None) -> None:
        """Reopen the decoder so that ``get`` returns frames scaled to ``width`` x ``height``, then cut to
        ``crop`` = (left, top, crop_width, crop_height) of the scaled frame if given (chunk by chunk)."""
        if width < 1 or height < 1:
            raise InputError(f"{self.path}: frame size must be positive, got {width}x{height}")
        if crop is not None and (min(crop) < 0 or crop[0] + crop[2] > width or crop[1] + crop[3] > height):
            raise InputError(f"{self.path}: crop {crop} does not fit a {width}x{height} frame")
        self._reader, self.size, self.scale = self._open(width, height), (width, height), 1
        self._crop = crop

    def get(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Frames at ``indices`` (any order, repeats allowed) -> (T, H, W, 3) uint8.

        Each frame is decoded once, in file order, ``CHUNK_FRAMES`` at a time. Frames of the widths
        decord 0.6.0 cannot copy (16, 24, 48, 72 px) come out ``scale`` times larger.
        """
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)  # (T,)
        if idx.size == 0:
            raise InputError(f"{self.path}: no frame indices given")
        if idx.min() < 0 or idx.max() >= self.num_frames:
            raise InputError(f"{self.path}: indices must be in [0, {self.num_frames}), got {idx.min()}..{idx.max()}")
        unique, inverse = np.unique(idx, return_inverse=True)  # (U,), (T,)
        first = self._chunk(unique[:CHUNK_FRAMES])  # (c, H, W, 3)
        out = np.empty((unique.size, *first.shape[1:]), dtype=np.uint8)  # (U, H, W, 3)
        out[: len(first)] = first
        for start in range(CHUNK_FRAMES, unique.size, CHUNK_FRAMES):
            out[start : start + CHUNK_FRAMES] = self._chunk(unique[start : start + CHUNK_FRAMES])
        return out if np.array_equal(unique, idx) else out[inverse.reshape(-1)]  # (T, H, W, 3)

    def _chunk(self, idx: np.ndarray) -> np.ndarray:
        try:
            frames = self._batch(self._reader, idx)  # (c, H, W, 3)
        except VideoReadError as exc:
            if _WIDTH_BUG not in exc.reason or self.scale > 1:
                raise
            frames = self._get_upscaled(idx)  # (c, sH, sW, 3)
        if self._crop is None:
            return frames
        left, top, width, height = (self.scale * v for v in self._crop)
        return frames[:, top : top + height, left : left + width]  # (c, h, w, 3)

    def _get_upscaled(self, idx: np.ndarray) -> np.ndarray:
        """Reopen at the smallest integer upscale decord can copy out; later ``get`` calls reuse it."""
        width, height = self.size or _stream_size(self.path)
        for factor in _UPSCALE_FACTORS:
            reader = self._open(factor * width, factor * height)
            try:
                frames = self._batch(reader, idx)
            except VideoReadError as exc:
                if _WIDTH_BUG not in exc.reason:
                    raise
                continue
            self._reader, self.scale = reader, factor
            return frames
        raise VideoReadError(self.path, f"decord 0.6.0 cannot decode frames {width} px wide, even upscaled")

    def _batch(self, reader: Any, idx: np.ndarray) -> np.ndarray:
        try:
            frames = reader.get_batch(idx.tolist()).asnumpy()  # (T, H, W, 3)
        except Exception as exc:  # DECORDError, DECORDLimitReachedError
            kind = "corrupted frames" if "LimitReached" in type(exc).__name__ else "decode failed"
            where = f"frame {idx[0]}" if idx.size == 1 else f"frames {idx.min()}..{idx.max()}"
            raise VideoReadError(self.path, f"{kind} ({where}): {_clean(exc)}") from exc
        if frames.ndim != 4 or frames.shape[0] != idx.size or frames.shape[3] != 3 or frames.dtype != np.uint8:
            raise VideoReadError(self.path, f"decoder returned frames of shape {frames.shape} for {idx.size} indices")
        return frames

    def info(self, decode: str = "ends") -> VideoInfo:
        """Check the file decodes and describe it.

        Args:
            decode: ``ends`` decodes the first, middle and last frame (catches truncation and an
                over-reported frame count); ``all`` decodes every frame (catches damage anywhere).
        """
        if decode not in ("ends", "all"):
            raise InputError(f"decode must be 'ends' or 'all', got {decode!r}")
        n = self.num_frames
        first = self.get([0, n // 2, n - 1])  # (3, H, W, 3)
        if decode == "all":
            for start in range(0, n, 64):
                self.get(range(start, min(n, start + 64)))
        height, width = first.shape[1] // self.scale, first.shape[2] // self.scale
        return VideoInfo(num_frames=n, fps=self.fps, width=int(width), height=int(height))


def open_video(path: str | Path, num_threads: int = 1) -> DecordVideo:
    """Open a video for reading; raises ``VideoReadError`` with a reason if it cannot be opened."""
    return DecordVideo(path, num_threads=num_threads)


def read_frames(path: str | Path, indices: Sequence[int] | np.ndarray, num_threads: int = 1) -> np.ndarray:
    """Decode the frames at ``indices`` of one file -> (T, H, W, 3) uint8 (``VideoReadError`` if bad)."""
    return open_video(path, num_threads).get(indices)


def video_info(path: str | Path, decode: str = "ends") -> VideoInfo:
    """Open and test-decode a file in this process (no timeout; see ``probe`` for untrusted files)."""
    return open_video(path).info(decode)


def probe(path: str | Path, timeout_s: float = 10.0, decode: str = "ends") -> VideoInfo:
    """``video_info`` in a subprocess that is killed after ``timeout_s`` (``VideoReadError`` on failure)."""
    from latte_vt.data.video.probe import ProbeWorker

    with ProbeWorker(timeout_s) as worker:
        return worker.probe(path, decode)

"""Encode frames (T, H, W, 3) uint8 into a real video file with PyAV (synthetic data, test clips)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from latte_vt.errors import InputError

_AUDIO_CODEC = {".mp4": "aac", ".m4v": "aac", ".mov": "aac", ".mkv": "aac", ".webm": "libopus", ".avi": "libmp3lame"}
_AUDIO_RATE = 48000


def _codec_options(codec: str, bframes: int, crf: int, gop: int) -> dict[str, str]:
    if codec == "libx264":
        return {"crf": str(crf), "preset": "veryfast", "bf": str(bframes), "g": str(gop)}
    if codec in ("libvpx", "libvpx-vp9"):
        return {"crf": str(crf + 10), "b": "0", "deadline": "realtime", "cpu-used": "8", "g": str(gop)}
    return {"g": str(gop), "flags": "+qscale", "global_quality": str(3 * 118)}  # fixed quantiser 3 (x FF_QP2LAMBDA)


def write_video(
    path: str | Path,
    frames: np.ndarray,
    fps: float | Fraction = 25,
    codec: str = "libx264",
    bframes: int = 2,
    crf: int = 18,
    gop: int = 12,
    audio: bool = False,
) -> Path:
    """Write ``frames`` (T, H, W, 3) uint8 RGB to ``path``; the container follows the suffix.

    Args:
        fps: frame rate; a ``Fraction`` for NTSC rates such as ``Fraction(30000, 1001)``.
        codec: any PyAV video encoder, e.g. ``libx264`` (default), ``libvpx-vp9``, ``mpeg4``.
        bframes: B-frames between reference frames (libx264), so decode order differs from display order.
        crf: quality (lower is better; libx264 scale).
        gop: key-frame interval in frames.
        audio: add a quiet tone track (aac, opus or mp3 by container) as real-world files have.
    """
    try:
        import av
    except ImportError as exc:
        raise ImportError("writing videos needs PyAV: pip install 'latte-vt[video]'") from exc
    path = Path(path)
    if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8:
        raise InputError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    T, H, W, _ = frames.shape
    if H % 2 or W % 2:
        raise InputError(f"frame size must be even for yuv420p, got {W}x{H}")
    rate = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(1001)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = _codec_options(codec, bframes, crf, gop)
        audio_stream = container.add_stream(_AUDIO_CODEC[path.suffix], rate=_AUDIO_RATE) if audio else None
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if audio_stream is not None:
            _write_tone(container, audio_stream, seconds=T / float(rate))
    return path


def _write_tone(container: Any, stream: Any, seconds: float) -> None:
    import av

    samples = int(seconds * _AUDIO_RATE)
    t = np.arange(samples) / _AUDIO_RATE  # (S,)
    wave = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]  # (1, S) mono
    frame = av.AudioFrame.from_ndarray(wave, format="flt", layout="mono")
    frame.sample_rate = _AUDIO_RATE
    for packet in stream.encode(frame):
        container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)

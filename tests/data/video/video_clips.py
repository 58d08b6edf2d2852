"""Helpers that write real test clips with PyAV (and broken files) for the video data tests.

Every frame i of a test clip has its own grey level (and a white bar moving right), so a decoded
frame's mean says which frame it is: decode order, B-frame reordering and seeking are all visible.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from latte_vt.data.video.writer import write_video


def ramp_frames(T: int, H: int, W: int) -> np.ndarray:
    """(T, H, W, 3) uint8: frame i is grey 20 + 200 i / (T - 1) with a white bar at x = i W / T."""
    frames = np.empty((T, H, W, 3), np.uint8)
    for i in range(T):
        frames[i] = 20 + 200 * i // max(T - 1, 1)
        x = i * W // T
        frames[i, :, x : x + max(2, W // 16)] = 255
    return frames


@dataclass(frozen=True)
class Clip:
    path: Path
    frames: np.ndarray  # (T, H, W, 3) what was encoded
    fps: float


# name, width, height, frames, fps, codec, audio
FORMATS = {
    "h264_176x144_25fps.mp4": (176, 144, 20, 25, "libx264", False),
    "h264_320x240_ntsc_audio.mp4": (320, 240, 20, Fraction(30000, 1001), "libx264", True),
    "h264_1280x720.mp4": (1280, 720, 5, 25, "libx264", False),
    "h264_audio.mkv": (160, 120, 20, 25, "libx264", True),
    "vp9_audio.webm": (160, 90, 20, 25, "libvpx-vp9", True),
    "vp8.webm": (128, 96, 20, Fraction(30000, 1001), "libvpx", False),
    "mpeg4_audio.avi": (160, 120, 20, 25, "mpeg4", True),
}


def write_clip(path: Path, width: int, height: int, T: int, fps: float | Fraction = 25, **kwargs) -> Clip:
    frames = ramp_frames(T, height, width)
    write_video(path, frames, fps=fps, **kwargs)
    return Clip(path, frames, float(fps))


def write_faststart_mp4(path: Path, T: int = 30) -> Path:
    """An H.264 mp4 with its index (moov) at the front, so a truncated copy still opens."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", format="mp4", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for _ in range(T):
            noise = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)  # incompressible: bytes spread over frames
            for packet in stream.encode(av.VideoFrame.from_ndarray(noise, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_audio_only_mp4(path: Path) -> Path:
    """An mp4 with one AAC track and no video stream."""
    tone = (0.1 * np.sin(np.arange(48_000) / 10)).astype(np.float32)[None, :]  # (1, S) mono
    frame = av.AudioFrame.from_ndarray(tone, format="flt", layout="mono")
    frame.sample_rate = 48_000
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=48_000)
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    return path

"""Long real footage for the tests: H.264 with an AAC track, encoded frame by frame (never all in memory).

Every frame carries its own number in a 4 x 4 grid of black/white blocks filling the centre square
(bit i of the frame number in block i, row-major), so a test can read back which frames a sampler
decoded, even resized and centre-cropped; a bar moves up and down the left margin. Run as a script to
write the 10-minute 720p file the slow test and the memory figures in docs/video.md use:
``python tests/predict/footage.py OUT.mp4 --seconds 600 --width 1280 --height 720 --fps 25``.
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import numpy as np

GRID = 4  # GRID x GRID blocks: frame numbers below 2**16
_AUDIO_RATE = 48000


def frame_at(t: int, height: int, width: int, background: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8: the background, frame number ``t`` coded in the centre square, a moving bar left."""
    frame = background.copy()
    side = min(height, width)
    top, left, block = (height - side) // 2, (width - side) // 2, side // GRID
    for i in range(GRID * GRID):
        y, x = top + (i // GRID) * block, left + (i % GRID) * block
        frame[y : y + block, x : x + block] = 255 if (t >> i) & 1 else 0
    bar = max(2, height // 10)
    y = (t * 3) % (height - bar)
    frame[y : y + bar, : max(2, left // 2)] = (250, 40, 40)
    return frame


def read_frame_numbers(frames: np.ndarray) -> np.ndarray:
    """Frame numbers coded in (N, H, W, 3) uint8 frames, whole or cut to their centre square -> (N,)."""
    height, width = frames.shape[1:3]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    centres = ((np.arange(GRID) + 0.5) * side / GRID).astype(int)  # (GRID,) block centres in the square
    ys, xs = np.meshgrid(top + centres, left + centres, indexing="ij")  # (GRID, GRID) each
    bits = frames[:, ys.ravel(), xs.ravel()].mean(axis=-1) > 127  # (N, GRID * GRID)
    return (bits * (1 << np.arange(GRID * GRID))).sum(axis=1)


def write_footage(path: Path, seconds: float, fps: int, width: int, height: int) -> Path:
    """Encode ``seconds`` of coded frames at ``fps`` with an audio tone into ``path`` (.mp4 or .mkv)."""
    import av

    ys, xs = np.mgrid[0:height, 0:width]
    background = np.stack([xs * 255 // width, ys * 255 // height, np.full_like(xs, 90)], axis=-1).astype(np.uint8)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=Fraction(fps))
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast", "crf": "23", "g": str(5 * fps)}
        audio = container.add_stream("aac", rate=_AUDIO_RATE)
        for t in range(round(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(frame_at(t, height, width, background), format="rgb24")
            container.mux(video.encode(frame))
            if t % fps == 0:  # one second of a 440 Hz tone, interleaved with the video
                time = np.arange(t // fps * _AUDIO_RATE, (t // fps + 1) * _AUDIO_RATE) / _AUDIO_RATE
                wave = (0.1 * np.sin(2 * np.pi * 440 * time)).astype(np.float32)[None, :]  # (1, S) mono
                samples = av.AudioFrame.from_ndarray(wave, format="flt", layout="mono")
                samples.sample_rate = _AUDIO_RATE
                container.mux(audio.encode(samples))
        container.mux(video.encode())
        container.mux(audio.encode())
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    args = parser.parse_args()
    write_footage(args.out, args.seconds, args.fps, args.width, args.height)

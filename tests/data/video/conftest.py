"""Session fixtures: one real clip per container/codec, and broken files with the reason each must get."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from video_clips import FORMATS, Clip, write_audio_only_mp4, write_clip, write_faststart_mp4


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Clip]:
    """One real clip per format in FORMATS (formats whose encoder this PyAV lacks are absent)."""
    root = tmp_path_factory.mktemp("clips")
    out = {}
    for name, (w, h, T, fps, codec, audio) in FORMATS.items():
        if codec in av.codecs_available:
            out[name] = write_clip(root / name, w, h, T, fps, codec=codec, audio=audio)
    return out


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory, clips) -> dict[str, tuple[Path, str]]:
    """Broken files -> (path, words their reason must contain)."""
    root = tmp_path_factory.mktemp("bad")
    good = clips["h264_176x144_25fps.mp4"].path.read_bytes()
    (root / "empty.mp4").write_bytes(b"")
    (root / "random_bytes.mp4").write_bytes(np.random.default_rng(0).bytes(20_000))
    (root / "truncated.mp4").write_bytes(good[: len(good) // 2])  # index (moov) at the end is lost
    (root / "notes.mp4").write_text("this is a text file renamed to .mp4\n" * 20)
    faststart = write_faststart_mp4(root / "faststart.mp4").read_bytes()
    (root / "truncated_faststart.mp4").write_bytes(faststart[: len(faststart) * 6 // 10])
    return {
        "empty": (root / "empty.mp4", "empty file"),
        "random_bytes": (root / "random_bytes.mp4", "cannot open"),
        "truncated": (root / "truncated.mp4", "cannot open"),
        "text": (root / "notes.mp4", "text file"),
        "truncated_faststart": (root / "truncated_faststart.mp4", ""),
        "audio_only": (write_audio_only_mp4(root / "audio_only.mp4"), "no video stream"),
        "missing": (root / "missing.mp4", "not found"),
    }

"""``latte-vt bench video``: clip selection helpers (fast) and a whole tiny run on real clips (slow)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from latte_vt.bench.video import VideoBenchConfig, eval_clips, train_batch
from latte_vt.cli import main


def frames_tensor(cfg: VideoBenchConfig, n: int = 3) -> torch.Tensor:
    """(n, F, 3, S+m, S+m) whose every pixel holds its frame index, so selections are readable."""
    side = cfg.size + cfg.margin
    return torch.arange(cfg.video_frames, dtype=torch.float32).view(1, -1, 1, 1, 1).expand(n, -1, 3, side, side)


def test_eval_clips_are_time_symmetric_and_centre_cropped():
    cfg = VideoBenchConfig(video_frames=16, num_frames=8, size=32, margin=8)
    clips = eval_clips(frames_tensor(cfg), cfg)
    assert clips.shape == (3, 8, 3, 32, 32)
    idx = clips[0, :, 0, 0, 0]
    assert torch.equal(idx.flip(0), 15 - idx)  # reversing the video maps the frame set onto itself


def test_train_batch_uses_stride_one_or_two_and_random_crops():
    cfg = VideoBenchConfig(video_frames=16, num_frames=8, size=32, margin=8)

    rng = np.random.default_rng(0)
    strides = set()
    for _ in range(20):
        clip = train_batch(frames_tensor(cfg), cfg, rng)
        assert clip.shape == (3, 8, 3, 32, 32)
        steps = clip[0, :, 0, 0, 0].diff().unique().tolist()
        assert len(steps) == 1
        strides.add(steps[0])
    assert strides == {1.0, 2.0}


@pytest.mark.slow
def test_quick_run_writes_json_and_markdown(tmp_path):
    out = tmp_path / "video.json"
    assert main(["bench", "video", "--quick", "--data-dir", str(tmp_path / "data"), "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    for key in ("val_top1_patch", "val_top1_frame", "shuffled_top1_patch", "val_top1_softmax", "clips_per_s_patch"):
        assert 0 <= payload[key] <= 1 or key.startswith("clips_per_s")
    assert [r["tokens"] for r in payload["encoder"]] == [64, 128]
    assert "| patch |" in out.with_suffix(".md").read_text()

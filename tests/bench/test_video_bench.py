"""``latte-vt bench video``: clip selection helpers (fast) and a whole tiny run on real clips (slow)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from latte_vt.bench.video import (
    DecodedSplit,
    VideoBenchConfig,
    eval_clips,
    partners,
    shuffle_frames,
    synthetic_set_matches,
    train_clip,
    train_one,
    within_pair_accuracy,
)
from latte_vt.cli import main
from latte_vt.tasks.video import VideoClassificationTask


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


def test_train_clip_uses_stride_one_or_two_and_random_crops():
    cfg = VideoBenchConfig(video_frames=16, num_frames=8, size=32, margin=8)

    rng = np.random.default_rng(0)
    strides = set()
    for _ in range(20):
        clip = train_clip(frames_tensor(cfg)[0], cfg, rng)
        assert clip.shape == (8, 3, 32, 32)
        steps = clip[:, 0, 0, 0].diff().unique().tolist()
        assert len(steps) == 1
        strides.add(steps[0])
    assert strides == {1.0, 2.0}


def test_shuffled_clips_hold_the_same_frames_in_another_order():
    cfg = VideoBenchConfig(video_frames=16, num_frames=16, size=8, margin=0)
    clips = frames_tensor(cfg, n=5)  # (5, 16, 3, 8, 8), pixel value = frame index
    shuffled = shuffle_frames(clips, seed=0)
    order = shuffled[:, :, 0, 0, 0]  # (5, 16)
    assert torch.equal(order.sort(dim=1).values, clips[:, :, 0, 0, 0])  # every frame kept once
    assert not torch.equal(order, clips[:, :, 0, 0, 0]) and not torch.equal(order[0], order[1])
    assert torch.equal(shuffle_frames(clips, seed=0), shuffled)  # seeded


def test_within_pair_accuracy_counts_direction_among_clips_put_in_their_pair():
    classes = sorted(["moving_right", "moving_left", "rotating_clockwise", "rotating_counterclockwise"])
    partner = partners(classes)  # left <-> right, clockwise <-> counterclockwise
    assert [classes[i] for i in partner] == [
        "moving_right",
        "moving_left",
        "rotating_counterclockwise",
        "rotating_clockwise",
    ]
    labels = torch.tensor([0, 0, 1, 2, 3, 3])
    preds = torch.tensor([0, 1, 1, 0, 2, 3])  # right, reversed, right, other pair (ignored), reversed, right
    assert within_pair_accuracy(preds, labels, partner) == pytest.approx(3 / 5)
    assert within_pair_accuracy(torch.tensor([2]), torch.tensor([0]), partner) == 0.0  # none in its pair


def test_each_model_has_a_fixed_step_budget():
    cfg = VideoBenchConfig(steps_patch=7, steps_frame=5, steps_softmax=3)
    assert [cfg.steps_for(kind) for kind in cfg.models] == [7, 5, 3]
    assert VideoBenchConfig().steps_for("softmax") < VideoBenchConfig().steps_for("patch")


def test_a_synthetic_set_made_with_other_settings_is_generated_again(tmp_path):
    from latte_vt.data.synthetic.video import VideoSynthConfig, write_video_synthetic

    made = VideoSynthConfig(classes=2, n=3, frames=4, size=32, workers=1)
    assert not synthetic_set_matches(tmp_path, made)  # nothing there yet
    write_video_synthetic(tmp_path, made, progress=False)
    assert synthetic_set_matches(tmp_path, made)
    assert synthetic_set_matches(tmp_path, VideoSynthConfig(classes=2, n=3, frames=4, size=32, workers=0))
    assert not synthetic_set_matches(tmp_path, VideoSynthConfig(classes=2, n=4, frames=4, size=32, workers=1))
    assert not (tmp_path / "meta.json").exists()  # marked incomplete, so the next run writes it again
    write_video_synthetic(tmp_path, made, progress=False)
    meta = json.loads((tmp_path / "meta.json").read_text())
    (tmp_path / "meta.json").write_text(json.dumps({**meta, "version": meta["version"] - 1}))
    assert not synthetic_set_matches(tmp_path, made)  # same settings, older generator: other clips


def test_cli_refuses_a_bad_step_or_thread_count(tmp_path, capsys):
    data = str(tmp_path / "data")
    assert main(["bench", "video", "--steps-frame", "0", "--data-dir", data]) == 2
    assert "--steps-frame must be at least 1" in capsys.readouterr().err
    assert main(["bench", "video", "--threads", "0", "--data-dir", data]) == 2
    assert "--threads must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()  # refused before generating anything


def test_each_model_trains_its_steps_through_the_video_task(monkeypatch):
    cfg = VideoBenchConfig(video_frames=8, num_frames=8, size=16, margin=2, batch_size=4, steps_patch=5)
    g = torch.Generator().manual_seed(0)

    def split(n: int) -> DecodedSplit:
        frames = torch.rand(n, 8, 3, 18, 18, generator=g)
        return DecodedSplit(frames, torch.arange(n) % 2, [f"clip{i}.mp4" for i in range(n)])

    calls = []
    step = VideoClassificationTask.training_step
    monkeypatch.setattr(VideoClassificationTask, "training_step", lambda *a: calls.append(1) or step(*a))
    r = train_one("patch", cfg, {"train": split(6), "val": split(4)}, ["moving_left", "moving_right"])
    assert r["max_steps"] == r["steps"] == len(calls) == 5  # the trainer's global_step: every step the task's
    assert r["epochs"] == 3.3  # 5 batches of 4 clips over 6 training clips
    assert len(r["loss_curve"]) == 5 and r["first_loss"] == pytest.approx(np.mean(r["loss_curve"]), abs=1e-3)
    assert 0 <= r["val_top1"] <= 1 and 0 <= r["shuffled_top1"] <= 1 and 0 <= r["shuffled_within_pair"] <= 1
    assert r["val_top1"] in (0, 0.25, 0.5, 0.75, 1)  # a share of the 4 validation clips


@pytest.mark.slow
def test_quick_run_writes_json_and_markdown(tmp_path):
    out = tmp_path / "video.json"
    assert main(["bench", "video", "--quick", "--data-dir", str(tmp_path / "data"), "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    for key in ("val_top1_patch", "val_top1_frame", "shuffled_top1_patch", "val_top1_softmax", "clips_per_s_patch"):
        assert 0 <= payload[key] <= 1 or key.startswith("clips_per_s")
    assert [r["tokens"] for r in payload["encoder"]] == [64, 128]
    assert all(r["steps"] == r["max_steps"] for r in payload["models"].values())
    assert payload["config"]["steps_patch"] == payload["models"]["patch"]["steps"]
    assert "| patch |" in out.with_suffix(".md").read_text()

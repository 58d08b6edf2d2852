"""``latte-vt bench long-video``: frame selection, set reuse, memory growth (fast) and a whole tiny run (slow)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from latte_vt.bench.long_video import (
    ABLATIONS,
    LongVideoBenchConfig,
    TrainingClips,
    long_set_matches,
    memory_growth,
    train_frames,
    uniform_frames,
)
from latte_vt.bench.video import DecodedSplit, partners
from latte_vt.cli import main
from latte_vt.data.synthetic.long_video import LongVideoConfig, write_long_video


def test_sixteen_uniform_frames_span_the_clip_symmetrically():
    idx = uniform_frames(256, 16)
    assert idx[0] == 0 and idx[-1] == 255 and len(idx) == 16
    assert set(np.diff(idx)) == {17}
    assert np.array_equal(idx[::-1], 255 - idx)  # reversing the clip maps the frame set onto itself
    assert np.array_equal(uniform_frames(256, 256), np.arange(256))


def test_training_subsamples_are_near_uniform_with_random_stride_and_start():
    rng = np.random.default_rng(0)
    draws = [train_frames(256, 16, rng) for _ in range(200)]
    assert all(len(d) == 16 and d[0] >= 0 and d[-1] <= 255 for d in draws)
    assert {int(np.diff(d)[0]) for d in draws} == {15, 16, 17}
    assert len({int(d[0]) for d in draws}) > 10
    assert np.array_equal(train_frames(256, 256, rng), np.arange(256))  # all frames: every frame in order


def test_training_clips_reverse_with_the_partner_label_or_mirror_and_nothing_else():
    classes = ["square_circle_triangle", "triangle_circle_square", "circle_triangle_square", "square_triangle_circle"]
    frames = torch.randn(4, 8, 3, 4, 4)  # (N, F, 3, S, S)
    split = DecodedSplit(frames, torch.tensor([0, 1, 2, 3]), [f"c{i}.mp4" for i in range(4)])
    partner = partners(classes)
    assert partner.tolist() == [1, 0, 3, 2]
    items = TrainingClips(split, 8, classes, True, np.random.default_rng(0))
    seen = set()
    for n in range(200):
        i = n % 4
        item = items[i]
        clip, label = item["video"][0], int(item["label"])  # (T, 3, S, S)
        reversed_ = label == int(partner[i])
        expected = frames[i].flip(0) if reversed_ else frames[i]  # reversed clips, and only they, change label
        mirrored = not torch.equal(clip, expected)
        assert torch.equal(clip, expected.flip(-1) if mirrored else expected)
        assert label in (i, int(partner[i])) and item["path"] == f"c{i}.mp4"
        seen.add((reversed_, mirrored))
    assert seen == {(False, False), (False, True), (True, False), (True, True)}  # each about a quarter
    plain = TrainingClips(split, 8, classes, False, np.random.default_rng(0))
    assert all(torch.equal(plain[i]["video"][0], frames[i]) and int(plain[i]["label"]) == i for i in range(4))


def test_token_counts_of_the_default_settings():
    cfg = LongVideoBenchConfig()
    assert cfg.tokens(cfg.video_frames) >= 1024  # Latte reads every frame: >= 1k tokens
    assert cfg.tokens(cfg.video_frames, cfg.timing_patch) >= 4096  # the step-time setting
    assert cfg.tokens(cfg.short_frames) == 64
    assert (cfg.scaling_size // cfg.scaling_patch) ** 2 * max(cfg.scaling_frames) >= 16384
    assert (
        set(cfg.ablations)
        == set(ABLATIONS)
        == {
            "tied_qk",
            "shared_latents",
            "orthogonal_init",
            "mean_pooling",
            "macchiato",
        }
    )


def test_memory_growth_is_peak_ratio_over_frame_ratio_and_skips_failed_cases():
    def row(frames: int, latte: dict, mode: str = "forward_backward") -> dict:
        return {"frames": frames, "mode": mode, "latte": latte, "softmax": {"error": "timed out after 9 s"}}

    rows = [row(256, {"peak_bytes": 100}), row(512, {"error": "x"}), row(1024, {"peak_bytes": 400})]
    assert memory_growth(rows + [row(2048, {"peak_bytes": 1}, mode="forward")]) == pytest.approx(1.0)
    assert memory_growth([row(256, {"peak_bytes": 100}), row(1024, {"peak_bytes": 1600})]) == pytest.approx(4.0)
    assert memory_growth(rows[:2]) is None  # one measured case: no growth


def test_a_long_set_made_with_other_settings_is_generated_again(tmp_path):
    made = LongVideoConfig(n=3, frames=32, size=32, workers=1)
    assert not long_set_matches(tmp_path, made)  # nothing there yet
    write_long_video(tmp_path, made, progress=False)
    assert long_set_matches(tmp_path, made)
    assert long_set_matches(tmp_path, LongVideoConfig(n=3, frames=32, size=32, workers=2))  # workers do not count
    assert not long_set_matches(tmp_path, LongVideoConfig(n=3, frames=40, size=32, workers=1))
    assert not (tmp_path / "meta.json").exists()  # marked incomplete, so the next run writes it again
    write_long_video(tmp_path, made, progress=False)
    meta = json.loads((tmp_path / "meta.json").read_text())
    (tmp_path / "meta.json").write_text(json.dumps({**meta, "generator": "video-synthetic"}))
    assert not long_set_matches(tmp_path, made)  # the ordering set's generator: other clips


def test_cli_refuses_a_bad_step_or_thread_count(tmp_path, capsys):
    data = str(tmp_path / "data")
    assert main(["bench", "long-video", "--steps", "0", "--data-dir", data]) == 2
    assert "--steps must be at least 1" in capsys.readouterr().err
    assert main(["bench", "long-video", "--threads", "0", "--data-dir", data]) == 2
    assert "--threads must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()  # refused before generating anything


@pytest.mark.slow
def test_quick_run_writes_json_and_markdown(tmp_path):
    out = tmp_path / "long.json"
    assert main(["bench", "long-video", "--quick", "--data-dir", str(tmp_path / "data"), "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    keys = ("val_top1_latte_long", "val_top1_latte_16f", "val_top1_softmax_long", "chance")
    keys += tuple(f"val_top1_latte_{name}" for name in ABLATIONS)
    assert all(0 <= payload[key] <= 1 for key in keys)
    assert payload["chance"] == pytest.approx(1 / 6)
    assert all(
        payload[key] > 0 for key in ("step_ms_latte", "step_ms_softmax", "step_ms_latte_4k", "step_ms_softmax_4k")
    )
    models = payload["models"]
    assert all(r["steps"] == payload["config"]["steps"] for r in models.values())  # one fixed budget for all
    assert models["latte_long"]["frames"] == 64 and models["latte_16f"]["frames"] == 16
    assert models["latte_macchiato"]["options"] == {"mixer": "macchiato"}
    assert [(r["frames"], r["mode"]) for r in payload["encoder"]] == [
        (16, "forward"),
        (16, "forward_backward"),
        (32, "forward"),
        (32, "forward_backward"),
    ]
    assert all("median_s" in r["latte"] and "peak_bytes" in r["softmax"] for r in payload["encoder"])
    md = out.with_suffix(".md").read_text()
    assert md.startswith("# Long-video benchmark (cpu)")
    for row in ("| Latte, all frames |", "| Latte, 16 uniform frames |", "| softmax, all frames |", "| Macchiato"):
        assert row in md
    assert "## Goals" in md and "forward+backward" in md

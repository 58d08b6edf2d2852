"""``latte-vt data video-synthetic``: real decodable clips, consistent splits, classes only frame order separates."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from nearest_centroid import nearest_centroid_loo  # this folder is on sys.path under pytest

from latte_vt.cli import main
from latte_vt.data.synthetic.video import (
    ORDERS,
    PAIRS,
    VideoSynthConfig,
    _ClipJob,
    _make_clip,
    event_spans,
    write_video_synthetic,
)
from latte_vt.data.video.probe import probe_many
from latte_vt.data.video.reader import read_frames

N_PER_CLASS = 24


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    """The first two ordering pairs, 24 clips each, small frames: written through the CLI."""
    out = tmp_path_factory.mktemp("synth")
    args = ["data", "video-synthetic", "--out", str(out), "--classes", "4", "--n", str(N_PER_CLASS), "--size", "64"]
    assert main([*args, "--seed", "3", "--workers", "2"]) == 0
    return out


def read_split(root: Path, split: str) -> list[dict[str, str]]:
    with (root / f"{split}.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_split_files_are_consistent(synth):
    classes = (synth / "classes.txt").read_text().split()
    assert classes == sorted([name for pair in PAIRS[:2] for name in pair])
    assert classes == sorted(
        ["square_circle_triangle", "triangle_circle_square", "circle_triangle_square", "square_triangle_circle"]
    )
    splits = {name: read_split(synth, name) for name in ("train", "val", "test")}
    paths = [row["path"] for rows in splits.values() for row in rows]
    assert len(paths) == len(set(paths)) == 4 * N_PER_CLASS  # disjoint, nothing lost
    on_disk = {p.relative_to(synth).as_posix() for p in (synth / "videos").rglob("*.mp4")}
    assert set(paths) == on_disk  # paths are relative to the CSV
    for name, rows in splits.items():
        counts = Counter(row["label"] for row in rows)
        assert set(counts) == set(classes)  # stratified: every class in every split
        expected = {"train": N_PER_CLASS - 2 * round(0.15 * N_PER_CLASS), "val": round(0.15 * N_PER_CLASS)}
        assert set(counts.values()) == {expected.get(name, round(0.15 * N_PER_CLASS))}
        assert all(row["path"].startswith(f"videos/{row['label']}/") for row in rows)
    meta = json.loads((synth / "meta.json").read_text())
    assert meta["clips"] == 4 * N_PER_CLASS and meta["pairs"] == [list(p) for p in PAIRS[:2]]


def test_clips_decode_with_decord_at_random_sizes_and_rates(synth):
    paths = sorted((synth / "videos").rglob("*.mp4"))
    results = probe_many(paths, timeout_s=30, workers=2, progress=False)
    assert all(r.ok for r in results), [r.reason for r in results if not r.ok]
    infos = [r.info for r in results]
    assert {i.num_frames for i in infos} == {16}
    assert {round(i.fps, 2) for i in infos} == {25.0, 29.97}
    sides = [s for i in infos for s in (i.width, i.height)]
    assert all(s % 2 == 0 and 38 <= s <= 64 and s != 48 for s in sides)
    assert len(set(sides)) > 5


def test_second_class_of_a_pair_is_the_first_played_backwards(tmp_path):
    for forward, backward in PAIRS:
        clips = []
        for label, reverse in ((forward, False), (backward, True)):
            job = _ClipJob(str(tmp_path), label, forward, reverse, 0, frames=12, size=64, seed=(7, 0, 0))
            clips.append(read_frames(tmp_path / _make_clip(job)[0], range(12)).astype(np.float32))
        assert np.abs(clips[0][::-1] - clips[1]).mean() < 2.0, forward  # same frames, reverse order (lossy codec)
        assert np.abs(clips[0] - clips[1]).mean() > 2.0, forward  # and the order matters


def clip_features(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(mean frame, temporal trend of edge energy), both on a 16x16 grid, from the decoded clip."""
    x = torch.from_numpy(read_frames(path, range(16))).float().mean(-1)[:, None]  # (16, 1, H, W) grey
    edges = (x[..., :-1, 1:] - x[..., :-1, :-1]).abs() + (x[..., 1:, :-1] - x[..., :-1, :-1]).abs()
    edges = F.interpolate(edges, size=(16, 16), mode="area")[:, 0]  # (16, 16, 16)
    grey = F.interpolate(x, size=(16, 16), mode="area")[:, 0]
    t = torch.arange(16.0) - 7.5
    return grey.mean(0).flatten().numpy(), (t[:, None, None] * edges).sum(0).flatten().numpy()


@pytest.fixture(scope="module")
def motion_features(tmp_path_factory) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """Clip features of 24 left and 24 right clips."""
    out = tmp_path_factory.mktemp("motion")
    features: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for label, reverse in (("moving_right", False), ("moving_left", True)):
        for i in range(N_PER_CLASS):
            job = _ClipJob(str(out), label, "moving_right", reverse, i, frames=16, size=64, seed=(5, int(reverse), i))
            features.setdefault(label, []).append(clip_features(out / _make_clip(job)[0]))
    return features


def test_only_frame_order_separates_a_motion_pair(motion_features):
    a, b = motion_features["moving_right"], motion_features["moving_left"]
    order_free = nearest_centroid_loo([[f[0] for f in a], [f[0] for f in b]])
    ordered = nearest_centroid_loo([[f[1] for f in a], [f[1] for f in b]])
    assert order_free <= 0.5 + 0.22, order_free  # chance (48 clips: sd ~ 0.07)
    assert ordered >= 0.9, ordered


def order_free_features(x: np.ndarray) -> np.ndarray:
    """Features of a decoded clip (F, H, W, 3) that ignore frame order: the frames' object areas, sorted,
    and how far the objects' centres spread across and down the frame (over frames with an object)."""
    off = np.abs(x - np.median(x, axis=0)).max(-1) > 30  # (F, H, W) pixels off the background
    _, H, W = off.shape
    yy, xx = np.mgrid[0:H, 0:W]
    centres = np.array([(xx[m].mean() / W, yy[m].mean() / H) for m in off if m.any()]).reshape(-1, 2)  # (k, 2)
    spread = centres.std(0) if len(centres) else np.zeros(2)
    return np.concatenate([np.sort(off.mean((1, 2))), spread, [spread[0] / (spread[1] + 1e-3)]])


def test_no_order_free_feature_separates_the_ordering_classes(synth):
    """Across pairs too. (The same features name a motion pair: about 0.5 among left/right/down/up.)"""
    features: dict[str, list[np.ndarray]] = {}
    for split in ("train", "val", "test"):
        for row in read_split(synth, split):
            x = read_frames(synth / row["path"], range(16)).astype(np.float32)
            features.setdefault(row["label"], []).append(order_free_features(x))
    accuracy = nearest_centroid_loo(list(features.values()))
    assert accuracy <= 0.25 + 0.15, accuracy  # chance among 4 classes is 0.25 (96 clips: sd ~ 0.045)


def test_ordering_events_are_disjoint_in_order_and_symmetric_in_time():
    rng = np.random.default_rng(0)
    firsts, lasts = [], []
    for frames in (4, 12, 16, 64):
        for _ in range(500):
            spans = event_spans(frames, 3, rng)
            assert spans[0][0] >= 0 and spans[-1][1] <= frames
            assert all(a < b <= c for (a, b), (c, _) in zip(spans, spans[1:] + [(frames, frames)], strict=True))
            if frames == 16:
                firsts.append(spans[0][0])
                lasts.append(frames - spans[-1][1])
    assert abs(np.mean(firsts) - np.mean(lasts)) < 0.2  # the gap before is drawn like the gap after
    assert PAIRS[:3] == (
        ("square_circle_triangle", "triangle_circle_square"),
        ("circle_triangle_square", "square_triangle_circle"),
        ("triangle_square_circle", "circle_square_triangle"),
    )
    assert [tuple(a.split("_")) for a, _ in PAIRS[:3]] == list(ORDERS)
    assert len({name for pair in PAIRS[:3] for name in pair}) == 6  # every order of the three shapes


def test_bad_settings_are_clear_errors(tmp_path, capsys):
    assert main(["data", "video-synthetic", "--out", str(tmp_path), "--classes", "5"]) == 2
    assert "--classes must be even" in capsys.readouterr().err
    with pytest.raises(ValueError, match="--splits"):
        write_video_synthetic(tmp_path, VideoSynthConfig(splits=(0.5, 0.2, 0.2)))
    assert not (tmp_path / "meta.json").exists()

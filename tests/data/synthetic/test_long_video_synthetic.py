"""``latte-vt data video-synthetic --long``: 256-frame clips whose class only the order of brief events decides.

Checked on clips the test writes through the CLI and decodes: (a) order-free features are at chance,
(b) 16 uniformly sampled frames almost never show the events' order (a rule that reads the order off
every frame is nearly always right; the same rule on 16 frames is at chance).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from nearest_centroid import nearest_centroid_loo  # this folder is on sys.path under pytest

from latte_vt.cli import main
from latte_vt.data.synthetic.long_video import EVENT_FRAMES, LongVideoConfig, brief_spans, long_events, write_long_video
from latte_vt.data.synthetic.video import ORDERS, PAIRS, SHAPE_HUES, _ClipJob, _make_clip
from latte_vt.data.video.probe import probe_many
from latte_vt.data.video.reader import read_frames
from latte_vt.data.video.sampling import eval_clip_indices
from latte_vt.errors import InputError

N_PER_CLASS = 16
FRAMES = 256
UNIFORM_16 = eval_clip_indices(FRAMES, 16, 1, stride=17)[0]  # linspace(0, 255, 16): one frame in 17


@pytest.fixture(scope="module")
def long_set(tmp_path_factory) -> Path:
    """The six ordering classes, 16 clips each, 256 frames of at most 32 px: written through the CLI."""
    out = tmp_path_factory.mktemp("long")
    args = ["data", "video-synthetic", "--long", "--out", str(out), "--n", str(N_PER_CLASS), "--size", "32"]
    assert main([*args, "--seed", "4", "--workers", "2"]) == 0
    return out


@pytest.fixture(scope="module")
def decoded(long_set) -> dict[str, list[np.ndarray]]:
    """Every clip of the set decoded (all 256 frames), by class."""
    clips: dict[str, list[np.ndarray]] = {}
    for split in ("train", "val", "test"):
        with (long_set / f"{split}.csv").open(newline="") as fh:
            for row in csv.DictReader(fh):
                clips.setdefault(row["label"], []).append(read_frames(long_set / row["path"], range(FRAMES)))
    return clips


def test_set_holds_the_six_ordering_classes_of_long_clips(long_set):
    classes = (long_set / "classes.txt").read_text().split()
    assert classes == sorted("_".join(p) for o in ORDERS for p in (o, o[::-1]))
    meta = json.loads((long_set / "meta.json").read_text())
    assert meta["generator"] == "video-synthetic-long" and meta["clips"] == 6 * N_PER_CLASS
    assert meta["config"]["frames"] == FRAMES and meta["pairs"] == [list(p) for p in PAIRS[:3]]
    paths = sorted((long_set / "videos").rglob("*.mp4"))
    results = probe_many(paths, timeout_s=30, workers=2, progress=False)
    assert all(r.ok for r in results), [r.reason for r in results if not r.ok]
    assert {r.info.num_frames for r in results} == {FRAMES}
    assert {(r.info.width, r.info.height) for r in results} == {(32, 32)}  # sides from 32 px to --size


def test_second_class_of_a_pair_is_the_first_played_backwards(tmp_path):
    forward, backward = PAIRS[0]
    clips = []
    for label, reverse in ((forward, False), (backward, True)):
        job = _ClipJob(str(tmp_path), label, forward, reverse, 0, 64, 32, (9, 0, 0), long_events)
        clips.append(read_frames(tmp_path / _make_clip(job)[0], range(64)).astype(np.float32))
    assert np.abs(clips[0][::-1] - clips[1]).mean() < 2.0  # same frames, reverse order (lossy codec)
    assert np.abs(clips[0] - clips[1]).mean() > 0.5  # and the order matters


def test_events_are_brief_and_anywhere_in_the_clip_alike_forwards_and_backwards():
    rng = np.random.default_rng(0)
    spans = np.array([brief_spans(FRAMES, 3, rng) for _ in range(4000)])  # (4000, 3, 2)
    durations = spans[..., 1] - spans[..., 0]
    assert durations.min() == EVENT_FRAMES[0] and durations.max() == EVENT_FRAMES[1]
    assert (spans[:, 0, 0] >= 0).all() and (spans[:, -1, 1] <= FRAMES).all()
    assert (spans[:, 1:, 0] >= spans[:, :-1, 1]).all()  # disjoint, in time order
    before, after = spans[:, 0, 0], FRAMES - spans[:, -1, 1]
    assert abs(before.mean() - after.mean()) < 3 and abs(before.std() - after.std()) < 3  # symmetric in time
    # uniform placement: the first of three events starts past the middle about 1/8 of the time
    assert 0.09 < (before > FRAMES / 2).mean() < 0.16
    assert spans[:, 1, 0].std() > FRAMES / 6  # the middle event is anywhere, not at a fixed beat


def test_sixteen_uniform_frames_almost_never_see_the_order():
    rng = np.random.default_rng(1)
    seen = np.array(
        [
            [bool(np.any((a <= UNIFORM_16) & (b > UNIFORM_16))) for a, b in brief_spans(FRAMES, 3, rng)]
            for _ in range(4000)
        ]
    )  # (4000, 3) whether the subsample holds a frame of each event
    assert 0.12 < seen.mean() < 0.24  # one event in six
    assert (seen.sum(1) == 3).mean() < 0.02  # all three: the order in view
    assert (seen.sum(1) >= 2).mean() < 0.15


# --------------------------------------------------------------------------- decoded clips


def event_areas(clip: np.ndarray) -> np.ndarray:
    """(F, H, W, 3) uint8 -> (F, 3): per frame, the share of pixels off the background in each event's hue family
    (square red, circle green, triangle blue), saturated and bright as the events are drawn."""
    x = clip.astype(np.float32) / 255  # (F, H, W, 3)
    off = np.abs(x - np.median(x, axis=0)).max(-1) > 40 / 255  # (F, H, W)
    top, low = x.max(-1), x.min(-1)
    hue = np.zeros_like(top)  # (F, H, W), 0-1 as colorsys.rgb_to_hsv
    for i in range(3):  # the hue of the largest channel's sector
        a, b = x[..., (i + 1) % 3], x[..., (i + 2) % 3]
        hue = np.where(x[..., i] == top, (i / 3 + (a - b) / (6 * (top - low + 1e-6))) % 1.0, hue)
    vivid = off & (top - low > 0.45 * top) & (top > 0.45)  # saturated and bright
    areas = []
    for shape in ("square", "circle", "triangle"):
        d = np.abs(hue - SHAPE_HUES[shape])
        areas.append((vivid & (np.minimum(d, 1 - d) < 0.09)).mean((1, 2)))  # (F,)
    return np.stack(areas, -1)


def order_rule(areas: np.ndarray, times: np.ndarray) -> str:
    """The class a reader of the given frames would name: the three shapes ordered by when each is largest."""
    shapes = ("square", "circle", "triangle")
    return "_".join(shapes[i] for i in np.argsort(times[areas.argmax(0)], kind="stable"))


def test_every_frame_decides_the_class_but_16_uniform_frames_do_not(decoded):
    all_frames = np.arange(FRAMES)
    full = sub = total = 0
    for label, clips in decoded.items():
        for clip in clips:
            areas = event_areas(clip)  # (256, 3)
            full += order_rule(areas, all_frames) == label
            sub += order_rule(areas[UNIFORM_16], UNIFORM_16) == label
            total += 1
    assert full / total >= 0.9, full / total  # the order of the events is the class
    assert sub / total <= 1 / 6 + 0.15, sub / total  # chance is 1/6 (96 clips: sd ~ 0.04)


def test_order_free_and_subsampled_features_are_at_chance(decoded):
    """Order-free: how much of each hue shows over the clip, frame by frame, sorted (a bag of frames).
    Subsampled: when each hue shows most among the 16 uniform frames, and how much."""
    order_free, subsampled = [], []
    for clips in decoded.values():
        areas = [event_areas(clip) for clip in clips]  # (256, 3) each
        order_free.append([np.sort(a, axis=0)[-8:].ravel() for a in areas])
        subsampled.append([np.concatenate([a[UNIFORM_16].argmax(0), a[UNIFORM_16].max(0)]) for a in areas])
    for groups in (order_free, subsampled):
        accuracy = nearest_centroid_loo(groups)
        assert accuracy <= 1 / 6 + 0.15, accuracy


def test_bad_settings_are_clear_errors(tmp_path, capsys):
    with pytest.raises(InputError, match="--frames must be at least 32"):
        write_long_video(tmp_path, LongVideoConfig(frames=16))
    assert main(["data", "video-synthetic", "--long", "--out", str(tmp_path), "--classes", "4"]) == 2
    assert "--long always makes the 6 ordering classes" in capsys.readouterr().err
    with pytest.raises(InputError, match="unknown long clip kind"):
        long_events("moving_right", 32, 32, 32, np.random.default_rng(0), np.zeros(3))
    assert not (tmp_path / "meta.json").exists()

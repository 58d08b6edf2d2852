"""Long synthetic clips: ``latte-vt data video-synthetic --long --out DIR [--frames 256]``.

The six classes of the ordering set (``square_circle_triangle`` ... ``circle_square_triangle``, three
time-reversed pairs; see ``latte_vt.data.synthetic.video``), stretched over a long clip (256 frames by
default, ``--frames 1024`` for scaling runs) in which the deciding events are *brief*:

* A square (red family), a circle (green family) and a triangle (blue family), large (radius about a
  third of the frame), each visible once for only 2-4 frames; the class is the order in which they appear.
  The event times are uniformly random over the whole clip (every placement of the three spans equally
  likely, whatever the class), so played backwards a clip is a draw of its partner class.
* Distractors: 1-3 small shapes that stay (static or drifting slowly, as in the ordering set) and 2-5
  small *flashes* (a random shape in a random colour for 2-4 frames at a random time).

What this makes true (``tests/data/synthetic/test_long_video_synthetic.py`` checks both on clips it generates):

(a) Every class shows the same three events with the same distribution of durations, shapes and
    colours, so the *set* of frames has one distribution for all six classes: a model that ignores
    frame order is at chance (1/6).
(b) 16 frames sampled uniformly over 256 (one every 17) catch a given 2-4-frame event about one time
    in six and all three events in well under 1 % of clips; the order of the events is almost never in
    view, so a model reading 16 frames stays near chance too. Only a model that reads (nearly) every
    frame and relates events hundreds of frames apart can tell the classes apart.

Frames are small (each side drawn between 32 px and ``--size``, default 48 px) so training on all
frames is feasible on a CPU. Output as in the ordering set: ``videos/<class>/<class>_<i>.mp4``
(H.264 through the same writer), ``train.csv`` / ``val.csv`` / ``test.csv``, ``classes.txt`` and
``meta.json`` (written last; ``"generator": "video-synthetic-long"``).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from latte_vt.data.synthetic.video import (
    ORDERS,
    PAIRS,
    SHAPE_BY_NAME,
    Layer,
    _ClipJob,
    _col,
    _colour,
    _ordered_events,
    write_clip_set,
)
from latte_vt.errors import InputError

LONG_GENERATOR_VERSION = 2
"""Bumped when the same settings would draw different clips (2: larger events)."""

EVENT_FRAMES = (2, 4)
"""Shortest and longest duration (frames) of an event and of a distractor flash."""

EVENT_RADIUS = (0.29, 0.39)
"""Radius of an event's shape, as fractions of the frame's shorter side (1.7 times the ordering set's)."""

FLASHES = (2, 5)
"""Fewest and most distractor flashes per clip."""


@dataclass(frozen=True)
class LongVideoConfig:
    """Long synthetic set settings (see the module docstring); always the six ordering classes."""

    n: int = 60
    frames: int = 256
    size: int = 48
    seed: int = 0
    splits: tuple[float, float, float] = (0.7, 0.15, 0.15)
    workers: int = 0  # 0: all CPUs (at most 8); 1: in this process

    def validate(self) -> None:
        if self.n < 3:
            raise InputError(f"--n (clips per class) must be at least 3 so every split gets one, got {self.n}")
        if self.frames < 32:
            raise InputError(f"--frames must be at least 32 for long clips, got {self.frames}")
        if self.size < 32:
            raise InputError(f"--size must be at least 32, got {self.size}")
        if self.workers < 0:
            raise InputError(f"--workers must be 0 (all CPUs) or more, got {self.workers}")
        if len(self.splits) != 3 or min(self.splits) < 0 or abs(sum(self.splits) - 1) > 1e-6:
            raise InputError(f"--splits must be three non-negative fractions summing to 1, got {self.splits}")

    def class_names(self) -> list[str]:
        return [name for pair in PAIRS[: len(ORDERS)] for name in pair]


def brief_spans(frames: int, events: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """``events`` disjoint spans ``[start, stop)`` in time order, each ``EVENT_FRAMES`` long, placed uniformly
    at random: every split of the free frames into the gaps before, between and after is equally likely
    (the same distribution forwards and backwards)."""
    durations = rng.integers(EVENT_FRAMES[0], EVENT_FRAMES[1] + 1, events)  # (events,)
    slack = frames - int(durations.sum())
    if slack < 0:
        raise InputError(f"{events} events do not fit in {frames} frames")
    cuts = np.sort(rng.choice(slack + events, events, replace=False))  # stars and bars: a uniform composition
    starts = cuts - np.arange(events) + np.concatenate([[0], np.cumsum(durations[:-1])])  # (events,)
    return [(int(a), int(a + d)) for a, d in zip(starts, durations, strict=True)]


def _flashes(F: int, H: int, W: int, rng: np.random.Generator, bg: np.ndarray) -> list[Layer]:
    """2-5 small shapes of random kind and colour, each visible for 2-4 frames at a random time."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    m, t = min(H, W), np.arange(F)
    layers = []
    for _ in range(rng.integers(FLASHES[0], FLASHES[1] + 1)):
        r = np.float32(rng.uniform(0.07, 0.11) * m)
        cy, cx = np.float32(rng.uniform(r, H - r)), np.float32(rng.uniform(r, W - r))
        start = rng.integers(0, F - EVENT_FRAMES[1] + 1)
        on = _col((t >= start) & (t < start + rng.integers(EVENT_FRAMES[0], EVENT_FRAMES[1] + 1)))  # (F, 1, 1)
        shape = SHAPE_BY_NAME[str(rng.choice(list(SHAPE_BY_NAME)))]
        layers.append((shape(yy, xx, cy, cx, r) & on, _colour(rng, bg)))
    return layers


def long_events(kind: str, F: int, H: int, W: int, rng: np.random.Generator, bg: np.ndarray) -> list[Layer]:
    """Layers of a forward ordering class (``kind`` names the shapes in order): distractor flashes, then the
    three brief events on top."""
    shapes = tuple(kind.split("_"))
    if shapes not in ORDERS:
        raise InputError(f"unknown long clip kind {kind!r}; expected one of {['_'.join(o) for o in ORDERS]}")
    flashes = _flashes(F, H, W, rng, bg)
    return flashes + _ordered_events(shapes, F, H, W, rng, bg, brief_spans(F, len(shapes), rng), EVENT_RADIUS)


def write_long_video(out: str | Path, cfg: LongVideoConfig, progress: bool = True) -> Path:
    """Generate the long clips and split files under ``out``; returns the path of ``meta.json``."""
    cfg.validate()
    jobs = []
    for c, name in enumerate(cfg.class_names()):
        forward, backward = PAIRS[c // 2]
        jobs += [
            _ClipJob(str(out), name, forward, name == backward, i, cfg.frames, cfg.size, (cfg.seed, c, i), long_events)
            for i in range(cfg.n)
        ]
    meta = {
        "generator": "video-synthetic-long",
        "version": LONG_GENERATOR_VERSION,
        "config": asdict(cfg),
        "pairs": [list(p) for p in PAIRS[: len(ORDERS)]],
    }
    return write_clip_set(out, jobs, cfg, meta, progress)


def run(args: argparse.Namespace) -> int:
    """``latte-vt data video-synthetic --long``: the arguments of the ordering set, ``--classes`` fixed at 6."""
    if args.classes != 2 * len(ORDERS):
        raise InputError(f"--long always makes the {2 * len(ORDERS)} ordering classes; drop --classes {args.classes}")
    d = LongVideoConfig()
    frames = d.frames if args.frames is None else args.frames
    size = d.size if args.size is None else args.size
    cfg = LongVideoConfig(args.n, frames, size, args.seed, args.splits, args.workers)
    meta = json.loads(write_long_video(args.out, cfg).read_text())
    print(f"wrote {meta['clips']} clips of {cfg.frames} frames ({len(cfg.class_names())} classes) to {args.out}")
    return 0

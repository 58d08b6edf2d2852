"""Synthetic temporal video classes: ``latte-vt data video-synthetic --out DIR``.

Classes come in time-reversed pairs. A clip of the second class of a pair is a clip of the first,
drawn from the same generator, with its frames in reverse order. The first three pairs (the default
six classes) are *orderings*: a square, a circle and a triangle each appear once, one after the
other, each for a few frames while it slides and changes size a little in a random direction (each
shape keeps to its own family of hues: red, green, blue); the class is the order in which they appear:

* ``square_circle_triangle`` / ``triangle_circle_square``
* ``circle_triangle_square`` / ``square_triangle_circle``
* ``triangle_square_circle`` / ``circle_square_triangle``

Every clip of these six classes shows the same three events (never two at once, durations and gaps
drawn independently of the class), so all six have the same distribution of frame *sets*: a model that
ignores frame order (mean frame, bag of frames, shuffled clips) cannot beat chance among them (1/6).
Five further pairs (``--classes`` up to 16) are motions:

* ``moving_right`` / ``moving_left``: a large shape slides across the frame.
* ``moving_down`` / ``moving_up``: the same, vertically.
* ``rotating_clockwise`` / ``rotating_counterclockwise``: a clock hand with a dot at its tip turns.
* ``growing`` / ``shrinking``: a shape scales up (down) around its centre.
* ``a_before_b`` / ``b_before_a``: a square flashes, then a circle (or the reverse).

The two classes of a motion pair have the same distribution of frame sets, so an order-blind model
cannot beat chance *within* such a pair; it can still tell the pairs apart (a horizontal path is not
a vertical one), so shuffled-frame accuracy over motion classes can reach one in two. Per clip
the generator randomises resolution (even sides between 60 % of ``size`` and ``size``, avoiding the
widths decord 0.6.0 cannot decode), frame rate (25 or 29.97), background, colours, object size,
speed, start time and 1-3 smaller distractor shapes (static or slowly drifting in any direction).

Output (``DIR``): ``videos/<class>/<class>_<i>.mp4`` (H.264, yuv420p, with B-frames), ``train.csv``,
``val.csv``, ``test.csv`` (``path,label``, paths relative to the CSV; stratified by class),
``classes.txt`` (sorted) and ``meta.json``, written last, so its presence marks a complete set.

``--long`` writes the long set instead (the six ordering classes decided by brief events over 256
frames): ``latte_vt.data.synthetic.long_video``.
"""

from __future__ import annotations

import argparse
import colorsys
import csv
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import numpy as np

from latte_vt.errors import InputError

ORDERS = (("square", "circle", "triangle"), ("circle", "triangle", "square"), ("triangle", "square", "circle"))
"""Forward ordering classes: the shapes in the order they appear. A class is named by its shapes joined
with ``_``; its partner is the reverse order."""

PAIRS = (
    *(("_".join(shapes), "_".join(reversed(shapes))) for shapes in ORDERS),
    ("moving_right", "moving_left"),
    ("moving_down", "moving_up"),
    ("rotating_clockwise", "rotating_counterclockwise"),
    ("growing", "shrinking"),
    ("a_before_b", "b_before_a"),
)
"""(forward class, its time reversal), in the order ``--classes`` takes them."""

GENERATOR_VERSION = 2
"""Bumped when the same settings would draw different clips (2: the ordering classes come first)."""

FRAME_RATES = (Fraction(25), Fraction(30000, 1001))
DECORD_BAD_WIDTHS = frozenset({16, 24, 48, 72})


@dataclass(frozen=True)
class VideoSynthConfig:
    """Synthetic video set settings (see the module docstring)."""

    classes: int = 6
    n: int = 60
    frames: int = 16
    size: int = 160
    seed: int = 0
    splits: tuple[float, float, float] = (0.7, 0.15, 0.15)
    workers: int = 0  # 0: all CPUs (at most 8); 1: in this process

    def validate(self) -> None:
        if self.classes % 2 or not 2 <= self.classes <= 2 * len(PAIRS):
            raise InputError(f"--classes must be even, between 2 and {2 * len(PAIRS)}, got {self.classes}")
        if self.n < 3:
            raise InputError(f"--n (clips per class) must be at least 3 so every split gets one, got {self.n}")
        if self.frames < 4:
            raise InputError(f"--frames must be at least 4, got {self.frames}")
        if self.workers < 0:
            raise InputError(f"--workers must be 0 (all CPUs) or more, got {self.workers}")
        if self.size < 32:
            raise InputError(f"--size must be at least 32, got {self.size}")
        if len(self.splits) != 3 or min(self.splits) < 0 or abs(sum(self.splits) - 1) > 1e-6:
            raise InputError(f"--splits must be three non-negative fractions summing to 1, got {self.splits}")

    def class_names(self) -> list[str]:
        return [name for pair in PAIRS[: self.classes // 2] for name in pair]


# --------------------------------------------------------------------------- drawing


def _hued_colour(rng: np.random.Generator, hue: float, avoid: np.ndarray) -> np.ndarray:
    """A saturated RGB colour within 0.05 of ``hue``, at least 120 (L1) away from ``avoid`` when it can."""
    for _ in range(50):
        rgb = colorsys.hsv_to_rgb((hue + rng.uniform(-0.05, 0.05)) % 1.0, rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.0))
        c = np.array(rgb, dtype=np.float32) * 255
        if np.abs(c - avoid).sum() >= 120:
            break
    return c


def _colour(rng: np.random.Generator, avoid: np.ndarray | None = None) -> np.ndarray:
    """A random RGB colour at least 120 (L1) away from ``avoid``."""
    while True:
        c = rng.integers(20, 236, 3).astype(np.float32)
        if avoid is None or np.abs(c - avoid).sum() >= 120:
            return c


def _disc(yy: np.ndarray, xx: np.ndarray, cy: np.ndarray, cx: np.ndarray, r: np.ndarray) -> np.ndarray:
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2  # (F, H, W)


def _square(yy: np.ndarray, xx: np.ndarray, cy: np.ndarray, cx: np.ndarray, r: np.ndarray) -> np.ndarray:
    return (np.abs(yy - cy) <= r) & (np.abs(xx - cx) <= r)  # (F, H, W)


def _triangle(yy: np.ndarray, xx: np.ndarray, cy: np.ndarray, cx: np.ndarray, r: np.ndarray) -> np.ndarray:
    dy = (yy - cy) / r  # (F, H, W), apex up
    return (dy >= -1) & (dy <= 1) & (np.abs(xx - cx) <= r * (dy + 1) / 2)


SHAPE_BY_NAME = {"circle": _disc, "square": _square, "triangle": _triangle}
SHAPES = tuple(SHAPE_BY_NAME.values())
SHAPE_HUES = {"square": 0.0, "circle": 1 / 3, "triangle": 2 / 3}
"""Hue (0-1) around which each ordering-event shape is coloured: red-ish, green-ish, blue-ish."""
Layer = tuple[np.ndarray, np.ndarray]  # mask (F, H, W) or broadcastable bool, colour (3,) float32


def _track(frames: int, rng: np.random.Generator) -> np.ndarray:
    """Progress 0 -> 1 per frame: still until a random start, linear, still after a random end. (F,)"""
    t0 = rng.uniform(0, frames / 4)
    t1 = frames - 1 - rng.uniform(0, frames / 4)
    return np.clip((np.arange(frames) - t0) / (t1 - t0), 0.0, 1.0)


def _col(values: np.ndarray) -> np.ndarray:
    return values.reshape(-1, 1, 1)  # (F,) -> (F, 1, 1), broadcasts over the frame


def event_spans(frames: int, events: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """``events`` disjoint frame spans ``[start, stop)`` in time order, drawn the same way forwards and
    backwards: durations between ``frames // 8`` and ``frames // 4`` (at least 1), and the frames left
    over shared at random between the gap before, the gaps between and the gap after."""
    low = max(1, frames // 8)
    durations = rng.integers(low, max(low, frames // 4) + 1, events)
    slack = frames - int(durations.sum())
    if slack < 0:
        raise InputError(f"{events} events do not fit in {frames} frames")
    gaps = rng.multinomial(slack, np.full(events + 1, 1 / (events + 1)))
    starts = np.cumsum(gaps[:-1]) + np.concatenate([[0], np.cumsum(durations[:-1])])
    return [(int(a), int(a + d)) for a, d in zip(starts, durations, strict=True)]


def _ordered_events(
    shapes: tuple[str, ...],
    F: int,
    H: int,
    W: int,
    rng: np.random.Generator,
    bg: np.ndarray,
    spans: list[tuple[int, int]] | None = None,
    radius: tuple[float, float] = (0.17, 0.23),
) -> list[Layer]:
    """One layer per shape, visible only during its own span (``spans``, default ``event_spans``), of a radius
    drawn from ``radius`` (fractions of the shorter side); while visible it slides and changes size linearly,
    around a random midpoint, in a random direction (so played backwards it is a draw of the same kind)."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    m = min(H, W)
    t = np.arange(F)
    layers = []
    for name, (start, stop) in zip(shapes, spans or event_spans(F, len(shapes), rng), strict=True):
        # (F,) -0.5 -> 0.5 over the span (0 for a one-frame span)
        u = np.clip((t - start) / (stop - start - 1), 0.0, 1.0) - 0.5 if stop - start > 1 else np.zeros(F)
        r = rng.uniform(*radius) * m + rng.uniform(-0.03, 0.03) * m * u  # (F,)
        dist, angle = rng.uniform(0.0, 0.25) * m, rng.uniform(0, 2 * np.pi)
        reach = 0.25 * m + dist / 2
        cy = rng.uniform(reach, H - reach) + dist * np.sin(angle) * u  # (F,)
        cx = rng.uniform(reach, W - reach) + dist * np.cos(angle) * u
        on = _col((t >= start) & (t < stop))  # (F, 1, 1)
        mask = SHAPE_BY_NAME[name](yy, xx, _col(cy), _col(cx), _col(r)) & on
        layers.append((mask, _hued_colour(rng, SHAPE_HUES[name], bg)))
    return layers


def _main_object(kind: str, F: int, H: int, W: int, rng: np.random.Generator, bg: np.ndarray) -> list[Layer]:
    """Layers (mask (F, H, W), colour (3,)) of the forward-class object(s)."""
    shapes = tuple(kind.split("_"))
    if shapes in ORDERS:
        return _ordered_events(shapes, F, H, W, rng, bg)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    m = min(H, W)
    p = _track(F, rng)  # (F,)
    shape = SHAPES[rng.integers(len(SHAPES))]
    colour = _colour(rng, bg)
    if kind in ("moving_right", "moving_down"):
        r = rng.uniform(0.10, 0.16) * m
        along, across = (W, H) if kind == "moving_right" else (H, W)
        dist = rng.uniform(0.35, 0.6) * along
        start = rng.uniform(r, along - r - dist)
        pos = start + dist * p  # (F,)
        fixed = np.full(F, rng.uniform(r, across - r))
        cx, cy = (pos, fixed) if kind == "moving_right" else (fixed, pos)
        return [(shape(yy, xx, _col(cy), _col(cx), np.float32(r)), colour)]
    if kind == "rotating_clockwise":
        length = rng.uniform(0.25, 0.4) * m
        cy, cx = rng.uniform(length, H - length), rng.uniform(length, W - length)
        theta = rng.uniform(0, 2 * np.pi) + np.deg2rad(rng.uniform(120, 270)) * p  # (F,) clockwise: y points down
        ty, tx = cy + length * np.sin(theta), cx + length * np.cos(theta)  # tip (F,)
        # distance of each pixel to the segment hub -> tip
        vy, vx = _col(ty - cy), _col(tx - cx)
        s = np.clip(((yy - cy) * vy + (xx - cx) * vx) / (length**2), 0, 1)  # (F, H, W)
        hand = (yy - cy - s * vy) ** 2 + (xx - cx - s * vx) ** 2 <= (0.05 * m) ** 2
        tip = _disc(yy, xx, _col(ty), _col(tx), np.float32(0.1 * m))
        return [(hand, colour), (tip, _colour(rng, colour))]
    if kind == "growing":
        r0 = rng.uniform(0.06, 0.09) * m
        r = r0 + (rng.uniform(1.8, 3.0) - 1) * r0 * p  # (F,)
        r_max = r[-1]
        cy, cx = rng.uniform(r_max, H - r_max), rng.uniform(r_max, W - r_max)
        return [(shape(yy, xx, np.float32(cy), np.float32(cx), _col(r)), colour)]
    if kind == "a_before_b":
        r = rng.uniform(0.1, 0.15) * m
        ta = rng.integers(0, F // 4 + 1)
        tb = rng.integers(ta + F // 4, F // 2 + F // 4 + 1)
        da, db = rng.integers(F // 4, F // 2 + 1, size=2)
        db = max(db, ta + da - tb + 1)  # the circle also goes last, so the reversal swaps the order
        t = np.arange(F)
        layers = []
        for shape_fn, t_on, dur in ((_square, ta, da), (_disc, tb, db)):
            on = _col(((t >= t_on) & (t < min(t_on + dur, F))).astype(np.float32)) > 0  # (F, 1, 1)
            cy, cx = rng.uniform(r, H - r), rng.uniform(r, W - r)
            layers.append((shape_fn(yy, xx, np.float32(cy), np.float32(cx), np.float32(r)) & on, _colour(rng, bg)))
        return layers
    raise InputError(f"unknown clip kind {kind!r}")


def _distractors(F: int, H: int, W: int, rng: np.random.Generator, bg: np.ndarray) -> list[Layer]:
    """1-3 small shapes, each static or drifting slowly in a random direction. [(mask (F, H, W), colour)]"""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    m = min(H, W)
    layers = []
    for _ in range(rng.integers(1, 4)):
        r = rng.uniform(0.04, 0.07) * m
        cy, cx = rng.uniform(r, H - r), rng.uniform(r, W - r)
        speed = 0.0 if rng.random() < 0.5 else rng.uniform(0.05, 0.15) * m / F
        angle = rng.uniform(0, 2 * np.pi)
        t = np.arange(F)
        ys = np.clip(cy + speed * np.sin(angle) * t, r, H - r)  # (F,)
        xs = np.clip(cx + speed * np.cos(angle) * t, r, W - r)
        shape = SHAPES[rng.integers(len(SHAPES))]
        layers.append((shape(yy, xx, _col(ys), _col(xs), np.float32(r)), _colour(rng, bg)))
    return layers


MainObject = Callable[[str, int, int, int, np.random.Generator, np.ndarray], list[Layer]]
"""(kind, F, H, W, rng, background colour) -> the layers that make a clip of that kind."""


def render_clip(
    kind: str, frames: int, height: int, width: int, rng: np.random.Generator, main: MainObject = _main_object
) -> np.ndarray:
    """Frames of one forward-class clip (a ``PAIRS[i][0]`` kind, drawn by ``main``) -> (F, H, W, 3) uint8."""
    F, H, W = frames, height, width
    bg_a, bg_b = _colour(rng), _colour(rng)
    ramp = np.linspace(0, 1, W, dtype=np.float32)[None, :, None]  # (1, W, 1) static horizontal gradient
    background = (1 - ramp) * bg_a + ramp * (0.5 * bg_a + 0.5 * bg_b)  # (1, W, 3)
    video = np.broadcast_to(background, (F, H, W, 3)).copy()  # (F, H, W, 3) float32
    for mask, colour in _distractors(F, H, W, rng, bg_a) + main(kind, F, H, W, rng, bg_a):
        video[np.broadcast_to(mask, (F, H, W))] = colour
    return video.round().astype(np.uint8)


def _frame_side(rng: np.random.Generator, size: int) -> int:
    sides = [s for s in range(max(32, int(0.6 * size)) // 2 * 2, size + 1, 2) if s not in DECORD_BAD_WIDTHS]
    return int(rng.choice(sides))


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class _ClipJob:
    out: str
    label: str
    forward_kind: str
    reverse: bool
    index: int
    frames: int
    size: int
    seed: tuple[int, ...]
    main: MainObject = _main_object


def _make_clip(job: _ClipJob) -> tuple[str, str]:
    from latte_vt.data.video.writer import write_video

    rng = np.random.default_rng(job.seed)
    height, width = _frame_side(rng, job.size), _frame_side(rng, job.size)
    fps = FRAME_RATES[rng.integers(len(FRAME_RATES))]
    video = render_clip(job.forward_kind, job.frames, height, width, rng, job.main)  # (F, H, W, 3)
    if job.reverse:
        video = video[::-1]
    rel = Path("videos") / job.label / f"{job.label}_{job.index:05d}.mp4"
    path = Path(job.out) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, np.ascontiguousarray(video), fps=fps, gop=max(4, job.frames // 2))
    return rel.as_posix(), job.label


class ClipSetConfig(Protocol):
    """What writing a clip set needs of its generator's settings."""

    seed: int
    splits: tuple[float, float, float]
    workers: int

    def class_names(self) -> list[str]: ...


def _split_rows(rows: list[tuple[str, str]], cfg: ClipSetConfig) -> dict[str, list[tuple[str, str]]]:
    """Stratified split: per class, shuffled, then cut at the split fractions (at least one clip each)."""
    rng = np.random.default_rng([cfg.seed, 1])
    out: dict[str, list[tuple[str, str]]] = {"train": [], "val": [], "test": []}
    for label in cfg.class_names():
        mine = sorted(r for r in rows if r[1] == label)
        order = rng.permutation(len(mine))
        n_val = max(1, round(cfg.splits[1] * len(mine))) if cfg.splits[1] > 0 else 0
        n_test = max(1, round(cfg.splits[2] * len(mine))) if cfg.splits[2] > 0 else 0
        n_train = len(mine) - n_val - n_test
        for name, part in (("train", order[:n_train]), ("val", order[n_train : n_train + n_val])):
            out[name] += [mine[i] for i in part]
        out["test"] += [mine[i] for i in order[n_train + n_val :]]
    return {name: sorted(part) for name, part in out.items()}


def write_video_synthetic(out: str | Path, cfg: VideoSynthConfig, progress: bool = True) -> Path:
    """Generate the clips and split files under ``out``; returns the path of ``meta.json``."""
    cfg.validate()
    jobs = []
    for c, name in enumerate(cfg.class_names()):
        forward, backward = PAIRS[c // 2]
        jobs += [
            _ClipJob(str(out), name, forward, name == backward, i, cfg.frames, cfg.size, (cfg.seed, c, i))
            for i in range(cfg.n)
        ]
    meta = {"generator": "video-synthetic", "version": GENERATOR_VERSION, "config": asdict(cfg)}
    return write_clip_set(out, jobs, cfg, meta | {"pairs": [list(p) for p in PAIRS[: cfg.classes // 2]]}, progress)


def write_clip_set(out: str | Path, jobs: list[_ClipJob], cfg: ClipSetConfig, meta: dict, progress: bool) -> Path:
    """Write ``jobs``' clips, the split CSVs, ``classes.txt`` and, last, ``meta.json`` (``meta`` plus the clip
    count and seconds) under ``out``; returns the path of ``meta.json``."""
    from tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    workers = cfg.workers or min(8, os.cpu_count() or 1)
    began = time.perf_counter()
    with tqdm(total=len(jobs), desc="writing clips", unit="clip", disable=not progress) as bar:
        if workers == 1:
            made = map(_make_clip, jobs)
        else:  # spawn: forking a process that has loaded torch can deadlock
            pool = multiprocessing.get_context("spawn").Pool(workers)
            made = pool.imap_unordered(_make_clip, jobs, chunksize=4)
        rows = []
        for row in made:
            rows.append(row)
            bar.update(1)
        if workers > 1:
            pool.close()
            pool.join()
    for split, part in _split_rows(rows, cfg).items():
        with (out / f"{split}.csv").open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["path", "label"])
            writer.writerows(part)
    (out / "classes.txt").write_text("".join(f"{name}\n" for name in sorted(cfg.class_names())))
    meta = meta | {"clips": len(rows), "seconds": round(time.perf_counter() - began, 2)}
    meta_path = out / "meta.json"
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    return meta_path


# --------------------------------------------------------------------------- CLI


def _fractions(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected three comma-separated fractions, got {text!r}") from None
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"expected three comma-separated fractions, got {text!r}")
    return values  # type: ignore[return-value]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = VideoSynthConfig()
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--classes",
        type=int,
        default=d.classes,
        help=f"even number of classes, 2-{2 * len(PAIRS)} (default {d.classes})",
    )
    parser.add_argument("--n", type=int, default=d.n, help=f"clips per class (default {d.n})")
    parser.add_argument("--frames", type=int, help=f"frames per clip (default {d.frames}; --long: 256)")
    parser.add_argument("--size", type=int, help=f"largest frame side in px (default {d.size}; --long: 48)")
    parser.add_argument("--seed", type=int, default=d.seed, help="random seed")
    parser.add_argument("--splits", type=_fractions, default=d.splits, help="train,val,test fractions (0.7,0.15,0.15)")
    parser.add_argument("--workers", type=int, default=d.workers, help="processes (default: CPUs, at most 8)")
    parser.add_argument(
        "--long",
        action="store_true",
        help="long clips: the six ordering classes decided by three brief (2-4 frame) events among distractors "
        "(latte_vt.data.synthetic.long_video)",
    )


def run(args: argparse.Namespace) -> int:
    if args.long:
        from latte_vt.data.synthetic.long_video import run as run_long

        return run_long(args)
    d = VideoSynthConfig()
    frames = d.frames if args.frames is None else args.frames
    size = d.size if args.size is None else args.size
    cfg = VideoSynthConfig(args.classes, args.n, frames, size, args.seed, args.splits, args.workers)
    try:
        meta_path = write_video_synthetic(args.out, cfg)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    meta = json.loads(meta_path.read_text())
    print(f"wrote {meta['clips']} clips of {cfg.classes} classes to {meta_path.parent} in {meta['seconds']:.1f} s")
    return 0

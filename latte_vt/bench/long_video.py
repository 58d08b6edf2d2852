"""``latte-vt bench long-video``: long clips (256 frames, >= 1k tokens) where subsampling and softmax fail.

One run, one machine, every contestant:

1. Generate the long synthetic set (``latte_vt.data.synthetic.long_video``: the six orders of three
   brief events among distractors) unless it exists, and decode every clip once (real H.264 through
   decord and the evaluation transform) into memory.
2. Train, each for the same fixed number of steps through ``VideoClassificationTask`` and a Lightning
   ``Trainer`` (AdamW, warm-up + cosine), PatchTokenizer models of one size and one recipe (a causal
   encoder over the time-major tokens, latent-query pooling, time-reversal and mirror augmentation): Latte on
   all frames, Latte on 16 uniformly sampled frames (the usual recipe), softmax attention on all frames,
   and one Latte per backbone option (tied query/key latents, latents shared across layers, orthogonal
   latent init, mean instead of latent-query pooling, Macchiato). Report validation top-1, top-1 on the same
   clips with their frames shuffled (chance for a model that reads order) and the median training
   step time.
3. Training step time of Latte and softmax at >= 4k tokens per clip (smaller patches), a few steps each.
4. Encoder forward and forward+backward time and peak memory over frames (256 -> 1024 at 64 px, 16 px
   patches: up to 16k tokens), Latte vs softmax, each case in a fresh process (``video_worker``); a
   case that fails or runs out of time is reported as such.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import Dataset

from latte_vt.bench.measure import run_worker
from latte_vt.bench.report import (
    RunInfo,
    environment,
    fmt_bytes,
    fmt_ratio,
    fmt_seconds,
    markdown_table,
    write_outputs,
)
from latte_vt.bench.video import (
    ClipItems,
    DecodedSplit,
    TrainLoss,
    VideoBenchConfig,
    fit_for_steps,
    load_split,
    loss_summary,
    order_scores,
    partners,
    shuffle_frames,
)
from latte_vt.tasks.video import VideoClassificationTask

if TYPE_CHECKING:
    from latte_vt.data.synthetic.long_video import LongVideoConfig

ABLATIONS: dict[str, dict[str, Any]] = {
    "tied_qk": {"tie_qk": True},
    "shared_latents": {"share_latents": True},
    "orthogonal_init": {"latent_init": "orthogonal"},
    "mean_pooling": {"pooling": "mean"},
    "macchiato": {"mixer": "macchiato"},
}
"""Backbone options measured against plain Latte: model name suffix -> ``LatteConfig`` overrides."""

ABLATION_TEXT = {
    "tied_qk": "tied query/key latents (W_q = W_k)",
    "shared_latents": "latents shared across layers",
    "orthogonal_init": "orthogonal latent init",
    "mean_pooling": "mean pooling (instead of latent-query)",
    "macchiato": "Macchiato (latents + sliding-window softmax)",
}


@dataclass
class LongVideoBenchConfig:
    """Settings of the long-video benchmark (defaults: see docs/video.md for the time a quiet 2-core CPU takes).

    Every model reads 32x32 frames, temporally centred (each pixel minus its clip mean), through the
    plain linear patch embedding (no stem: 256 frames through a convolutional stem cost more than the
    encoder): 16 px patches, tubelet 1, so all 256 frames make 256 x 4 = 1024 tokens and 16 frames make 64.
    The recipe (docs/video.md "The recipe, and why"): a causal encoder over the time-major tokens (order
    is read from the running state), latent-query pooling, and training clips reversed in time with their
    partner's label or mirrored (``TrainingClips``). The bidirectional recipe with latent-query pooling
    memorised the clips and stayed at chance. The encoder is small (dim 32, to fit the budget) and the
    set large (1,530 training clips).
    """

    data_dir: str = "data/long-video-bench"
    clips_per_class: int = 300
    val_fraction: float = 0.15
    video_frames: int = 256
    video_size: int = 32
    short_frames: int = 16
    size: int = 32
    dim: int = 32
    depth: int = 2
    heads: int = 2
    latents: int = 16
    causal: bool = True  # the encoder reads the time-major tokens in order (every contestant)
    pooling: str = "latent"  # LatteConfig.pooling of every contestant but the pooling ablation
    augment: bool = True  # training clips: time reversal with the partner's label, left-right mirror
    patch: int = 16
    tubelet: int = 1
    batch_size: int = 8
    lr: float = 3e-3
    weight_decay: float = 0.05
    warmup_fraction: float = 0.1
    label_smoothing: float = 0.1
    steps: int = 3000  # optimizer steps of every model (a fixed budget: the same however busy the machine)
    timing_patch: int = 8  # the step-time setting: 8 px patches -> 4096 tokens per 256-frame clip
    timing_steps: int = 5  # steps per contestant there; the first two are warm-up
    threads: int = 1  # torch intra-op threads while training
    scaling_frames: tuple[int, ...] = (256, 512, 1024)
    scaling_size: int = 64
    scaling_patch: int = 16
    scaling_timeout_s: float = 180.0  # per case; a case past it is reported as timed out
    seed: int = 0
    ablations: tuple[str, ...] = field(default=tuple(ABLATIONS))

    def tokens(self, frames: int, patch: int | None = None) -> int:
        """Tokens of a clip of ``frames`` frames at ``size`` px with ``patch`` px patches (default ``patch``)."""
        return frames // self.tubelet * (self.size // (patch or self.patch)) ** 2


QUICK = LongVideoBenchConfig(
    clips_per_class=4,
    video_frames=64,
    video_size=32,
    steps=4,
    timing_steps=3,
    scaling_frames=(16, 32),
    scaling_size=32,
    scaling_timeout_s=60.0,
)
"""A tiny run that checks the plumbing (about a minute)."""


# --------------------------------------------------------------------------- data


def long_set_matches(root: Path, synth: LongVideoConfig) -> bool:
    """Whether ``root`` holds a complete long set made with ``synth``'s settings (workers aside); a set made
    otherwise is reported and its ``meta.json`` removed, so it is generated again rather than measured."""
    from latte_vt.data.synthetic.long_video import LONG_GENERATOR_VERSION

    meta_path = root / "meta.json"
    if not meta_path.is_file():
        return False
    meta = json.loads(meta_path.read_text())
    wanted = json.loads(json.dumps(asdict(synth) | {"workers": None}))  # tuples as lists, like the file
    made = meta.get("config", {}) | {"workers": None}
    same = meta.get("generator") == "video-synthetic-long" and meta.get("version") == LONG_GENERATOR_VERSION
    if same and made == wanted:
        return True
    print(f"{root} holds a synthetic set made with other settings; generating it again", flush=True)
    meta_path.unlink()
    return False


def load_data(cfg: LongVideoBenchConfig) -> tuple[dict[str, DecodedSplit], list[str]]:
    """Generate the set when missing, then decode train and val once: frames (N, F, 3, S, S) float16."""
    from latte_vt.data.synthetic.long_video import LongVideoConfig, write_long_video

    root = Path(cfg.data_dir)
    splits = (1 - cfg.val_fraction, cfg.val_fraction, 0.0)
    synth = LongVideoConfig(cfg.clips_per_class, cfg.video_frames, cfg.video_size, cfg.seed, splits)
    if not long_set_matches(root, synth):
        write_long_video(root, synth)
    view = VideoBenchConfig(data_dir=cfg.data_dir, video_frames=cfg.video_frames, size=cfg.size, margin=0)
    data = {}
    for split in ("train", "val"):
        data[split], classes = load_split(view, split, torch.float16)  # (N, F, 3, S, S): half the memory
    return data, classes


def uniform_frames(video_frames: int, frames: int) -> np.ndarray:
    """(frames,) indices spread over the whole clip, symmetric under time reversal (linspace(0, n - 1, k))."""
    from latte_vt.data.video.sampling import eval_clip_indices

    stride = max(1, math.ceil((video_frames - 1) / max(frames - 1, 1)))
    return eval_clip_indices(video_frames, frames, 1, stride)[0]


def train_frames(video_frames: int, frames: int, rng: np.random.Generator) -> np.ndarray:
    """(frames,) indices of a random near-uniform subsample: a stride within 2 of the uniform one, random start."""
    from latte_vt.data.video.sampling import train_clip_indices

    if frames >= video_frames:
        return np.arange(video_frames)
    stride = max(1, (video_frames - 1) // max(frames - 1, 1))
    return train_clip_indices(video_frames, frames, rng, range(max(1, stride - 2), stride + 1))


class TrainingClips(Dataset):
    """Training items of ``frames`` frames, drawn afresh on every call (``train_frames``), with the two
    label-preserving augmentations of this set when ``augment``: half the clips play backwards and take the
    label of their time-reversed partner class (a reversed clip is a draw of that class: the event times are
    uniform either way), and half are mirrored left-right (shapes and colours keep their class). A random
    roll in time would not be valid: it changes the order of the events.
    """

    def __init__(
        self, split: DecodedSplit, frames: int, classes: list[str], augment: bool, rng: np.random.Generator
    ) -> None:
        self.split, self.frames, self.augment, self.rng = split, frames, augment, rng
        self.partner = partners(classes)  # (C,)

    def __len__(self) -> int:
        return len(self.split.labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        s = self.split
        idx = torch.from_numpy(train_frames(s.frames.shape[1], self.frames, self.rng))  # (T,)
        clip, label = s.frames[i, idx].float(), s.labels[i]  # (T, 3, S, S)
        if self.augment and self.rng.random() < 0.5:
            clip, label = clip.flip(0), self.partner[label]
        if self.augment and self.rng.random() < 0.5:
            clip = clip.flip(-1)
        return {"video": clip[None], "label": label, "index": i, "path": s.paths[i], "valid": True}


# --------------------------------------------------------------------------- training


class StepTimer(L.Callback):
    """Wall time of every training step (the batch already loaded), in seconds."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._start = 0.0

    def on_train_batch_start(self, *args: Any) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, *args: Any) -> None:
        self.seconds.append(time.perf_counter() - self._start)

    def median_ms(self, skip: int) -> float:
        """Median step time in ms, leaving out the first ``skip`` (warm-up) steps when there are more."""
        kept = self.seconds[skip:] if len(self.seconds) > skip else self.seconds
        return round(1e3 * float(np.median(kept)), 1)


def build_task(cfg: LongVideoBenchConfig, classes: list[str], frames: int, **options: Any) -> VideoClassificationTask:
    """A PatchTokenizer ``VideoClassificationTask`` for clips of ``frames`` frames; ``options`` override the
    encoder's ``LatteConfig`` (``mixer``, ``tie_qk``, ...) or, for ``patch``, the tokenizer's patch size."""
    from latte_vt.backbone import LatteConfig

    patch = options.pop("patch", cfg.patch)
    defaults = {"causal": cfg.causal, "pooling": cfg.pooling}
    encoder = LatteConfig(cfg.dim, cfg.depth, cfg.heads, cfg.latents, **(defaults | options))
    return VideoClassificationTask(
        len(classes),
        classes,
        encoder,
        tokenizer="patch",
        num_frames=frames,
        image_size=cfg.size,
        tubelet=cfg.tubelet,
        patch=patch,
        temporal_centering=True,
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        warmup_fraction=cfg.warmup_fraction,
        label_smoothing=cfg.label_smoothing,
    )


def fit(
    task: VideoClassificationTask, train: DecodedSplit, frames: int, steps: int, cfg: LongVideoBenchConfig
) -> tuple[L.Trainer, StepTimer, list[float], float]:
    """Train ``task`` ``steps`` steps on clips of ``frames`` frames -> (trainer, step timer, losses, seconds)."""
    torch.manual_seed(cfg.seed)
    items = TrainingClips(train, frames, task.classes, cfg.augment, np.random.default_rng(cfg.seed))
    timer, losses = StepTimer(), TrainLoss()
    batch = min(cfg.batch_size, len(train.labels))
    trainer, seconds = fit_for_steps(task, items, steps, batch, cfg.seed, [timer, losses], False)
    return trainer, timer, losses.values, seconds


def train_model(
    name: str,
    frames: int,
    options: dict[str, Any],
    cfg: LongVideoBenchConfig,
    data: dict[str, DecodedSplit],
    classes: list[str],
) -> dict:
    """Train one model its ``cfg.steps`` through ``VideoClassificationTask``, then validate it (the task's
    metrics) on the ordered and the frame-shuffled evaluation clips of ``frames`` uniform frames."""
    train, val = data["train"], data["val"]
    task = build_task(cfg, classes, frames, **options)
    print(f"training {name}: {cfg.steps} steps, {cfg.tokens(frames)} tokens per clip", flush=True)
    trainer, timer, steps, seconds = fit(task, train, frames, cfg.steps, cfg)
    idx = torch.from_numpy(uniform_frames(val.frames.shape[1], frames))  # (T,)
    orders = (idx.expand(len(val.labels), -1), shuffle_frames(idx.expand(len(val.labels), -1), cfg.seed))  # (N, T)
    # clips cut and cast one at a time: a float32 copy of 256-frame clips is large
    ordered, shuffled = (ClipItems(val, lambda i, o=o: val.frames[i, o[i]].float()) for o in orders)
    B = min(cfg.batch_size, len(train.labels))
    return {
        "frames": frames,
        "tokens": cfg.tokens(frames),
        "options": options,
        "steps": trainer.global_step,
        "epochs": round(trainer.global_step * B / len(train.labels), 1),
        "train_s": round(seconds, 1),
        "step_ms": timer.median_ms(skip=3),
        **loss_summary(steps),
        **order_scores(trainer, task, ordered, shuffled, 16, classes),
        "params": sum(p.numel() for p in task.model.parameters()),
    }


def step_time(mixer: str, cfg: LongVideoBenchConfig, train: DecodedSplit, classes: list[str]) -> dict:
    """Median training step time at ``timing_patch`` px patches (>= 4k tokens), ``timing_steps`` steps."""
    frames = train.frames.shape[1]
    task = build_task(cfg, classes, frames, mixer=mixer, patch=cfg.timing_patch)
    print(f"timing {mixer} steps at {cfg.tokens(frames, cfg.timing_patch)} tokens per clip", flush=True)
    _, timer, _, _ = fit(task, train, frames, cfg.timing_steps, cfg)
    return {"tokens": cfg.tokens(frames, cfg.timing_patch), "step_ms": timer.median_ms(skip=2)}


# --------------------------------------------------------------------------- encoder scaling


def encoder_scaling(cfg: LongVideoBenchConfig) -> list[dict]:
    """Encoder forward and forward+backward time and peak memory over frames, Latte vs softmax, batch 1,
    each case in a fresh process; a case that fails (out of memory) or times out keeps its error."""
    per_frame = (cfg.scaling_size // cfg.scaling_patch) ** 2
    rows = []
    for frames in cfg.scaling_frames:
        for mode in ("forward", "forward_backward"):
            row: dict = {"frames": frames, "tokens": frames * per_frame, "mode": mode}
            for mixer in ("latte", "softmax"):
                spec = {"mixer": mixer, "tokens": frames * per_frame, "seed": cfg.seed, "budget_s": 3.0, "mode": mode}
                spec.update(dim=cfg.dim, depth=cfg.depth, heads=cfg.heads, latents=cfg.latents)
                print(f"encoder {mixer} {mode} at {frames * per_frame} tokens", flush=True)
                row[mixer] = run_worker("latte_vt.bench.video_worker", spec, True, cfg.scaling_timeout_s)
            both = all("median_s" in row[m] for m in ("latte", "softmax"))
            row["softmax_over_latte_time"] = row["softmax"]["median_s"] / row["latte"]["median_s"] if both else None
            rows.append(row)
    return rows


def memory_growth(rows: list[dict], mixer: str = "latte", mode: str = "forward_backward") -> float | None:
    """Peak memory at the most frames over the peak at the fewest, divided by the frame ratio (1 = linear)."""
    mine = [r for r in rows if r["mode"] == mode and r[mixer].get("peak_bytes")]
    if len(mine) < 2:
        return None
    first, last = mine[0], mine[-1]
    return (last[mixer]["peak_bytes"] / first[mixer]["peak_bytes"]) / (last["frames"] / first["frames"])


# --------------------------------------------------------------------------- report


def _case(result: dict, key: str) -> str:
    if "error" in result:
        return "timed out" if "timed out" in result["error"] else "failed"
    return fmt_seconds(result[key]) if key == "median_s" else fmt_bytes(result[key])


def _markdown(payload: dict) -> str:
    cfg, env, models = payload["config"], payload["environment"], payload["models"]
    lines = [
        "# Long-video benchmark (cpu)",
        "",
        f"Six synthetic classes decided by the order of three brief (2-4 frame) events among distractors, "
        f"{cfg['video_frames']} frames per clip ({payload['train_clips']} train, {payload['val_clips']} val clips), "
        f"{cfg['size']}x{cfg['size']} px, temporally centred; PatchTokenizer ({cfg['patch']} px patches, tubelet "
        f"{cfg['tubelet']}, no stem); encoder dim={cfg['dim']}, depth={cfg['depth']}, heads={cfg['heads']}, "
        f"latents={cfg['latents']}, {'causal' if cfg['causal'] else 'bidirectional'}, {cfg['pooling']} pooling, "
        f"{'time-reversal + mirror augmentation' if cfg['augment'] else 'no augmentation'}; every model trained "
        f"{cfg['steps']} steps (batch "
        f"{cfg['batch_size']}) through VideoClassificationTask, {cfg['threads']} training thread(s); "
        f"torch {env['torch']}, {env['cpu_count']} CPUs; data {payload['data_s']:.0f} s, whole run "
        f"{payload['total_s']:.0f} s. Chance = {payload['chance']:.1%}.",
        "",
    ]

    def row(name: str, text: str) -> list[object]:
        r = models[name]
        return [
            text,
            r["frames"],
            r["tokens"],
            f"{r['val_top1']:.1%}",
            f"{r['shuffled_top1']:.1%}",
            f"{r['step_ms']:.0f} ms",
            f"{r['train_s']:.0f}",
            f"{r['first_loss']} → {r['last_loss']}",
            f"{r['params'] / 1e6:.3f} M",
        ]

    headers = ["model", "frames", "tokens", "val top-1", "shuffled top-1", "step", "train s", "train loss", "params"]
    main = [("latte_long", "Latte, all frames"), ("latte_16f", "Latte, 16 uniform frames")]
    main.append(("softmax_long", "softmax, all frames"))
    lines += [markdown_table(headers, [row(name, text) for name, text in main if name in models]), ""]
    t = payload["step_time_4k"]
    lines += [
        f"## Training step at {t['latte']['tokens']} tokens per clip ({cfg['timing_patch']} px patches, batch "
        f"{cfg['batch_size']}, median of {cfg['timing_steps'] - 2} steps after 2 warm-up)",
        "",
        markdown_table(
            ["Latte", "softmax", "softmax / Latte"],
            [
                [
                    f"{t['latte']['step_ms']:.0f} ms",
                    f"{t['softmax']['step_ms']:.0f} ms",
                    fmt_ratio(t["softmax_over_latte"]),
                ]
            ],
        ),
        "",
        "## Backbone options on this task (each against plain Latte, same steps)",
        "",
    ]
    plain = models["latte_long"]["val_top1"]
    rows = [row("latte_long", "plain Latte") + ["–"]]
    for name in payload["config"]["ablations"]:
        r = models[f"latte_{name}"]
        rows.append(row(f"latte_{name}", ABLATION_TEXT[name]) + [f"{100 * (r['val_top1'] - plain):+.1f}"])
    lines += [markdown_table([*headers, "Δ top-1 (points)"], rows), ""]
    lines += [
        "## Encoder over frames "
        f"({cfg['scaling_size']}x{cfg['scaling_size']} px, {cfg['scaling_patch']} px patches, batch 1, float32; "
        "each case in a fresh process, peak = extra RSS)",
        "",
    ]
    rows = [
        [
            r["frames"],
            r["tokens"],
            r["mode"].replace("_", "+"),
            _case(r["latte"], "median_s"),
            _case(r["softmax"], "median_s"),
            fmt_ratio(r["softmax_over_latte_time"]),
            _case(r["latte"], "peak_bytes"),
            _case(r["softmax"], "peak_bytes"),
        ]
        for r in payload["encoder"]
    ]
    headers = ["frames", "tokens", "pass", "Latte", "softmax", "softmax / Latte", "Latte peak", "softmax peak"]
    lines += [markdown_table(headers, rows), "", "## Goals", ""]
    lines += [f"- {'✅' if ok else '❌'} {text}" for text, ok in payload["goals"].items()]
    lines += [
        "",
        "Shuffled top-1: the validation clips with their frames in a random order; every class shows the same "
        "events, so a model that reads frame order falls to chance. The 16-frame model sees one frame in 17: it "
        "catches a given event about one time in six and all three almost never (on 256-frame clips).",
    ]
    return "\n".join(lines)


def _goals(payload: dict) -> dict[str, bool]:
    models, chance = payload["models"], payload["chance"]
    goals = {}
    if "latte_long" in models:
        r = models["latte_long"]
        goals[f"Latte, all frames ({r['tokens']} tokens) val top-1 >= 95 %: {r['val_top1']:.1%}"] = (
            r["val_top1"] >= 0.95
        )
        goals[f"Latte reads >= 1k tokens per clip: {r['tokens']}"] = r["tokens"] >= 1024
    if "latte_16f" in models:
        v = models["latte_16f"]["val_top1"]
        goals[f"Latte, 16 frames val top-1 <= chance + 15 points ({chance + 0.15:.1%}): {v:.1%}"] = v <= chance + 0.15
    t = payload["step_time_4k"]
    ratio = t["softmax_over_latte"]
    goals[f"Latte's training step >= 4x faster at {t['latte']['tokens']} tokens: {ratio:.1f}x"] = (
        ratio >= 4 and t["latte"]["tokens"] >= 4096
    )
    growth = payload["latte_memory_growth"]
    text = "–" if growth is None else f"{growth:.2f}"
    goals[f"Latte forward+backward peak memory linear in frames (growth / frame ratio <= 1.25): {text}"] = (
        growth is not None and growth <= 1.25
    )
    big = payload["encoder"][-1]["tokens"]
    goals[f"largest encoder case has >= 16k tokens: {big}"] = big >= 16384
    return goals


def run_long_video_bench(cfg: LongVideoBenchConfig, json_path: Path, md_path: Path) -> dict:
    """Run the whole benchmark, write JSON + Markdown, return the payload."""
    began, run = time.perf_counter(), RunInfo.start()
    data, classes = load_data(cfg)
    data_s = time.perf_counter() - began
    F = cfg.video_frames
    plan = {"latte_long": (F, {}), "latte_16f": (cfg.short_frames, {}), "softmax_long": (F, {"mixer": "softmax"})}
    plan |= {f"latte_{name}": (F, dict(ABLATIONS[name])) for name in cfg.ablations}
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        models = {name: train_model(name, frames, opts, cfg, data, classes) for name, (frames, opts) in plan.items()}
        timing = {mixer: step_time(mixer, cfg, data["train"], classes) for mixer in ("latte", "softmax")}
    finally:
        torch.set_num_threads(threads)
    timing["softmax_over_latte"] = timing["softmax"]["step_ms"] / timing["latte"]["step_ms"]
    encoder = encoder_scaling(cfg)
    payload: dict = {
        "benchmark": "long-video",
        "environment": environment("cpu"),
        "config": asdict(cfg),
        "num_classes": len(classes),
        "chance": 1 / len(classes),
        "train_clips": len(data["train"].labels),
        "val_clips": len(data["val"].labels),
        "data_s": round(data_s, 1),
        "models": models,
        "step_time_4k": timing,
        "encoder": encoder,
        "latte_memory_growth": memory_growth(encoder),
    }
    for name, r in models.items():
        payload[f"val_top1_{name}"] = r["val_top1"]
    payload["step_ms_latte"] = models["latte_long"]["step_ms"]
    payload["step_ms_softmax"] = models["softmax_long"]["step_ms"]
    payload["step_ms_latte_4k"] = timing["latte"]["step_ms"]
    payload["step_ms_softmax_4k"] = timing["softmax"]["step_ms"]
    payload["total_s"] = round(time.perf_counter() - began, 1)
    payload["goals"] = _goals(payload)
    write_outputs(payload, _markdown(payload), json_path, md_path, run)
    return payload

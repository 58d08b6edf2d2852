"""``latte-vt bench video``: temporal video classification on the synthetic set, and encoder scaling over frames.

One run, one machine, every contestant:

1. Generate the synthetic temporal set (the six orders of three shape events: time-reversed class
   pairs with the same frames in every class) unless it exists, and decode every
   clip once (real H.264 through decord and the evaluation transform) into memory.
2. Train, each for its fixed number of steps through ``VideoClassificationTask`` and a Lightning
   ``Trainer`` (as ``latte-vt fit`` does: AdamW, warm-up + cosine over the steps), so accuracy does not
   depend on how busy the machine is: PatchTokenizer + Latte, FrameTokenizer (timm, random init) +
   Latte, and PatchTokenizer + softmax attention (same size). Report the task's validation top-1 on
   symmetric evaluation clips, top-1 on the same clips with their frames shuffled (chance when the
   model reads frame order: every class shows the same events), the share of those shuffled clips
   given the right class among the two of their time-reversed pair (about 50 % then) and classifier
   clips/s (decoding excluded).
3. Encoder forward time and peak memory at 16/64/256 frames of 128x128 with 16 px patches and
   tubelet 1 (1024/4096/16384 tokens), Latte vs softmax, each case in a fresh process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from latte_vt.bench.measure import run_worker, time_fn
from latte_vt.bench.report import (
    RunInfo,
    environment,
    fmt_bytes,
    fmt_ratio,
    fmt_seconds,
    markdown_table,
    write_outputs,
)
from latte_vt.tasks.video import VideoClassificationTask

if TYPE_CHECKING:
    from latte_vt.data.synthetic.video import VideoSynthConfig


@dataclass
class VideoBenchConfig:
    """Settings of the video benchmark (defaults: about 12 minutes on a quiet 2-core CPU, 10 of them training).

    Every model reads all 16 frames at 32x32, temporally centred (each pixel minus its clip mean: the
    static background drops out; no frame-order cue). PatchTokenizer: a 16-channel convolutional
    stem, 8 px patches, tubelet 4 (64 tokens). FrameTokenizer: timm's test ResNet cut after stage 1
    (the stride-4 map), global max pooling (which objects are in view), one token per frame (16 tokens).
    """

    data_dir: str = "data/video-bench"
    classes: int = 6
    clips_per_class: int = 500
    video_frames: int = 16
    video_size: int = 96
    num_frames: int = 16
    size: int = 32
    margin: int = 4  # decoded at size + margin; training crops randomly, evaluation centrally
    dim: int = 64
    depth: int = 2
    heads: int = 2
    latents: int = 16
    patch: int = 8
    tubelet: int = 4
    patch_stem: int = 16
    temporal_centering: bool = True
    frame_backbone: str = "test_resnet"  # timm's 0.4 M-parameter test ResNet, random init (CPU budget)
    frame_pool: str = "max"
    frame_stage: int | None = 1
    batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 0.05
    warmup_fraction: float = 0.1
    label_smoothing: float = 0.1
    steps_patch: int = 4000  # optimizer steps of each model (a fixed budget: the same however busy the machine)
    steps_frame: int = 4000
    steps_softmax: int = 1700
    threads: int = 1  # torch intra-op threads while training (these small models run fastest on one)
    scaling_frames: tuple[int, ...] = (16, 64, 256)
    scaling_size: int = 128
    scaling_patch: int = 16
    seed: int = 0
    models: tuple[str, ...] = field(default=("patch", "frame", "softmax"))

    def steps_for(self, kind: str) -> int:
        """Training steps of one model (``steps_<kind>``)."""
        return getattr(self, f"steps_{kind}")


def synthetic_set_matches(root: Path, synth: VideoSynthConfig) -> bool:
    """Whether ``root`` holds a complete synthetic set made with ``synth``'s settings.

    A set made with other settings or by another generator version is reported and its
    ``meta.json`` removed, so it is generated again in place rather than silently measured.
    """
    import json

    meta_path = root / "meta.json"
    if not meta_path.is_file():
        return False
    from latte_vt.data.synthetic.video import GENERATOR_VERSION

    meta = json.loads(meta_path.read_text())
    made = meta.get("config", {})
    wanted = json.loads(json.dumps(asdict(synth)))  # tuples as lists, like the file
    keys = ("classes", "n", "frames", "size", "seed", "splits")
    if meta.get("version") == GENERATOR_VERSION and all(made.get(k) == wanted[k] for k in keys):
        return True
    print(f"{root} holds a synthetic set made with other settings; generating it again", flush=True)
    meta_path.unlink()
    return False


@dataclass
class DecodedSplit:
    """Every clip of a split, decoded once: ``frames`` (N, F, 3, S+m, S+m) float, ``labels`` (N,), ``paths``."""

    frames: Tensor
    labels: Tensor
    paths: list[str]


def load_split(cfg: VideoBenchConfig, split: str, dtype: torch.dtype = torch.float32) -> tuple[DecodedSplit, list[str]]:
    """Every clip of a split, all frames at size + margin, decoded once into memory as ``dtype`` ->
    (the split, class names)."""
    from tqdm import tqdm

    from latte_vt.data.video.datasets import VideoClipDataset
    from latte_vt.data.video.sampling import ClipSampler
    from latte_vt.data.video.sources import load_classes, split_source
    from latte_vt.data.video.transforms import VideoTransform

    side = cfg.size + cfg.margin
    classes = load_classes(Path(cfg.data_dir) / "classes.txt")
    data = VideoClipDataset(
        split_source(cfg.data_dir, split),
        classes=classes,
        sampler=ClipSampler(cfg.video_frames, (1,), 1, 1),
        transform=VideoTransform(False, side, short_side=side),
        size=side,
    )
    items = []
    for i in tqdm(range(len(data)), desc=f"decoding {split}", unit="clip"):
        item = data[i]
        items.append(item | {"video": item["video"].to(dtype)})  # clip by clip: never the split twice
    kept = [it for it in items if it["valid"]]
    if len(kept) < len(items):
        raise RuntimeError(f"{len(items) - len(kept)} synthetic clip(s) failed to decode: {data.failures[:3]}")
    frames = torch.stack([it["video"][0] for it in kept])  # (N, F, 3, S+m, S+m)
    return DecodedSplit(frames, torch.stack([it["label"] for it in kept]), [it["path"] for it in kept]), classes


class ClipItems(Dataset):
    """Clips held in memory as ``VideoClassificationTask`` items; batch them with ``collate_valid``.

    Item i is ``{"video": (1, T, 3, S, S), "label", "index", "path", "valid": True}`` with the clip
    ``clip(i)``: a fresh random one per call for training, a fixed one for evaluation.
    """

    def __init__(self, split: DecodedSplit, clip: Callable[[int], Tensor]) -> None:
        self.split, self.clip = split, clip

    def __len__(self) -> int:
        return len(self.split.labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        s = self.split
        return {"video": self.clip(i)[None], "label": s.labels[i], "index": i, "path": s.paths[i], "valid": True}


class TrainLoss(L.Callback):
    """Keeps the task's logged ``train_loss`` of every training step."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self.values.append(float(trainer.callback_metrics["train_loss"]))


def build_task(kind: str, cfg: VideoBenchConfig, classes: list[str]) -> VideoClassificationTask:
    """The ``VideoClassificationTask`` of one contestant: ``patch``, ``frame`` or ``softmax``."""
    from latte_vt.backbone import LatteConfig

    mixer = "softmax" if kind == "softmax" else "latte"
    return VideoClassificationTask(
        len(classes),
        classes,
        LatteConfig(cfg.dim, cfg.depth, cfg.heads, cfg.latents, mixer=mixer, pooling="latent"),
        tokenizer="frame" if kind == "frame" else "patch",
        num_frames=cfg.num_frames,
        image_size=cfg.size,
        tubelet=cfg.tubelet,
        patch=cfg.patch,
        frame_backbone=cfg.frame_backbone,
        frame_pool=cfg.frame_pool,
        frame_stage=cfg.frame_stage,
        temporal_centering=cfg.temporal_centering,
        patch_stem=cfg.patch_stem,
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        warmup_fraction=cfg.warmup_fraction,
        label_smoothing=cfg.label_smoothing,
    )


def train_clip(x: Tensor, cfg: VideoBenchConfig, rng: np.random.Generator) -> Tensor:
    """(..., F, 3, S+m, S+m) -> a random clip: stride 1 or 2, random start, random crop -> (..., T, 3, S, S)."""
    from latte_vt.data.video.sampling import train_clip_indices

    idx = torch.from_numpy(train_clip_indices(cfg.video_frames, cfg.num_frames, rng, (1, 2)))
    top, left = (int(v) for v in rng.integers(0, cfg.margin + 1, 2))
    return x[..., idx, :, top : top + cfg.size, left : left + cfg.size]


def eval_clips(x: Tensor, cfg: VideoBenchConfig) -> Tensor:
    """(N, F, 3, S+m, S+m) -> symmetric evaluation clips, centre crop -> (N, T, 3, S, S)."""
    from latte_vt.data.video.sampling import eval_clip_indices

    idx = torch.from_numpy(eval_clip_indices(cfg.video_frames, cfg.num_frames, 1, 2)[0])
    m = cfg.margin // 2
    return x[:, idx, :, m : m + cfg.size, m : m + cfg.size]


def partners(classes: list[str]) -> Tensor:
    """(C,) index of each class's time-reversed partner in the synthetic set."""
    from latte_vt.data.synthetic.video import PAIRS

    other = {a: b for pair in PAIRS for a, b in (pair, pair[::-1])}
    return torch.tensor([classes.index(other[name]) for name in classes])


def within_pair_accuracy(preds: Tensor, labels: Tensor, partner: Tensor) -> float:
    """Of the clips predicted as their class or its time reversal, the share given the right one.

    On frame-shuffled clips this is the direction accuracy once the pair is recognised (which any
    frame order shows): about 50 % for a model whose direction comes from frame order alone.
    """
    right = preds == labels
    in_pair = right | (preds == partner[labels])
    return float(right.sum() / in_pair.sum().clamp(min=1))


@torch.no_grad()
def clips_per_second(model: torch.nn.Module, clips: Tensor, batch: int = 16) -> float:
    model.eval()
    x = clips[:batch]
    model(x)  # warm-up
    times = time_fn(lambda: model(x), "cpu", 0.0, 3, 3.0)
    return len(x) / float(np.median(times))


def shuffle_frames(clips: Tensor, seed: int) -> Tensor:
    """(N, T, 3, S, S) -> the same clips, each with its frames in a random order (seeded)."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.stack([torch.randperm(clips.shape[1], generator=g) for _ in range(len(clips))])  # (N, T)
    return clips[torch.arange(len(clips))[:, None], perm]  # (N, T, 3, S, S)


def fit_for_steps(
    task: VideoClassificationTask,
    items: Dataset,
    steps: int,
    batch_size: int,
    seed: int,
    callbacks: list[L.Callback],
    progress: bool = True,
) -> tuple[L.Trainer, float]:
    """Train ``task`` for ``steps`` optimizer steps on shuffled whole batches of ``items`` through a Lightning
    ``Trainer`` (CPU, no logger or checkpoints) -> (trainer, seconds)."""
    from torch.utils.data import DataLoader

    from latte_vt.data.video.datasets import collate_valid

    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=steps,
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress,
    )
    g = torch.Generator().manual_seed(seed)
    loader = DataLoader(items, batch_size, shuffle=True, drop_last=True, collate_fn=collate_valid, generator=g)
    began = time.perf_counter()
    trainer.fit(task, loader)
    return trainer, time.perf_counter() - began


def order_scores(
    trainer: L.Trainer,
    task: VideoClassificationTask,
    ordered: ClipItems,
    shuffled: ClipItems,
    batch_size: int,
    classes: list[str],
) -> dict:
    """The task's validation top-1 on ordered and on frame-shuffled clips of the same split, and how often the
    shuffled clips still get the right direction within their time-reversed pair."""
    from torch.utils.data import DataLoader

    from latte_vt.data.video.datasets import collate_valid

    loaders = [DataLoader(d, batch_size, collate_fn=collate_valid) for d in (ordered, shuffled)]
    val_top1, shuffled_top1 = (trainer.validate(task, d, verbose=False)[0]["val_top1"] for d in loaders)
    preds = torch.cat([out["probs"].argmax(-1) for out in trainer.predict(task, loaders[1])])
    return {
        "val_top1": val_top1,
        "shuffled_top1": shuffled_top1,
        "shuffled_within_pair": within_pair_accuracy(preds, shuffled.split.labels, partners(classes)),
    }


def loss_summary(losses: list[float]) -> dict:
    """Mean training loss over the first and the last 20 steps, and over each tenth of the run."""
    return {
        "first_loss": round(float(np.mean(losses[:20])), 3),
        "last_loss": round(float(np.mean(losses[-20:])), 3),
        "loss_curve": [round(float(np.mean(p)), 3) for p in np.array_split(losses, min(10, len(losses)))],
    }


def train_one(kind: str, cfg: VideoBenchConfig, data: dict[str, DecodedSplit], classes: list[str]) -> dict:
    """Train one model for its fixed steps through ``VideoClassificationTask`` and a Lightning ``Trainer``,
    then validate it (the task's metrics) on ordered and frame-shuffled evaluation clips."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    train, val = data["train"], data["val"]
    n = len(train.labels)
    B = min(cfg.batch_size, n)
    task = build_task(kind, cfg, classes)
    losses = TrainLoss()
    items = ClipItems(train, lambda i: train_clip(train.frames[i], cfg, rng))
    trainer, seconds = fit_for_steps(task, items, cfg.steps_for(kind), B, cfg.seed, [losses])
    clips = eval_clips(val.frames, cfg)  # (N, T, 3, S, S)
    ordered, shuffled = (ClipItems(val, c.__getitem__) for c in (clips, shuffle_frames(clips, cfg.seed)))
    return {
        "max_steps": cfg.steps_for(kind),
        "steps": trainer.global_step,
        "epochs": round(trainer.global_step * B / n, 1),
        "train_s": round(seconds, 1),
        **loss_summary(losses.values),
        **order_scores(trainer, task, ordered, shuffled, 32, classes),
        "clips_per_s": round(clips_per_second(task.model, clips), 1),
        "params": sum(p.numel() for p in task.model.parameters()),
    }


def encoder_scaling(cfg: VideoBenchConfig) -> list[dict]:
    """Encoder forward time and peak memory over frames (tokens = frames * (size/patch)^2), Latte vs softmax.

    Each case runs in a fresh process (``video_worker``), so its peak memory is its own.
    """
    per_frame = (cfg.scaling_size // cfg.scaling_patch) ** 2
    rows = []
    for frames in cfg.scaling_frames:
        row: dict = {"frames": frames, "tokens": frames * per_frame}
        for mixer in ("latte", "softmax"):
            spec = {"mixer": mixer, "tokens": frames * per_frame, "seed": cfg.seed, "budget_s": 4.0}
            spec.update(dim=cfg.dim, depth=cfg.depth, heads=cfg.heads, latents=cfg.latents)
            row[mixer] = run_worker("latte_vt.bench.video_worker", spec, tuned_malloc=True, timeout_s=600)
            if "error" in row[mixer]:
                raise RuntimeError(f"encoder case {mixer} at {frames} frames failed: {row[mixer]['error']}")
        row["softmax_over_latte_time"] = row["softmax"]["median_s"] / row["latte"]["median_s"]
        rows.append(row)
    return rows


def _markdown(payload: dict) -> str:
    cfg, env = payload["config"], payload["environment"]
    chance = 1 / payload["num_classes"]
    lines = [
        "# Video benchmark (cpu)",
        "",
        f"{payload['num_classes']} synthetic temporal classes (time-reversed pairs), "
        f"{cfg['clips_per_class']} clips each ({payload['train_clips']} train, {payload['val_clips']} val), "
        f"{cfg['num_frames']} of {cfg['video_frames']} frames at {cfg['size']}x{cfg['size']}; "
        f"encoder dim={cfg['dim']}, depth={cfg['depth']}, heads={cfg['heads']}, latents={cfg['latents']}; "
        f"patch {cfg['patch']} px, tubelet {cfg['tubelet']}, stem {cfg['patch_stem']}; "
        f"frame backbone {cfg['frame_backbone']} "
        f"(stage {cfg['frame_stage']}, {cfg['frame_pool']} pooling); temporal centering {cfg['temporal_centering']}; "
        f"each trained a fixed number of steps (batch {cfg['batch_size']}) through VideoClassificationTask on "
        f"clips decoded once into memory (data {payload['data_s']:.0f} s), {cfg['threads']} training thread(s); "
        f"torch {env['torch']}, {env['cpu_count']} CPUs; whole run {payload['total_s']:.0f} s. "
        f"Chance = {chance:.1%}.",
        "",
    ]
    rows = [
        [
            name,
            f"{r['val_top1']:.1%}",
            f"{r['shuffled_top1']:.1%}",
            f"{r['shuffled_within_pair']:.1%}",
            f"{r['clips_per_s']:.0f}",
            f"{r['train_s']:.0f}",
            r["steps"],
            r["epochs"],
            f"{r['first_loss']} → {r['last_loss']}",
            f"{r['params'] / 1e6:.2f} M",
        ]
        for name, r in payload["models"].items()
    ]
    headers = ["model", "val top-1", "shuffled top-1", "shuffled, right direction within the pair"]
    headers += ["clips/s", "train s", "steps", "epochs", "train loss", "params"]
    lines += [
        markdown_table(headers, rows),
        "",
        "## Encoder forward over frames (batch 1, float32; each case in a fresh process, peak = extra RSS)",
        "",
    ]
    rows = [
        [
            r["frames"],
            r["tokens"],
            fmt_seconds(r["latte"]["median_s"]),
            fmt_seconds(r["softmax"]["median_s"]),
            fmt_ratio(r["softmax_over_latte_time"]),
            fmt_bytes(r["latte"]["peak_bytes"]),
            fmt_bytes(r["softmax"]["peak_bytes"]),
        ]
        for r in payload["encoder"]
    ]
    headers = ["frames", "tokens", "Latte", "softmax", "softmax / Latte", "Latte peak", "softmax peak"]
    lines += [markdown_table(headers, rows), "", "## Goals", ""]
    lines += [f"- {'✅' if ok else '❌'} {text}" for text, ok in payload["goals"].items()]
    lines += [
        "",
        "Shuffled clips: the six classes are the orders in which a square, a circle and a triangle appear "
        "(each sliding and resizing at random), so every class shows the same events and a shuffled clip "
        f"leaves a model that reads frame order at chance ({chance:.1%}). The within-pair column is the share "
        "of shuffled clips put in the right class among those put in their time-reversed pair (chance 50 %).",
    ]
    return "\n".join(lines)


def run_video_bench(cfg: VideoBenchConfig, json_path: Path, md_path: Path) -> dict:
    """Run the whole benchmark, write JSON + Markdown, return the payload."""
    from latte_vt.data.synthetic.video import VideoSynthConfig, write_video_synthetic

    began, run = time.perf_counter(), RunInfo.start()
    root = Path(cfg.data_dir)
    synth = VideoSynthConfig(cfg.classes, cfg.clips_per_class, cfg.video_frames, cfg.video_size, cfg.seed)
    if not synthetic_set_matches(root, synth):
        write_video_synthetic(root, synth)
    data = {}
    for split in ("train", "val"):
        data[split], classes = load_split(cfg, split)
    data_s = time.perf_counter() - began
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        models = {kind: train_one(kind, cfg, data, classes) for kind in cfg.models}
    finally:
        torch.set_num_threads(threads)
    encoder = encoder_scaling(cfg)
    payload: dict = {
        "benchmark": "video",
        "environment": environment("cpu"),
        "config": asdict(cfg),
        "num_classes": len(classes),
        "train_clips": len(data["train"].labels),
        "val_clips": len(data["val"].labels),
        "data_s": round(data_s, 1),
        "models": models,
        "encoder": encoder,
    }
    for kind, r in models.items():
        payload[f"val_top1_{kind}"] = r["val_top1"]
        payload[f"shuffled_top1_{kind}"] = r["shuffled_top1"]
        payload[f"shuffled_within_pair_{kind}"] = r["shuffled_within_pair"]
        payload[f"clips_per_s_{kind}"] = r["clips_per_s"]
    chance = 1 / len(classes)
    goals = {}
    for kind in ("patch", "frame"):
        if kind in models:
            goals[f"val top-1 {kind} >= 95 %: {models[kind]['val_top1']:.1%}"] = models[kind]["val_top1"] >= 0.95
    if "patch" in models:
        s = models["patch"]["shuffled_top1"]
        goals[f"shuffled top-1 patch <= chance + 15 points ({chance + 0.15:.1%}): {s:.1%}"] = s <= chance + 0.15
    big = encoder[-1]
    goals[f"largest case has >= 16k tokens: {big['tokens']}"] = big["tokens"] >= 16384
    payload["total_s"] = round(time.perf_counter() - began, 1)
    goals[f"whole run <= 15 min: {payload['total_s'] / 60:.1f} min"] = payload["total_s"] <= 900
    payload["goals"] = goals
    write_outputs(payload, _markdown(payload), json_path, md_path, run)
    return payload

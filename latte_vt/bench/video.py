"""``latte-vt bench video``: temporal video classification on the synthetic set, and encoder scaling over frames.

One run, one machine, every contestant:

1. Generate the synthetic temporal set (time-reversed class pairs) unless it exists, and decode every
   clip once (real H.264 through decord and the evaluation transform) into memory.
2. Train, each for the same time budget: PatchTokenizer + Latte, FrameTokenizer (timm, random init)
   + Latte, and PatchTokenizer + softmax attention (same size). Report validation top-1 on symmetric
   evaluation clips, the patch model's top-1 on the same clips with their frames shuffled (should be
   about chance: the pairs differ only in frame order) and classifier clips/s (decoding excluded).
3. Encoder forward time and peak memory at 16/64/256 frames of 128x128 with 16 px patches and
   tubelet 1 (1024/4096/16384 tokens), Latte vs softmax, each case in a fresh process.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from latte_vt.bench.measure import run_worker, time_fn
from latte_vt.bench.report import environment, fmt_bytes, fmt_ratio, fmt_seconds, markdown_table, write_outputs


@dataclass
class VideoBenchConfig:
    """Settings of the video benchmark (defaults: about 15 minutes on 2 CPU cores)."""

    data_dir: str = "data/video-bench"
    classes: int = 6
    clips_per_class: int = 100
    video_frames: int = 16
    video_size: int = 96
    num_frames: int = 8
    size: int = 64
    margin: int = 8  # decoded at size + margin; training crops randomly, evaluation centrally
    dim: int = 64
    depth: int = 2
    heads: int = 2
    latents: int = 16
    patch: int = 16
    tubelet: int = 2
    frame_backbone: str = "test_resnet"  # timm's 0.4 M-parameter test ResNet, random init (CPU budget)
    batch_size: int = 16
    lr: float = 3e-3
    train_budget_s: float = 240.0  # per model; with data and scaling about 14 min
    scaling_frames: tuple[int, ...] = (16, 64, 256)
    scaling_size: int = 128
    seed: int = 0
    models: tuple[str, ...] = field(default=("patch", "frame", "softmax"))


def load_split(cfg: VideoBenchConfig, split: str) -> tuple[Tensor, Tensor, list[str]]:
    """Every clip of a split, all frames, decoded once -> (N, F, 3, S+m, S+m) float, (N,) labels, classes."""
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
    items = [data[i] for i in range(len(data))]
    kept = [it for it in items if it["valid"]]
    if len(kept) < len(items):
        raise RuntimeError(f"{len(items) - len(kept)} synthetic clip(s) failed to decode: {data.failures[:3]}")
    return torch.stack([it["video"][0] for it in kept]), torch.stack([it["label"] for it in kept]), classes


def build_model(kind: str, cfg: VideoBenchConfig, num_classes: int) -> torch.nn.Module:
    from latte_vt.backbone import LatteConfig
    from latte_vt.models.video import VideoClassifier

    mixer = "softmax" if kind == "softmax" else "latte"
    encoder = LatteConfig(cfg.dim, cfg.depth, cfg.heads, cfg.latents, mixer=mixer, pooling="latent")
    tokenizer = "frame" if kind == "frame" else "patch"
    return VideoClassifier(
        num_classes, encoder, tokenizer, cfg.num_frames, cfg.size, cfg.tubelet, cfg.patch, cfg.frame_backbone
    )


def train_batch(x: Tensor, cfg: VideoBenchConfig, rng: np.random.Generator) -> Tensor:
    """(B, F, 3, S+m, S+m) -> a random clip: stride 1 or 2, random start, random crop -> (B, T, 3, S, S)."""
    from latte_vt.data.video.sampling import train_clip_indices

    idx = torch.from_numpy(train_clip_indices(cfg.video_frames, cfg.num_frames, rng, (1, 2)))
    top, left = (int(v) for v in rng.integers(0, cfg.margin + 1, 2))
    return x[:, idx, :, top : top + cfg.size, left : left + cfg.size]


def eval_clips(x: Tensor, cfg: VideoBenchConfig) -> Tensor:
    """(N, F, 3, S+m, S+m) -> symmetric evaluation clips, centre crop -> (N, T, 3, S, S)."""
    from latte_vt.data.video.sampling import eval_clip_indices

    idx = torch.from_numpy(eval_clip_indices(cfg.video_frames, cfg.num_frames, 1, 2)[0])
    m = cfg.margin // 2
    return x[:, idx, :, m : m + cfg.size, m : m + cfg.size]


@torch.no_grad()
def accuracy(model: torch.nn.Module, clips: Tensor, labels: Tensor, batch: int = 32) -> float:
    model.eval()
    preds = torch.cat([model(clips[i : i + batch]).argmax(-1) for i in range(0, len(clips), batch)])
    return float((preds == labels).float().mean())


@torch.no_grad()
def clips_per_second(model: torch.nn.Module, clips: Tensor, batch: int = 16) -> float:
    model.eval()
    x = clips[:batch]
    model(x)  # warm-up
    times = time_fn(lambda: model(x), "cpu", 0.0, 3, 3.0)
    return len(x) / float(np.median(times))


def train_one(kind: str, cfg: VideoBenchConfig, data: dict, num_classes: int) -> dict:
    """Train for ``train_budget_s`` seconds (steps sized from timed warm-up steps, stopped at the budget)."""
    from tqdm import tqdm

    from latte_vt.tasks.schedule import adamw_warmup_cosine

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = build_model(kind, cfg, num_classes)
    x_train, y_train = data["train"]
    n = len(x_train)
    B = min(cfg.batch_size, n)

    def step(opt: torch.optim.Optimizer | None, sched: object | None) -> float:
        idx = torch.from_numpy(rng.choice(n, size=B, replace=False))
        loss = F.cross_entropy(model(train_batch(x_train[idx], cfg, rng)), y_train[idx], label_smoothing=0.1)
        loss.backward()
        if opt is not None:
            opt.step()
            sched.step()
        model.zero_grad(set_to_none=True)
        return float(loss)

    model.train()
    began = time.perf_counter()
    for _ in range(3):  # timing only (no update)
        step(None, None)
    per_step = (time.perf_counter() - began) / 3
    total = max(int((cfg.train_budget_s - (time.perf_counter() - began)) / per_step), 10)
    optim = adamw_warmup_cosine(model, cfg.lr, 0.05, total, 0.1)
    opt, sched = optim["optimizer"], optim["lr_scheduler"]["scheduler"]
    losses = []
    for _ in tqdm(range(total), desc=f"training {kind}", unit="step"):
        if time.perf_counter() - began > cfg.train_budget_s:  # a busier machine than at the timing steps
            break
        model.train()
        losses.append(step(opt, sched))
    seconds = time.perf_counter() - began
    val_clips, y_val = eval_clips(data["val"][0], cfg), data["val"][1]
    out = {
        "steps": len(losses),
        "planned_steps": total,
        "epochs": round(len(losses) * B / n, 1),
        "train_s": round(seconds, 1),
        "first_loss": round(float(np.mean(losses[:20])), 3),
        "last_loss": round(float(np.mean(losses[-20:])), 3),
        "val_top1": accuracy(model, val_clips, y_val),
        "clips_per_s": round(clips_per_second(model, val_clips), 1),
        "params": sum(p.numel() for p in model.parameters()),
    }
    if kind == "patch":
        g = torch.Generator().manual_seed(cfg.seed)
        perm = torch.stack([torch.randperm(cfg.num_frames, generator=g) for _ in range(len(val_clips))])  # (N, T)
        shuffled = val_clips[torch.arange(len(val_clips))[:, None], perm]  # (N, T, 3, S, S)
        out["shuffled_top1"] = accuracy(model, shuffled, y_val)
    return out


def encoder_scaling(cfg: VideoBenchConfig) -> list[dict]:
    """Encoder forward time and peak memory over frames (tokens = frames * (size/patch)^2), Latte vs softmax.

    Each case runs in a fresh process (``video_worker``), so its peak memory is its own.
    """
    per_frame = (cfg.scaling_size // cfg.patch) ** 2
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
        f"each model trained {cfg['train_budget_s']:.0f} s on clips decoded once into memory "
        f"(decoding {payload['decode_s']:.0f} s); torch {env['torch']}, {env['cpu_count']} CPUs "
        f"({env['torch_threads']} threads); created {payload['created']}; whole run {payload['total_s']:.0f} s. "
        f"Chance = {chance:.1%}.",
        "",
    ]
    rows = [
        [
            name,
            f"{r['val_top1']:.1%}",
            f"{r['shuffled_top1']:.1%}" if "shuffled_top1" in r else "–",
            f"{r['clips_per_s']:.0f}",
            r["steps"],
            r["epochs"],
            f"{r['first_loss']} → {r['last_loss']}",
            f"{r['params'] / 1e6:.2f} M",
        ]
        for name, r in payload["models"].items()
    ]
    headers = ["model", "val top-1", "shuffled top-1", "clips/s", "steps", "epochs", "train loss", "params"]
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
    return "\n".join(lines)


def run_video_bench(cfg: VideoBenchConfig, json_path: Path, md_path: Path) -> dict:
    """Run the whole benchmark, write JSON + Markdown, return the payload."""
    import datetime

    from latte_vt.data.synthetic.video import VideoSynthConfig, write_video_synthetic

    began = time.perf_counter()
    root = Path(cfg.data_dir)
    synth = VideoSynthConfig(cfg.classes, cfg.clips_per_class, cfg.video_frames, cfg.video_size, cfg.seed)
    if not (root / "meta.json").is_file():
        write_video_synthetic(root, synth)
    decode_began = time.perf_counter()
    data = {}
    for split in ("train", "val"):
        x, y, classes = load_split(cfg, split)
        data[split] = (x, y)
    decode_s = time.perf_counter() - decode_began
    models = {kind: train_one(kind, cfg, data, len(classes)) for kind in cfg.models}
    encoder = encoder_scaling(cfg)
    payload: dict = {
        "benchmark": "video",
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "environment": environment("cpu"),
        "config": asdict(cfg),
        "num_classes": len(classes),
        "train_clips": len(data["train"][1]),
        "val_clips": len(data["val"][1]),
        "decode_s": round(decode_s, 1),
        "models": models,
        "encoder": encoder,
    }
    for kind, r in models.items():
        payload[f"val_top1_{kind}"] = r["val_top1"]
        payload[f"clips_per_s_{kind}"] = r["clips_per_s"]
    if "patch" in models:
        payload["shuffled_top1_patch"] = models["patch"]["shuffled_top1"]
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
    payload["goals"] = goals
    payload["total_s"] = round(time.perf_counter() - began, 1)
    write_outputs(payload, _markdown(payload), json_path, md_path)
    return payload

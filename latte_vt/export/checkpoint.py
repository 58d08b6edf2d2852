"""``latte-vt export``: a training checkpoint (either task) -> a verified ONNX bundle."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any

import torch

from latte_vt.backbone import LatteConfig
from latte_vt.export.bundle import export_transaction_bundle, export_video_bundle

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint dict, loaded with ``weights_only=True`` (never unpickles arbitrary objects)."""
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    torch.serialization.add_safe_globals([LatteConfig])
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets one clear message
        raise ValueError(f"{path}: not a readable latte_vt checkpoint ({type(exc).__name__}: {exc})") from exc


def checkpoint_task(ckpt: dict[str, Any], path: Path) -> str:
    hp = ckpt.get("hyper_parameters", {})
    info = hp.get("data_info") or {}
    if "vocab_sizes" in hp or "vocab_sizes" in info:
        return "transactions"
    if "num_classes" in hp or "num_classes" in info:
        return "video"
    raise ValueError(f"{path}: no latte_vt task hyper-parameters in this checkpoint")


def _video_val_samples(dm: dict[str, Any], path: Path) -> list[tuple[str, str]]:
    from latte_vt.data.video.sources import list_samples, split_source

    if "root" not in dm:
        raise ValueError(f"{path}: --int8 needs the validation split, but the checkpoint names no data root")
    return [(str(s.path), s.label) for s in list_samples(split_source(dm["root"], "val"))]


def _transaction_val_events(dm: dict[str, Any], info: dict[str, Any], path: Path):
    import polars as pl

    from latte_vt.data.transactions.schema import load_schema
    from latte_vt.data.transactions.validate import load_events

    if "paths" not in dm or "val_start" not in info:
        raise ValueError(f"{path}: --int8 needs the validation period, but the checkpoint names no event files")
    events = load_events(dm["paths"], load_schema(info["schema"])).events
    start, end = dt.datetime.fromisoformat(info["val_start"]), dt.datetime.fromisoformat(info["test_start"])
    return events.filter((pl.col("time") >= start) & (pl.col("time") < end))


def _real_clips(dm: dict[str, Any], spec: dict[str, Any], count: int = 4):
    """Up to ``count`` decoded validation clips (B, T, S, S, 3) uint8 for parity, or None without data."""
    import numpy as np

    from latte_vt.runtime.video import clip_batch

    try:
        samples = _video_val_samples(dm, Path("checkpoint"))[:count]
        clips = [clip_batch(p, spec)[0] for p, _ in samples]
    except Exception:  # noqa: BLE001 - parity on real clips is best effort: the data may be elsewhere
        return None
    return np.stack(clips) if clips else None


def _real_histories(dm: dict[str, Any], info: dict[str, Any], preprocessor: Path, entities: int = 8, cap: int = 256):
    """Encoded histories of a few validation-period entities, left-padded: (cat, num, mask), or None."""
    import numpy as np

    from latte_vt.data.transactions.preprocess import FittedPreprocessor

    try:
        events = _transaction_val_events(dm, info, Path("checkpoint"))
        pre = FittedPreprocessor.load(preprocessor)
        encoded = pre.transform(events)
    except Exception:  # noqa: BLE001 - best effort, as above
        return None
    groups = [g.tail(cap) for _, g in encoded.group_by("entity", maintain_order=True)][:entities]
    if not groups:
        return None
    T = max(g.height for g in groups)
    cat = np.zeros((len(groups), T, len(pre.cat_columns)), dtype=np.int64)
    num = np.zeros((len(groups), T, len(pre.num_columns)), dtype=np.float32)
    mask = np.zeros((len(groups), T), dtype=bool)
    for i, g in enumerate(groups):
        n = g.height
        cat[i, T - n :] = g.select(pre.cat_columns).to_numpy()
        num[i, T - n :] = g.select(pre.num_columns).to_numpy()
        mask[i, T - n :] = True
    return cat, num, mask


def export_checkpoint(
    path: str | Path, out: str | Path, opset: int = 18, force: bool = False, int8: bool = False
) -> Path:
    """Export a VideoClassificationTask or TransactionScoringTask checkpoint to ``out``; with ``int8`` also
    a dynamic-int8 graph, judged on the checkpoint's validation data."""
    path, out = Path(path), Path(out)
    ckpt = read_checkpoint(path)
    task = checkpoint_task(ckpt, path)
    if task == "video":
        from latte_vt.tasks.video import VideoClassificationTask

        module = VideoClassificationTask.load_from_checkpoint(path, map_location="cpu", weights_only=True)
        hp, dm = module.hparams, ckpt.get("datamodule_hyper_parameters", {})
        data = {
            "num_frames": int(dm.get("num_frames", hp.num_frames)),
            "size": int(dm.get("size", hp.image_size)),
            "num_clips": int(dm.get("num_clips", 1)),
            "eval_stride": int(dm.get("eval_stride", 2)),
            "mean": [float(x) for x in dm.get("mean", IMAGENET_MEAN)],
            "std": [float(x) for x in dm.get("std", IMAGENET_STD)],
        }
        samples = _video_val_samples(dm, path) if int8 else None
        real = _real_clips(dm, data)
        return export_video_bundle(module.model, module.classes, data, out, opset, force, samples, real)
    from latte_vt.tasks.transactions import TransactionScoringTask

    module = TransactionScoringTask.load_from_checkpoint(path, map_location="cpu", weights_only=True)
    info = module.hparams.get("data_info") or {}
    if "preprocessor" not in info or "schema" not in info:
        raise ValueError(
            f"{path}: the checkpoint holds no fitted preprocessor/schema (train with TransactionDataModule)"
        )
    dm = ckpt.get("datamodule_hyper_parameters", {})
    events = _transaction_val_events(dm, info, path) if int8 else None
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "preprocessor.json"
        pre.write_text(json.dumps(info["preprocessor"]))
        real = _real_histories(dm, info, pre)
        return export_transaction_bundle(module.model, pre, info["schema"], out, opset, force, events, real)

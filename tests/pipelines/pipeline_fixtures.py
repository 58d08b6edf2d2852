"""Constants and helpers shared by the batch-job tests and their fixtures (conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import lightning
import polars as pl
import torch

from latte_vt.pipelines.spec import JobSpec, spec_from_dict

# (reason, row index in bad.csv); each of these rows is bad in exactly one way
BAD_ROWS = {"null_entity": 1, "unparseable_time": 3, "unparseable_amount": 4}
CLASSES = ["left", "right", "still"]


@dataclass(frozen=True)
class Models:
    checkpoint: Path
    bundle: Path


def save_task(task: lightning.LightningModule, path: Path, datamodule_hparams: dict | None = None) -> Path:
    """A Lightning-style checkpoint of an untrained task (what ``load_from_checkpoint`` reads)."""
    checkpoint = {
        "state_dict": task.state_dict(),
        "hyper_parameters": dict(task.hparams),
        "pytorch-lightning_version": lightning.__version__,
    }
    if datamodule_hparams is not None:
        checkpoint["datamodule_hyper_parameters"] = datamodule_hparams
    torch.save(checkpoint, path)
    return path


def score_job(events: dict[str, Path], model: dict, out: Path, shards: int = 4, workers: int = 1, **extra) -> JobSpec:
    """score-transactions over the good Parquet log and the CSV with bad rows."""
    raw = {
        "job": "score-transactions",
        "input": [str(events["good"]), str(events["bad"])],
        "output": str(out),
        "model": model,
        "workers": workers,
        "options": {"shards": shards},
    }
    return spec_from_dict(raw | extra)


def classify_job(
    source: str | list[str], model: dict, out: Path, workers: int = 1, engine: str = "local", **options
) -> JobSpec:
    """classify-videos with small shards (3 clips), top-2 and batches of 2 clips."""
    raw = {
        "job": "classify-videos",
        "input": source,
        "output": str(out),
        "model": model,
        "workers": workers,
        "engine": engine,
        "options": {"shard_size": 3, "top_k": 2, "batch_size": 2} | options,
    }
    return spec_from_dict(raw)


def read_parts(folder: Path, name: str) -> pl.DataFrame:
    """Every part file of a job folder's ``name`` subfolder, in shard order, as one frame."""
    files = sorted((folder / name).glob("part-*.parquet"))
    return pl.concat([pl.read_parquet(f) for f in files]) if files else pl.DataFrame()

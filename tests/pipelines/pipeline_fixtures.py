"""Constants and helpers shared by the batch-job tests and their fixtures (conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import lightning
import torch

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

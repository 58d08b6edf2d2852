"""Helper for the video export tests: a task saved the way Lightning saves a checkpoint."""

from __future__ import annotations

from pathlib import Path

import torch

from latte_vt.tasks.video import VideoClassificationTask


def save_video_checkpoint(task: VideoClassificationTask, path: Path, data: dict) -> Path:
    """Write ``task`` with its hyper-parameters and the data module's (``data``) to ``path``."""
    checkpoint = {
        "state_dict": task.state_dict(),
        "hyper_parameters": dict(task.hparams),
        "datamodule_hyper_parameters": data,
        "pytorch-lightning_version": "2.6.0",
    }
    torch.save(checkpoint, path)
    return path

"""The one checkpoint loader: every command and API that takes ``--checkpoint`` goes through ``load_checkpoint``.

Checkpoints are read with ``weights_only=True`` (no arbitrary unpickling) with the project's own config
classes allow-listed, so checkpoints from ``latte-vt fit`` configs and from Python code that passes a
``LatteConfig`` (like the quickstart's) both load. Anything wrong — a missing file, a file that is not
a checkpoint, a checkpoint of another task, one without the data settings a task needs — raises
``CheckpointError`` naming the file and the problem.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from latte_vt.backbone.config import LatteConfig
from latte_vt.errors import InputError

Task = Literal["video", "transactions"]
SAFE_GLOBALS = [LatteConfig]
"""Classes a latte_vt checkpoint may hold besides tensors and plain containers."""
_UNREADABLE = (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, RuntimeError, OSError, AttributeError)


class CheckpointError(InputError):
    """A checkpoint that cannot be used: the message names the file and the problem."""


@dataclass
class LoadedCheckpoint:
    """A task module in eval mode on the CPU, its task name and the raw checkpoint dict."""

    path: Path
    task: Task
    module: Any  # VideoClassificationTask | TransactionScoringTask
    raw: dict[str, Any]

    @property
    def datamodule_hparams(self) -> dict[str, Any]:
        return dict(self.raw.get("datamodule_hyper_parameters") or {})


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict, read with ``weights_only=True`` and the project's config classes allowed."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            raw = torch.load(io.BytesIO(path.read_bytes()), map_location="cpu", weights_only=True)
    except _UNREADABLE as exc:
        raise CheckpointError(f"{path}: not a readable latte_vt checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(raw, dict) or "state_dict" not in raw:
        raise CheckpointError(f"{path}: not a Lightning checkpoint (no state_dict)")
    return raw


def checkpoint_task(raw: dict[str, Any], path: str | Path) -> Task:
    """Which task wrote the checkpoint, from its hyper-parameters."""
    hp = raw.get("hyper_parameters") or {}
    info = hp.get("data_info") or {}
    if "vocab_sizes" in hp or "vocab_sizes" in info:
        return "transactions"
    if "num_classes" in hp or "num_classes" in info:
        return "video"
    raise CheckpointError(f"{path}: no latte_vt task hyper-parameters in this checkpoint")


def load_checkpoint(path: str | Path, expect: Task | None = None) -> LoadedCheckpoint:
    """Load a ``VideoClassificationTask`` or ``TransactionScoringTask`` checkpoint (eval mode, CPU).

    Args:
        path: the ``.ckpt`` file.
        expect: refuse a checkpoint of the other task (named in the error).
    """
    path = Path(path)
    raw = read_checkpoint(path)
    task = checkpoint_task(raw, path)
    if expect is not None and task != expect:
        raise CheckpointError(f"{path}: a {task} checkpoint, expected a {expect} one")
    if task == "video":
        from latte_vt.tasks.video import VideoClassificationTask as Module
    else:
        from latte_vt.tasks.transactions import TransactionScoringTask as Module

        info = (raw.get("hyper_parameters") or {}).get("data_info") or {}
        if "preprocessor" not in info or "schema" not in info:
            raise CheckpointError(
                f"{path}: the checkpoint holds no fitted preprocessor/schema (train with TransactionDataModule)"
            )
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            module = Module.load_from_checkpoint(io.BytesIO(path.read_bytes()), map_location="cpu", weights_only=True)
    except (*_UNREADABLE, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot rebuild the {task} model ({type(exc).__name__}: {exc})") from exc
    return LoadedCheckpoint(path, task, module.eval(), raw)

"""Checkpoint models: a training checkpoint run with torch through the same modules that are exported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from latte_vt.data.video.spec import ClipSpec
from latte_vt.export.graphs import VideoGraph
from latte_vt.tasks.checkpoint import load_checkpoint


@torch.inference_mode()
def module_logits(module: torch.nn.Module, cat: np.ndarray, num: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A torch event model (Latte or a baseline with the same signature) on numpy histories -> logits (B, T)."""
    device = next(module.parameters()).device
    return module(*(torch.from_numpy(a).to(device) for a in (cat, num, mask))).float().cpu().numpy()


def _threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)


class TorchClipModel:
    """A video checkpoint as ``VideoGraph`` (the module ``model.onnx`` is exported from):
    uint8 frames (B, T, H, W, 3) at any resolution -> logits (B, C)."""

    def __init__(self, checkpoint: str | Path, device: str = "cpu", threads: int | None = None) -> None:
        _threads(threads)
        loaded = load_checkpoint(checkpoint, expect="video")
        self.classes: list[str] = list(loaded.module.classes)
        self.spec = ClipSpec.from_checkpoint(loaded.raw)
        self.device = torch.device(device)
        self.graph = VideoGraph(loaded.module.model, self.spec).eval().to(self.device)

    @torch.inference_mode()
    def logits(self, frames: np.ndarray) -> np.ndarray:
        return self.graph(torch.from_numpy(frames).to(self.device)).float().cpu().numpy()  # (B, C)


class TorchEventModel:
    """A transaction checkpoint's causal scorer: cat (B, T, F_cat), num (B, T, F_num), mask (B, T) -> logits (B, T)."""

    def __init__(self, checkpoint: str | Path, device: str = "cpu", threads: int | None = None) -> None:
        from latte_vt.data.transactions.preprocess import FittedPreprocessor
        from latte_vt.data.transactions.schema import load_schema

        _threads(threads)
        loaded = load_checkpoint(checkpoint, expect="transactions")
        info = loaded.module.hparams["data_info"]
        self.preprocessor = FittedPreprocessor.from_dict(info["preprocessor"], f"{checkpoint}: data_info.preprocessor")
        self.schema = load_schema(info["schema"])
        self.device = torch.device(device)
        self.model = loaded.module.model.eval().to(self.device)

        if not hasattr(self.model, "piece"):  # a baseline without carried state: long histories run whole
            self.piece_logits = None

    def logits(self, cat: np.ndarray, num: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return module_logits(self.model, cat, num, mask)  # (B, T)

    @torch.inference_mode()
    def piece_logits(self, cat: np.ndarray, num: np.ndarray, states: list | None) -> tuple[np.ndarray, list]:
        """``TransactionScoringModel.piece``: cat (B, T, F_cat), num (B, T, F_num) continuing ``states`` (None =
        no past) -> logits (B, T) and the states after them."""
        logits, states = self.model.piece(
            torch.from_numpy(cat).to(self.device), torch.from_numpy(num).to(self.device), states
        )
        return logits.float().cpu().numpy(), states

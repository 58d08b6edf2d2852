"""Bundle models: the exported graphs through onnxruntime (torch is never imported here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from latte_vt.data.video.spec import ClipSpec
from latte_vt.errors import InputError
from latte_vt.runtime.bundle import Bundle, open_bundle


def _graph(precision: str) -> str:
    if precision not in ("fp32", "int8"):
        raise InputError(f"precision must be 'fp32' or 'int8', got {precision!r}")
    return "model.int8" if precision == "int8" else "model"


class OnnxClipModel:
    """A video bundle's ``model.onnx``: uint8 frames (B, T, H, W, 3) at any resolution -> logits (B, C)."""

    def __init__(self, bundle: Bundle | str | Path, threads: int | None = None, precision: str = "fp32") -> None:
        self.bundle = open_bundle(bundle, "video")
        self.classes: list[str] = list(self.bundle.preprocess["classes"])
        self.spec = ClipSpec.from_dict(self.bundle.preprocess, f"bundle {self.bundle.root}: preprocess.json")
        self.session = self.bundle.session(_graph(precision), threads)

    def logits(self, frames: np.ndarray) -> np.ndarray:
        (logits,) = self.session.run(None, {"frames": frames})  # (B, C)
        return logits


class OnnxEventModel:
    """A transaction bundle's ``model.onnx``: cat (B, T, F_cat), num (B, T, F_num), mask (B, T) -> logits (B, T);
    ``piece.onnx`` for histories scored in pieces with the carried state."""

    def __init__(self, bundle: Bundle | str | Path, threads: int | None = None, precision: str = "fp32") -> None:
        from latte_vt.data.transactions.preprocess import FittedPreprocessor
        from latte_vt.data.transactions.schema import load_schema

        self.bundle = open_bundle(bundle, "transactions")
        self.preprocessor = FittedPreprocessor.load(self.bundle.root / "preprocessor.json")
        self.schema = load_schema(self.bundle.preprocess["schema"])
        self.session = self.bundle.session(_graph(precision), threads)

        self.piece_session = self.bundle.session("piece", threads)
        graph = self.bundle.manifest["graphs"]["piece"]
        self._state_inputs = [(n, spec["shape"][1:]) for n, spec in graph["inputs"].items() if n.startswith("past_")]
        self._initial = graph["initial_state"]

    def logits(self, cat: np.ndarray, num: np.ndarray, mask: np.ndarray) -> np.ndarray:
        (logits,) = self.session.run(None, {"cat": cat, "num": num, "mask": mask})  # (B, T)
        return logits

    def piece_logits(
        self, cat: np.ndarray, num: np.ndarray, states: list[np.ndarray] | None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """piece.onnx: cat (B, T, F_cat), num (B, T, F_num) continuing ``states`` (None = no past) -> logits
        (B, T) and the states after them."""
        if states is None:
            B = cat.shape[0]
            states = [
                np.full((B, *shape), self._initial[n.rsplit(".", 1)[1]], dtype=np.float32)
                for n, shape in self._state_inputs
            ]
        feeds = {"cat": cat, "num": num} | {n: s for (n, _), s in zip(self._state_inputs, states, strict=True)}
        logits, *states = self.piece_session.run(None, feeds)  # (B, T), present states
        return logits, states

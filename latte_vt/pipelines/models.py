"""The model a job runs, bundle (onnxruntime, no torch) or checkpoint (torch), behind one small interface,
loaded once per worker process and kept for the next shards."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from latte_vt.pipelines.spec import ModelSpec

if TYPE_CHECKING:
    import polars as pl

    from latte_vt.data.transactions import EventSchema, FittedPreprocessor


class EventModel(Protocol):
    """Scores encoded events; ``preprocessor`` and ``schema`` are the ones the model was trained with."""

    preprocessor: FittedPreprocessor
    schema: EventSchema

    def probabilities(self, encoded: pl.DataFrame) -> np.ndarray:
        """(N,) float32 scores for an encoded frame grouped by entity in time order."""
        ...


@dataclass
class ClipPrediction:
    """Top-k of one file, or the stage (probe/load) at which it failed and why."""

    path: str
    labels: list[str]
    probs: list[float]
    frames_read: int
    stage: str | None = None
    reason: str | None = None


class ClipModel(Protocol):
    """Classifies video files; failures come back as rows, never as exceptions."""

    def classify(self, files: list[str], top_k: int, batch_size: int, probe_timeout_s: float) -> list[ClipPrediction]:
        """One ``ClipPrediction`` per file, in the order of ``files``."""
        ...


class CheckpointEventModel:
    """A ``TransactionScoringTask`` checkpoint scored with torch."""

    def __init__(self, spec: ModelSpec, max_batch_events: int) -> None:
        import torch

        from latte_vt.inference.transactions import load_checkpoint_scorer

        torch.set_num_threads(spec.threads)
        self.model, self.preprocessor, self.schema = load_checkpoint_scorer(spec.checkpoint)
        self.max_batch_events = max_batch_events

    def probabilities(self, encoded: pl.DataFrame) -> np.ndarray:
        from latte_vt.inference.transactions import score_encoded

        pre = self.preprocessor
        return score_encoded(self.model, encoded, pre.cat_columns, pre.num_columns, self.max_batch_events)


@functools.cache
def event_model(spec: ModelSpec, max_batch_events: int) -> EventModel:
    """The job's event scorer (cached: one load per worker process)."""
    if spec.bundle is not None:
        from latte_vt.runtime.transactions import TransactionScorer

        return TransactionScorer(spec.bundle, max_batch_events, threads=spec.threads, precision=spec.precision)
    return CheckpointEventModel(spec, max_batch_events)


def _assemble(
    files: list[str], found: dict[str, tuple[list[str], list[float], int]], failures: list[Any]
) -> list[ClipPrediction]:
    """One row per file, in order: its prediction, or its failure (anything with path, stage, reason)."""
    failed = {str(f.path): (f.stage, f.reason) for f in failures}
    rows = []
    for path in files:
        if path in found:
            rows.append(ClipPrediction(path, *found[path]))
        else:
            stage, reason = failed.get(path, ("load", "no result from the classifier"))
            rows.append(ClipPrediction(path, [], [], 0, stage, reason))
    return rows


class BundleClipModel:
    """A video bundle through onnxruntime (``latte_vt.runtime``)."""

    def __init__(self, spec: ModelSpec) -> None:
        from latte_vt.runtime import VideoClassifier

        self.classifier = VideoClassifier(spec.bundle, threads=spec.threads, precision=spec.precision)
        self.frames_per_clip = int(self.classifier.bundle.preprocess["num_frames"])

    def classify(self, files: list[str], top_k: int, batch_size: int, probe_timeout_s: float) -> list[ClipPrediction]:
        from latte_vt.runtime.video import classify_files

        found, failures = classify_files(
            self.classifier, [Path(f) for f in files], top_k, probe_timeout_s or None, batch_size, progress=False
        )
        predictions = {path: (p.labels, p.probs, p.clips * self.frames_per_clip) for path, p in found}
        return _assemble(files, predictions, failures)


class CheckpointClipModel:
    """A ``VideoClassificationTask`` checkpoint run with torch (``latte_vt.inference.video``)."""

    def __init__(self, spec: ModelSpec) -> None:
        import torch

        from latte_vt.inference.video import VideoPredictor

        torch.set_num_threads(spec.threads)
        self.predictor = VideoPredictor(spec.checkpoint)

    def classify(self, files: list[str], top_k: int, batch_size: int, probe_timeout_s: float) -> list[ClipPrediction]:
        result = self.predictor.classify([Path(f) for f in files], top_k, batch_size, probe_timeout_s or None, False)
        frames = self.predictor.settings.num_clips * self.predictor.settings.num_frames
        predictions = {p.path: (p.labels, p.probs, frames) for p in result.predictions}
        return _assemble(files, predictions, result.failures)


@functools.cache
def clip_model(spec: ModelSpec) -> ClipModel:
    """The job's clip classifier (cached: one load per worker process)."""
    return BundleClipModel(spec) if spec.bundle is not None else CheckpointClipModel(spec)


def model_fingerprint(spec: ModelSpec) -> dict[str, Any]:
    """What identifies the model's results: its path, the bundle's manifest (file hashes) or the checkpoint's
    bytes' hash, and the precision."""
    path = Path(spec.path)
    if spec.bundle is not None:
        manifest = path / "manifest.json"
        if not manifest.is_file():
            raise FileNotFoundError(f"model.bundle {path}: no manifest.json (not an exported bundle)")
        identity = hashlib.sha256(manifest.read_bytes()).hexdigest()
    else:
        if not path.is_file():
            raise FileNotFoundError(f"model.checkpoint not found: {path}")
        from latte_vt.runtime.bundle import sha256_of

        identity = sha256_of(path)
    return {"kind": "bundle" if spec.bundle is not None else "checkpoint", "path": str(path), "sha256": identity}

"""The model a job runs — the prediction layer's ``TransactionScorer`` / ``VideoClassifier`` over a bundle
(onnxruntime, no torch) or a checkpoint (torch) — loaded once per worker process and kept for the next
shards, and the fingerprint that identifies its results."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from latte_vt.pipelines.spec import ModelSpec, SpecError

if TYPE_CHECKING:
    from latte_vt.predict import TransactionScorer, VideoClassifier


def _kind(spec: ModelSpec) -> str:
    return "bundle" if spec.bundle is not None else "checkpoint"


@functools.cache
def event_model(spec: ModelSpec, max_batch_events: int) -> TransactionScorer:
    """The job's event scorer (cached: one load per worker process)."""
    from latte_vt.predict import TransactionScorer

    return TransactionScorer(
        spec.path, max_batch_events, threads=spec.threads, precision=spec.precision, expect=_kind(spec)
    )


@functools.cache
def clip_model(spec: ModelSpec) -> VideoClassifier:
    """The job's clip classifier (cached: one load per worker process)."""
    from latte_vt.predict import VideoClassifier

    return VideoClassifier(spec.path, threads=spec.threads, precision=spec.precision, expect=_kind(spec))


def model_fingerprint(spec: ModelSpec) -> dict[str, Any]:
    """What identifies the model's results: its path, the bundle's manifest (file hashes) or the checkpoint's
    bytes' hash, and the precision."""
    path = Path(spec.path)
    if spec.bundle is not None:
        manifest = path / "manifest.json"
        if not manifest.is_file():
            raise SpecError(f"model.bundle {path}: no manifest.json (not an exported bundle)")
        identity = hashlib.sha256(manifest.read_bytes()).hexdigest()
    else:
        if not path.is_file():
            raise SpecError(f"model.checkpoint not found: {path}")
        from latte_vt.runtime.bundle import sha256_of

        identity = sha256_of(path)
    return {"kind": _kind(spec), "path": str(path), "sha256": identity}

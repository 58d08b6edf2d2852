"""Batch scoring of event logs from a training checkpoint: every accepted event gets a score from its
entity's past only.

Each entity's full history goes through the causal model in one pass (the encoder works in chunks,
so time and memory are linear in the history length). Entities are batched by similar length and
left-padded; a padded batch gives the same scores as scoring each entity alone. The fitted
preprocessor and the schema come from the checkpoint (``data_info``, written by
``TransactionDataModule``); another schema can map a different file layout to the same fields.
"""

from __future__ import annotations

import json
import pickle
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from latte_vt.backbone import LatteConfig
from latte_vt.data.transactions import EventSchema, FittedPreprocessor, ValidationReport, load_events, load_schema

if TYPE_CHECKING:
    import polars as pl

    from latte_vt.models.transactions import TransactionScorer


def read_preprocessor(state: dict[str, Any]) -> FittedPreprocessor:
    """A ``FittedPreprocessor`` from its saved state (through ``FittedPreprocessor.load``'s checks)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "preprocessor.json"
        path.write_text(json.dumps(state))
        return FittedPreprocessor.load(path)


def load_checkpoint_scorer(checkpoint: str | Path) -> tuple[TransactionScorer, FittedPreprocessor, EventSchema]:
    """(model in eval mode, fitted preprocessor, training schema) from a ``TransactionScoringTask`` checkpoint,
    loaded with ``weights_only=True``."""
    from latte_vt.tasks.transactions import TransactionScoringTask

    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    torch.serialization.add_safe_globals([LatteConfig])
    try:
        task = TransactionScoringTask.load_from_checkpoint(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{path}: not a transaction scoring checkpoint ({type(exc).__name__}: {exc})") from exc
    info = task.hparams.get("data_info") or {}
    if "preprocessor" not in info or "schema" not in info:
        raise ValueError(
            f"{path}: the checkpoint holds no fitted preprocessor/schema (train with TransactionDataModule)"
        )
    return task.model.eval(), read_preprocessor(info["preprocessor"]), load_schema(info["schema"])


def _length_batches(lengths: np.ndarray, max_batch_events: int) -> list[np.ndarray]:
    """Entity indices in batches of similar length, each at most ``max_batch_events`` padded events
    (a longer entity gets a batch of its own)."""
    order = np.argsort(-lengths, kind="stable")
    batches, i = [], 0
    while i < len(order):
        take = max(1, min(len(order) - i, max_batch_events // max(int(lengths[order[i]]), 1)))
        batches.append(order[i : i + take])
        i += take
    return batches


@torch.inference_mode()
def score_encoded(
    model: TransactionScorer,
    encoded: pl.DataFrame,
    cat_columns: Sequence[str],
    num_columns: Sequence[str],
    max_batch_events: int = 1 << 16,
    progress: bool = False,
) -> np.ndarray:
    """Probabilities (N,) float32 for the rows of an encoded frame (grouped by entity in time order)."""
    from tqdm import tqdm

    from latte_vt.data.transactions import EntitySequenceDataset, collate_left_pad

    histories = EntitySequenceDataset(encoded, cat_columns, num_columns)
    scores = np.full(encoded.height, np.nan, dtype=np.float32)
    batches = _length_batches(histories.events.length, max_batch_events)
    for batch in tqdm(batches, desc="scoring", unit="batch", disable=not progress, file=sys.stderr):
        items = collate_left_pad([histories[int(e)] for e in batch])
        logits = model(items["cat"], items["num"], items["mask"])  # (B, T_max)
        real = items["mask"]  # (B, T_max)
        scores[items["row"][real].numpy()] = torch.sigmoid(logits[real].float()).numpy()
    return scores


@dataclass
class ScoreResult:
    """Scores (event_id, entity, time, score) for every accepted event, and the validation report."""

    scores: pl.DataFrame
    report: ValidationReport


def score_events(
    paths: str | Path | Sequence[str | Path],
    model: TransactionScorer,
    preprocessor: FittedPreprocessor,
    schema: EventSchema,
    rejects_path: str | Path | None = None,
    max_batch_events: int = 1 << 16,
    progress: bool = False,
) -> ScoreResult:
    """Validate event files with ``schema`` (rejects to ``rejects_path``), encode and score every accepted event."""
    import polars as pl

    validated = load_events(paths, schema, rejects_path=rejects_path, with_label=False)
    encoded = preprocessor.transform(validated.events)
    scores = score_encoded(
        model, encoded, preprocessor.cat_columns, preprocessor.num_columns, max_batch_events, progress
    )
    frame = encoded.select("event_id", "entity", "time").with_columns(score=pl.Series(scores, dtype=pl.Float32))
    return ScoreResult(frame, validated.report)

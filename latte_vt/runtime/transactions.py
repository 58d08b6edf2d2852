"""Batch scoring of event logs with ``model.onnx``: every accepted event gets a score from its entity's past."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from latte_vt.runtime.bundle import Bundle, BundleError


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def load_bundle(bundle: Bundle | str | Path, task: str) -> Bundle:
    """A verified bundle of the expected task."""
    bundle = bundle if isinstance(bundle, Bundle) else Bundle.load(bundle)
    if bundle.task != task:
        raise BundleError(f"bundle {bundle.root}: a {bundle.task!r} bundle, expected {task!r}")
    return bundle


def score_encoded(session, cat: np.ndarray, num: np.ndarray, lengths: np.ndarray, max_batch_events: int = 1 << 16):
    """Logits of concatenated entity histories through a full-history graph: entities batched by
    similar length, left-padded (the newest event last).  cat (N, F_cat), num (N, F_num), lengths (E,)."""
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    out = np.empty(len(cat), dtype=np.float32)
    order = np.argsort(-lengths, kind="stable")  # long first: batches of similar length pad little
    i = 0
    while i < len(order):
        T = int(lengths[order[i]])
        batch = order[i : i + max(1, min(len(order) - i, max_batch_events // max(T, 1)))]
        B = len(batch)
        cat_b = np.zeros((B, T, cat.shape[1]), dtype=np.int64)
        num_b = np.zeros((B, T, num.shape[1]), dtype=np.float32)
        mask = np.zeros((B, T), dtype=bool)
        for row, e in enumerate(batch):
            n, s = int(lengths[e]), int(starts[e])
            cat_b[row, T - n :], num_b[row, T - n :], mask[row, T - n :] = cat[s : s + n], num[s : s + n], True
        (logits,) = session.run(None, {"cat": cat_b, "num": num_b, "mask": mask})
        for row, e in enumerate(batch):
            n, s = int(lengths[e]), int(starts[e])
            out[s : s + n] = logits[row, T - n :]
        i += B
    return out


class TransactionScorer:
    """``TransactionScorer(bundle).score(events)`` -> polars frame (event_id, entity, time, score).

    ``events`` is a path/glob/list of CSV or Parquet files in the bundle's schema (validated, bad rows
    to ``rejects_path``), or an already validated canonical frame.  Each entity's whole history goes
    through the graph in one pass; entities are batched by similar length.  ``precision="int8"`` uses
    the quantised graph when the bundle has one.
    """

    def __init__(
        self,
        bundle: Bundle | str | Path,
        max_batch_events: int = 1 << 16,
        threads: int | None = None,
        precision: str = "fp32",
    ):
        from latte_vt.data.transactions.preprocess import FittedPreprocessor
        from latte_vt.data.transactions.schema import load_schema

        self.bundle = load_bundle(bundle, "transactions")
        self.preprocessor = FittedPreprocessor.load(self.bundle.root / "preprocessor.json")
        self.schema = load_schema(self.bundle.preprocess["schema"])
        self.session = self.bundle.session("model.int8" if precision == "int8" else "model", threads)
        self.max_batch_events = max_batch_events
        self.last_report: Any = None

    def encode(self, events: Any, rejects_path: str | Path | None = None):
        """Validate (when given files) and encode: the encoded frame sorted by entity and time."""
        import polars as pl

        if not isinstance(events, pl.DataFrame):
            from latte_vt.data.transactions.validate import load_events

            validated = load_events(events, self.schema, rejects_path=rejects_path, with_label=False)
            self.last_report = validated.report
            events = validated.events
        return self.preprocessor.transform(events)

    def logits(self, cat: np.ndarray, num: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Per-event logits for concatenated entity histories (cat (N, F_cat), num (N, F_num), lengths (E,))."""
        return score_encoded(self.session, cat, num, lengths, self.max_batch_events)

    def probabilities(self, encoded) -> np.ndarray:
        """Scores (N,) float32 for the rows of an ``encode``-d frame (grouped by entity in time order)."""
        if encoded.height == 0:
            return np.empty(0, dtype=np.float32)
        cat = encoded.select(self.preprocessor.cat_columns).to_numpy().astype(np.int64)
        num = encoded.select(self.preprocessor.num_columns).to_numpy().astype(np.float32)
        lengths = encoded.group_by("entity", maintain_order=True).len()["len"].to_numpy()
        return sigmoid(self.logits(cat, num, lengths))

    def score(self, events: Any, rejects_path: str | Path | None = None):
        """Scores (probabilities) for every accepted event, in entity/time order."""
        import polars as pl

        encoded = self.encode(events, rejects_path)
        if encoded.height == 0:
            return pl.DataFrame(schema={"event_id": pl.String, "entity": pl.String, "score": pl.Float32})
        scores = self.probabilities(encoded)
        return encoded.select("event_id", "entity", "time").with_columns(score=pl.Series(scores, dtype=pl.Float32))

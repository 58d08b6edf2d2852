"""``TransactionScorer``: a score for every accepted event, from its entity's past only — from a bundle
(onnxruntime) or a checkpoint (torch).

Event files are validated against the model's schema (bad rows to ``rejects_path`` with their reason),
encoded by the fitted preprocessor the model was trained with, and every entity's whole history goes
through the causal model in one pass, entities batched by similar length (``histories``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from latte_vt.data.transactions.pieces import PIECE_EVENTS
from latte_vt.predict.histories import MAX_BATCH_EVENTS, PieceLogits, history_pieces, score_histories, score_run
from latte_vt.predict.source import ModelKind, model_kind
from latte_vt.predict.stages import StageTimes
from latte_vt.runtime.bundle import Bundle

if TYPE_CHECKING:
    import polars as pl

    from latte_vt.data.transactions import EventSchema, FittedPreprocessor, ValidationReport


class EventModel(Protocol):
    """What a transaction backend provides (``OnnxEventModel``, ``TorchEventModel``)."""

    preprocessor: FittedPreprocessor
    schema: EventSchema
    piece_logits: PieceLogits | None  # a run of events continuing carried states (None: the model has none)

    def logits(self, cat: np.ndarray, num: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """cat (B, T, F_cat) int64, num (B, T, F_num) float32, mask (B, T) bool -> logits (B, T)."""
        ...


SCORE_COLUMNS = ("event_id", "entity", "time")  # beside "score"


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def encoded_arrays(encoded: pl.DataFrame, pre: FittedPreprocessor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An encoded frame (grouped by entity, in time order) -> cat (N, F_cat) int64, num (N, F_num) float32,
    lengths (E,) of the entities' histories in order."""
    cat = encoded.select(pre.cat_columns).to_numpy(order="c").astype(np.int64, copy=False)  # (N, F_cat)
    num = encoded.select(pre.num_columns).to_numpy(order="c").astype(np.float32, copy=False)  # (N, F_num)
    lengths = encoded.group_by("entity", maintain_order=True).len()["len"].to_numpy()
    return cat, num, lengths


class TransactionScorer:
    """``TransactionScorer(model).score(events)`` -> polars frame (event_id, entity, time, score).

    Args:
        model: a bundle directory (or ``Bundle``), run with onnxruntime, or a ``.ckpt`` file, run with torch.
        max_batch_events: padded events per model call; a longer entity is scored alone in pieces of this many
            events, carrying the model's state (bounded memory for any length).
        threads: intra-op threads (onnxruntime or torch).
        precision: ``fp32`` or ``int8`` (bundles with ``model.int8.onnx`` only).
        device: torch device for checkpoints.
        expect: ``bundle`` or ``checkpoint`` when the caller was told which (``--bundle``/``--checkpoint``):
            a path of the other kind is refused with what it is.

    ``schema`` (default: the training schema) may be replaced to read another file layout.
    ``last_report`` holds the validation report of the last ``score``/``encode`` of files; ``stages`` the seconds
    spent per stage (read/validate, encode, batch, model), summed over calls until the caller replaces it.
    """

    def __init__(
        self,
        model: Bundle | str | Path,
        max_batch_events: int = MAX_BATCH_EVENTS,
        threads: int | None = None,
        precision: str = "fp32",
        device: str = "cpu",
        expect: ModelKind | None = None,
    ) -> None:
        self.kind = model_kind(model, expect)
        if self.kind == "bundle":
            from latte_vt.predict.onnx_models import OnnxEventModel

            self.model: EventModel = OnnxEventModel(model, threads, precision)
        else:
            from latte_vt.predict.torch_models import TorchEventModel

            self.model = TorchEventModel(model, device, threads)
        self.preprocessor = self.model.preprocessor
        self.schema = self.model.schema
        self.max_batch_events = max_batch_events
        self.last_report: ValidationReport | None = None
        self.stages = StageTimes()

    def encode(self, events: Any, rejects_path: str | Path | None = None) -> pl.DataFrame:
        """Validate (files: path, glob, folder or list) and encode; a canonical frame is encoded as it is.
        Returns the encoded frame sorted by entity and time."""
        import polars as pl

        if not isinstance(events, pl.DataFrame):
            from latte_vt.data.transactions.validate import load_events

            with self.stages.stage("read_validate"):
                validated = load_events(events, self.schema, rejects_path=rejects_path, with_label=False)
            self.last_report = validated.report
            events = validated.events
        with self.stages.stage("encode"):
            return self.preprocessor.transform(events)

    def probabilities(self, encoded: pl.DataFrame, progress: bool = False) -> np.ndarray:
        """Scores (N,) float32 for the rows of an ``encode``-d frame."""
        if encoded.height == 0:
            return np.empty(0, dtype=np.float32)
        with self.stages.stage("encode"):
            cat, num, lengths = encoded_arrays(encoded, self.preprocessor)
        model, piece = self.stages.timed("model", self.model.logits), self.model.piece_logits
        piece = piece and self.stages.timed("model", piece)
        with self.stages.stage("batch", minus="model"):
            logits = score_histories(model, cat, num, lengths, self.max_batch_events, progress, piece)
            return sigmoid(logits)

    def score(self, events: Any, rejects_path: str | Path | None = None, progress: bool = False) -> pl.DataFrame:
        """Scores (probabilities) for every accepted event, in entity/time order."""
        import polars as pl

        encoded = self.encode(events, rejects_path)
        scores = pl.Series("score", self.probabilities(encoded, progress), dtype=pl.Float32)
        return encoded.select(*SCORE_COLUMNS).with_columns(scores)

    def score_file(
        self,
        events: Any,
        output: str | Path,
        rejects_path: str | Path | None = None,
        progress: bool = False,
        piece_events: int = PIECE_EVENTS,
    ) -> int:
        """``score`` of event files (path, glob, folder or list) written to ``output`` (.parquet, a row group per
        piece, or .csv) in bounded memory: files validated in slices of ``piece_events`` rows, then read back,
        encoded and scored ``piece_events`` events at a time (an entity longer than that in parts, its history
        features and the model's state carried from one to the next).  Same rows, order and scores as ``score``;
        returns the number of events scored."""
        import polars as pl
        from tqdm import tqdm

        from latte_vt.data.transactions.pieces import validate_in_pieces
        from latte_vt.data.transactions.writer import write_frames

        with self.stages.stage("read_validate"):
            found = validate_in_pieces(events, self.schema, rejects_path, False, piece_events)
        self.last_report = found.report
        split = self.model.piece_logits is not None
        pieces = history_pieces(found.lengths, piece_events, self.max_batch_events, split)
        types = {"event_id": pl.String, "entity": pl.String, "time": pl.Datetime("us", "UTC"), "score": pl.Float32}

        def scored() -> Iterator[pl.DataFrame]:
            carry, states = None, None
            for piece in tqdm(pieces, desc="scoring", unit="piece", disable=not progress or len(pieces) < 2):
                with self.stages.stage("read_validate"):
                    events_in = found.read(piece.start, piece.end)
                with self.stages.stage("encode"):
                    encoded, carry = self.preprocessor.transform_piece(events_in, carry)
                if piece.part is None:
                    scores = self.probabilities(encoded)
                else:
                    scores, states = self._continue(encoded, None if piece.part == 0 else states)
                yield encoded.select(*SCORE_COLUMNS).with_columns(pl.Series("score", scores, dtype=pl.Float32))

        began, inner = time.perf_counter(), sum(self.stages.seconds.values())
        written = write_frames(scored(), output, types)  # the writer pulls the pieces: their stages run inside it
        nested = sum(self.stages.seconds.values()) - inner
        self.stages.seconds["write"] += time.perf_counter() - began - nested
        return written

    def _continue(self, encoded: pl.DataFrame, states: Any) -> tuple[np.ndarray, Any]:
        """Scores (T,) of consecutive events of one entity continuing the model's ``states`` (None: its first
        events), and the states after them."""
        with self.stages.stage("encode"):
            cat, num, _ = encoded_arrays(encoded, self.preprocessor)
        piece = self.stages.timed("model", self.model.piece_logits)
        with self.stages.stage("batch", minus="model"):
            logits, states = score_run(piece, cat, num, self.max_batch_events, states)
            return sigmoid(logits), states

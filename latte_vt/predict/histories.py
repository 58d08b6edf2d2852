"""The one history batching helper: entity histories -> length-bucketed, left-padded numpy batches.

Histories arrive concatenated in entity order (``cat`` (N, F_cat), ``num`` (N, F_num)) with each
entity's event count (``lengths`` (E,)). Entities of similar length are batched together (longest first,
at most ``max_batch_events`` padded events per batch) and left-padded, so the newest event is last and a
padded batch scores like each entity alone. A longer entity is scored alone, in pieces of ``PART_EVENTS`` events
that carry the model's recurrent state from one piece to the next; ``history_pieces`` cuts a log too large to
encode at once into runs of whole entities and parts of longer ones that keep those model calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_BATCH_EVENTS = 8192
"""Default events per model call: onnxruntime runs the model ~2x faster on batches of this size than of 65,536
(cache-sized intermediates; measured on the 2-core machine), and a longer history is scored in pieces this long."""
PART_EVENTS = 2048
"""Events per model call of a history scored piece by piece with carried state (at most ``max_batch_events``):
piece.onnx runs as fast on 2,048 events as on 8,192 (34.7k vs 35.5k events/s, one thread of the loaded 2-core
machine) and needs a quarter of the memory (28 vs 104 MiB of onnxruntime intermediates)."""
PieceLogits = Callable[[np.ndarray, np.ndarray, Any], tuple[np.ndarray, Any]]


@dataclass
class HistoryBatch:
    """Left-padded histories: cat (B, T, F_cat) int64, num (B, T, F_num) float32, mask (B, T) bool, and
    ``rows`` (B, T) the index of each real event in the concatenated input (-1 for padding)."""

    cat: np.ndarray
    num: np.ndarray
    mask: np.ndarray
    rows: np.ndarray


def length_batches(lengths: np.ndarray, max_batch_events: int) -> list[np.ndarray]:
    """Entity indices in batches of similar length, each at most ``max_batch_events`` padded events."""
    order = np.argsort(-lengths, kind="stable")
    batches, i = [], 0
    while i < len(order):
        take = max(1, min(len(order) - i, max_batch_events // max(int(lengths[order[i]]), 1)))
        batches.append(order[i : i + take])
        i += take
    return batches


def pad_left(cat: np.ndarray, num: np.ndarray, lengths: np.ndarray, entities: np.ndarray) -> HistoryBatch:
    """The histories of ``entities`` (indices into ``lengths``) as one left-padded batch (one gather per array)."""
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    n = lengths[entities].astype(np.int64)  # (B,)
    T = int(n.max()) if len(n) else 0
    offset = np.arange(T)[None, :] - (T - n)[:, None]  # (B, T) position within each history, < 0 = padding
    mask = offset >= 0
    rows = np.where(mask, starts[entities][:, None] + offset, -1)  # (B, T)
    real = rows[mask]  # (n.sum(),) rows of the real events, batch-major
    cat_b = np.zeros((len(n), T, cat.shape[1]), dtype=np.int64)  # (B, T, F_cat)
    num_b = np.zeros((len(n), T, num.shape[1]), dtype=np.float32)  # (B, T, F_num)
    cat_b[mask], num_b[mask] = cat[real], num[real]
    return HistoryBatch(cat_b, num_b, mask, rows)


def iter_batches(
    cat: np.ndarray, num: np.ndarray, lengths: np.ndarray, max_batch_events: int = MAX_BATCH_EVENTS
) -> Iterator[HistoryBatch]:
    """Every entity's history, in length-bucketed left-padded batches."""
    for entities in length_batches(lengths, max_batch_events):
        yield pad_left(cat, num, lengths, entities)


def score_histories(
    logits: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    cat: np.ndarray,
    num: np.ndarray,
    lengths: np.ndarray,
    max_batch_events: int = MAX_BATCH_EVENTS,
    progress: bool = False,
    piece: PieceLogits | None = None,
) -> np.ndarray:
    """Per-event logits (N,) float32, in input order, from ``logits(cat, num, mask) -> (B, T)``.

    With ``piece(cat, num, states) -> (logits, states)`` a history longer than ``max_batch_events`` runs alone in
    pieces (``score_run``), each continuing the states the last one left (None: no past), so the model's memory is
    bounded whatever the length; without it such a history runs whole.
    """
    from tqdm import tqdm

    out = np.full(len(cat), np.nan, dtype=np.float32)
    long = lengths > max_batch_events if piece is not None else np.zeros(len(lengths), dtype=bool)
    short, long_entities = np.flatnonzero(~long), np.flatnonzero(long)
    batches = [short[b] for b in length_batches(lengths[short], max_batch_events)]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    work = len(batches) + len(long_entities)
    with tqdm(total=work, desc="scoring", unit="batch", disable=not progress or work < 2) as bar:
        for entities in batches:  # entities batched whole
            batch = pad_left(cat, num, lengths, entities)
            out[batch.rows[batch.mask]] = logits(batch.cat, batch.num, batch.mask)[batch.mask]
            bar.update()
        for entity in long_entities:  # one long entity, piece by piece (views: no copies)
            first, end = int(starts[entity]), int(starts[entity] + lengths[entity])
            out[first:end] = score_run(piece, cat[first:end], num[first:end], max_batch_events)[0]
            bar.update()
    return out


def score_run(
    piece: PieceLogits, cat: np.ndarray, num: np.ndarray, max_batch_events: int, states: Any = None
) -> tuple[np.ndarray, Any]:
    """Consecutive events of one history (cat (T, F_cat), num (T, F_num)) continuing ``states`` (None: no past), in
    model calls of ``PART_EVENTS`` (at most ``max_batch_events``) events -> logits (T,) float32 and the states
    after them."""
    out, size = np.empty(len(cat), dtype=np.float32), min(max_batch_events, PART_EVENTS)
    for a in range(0, len(cat), size):
        b = min(a + size, len(cat))
        piece_logits, states = piece(cat[None, a:b], num[None, a:b], states)  # (1, b - a)
        out[a:b] = piece_logits[0]
    return out, states


@dataclass(frozen=True)
class Piece:
    """A run ``start:end`` of the concatenated histories read and scored at once: whole entities (``part`` None),
    or part ``part`` (0, 1, ...) of one entity too long for one piece, continuing the model state of part - 1."""

    start: int
    end: int
    part: int | None = None


def history_pieces(lengths: np.ndarray, piece_events: int, max_batch_events: int, split: bool) -> list[Piece]:
    """Whole entities, up to ``piece_events`` events a piece; an entity longer than that alone, in parts of a
    multiple of ``score_run``'s calls (so its model calls are those of ``score_histories``' one pass) — or whole
    without ``split`` (a model without carried state)."""
    call = min(max_batch_events, PART_EVENTS)
    size = max(call, piece_events // call * call)
    pieces, start, end = [], 0, 0
    for n in lengths.tolist():
        if (split and n > size) or end + n - start > piece_events:
            if end > start:
                pieces.append(Piece(start, end))
            start = end
        if split and n > size:
            pieces += [Piece(a, min(a + size, end + n), k) for k, a in enumerate(range(end, end + n, size))]
            start = end + n
        end += n
    if end > start:
        pieces.append(Piece(start, end))
    return pieces

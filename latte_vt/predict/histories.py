"""The one history batching helper: entity histories -> length-bucketed, left-padded numpy batches.

Histories arrive concatenated in entity order (``cat`` (N, F_cat), ``num`` (N, F_num)) with each
entity's event count (``lengths`` (E,)). Entities of similar length are batched together (longest first,
at most ``max_batch_events`` padded events per batch; a longer entity runs alone) and left-padded, so
the newest event is last and a padded batch scores like each entity alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np


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
    """The histories of ``entities`` (indices into ``lengths``) as one left-padded batch."""
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    n = lengths[entities].astype(np.int64)  # (B,)
    T = int(n.max()) if len(n) else 0
    offset = np.arange(T)[None, :] - (T - n)[:, None]  # (B, T) position within each history, < 0 = padding
    mask = offset >= 0
    rows = np.where(mask, starts[entities][:, None] + offset, -1)  # (B, T)
    take = np.where(mask, rows, 0)
    cat_b = np.where(mask[..., None], cat[take], 0).astype(np.int64)  # (B, T, F_cat)
    num_b = np.where(mask[..., None], num[take], 0).astype(np.float32)  # (B, T, F_num)
    return HistoryBatch(cat_b, num_b, mask, rows)


def iter_batches(
    cat: np.ndarray, num: np.ndarray, lengths: np.ndarray, max_batch_events: int = 1 << 16
) -> Iterator[HistoryBatch]:
    """Every entity's history, in length-bucketed left-padded batches."""
    for entities in length_batches(lengths, max_batch_events):
        yield pad_left(cat, num, lengths, entities)


def score_histories(
    logits: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    cat: np.ndarray,
    num: np.ndarray,
    lengths: np.ndarray,
    max_batch_events: int = 1 << 16,
    progress: bool = False,
) -> np.ndarray:
    """Per-event logits (N,) float32, in input order, from ``logits(cat, num, mask) -> (B, T)``."""
    from tqdm import tqdm

    out = np.full(len(cat), np.nan, dtype=np.float32)
    batches = length_batches(lengths, max_batch_events)
    for entities in tqdm(batches, desc="scoring", unit="batch", disable=not progress or len(batches) < 2):
        batch = pad_left(cat, num, lengths, entities)
        out[batch.rows[batch.mask]] = logits(batch.cat, batch.num, batch.mask)[batch.mask]
    return out

"""Time-based splits, training windows and full per-entity histories over encoded events.

Periods are cut by time, never at random: train = time < val_start, val = val_start <= time <
test_start, test = time >= test_start. Every period keeps the entity's earlier events as context, so
a validation event sees its whole past; only the period's own labelled events count in the loss.

Training windows (``EventWindowDataset``): per entity, windows of ``window`` (W) events that end at
its last event and every ``stride`` (S) events before it. A window's last S real events are its
loss events, so each event is counted exactly once and sees >= W - S events of history (fewer only
at the entity's start). Windows are left-padded; items are dicts:

* ``cat`` int64 (W, n_cat), ``num`` float32 (W, n_num): features, zeros on padding;
* ``mask`` bool (W,): True = real event;
* ``label`` float32 (W,): 0/1 (0 where unlabelled or padding);
* ``loss_mask`` bool (W,): True = labelled event of the period whose label counts in this window;
* ``row`` int64 (W,): the event's row in the encoded frame, -1 on padding.

``EntitySequenceDataset`` yields each entity's full history as one sequence (for scoring; same keys
plus ``entity``), and ``collate_left_pad`` left-pads a batch of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import Dataset

from latte_vt.data.transactions.load import require_polars
from latte_vt.data.transactions.preprocess import as_utc
from latte_vt.errors import InputError

if TYPE_CHECKING:
    import polars as pl

SPLITS = ("train", "val", "test")


def split_cutoffs(
    frame: pl.DataFrame, val_fraction: float = 0.15, test_fraction: float = 0.15
) -> tuple[datetime, datetime]:
    """(val_start, test_start) at the event-time quantiles that leave these shares for val and test."""
    if min(val_fraction, test_fraction) <= 0 or val_fraction + test_fraction >= 1:
        raise InputError(f"fractions must be positive and sum below 1, got {val_fraction}, {test_fraction}")
    if frame.height == 0:
        raise InputError("no events to split")
    times = frame["time"].sort()
    at = [
        times[min(len(times) - 1, int(q * len(times)))] for q in (1 - val_fraction - test_fraction, 1 - test_fraction)
    ]
    return as_utc(at[0]), as_utc(at[1])


def assign_split(frame: pl.DataFrame, val_start: datetime | str, test_start: datetime | str) -> pl.DataFrame:
    """Add a ``split`` column (train / val / test) by event time."""
    pl = require_polars()
    val, test = as_utc(val_start), as_utc(test_start)
    if not val < test:
        raise InputError(f"val_start {val} must come before test_start {test}")
    split = pl.when(pl.col("time") < val).then(pl.lit("train")).when(pl.col("time") < test).then(pl.lit("val"))
    return frame.with_columns(split.otherwise(pl.lit("test")).cast(pl.Enum(SPLITS)).alias("split"))


def split_bounds(
    split: str, val_start: datetime | str, test_start: datetime | str
) -> tuple[datetime | None, datetime | None]:
    """(start, end) of a period: the events it scores are start <= time < end (None = open)."""
    bounds = {"train": (None, val_start), "val": (val_start, test_start), "test": (test_start, None)}
    if split not in bounds:
        raise InputError(f"split must be one of {SPLITS}, got {split!r}")
    return tuple(None if b is None else as_utc(b) for b in bounds[split])


def _check_grouped(rows: pl.DataFrame) -> None:
    pl = require_polars()
    entity, time = pl.col("entity"), pl.col("time")
    late = ((entity == entity.shift(1)) & (time < time.shift(1))).any()
    runs = entity.rle_id().max() + 1
    if rows.height and rows.select(late | (runs != entity.n_unique())).item():
        raise InputError("encoded events must be grouped by entity in time order (use FittedPreprocessor.transform)")


class _EncodedEvents:
    """Numpy views of an encoded frame (per-entity time order), cut at ``end``, with the events to score."""

    def __init__(
        self,
        encoded: pl.DataFrame,
        cat_columns: Sequence[str],
        num_columns: Sequence[str],
        start: datetime | str | None,
        end: datetime | str | None,
    ) -> None:
        pl = require_polars()
        rows = encoded.with_row_index("row")
        if end is not None:
            rows = rows.filter(pl.col("time") < as_utc(end))
        _check_grouped(rows)
        in_period = pl.lit(True) if start is None else pl.col("time") >= as_utc(start)
        self.cat = (
            rows.select(cat_columns).to_numpy().astype(np.int64, copy=False).reshape(rows.height, len(cat_columns))
        )
        self.num = (
            rows.select(num_columns).to_numpy().astype(np.float32, copy=False).reshape(rows.height, len(num_columns))
        )
        self.label = rows["label"].fill_null(0).cast(pl.Float32).to_numpy()
        self.scored = rows.select(in_period & pl.col("label").is_not_null()).to_series().to_numpy()
        self.row = rows["row"].cast(pl.Int64).to_numpy()
        runs = rows["entity"].rle().struct.unnest()  # one run per entity: len, value
        self.entities = runs["value"].to_list()
        self.length = runs["len"].cast(pl.Int64).to_numpy()
        self.offset = np.cumsum(self.length) - self.length

    def item(self, begin: int, end: int, width: int, loss_begin: int) -> dict[str, torch.Tensor]:
        """Events [begin, end) left-padded to ``width``; loss on scored events from ``loss_begin`` on."""
        pad = width - (end - begin)
        cat = np.zeros((width, self.cat.shape[1]), np.int64)  # (W, n_cat)
        num = np.zeros((width, self.num.shape[1]), np.float32)  # (W, n_num)
        label = np.zeros(width, np.float32)
        loss = np.zeros(width, bool)
        row = np.full(width, -1, np.int64)
        cat[pad:] = self.cat[begin:end]
        num[pad:] = self.num[begin:end]
        label[pad:] = self.label[begin:end]
        row[pad:] = self.row[begin:end]
        loss[pad:] = self.scored[begin:end] & (np.arange(begin, end) >= loss_begin)
        mask = np.arange(width) >= pad
        return {
            "cat": torch.from_numpy(cat),
            "num": torch.from_numpy(num),
            "mask": torch.from_numpy(mask),
            "label": torch.from_numpy(label),
            "loss_mask": torch.from_numpy(loss),
            "row": torch.from_numpy(row),
        }


class EventWindowDataset(Dataset):
    """Left-padded windows of ``window`` events, stride ``stride``, over each entity's events before ``end``.

    Only windows with at least one event to score (labelled, start <= time < end, among the window's
    last ``stride`` events) are kept. See the module docstring for the item format.

    Args:
        encoded: output of ``FittedPreprocessor.transform``.
        cat_columns, num_columns: the feature columns (``FittedPreprocessor.cat_columns`` / ``num_columns``).
        window: W, events per window.
        stride: S, new events per window (1 <= S <= W).
        start, end: the period whose events are scored (None = open); events before ``start`` are context.
    """

    def __init__(
        self,
        encoded: pl.DataFrame,
        cat_columns: Sequence[str],
        num_columns: Sequence[str],
        window: int,
        stride: int,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
    ) -> None:
        if not 1 <= stride <= window:
            raise InputError(f"need 1 <= stride <= window, got window={window}, stride={stride}")
        self.window, self.stride = window, stride
        self.events = ev = _EncodedEvents(encoded, cat_columns, num_columns, start, end)
        per_entity = -(-ev.length // stride)  # windows per entity: ceil(n / S)
        entity = np.repeat(np.arange(len(ev.length)), per_entity)
        j = np.arange(entity.size) - np.repeat(np.cumsum(per_entity) - per_entity, per_entity)
        last = ev.offset[entity] + ev.length[entity] - 1 - stride * j  # index of each window's last event
        first_of_entity = ev.offset[entity]
        loss_begin = np.maximum(first_of_entity, last - stride + 1)
        scored = np.concatenate([[0], np.cumsum(ev.scored)])
        keep = np.flatnonzero(scored[last + 1] - scored[loss_begin] > 0)
        keep = keep[np.argsort(last[keep])]  # entity by entity, oldest window first
        self.end = last[keep] + 1
        self.begin = np.maximum(first_of_entity, last - window + 1)[keep]
        self.loss_begin = loss_begin[keep]

    def __len__(self) -> int:
        return len(self.end)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.events.item(int(self.begin[i]), int(self.end[i]), self.window, int(self.loss_begin[i]))


class EntitySequenceDataset(Dataset):
    """Each entity's full history before ``end`` as one sequence, for scoring (chunked causal pass).

    Items have the window keys with length T = the entity's event count, ``loss_mask`` marking its
    labelled events in [start, end), plus ``entity`` (str). Batch them with ``collate_left_pad``.
    """

    def __init__(
        self,
        encoded: pl.DataFrame,
        cat_columns: Sequence[str],
        num_columns: Sequence[str],
        start: datetime | str | None = None,
        end: datetime | str | None = None,
    ) -> None:
        self.events = _EncodedEvents(encoded, cat_columns, num_columns, start, end)

    def __len__(self) -> int:
        return len(self.events.length)

    def __getitem__(self, i: int) -> dict[str, Any]:
        ev = self.events
        begin, n = int(ev.offset[i]), int(ev.length[i])
        return ev.item(begin, begin + n, n, begin) | {"entity": ev.entities[i]}


def collate_left_pad(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Left-pad sequences of different lengths to the longest: tensors (B, T_max, ...), padding zeros
    (``row`` -1, masks False); non-tensor values (``entity``) become lists."""
    if not items:
        raise InputError("cannot collate an empty batch")
    width = max(len(item["mask"]) for item in items)
    batch: dict[str, Any] = {}
    for key, first in items[0].items():
        if not isinstance(first, torch.Tensor):
            batch[key] = [item[key] for item in items]
            continue
        fill = -1 if key == "row" else 0
        out = torch.full((len(items), width, *first.shape[1:]), fill, dtype=first.dtype)  # (B, T_max, ...)
        for b, item in enumerate(items):
            n = len(item[key])
            if n:
                out[b, width - n :] = item[key]
        batch[key] = out
    return batch

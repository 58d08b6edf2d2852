"""Live events -> their model inputs, a batch at a time, with numpy over per-entity state columns.

``LiveEncoder(preprocessor).encode_batch(events, past)`` gives what ``FittedPreprocessor.transform`` gives
each event in its entity's log, where ``past`` holds each event's entity history as ``HistoryColumns``
(one row per event, so the events of one call belong to distinct entities).  The batch path is polars
expressions; this is their live form (time features and the history features of ``history``), with no
dataframe and no per-event numpy call; ``encode`` is the one-event form over an ``EntityHistory``.  Tests
encode generated logs both ways and compare them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from latte_vt.data.transactions.history import (
    HASH_BUCKETS,
    NO_TIME,
    SINCE_CAP_SECONDS,
    EntityHistory,
    from_us,
    to_us,
    value_bucket,
)
from latte_vt.data.transactions.load import NULL_CATEGORY
from latte_vt.data.transactions.preprocess import UNKNOWN_ID, FittedPreprocessor, as_utc

US = 1_000_000
DAY_S = 86_400
EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


@dataclass
class HistoryColumns:
    """Entity histories as columns (row i = one entity): ``EntityHistory``'s fields, stacked."""

    last_us: np.ndarray  # (n,) int64 µs since the epoch of the last event, NO_TIME before the first
    count: np.ndarray  # (n,) int64 events so far
    sum_log: np.ndarray  # (n,) float64 sum of their signed log amounts
    last_bucket: np.ndarray  # (n, F) int64 value buckets of the last event, -1 before the first
    seen: np.ndarray  # (n, F, HASH_BUCKETS // 8) uint8 bitsets of the buckets seen
    other_us: np.ndarray  # (n, F) int64 latest event before the last run of equal values, or NO_TIME

    @classmethod
    def fresh(cls, n: int, fields: int) -> HistoryColumns:
        """``n`` entities with no events yet."""
        return cls(
            np.full(n, NO_TIME, dtype=np.int64),
            np.zeros(n, dtype=np.int64),
            np.zeros(n, dtype=np.float64),
            np.full((n, fields), -1, dtype=np.int64),
            np.zeros((n, fields, HASH_BUCKETS // 8), dtype=np.uint8),
            np.full((n, fields), NO_TIME, dtype=np.int64),
        )

    @classmethod
    def from_histories(cls, histories: Sequence[EntityHistory], fields: int) -> HistoryColumns:
        """Columns of ``EntityHistory`` objects."""
        columns = cls.fresh(len(histories), fields)
        for i, h in enumerate(histories):
            columns.last_us[i] = NO_TIME if h.last_time is None else to_us(h.last_time)
            columns.count[i], columns.sum_log[i] = h.count, h.sum_log_amount
            columns.last_bucket[i], columns.seen[i], columns.other_us[i] = h.last_bucket, h.seen, h.other_time_us
        return columns

    def history(self, i: int) -> EntityHistory:
        """Row ``i`` as an ``EntityHistory`` (copies)."""
        return EntityHistory(
            self.last_bucket.shape[1],
            from_us(int(self.last_us[i])),
            int(self.count[i]),
            float(self.sum_log[i]),
            self.last_bucket[i].copy(),
            self.seen[i].copy(),
            self.other_us[i].copy(),
        )

    def take(self, rows: np.ndarray) -> HistoryColumns:
        """The given rows (copies)."""
        return HistoryColumns(*(column[rows] for column in self.columns()))

    def part(self, start: int, stop: int) -> HistoryColumns:
        """Rows ``start`` to ``stop`` (views)."""
        return HistoryColumns(*(column[start:stop] for column in self.columns()))

    def put(self, rows: np.ndarray | slice, other: HistoryColumns) -> None:
        """Overwrite the given rows with ``other``'s."""
        for mine, theirs in zip(self.columns(), other.columns(), strict=True):
            mine[rows] = theirs

    def columns(self) -> tuple[np.ndarray, ...]:
        return self.last_us, self.count, self.sum_log, self.last_bucket, self.seen, self.other_us


class LiveEncoder:
    """Encodes live events with a fitted preprocessor's vocabularies and scalers (looked up once, here)."""

    def __init__(self, preprocessor: FittedPreprocessor) -> None:
        self.preprocessor = preprocessor
        self.categorical, self.fields = list(preprocessor.categorical), list(preprocessor.history_fields)
        self.n_num = len(preprocessor.num_columns)
        self.codes = [  # per categorical field: value -> id * HASH_BUCKETS + bucket, for its vocabulary's values
            {v: i * HASH_BUCKETS + value_bucket(v) for i, v in enumerate(preprocessor.vocabularies[f], start=2)}
            for f in preprocessor.categorical
        ]
        self.stats = [(f, *preprocessor.numeric_stats[f]) for f in preprocessor.numeric]

    def encode(
        self, event: Mapping[str, Any], past: EntityHistory | None = None
    ) -> tuple[np.ndarray, np.ndarray, EntityHistory]:
        """One live event (``time`` a datetime or an ISO 8601 string) and its entity's history (None = no events
        yet) -> cat (n_cat,) int64, num (n_num,) float32, the entity's next history."""
        fields = len(self.preprocessor.history_fields)
        columns = HistoryColumns.from_histories([past or self.preprocessor.new_history()], fields)
        cat, num, after = self.encode_batch([{**event, "time": as_utc(event["time"])}], columns)
        return cat[0], num[0], after.history(0)

    def encode_batch(
        self, events: Sequence[Mapping[str, Any]], past: HistoryColumns, time_us: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, HistoryColumns]:
        """Live events of distinct entities (canonical values: ``time`` an aware datetime, ``amount``, the
        fields; a missing categorical = "<null>") and their entities' histories (row i = event i's) ->
        cat (n, n_cat) int64, num (n, n_num) float32, the histories after the events.  ``time_us``: the
        events' times in µs since the epoch, when the caller has them already."""
        if time_us is None:
            time_us = np.array([to_us(e["time"]) for e in events], dtype=np.int64)  # (n,)
        amount = np.array([float(e["amount"]) for e in events], dtype=np.float64)  # (n,)
        codes = [c for f, lookup in zip(self.categorical, self.codes, strict=True) for c in _codes(lookup, events, f)]
        codes = np.array(codes, dtype=np.int64).reshape(len(self.categorical), len(events)).T  # (n, n_cat)
        cat = codes // HASH_BUCKETS  # (n, n_cat) ids
        buckets = codes[:, : len(self.fields)] % HASH_BUCKETS  # (n, F): the history fields are the categorical ones
        log_amount = np.where(amount == 0, 0.0, np.copysign(np.log1p(np.abs(amount)), amount))  # (n,)
        F, n = len(self.fields), len(events)
        num = np.empty((n, self.n_num), dtype=np.float64)  # columns in num_columns order
        num[:, 0] = log_amount
        num[:, 1:6] = time_features(time_us, past.last_us)
        changed = (past.last_bucket >= 0) & (past.last_bucket != buckets)  # (n, F)
        other = np.where(changed, past.last_us[:, None], past.other_us)  # (n, F): a change makes it the last event
        index = (np.arange(n)[:, None], np.arange(F)[None, :], buckets >> 3)  # each event's byte of each bitset
        bits = (1 << (buckets & 7)).astype(np.uint8)  # (n, F)
        byte = past.seen[index]  # (n, F)
        end = 6
        if self.preprocessor.entity_history:
            mean = past.sum_log / np.maximum(past.count, 1).astype(np.float64)  # (n,)
            num[:, 6] = np.where(past.count > 0, log_amount - mean, 0.0)
            num[:, 7 : 7 + F] = (byte & bits) == 0  # new for the entity
            num[:, 7 + F : 7 + 2 * F] = changed
            has = other != NO_TIME  # (n, F)
            seconds = (time_us[:, None] - np.where(has, other, time_us[:, None])) / 1e6  # (n, F)
            since = np.where(has, np.minimum(np.maximum(seconds, 0.0), SINCE_CAP_SECONDS), SINCE_CAP_SECONDS)
            num[:, 7 + 2 * F : 7 + 3 * F] = np.log1p(since)
            end = 7 + 3 * F
        if self.stats:
            values = np.array([[float(e[f]) for f, _, _ in self.stats] for e in events])  # (n, n_numeric)
            _, means, stds = zip(*self.stats, strict=True)
            num[:, end:] = (values - np.array(means)) / np.array(stds)
        seen = past.seen.copy()  # (n, F, HASH_BUCKETS // 8)
        seen[index] = byte | bits
        after = HistoryColumns(time_us, past.count + 1, past.sum_log + log_amount, buckets, seen, other)
        return cat, num.astype(np.float32), after


def _codes(lookup: dict[str, int], events: Sequence[Mapping[str, Any]], field: str) -> list[int]:
    """id * HASH_BUCKETS + bucket of each event's value of ``field``: a known string by one lookup, the rest
    as text."""
    values = [e.get(field) for e in events]
    return [(lookup.get(v) if type(v) is str else None) or _code_of_text(lookup, v) for v in values]


def _code_of_text(lookup: dict[str, int], value: Any) -> int:
    """id * HASH_BUCKETS + bucket of a categorical value that is not a known string: as text, "<null>" for None."""
    text = NULL_CATEGORY if value is None else str(value)
    code = lookup.get(text)
    return UNKNOWN_ID * HASH_BUCKETS + value_bucket(text) if code is None else code


def time_features(time_us: np.ndarray, prev_us: np.ndarray) -> np.ndarray:
    """``TIME_FEATURES`` after the amount (log gap, hour and weekday sin/cos), (n, 5), of events at ``time_us``
    whose entities' previous events are at ``prev_us`` (NO_TIME: none), as the batch path computes them."""
    seconds = time_us // US  # (n,) whole seconds, as polars' dt.second()
    of_day = seconds % DAY_S
    hour = of_day // 3600 + (of_day % 3600 // 60) / 60.0 + (of_day % 60) / 3600.0  # (n,)
    dow = ((seconds // DAY_S + EPOCH_WEEKDAY) % 7).astype(np.float64) + hour / 24.0  # (n,)
    first = prev_us == NO_TIME
    gap = np.where(first, 0.0, np.log1p(np.maximum((time_us - np.where(first, time_us, prev_us)) / 1e6, 0.0)))
    day, week = hour * (2 * math.pi / 24), dow * (2 * math.pi / 7)
    return np.stack([gap, np.sin(day), np.cos(day), np.sin(week), np.cos(week)], axis=1)

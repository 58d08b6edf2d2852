"""What an event says about its entity's past, from constant-size per-entity state.

Features (all float, computed only from the entity's earlier events):

* ``amount_vs_mean``: the event's signed log amount minus the mean over the entity's earlier events
  (0 for its first event).
* ``new_<field>``: 1 when the field's value was never seen before for this entity, else 0.
* ``changed_<field>``: 1 when the value differs from the entity's previous event's, else 0.
* ``since_other_<field>``: log1p(seconds since the entity's latest earlier event with another value of
  the field), capped at one year; the cap when there is none.  A card used in one region minutes after
  another region reads small here on every event of the incident, not only on the first one.

Values are compared by a stable hash bucket (CRC-32 mod ``HASH_BUCKETS``), so the live path keeps a
fixed-size bitset per field instead of an ever-growing set, and the batch path (polars window
expressions over the entity's time-ordered events) gives exactly the same flags.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import polars as pl

HASH_BUCKETS = 1024
SINCE_CAP_SECONDS = 365 * 86_400.0  # ``since_other`` saturates here ("long ago or never")
NO_TIME = np.iinfo(np.int64).min  # ``EntityHistory.other_time_us`` of a field that never changed
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CONTEXT_COUNT = "history_count"  # events of the entity before this one
CONTEXT_SUM = "history_sum_log_amount"  # sum of their signed log amounts (float64)
START = "history_start"  # the first row of a piece that continues a carried entity
MICROSECOND = timedelta(microseconds=1)


def new_column(f: str) -> str:
    return f"history_new_{f}"


def changed_column(f: str) -> str:
    return f"history_changed_{f}"


def other_time_column(f: str) -> str:
    return f"history_other_time_{f}"


def to_us(time: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (exact integer arithmetic)."""
    return (time - EPOCH) // MICROSECOND


def from_us(us: int) -> datetime | None:
    """The aware UTC datetime of ``to_us``; None for ``NO_TIME``."""
    return None if us == NO_TIME else EPOCH + timedelta(microseconds=int(us))


def value_bucket(value: str) -> int:
    """Stable hash bucket of a categorical value (same in every process and version)."""
    return zlib.crc32(value.encode("utf-8")) % HASH_BUCKETS


def signed_log(amount: float) -> float:
    """sign(amount) * log1p(|amount|), as polars computes it."""
    return math.copysign(math.log1p(abs(amount)), amount) if amount != 0 else 0.0


def feature_names(fields: Sequence[str]) -> list[str]:
    """Names of the history features for the tracked categorical fields, in encoding order."""
    return [
        "amount_vs_mean",
        *(f"new_{f}" for f in fields),
        *(f"changed_{f}" for f in fields),
        *(f"since_other_{f}" for f in fields),
    ]


def bucket_column(f: str) -> str:
    return f"history_bucket_{f}"


@dataclass(frozen=True)
class Carried:
    """The history of the entity a piece of an (entity, time)-sorted log ends with: the next piece, whose first
    rows continue that entity, starts from it (``with_context``), so features in pieces equal one pass."""

    entity: str
    past: EntityHistory


def with_context(
    lf: pl.LazyFrame,
    frame: pl.DataFrame,
    fields: Sequence[str],
    signed_log_amount: pl.Expr,
    carry: Carried | None = None,
) -> pl.LazyFrame:
    """``lf`` (the events of ``frame``, sorted by entity, then time) with each event's context: ``prev_time`` (its
    entity's previous event time, null for its first), its entity's earlier-event count and log-amount sum, and per
    tracked field its value's hash bucket, the new/changed flags and the time of the latest earlier event with
    another value (null when none).  With ``carry``, the rows of ``carry.entity`` continue its carried history."""
    import polars as pl

    past = carry.past if carry else None
    ongoing = pl.col("entity") == carry.entity if carry else pl.lit(False)  # rows continuing the carried entity
    start = ongoing & (pl.int_range(pl.len()).over("entity") == 0)  # the first of them
    prev_time = pl.col("time").shift(1).over("entity")
    log_amount, count = signed_log_amount, pl.int_range(pl.len()).over("entity")
    if past:  # carried sum + this value: the same sequential sum as one pass
        prev_time = pl.when(start).then(pl.lit(past.last_time, dtype=pl.Datetime("us", "UTC"))).otherwise(prev_time)
        log_amount = pl.when(start).then(past.sum_log_amount + log_amount).otherwise(log_amount)
        count = count + pl.when(ongoing).then(past.count).otherwise(0)
    total = log_amount.cum_sum().shift(1, fill_value=0.0).over("entity")
    total = pl.when(start).then(past.sum_log_amount).otherwise(total) if past else total
    columns = [start.alias(START), prev_time.alias("prev_time"), count.alias(CONTEXT_COUNT), total.alias(CONTEXT_SUM)]
    for f in fields:
        values = frame[f].unique()
        buckets = pl.Series([value_bucket(v) for v in values.to_list()], dtype=pl.Int64)
        columns.append(pl.col(f).replace_strict(values, buckets, return_dtype=pl.Int64).alias(bucket_column(f)))
    lf = lf.with_columns(columns)

    flags = []
    for i, f in enumerate(fields):
        bucket = pl.col(bucket_column(f))
        previous = bucket.shift(1).over("entity")
        new = bucket.is_first_distinct().over("entity")
        if past:
            previous = pl.when(START).then(int(past.last_bucket[i])).otherwise(previous)
            seen = pl.Series(np.flatnonzero(np.unpackbits(past.seen[i], bitorder="little")), dtype=pl.Int64)
            new = new & ~(ongoing & bucket.is_in(seen.implode()))
        flags += [new.alias(new_column(f)), (bucket != previous).fill_null(False).alias(changed_column(f))]
    lf = lf.with_columns(flags)
    # a change makes the previous event the latest other-valued one, until the next change
    others = []
    for i, f in enumerate(fields):
        other = pl.when(changed_column(f)).then(pl.col("prev_time")).forward_fill().over("entity")
        if past and past.other_time_us[i] != NO_TIME:
            carried = pl.lit(from_us(int(past.other_time_us[i])), dtype=pl.Datetime("us", "UTC"))
            other = pl.when(ongoing & other.is_null()).then(carried).otherwise(other)
        others.append(other.alias(other_time_column(f)))
    return lf.with_columns(others)


def carry_after(
    context: pl.DataFrame, fields: Sequence[str], signed_log_amount: pl.Expr, carry: Carried | None
) -> Carried:
    """The history of the last entity of a non-empty ``with_context`` frame after its last event (continuing
    ``carry`` when that is the same entity)."""
    import polars as pl

    entity = context["entity"][-1]
    rows = context.filter(pl.col("entity") == entity)
    last = rows.row(-1, named=True)
    seen = carry.past.seen.copy() if carry and carry.entity == entity else None
    past = EntityHistory(len(fields), seen=seen)
    for i, f in enumerate(fields):
        for b in rows[bucket_column(f)].unique().to_list():
            past.seen[i, b >> 3] |= np.uint8(1 << (b & 7))
    past.last_time, past.count = last["time"], last[CONTEXT_COUNT] + 1
    past.sum_log_amount = last[CONTEXT_SUM] + rows.tail(1).select(signed_log_amount).item()
    past.last_bucket = np.array([last[bucket_column(f)] for f in fields], dtype=np.int64)
    other = [last[other_time_column(f)] for f in fields]
    past.other_time_us = np.array([NO_TIME if t is None else to_us(t) for t in other], dtype=np.int64)
    return Carried(entity, past)


def feature_expressions(fields: Sequence[str], signed_log_amount: pl.Expr) -> dict[str, pl.Expr]:
    """The history features from the context columns (batch or live), keyed by ``feature_names``."""
    import polars as pl

    count = pl.col(CONTEXT_COUNT)
    mean = pl.col(CONTEXT_SUM) / count.cast(pl.Float64)
    feats = {"amount_vs_mean": pl.when(count > 0).then(signed_log_amount - mean).otherwise(0.0)}
    feats |= {f"new_{f}": pl.col(new_column(f)).cast(pl.Float64) for f in fields}
    feats |= {f"changed_{f}": pl.col(changed_column(f)).cast(pl.Float64) for f in fields}
    for f in fields:
        seconds = (pl.col("time") - pl.col(other_time_column(f))).dt.total_microseconds().cast(pl.Float64) / 1e6
        feats[f"since_other_{f}"] = seconds.clip(0.0, SINCE_CAP_SECONDS).fill_null(SINCE_CAP_SECONDS).log1p()
    return feats


@dataclass
class EntityHistory:
    """Constant-size state of one entity for the live path (a few hundred bytes per tracked field)."""

    n_fields: int
    last_time: datetime | None = None
    count: int = 0
    sum_log_amount: float = 0.0
    last_bucket: np.ndarray = field(default=None)  # (F,) int64, -1 before the first event
    seen: np.ndarray = field(default=None)  # (F, HASH_BUCKETS // 8) uint8 bitsets
    # (F,) int64 µs since the epoch: the latest event before the last event's run of equal values, or NO_TIME
    other_time_us: np.ndarray = field(default=None)

    def __post_init__(self) -> None:
        if self.last_bucket is None:
            self.last_bucket = np.full(self.n_fields, -1, dtype=np.int64)
        if self.seen is None:
            self.seen = np.zeros((self.n_fields, HASH_BUCKETS // 8), dtype=np.uint8)
        if self.other_time_us is None:
            self.other_time_us = np.full(self.n_fields, NO_TIME, dtype=np.int64)

    def _flags(self, buckets: Sequence[int]) -> tuple[list[bool], list[bool], list[int]]:
        """Per field of an event with these buckets: new for the entity, changed since the last event, and the
        time (µs, ``NO_TIME`` when none) of the latest earlier event with another value (a change makes that
        the last event).  Plain Python over the few fields: numpy calls cost more than they save here."""
        changed = [last >= 0 and last != b for last, b in zip(self.last_bucket.tolist(), buckets, strict=True)]
        last_us = to_us(self.last_time) if any(changed) else NO_TIME
        other = [last_us if c else o for c, o in zip(changed, self.other_time_us.tolist(), strict=True)]
        new = [not self.seen.item(i, b >> 3) & (1 << (b & 7)) for i, b in enumerate(buckets)]
        return new, changed, other

    def context(self, buckets: Sequence[int], fields: Sequence[str]) -> dict[str, object]:
        """Context columns (one value each) of an event with these field buckets."""
        ctx: dict[str, object] = {CONTEXT_COUNT: self.count, CONTEXT_SUM: self.sum_log_amount}
        new, changed, other = self._flags(buckets)
        for i, f in enumerate(fields):
            ctx[new_column(f)] = new[i]
            ctx[changed_column(f)] = changed[i]
            ctx[other_time_column(f)] = from_us(other[i])
        return ctx

    def advance(self, time: datetime, amount: float, buckets: Sequence[int]) -> EntityHistory:
        """The state after an event (a new object; this one is unchanged)."""
        seen = self.seen.copy()
        for i, b in enumerate(buckets):
            seen[i, b >> 3] |= np.uint8(1 << (b & 7))
        return EntityHistory(
            self.n_fields,
            time,
            self.count + 1,
            self.sum_log_amount + signed_log(amount),
            np.asarray(buckets, dtype=np.int64),
            seen,
            np.array(self._flags(buckets)[2], dtype=np.int64),
        )

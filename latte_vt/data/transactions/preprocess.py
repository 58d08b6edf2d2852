"""Event features, fitted on the training period only: one polars implementation for training, batch
scoring and streaming.

Per event, from the canonical frame of ``load_events``:

* ``cat_<field>`` (int64): vocabulary id; 0 = padding, 1 = unknown (rarer than ``min_freq`` in the
  training period, or never seen there), 2.. = known values, most frequent first.
* ``num_amount``: sign(amount) * log1p(|amount|).
* ``num_log_dt``: log1p(seconds since the entity's previous event); 0 for its first event.
* ``num_hour_sin``, ``num_hour_cos``: hour of day (UTC, fractional) on the unit circle.
* ``num_dow_sin``, ``num_dow_cos``: day of week (fractional, Monday 0) on the unit circle.
* ``num_amount_vs_mean``, ``num_new_<field>``, ``num_changed_<field>``, ``num_since_other_<field>`` (with
  ``entity_history``, the default): what the event says about its entity's past, from constant-size
  state (see ``history``).
* ``num_<field>``: numeric fields standardised with the training period's mean and std.

Numeric features are float32. The batch path (``transform``) and ``live_context`` + ``encode_rows`` (a
micro-batch of live events in one polars pass) run the same expressions; the per-event live path
(``encode_event``, ``LiveEncoder``: one event plus its entity's ``EntityHistory``) is their plain-numpy form,
tested equal on generated logs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from latte_vt.data.transactions import history
from latte_vt.data.transactions.history import Carried, EntityHistory, value_bucket
from latte_vt.data.transactions.load import NULL_CATEGORY, require_polars
from latte_vt.data.transactions.schema import EventSchema
from latte_vt.errors import InputError

if TYPE_CHECKING:
    import polars as pl

    from latte_vt.data.transactions.live_encoder import LiveEncoder

PAD_ID = 0
UNKNOWN_ID = 1
TIME_FEATURES = ("amount", "log_dt", "hour_sin", "hour_cos", "dow_sin", "dow_cos")
FORMAT = "latte_vt.transactions.preprocessor/2"  # 2: history features include since_other_<field>
FORMAT_WITHOUT_SINCE_OTHER = "latte_vt.transactions.preprocessor/1"


def signed_log_amount() -> pl.Expr:
    """sign(amount) * log1p(|amount|) of the ``amount`` column."""
    pl = require_polars()
    return pl.col("amount").sign() * pl.col("amount").abs().log1p()


def as_utc(value: datetime | str) -> datetime:
    """A timezone-aware UTC datetime from a datetime (naive = UTC) or an ISO string."""
    stamp = datetime.fromisoformat(value) if isinstance(value, str) else value
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


class FittedPreprocessor:
    """Vocabularies and scalers fitted on events before ``train_end``; encodes any period with them.

    Args:
        categorical: categorical field columns of the canonical frame.
        numeric: numeric field columns of the canonical frame.
        min_freq: a value needs this many training-period events to get its own id.
        entity_history: add the per-entity history features (amount vs the entity's mean, new/changed
            flags of every categorical field).
    """

    def __init__(
        self, categorical: Sequence[str], numeric: Sequence[str] = (), min_freq: int = 5, entity_history: bool = True
    ) -> None:
        if min_freq < 1:
            raise InputError(f"min_freq must be >= 1, got {min_freq}")
        self.categorical = list(categorical)
        self.numeric = list(numeric)
        self.min_freq = min_freq
        self.entity_history = entity_history
        self.vocabularies: dict[str, list[str]] = {}
        self.numeric_stats: dict[str, tuple[float, float]] = {}
        self.train_end: datetime | None = None
        self._id_maps: dict[str, tuple[pl.Series, pl.Series]] | None = None  # vocabularies as polars series
        self._live: LiveEncoder | None = None  # encode_event's, built once per fit

    def _ids(self, field: str) -> tuple[pl.Series, pl.Series]:
        """(values, ids) of a field's vocabulary, built once per fit."""
        pl = require_polars()
        if self._id_maps is None:
            self._id_maps = {
                f: (pl.Series(v, dtype=pl.String), pl.Series(range(2, len(v) + 2), dtype=pl.Int64))
                for f, v in self.vocabularies.items()
            }
        return self._id_maps[field]

    @classmethod
    def from_schema(cls, schema: EventSchema, min_freq: int = 5, entity_history: bool = True) -> FittedPreprocessor:
        return cls(schema.categorical, schema.numeric, min_freq, entity_history)

    @property
    def history_fields(self) -> list[str]:
        """Categorical fields with new/changed flags (none without ``entity_history``)."""
        return self.categorical if self.entity_history else []

    @property
    def fitted(self) -> bool:
        return self.train_end is not None

    @property
    def cat_columns(self) -> list[str]:
        """Output columns of the categorical ids, in the order of ``vocab_sizes``."""
        return [f"cat_{f}" for f in self.categorical]

    @property
    def num_columns(self) -> list[str]:
        """Output columns of the numeric features: amount, log dt, hour/dow sin/cos, history features, then
        numeric fields."""
        hist = history.feature_names(self.history_fields) if self.entity_history else []
        return [f"num_{f}" for f in (*TIME_FEATURES, *hist, *self.numeric)]

    @property
    def vocab_sizes(self) -> list[int]:
        """Ids per categorical field, including padding and unknown."""
        self._check_fitted()
        return [len(self.vocabularies[f]) + 2 for f in self.categorical]

    def fit(self, frame: pl.DataFrame, train_end: datetime | str) -> FittedPreprocessor:
        """Fit vocabularies and numeric scalers on the events of ``frame`` with time < ``train_end``."""
        pl = require_polars()
        end = as_utc(train_end)
        train = frame.filter(pl.col("time") < end)
        if train.height == 0:
            raise InputError(f"no events before train_end {end.isoformat()} to fit the preprocessor on")
        for f in self.categorical:
            counts = train.group_by(f).len().filter(pl.col("len") >= self.min_freq)
            self.vocabularies[f] = counts.sort(["len", f], descending=[True, False])[f].to_list()
        for f in self.numeric:
            mean, std = train.select(pl.col(f).mean().alias("mean"), pl.col(f).std(ddof=0).alias("std")).row(0)
            ok = std is not None and math.isfinite(std) and std > 0
            self.numeric_stats[f] = (float(mean), float(std) if ok else 1.0)
        self.train_end = end
        self._id_maps = self._live = None
        return self

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise RuntimeError("the preprocessor is not fitted: call fit(frame, train_end) or load(path)")

    def _features(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        """Encode events that carry ``prev_time`` (the entity's previous event time, null for its first) and,
        with ``entity_history``, the context columns of ``history``."""
        pl = require_polars()
        self._check_fitted()
        hour = pl.col("time").dt.hour() + pl.col("time").dt.minute() / 60.0 + pl.col("time").dt.second() / 3600.0
        dow = pl.col("time").dt.weekday().cast(pl.Float64) - 1.0 + hour / 24.0
        dt = (pl.col("time") - pl.col("prev_time")).dt.total_microseconds().cast(pl.Float64) / 1e6
        feats = {
            "amount": signed_log_amount(),
            "log_dt": dt.clip(lower_bound=0.0).log1p().fill_null(0.0),
            "hour_sin": (hour * (2 * math.pi / 24)).sin(),
            "hour_cos": (hour * (2 * math.pi / 24)).cos(),
            "dow_sin": (dow * (2 * math.pi / 7)).sin(),
            "dow_cos": (dow * (2 * math.pi / 7)).cos(),
        }
        if self.entity_history:
            feats |= history.feature_expressions(self.history_fields, signed_log_amount())
        feats |= {f: (pl.col(f) - self.numeric_stats[f][0]) / self.numeric_stats[f][1] for f in self.numeric}
        cats = [
            pl.col(f).replace_strict(*self._ids(f), default=UNKNOWN_ID, return_dtype=pl.Int64).alias(f"cat_{f}")
            for f in self.categorical
        ]
        nums = [expr.cast(pl.Float32).alias(f"num_{name}") for name, expr in feats.items()]
        inputs = (*self.categorical, *self.numeric, "prev_time", "amount")
        keep = [c for c in lf.collect_schema().names() if c not in inputs and not c.startswith("history_")]
        return lf.select(*keep, *cats, *nums)

    def transform(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Encode a canonical frame: per-entity time order (stable), identity columns kept, fields replaced
        by ``cat_columns`` and ``num_columns``."""
        return self._features(self._context(frame)).collect()

    def transform_piece(self, frame: pl.DataFrame, carry: Carried | None) -> tuple[pl.DataFrame, Carried | None]:
        """``transform`` of one piece of a log sorted by entity, then time, whose first rows may continue the entity
        ``carry`` left (None: no past): the encoded piece (the same rows as one pass over the whole log) and the
        history of its last entity, to carry into the next piece."""
        if frame.height == 0:
            return self.transform(frame), carry
        context = self._context(frame, carry).collect()
        after = history.carry_after(context, self.history_fields, signed_log_amount(), carry)
        return self._features(context.lazy()).collect(), after

    def _context(self, frame: pl.DataFrame, carry: Carried | None = None) -> pl.LazyFrame:
        """A canonical frame in per-entity time order (stable) with each event's ``history.with_context``."""
        pl = require_polars()
        entity, time = pl.col("entity"), pl.col("time")
        unsorted = (entity < entity.shift(1)) | ((entity == entity.shift(1)) & (time < time.shift(1)))
        if frame.select(unsorted.any()).item():
            frame = frame.sort("entity", "time", maintain_order=True)
        return history.with_context(frame.lazy(), frame, self.history_fields, signed_log_amount(), carry)

    def new_history(self) -> EntityHistory:
        """The live-path state of an entity with no events yet."""
        return EntityHistory(len(self.history_fields))

    def live_inputs(self, event: Mapping[str, Any]) -> tuple[datetime, float, dict[str, str], list[int]]:
        """A live event's UTC time, amount, categorical values (a missing field = "<null>") and the hash buckets
        of its ``history_fields``."""
        time, amount = as_utc(event["time"]), float(event["amount"])
        values = {f: NULL_CATEGORY if event.get(f) is None else str(event[f]) for f in self.categorical}
        return time, amount, values, [value_bucket(values[f]) for f in self.history_fields]

    def live_context(
        self, event: Mapping[str, Any], past: EntityHistory | None = None
    ) -> tuple[dict[str, Any], EntityHistory]:
        """One live event (canonical values: time, amount, fields; a missing field = "<null>") and its entity's
        history (None = no events yet) -> its input row for ``encode_rows``, the entity's next history."""
        past = past or self.new_history()
        time, amount, values, buckets = self.live_inputs(event)
        row: dict[str, Any] = {"time": time, "amount": amount, "prev_time": past.last_time}
        row |= values | {f: float(event[f]) for f in self.numeric}
        if self.entity_history:
            row |= past.context(buckets, self.history_fields)
        return row, past.advance(time, amount, buckets)

    def encode_rows(self, rows: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        """Rows of ``live_context`` in one polars pass -> cat (N, n_cat) int64, num (N, n_num) float32.
        Same expressions as ``transform``."""
        pl = require_polars()
        dtype = pl.Datetime("us", "UTC")
        schema = {"time": dtype, "prev_time": dtype, "amount": pl.Float64}
        schema |= {f: pl.String for f in self.categorical} | {f: pl.Float64 for f in self.numeric}
        if self.entity_history:
            schema |= {history.CONTEXT_COUNT: pl.Int64, history.CONTEXT_SUM: pl.Float64}
            schema |= {history.new_column(f): pl.Boolean for f in self.history_fields}
            schema |= {history.changed_column(f): pl.Boolean for f in self.history_fields}
            schema |= {history.other_time_column(f): dtype for f in self.history_fields}
        frame = pl.DataFrame({k: [r[k] for r in rows] for k in schema}, schema=schema)
        encoded = self._features(frame.lazy()).collect()
        cat = encoded.select(self.cat_columns).to_numpy().astype(np.int64)
        return cat, encoded.select(self.num_columns).to_numpy().astype(np.float32)

    def encode_event(
        self, event: Mapping[str, Any], past: EntityHistory | None = None
    ) -> tuple[np.ndarray, np.ndarray, EntityHistory]:
        """One live event and its entity's history (None = no events yet) -> cat (n_cat,) int64, num (n_num,)
        float32, the entity's next history (``LiveEncoder.encode``: plain numpy, same values as ``transform``)."""
        from latte_vt.data.transactions.live_encoder import LiveEncoder  # it builds on this module

        if self._live is None:
            self._live = LiveEncoder(self)
        return self._live.encode(event, past)

    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {
            "format": FORMAT,
            "categorical": self.categorical,
            "numeric": self.numeric,
            "min_freq": self.min_freq,
            "entity_history": self.entity_history,
            "train_end": self.train_end.isoformat(),
            "vocabularies": self.vocabularies,
            "numeric_stats": {f: {"mean": m, "std": s} for f, (m, s) in self.numeric_stats.items()},
        }

    def save(self, path: str | Path) -> Path:
        """Write the fitted state as plain JSON."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1, ensure_ascii=False))
        return path

    @classmethod
    def load(cls, path: str | Path) -> FittedPreprocessor:
        """Read a state written by ``save``."""
        try:
            state = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: unreadable preprocessor state ({exc})") from exc
        return cls.from_dict(state, str(path))

    @classmethod
    def from_dict(cls, state: Any, where: str = "preprocessor state") -> FittedPreprocessor:
        """The fitted preprocessor from ``to_dict``'s output (a checkpoint's ``data_info``, a bundle's JSON);
        ``where`` names the source in errors."""
        if isinstance(state, dict) and state.get("format") == FORMAT_WITHOUT_SINCE_OTHER:
            if state.get("entity_history"):
                raise InputError(
                    f"{where}: preprocessor state {FORMAT_WITHOUT_SINCE_OTHER!r} was written by an older latte_vt "
                    "whose history features differ from this version's (no since_other_*): fit the model again"
                )
        elif not isinstance(state, dict) or state.get("format") != FORMAT:
            raise InputError(f"{where}: not a latte_vt preprocessor state (expected format {FORMAT!r})")
        pre = cls(state["categorical"], state["numeric"], state["min_freq"], state.get("entity_history", False))
        missing = [f for f in pre.categorical if f not in state["vocabularies"]]
        missing += [f for f in pre.numeric if f not in state["numeric_stats"]]
        if missing:
            raise InputError(f"{where}: no fitted state for fields {missing}")
        pre.vocabularies = {f: [str(v) for v in state["vocabularies"][f]] for f in pre.categorical}
        pre.numeric_stats = {f: (float(s["mean"]), float(s["std"])) for f, s in state["numeric_stats"].items()}
        pre.train_end = as_utc(state["train_end"])
        return pre

"""Live scoring with ``step.onnx``: one event in, one score out, constant state per entity.

State per entity: every layer's (S, z, m) as float32 arrays plus the preprocessor's ``EntityHistory``
(last event time, count, amount sum, field-value bitsets), kept in a ``StateStore``: in memory by
default, or durably in SQLite (``store="state.sqlite"``; see ``state_store``).  ``snapshot(path)`` /
``restore(path)`` write and read the states as ``.npz`` arrays and JSON (no pickle).  Stepping an
entity's events one by one gives the same scores as ``model.onnx`` over its whole history.

Event times are ISO 8601 strings (naive = UTC), epoch seconds (int or float) or datetimes; entity ids are
strings or integers of at most ``MAX_ENTITY_CHARS`` characters.

Out-of-order policy: an event older than its entity's last applied event is refused as a late event
(scores depend on order); an event at the same time as the last one is accepted, in arrival order.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from latte_vt.data.transactions.history import NO_TIME, EntityHistory, from_us, to_us
from latte_vt.data.transactions.live_encoder import HistoryColumns, LiveEncoder
from latte_vt.data.transactions.preprocess import FittedPreprocessor, as_utc
from latte_vt.errors import InputError
from latte_vt.predict.transactions import sigmoid
from latte_vt.runtime.bundle import Bundle, open_bundle
from latte_vt.runtime.state_store import EntityState, MemoryStateStore, SQLiteStateStore, StateLayout, StateStore

REQUIRED = ("entity", "time", "amount")
MAX_ENTITY_CHARS = 256  # longer entity ids are refused (they key the state store)


class RejectedEventError(InputError):
    """An event the scorer refuses: ``kind`` is ``missing_field``, ``bad_value`` or ``late_event``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(slots=True)
class _Accepted:
    """An event that passed the checks, with its entity's table row."""

    position: int  # index in the batch
    row: int  # the entity's row in the store's table
    time_us: int  # the event's time, µs since the epoch
    event: Mapping[str, Any]  # the event as given (its time in ``time_us``)


class StreamingScorer:
    """``StreamingScorer(bundle).score(event)`` -> probability, using and updating the entity's state.

    Events use the canonical field names (``entity``, ``time``, ``amount`` and the schema's
    categorical/numeric fields).  A refused event (missing field, unreadable value, late event) raises
    ``RejectedEventError`` (a ``ValueError``) from ``score``/``score_batch``; ``score_each`` returns it in the
    event's place instead and scores the rest.

    A micro-batch runs as waves: wave k holds the k-th event of every entity in the batch, so each wave is one
    numpy encode over the gathered histories and one ``step.onnx`` call over the gathered states (gathered from
    the store's table once per batch, and scattered back once).  ``stages`` adds up the seconds spent checking events
    (``validate``), encoding, in the model and moving states (``state``: loads, gathers, scatters).

    Args:
        bundle: a transactions bundle with ``step.onnx``.
        threads: onnxruntime intra-op threads.
        store: where entity states live: a ``StateStore``, a path (a ``SQLiteStateStore`` file), or None
            (in memory).
    """

    def __init__(
        self, bundle: Bundle | str | Path, threads: int | None = 1, store: StateStore | str | Path | None = None
    ) -> None:
        self.bundle = open_bundle(bundle, "transactions")
        self.preprocessor = FittedPreprocessor.load(self.bundle.root / "preprocessor.json")
        self.encoder = LiveEncoder(self.preprocessor)
        self.session = self.bundle.session("step", threads)
        step = self.bundle.manifest["graphs"]["step"]
        self.state_inputs = [n for n in step["inputs"] if n.startswith("past_state.")]
        self.state_shapes = {n: step["inputs"][n]["shape"][1:] for n in self.state_inputs}
        self.initial = {n: float(step["initial_state"][n.rsplit(".", 1)[1]]) for n in self.state_inputs}
        if store is None:
            store = MemoryStateStore(self.layout)
        elif isinstance(store, str | Path):
            store = SQLiteStateStore(store, self.layout, self.bundle_id)
        self.store: StateStore = store
        self.stages: Counter[str] = Counter()
        self._required = (*REQUIRED, *self.preprocessor.numeric)  # fields an event must have
        self._numbers = ("amount", *self.preprocessor.numeric)  # fields that must be finite numbers

    @property
    def layout(self) -> StateLayout:
        """Shapes (and starting values) of one entity's state."""
        shapes = tuple(tuple(int(d) for d in self.state_shapes[n]) for n in self.state_inputs)
        initial = tuple(self.initial[n] for n in self.state_inputs)
        return StateLayout(tuple(self.state_inputs), shapes, len(self.preprocessor.history_fields), initial)

    @property
    def bundle_id(self) -> str:
        """Short id of what the states depend on: the step graph and the preprocessor (their sha256)."""
        files = self.bundle.manifest["files"]
        both = files["step.onnx"]["sha256"] + files["preprocessor.json"]["sha256"]
        return hashlib.sha256(both.encode()).hexdigest()[:16]

    @property
    def events_applied(self) -> int:
        """Events scored into the states so far (all time, for a durable store)."""
        return int(self.store.meta.get("events_applied", 0))

    # -- scoring ---------------------------------------------------------------------------------------

    def score(self, event: Mapping[str, Any]) -> float:
        return self.score_batch([event])[0]

    def score_batch(self, events: Iterable[Mapping[str, Any]]) -> list[float]:
        """Score a micro-batch (an entity's events apply in the given order); if any event is refused,
        raise its ``RejectedEventError`` and apply none of them."""
        checked = self._check(list(events))
        rejected = next((c for c in checked if isinstance(c, RejectedEventError)), None)
        if rejected is not None:
            raise rejected
        return self._apply(checked, len(checked))  # type: ignore[arg-type]

    def score_each(self, events: Iterable[Mapping[str, Any]]) -> list[float | RejectedEventError]:
        """Score a micro-batch; a refused event gets its ``RejectedEventError`` in its place, the rest are applied."""
        return self.score_each_timed(events)[0]

    def score_each_timed(
        self, events: Iterable[Mapping[str, Any]]
    ) -> tuple[list[float | RejectedEventError], np.ndarray]:
        """``score_each``, and each event's time as read (int64 µs since the epoch; ``NO_TIME`` where refused)."""
        checked = self._check(list(events))
        scores = self._apply([c for c in checked if isinstance(c, _Accepted)], len(checked))
        times = np.array([NO_TIME if isinstance(c, RejectedEventError) else c.time_us for c in checked], np.int64)
        return [c if isinstance(c, RejectedEventError) else scores[i] for i, c in enumerate(checked)], times

    def checkpoint(self, **meta: Any) -> None:
        """Make the states (and ``meta``) durable, when the store is."""
        self.store.checkpoint(**meta)

    def _check(self, events: list[Mapping[str, Any]]) -> list[_Accepted | RejectedEventError]:
        """Each event accepted (with its entity's row) or refused, in order: fields and values first,
        then the late-event rule against the entity's last applied event (earlier events of the batch included)."""
        start = time.perf_counter()
        parsed: list[tuple[str, datetime, Mapping[str, Any]] | RejectedEventError] = []
        for event in events:
            try:
                parsed.append(self._parse(event))
            except RejectedEventError as exc:
                parsed.append(exc)
        entities = [p[0] for p in parsed if not isinstance(p, RejectedEventError)]
        loading = time.perf_counter()
        rows = iter(self.store.rows(entities).tolist())
        loaded = time.perf_counter()
        self.stages["state"] += loaded - loading
        last_us = self.store.table.history.last_us
        pending: dict[int, int] = {}  # row -> time of its latest event accepted in this batch
        out: list[_Accepted | RejectedEventError] = []
        for i, p in enumerate(parsed):
            if isinstance(p, RejectedEventError):
                out.append(p)
                continue
            entity, when, event = p
            time_us = to_us(when)
            row = next(rows)
            last = pending.get(row, int(last_us[row]))
            if last != NO_TIME and time_us < last:
                out.append(
                    RejectedEventError(
                        "late_event",
                        f"event for entity {entity!r} at {when} is older than its last event at "
                        f"{from_us(last)} (late event)",
                    )
                )
                continue
            pending[row] = time_us
            out.append(_Accepted(i, row, time_us, event))
        self.stages["validate"] += time.perf_counter() - start - (loaded - loading)
        return out

    def _parse(self, event: Mapping[str, Any]) -> tuple[str, datetime, Mapping[str, Any]]:
        """An event's entity id, time and the event; or RejectedEventError."""
        missing = [k for k in self._required if event.get(k) is None]
        if missing:
            raise RejectedEventError("missing_field", f"event {dict(event)!r} lacks required field(s) {missing}")
        entity = _entity_id(event["entity"])
        when = event_time(event["time"])
        for name in self._numbers:
            value = event[name]
            if type(value) is float and math.isfinite(value):
                continue  # the common case, without the general check's conversions
            finite = isinstance(value, int | float | str) and not isinstance(value, bool) and _is_finite(value)
            if not finite:
                raise RejectedEventError("bad_value", f"{name} {value!r} is not a finite number")
        return entity, when, event

    def _apply(self, accepted: list[_Accepted], size: int) -> list[float]:
        """Run accepted events through step.onnx, wave by wave; scores at the events' batch positions.

        The batch's entities are gathered once, most events first, so wave k's entities (those with more than
        k events here) are the first rows of wave k-1's outputs, which feed wave k as they are; an entity's
        state is kept when its last event here is stepped, and all go back to the table once."""
        scores = [math.nan] * size
        by_entity: dict[int, list[_Accepted]] = {}  # entity row -> its events here, in order
        for a in accepted:
            by_entity.setdefault(a.row, []).append(a)
        order = sorted(by_entity, key=lambda row: len(by_entity[row]), reverse=True)  # stable: ties keep arrival
        waves: list[list[_Accepted]] = [[] for _ in range(len(by_entity[order[0]]) if order else 0)]
        for row in order:
            for k, a in enumerate(by_entity[row]):
                waves[k].append(a)  # wave k in slot order: the first len(wave k) entities of ``order``
        clock = time.perf_counter()
        table = self.store.table
        rows = np.array(order, dtype=np.int64)  # (m,) the batch's entities
        block = table.flat[rows]  # (m, D) their states, then each one's after its last event here
        states = table.split(block)  # views, each (m, *state)
        history = table.history.take(rows)
        feed, past = [np.ascontiguousarray(s) for s in states], history  # wave 0 steps every entity
        self.stages["state"] += time.perf_counter() - clock
        for k, wave in enumerate(waves):
            wave_scores, present, after = self._run(wave, feed, past)
            for a, score in zip(wave, wave_scores, strict=True):
                scores[a.position] = score
            clock = time.perf_counter()
            n, going_on = len(wave), len(waves[k + 1]) if k + 1 < len(waves) else 0  # going on: more events here
            for state, new in zip(states, present, strict=True):
                state[going_on:n] = new[going_on:]  # (n - going_on, *state): the others are done
            history.put(slice(going_on, n), after.part(going_on, n))
            feed, past = [new[:going_on] for new in present], after.part(0, going_on)
            self.stages["state"] += time.perf_counter() - clock
        clock = time.perf_counter()
        table.flat[rows] = block
        table.history.put(rows, history)
        self.store.updated(rows)
        self.stages["state"] += time.perf_counter() - clock
        self.store.meta["events_applied"] = self.events_applied + len(accepted)
        return scores

    def _run(
        self, wave: list[_Accepted], feed: list[np.ndarray], past: HistoryColumns
    ) -> tuple[list[float], list[np.ndarray], HistoryColumns]:
        """One step.onnx call over events of distinct entities, with their states (``feed``, each (n, *state),
        C-ordered) and histories: scores, the states after, the histories after."""
        clock = time.perf_counter()
        time_us = np.array([a.time_us for a in wave], dtype=np.int64)  # (n,)
        cat, num, after = self.encoder.encode_batch([a.event for a in wave], past, time_us)  # (n, n_cat), (n, n_num)
        stepping = time.perf_counter()
        logit, *present = self.session.run(  # (n,), each (n, *state)
            None, {"cat": cat, "num": num, **dict(zip(self.state_inputs, feed, strict=True))}
        )
        self.stages["encode"] += stepping - clock
        self.stages["model"] += time.perf_counter() - stepping
        return sigmoid(logit).tolist(), present, after

    # -- snapshots -------------------------------------------------------------------------------------

    def snapshot(self, path: str | Path) -> Path:
        """Write every entity's state to one ``.npz`` (arrays, plus the histories' scalars as JSON)."""
        path = Path(path)
        items = list(self.store.items())
        entities = [e for e, _ in items]
        arrays = {
            f"s{i}": np.stack([s.arrays[i] for _, s in items]) if items else np.zeros((0, *self.state_shapes[n]))
            for i, n in enumerate(self.state_inputs)
        }
        F = len(self.preprocessor.history_fields)
        arrays["last_bucket"] = np.stack([s.history.last_bucket for _, s in items]) if items else np.zeros((0, F))
        arrays["seen"] = np.stack([s.history.seen for _, s in items]) if items else np.zeros((0, F, 0))
        arrays["other_time_us"] = (
            np.stack([s.history.other_time_us for _, s in items]) if items else np.zeros((0, F), np.int64)
        )
        scalars = [(s.history.last_time, s.history.count, s.history.sum_log_amount) for _, s in items]
        meta = {
            "entities": entities,
            "history": [[None if t is None else t.isoformat(), c, total] for t, c, total in scalars],
            "events_applied": self.events_applied,
        }
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as fh:
            np.savez(fh, **arrays)
        tmp.replace(path)
        return path

    def restore(self, path: str | Path) -> None:
        """Replace the states with a snapshot's (the scorer then keeps them in memory)."""
        with np.load(Path(path), allow_pickle=False) as data:
            if "other_time_us" not in data:
                raise InputError(f"{path}: snapshot written by an older latte_vt (no other_time_us): not restorable")
            meta = json.loads(bytes(data["meta"]).decode())
            stacks = [data[f"s{i}"] for i in range(len(self.state_inputs))]
            last_bucket, seen, other_time = data["last_bucket"], data["seen"], data["other_time_us"]
        store = MemoryStateStore(self.layout)
        F = len(self.preprocessor.history_fields)
        for k, (entity, (last, count, total)) in enumerate(zip(meta["entities"], meta["history"], strict=True)):
            history = EntityHistory(
                F,
                None if last is None else as_utc(last),
                count,
                total,
                last_bucket[k].astype(np.int64),
                seen[k],
                other_time[k].astype(np.int64),
            )
            store.put(entity, EntityState([s[k] for s in stacks], history))
        store.meta["events_applied"] = meta["events_applied"]
        self.store = store


def _is_finite(value: int | float | str) -> bool:
    try:
        return math.isfinite(float(value))
    except (ValueError, OverflowError):
        return False


def _entity_id(value: Any) -> str:
    """An event's entity id as a string: a string or integer of at most ``MAX_ENTITY_CHARS`` characters."""
    if type(value) is str and len(value) <= MAX_ENTITY_CHARS:
        return value  # the common case
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RejectedEventError("bad_value", f"entity {value!r} is not a string or an integer")
    entity = str(value)
    if len(entity) > MAX_ENTITY_CHARS:
        raise RejectedEventError(
            "bad_value", f"entity id of {len(entity)} characters is longer than {MAX_ENTITY_CHARS}"
        )
    return entity


def iso_times(time_us: np.ndarray) -> list[str]:
    """``datetime.isoformat()`` of UTC times given in µs since the epoch, without the ``+00:00`` suffix
    (fractional seconds only where there are some), for a whole array at once."""
    stamps = time_us.astype("datetime64[us]")  # (n,)
    whole = np.datetime_as_string(stamps, unit="s")
    fraction = time_us % 1_000_000 != 0
    if fraction.any():
        whole[fraction] = np.datetime_as_string(stamps[fraction], unit="us")
    return whole.tolist()


def event_time(value: Any) -> datetime:
    """A UTC time from an ISO 8601 string (naive = UTC), epoch seconds (int or float) or a datetime."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str | datetime):
            return as_utc(value)
    except (ValueError, OverflowError, OSError):
        pass
    raise RejectedEventError("bad_value", f"time {value!r} is not an ISO 8601 timestamp or epoch seconds")

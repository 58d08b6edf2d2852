"""Where live scoring keeps each entity's state: in memory, or durably in an embedded SQLite file.

An entity's state is ``step.onnx``'s recurrent state (every layer's S, z, m as float32 arrays) plus the
preprocessor's ``EntityHistory`` (last event time, event count, amount sum, field-value bitsets, per-field
time of the latest other-valued event).  Both
stores answer ``get``/``put``/``items`` and keep a ``meta`` dict (events applied, and for
``latte-vt stream`` the input/output byte offsets) that ``checkpoint`` makes durable.

``SQLiteStateStore`` layout (WAL journal, ``synchronous=FULL``, one writer process at a time)::

    entity_state(entity TEXT PRIMARY KEY, last_time_us INTEGER, event_count INTEGER,
                 sum_log_amount REAL, last_bucket BLOB, seen BLOB, other_time_us BLOB, state BLOB)
    meta(key TEXT PRIMARY KEY, value TEXT)        -- JSON values

``state`` is the float32 (little-endian) concatenation of the step state arrays, whose names and shapes
are in ``meta['layout']``; ``last_bucket`` and ``other_time_us`` are int64 (F,), ``seen`` uint8
(F, HASH_BUCKETS // 8).  Puts
stay in memory until ``checkpoint(**meta)``, which writes every changed entity and the meta in ONE
transaction: after a crash the file holds exactly the last checkpoint, never half of one.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from latte_vt.data.transactions.history import HASH_BUCKETS, EntityHistory, from_us, to_us
from latte_vt.errors import InputError

SCHEMA_VERSION = 2  # 2: other_time_us per tracked field


class StateStoreError(InputError):
    """A state store that cannot be used here: the message names the file and the problem."""


@dataclass
class EntityState:
    """One entity's live state."""

    arrays: list[np.ndarray]  # per ``past_state.*`` input of step.onnx: float32, that input's shape minus batch
    history: EntityHistory  # the preprocessor's per-entity context (its last_time orders the entity's events)


@dataclass(frozen=True)
class StateLayout:
    """Shapes of an entity's state: the step graph's state inputs and the history's tracked fields."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    history_fields: int

    def to_json(self) -> str:
        return json.dumps({"names": self.names, "shapes": self.shapes, "history_fields": self.history_fields})

    @property
    def sizes(self) -> list[int]:
        return [int(np.prod(s)) for s in self.shapes]


class StateStore(Protocol):
    """What ``StreamingScorer`` needs from a store."""

    meta: dict[str, Any]

    def get(self, entity: str) -> EntityState | None: ...

    def put(self, entity: str, state: EntityState) -> None: ...

    def items(self) -> Iterator[tuple[str, EntityState]]: ...

    def checkpoint(self, **meta: Any) -> None: ...

    def close(self) -> None: ...


class MemoryStateStore:
    """States in a dict: fast, gone when the process ends (``StreamingScorer.snapshot`` saves them)."""

    def __init__(self) -> None:
        self.states: dict[str, EntityState] = {}
        self.meta: dict[str, Any] = {}

    def get(self, entity: str) -> EntityState | None:
        return self.states.get(entity)

    def put(self, entity: str, state: EntityState) -> None:
        self.states[entity] = state

    def items(self) -> Iterator[tuple[str, EntityState]]:
        return iter(sorted(self.states.items()))

    def checkpoint(self, **meta: Any) -> None:
        self.meta.update(meta)

    def close(self) -> None:
        """Nothing to release."""


class SQLiteStateStore:
    """Durable states in one SQLite file, with a write-back cache of recently used entities.

    Args:
        path: the database file (created with its folder when missing).
        layout: the state shapes of the bundle that scores with it; a file written for other shapes is refused.
        owner: an id of the bundle (graph + preprocessor hashes); a file written by another bundle is refused,
            since its states mean nothing to this one.
        cache_entities: clean entities kept in memory after a checkpoint (changed ones always stay until then).
    """

    def __init__(self, path: str | Path, layout: StateLayout, owner: str, cache_entities: int = 100_000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.layout = layout
        self.cache_entities = cache_entities
        self._cache: dict[str, EntityState] = {}
        self._dirty: set[str] = set()
        try:
            self._db = sqlite3.connect(self.path, timeout=0.5, isolation_level=None, check_same_thread=False)
            # WAL + FULL: a committed checkpoint survives a process kill *and* a power cut; one fsync per
            # checkpoint (every N events), so the cost is amortised.  EXCLUSIVE: a second writer fails fast.
            self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StateStoreError(
                f"state store {self.path}: cannot open it for writing ({exc}); "
                "is another latte-vt stream/serve using it? One writer at a time."
            ) from exc
        except sqlite3.DatabaseError as exc:
            raise StateStoreError(f"state store {self.path}: not a SQLite database ({exc})") from exc
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS entity_state (entity TEXT PRIMARY KEY, last_time_us INTEGER, "
            "event_count INTEGER NOT NULL, sum_log_amount REAL NOT NULL, last_bucket BLOB NOT NULL, "
            "seen BLOB NOT NULL, other_time_us BLOB NOT NULL, state BLOB NOT NULL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self.meta = {k: json.loads(v) for k, v in self._db.execute("SELECT key, value FROM meta")}
        expected = {"schema_version": SCHEMA_VERSION, "owner": owner, "layout": json.loads(layout.to_json())}
        if self.meta:
            for key, value in expected.items():
                if self.meta.get(key) != value:
                    self._db.execute("ROLLBACK")
                    self._db.close()
                    raise StateStoreError(
                        f"state store {self.path}: written for {key} {self.meta.get(key)!r}, this bundle needs "
                        f"{value!r}; states of another bundle cannot be reused: give a new state path"
                    )
        self.meta.update(expected)
        self._write_meta(expected)
        self._db.execute("COMMIT")

    # -- entity states ---------------------------------------------------------------------------------

    def get(self, entity: str) -> EntityState | None:
        if entity in self._cache:
            return self._cache[entity]
        row = self._db.execute(
            "SELECT last_time_us, event_count, sum_log_amount, last_bucket, seen, other_time_us, state "
            "FROM entity_state WHERE entity = ?",
            (entity,),
        ).fetchone()
        if row is None:
            return None
        state = self._decode(entity, row)
        self._cache[entity] = state
        return state

    def put(self, entity: str, state: EntityState) -> None:
        self._cache[entity] = state
        self._dirty.add(entity)

    def items(self) -> Iterator[tuple[str, EntityState]]:
        """Every entity's state (saved ones, with unsaved changes applied), in entity order."""
        saved = self._db.execute(
            "SELECT entity, last_time_us, event_count, sum_log_amount, last_bucket, seen, other_time_us, state "
            "FROM entity_state"
        ).fetchall()
        merged = {e: self._cache.get(e) or self._decode(e, row) for e, *row in saved}
        merged |= {e: self._cache[e] for e in self._dirty}
        return iter(sorted(merged.items()))

    def checkpoint(self, **meta: Any) -> None:
        """Write every changed entity and ``meta`` (merged into ``self.meta``) in one durable transaction."""
        self.meta.update(meta)
        rows = [(e, *self._encode(self._cache[e])) for e in sorted(self._dirty)]
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany("INSERT OR REPLACE INTO entity_state VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            self._write_meta(self.meta)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._dirty.clear()
        if len(self._cache) > self.cache_entities:
            self._cache.clear()  # everything is saved now; later gets reload from the file

    def close(self) -> None:
        """Close the file (unsaved changes are dropped: call ``checkpoint`` first)."""
        self._db.close()

    # -- encoding --------------------------------------------------------------------------------------

    def _write_meta(self, meta: dict[str, Any]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in sorted(meta.items())]
        )

    def _encode(self, state: EntityState) -> tuple[int | None, int, float, bytes, bytes, bytes, bytes]:
        h = state.history
        last = None if h.last_time is None else to_us(h.last_time)
        arrays = np.concatenate([np.asarray(a, dtype="<f4").ravel() for a in state.arrays])
        return (
            last,
            int(h.count),
            float(h.sum_log_amount),
            np.asarray(h.last_bucket, dtype="<i8").tobytes(),
            np.asarray(h.seen, dtype=np.uint8).tobytes(),
            np.asarray(h.other_time_us, dtype="<i8").tobytes(),
            arrays.tobytes(),
        )

    def _decode(self, entity: str, row: tuple) -> EntityState:
        last_us, count, total, last_bucket, seen, other_time, blob = row
        flat = np.frombuffer(blob, dtype="<f4")
        F = self.layout.history_fields
        sizes_ok = len(last_bucket) == len(other_time) == 8 * F and len(seen) == F * HASH_BUCKETS // 8
        if flat.size != sum(self.layout.sizes) or not sizes_ok:
            raise StateStoreError(f"state store {self.path}: the state of entity {entity!r} is corrupt (wrong size)")
        bounds = np.cumsum([0, *self.layout.sizes])
        arrays = [flat[a:b].reshape(s) for a, b, s in zip(bounds[:-1], bounds[1:], self.layout.shapes, strict=True)]
        history = EntityHistory(
            F,
            None if last_us is None else from_us(last_us),
            count,
            total,
            np.frombuffer(last_bucket, dtype="<i8"),
            np.frombuffer(seen, dtype=np.uint8).reshape(F, HASH_BUCKETS // 8),
            np.frombuffer(other_time, dtype="<i8"),
        )
        return EntityState(arrays, history)

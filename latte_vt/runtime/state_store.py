"""Where live scoring keeps each entity's state: in memory, or durably in an embedded SQLite file.

An entity's state is ``step.onnx``'s recurrent state (every layer's S, z, m as float32 arrays) plus the
preprocessor's ``EntityHistory`` (last event time, event count, amount sum, field-value bitsets, per-field
time of the latest other-valued event).  The hot states live in memory as arrays (``StateTable``: one
row per entity, so a micro-batch gathers and scatters its entities' states with one numpy call per
array); ``rows(entities)`` gives their rows, loading them from the durable store (one query) or starting
fresh ones.  Both stores also answer ``get``/``put``/``items`` (one ``EntityState`` at a time) and keep
a ``meta`` dict (events applied, and for ``latte-vt stream`` the input/output byte offsets) that
``checkpoint`` makes durable.

``SQLiteStateStore`` layout (WAL journal, ``synchronous=FULL``, one writer process at a time)::

    entity_state(entity TEXT PRIMARY KEY, last_time_us INTEGER, event_count INTEGER,
                 sum_log_amount REAL, last_bucket BLOB, seen BLOB, other_time_us BLOB, state BLOB)
    meta(key TEXT PRIMARY KEY, value TEXT)        -- JSON values

``state`` is the float32 (little-endian) concatenation of the step state arrays, whose names and shapes
are in ``meta['layout']``; ``last_bucket`` and ``other_time_us`` are int64 (F,), ``seen`` uint8
(F, HASH_BUCKETS // 8).  SQLite is the durable log of the in-memory table: changes stay in memory until
``checkpoint(**meta)``, which writes every changed entity and the meta in ONE transaction (one fsync):
after a crash the file holds exactly the last checkpoint, never half of one.  ``begin_checkpoint`` takes the
same snapshot at once but writes it on a background thread (after an optional ``before()``, e.g. the fsync of
the files the checkpoint's offsets point into), so a stream goes on scoring while SQLite writes and fsyncs;
checkpoints are written one at a time in order, and a load from the file waits for the one in flight.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from latte_vt.data.transactions.history import HASH_BUCKETS, NO_TIME, EntityHistory
from latte_vt.data.transactions.live_encoder import HistoryColumns
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
    initial: tuple[float, ...] = ()  # each state array's starting value (zeros when empty); not stored

    def to_json(self) -> str:
        return json.dumps({"names": self.names, "shapes": self.shapes, "history_fields": self.history_fields})

    @property
    def sizes(self) -> list[int]:
        return [int(np.prod(s)) for s in self.shapes]


class StateTable:
    """Entity states as arrays, one row per entity: the step state arrays (views into one float32 matrix, an
    entity's whole state one row of it) and the history columns."""

    def __init__(self, layout: StateLayout, capacity: int = 1024) -> None:
        self.layout = layout
        self.index: dict[str, int] = {}  # entity -> row
        self.entities: list[str] = []  # row -> entity
        self.initial = layout.initial or (0.0,) * len(layout.shapes)
        bounds = np.cumsum([0, *layout.sizes]).tolist()
        self._blocks = list(zip(bounds[:-1], bounds[1:], layout.shapes, strict=True))  # each array's columns
        self.flat = np.empty((capacity, bounds[-1]), dtype=np.float32)  # (N, D)
        self.arrays = self.split(self.flat)
        self.history = HistoryColumns.fresh(capacity, layout.history_fields)

    def __len__(self) -> int:
        return len(self.entities)

    def add(self, entities: Sequence[str]) -> np.ndarray:
        """New rows for ``entities`` (not in the table yet), as fresh states; returns the rows."""
        start, n = len(self.entities), len(entities)
        if start + n > len(self.history.count):
            self._grow(start + n)
        rows = np.arange(start, start + n)
        for array, value in zip(self.arrays, self.initial, strict=True):
            array[start : start + n] = value
        self.history.put(rows, HistoryColumns.fresh(n, self.layout.history_fields))
        self.index.update(zip(entities, rows.tolist(), strict=True))
        self.entities += entities
        return rows

    def split(self, flat: np.ndarray) -> list[np.ndarray]:
        """Rows of the state matrix, (n, D), as the state arrays, each (n, *shape) (views).  Gather states as
        whole rows (``flat[rows]``), then split: numpy's gather along the first axis of a (N, 4, 16, 16) array
        is several times slower."""
        return [flat[:, a:b].reshape(len(flat), *shape) for a, b, shape in self._blocks]

    def applied(self) -> list[tuple[str, int]]:
        """(entity, row) of every entity with at least one event applied, in entity order."""
        return sorted((e, r) for e, r in self.index.items() if self.history.count[r] > 0)

    def state(self, row: int) -> EntityState:
        """One row as an ``EntityState`` (copies)."""
        return EntityState([a[row].copy() for a in self.arrays], self.history.history(row))

    def set(self, row: int, state: EntityState) -> None:
        """Overwrite one row with ``state``."""
        for array, value in zip(self.arrays, state.arrays, strict=True):
            array[row] = value
        fields = self.layout.history_fields
        self.history.put(np.array([row]), HistoryColumns.from_histories([state.history], fields))

    def _grow(self, needed: int) -> None:
        capacity = max(needed, 2 * len(self.history.count))
        self.flat = _resized(self.flat, capacity)
        self.arrays = self.split(self.flat)
        self.history = HistoryColumns(*(_resized(c, capacity) for c in self.history.columns()))


def _resized(array: np.ndarray, rows: int) -> np.ndarray:
    out = np.empty((rows, *array.shape[1:]), dtype=array.dtype)
    out[: len(array)] = array
    return out


class StateStore(Protocol):
    """What ``StreamingScorer`` needs from a store."""

    meta: dict[str, Any]
    table: StateTable

    def rows(self, entities: Sequence[str]) -> np.ndarray: ...

    def updated(self, rows: np.ndarray) -> None: ...

    def get(self, entity: str) -> EntityState | None: ...

    def put(self, entity: str, state: EntityState) -> None: ...

    def items(self) -> Iterator[tuple[str, EntityState]]: ...

    def checkpoint(self, **meta: Any) -> None: ...

    def begin_checkpoint(self, meta: dict[str, Any], before: Callable[[], None] | None = None) -> Future[None]: ...

    def close(self) -> None: ...


class MemoryStateStore:
    """States in memory: fast, gone when the process ends (``StreamingScorer.snapshot`` saves them).

    Args:
        layout: the state shapes (None: taken from the first ``put``, for stores filled by hand).
    """

    def __init__(self, layout: StateLayout | None = None) -> None:
        self.table: StateTable | None = None if layout is None else StateTable(layout)
        self.meta: dict[str, Any] = {}

    def rows(self, entities: Sequence[str]) -> np.ndarray:
        index = self.table.index
        missing = list(dict.fromkeys(e for e in entities if e not in index))
        if missing:
            self.table.add(missing)
        return np.array([index[e] for e in entities], dtype=np.int64)

    def updated(self, rows: np.ndarray) -> None:
        """Nothing to write back."""

    def get(self, entity: str) -> EntityState | None:
        row = None if self.table is None else self.table.index.get(entity)
        return None if row is None or self.table.history.count[row] == 0 else self.table.state(row)

    def put(self, entity: str, state: EntityState) -> None:
        if self.table is None:
            shapes = tuple(a.shape for a in state.arrays)
            self.table = StateTable(StateLayout(tuple(map(str, range(len(shapes)))), shapes, state.history.n_fields))
        self.table.set(int(self.rows([entity])[0]), state)

    def items(self) -> Iterator[tuple[str, EntityState]]:
        applied = [] if self.table is None else self.table.applied()
        return ((e, self.table.state(r)) for e, r in applied)

    def checkpoint(self, **meta: Any) -> None:
        self.meta.update(meta)

    def begin_checkpoint(self, meta: dict[str, Any], before: Callable[[], None] | None = None) -> Future[None]:
        """``before()`` then ``checkpoint(**meta)``, here and now; the returned future is already done."""
        done: Future[None] = Future()
        try:
            if before is not None:
                before()
            self.checkpoint(**meta)
            done.set_result(None)
        except Exception as exc:
            done.set_exception(exc)
        return done

    def close(self) -> None:
        """Nothing to release."""


class SQLiteStateStore:
    """Durable states in one SQLite file; the hot ones in memory (a ``StateTable``), written back at checkpoints.

    Args:
        path: the database file (created with its folder when missing).
        layout: the state shapes of the bundle that scores with it; a file written for other shapes is refused.
        owner: an id of the bundle (graph + preprocessor hashes); a file written by another bundle is refused,
            since its states mean nothing to this one.
        cache_entities: entities kept in memory after a checkpoint (changed ones always stay until then).
    """

    def __init__(self, path: str | Path, layout: StateLayout, owner: str, cache_entities: int = 100_000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.layout = layout
        self.cache_entities = cache_entities
        self.table = StateTable(layout)
        self._dirty: set[int] = set()  # rows changed since the last checkpoint
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="latte-vt-checkpoint")
        self._pending: Future[None] | None = None  # the last checkpoint handed to the writer
        self.writer_seconds = 0.0  # spent on the writer thread: before() (e.g. fsyncs) and the transactions
        try:
            self._db = sqlite3.connect(self.path, timeout=0.5, isolation_level=None, check_same_thread=False)
            # WAL + FULL: a committed checkpoint survives a process kill *and* a power cut; one fsync per
            # checkpoint (every N events, off the scoring thread with begin_checkpoint).  EXCLUSIVE: a second
            # writer fails fast.
            self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            self._writer.shutdown()
            raise StateStoreError(
                f"state store {self.path}: cannot open it for writing ({exc}); "
                "is another latte-vt stream/serve using it? One writer at a time."
            ) from exc
        except sqlite3.DatabaseError as exc:
            self._writer.shutdown()
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
                    self._writer.shutdown()
                    raise StateStoreError(
                        f"state store {self.path}: written for {key} {self.meta.get(key)!r}, this bundle needs "
                        f"{value!r}; states of another bundle cannot be reused: give a new state path"
                    )
        self.meta.update(expected)
        self._write_meta(expected)
        self._db.execute("COMMIT")

    # -- entity states ---------------------------------------------------------------------------------

    def rows(self, entities: Sequence[str]) -> np.ndarray:
        """The table rows of ``entities`` (in order, repeats allowed): loaded from the file when saved there
        (one query per 500), fresh otherwise."""
        index = self.table.index
        missing = list(dict.fromkeys(e for e in entities if e not in index))
        if missing:
            self._load(missing)
            self.table.add([e for e in missing if e not in index])
        return np.array([index[e] for e in entities], dtype=np.int64)

    def updated(self, rows: np.ndarray) -> None:
        """Mark rows as changed: the next checkpoint writes them."""
        self._dirty.update(rows.tolist())

    def get(self, entity: str) -> EntityState | None:
        if entity not in self.table.index:
            self._load([entity])
        row = self.table.index.get(entity)
        return None if row is None or self.table.history.count[row] == 0 else self.table.state(row)

    def put(self, entity: str, state: EntityState) -> None:
        row = int(self.rows([entity])[0])
        self.table.set(row, state)
        self._dirty.add(row)

    def items(self) -> Iterator[tuple[str, EntityState]]:
        """Every entity's state (saved ones, with unsaved changes applied), in entity order."""
        self._settle()
        saved = [e for (e,) in self._db.execute("SELECT entity FROM entity_state")]
        self._load([e for e in saved if e not in self.table.index])
        return ((e, self.table.state(r)) for e, r in self.table.applied())

    def checkpoint(self, **meta: Any) -> None:
        """Write every changed entity and ``meta`` (merged into ``self.meta``) in one durable transaction."""
        self.begin_checkpoint(meta).result()

    def begin_checkpoint(self, meta: dict[str, Any], before: Callable[[], None] | None = None) -> Future[None]:
        """Take a checkpoint of every changed entity and ``meta`` (merged into ``self.meta``) now, and write it
        in one durable transaction on the writer thread, after ``before()`` there; the future is done when it
        is on disk and raises what failed (then this and every later checkpoint fail: the file keeps the last
        good one).  Changes made meanwhile belong to the next checkpoint."""
        self._raise_if_failed(self._pending)
        self.meta.update(meta)
        rows = np.array(sorted(self._dirty), dtype=np.int64)
        records, snapshot = self._encode(rows), dict(self.meta)
        self._dirty.clear()
        if len(self.table) > self.cache_entities:
            self.table = StateTable(self.layout)  # all saved once this checkpoint is: reloads wait for it
        self._pending = self._writer.submit(self._commit, self._pending, before, records, snapshot)
        return self._pending

    def close(self) -> None:
        """Wait for the checkpoint in flight, then close the file (unsaved changes are dropped: checkpoint first)."""
        self._settle()
        self._writer.shutdown()
        self._db.close()

    def _commit(
        self, previous: Future[None] | None, before: Callable[[], None] | None, records: list[tuple], meta: dict
    ) -> None:
        """On the writer thread: ``before()``, then one transaction with ``records`` and ``meta``."""
        self._raise_if_failed(previous)
        start = time.perf_counter()
        try:
            if before is not None:
                before()
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT OR REPLACE INTO entity_state VALUES (?, ?, ?, ?, ?, ?, ?, ?)", records)
                self._write_meta(meta)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        finally:
            self.writer_seconds += time.perf_counter() - start

    def _raise_if_failed(self, checkpoint: Future[None] | None) -> None:
        error = checkpoint.exception() if checkpoint is not None and checkpoint.done() else None
        if error is not None:
            raise StateStoreError(
                f"state store {self.path}: an earlier checkpoint failed ({error}); the file keeps the last good one"
            ) from error

    def _settle(self) -> None:
        """Wait for the checkpoint in flight (its failure is reported by its own future and the next checkpoint)."""
        if self._pending is not None:
            wait([self._pending])

    # -- encoding --------------------------------------------------------------------------------------

    def _write_meta(self, meta: dict[str, Any]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in sorted(meta.items())]
        )

    def _encode(self, rows: np.ndarray) -> list[tuple]:
        """Database records of table rows (blobs little-endian), column by column."""
        h = self.table.history
        columns = (
            [self.table.entities[row] for row in rows.tolist()],
            [None if t == NO_TIME else t for t in h.last_us[rows].tolist()],
            h.count[rows].tolist(),
            h.sum_log[rows].tolist(),
            _blobs(h.last_bucket[rows].astype("<i8", copy=False)),  # (n, F)
            _blobs(h.seen[rows]),  # (n, F, HASH_BUCKETS // 8)
            _blobs(h.other_us[rows].astype("<i8", copy=False)),  # (n, F)
            _blobs(self.table.flat[rows].astype("<f4", copy=False)),  # (n, D)
        )
        return list(zip(*columns, strict=True))

    def _load(self, entities: list[str]) -> None:
        """Put the saved states of those of ``entities`` the file holds into the table (others are skipped)."""
        self._settle()  # the writer owns the connection until the checkpoint in flight is written
        for start in range(0, len(entities), 500):
            chunk = entities[start : start + 500]
            found = self._db.execute(
                "SELECT entity, last_time_us, event_count, sum_log_amount, last_bucket, seen, other_time_us, state "
                f"FROM entity_state WHERE entity IN ({', '.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
            if found:
                self._decode(found)

    def _decode(self, records: list[tuple]) -> None:
        """Saved records into new table rows; a record of the wrong size is named as corrupt."""
        F, sizes = self.layout.history_fields, self.layout.sizes
        for entity, _, _, _, last_bucket, seen, other, blob in records:
            ok = len(last_bucket) == len(other) == 8 * F and len(seen) == F * HASH_BUCKETS // 8
            if len(blob) != 4 * sum(sizes) or not ok:
                raise StateStoreError(
                    f"state store {self.path}: the state of entity {entity!r} is corrupt (wrong size)"
                )
        n = len(records)
        entities, last_us, count, total, last_bucket, seen, other, blob = zip(*records, strict=True)
        rows = self.table.add(list(entities))
        self.table.flat[rows] = np.frombuffer(b"".join(blob), dtype="<f4").reshape(n, sum(sizes))  # (n, D)
        history = HistoryColumns(
            np.array([NO_TIME if t is None else t for t in last_us], dtype=np.int64),
            np.array(count, dtype=np.int64),
            np.array(total, dtype=np.float64),
            np.frombuffer(b"".join(last_bucket), dtype="<i8").reshape(n, F),
            np.frombuffer(b"".join(seen), dtype=np.uint8).reshape(n, F, HASH_BUCKETS // 8),
            np.frombuffer(b"".join(other), dtype="<i8").reshape(n, F),
        )
        self.table.history.put(rows, history)


def _blobs(array: np.ndarray) -> list[memoryview]:
    """Each row of ``array`` as a bytes buffer (the whole array copied once, then cut without copies)."""
    data, n = memoryview(array.tobytes()), len(array)
    size = len(data) // n if n else 0
    return [data[i * size : (i + 1) * size] for i in range(n)]

"""Read and validate event files in pieces of bounded size: the same accepted events (same order), rejects and
report as ``load_events``, for logs (or single entities) larger than memory.

``validate_in_pieces`` reads every file in slices of ``piece_events`` rows, in input order, and checks each slice
as ``validate_events`` checks the whole input, with what decides a row's fate across slices carried from one to
the next: the event ids accepted so far (``duplicate_event_id``) and each entity's latest accepted time so far
(``out_of_order``).  Rejects are written as they come; of an accepted event only its key (file, row, entity, time,
about 40 bytes) is kept, and the keys are sorted into entity/time order.  ``EventPieces.read`` then reads the
canonical events of any run of that order back from the files (a slice of each file; one contiguous slice when
the input is already in entity/time order).
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from latte_vt.data.transactions.load import RAW_PREFIX, require_polars, scan_files
from latte_vt.data.transactions.schema import EventSchema, load_schema
from latte_vt.data.transactions.validate import (
    REASONS,
    BadEventError,
    ValidationReport,
    entity_time_order,
    reason_columns,
    rejects_frame,
    rejects_schema,
    with_raw,
)
from latte_vt.data.transactions.writer import write_frames

if TYPE_CHECKING:
    import polars as pl

PIECE_EVENTS = 65_536
"""Default rows read and checked at once (and events encoded and scored at once by ``TransactionScorer.score_file``)."""
KEYS = ("file_index", "source_row", "entity", "time")
ROW_BITS = 40  # an event's position: file_index << ROW_BITS | source_row


@dataclass
class EventPieces:
    """Accepted events of validated files in entity/time order, as 8-byte positions (``rows``: file_index <<
    ``ROW_BITS`` | source_row) and events per entity (``lengths`` (E,)), readable back in runs (``read``), with the
    validation report."""

    scans: list[pl.LazyFrame]
    rows: np.ndarray
    lengths: np.ndarray
    report: ValidationReport

    def read(self, start: int, end: int) -> pl.DataFrame:
        """The canonical events (``load_events``' columns) of ``rows[start:end]``, in that order: the slice of each
        file that holds its rows (filtered to them when it holds others), put in that order by one gather when
        the rows are not ascending (no join on the keys: that cost a piece of 65,536 events ~8 MiB more)."""
        pl = require_polars()
        rows = self.rows[start:end]
        names = [c for c in self.scans[0].collect_schema().names() if not c.startswith(RAW_PREFIX)]
        files, source = rows >> ROW_BITS, rows & ((1 << ROW_BITS) - 1)
        indices = np.unique(files).tolist()
        parts = [self.scans[0].select(names).clear().collect()] if not indices else []
        for index in indices:  # ascending positions: file by file, each file's rows ascending
            wanted = source if len(indices) == 1 else source[files == index]
            lo, hi = int(wanted.min()), int(wanted.max())
            scan = self.scans[index].slice(lo, hi - lo + 1)
            if hi - lo + 1 > len(wanted):  # gaps (rejected rows, rows of other runs): only the wanted ones
                scan = scan.filter(pl.col("source_row").is_in(pl.Series(wanted).implode()))
            parts.append(scan.select(names).collect())
        found = pl.concat(parts) if len(parts) > 1 else parts[0]
        if len(rows) > 1 and not (np.diff(rows) > 0).all():  # found in ascending positions -> the order of rows
            rank = np.empty(len(rows), dtype=np.int64)
            rank[np.argsort(rows)] = np.arange(len(rows))
            found = found[rank]
        return found.drop("file_index")


def positions(keys: pl.DataFrame) -> np.ndarray:
    """The ``EventPieces.rows`` positions of frames with ``file_index`` and ``source_row`` (N,) int64."""
    return (keys["file_index"].to_numpy() << ROW_BITS) | keys["source_row"].to_numpy()


def sorted_keys(scans: list[pl.LazyFrame], accepted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the ``accepted`` events in entity/time order (ties: input order) and events per entity: the keys
    of every file read again (only for input that is not already in that order)."""
    pl = require_polars()
    keys = pl.concat([scan.select(KEYS).collect() for scan in scans])
    keys = keys.filter(pl.Series(positions(keys)).is_in(pl.Series(accepted).implode()))
    keys = entity_time_order(keys)
    return positions(keys), keys.select(pl.col("entity").rle().struct.field("len")).to_series().to_numpy()


class _Checker:
    """The checks of ``validate_events`` for one slice after another, carrying the accepted ids and each entity's
    latest accepted time, and counting what it saw."""

    def __init__(self, schema: EventSchema, with_label: bool) -> None:
        pl = require_polars()
        self.schema, self.with_label = schema, with_label
        self.seen = pl.Series("event_id", [], dtype=pl.String)  # ids accepted by the row checks so far
        self.latest = pl.DataFrame(schema={"entity": pl.String, "latest": pl.Datetime("us", "UTC")})
        self.files: dict[str, dict[str, int]] = {}
        self.reasons: dict[str, int] = {}
        self.late = 0
        self.in_order, self.last = True, None  # accepted keys so far in entity/time order; the latest of them
        self.runs = array("q")  # events per entity so far, while in order

    def check(self, piece: pl.LazyFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """One slice of a file: the keys of its accepted events (input order), its rejects (``rejects_frame``)."""
        pl = require_polars()
        reason, column = reason_columns(piece, self.schema, self.with_label)
        frame = piece.select(*KEYS, "event_id", "source_file", reject_reason=reason, reject_column=column).collect()
        ok = pl.col("reject_reason").is_null()
        earlier = self.seen.filter(
            self.seen.is_in(frame.filter(ok)["event_id"].implode())
        )  # ids also in earlier slices
        duplicate = ok & (
            ~pl.when(ok).then(pl.col("event_id")).is_first_distinct() | pl.col("event_id").is_in(earlier.implode())
        )
        frame = self._reject(frame, duplicate, "duplicate_event_id", self.schema.event_id or "event_id")
        self.seen.append(frame.filter(ok)["event_id"])

        frame = frame.join(self.latest, on="entity", how="left", maintain_order="left")
        within = pl.when(ok).then(pl.col("time")).cum_max().forward_fill().shift(1).over("entity")
        late = ok & (pl.col("time") < pl.max_horizontal(within, "latest")).fill_null(False)
        frame = frame.with_columns(late=late).drop("latest")
        latest = frame.filter(ok).group_by("entity").agg(latest=pl.col("time").max())
        self.latest = pl.concat([self.latest, latest]).group_by("entity").agg(pl.col("latest").max())
        if self.schema.out_of_order == "reject":
            frame = self._reject(frame, pl.col("late"), "out_of_order", "+".join(self.schema.time.columns))

        bad = frame.filter(~ok)
        if bad.height:
            raw = [c for c in piece.collect_schema().names() if c.startswith(RAW_PREFIX)]
            bad = with_raw(bad, piece, raw)
            if self.schema.on_error == "fail":
                raise BadEventError.first_of(bad)
            for name, n in bad["reject_reason"].value_counts().iter_rows():
                self.reasons[name] = self.reasons.get(name, 0) + n
        if frame.height:
            counts = self.files.setdefault(frame["source_file"][0], {"input_rows": 0, "rejected": 0})
            counts["input_rows"] += frame.height
            counts["rejected"] += bad.height
        accepted = frame.filter(ok).select(*KEYS, "late")
        self.late += int(accepted["late"].sum())
        self._follow_order(accepted)
        return accepted.drop("late"), rejects_frame(bad)

    def _follow_order(self, accepted: pl.DataFrame) -> None:
        """Follow whether accepted events (input order) are in entity/time order, and their entity runs."""
        pl = require_polars()
        if not self.in_order or accepted.height == 0:
            return
        entity, time = pl.col("entity"), pl.col("time")
        before = pl.concat([self.last, accepted.select("entity", "time")]) if self.last is not None else accepted
        unsorted = (entity < entity.shift(1)) | ((entity == entity.shift(1)) & (time < time.shift(1)))
        self.in_order = not before.select(unsorted.any()).item()
        runs = accepted.select(entity.rle()).unnest("entity")  # len, value
        lengths = runs["len"].to_list()
        if self.last is not None and runs["value"][0] == self.last["entity"][0]:  # the last entity goes on
            self.runs[-1] += lengths.pop(0)
        self.runs.extend(lengths)
        self.last = accepted.select("entity", "time").tail(1)

    @staticmethod
    def _reject(frame: pl.DataFrame, rows: pl.Expr, reason: str, column: str) -> pl.DataFrame:
        import polars as pl

        return frame.with_columns(
            reject_reason=pl.when(rows).then(pl.lit(reason)).otherwise("reject_reason"),
            reject_column=pl.when(rows).then(pl.lit(column)).otherwise("reject_column"),
        )


def validate_in_pieces(
    paths: str | Path | Sequence[str | Path],
    schema: EventSchema | str | Path | dict,
    rejects_path: str | Path | None = None,
    with_label: bool = True,
    piece_events: int = PIECE_EVENTS,
) -> EventPieces:
    """``load_events`` in slices of ``piece_events`` rows: the accepted events' keys in entity/time order (read
    them with ``EventPieces.read``), rejects written to ``rejects_path`` as they come, the same report."""
    pl = require_polars()
    schema = load_schema(schema)
    scans, _ = scan_files(paths, schema, with_label)
    checker, accepted = _Checker(schema, with_label), []

    def rejects() -> Iterator[pl.DataFrame]:
        for scan in scans:
            for a in range(0, scan.select(pl.len()).collect().item(), piece_events):
                keys, bad = checker.check(scan.slice(a, piece_events))
                accepted.append(positions(keys))
                if bad.height:
                    yield bad

    if rejects_path is None:
        deque(rejects(), maxlen=0)
    else:
        raw = [c for c in scans[0].collect_schema().names() if c.startswith(RAW_PREFIX)]
        write_frames(rejects(), rejects_path, rejects_schema(raw), keep_empty=False)
    rows = np.concatenate(accepted) if accepted else np.empty(0, dtype=np.int64)
    accepted.clear()
    if checker.in_order:  # a log in entity/time order: the input order, no keys kept nor sorted
        lengths = np.frombuffer(checker.runs, dtype=np.int64)
    else:
        rows, lengths = sorted_keys(scans, rows)
    rejected = sum(checker.reasons.values())
    report = ValidationReport(
        input_rows=len(rows) + rejected,
        accepted=len(rows),
        rejected=rejected,
        by_reason={r: checker.reasons[r] for r in REASONS if r in checker.reasons},
        out_of_order_sorted=checker.late,
        files=dict(sorted(checker.files.items())),
        rejects_path=str(rejects_path) if rejected and rejects_path is not None else None,
    )
    return EventPieces(scans, rows, lengths, report)

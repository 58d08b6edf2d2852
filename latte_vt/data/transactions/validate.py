"""Find bad event rows; fail on the first or quarantine them with their reason. Nothing is dropped silently.

Checks, in this order (a row gets the first reason that applies):

====================  ===============================================================
reason                meaning
====================  ===============================================================
null_entity           an entity id column is empty
null_time             a time column (or part) is empty
unparseable_time      the time does not parse (or does not exist in the time zone)
null_amount           the amount is empty
unparseable_amount    the amount is not a finite number (after removing $ € £ , and spaces)
null_numeric          a numeric field is empty
unparseable_numeric   a numeric field is not a finite number
unparseable_label     the label is not one of 1/0, true/false, yes/no, y/n, t/f, fraud/legit
null_event_id         the event id is empty
duplicate_event_id    an earlier row (input order: file, then row) has the same event id; the first is kept
out_of_order          (only with ``out_of_order: reject``) earlier than an event before it of the same
                      entity in input order
====================  ===============================================================

Missing columns and unusable column types are always fatal (``SchemaError``). With
``out_of_order: sort`` (the default) late events are accepted, counted in the report and sorted into
place: the output is always in per-entity time order. ``accepted + rejected == input rows``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from latte_vt.data.transactions.load import RAW_PREFIX, require_polars, scan_events
from latte_vt.data.transactions.schema import EventSchema, load_schema
from latte_vt.errors import InputError

if TYPE_CHECKING:
    import polars as pl

REASONS = (
    "null_entity",
    "null_time",
    "unparseable_time",
    "null_amount",
    "unparseable_amount",
    "null_numeric",
    "unparseable_numeric",
    "unparseable_label",
    "null_event_id",
    "duplicate_event_id",
    "out_of_order",
)
META = ("source_file", "source_row", "reject_reason", "reject_column")


class BadEventError(InputError):
    """A bad row under ``on_error: fail``: names the file, row, column and reason."""

    def __init__(self, file: str, row: int, column: str, reason: str, value: Any) -> None:
        self.file, self.row, self.column, self.reason, self.value = file, row, column, reason, value
        super().__init__(f"{file}: row {row} (0-based data row), column {column!r}: {reason} (value {value!r})")

    @classmethod
    def first_of(cls, bad: pl.DataFrame) -> BadEventError:
        """The error of the first of bad rows (``with_raw``: with their original values)."""
        first = bad.row(0, named=True)
        values = [first.get(RAW_PREFIX + c, first.get(c)) for c in first["reject_column"].split("+")]
        value = values[0] if len(values) == 1 else values
        return cls(first["source_file"], first["source_row"], first["reject_column"], first["reject_reason"], value)


@dataclass
class ValidationReport:
    """Counts of what came in, what was accepted and what was rejected, by reason and by file."""

    input_rows: int
    accepted: int
    rejected: int
    by_reason: dict[str, int]
    out_of_order_sorted: int
    files: dict[str, dict[str, int]] = field(default_factory=dict)
    rejects_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        reasons = ", ".join(f"{k}={v}" for k, v in self.by_reason.items()) or "none"
        text = f"{self.input_rows} rows: {self.accepted} accepted, {self.rejected} rejected ({reasons})"
        if self.out_of_order_sorted:
            text += f"; {self.out_of_order_sorted} out-of-order events sorted into place"
        if self.rejects_path:
            text += f"; rejects in {self.rejects_path}"
        return text


@dataclass
class ValidatedEvents:
    """Accepted events (canonical columns, per-entity time order), rejected rows and the report."""

    events: pl.DataFrame
    rejects: pl.DataFrame
    report: ValidationReport


def _row_checks(lf: pl.LazyFrame, schema: EventSchema, with_label: bool) -> list[tuple[str, str, pl.Expr]]:
    """(reason, column, bad-row expression) in priority order, over the columns ``scan_file`` makes."""
    pl = require_polars()
    dtypes = lf.collect_schema()

    def blank(column: str) -> pl.Expr:
        raw = pl.col(RAW_PREFIX + column)
        if dtypes[RAW_PREFIX + column] == pl.String:
            return raw.is_null() | (raw.str.strip_chars().str.len_chars() == 0)
        return raw.is_null()

    time_cols = schema.time.columns
    checks = [("null_entity", c, blank(c)) for c in schema.entity]
    checks += [("null_time", c, blank(c)) for c in time_cols]
    checks += [("unparseable_time", "+".join(time_cols), pl.col("time").is_null())]
    checks += [("null_amount", schema.amount, blank(schema.amount))]
    checks += [("unparseable_amount", schema.amount, pl.col("amount").is_null())]
    for c in schema.numeric:
        checks += [("null_numeric", c, blank(c)), ("unparseable_numeric", c, pl.col(c).is_null())]
    if with_label and schema.label:
        checks += [("unparseable_label", schema.label, ~blank(schema.label) & pl.col("label").is_null())]
    if schema.event_id:
        checks += [("null_event_id", schema.event_id, blank(schema.event_id))]
    return checks


def reason_columns(lf: pl.LazyFrame, schema: EventSchema, with_label: bool) -> tuple[pl.Expr, pl.Expr]:
    """The first row check each row of a ``scan_events`` frame fails: (reason, column), null when it passes them."""
    pl = require_polars()
    checks = _row_checks(lf, schema, with_label)
    reason = pl.lit(None, dtype=pl.String)
    column = pl.lit(None, dtype=pl.String)
    for name, col, bad in reversed(checks):
        reason = pl.when(bad).then(pl.lit(name)).otherwise(reason)
        column = pl.when(bad).then(pl.lit(col)).otherwise(column)
    return reason, column


def validate_events(
    lf: pl.LazyFrame, schema: EventSchema, rejects_path: str | Path | None = None, with_label: bool = True
) -> ValidatedEvents:
    """Split a ``scan_events`` frame into accepted events (canonical columns, sorted by entity then
    time) and rejects; raise ``BadEventError`` on the first bad row under ``on_error: fail``.

    Rejects (when there are any and ``rejects_path`` is given) are written there (.parquet or .csv)
    with ``source_file``, ``source_row``, ``reject_reason``, ``reject_column`` and the original values.
    """
    pl = require_polars()
    reason, column = reason_columns(lf, schema, with_label)
    id_column = schema.event_id or "event_id"
    time_column = "+".join(schema.time.columns)
    source, raw = lf, [c for c in lf.collect_schema().names() if c.startswith(RAW_PREFIX)]
    # the original values are read again only for bad rows (``with_raw``): holding them for every row costs more
    # memory than the canonical events
    frame = lf.with_columns(reject_reason=reason, reject_column=column).drop(raw).collect()
    input_order = (pl.col("file_index") * 2**40 + pl.col("source_row")).is_sorted()
    if not frame.select(input_order).item():
        frame = frame.sort("file_index", "source_row")
    lf = frame.lazy()

    ok = pl.col("reject_reason").is_null()
    duplicate = ok & ~pl.when(ok).then(pl.col("event_id")).is_first_distinct()
    lf = lf.with_columns(
        reject_reason=pl.when(duplicate).then(pl.lit("duplicate_event_id")).otherwise("reject_reason"),
        reject_column=pl.when(duplicate).then(pl.lit(id_column)).otherwise("reject_column"),
    )
    ok = pl.col("reject_reason").is_null()
    earlier_max = pl.when(ok).then(pl.col("time")).cum_max().forward_fill().shift(1).over("entity")
    late = ok & (pl.col("time") < earlier_max).fill_null(False)
    lf = lf.with_columns(late=late)
    if schema.out_of_order == "reject":
        lf = lf.with_columns(
            reject_reason=pl.when("late").then(pl.lit("out_of_order")).otherwise("reject_reason"),
            reject_column=pl.when("late").then(pl.lit(time_column)).otherwise("reject_column"),
        )
    frame = lf.collect()

    bad = with_raw(frame.filter(pl.col("reject_reason").is_not_null()), source, raw)
    if schema.on_error == "fail" and bad.height:
        raise BadEventError.first_of(bad)

    canonical = [c for c in frame.columns if c not in ("reject_reason", "reject_column", "late", "file_index")]
    accepted = frame.filter(pl.col("reject_reason").is_null()) if bad.height else frame
    out_of_order_sorted = int(accepted["late"].sum())
    accepted = entity_time_order(accepted).select(canonical)

    rejects = rejects_frame(bad)
    written = None
    if rejects.height and rejects_path is not None:
        written = _write_rejects(rejects, Path(rejects_path))
    per_file = frame.group_by("source_file").agg(
        input_rows=pl.len(), rejected=pl.col("reject_reason").is_not_null().sum()
    )
    counts = dict(bad["reject_reason"].value_counts().iter_rows())
    report = ValidationReport(
        input_rows=frame.height,
        accepted=accepted.height,
        rejected=bad.height,
        by_reason={r: int(counts[r]) for r in REASONS if r in counts},
        out_of_order_sorted=out_of_order_sorted,
        files={f: {"input_rows": int(n), "rejected": int(r)} for f, n, r in per_file.sort("source_file").iter_rows()},
        rejects_path=written,
    )
    return ValidatedEvents(accepted, rejects, report)


def with_raw(bad: pl.DataFrame, lf: pl.LazyFrame, raw: list[str]) -> pl.DataFrame:
    """Bad rows with their original values (``raw:*`` columns of ``lf``, the scan), matched by file and row."""
    pl = require_polars()
    if bad.height == 0:
        dtypes = lf.select(raw).collect_schema()
        return bad.with_columns(pl.lit(None, dtype=dtypes[c]).alias(c) for c in raw)
    keys = bad.lazy().select("file_index", "source_row")
    values = lf.select("file_index", "source_row", *raw).join(keys, on=["file_index", "source_row"], how="semi")
    return bad.join(values.collect(), on=["file_index", "source_row"], how="left", maintain_order="left")


def entity_time_order(frame: pl.DataFrame) -> pl.DataFrame:
    """Sort by entity (lexically) then time; ties keep their order. Sorts integer codes, not strings."""
    pl = require_polars()
    names = frame["entity"].unique().sort()
    code = pl.col("entity").replace_strict(names, pl.int_range(len(names), eager=True), return_dtype=pl.Int64)
    return frame.with_columns(entity_code=code).sort("entity_code", "time", maintain_order=True).drop("entity_code")


def rejects_frame(bad: pl.DataFrame) -> pl.DataFrame:
    """Bad rows with their reason and original values (under their original column names)."""
    pl = require_polars()
    raw = [c for c in bad.columns if c.startswith(RAW_PREFIX)]
    columns = (pl.col(c).cast(pl.String).alias(rejects_column(c)) for c in raw)
    meta = [pl.col("source_file").cast(pl.String), *META[1:]]
    return bad.sort("file_index", "source_row").select(*meta, *columns)


def rejects_column(raw: str) -> str:
    """The rejects' name of a ``raw:`` column: the original name (``<name> (raw)`` when that is a meta column)."""
    name = raw[len(RAW_PREFIX) :]
    return name if name not in META else f"{name} (raw)"


def rejects_schema(raw: list[str]) -> dict[str, pl.DataType]:
    """The columns and types of ``rejects_frame`` for a scan with these ``raw:`` columns."""
    pl = require_polars()
    meta = {"source_file": pl.String, "source_row": pl.Int64, "reject_reason": pl.String, "reject_column": pl.String}
    return meta | {rejects_column(c): pl.String for c in raw}


def _write_rejects(rejects: pl.DataFrame, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        rejects.write_parquet(path)
    else:
        rejects.write_csv(path)
    return str(path)


def load_events(
    paths: str | Path | Sequence[str | Path],
    schema: EventSchema | str | Path | dict,
    rejects_path: str | Path | None = None,
    with_label: bool = True,
) -> ValidatedEvents:
    """Scan, map and validate event files: accepted canonical events (per-entity time order), rejects, report.

    Args:
        paths: files, globs or folders of .csv/.parquet files.
        schema: an ``EventSchema``, its mapping, or a YAML path.
        rejects_path: where bad rows go under ``on_error: quarantine`` (.parquet or .csv).
        with_label: read the label column (False for scoring input that has none).
    """
    schema = load_schema(schema)
    lf, _ = scan_events(paths, schema, with_label)
    return validate_events(lf, schema, rejects_path, with_label)

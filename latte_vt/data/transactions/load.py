"""Scan CSV/Parquet event files lazily and map them to the canonical event frame.

Canonical columns: ``event_id`` (str), ``entity`` (str), ``time`` (datetime[us, UTC]), ``amount``
(float64), one column per categorical field (str), one per numeric field (float64), ``label`` (int8,
null = unlabelled), the pass-through columns, ``source_file`` (categorical) and ``source_row`` (int64, the
0-based data row in that file; a CSV's line number is ``source_row + 2``).

CSV files are read with every column as a string, so one odd value never breaks a whole file: each
value is parsed here, and values that do not parse become nulls that ``validate`` turns into
rejects with their reason and the original text. Time strings without a configured ``format`` may
use any of ``ISO_FORMATS`` (a trailing "Z" = UTC); the formats a file uses are detected from its
first 1000 non-empty values.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from latte_vt.data.transactions.schema import EventSchema, SchemaError, TimeSpec
from latte_vt.errors import InputError

if TYPE_CHECKING:
    import polars as pl

SUFFIXES = (".csv", ".parquet")
RAW_PREFIX = "raw:"
"""Original values of the columns the schema reads are kept under ``raw:<column>`` (for the rejects)."""
NULL_CATEGORY = "<null>"
LABEL_VALUES = {
    **dict.fromkeys(("1", "1.0", "true", "t", "yes", "y", "fraud"), 1),
    **dict.fromkeys(("0", "0.0", "false", "f", "no", "n", "legit"), 0),
}
ISO_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)


def require_polars():
    """Import polars, or say how to install it."""
    try:
        import polars
    except ImportError as exc:
        raise ImportError("transaction data needs polars: pip install 'latte-vt[transactions]'") from exc
    return polars


def resolve_paths(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    """Files from paths, globs and folders (folders: their *.parquet and *.csv files), in the given order.

    Glob matches and folder contents are sorted; a file named twice is read once.
    """
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    found: list[Path] = []
    for item in items:
        text = str(item)
        if glob.has_magic(text):
            matches = sorted(Path(p) for p in glob.glob(text, recursive=True))
            if not matches:
                raise FileNotFoundError(f"no files match {text!r}")
        elif Path(text).is_dir():
            matches = sorted(p for p in Path(text).iterdir() if p.suffix.lower() in SUFFIXES)
            if not matches:
                raise FileNotFoundError(f"no .csv or .parquet files in folder {text!r}")
        elif Path(text).is_file():
            matches = [Path(text)]
        else:
            raise FileNotFoundError(f"event file not found: {text!r}")
        for path in matches:
            if path.suffix.lower() not in SUFFIXES:
                raise InputError(f"{path}: unsupported file type {path.suffix!r} (expected .csv or .parquet)")
        found.extend(matches)
    return list(dict.fromkeys(found))


def _scan(path: Path, row_index: str | None = None) -> pl.LazyFrame:
    """The file as read (CSV: every column a string), with its 0-based data row in column ``row_index`` (UInt32)
    when given: numbered by the reader itself, so a slice of the frame reads only the rows (Parquet: the row
    groups) it covers, where a row index added afterwards makes every slice read the file from its start."""
    pl = require_polars()
    try:
        if path.suffix.lower() == ".csv":
            lf = pl.scan_csv(path, infer_schema=False, row_index_name=row_index)
        else:
            lf = pl.scan_parquet(path, row_index_name=row_index)
        lf.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise SchemaError(f"{path}: cannot read the file: {exc}") from exc
    return lf


def _dtype_of(lf: pl.LazyFrame, expr: pl.Expr) -> pl.DataType:
    return lf.select(expr.alias("x")).collect_schema()["x"]


def _to_utc(lf: pl.LazyFrame, expr: pl.Expr, timezone: str) -> pl.Expr:
    """A datetime expression in UTC, microseconds; naive values are read in ``timezone``."""
    if _dtype_of(lf, expr).time_zone is None:
        expr = expr.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
    return expr.dt.convert_time_zone("UTC").dt.cast_time_unit("us")


def _parse_strings(lf: pl.LazyFrame, text: pl.Expr, formats: Sequence[str], timezone: str) -> pl.Expr:
    """Datetimes from strings, trying each format in turn.

    With several candidate formats, only those that parse some of the file's first 1000 non-empty
    values are tried on the whole column (one parse pass instead of one per candidate); values in
    other formats then count as unparseable.
    """
    pl = require_polars()
    text = text.str.strip_chars()
    if len(formats) > 1:
        sample = lf.select(text.alias("t")).drop_nulls().head(1000)
        found = sample.select(
            pl.col("t").str.to_datetime(f, strict=False).is_not_null().any().alias(f) for f in formats
        )
        hits = found.collect().row(0)
        formats = [f for f, hit in zip(formats, hits, strict=True) if hit] or formats
    tries = [_to_utc(lf, text.str.to_datetime(fmt, strict=False, time_unit="us"), timezone) for fmt in formats]
    return pl.coalesce(tries)


def _time_expr(lf: pl.LazyFrame, spec: TimeSpec, path: Path) -> pl.Expr:
    pl = require_polars()
    if spec.parts is not None:
        parts = {k: pl.col(v).cast(pl.String).str.strip_chars() for k, v in spec.parts.items()}
        date = pl.concat_str(parts["year"], pl.lit("-"), parts["month"], pl.lit("-"), parts["day"])
        if "clock" in parts:
            text = pl.concat_str(date, pl.lit(" "), parts["clock"])
            formats = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")
        else:
            hms = [parts.get(k, pl.lit("0")) for k in ("hour", "minute", "second")]
            text = pl.concat_str(date, pl.lit(" "), hms[0], pl.lit(":"), hms[1], pl.lit(":"), hms[2])
            formats = ("%Y-%m-%d %H:%M:%S",)
        return _parse_strings(lf, text, formats, spec.timezone)
    col = pl.col(spec.column)
    dtype = lf.collect_schema()[spec.column]
    if dtype == pl.Datetime or dtype == pl.Date:
        return _to_utc(
            lf, col.cast(pl.Datetime("us", dtype.time_zone if dtype == pl.Datetime else None)), spec.timezone
        )
    if dtype.is_integer() or (dtype == pl.String and spec.unit is not None):
        if spec.unit is None:
            raise SchemaError(f"{path}: time column {spec.column!r} holds integers; set time.unit (s, ms or us)")
        return (
            pl.from_epoch(col.cast(pl.Int64, strict=False), time_unit=spec.unit)
            .dt.replace_time_zone("UTC")
            .dt.cast_time_unit("us")
        )
    if dtype == pl.String and spec.format:
        return _parse_strings(lf, col, (spec.format,), spec.timezone)
    if dtype == pl.String:  # ISO-like; a trailing "Z" means UTC
        return _parse_strings(lf, col.str.strip_chars().str.replace(r"Z$", "+00:00"), ISO_FORMATS, spec.timezone)
    raise SchemaError(
        f"{path}: time column {spec.column!r} has type {dtype}; expected datetime, date, string or integer"
    )


def _number_expr(lf: pl.LazyFrame, column: str, role: str, path: Path) -> pl.Expr:
    """Float64 from numbers or strings such as "$1,234.50", "$-12.00", "(3.50)"; unparseable or non-finite -> null."""
    pl = require_polars()
    dtype = lf.collect_schema()[column]
    if dtype.is_numeric():
        value = pl.col(column).cast(pl.Float64)
    elif dtype == pl.String:
        text = pl.col(column).str.strip_chars().str.replace(r"^\((.*)\)$", "-$1").str.replace_all(r"[$€£,\s]", "")
        value = text.cast(pl.Float64, strict=False)
    else:
        raise SchemaError(f"{path}: {role} column {column!r} has type {dtype}; expected numbers or strings")
    return pl.when(value.is_finite()).then(value)


def _string_expr(lf: pl.LazyFrame, column: str, role: str, path: Path) -> pl.Expr:
    pl = require_polars()
    dtype = lf.collect_schema()[column]
    if dtype.is_nested() or dtype == pl.Binary:
        raise SchemaError(f"{path}: {role} column {column!r} has type {dtype}; expected scalar values")
    text = pl.col(column).cast(pl.String).str.strip_chars()
    return pl.when(text.str.len_chars() > 0).then(text)


def scan_file(path: Path, schema: EventSchema, file_index: int, with_label: bool = True) -> pl.LazyFrame:
    """One file as a lazy frame of canonical columns (unvalidated: bad values are null) plus raw values.

    Raises ``SchemaError`` naming the file and columns when columns are missing or of an unusable type.
    """
    pl = require_polars()
    lf = _scan(path, "source_row")
    present = [c for c in lf.collect_schema().names() if c != "source_row"]
    wanted = [c for c in schema.source_columns if with_label or c != schema.label]
    missing = [c for c in wanted if c not in present]
    if missing:
        raise SchemaError(f"{path}: missing column(s) {missing}; the file has {present}")

    entity_parts = [_string_expr(lf, c, "entity", path) for c in schema.entity]
    event_id = (
        _string_expr(lf, schema.event_id, "event_id", path)
        if schema.event_id
        else pl.concat_str(pl.lit(f"{path}:"), pl.col("source_row").cast(pl.String))
    )
    if with_label and schema.label:
        label_text = _string_expr(lf, schema.label, "label", path).str.to_lowercase()
        label = label_text.replace_strict(LABEL_VALUES, default=None, return_dtype=pl.Int8)
    else:
        label = pl.lit(None, dtype=pl.Int8)
    canonical = [
        event_id.alias("event_id"),
        pl.concat_str(entity_parts, separator="|").alias("entity"),
        _time_expr(lf, schema.time, path).alias("time"),
        _number_expr(lf, schema.amount, "amount", path).alias("amount"),
        *(_string_expr(lf, c, "categorical", path).fill_null(NULL_CATEGORY).alias(c) for c in schema.categorical),
        *(_number_expr(lf, c, "numeric", path).alias(c) for c in schema.numeric),
        label.alias("label"),
        *(pl.col(c) for c in schema.passthrough),
        pl.lit(str(path), dtype=pl.Categorical).alias("source_file"),
        pl.col("source_row"),
        pl.lit(file_index, dtype=pl.Int64).alias("file_index"),
        *(pl.col(c).alias(RAW_PREFIX + c) for c in wanted),
    ]
    return lf.with_columns(pl.col("source_row").cast(pl.Int64)).select(canonical)


def scan_files(
    paths: str | Path | Sequence[str | Path], schema: EventSchema, with_label: bool = True
) -> tuple[list[pl.LazyFrame], list[Path]]:
    """Each file as a lazy frame of ``scan_file`` (same columns and types in every file), with the files.

    Raw and pass-through columns whose types differ between files (say a CSV and a Parquet file)
    are read as strings.
    """
    pl = require_polars()
    files = resolve_paths(paths)
    frames = [scan_file(path, schema, i, with_label) for i, path in enumerate(files)]
    schemas = [f.collect_schema() for f in frames]
    mixed = [c for c in schemas[0].names() if len({s[c] for s in schemas}) > 1]
    return [f.with_columns(pl.col(c).cast(pl.String) for c in mixed) for f in frames], files


def scan_events(
    paths: str | Path | Sequence[str | Path], schema: EventSchema, with_label: bool = True
) -> tuple[pl.LazyFrame, list[Path]]:
    """All files as one lazy frame in input order (file, then row), with the files read (``scan_files``)."""
    pl = require_polars()
    frames, files = scan_files(paths, schema, with_label)
    return pl.concat(frames, how="vertical"), files

"""``write_frames``: frames appended to one .parquet or .csv file as they come (polars streams them to the file),
so a long run never holds its whole output; the file appears under its name only when complete."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from latte_vt.data.transactions.load import require_polars
from latte_vt.errors import InputError

if TYPE_CHECKING:
    import polars as pl


def write_frames(frames: Iterator[pl.DataFrame], path: str | Path, schema: Any, keep_empty: bool = True) -> int:
    """Write every frame of ``frames`` (each with the columns and types of ``schema``, a polars schema) to ``path``
    (.parquet or .csv) through ``<path>.partial``, moved into place when all are written (removed on an error, and
    when none had rows unless ``keep_empty``).  Returns the rows written."""
    pl = require_polars()
    from polars.io.plugins import register_io_source

    path = Path(path)
    if path.suffix.lower() not in (".parquet", ".csv"):
        raise InputError(f"{path}: output must end in .parquet or .csv")
    partial = path.with_name(path.name + ".partial")
    rows = 0

    def source(*_: Any) -> Iterator[pl.DataFrame]:  # polars pulls the frames in order (projection: all columns)
        nonlocal rows
        for frame in frames:
            rows += frame.height
            yield frame

    lazy = register_io_source(source, schema=pl.Schema(schema))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        lazy.sink_parquet(partial) if path.suffix.lower() == ".parquet" else lazy.sink_csv(partial)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if rows or keep_empty:
        partial.replace(path)
    else:
        partial.unlink()
    return rows

"""``FrameWriter``: frames appended to one .parquet (a row group each) or .csv file as they come, so a long run
never holds its whole output; the file appears under its name only when complete."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from latte_vt.errors import InputError

if TYPE_CHECKING:
    import polars as pl


class FrameWriter:
    """``with FrameWriter(path) as out: out.write(frame)``: written to ``<path>.partial``, moved to ``path`` when the
    block ends without an error (removed when it raises).  Every frame must have the first one's columns and types.

    Args:
        path: a .parquet or .csv file.
        empty: written when no frame was (a frame of the output's columns, no rows); None: no file then.
    """

    def __init__(self, path: str | Path, empty: pl.DataFrame | None = None) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in (".parquet", ".csv"):
            raise InputError(f"{self.path}: output must end in .parquet or .csv")
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.empty = empty
        self.rows = 0
        self._sink: Any = None  # pyarrow ParquetWriter or a text file, opened by the first frame

    def write(self, frame: pl.DataFrame) -> None:
        parquet, first = self.path.suffix.lower() == ".parquet", self._sink is None
        if first:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if parquet:
                import pyarrow.parquet as pq

                self._sink = pq.ParquetWriter(self.partial, frame.to_arrow().schema, compression="zstd")
            else:
                self._sink = self.partial.open("w", newline="")
        if parquet:
            self._sink.write_table(frame.to_arrow())
        else:
            frame.write_csv(self._sink, include_header=first)
        self.rows += frame.height

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._sink is None and kind is None and self.empty is not None:
            self.write(self.empty)
        if self._sink is not None:
            self._sink.close()
            if kind is None:
                self.partial.replace(self.path)
            else:
                self.partial.unlink(missing_ok=True)

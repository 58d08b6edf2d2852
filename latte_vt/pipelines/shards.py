"""Shards and the job folder: every shard's files are written atomically, and a marker written last says
the shard is done, so a rerun skips finished shards and redoes the rest.

Job folder layout (``<out>``)::

    _job.json                  the spec and the fingerprint of its inputs and model (a rerun must match)
    <results>/part-00000.parquet   the shard's rows (``scores/`` or ``predictions/``)
    rejects/part-00000.parquet     rows or files the shard refused, with the reason (only when there are any)
    _done/part-00000.json          written last: the shard's counts; its presence means the shard is done
    summary.json                   the last run's summary

Every file is written to a temporary name in the same folder and renamed into place (``os.replace``),
so a reader, or a rerun after a crash, never sees half a file.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from latte_vt.errors import InputError

if TYPE_CHECKING:
    import polars as pl

JOB_FILE = "_job.json"
DONE_DIR = "_done"
REJECTS_DIR = "rejects"
TMP_MARK = ".tmp-"


@dataclass(frozen=True)
class Shard:
    """One unit of work: a hash bucket of entities (``items`` empty) or a chunk of files."""

    index: int
    items: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"part-{self.index:05d}"


@dataclass
class ShardResult:
    """What one shard did; ``error`` set means it failed and wrote nothing (a rerun retries it)."""

    shard: int
    input: int = 0
    output: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage (``latte_vt.predict.stages``)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ShardResult:
        return cls(**json.loads(text))


class OutputFolderError(InputError):
    """The output folder holds something a job must not overwrite or resume from."""


def write_atomic(path: Path, write: Callable[[Path], Any]) -> Path:
    """``write(tmp)`` to a temporary file next to ``path``, then rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


class JobFolder:
    """The output folder of one job (see the module docstring for the layout)."""

    def __init__(self, root: str | Path, results: str) -> None:
        self.root = Path(root)
        self.results = results

    def part(self, shard: Shard) -> Path:
        return self.root / self.results / f"{shard.name}.parquet"

    def rejects(self, shard: Shard) -> Path:
        return self.root / REJECTS_DIR / f"{shard.name}.parquet"

    def marker(self, shard: Shard) -> Path:
        return self.root / DONE_DIR / f"{shard.name}.json"

    def prepare(self, spec: dict[str, Any], fingerprint: dict[str, Any], overwrite: bool) -> None:
        """Create the folder, or check that it holds this very job (same fingerprint) so it can resume.

        ``overwrite`` clears a folder of another job's results; a non-empty folder that is not a job
        folder is never touched.
        """
        job_file = self.root / JOB_FILE
        fingerprint = json.loads(json.dumps(fingerprint))  # as it reads back from _job.json
        if job_file.is_file():
            recorded = json.loads(job_file.read_text()).get("fingerprint") or {}
            if recorded != fingerprint:
                if not overwrite:
                    changed = sorted(k for k in {*recorded, *fingerprint} if recorded.get(k) != fingerprint.get(k))
                    raise OutputFolderError(
                        f"{self.root} holds the results of a different job (changed: {', '.join(changed)}); "
                        "use another output folder, or --set overwrite=true to replace them"
                    )
                self._clear()
        elif self.root.exists() and any(self.root.iterdir()):
            raise OutputFolderError(f"{self.root} is not empty and is not a latte-vt job folder; pick another output")
        self.root.mkdir(parents=True, exist_ok=True)
        self._remove_temporaries()
        payload = {"spec": spec, "fingerprint": fingerprint}
        write_atomic(job_file, lambda tmp: tmp.write_text(json.dumps(payload, indent=2) + "\n"))

    def _clear(self) -> None:
        for name in (self.results, REJECTS_DIR, DONE_DIR):
            shutil.rmtree(self.root / name, ignore_errors=True)
        for name in (JOB_FILE, "summary.json"):
            (self.root / name).unlink(missing_ok=True)

    def _remove_temporaries(self) -> None:
        """Half-written files of an interrupted run (never renamed into place)."""
        for name in (self.results, REJECTS_DIR, DONE_DIR, "."):
            folder = self.root / name
            if folder.is_dir():
                for tmp in folder.glob(f".*{TMP_MARK}*"):
                    tmp.unlink(missing_ok=True)

    def finished(self, shard: Shard) -> ShardResult | None:
        """The recorded result of a finished shard, or None."""
        marker = self.marker(shard)
        return ShardResult.from_json(marker.read_text()) if marker.is_file() else None

    def write_shard(self, shard: Shard, rows: pl.DataFrame, rejects: pl.DataFrame, result: ShardResult) -> None:
        """Write the shard's rows and rejects, then its marker (last: the shard counts as done only now); the
        writing time is added to ``result`` (its ``write`` stage and ``seconds``)."""
        began = time.perf_counter()
        write_atomic(self.part(shard), rows.write_parquet)
        if rejects.height:
            write_atomic(self.rejects(shard), rejects.write_parquet)
        else:
            self.rejects(shard).unlink(missing_ok=True)
        wrote = time.perf_counter() - began
        result.stages["write"] = result.stages.get("write", 0.0) + wrote
        result.seconds += wrote
        write_atomic(self.marker(shard), lambda tmp: tmp.write_text(result.to_json() + "\n"))

    def write_summary(self, summary: dict[str, Any]) -> Path:
        path = self.root / "summary.json"
        return write_atomic(path, lambda tmp: tmp.write_text(json.dumps(summary, indent=2) + "\n"))

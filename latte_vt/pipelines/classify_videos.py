"""``classify-videos``: top-k labels for every clip of a folder, glob or CSV/TSV.

Shards are fixed-size chunks of the sorted file list.  Each file gives one row of
``predictions/part-XXXXX.parquet``: ``path, labels, probs`` (top-k, best first), ``frames_read`` (frames
decoded for the model's views) and ``error`` (null, or ``stage: reason`` for a file that could not be
classified).  Those files are also listed in ``rejects/`` (``path, stage, reason``); one bad file never
stops its shard.
"""

from __future__ import annotations

import glob
import hashlib
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from latte_vt.pipelines.models import clip_model, model_fingerprint
from latte_vt.pipelines.shards import Shard, ShardResult
from latte_vt.pipelines.spec import JobSpec

if TYPE_CHECKING:
    import polars as pl

RESULTS = "predictions"
UNIT = "clip"
VIDEO_TABLES = (".csv", ".tsv")


def list_files(inputs: tuple[str, ...]) -> list[str]:
    """Every video named by the inputs (folders recursively, globs, CSV/TSV ``path`` columns, single files),
    sorted, each once."""
    from latte_vt.data.video.check import gather_videos

    found: set[str] = set()
    for item in inputs:
        if glob.has_magic(item):
            matches = [p for p in glob.glob(item, recursive=True) if Path(p).is_file()]
            if not matches:
                raise FileNotFoundError(f"no files match {item!r}")
            found.update(str(Path(p)) for p in matches)
        elif Path(item).is_file() and Path(item).suffix.lower() not in VIDEO_TABLES:
            found.add(str(Path(item)))
        else:
            videos, _ = gather_videos(item)  # a folder (recursively) or the rows of a CSV/TSV
            found.update(str(p) for p in videos)
    if not found:
        raise FileNotFoundError(f"no video files in {', '.join(inputs)}")
    return sorted(found)


def plan(spec: JobSpec) -> tuple[list[Shard], int]:
    files = list_files(spec.input)
    size = spec.options.shard_size
    shards = [Shard(i, tuple(files[start : start + size])) for i, start in enumerate(range(0, len(files), size))]
    return shards, len(files)


def fingerprint(spec: JobSpec) -> dict[str, Any]:
    """What the results depend on: the file list, the shard size, top-k and the model."""
    files = list_files(spec.input)
    return {
        "job": spec.job,
        "files": len(files),
        "files_sha256": hashlib.sha256("\n".join(files).encode()).hexdigest(),
        "shard_size": spec.options.shard_size,
        "top_k": spec.options.top_k,
        "model": model_fingerprint(spec.model),
        "precision": spec.model.precision,
    }


def run_shard(spec: JobSpec, shard: Shard) -> tuple[pl.DataFrame, pl.DataFrame, ShardResult]:
    """Classify one chunk of files: (one row per file, the failed files, counts)."""
    import polars as pl

    o = spec.options
    found = clip_model(spec.model).classify(list(shard.items), o.top_k, o.batch_size, o.probe_timeout_s, False)
    rows = pl.DataFrame(
        {
            "path": [p.path for p in found],
            "labels": [p.labels for p in found],
            "probs": [p.probs for p in found],
            "frames_read": [p.frames_read for p in found],
            "error": [None if p.stage is None else f"{p.stage}: {p.reason}" for p in found],
        },
        schema={
            "path": pl.String,
            "labels": pl.List(pl.String),
            "probs": pl.List(pl.Float32),
            "frames_read": pl.Int64,
            "error": pl.String,
        },
    )
    failed = [p for p in found if p.stage is not None]
    rejects = pl.DataFrame(
        {"path": [p.path for p in failed], "stage": [p.stage for p in failed], "reason": [p.reason for p in failed]},
        schema={"path": pl.String, "stage": pl.String, "reason": pl.String},
    )
    by_stage = dict(Counter(p.stage for p in failed))
    return rows, rejects, ShardResult(shard.index, len(found), rows.height, len(failed), by_stage)

"""The job kinds and the one function every engine runs per shard."""

from __future__ import annotations

import importlib
import time
from types import ModuleType

from latte_vt.pipelines.shards import JobFolder, Shard, ShardResult
from latte_vt.pipelines.spec import JobSpec

JOB_MODULES = {
    "score-transactions": "latte_vt.pipelines.score_transactions",
    "classify-videos": "latte_vt.pipelines.classify_videos",
}
"""Each module has ``RESULTS`` (results folder), ``UNIT`` (item name), ``plan(spec) -> (shards, items)``,
``fingerprint(spec)`` and ``run_shard(spec, shard) -> (rows, rejects, ShardResult)``."""


def job_module(name: str) -> ModuleType:
    return importlib.import_module(JOB_MODULES[name])


def job_folder(spec: JobSpec) -> JobFolder:
    return JobFolder(spec.output, job_module(spec.job).RESULTS)


def execute_shard(spec: JobSpec, shard: Shard) -> ShardResult:
    """Run one shard and write its files (marker last); a shard that fails comes back with ``error`` set
    and leaves no marker, so the job goes on and a rerun retries it."""
    began = time.perf_counter()
    try:
        rows, rejects, result = job_module(spec.job).run_shard(spec, shard)
        result.seconds = time.perf_counter() - began
        job_folder(spec).write_shard(shard, rows, rejects, result)
    except Exception as exc:  # one shard's failure is reported, never fatal to the job
        return ShardResult(shard.index, seconds=time.perf_counter() - began, error=f"{type(exc).__name__}: {exc}")
    return result

"""``run_job(spec)``: prepare the job folder, skip finished shards, run the rest on the chosen engine behind
a progress bar (items/s and ETA), and write the summary."""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable, Iterator, Sequence

from latte_vt.pipelines.jobs import job_folder, job_module
from latte_vt.pipelines.shards import Shard, ShardResult
from latte_vt.pipelines.spec import JobSpec
from latte_vt.pipelines.summary import JobSummary, summarize

ENGINE_RUNNERS = {
    "local": ("latte_vt.pipelines.local", "run_local"),
    "ray": ("latte_vt.pipelines.ray_engine", "run_ray"),
}


def engine(name: str) -> Callable[[JobSpec, Sequence[Shard]], Iterator[ShardResult]]:
    module, function = ENGINE_RUNNERS[name]
    return getattr(importlib.import_module(module), function)


def run_job(spec: JobSpec, progress: bool = True) -> JobSummary:
    """Run a job to the end (or resume it); per-shard failures are in the summary, never raised.

    Raises ``OutputFolderError`` when the output folder holds another job, and the input's fatal errors
    (``FileNotFoundError``, ``SchemaError``, ``BundleError``) before any shard starts.
    """
    from tqdm import tqdm

    spec = spec.absolute()
    job = job_module(spec.job)
    folder = job_folder(spec)
    folder.prepare(spec.to_dict(), job.fingerprint(spec), spec.overwrite)
    shards, total = job.plan(spec)
    finished = {s.index: r for s in shards if (r := folder.finished(s)) is not None}
    pending = [s for s in shards if s.index not in finished]
    began = time.perf_counter()
    ran: list[ShardResult] = []
    done_before = sum(r.input for r in finished.values())
    bar = tqdm(
        total=total, initial=done_before, desc=spec.job, unit=job.UNIT, unit_scale=True, file=sys.stderr,
        disable=not progress,
    )  # fmt: skip
    with bar:
        for result in engine(spec.engine)(spec, pending):
            ran.append(result)
            bar.update(result.input)
    summary = summarize(spec, job.UNIT, folder, len(shards), list(finished.values()), ran, time.perf_counter() - began)
    folder.write_summary(summary.to_dict())
    return summary

"""The local engine: shards in a pool of worker processes on this machine (in this process when one
worker is asked for).

Workers are started with ``spawn`` (forking a process that has loaded torch can deadlock), load the
model once and keep it for their next shards.  Results come back as shards finish.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

from latte_vt.pipelines.shards import Shard, ShardResult
from latte_vt.pipelines.spec import JobSpec


def _limit_threads(threads: int) -> None:
    """Worker initializer: keep each worker's thread pools (polars, OpenMP, BLAS) to ``threads``."""
    for name in ("POLARS_MAX_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)


def worker_count(spec: JobSpec, shards: int) -> int:
    """``spec.workers`` (0: one per CPU), never more than there are shards."""
    return max(1, min(spec.workers or os.cpu_count() or 1, shards))


def run_local(spec: JobSpec, shards: Sequence[Shard]) -> Iterator[ShardResult]:
    """Run ``shards``; yields each shard's result as it finishes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    from latte_vt.pipelines.jobs import execute_shard

    workers = worker_count(spec, len(shards))
    if workers == 1:
        for shard in shards:
            yield execute_shard(spec, shard)
        return
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_limit_threads, initargs=(spec.model.threads,))
    try:
        futures = {pool.submit(execute_shard, spec, shard): shard for shard in shards}
        for future in as_completed(futures):
            try:
                yield future.result()
            except BrokenProcessPool as exc:  # a worker died (a decoder crash, out of memory)
                yield ShardResult(futures[future].index, error=f"worker process died: {exc}")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

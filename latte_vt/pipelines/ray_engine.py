"""The Ray engine (``engine: ray``): the same shard function as the local engine, run by Ray Data, so both
engines write the same files.

``ray.address`` joins a running cluster (``auto``, ``ray://head:10001``); without it a local cluster is
started for the job (``ray.num_cpus`` CPUs) and stopped after it.  When Ray is already initialised in
this process, that session is used as it is.  Every node must have latte-vt installed and see the
input, model and output paths (a shared filesystem); the spec's paths are made absolute before they
are sent.  Needs ``pip install "latte-vt[distributed]"``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from latte_vt.pipelines.shards import Shard, ShardResult
from latte_vt.pipelines.spec import JobSpec


def require_ray() -> Any:
    """Import ray (with Ray Data), or say how to install it."""
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise ImportError('the Ray engine needs ray[data]: pip install "latte-vt[distributed]"') from exc
    return ray


def _run_row(row: dict[str, Any], spec: JobSpec) -> dict[str, Any]:
    """One Ray Data row = one shard; the result travels back as JSON (rows keep one simple schema)."""
    from latte_vt.pipelines.jobs import execute_shard

    shard = Shard(int(row["index"]), tuple(json.loads(row["items"])))
    return {"result": execute_shard(spec, shard).to_json()}


def run_ray(spec: JobSpec, shards: Sequence[Shard]) -> Iterator[ShardResult]:
    """Run ``shards`` as Ray Data tasks (at most ``spec.workers`` at once when set); yields results as they finish."""
    if not shards:
        return
    ray = require_ray()
    started = not ray.is_initialized()
    if started:
        local = {"num_cpus": spec.ray.num_cpus} if spec.ray.address is None else {}
        ray.init(address=spec.ray.address, include_dashboard=False, **local)
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the job's own bar counts items
        context.print_on_execution_start = False
        rows = [{"index": s.index, "items": json.dumps(s.items)} for s in shards]
        dataset = ray.data.from_items(rows, override_num_blocks=len(rows)).map(
            _run_row, fn_kwargs={"spec": spec}, num_cpus=spec.ray.cpus_per_shard, concurrency=spec.workers or None
        )
        remaining = {s.index for s in shards}
        try:
            for row in dataset.iter_rows():
                result = ShardResult.from_json(row["result"])
                remaining.discard(result.shard)
                yield result
        except ray.exceptions.RayError as exc:  # a task Ray gave up on (a worker died, out of memory, ...)
            for index in sorted(remaining):
                yield ShardResult(index, error=f"Ray stopped the job: {type(exc).__name__}: {exc}")
    finally:
        if started:
            ray.shutdown()

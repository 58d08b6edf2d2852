"""The end-of-job summary: counts, throughput, rejects and failed shards (printed and in summary.json)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from latte_vt.pipelines.shards import REJECTS_DIR, JobFolder, ShardResult
from latte_vt.pipelines.spec import JobSpec


@dataclass
class JobSummary:
    """One run of a job.

    Counts (``items_in``, ``rows_out``, ``rejected``, ``reasons``) cover every finished shard, including
    those an earlier run finished; ``items_per_s`` is this run's: items it processed over its wall time.
    """

    job: str
    engine: str
    output: str
    unit: str
    shards: int
    shards_skipped: int
    shards_run: int
    shards_failed: int
    items_in: int
    rows_out: int
    rejected: int
    reasons: dict[str, int]
    seconds: float
    items_per_s: float
    results: str
    rejects: str
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.shards_failed == 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.reasons.items())) or "none"
        lines = [
            f"{self.job} ({self.engine} engine): {self.shards} shards, {self.shards_run} run now, "
            f"{self.shards_skipped} already done, {self.shards_failed} failed",
            f"{self.items_in:,} {self.unit}s in, {self.rows_out:,} rows out, {self.rejected:,} rejected ({reasons})",
            f"this run: {self.seconds:.1f} s, {self.items_per_s:,.0f} {self.unit}s/s",
            f"results: {self.results}" + (f"; rejects: {self.rejects}" if self.rejected else ""),
        ]
        lines += [f"FAILED shard {f['shard']}: {f['error']}" for f in self.failures]
        if self.failures:
            lines.append("rerun the same command to retry the failed shards (finished shards are skipped)")
        return "\n".join(lines)


def summarize(
    spec: JobSpec,
    unit: str,
    folder: JobFolder,
    shards: int,
    skipped: Sequence[ShardResult],
    ran: Sequence[ShardResult],
    seconds: float,
) -> JobSummary:
    """Fold the per-shard results of earlier runs (``skipped``) and this run (``ran``) into a summary."""
    failed = [r for r in ran if r.error is not None]
    done = [*skipped, *(r for r in ran if r.error is None)]
    reasons: Counter[str] = Counter()
    for r in done:
        reasons.update(r.reasons)
    processed = sum(r.input for r in ran if r.error is None)
    return JobSummary(
        job=spec.job,
        engine=spec.engine,
        output=str(folder.root),
        unit=unit,
        shards=shards,
        shards_skipped=len(skipped),
        shards_run=len(ran),
        shards_failed=len(failed),
        items_in=sum(r.input for r in done),
        rows_out=sum(r.output for r in done),
        rejected=sum(r.rejected for r in done),
        reasons=dict(reasons),
        seconds=seconds,
        items_per_s=processed / max(seconds, 1e-9),
        results=str(folder.root / folder.results / "*.parquet"),
        rejects=str(folder.root / REJECTS_DIR / "*.parquet"),
        failures=[{"shard": r.shard, "error": r.error} for r in sorted(failed, key=lambda r: r.shard)],
    )

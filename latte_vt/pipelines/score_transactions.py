"""``score-transactions``: a score for every event of CSV/Parquet logs larger than memory.

Shard ``i`` of ``n`` is the hash bucket ``hash(entity) % n == i``: each entity's whole history lands in
one shard and is scored in one causal pass.  A shard scans every input lazily (polars), keeps only its
bucket's rows (streaming engine), puts them back in input order (the streaming engine does not keep
order), validates them (bad rows to ``rejects/`` with their reason), encodes and scores them, and
writes ``scores/part-XXXXX.parquet``: ``event_id, entity, time, score, source_file, source_row``, sorted by
entity, time and input order.

Duplicate event ids are found within an entity's shard; the same id on two different entities is
not (that would need every id of the input in memory at once).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from latte_vt.pipelines.models import event_model, model_fingerprint
from latte_vt.pipelines.shards import Shard, ShardResult
from latte_vt.pipelines.spec import JobSpec

if TYPE_CHECKING:
    import polars as pl

    from latte_vt.data.transactions import EventSchema

RESULTS = "scores"
UNIT = "event"
OUTPUT_COLUMNS = ("event_id", "entity", "time", "score", "source_file", "source_row")


def _schema(spec: JobSpec) -> EventSchema:
    from latte_vt.data.transactions import load_schema

    if spec.options.schema:
        return load_schema(spec.options.schema)
    return event_model(spec.model, spec.options.max_batch_events).schema


def bucket(shards: int) -> pl.Expr:
    """The shard index of each row: hash of its entity id modulo ``shards``."""
    import polars as pl

    return pl.col("entity").fill_null("").hash(seed=0) % shards


def count_rows(paths: Any) -> int:
    """Rows of every input file (Parquet: from the metadata; CSV: one fast pass), for the progress bar."""
    import polars as pl

    from latte_vt.data.transactions import resolve_paths

    total = 0
    for path in resolve_paths(paths):
        lf = pl.scan_csv(path, infer_schema=False) if path.suffix.lower() == ".csv" else pl.scan_parquet(path)
        total += lf.select(pl.len()).collect().item()
    return total


def plan(spec: JobSpec) -> tuple[list[Shard], int]:
    """The shards and the number of input rows; checks every file against the schema first (fatal errors
    such as a missing column surface here, before any work starts)."""
    from latte_vt.data.transactions import scan_events

    scan_events(list(spec.input), _schema(spec), with_label=False)
    return [Shard(i) for i in range(spec.options.shards)], count_rows(list(spec.input))


def fingerprint(spec: JobSpec) -> dict[str, Any]:
    """What the results depend on: inputs (size, mtime), schema, model, shard count, polars (its hash)."""
    import polars as pl

    from latte_vt.data.transactions import resolve_paths

    files = [
        {"path": str(p), "bytes": p.stat().st_size, "mtime_ns": p.stat().st_mtime_ns}
        for p in resolve_paths(list(spec.input))
    ]
    return {
        "job": spec.job,
        "inputs": files,
        "schema": _schema(spec).to_dict(),
        "model": model_fingerprint(spec.model),
        "precision": spec.model.precision,
        "shards": spec.options.shards,
        "polars": pl.__version__,
    }


def run_shard(spec: JobSpec, shard: Shard) -> tuple[pl.DataFrame, pl.DataFrame, ShardResult]:
    """Validate, encode and score one bucket of entities: (scores, rejects, counts and seconds per stage)."""
    import polars as pl

    from latte_vt.data.transactions import scan_events
    from latte_vt.data.transactions.validate import validate_events
    from latte_vt.predict.stages import StageTimes

    model = event_model(spec.model, spec.options.max_batch_events)
    model.stages = stages = StageTimes()
    schema = _schema(spec)
    with stages.stage("read_validate"):
        lf, _ = scan_events(list(spec.input), schema, with_label=False)
        rows_in = lf.filter(bucket(spec.options.shards) == shard.index).collect(engine="streaming")
        validated = validate_events(rows_in.lazy(), schema, with_label=False)  # puts rows back in input order
        del rows_in
    with stages.stage("encode"):
        encoded = model.preprocessor.transform(validated.events)
    scores = pl.Series("score", model.probabilities(encoded), dtype=pl.Float32)
    rows = encoded.with_columns(scores, pl.col("source_file").cast(pl.String)).select(OUTPUT_COLUMNS)
    report = validated.report
    result = ShardResult(shard.index, report.input_rows, rows.height, report.rejected, report.by_reason)
    result.stages = stages.as_dict()
    return rows, validated.rejects, result

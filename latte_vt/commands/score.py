"""``latte-vt score INPUT --checkpoint CKPT --output scores.parquet``: a score for every accepted event.

INPUT is one or more CSV/Parquet files, globs or folders. Rows the schema rejects go to ``--rejects``
(default: ``<output stem>.rejects.parquet`` next to the output) with their reason; nothing is dropped
silently. ``--bundle DIR`` scores with an exported ONNX bundle (onnxruntime, no torch) instead; both
run through ``latte_vt.predict.TransactionScorer.score_file`` (same validation, encoding and batching): the
input is validated, encoded and scored in pieces of ``--piece-events`` events and the scores written as they come,
so memory stays bounded whatever the input's size or its longest history.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from latte_vt.data.transactions.pieces import PIECE_EVENTS
from latte_vt.errors import InputError
from latte_vt.predict.histories import MAX_BATCH_EVENTS

JEMALLOC_CONF = "_RJEM_MALLOC_CONF"
"""polars' allocator (jemalloc) reads its options from this variable when polars is first imported."""
POLARS_JEMALLOC_DEFAULT = "dirty_decay_ms:500,muzzy_decay_ms:1000"
"""What ``import polars`` itself puts in the variable: a process that imported polars passes it to the commands it
starts (the benchmarks, a user's Python job), so it is polars' setting, not the user's."""
RETURN_AT_ONCE = "dirty_decay_ms:0,muzzy_decay_ms:0"


def _return_freed_memory() -> None:
    """Have polars' allocator hand freed pages back to the system at once instead of ~1 s later, so one piece's
    buffers do not stay resident beside the next one's (one account of 1M events: 318 -> 257 MiB peak). Only
    before polars is imported, and never over the user's own setting (polars' inherited default is replaced)."""
    inherited = os.environ.get(JEMALLOC_CONF, POLARS_JEMALLOC_DEFAULT)
    if "polars" not in sys.modules and inherited == POLARS_JEMALLOC_DEFAULT:
        os.environ[JEMALLOC_CONF] = RETURN_AT_ONCE


def _default_rejects(output: Path) -> Path:
    return output.with_name(f"{output.stem}.rejects.parquet")


def run(args: argparse.Namespace) -> int:
    if bool(args.checkpoint) == bool(args.bundle):
        raise InputError("give exactly one of --checkpoint CKPT or --bundle DIR")
    output = Path(args.output)
    if output.suffix.lower() not in (".parquet", ".csv"):
        raise InputError(f"--output must end in .parquet or .csv, got {output}")
    for flag, value in (("--max-batch-events", args.max_batch_events), ("--piece-events", args.piece_events)):
        if value < 1:
            raise InputError(f"{flag} must be at least 1, got {value}")
    rejects = Path(args.rejects) if args.rejects else _default_rejects(output)
    _return_freed_memory()
    from latte_vt.predict import TransactionScorer

    began = time.perf_counter()
    kind = "bundle" if args.bundle else "checkpoint"
    scorer = TransactionScorer(args.bundle or args.checkpoint, max_batch_events=args.max_batch_events, expect=kind)
    if args.schema:
        from latte_vt.data.transactions import load_schema

        scorer.schema = load_schema(args.schema)
    scored = scorer.score_file(args.inputs, output, rejects, progress=True, piece_events=args.piece_events)
    seconds = time.perf_counter() - began
    print(scorer.last_report.summary())
    rate = scored / max(seconds, 1e-9)
    engine = "onnxruntime" if scorer.kind == "bundle" else "torch"
    print(f"scored {scored} events with {engine} in {seconds:.1f} s ({rate:.0f} events/s) -> {output}")
    print(f"time by stage: {scorer.stages.summary()}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("score", help="score every event of CSV/Parquet event logs with a checkpoint or a bundle")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="event files, globs or folders (.csv/.parquet)")
    parser.add_argument("--checkpoint", help="TransactionScoringTask checkpoint (.ckpt)")
    parser.add_argument("--bundle", help="exported ONNX bundle folder (latte-vt export), instead of --checkpoint")
    parser.add_argument("--output", required=True, help="scores file: .parquet or .csv (event_id, entity, time, score)")
    parser.add_argument("--schema", help="schema YAML of the input's layout (default: the training schema)")
    parser.add_argument("--rejects", help="where rejected rows go (default: <output stem>.rejects.parquet)")
    parser.add_argument(
        "--max-batch-events",
        type=int,
        default=MAX_BATCH_EVENTS,
        help="padded events per model call; a longer entity is scored in pieces of this many events (carried state)",
    )
    parser.add_argument(
        "--piece-events",
        type=int,
        default=PIECE_EVENTS,
        help="rows read and validated, and events encoded and scored, at a time (bounds memory; an entity longer "
        "than this is scored in parts carrying its history and model state)",
    )
    parser.set_defaults(func=run)

"""``latte-vt score INPUT --checkpoint CKPT --output scores.parquet``: a score for every accepted event.

INPUT is one or more CSV/Parquet files, globs or folders. Rows the schema rejects go to ``--rejects``
(default: ``<output stem>.rejects.parquet`` next to the output) with their reason; nothing is dropped
silently. ``--bundle DIR`` scores with an exported ONNX bundle (onnxruntime, no torch) instead; both
run through ``latte_vt.predict.TransactionScorer`` (same validation, encoding and batching).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from latte_vt.errors import InputError
from latte_vt.predict.histories import MAX_BATCH_EVENTS


def _default_rejects(output: Path) -> Path:
    return output.with_name(f"{output.stem}.rejects.parquet")


def run(args: argparse.Namespace) -> int:
    if bool(args.checkpoint) == bool(args.bundle):
        raise InputError("give exactly one of --checkpoint CKPT or --bundle DIR")
    output = Path(args.output)
    if output.suffix.lower() not in (".parquet", ".csv"):
        raise InputError(f"--output must end in .parquet or .csv, got {output}")
    if args.max_batch_events < 1:
        raise InputError(f"--max-batch-events must be at least 1, got {args.max_batch_events}")
    rejects = Path(args.rejects) if args.rejects else _default_rejects(output)
    from latte_vt.predict import TransactionScorer

    began = time.perf_counter()
    kind = "bundle" if args.bundle else "checkpoint"
    scorer = TransactionScorer(args.bundle or args.checkpoint, max_batch_events=args.max_batch_events, expect=kind)
    if args.schema:
        from latte_vt.data.transactions import load_schema

        scorer.schema = load_schema(args.schema)
    scores = scorer.score(args.inputs, rejects_path=rejects, progress=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    with scorer.stages.stage("write"):
        if output.suffix.lower() == ".parquet":
            scores.write_parquet(output)
        else:
            scores.write_csv(output)
    seconds = time.perf_counter() - began
    print(scorer.last_report.summary())
    rate = scores.height / max(seconds, 1e-9)
    engine = "onnxruntime" if scorer.kind == "bundle" else "torch"
    print(f"scored {scores.height} events with {engine} in {seconds:.1f} s ({rate:.0f} events/s) -> {output}")
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
    parser.set_defaults(func=run)

"""``latte-vt stream --bundle B [--input events.jsonl|-] [--output scores.jsonl|-]``: live scoring.

One JSON event per input line, one JSON score per output line (``line``, ``event_id``, ``entity``,
``time``, ``score``), through ``step.onnx`` with each entity's state in a durable SQLite store.  Killed
and restarted with the same arguments, it resumes from its last checkpoint: no event lost or applied
twice (see ``latte_vt.runtime.live_stream``).  Bad lines go to ``--rejects`` with their line number and
reason; a summary goes to standard error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from latte_vt.errors import InputError


def default_paths(output: str, state: str | None, rejects: str | None) -> tuple[Path, Path]:
    """(state, rejects) paths: next to the output file unless given."""
    if output == "-":
        if not state:
            raise InputError("give --state PATH when the scores go to standard output")
        base = Path(state)
        return base, Path(rejects) if rejects else base.with_name(f"{base.stem}.rejects.jsonl")
    out = Path(output)
    return (
        Path(state) if state else out.with_name(f"{out.stem}.state.sqlite"),
        Path(rejects) if rejects else out.with_name(f"{out.stem}.rejects.jsonl"),
    )


def run(args: argparse.Namespace) -> int:
    from latte_vt.runtime.live_stream import LiveStream
    from latte_vt.runtime.streaming import StreamingScorer

    state, rejects = default_paths(args.output, args.state, args.rejects)
    scorer = StreamingScorer(args.bundle, threads=args.threads, store=state)
    try:
        job = LiveStream(
            scorer,
            args.input,
            args.output,
            rejects,
            checkpoint_every=args.checkpoint_every,
            batch_size=args.batch,
            input_start_offset=args.input_start_offset,
        )
        summary = job.run()
    except BrokenPipeError:
        print(f"error: the output was closed; the state stays at its last checkpoint ({state})", file=sys.stderr)
        return 1
    finally:
        scorer.store.close()
    print(summary.text(), file=sys.stderr)
    print(f"stream: state {state}, rejects {rejects}", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "stream", help="live scoring: JSON events in, JSON scores out, durable per-entity state (resumes after a crash)"
    )
    parser.add_argument("--bundle", required=True, help="transactions bundle with step.onnx (latte-vt export)")
    parser.add_argument("--input", default="-", help="events, one JSON object per line (default -: standard input)")
    parser.add_argument("--output", default="-", help="scores, one JSON object per line (default -: standard output)")
    parser.add_argument("--state", help="SQLite state file (default <output stem>.state.sqlite next to the output)")
    parser.add_argument("--rejects", help="rejected lines with reasons (default <output stem>.rejects.jsonl)")
    parser.add_argument("--checkpoint-every", type=int, default=1000, help="lines between durable checkpoints")
    parser.add_argument(
        "--batch", type=int, help="most lines per micro-batch (default 512; from stdin, only those already there)"
    )
    parser.add_argument(
        "--input-start-offset",
        type=int,
        help="stdin only: byte offset of the original stream where this replay starts (default: the checkpoint's)",
    )
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads")
    parser.set_defaults(func=run)

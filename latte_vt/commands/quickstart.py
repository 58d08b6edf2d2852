"""``latte-vt quickstart``: generate -> train -> export -> run through the torch-free runtime."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    from latte_vt.quickstart import run_quickstart

    result = run_quickstart(Path(args.out), args.epochs)
    print(json.dumps(result, indent=2))
    tx, vid = result["transactions"], result["video"]
    print(
        f"\ntransactions: {tx['events_scored']:,} events scored through onnxruntime ({tx['bundle']}); "
        f"streaming == batch to {tx['stream_vs_batch_max_diff']:.1e}"
    )
    print(f"video: {vid['clips_classified']} test clips classified through onnxruntime ({vid['bundle']})")
    print(f"done in {result['seconds']:.0f} s; outputs under {args.out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "quickstart", help="end to end on synthetic data: generate, train, export, run with onnxruntime"
    )
    parser.add_argument("--out", default="runs/quickstart", help="where data, checkpoints and bundles go")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs of each model (default 1)")
    parser.set_defaults(func=run)

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
    for name, job in result["batch_jobs"].items():
        print(
            f"batch job {name}: {job['items_in']:,} {job['unit']}s in {job['shards']} shards, "
            f"{job['rows_out']:,} rows, {job['rejected']} rejected, {job['items_per_s']:,.0f} {job['unit']}s/s "
            f"-> {job['results']}"
        )
    print("the same jobs from their specs: latte-vt run pipelines/score_transactions.yaml (or classify_videos.yaml)")
    print(f"done in {result['seconds']:.0f} s; outputs under {args.out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "quickstart",
        help="end to end on synthetic data: generate, train, export, run with onnxruntime, run the batch jobs",
    )
    parser.add_argument("--out", default="runs/quickstart", help="where data, checkpoints and bundles go")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs of each model (default 1)")
    parser.set_defaults(func=run)

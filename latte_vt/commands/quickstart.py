"""``latte-vt quickstart``: generate -> train -> export -> judge through the bundles -> stream -> batch jobs
-> a summary table, ``summary.json`` and ``report.html``."""

from __future__ import annotations

import argparse
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    from latte_vt.quickstart import QuickstartConfig, run_quickstart
    from latte_vt.quickstart_report import format_table, summary_rows

    cfg = QuickstartConfig.quick() if args.quick else QuickstartConfig()
    result = run_quickstart(Path(args.out), cfg)
    note = " --quick (tiny data, a few steps: the figures mean nothing)" if args.quick else ""
    print(f"\nlatte-vt quickstart{note}")
    print(format_table(summary_rows(result.summary)))
    print("the batch jobs from their specs: latte-vt run pipelines/score_transactions.yaml (or classify_videos.yaml)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "quickstart",
        help="end to end on synthetic data: generate, train, export, judge through onnxruntime, stream, batch jobs",
    )
    parser.add_argument("--out", default="runs/quickstart", help="where data, checkpoints, bundles and the report go")
    parser.add_argument(
        "--quick", action="store_true", help="tiny data and a few steps each: checks the path in well under a minute"
    )
    parser.set_defaults(func=run)

"""``latte-vt run pipelines/<job>.yaml [--set key=value ...]``: a batch job (see docs/pipelines.md)."""

from __future__ import annotations

import argparse
import sys


def run(args: argparse.Namespace) -> int:
    from latte_vt.pipelines.runner import run_job
    from latte_vt.pipelines.spec import load_spec

    spec = load_spec(args.spec, args.set)
    try:
        summary = run_job(spec, progress=not args.quiet)
    except ImportError as exc:  # engine: ray without ray installed; the message says what to install
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary.text())
    print(f"summary: {spec.absolute().output}/summary.json")
    return 0 if summary.ok else 1


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "run",
        help="run a batch job from a YAML spec (score-transactions, classify-videos), locally or on Ray",
        description="Run a batch job from a YAML spec (see pipelines/*.yaml). Finished shards of an earlier run "
        "into the same output folder are skipped. Exit code 0 when every shard finished, 1 when some failed "
        "(rerun to retry them), 2 on a spec or input error.",
    )
    parser.add_argument("spec", help="job spec YAML, e.g. pipelines/score_transactions.yaml")
    parser.add_argument(
        "--set",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="override spec keys, dotted for sections: --set engine=ray options.shards=64 model.bundle=DIR",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)

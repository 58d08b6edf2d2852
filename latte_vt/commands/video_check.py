"""``latte-vt video-check DIR_OR_CSV``: test-decode every video (with a timeout) and write a report."""

from __future__ import annotations

import argparse
import os
import sys


def run(args: argparse.Namespace) -> int:
    if not args.timeout > 0 or args.workers < 1:
        print("error: --timeout must be positive and --workers at least 1", file=sys.stderr)
        return 2
    from latte_vt.data.video.check import check_videos

    _, summary = check_videos(args.source, args.report, args.timeout, args.workers, args.decode)
    print(summary)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "video-check",
        help="probe every video of a folder or CSV/TSV (with a timeout) and write a report",
        description="Open and test-decode every video in worker subprocesses with a timeout, so files that "
        "fail, crash or hang the decoder are reported (path and reason) instead of breaking training. "
        "Exit code 0 whenever the check ran, even if some files are bad.",
    )
    parser.add_argument("source", help="a folder (searched recursively) or a CSV/TSV with path,label columns")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds allowed per file (default 10)")
    parser.add_argument("--report", default="video_check.csv", help="report CSV (default ./video_check.csv)")
    parser.add_argument(
        "--workers", type=int, default=min(8, os.cpu_count() or 1), help="parallel probe processes (default: CPUs, ≤ 8)"
    )
    parser.add_argument(
        "--decode",
        choices=["ends", "all"],
        default="ends",
        help="decode the first, middle and last frame (ends, default) or every frame (all: slower, finds any damage)",
    )
    parser.set_defaults(func=run)

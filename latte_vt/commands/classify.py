"""``latte-vt classify PATH_OR_DIR --checkpoint CKPT``: top-k labels per clip, multi-clip averaged."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any


def _table(predictions: list[Any], failures: list[Any], shown: int = 50) -> str:
    """One line per clip: its path, then label (probability) for the top k, best first."""
    lines = []
    for p in predictions[:shown]:
        tops = "  ".join(f"{label} {prob:.3f}" for label, prob in zip(p.labels, p.probs, strict=True))
        lines.append(f"{p.path}\t{tops}")
    if len(predictions) > shown:
        lines.append(f"... and {len(predictions) - shown} more (see --output)")
    lines += [f"UNREADABLE {f.path} ({f.stage}): {f.reason}" for f in failures]
    return "\n".join(lines)


def write_output(path: Path, predictions: list[Any], failures: list[Any], meta: dict[str, Any]) -> None:
    """JSON (predictions, failures, settings) or CSV (``path,rank,label,probability,error``, one row per label)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["path", "rank", "label", "probability", "error"])
            for p in predictions:
                for rank, (label, prob) in enumerate(zip(p.labels, p.probs, strict=True), start=1):
                    writer.writerow([p.path, rank, label, f"{prob:.6f}", ""])
            for f in failures:
                writer.writerow([f.path, "", "", "", f"{f.stage}: {f.reason}"])
        return
    payload = {
        **meta,
        "predictions": [{"path": p.path, "labels": p.labels, "probs": p.probs} for p in predictions],
        "failures": [{"path": f.path, "reason": f.reason, "stage": f.stage} for f in failures],
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")


def run_bundle(args: argparse.Namespace) -> int:
    """The same command through onnxruntime (``latte_vt.runtime``: no torch)."""
    from types import SimpleNamespace

    from latte_vt.data.video.check import gather_videos
    from latte_vt.runtime import BundleError, VideoClassifier
    from latte_vt.runtime.video import classify_files

    source = Path(args.source)
    try:
        classifier = VideoClassifier(args.bundle)
        if source.is_file() and source.suffix.lower() not in {".csv", ".tsv"}:
            files, ignored = [source], 0
        else:
            files, ignored = gather_videos(source)
    except (BundleError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    found, failures = classify_files(classifier, files, args.top_k, args.timeout if args.timeout > 0 else None)
    predictions = [SimpleNamespace(path=path, labels=p.labels, probs=p.probs) for path, p in found]
    print(_table(predictions, failures))
    if ignored:
        print(f"{ignored} file(s) without a video suffix were ignored")
    print(f"classified {len(predictions)} file(s) with onnxruntime; {len(failures)} unreadable")
    if args.output:
        write_output(
            Path(args.output), predictions, failures, {"bundle": str(args.bundle), "classes": classifier.classes}
        )
        print(f"wrote {args.output}")
    return 0 if predictions else 1


def run(args: argparse.Namespace) -> int:
    if bool(args.bundle) == bool(args.checkpoint):
        print("error: give exactly one of --checkpoint or --bundle", file=sys.stderr)
        return 2
    if args.top_k < 1 or (args.num_clips is not None and args.num_clips < 1) or args.batch_size < 1:
        print("error: --top-k, --num-clips and --batch-size must be at least 1", file=sys.stderr)
        return 2
    if args.output and Path(args.output).suffix.lower() not in {".json", ".csv"}:
        print(f"error: --output must end in .json or .csv, got {args.output}", file=sys.stderr)
        return 2
    if args.bundle:
        return run_bundle(args)
    from latte_vt.inference.video import classify_path

    try:
        predictor, result = classify_path(
            args.source,
            args.checkpoint,
            top_k=args.top_k,
            num_clips=args.num_clips,
            device=args.device,
            batch_size=args.batch_size,
            probe_timeout_s=args.timeout if args.timeout > 0 else None,
        )
    except (FileNotFoundError, ValueError) as exc:  # missing input or checkpoint, malformed CSV
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(_table(result.predictions, result.failures))
    if result.ignored:
        print(f"{result.ignored} file(s) without a video suffix were ignored")
    print(f"classified {len(result.predictions)} file(s); {len(result.failures)} unreadable")
    if args.output:
        meta = {"checkpoint": str(args.checkpoint), "classes": predictor.classes, **asdict(predictor.settings)}
        write_output(Path(args.output), result.predictions, result.failures, meta)
        print(f"wrote {args.output}")
    return 0 if result.predictions else 1


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "classify",
        help="top-k labels and probabilities per clip from a trained checkpoint",
        description="Classify one video, every video under a folder (recursively) or the rows of a CSV/TSV. "
        "Each file gives the checkpoint's evaluation clips (views), whose probabilities are averaged. "
        "Unreadable files are listed with their reason; exit code 0 when the readable files were classified "
        "(1 when none was readable, 2 on a usage error).",
    )
    parser.add_argument("source", help="a video file, a folder of videos, or a CSV/TSV with a path column")
    parser.add_argument("--checkpoint", help="a checkpoint from `latte-vt fit` (loaded with weights_only=True)")
    parser.add_argument("--bundle", help="an ONNX bundle from `latte-vt export` (onnxruntime, no torch)")
    parser.add_argument("--top-k", type=int, default=5, help="labels per clip (default 5)")
    parser.add_argument("--output", help="write predictions to a .json or .csv file")
    parser.add_argument("--num-clips", type=int, help="views per file (default: the checkpoint's setting)")
    parser.add_argument("--batch-size", type=int, default=8, help="files per batch (default 8)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="test-decode each file in a subprocess first, allowing this many seconds (0: skip; default 10)",
    )
    parser.set_defaults(func=run)

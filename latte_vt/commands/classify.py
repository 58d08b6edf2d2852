"""``latte-vt classify PATH_OR_DIR --checkpoint CKPT | --bundle DIR``: top-k labels per clip, multi-clip averaged.

Both run through ``latte_vt.predict.VideoClassifier``: the same decoding, sampling and preprocessing
(the checkpoint with torch, the bundle with onnxruntime), so both give the same answer for a file.
Long files: ``--fps F`` or ``--stride N`` samples across the whole file (at most ``--max-frames``),
decoded in chunks at model size; one model pass over all sampled frames, or ``--windows``. The summary
reports the process's peak memory (RSS)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from latte_vt.errors import InputError

if TYPE_CHECKING:
    from latte_vt.predict import ClipPrediction
    from latte_vt.predict.clips import FootageSampling

DEFAULT_MAX_FRAMES = 1024


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, MiB: ``VmHWM`` on Linux (its ``ru_maxrss`` also counts
    what the parent held when this process was forked), else ``ru_maxrss`` (bytes on macOS)."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def _table(rows: list[ClipPrediction], shown: int = 50) -> str:
    """One line per clip: its path, then label (probability) for the top k, best first; then the failures."""
    ok = [r for r in rows if r.ok]
    lines = []
    for p in ok[:shown]:
        lines.append(f"{p.path}\t{_tops(p.labels, p.probs)}")
        for w in p.windows:
            span = f"{w.start_s:.1f}-{w.end_s:.1f} s" if w.start_s is not None else "frames"
            lines.append(f"  {span} [{w.first_frame}..{w.last_frame}]\t{_tops(w.labels, w.probs)}")
    if len(ok) > shown:
        lines.append(f"... and {len(ok) - shown} more (see --output)")
    lines += [f"UNREADABLE {r.path} ({r.stage}): {r.reason}" for r in rows if not r.ok]
    return "\n".join(lines)


def _tops(labels: list[str], probs: list[float]) -> str:
    return "  ".join(f"{label} {prob:.3f}" for label, prob in zip(labels, probs, strict=True))


def write_output(path: Path, rows: list[ClipPrediction], meta: dict[str, Any]) -> None:
    """JSON (predictions with their frame count and any windows, failures, settings) or CSV
    (``path,rank,label,probability,error``, one row per label; windows only in JSON)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["path", "rank", "label", "probability", "error"])
            for r in rows:
                for rank, (label, prob) in enumerate(zip(r.labels, r.probs, strict=True), start=1):
                    writer.writerow([r.path, rank, label, f"{prob:.6f}", ""])
                if not r.ok:
                    writer.writerow([r.path, "", "", "", r.error])
        return
    payload = {
        **meta,
        "predictions": [
            {"path": r.path, "labels": r.labels, "probs": r.probs, "frames": r.frames_read}
            | ({"windows": [asdict(w) for w in r.windows]} if r.windows else {})
            for r in rows
            if r.ok
        ],
        "failures": [{"path": r.path, "reason": r.reason, "stage": r.stage} for r in rows if not r.ok],
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")


def run(args: argparse.Namespace) -> int:
    if bool(args.bundle) == bool(args.checkpoint):
        raise InputError("give exactly one of --checkpoint or --bundle")
    if args.top_k < 1 or (args.num_clips is not None and args.num_clips < 1) or args.batch_size < 1:
        raise InputError("--top-k, --num-clips and --batch-size must be at least 1")
    if args.output and Path(args.output).suffix.lower() not in {".json", ".csv"}:
        raise InputError(f"--output must end in .json or .csv, got {args.output}")
    sampling = footage_sampling(args)
    from latte_vt.data.video.check import gather_videos
    from latte_vt.predict import VideoClassifier

    model = args.bundle or args.checkpoint
    kind = "bundle" if args.bundle else "checkpoint"
    classifier = VideoClassifier(model, num_clips=args.num_clips, device=args.device, expect=kind, sampling=sampling)
    source = Path(args.source)
    if source.is_file() and source.suffix.lower() not in {".csv", ".tsv"}:
        files, ignored = [source], 0
    else:
        files, ignored = gather_videos(source)
    timeout = args.timeout if args.timeout > 0 else None
    rows = classifier.classify(files, args.top_k, args.batch_size, timeout)
    print(_table(rows))
    if ignored:
        print(f"{ignored} file(s) without a video suffix were ignored")
    classified = sum(r.ok for r in rows)
    engine = "onnxruntime" if classifier.kind == "bundle" else "torch"
    peak = peak_rss_mib()
    print(
        f"classified {classified} file(s) with {engine}; {len(rows) - classified} unreadable; peak RSS {peak:.0f} MiB"
    )
    if args.output:
        meta = {"model": str(model), "kind": classifier.kind, "classes": classifier.classes, "peak_rss_mib": peak}
        meta["footage_sampling"] = sampling.to_dict() if sampling else None
        write_output(Path(args.output), rows, meta | classifier.spec.to_dict())
        print(f"wrote {args.output}")
    return 0 if classified else 1


def footage_sampling(args: argparse.Namespace) -> FootageSampling | None:
    """``--fps``/``--stride`` (with ``--max-frames``, ``--windows``) -> the sampling; None without them."""
    if args.fps is None and args.stride is None:
        if args.max_frames is not None or args.windows:
            raise InputError("--max-frames and --windows sample long files: give --fps or --stride with them")
        return None
    if args.fps is not None and args.stride is not None:
        raise InputError("give --fps or --stride, not both")
    if args.num_clips is not None:
        raise InputError("--num-clips sets the model's views; it does not combine with --fps/--stride")
    from latte_vt.predict.clips import FootageSampling

    cap = DEFAULT_MAX_FRAMES if args.max_frames is None else args.max_frames
    return FootageSampling(fps=args.fps, stride=args.stride, max_frames=cap, windows=args.windows)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "classify",
        help="top-k labels and probabilities per clip from a checkpoint or a bundle",
        description="Classify one video, every video under a folder (recursively) or the rows of a CSV/TSV. "
        "Each file gives the model's evaluation clips (views), whose probabilities are averaged. "
        "Unreadable files are listed with their reason; exit code 0 when the readable files were classified "
        "(1 when none was readable, 2 on a usage error).",
    )
    parser.add_argument("source", help="a video file, a folder of videos, or a CSV/TSV with a path column")
    parser.add_argument("--checkpoint", help="a checkpoint from `latte-vt fit` (loaded with weights_only=True)")
    parser.add_argument("--bundle", help="an ONNX bundle from `latte-vt export` (onnxruntime, no torch)")
    parser.add_argument("--top-k", type=int, default=5, help="labels per clip (default 5)")
    parser.add_argument("--output", help="write predictions to a .json or .csv file")
    parser.add_argument("--num-clips", type=int, help="views per file (default: the model's setting)")
    parser.add_argument(
        "--batch-size", type=int, default=8, help="files per model call; with --windows: windows per call (default 8)"
    )
    long = parser.add_argument_group(
        "long files",
        "sample frames across the whole file instead of the model's clips; decoded in chunks at model size, "
        "one file at a time",
    )
    long.add_argument("--fps", type=float, help="frames per second of video to sample")
    long.add_argument("--stride", type=int, help="sample every N-th frame")
    long.add_argument(
        "--max-frames",
        type=int,
        help=f"at most this many frames per file, spread over the whole file (default {DEFAULT_MAX_FRAMES})",
    )
    long.add_argument(
        "--windows",
        action="store_true",
        help="classify windows of the model's clip length and average them (per-window results in --output "
        "JSON); default: one model pass over all sampled frames",
    )
    parser.add_argument("--device", default="cpu", help="torch device for --checkpoint (default cpu)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="test-decode each file in a subprocess first, allowing this many seconds (0: skip; default 10)",
    )
    parser.set_defaults(func=run)

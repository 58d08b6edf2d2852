"""``latte-vt video-check``: probe every video of a folder or CSV/TSV up front and write a report.

Each file is opened and test-decoded in a worker subprocess with a timeout (``probe_many``), so a
file that crashes or hangs the decoder is reported instead of stopping the check. The report CSV
has one row per file: ``path, ok, num_frames, fps, width, height, reason``.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from latte_vt.data.video.probe import ProbeResult, probe_many
from latte_vt.data.video.reader import VIDEO_EXTENSIONS
from latte_vt.data.video.sources import list_samples

REPORT_COLUMNS = ("path", "ok", "num_frames", "fps", "width", "height", "reason")


def gather_videos(source: str | Path) -> tuple[list[Path], int]:
    """Files to probe: every video-suffixed file under a folder (recursively), or every row of a CSV/TSV.

    Returns the paths and how many other (non-video, non-hidden) files a folder held.
    """
    source = Path(source)
    if source.is_file():
        return list(dict.fromkeys(s.path for s in list_samples(source))), 0
    if not source.is_dir():
        raise FileNotFoundError(f"not found: {source}")
    files = sorted(p for p in source.rglob("*") if p.is_file() and not p.name.startswith("."))
    videos = [p for p in files if p.suffix.lower() in VIDEO_EXTENSIONS]
    return videos, len(files) - len(videos)


def write_report(results: Sequence[ProbeResult], path: str | Path) -> Path:
    """One CSV row per probed file (``REPORT_COLUMNS``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(REPORT_COLUMNS)
        for r in results:
            info = r.info
            if info is None:
                writer.writerow([r.path, "false", "", "", "", "", r.reason])
            else:
                writer.writerow([r.path, "true", info.num_frames, f"{info.fps:.3f}", info.width, info.height, ""])
    return path


def summarize(results: Sequence[ProbeResult], others: int, report: Path, shown: int = 20) -> str:
    """Counts, the first ``shown`` bad files with reasons, and where the report is."""
    bad = [r for r in results if not r.ok]
    lines = [f"probed {len(results)} file(s): {len(results) - len(bad)} ok, {len(bad)} bad"]
    if others:
        lines.append(f"{others} other file(s) without a video suffix were not probed")
    lines += [f"  BAD {r.path}: {r.reason}" for r in bad[:shown]]
    if len(bad) > shown:
        lines.append(f"  ... and {len(bad) - shown} more")
    lines.append(f"report: {report}")
    return "\n".join(lines)


def check_videos(
    source: str | Path,
    report: str | Path,
    timeout_s: float = 10.0,
    workers: int = 2,
    decode: str = "ends",
    progress: bool = True,
) -> tuple[list[ProbeResult], str]:
    """Probe every video of ``source``, write ``report``; returns the results and a printable summary."""
    paths, others = gather_videos(source)
    results = probe_many(paths, timeout_s=timeout_s, workers=workers, decode=decode, progress=progress)
    report_path = write_report(results, report)
    return results, summarize(results, others, report_path)

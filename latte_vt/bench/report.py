"""Benchmark outputs: a JSON file and a Markdown report next to it, both carrying the run record."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import latte_vt

#: the checkout the package is imported from (a wheel installed in site-packages is no checkout)
SOURCE_ROOT = Path(latte_vt.__file__).resolve().parents[1]
#: a 1-minute load average above this at the start, or from other work at the end, is flagged in its report
LOADED = 1.5


def git_state(repo: Path) -> tuple[str | None, bool | None]:
    """HEAD's commit of the checkout at ``repo`` and whether its files differ from HEAD (untracked files count;
    earlier benchmark outputs under ``benchmarks/`` do not); (None, None) without git or a checkout there."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, timeout=30
        ).stdout

    try:
        top, commit = git("rev-parse", "--show-toplevel", "HEAD").split()
        if Path(top).resolve() != repo.resolve():
            return None, None  # ``repo`` lies inside some other checkout
        changes = git("status", "--porcelain", "--", ".", ":(exclude)benchmarks")
    except (OSError, ValueError, subprocess.SubprocessError):
        return None, None
    return commit, bool(changes.strip())


def load_average() -> list[float]:
    """The 1, 5 and 15-minute load averages, rounded to 2 decimals."""
    return [round(x, 2) for x in os.getloadavg()]


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (user + system)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def own_load(cpu_s: float, wall_s: float) -> float:
    """A run's own share of the 1-minute load average at its end: its average CPU use (cores), weighted as the
    kernel's exponential 1-minute average weighs a run of ``wall_s`` seconds (a short run barely moves it)."""
    if wall_s <= 0:
        return 0.0
    return cpu_s / wall_s * (1.0 - math.exp(-wall_s / 60.0))


def load_from_others(run: dict) -> float:
    """The load other work put on the machine: the 1-minute load at the start, or at the end less the run's
    own share (a benchmark that keeps every core busy drives the load up itself)."""
    end = run["load_average_at_end"][0] - run.get("own_load_at_end", 0.0)
    return max(run["load_average_at_start"][0], end)


@dataclass(frozen=True)
class RunInfo:
    """What a benchmark run was, recorded when it starts: date (UTC), command line, package version,
    git commit and dirty flag (None without git), load averages."""

    date: str
    command: str
    version: str
    git_commit: str | None
    git_dirty: bool | None
    load_average_at_start: list[float]
    clock: tuple[float, float] = field(default=(0.0, 0.0), repr=False)  # (monotonic s, CPU s) at the start

    @classmethod
    def start(cls, repo: Path = SOURCE_ROOT) -> RunInfo:
        commit, dirty = git_state(repo)
        return cls(
            date=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            command=shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            version=latte_vt.__version__,
            git_commit=commit,
            git_dirty=dirty,
            load_average_at_start=load_average(),
            clock=(time.monotonic(), _cpu_seconds()),
        )

    def record(self) -> dict:
        """The JSON record: the start fields, the load averages now (the end of the run so far) and the run's
        own share of the 1-minute one (``own_load``)."""
        wall, cpu = time.monotonic() - self.clock[0], _cpu_seconds() - self.clock[1]
        start = {k: v for k, v in asdict(self).items() if k != "clock"}
        return start | {"load_average_at_end": load_average(), "own_load_at_end": round(own_load(cpu, wall), 2)}


def run_header(run: dict) -> str:
    """Markdown for the top of a report: a warning when the machine was loaded, then the run record."""
    load = load_from_others(run)
    warning = (
        f"> **Measured on a loaded machine: load {load:.2f}** (1-minute load average above {LOADED} at the start, "
        "or at the end less the run's own share): times are inflated.\n\n"
    )
    if run["git_commit"] is None:
        commit = "commit not recorded (no git checkout)"
    else:
        dirty = " with uncommitted changes (dirty tree)" if run["git_dirty"] else ""
        commit = f"commit {run['git_commit'][:12]}{dirty}"
    start, end = (", ".join(f"{x:.2f}" for x in run[key]) for key in ("load_average_at_start", "load_average_at_end"))
    own = f" (the run's own share of it {run['own_load_at_end']:.2f})" if "own_load_at_end" in run else ""
    return (
        f"{warning if load > LOADED else ''}Run {run['date']}: `{run['command']}`; latte_vt {run['version']}, "
        f"{commit}; load average (1, 5, 15 min) {start} at the start, {end} at the end"
        f"{own}."
    )


def environment(device: str) -> dict:
    """Versions and hardware the figures were measured on."""
    import torch

    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
    return env


def markdown_table(headers: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_outputs(payload: dict, markdown: str, json_path: Path, md_path: Path, run: RunInfo) -> None:
    """Write ``payload`` as JSON with the run record added as ``payload["run"]``, and ``markdown`` (a report
    starting with its title line) with the run record under the title."""
    payload["run"] = run.record()
    title, _, body = markdown.partition("\n")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(payload, indent=2) + "\n")
    md_path.write_text(f"{title}\n\n{run_header(payload['run'])}\n{body}\n")


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "–"
    return f"{s * 1e3:.1f} ms" if s < 10 else f"{s:.1f} s"


def fmt_bytes(b: int | None) -> str:
    return "–" if b is None else f"{b / 2**20:.0f} MiB"


def fmt_ratio(r: float | None) -> str:
    return "–" if r is None else f"{r:.1f}×"

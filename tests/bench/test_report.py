"""Every benchmark report carries its run record: commit, dirty tree, version, command line, load, date."""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import latte_vt
from latte_vt.bench.report import (
    SOURCE_ROOT,
    RunInfo,
    git_state,
    load_from_others,
    own_load,
    run_header,
    write_outputs,
)
from latte_vt.cli import main

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def head_of(repo: Path) -> str | None:
    """HEAD's commit as git itself says it, or None without git or a checkout."""
    if shutil.which("git") is None:
        return None
    done = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def test_a_real_bench_run_records_the_run_in_its_json_and_report(tmp_path, monkeypatch):
    argv = ["bench", "attention", "--quick", "--seq-lens", "16", "--modes", "forward"]
    argv += ["--heads", "1", "--latents", "4", "--head-dim", "4", "--json", str(tmp_path / "att.json")]
    monkeypatch.setattr(sys, "argv", ["/venv/bin/latte-vt", *argv])  # as the console script sees it
    monkeypatch.setattr(os, "getloadavg", lambda: (0.25, 0.5, 0.75))
    assert main(argv) == 0
    run = json.loads((tmp_path / "att.json").read_text())["run"]
    assert run["command"] == "latte-vt " + " ".join(argv)
    assert run["version"] == latte_vt.__version__
    assert run["load_average_at_start"] == run["load_average_at_end"] == [0.25, 0.5, 0.75]
    assert run["date"].startswith("20") and run["date"].endswith("+00:00")
    assert run["git_commit"] == head_of(SOURCE_ROOT) and isinstance(run["git_dirty"], bool | None)
    report = (tmp_path / "att.md").read_text().splitlines()
    assert report[0] == "# Attention benchmark (cpu)" and report[2].startswith(f"Run {run['date']}: `latte-vt bench")
    assert "load average (1, 5, 15 min) 0.25, 0.50, 0.75 at the start" in report[2]
    assert "loaded machine" not in "\n".join(report)


@pytest.mark.parametrize(("start", "end"), [((2.5, 1.0, 1.0), (0.3, 0.3, 0.3)), ((0.3, 0.3, 0.3), (1.75, 1.0, 1.0))])
def test_a_loaded_machine_at_the_start_or_the_end_is_flagged_at_the_top(tmp_path, monkeypatch, start, end):
    loads = iter([start, end])
    monkeypatch.setattr(os, "getloadavg", lambda: next(loads))
    run = RunInfo.start(tmp_path)  # not a checkout: no commit
    payload = {"benchmark": "test"}
    write_outputs(payload, "# Title\n\nbody", tmp_path / "r.json", tmp_path / "r.md", run)
    lines = (tmp_path / "r.md").read_text().splitlines()
    warning = f"> **Measured on a loaded machine: load {max(start[0], end[0]):.2f}** (1-minute load average above 1.5"
    assert lines[:2] == ["# Title", ""] and lines[2].startswith(warning)
    assert "commit not recorded (no git checkout)" in lines[4] and lines[-1] == "body"
    assert json.loads((tmp_path / "r.json").read_text())["run"]["git_commit"] is None


def test_the_warning_needs_a_load_above_the_threshold():
    run = {"date": "d", "command": "c", "version": "v", "git_commit": "a" * 40, "git_dirty": False}
    header = run_header(run | {"load_average_at_start": [1.5, 0, 0], "load_average_at_end": [1.0, 0, 0]})
    assert header.startswith("Run d: `c`; latte_vt v, commit aaaaaaaaaaaa; load average")


@needs_git
def test_a_dirty_checkout_is_reported_dirty(tmp_path):
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", "code.py")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    head = head_of(tmp_path)
    assert head is not None and git_state(tmp_path) == (head, False)
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "old.json").write_text("{}")  # earlier benchmark outputs do not count
    assert git_state(tmp_path) == (head, False)
    (tmp_path / "code.py").write_text("x = 2\n")
    run = RunInfo.start(tmp_path)
    assert (run.git_commit, run.git_dirty) == (head, True)
    assert f"commit {head[:12]} with uncommitted changes (dirty tree)" in run_header(run.record())
    assert git_state(tmp_path / "benchmarks") == (None, None)  # inside a checkout, but not its root


def test_without_git_commit_and_dirty_are_null(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no git executable to be found
    assert git_state(SOURCE_ROOT) == (None, None)
    assert RunInfo.start(SOURCE_ROOT).git_dirty is None


def test_the_runs_own_share_of_the_load_is_not_counted_as_a_loaded_machine():
    assert own_load(0.5, 0.5) < 0.01  # a short run barely moves the 1-minute average
    assert own_load(600.0, 300.0) == pytest.approx(2.0 * (1 - math.exp(-5)))  # two busy cores for 5 minutes
    run = {"date": "d", "command": "c", "version": "v", "git_commit": "a" * 40, "git_dirty": False}
    run |= {"load_average_at_start": [1.0, 0, 0], "load_average_at_end": [2.3, 0, 0]}
    assert load_from_others(run) == 2.3 and "loaded machine" in run_header(run)  # no record of its own share
    own = run | {"own_load_at_end": 1.99}
    assert load_from_others(own) == pytest.approx(1.0)
    assert "loaded machine" not in run_header(own) and "the run's own share of it 1.99" in run_header(own)
    assert "loaded machine" in run_header(own | {"load_average_at_end": [3.7, 0, 0]})  # others ran beside it

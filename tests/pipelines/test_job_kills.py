"""Batch jobs under real process deaths: the whole job SIGKILLed (its process group) and rerun equals one
run; a worker process SIGKILLed marks shards failed, ``latte-vt run`` exits 1 and the rerun completes;
a rerun with changed inputs or model is refused with the reason."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
import yaml
from pipeline_fixtures import read_parts

from latte_vt.cli import main
from latte_vt.data.synthetic.transactions import TransactionSynthConfig, write_transactions
from latte_vt.pipelines.runner import run_job
from latte_vt.pipelines.shards import OutputFolderError
from latte_vt.pipelines.spec import spec_from_dict

SHARDS = 16


@pytest.fixture(scope="module")
def big_log(tmp_path_factory) -> Path:
    """A log large enough that a 16-shard job is still running when it is killed."""
    root = tmp_path_factory.mktemp("big-log")
    return write_transactions(root, TransactionSynthConfig(accounts=600, days=30, seed=7), "parquet")


def job_spec(kind: str, source: list[str], model: Path, out: Path, workers: int) -> dict:
    options = {"shards": SHARDS} if kind == "score-transactions" else {"shard_size": 1, "top_k": 2}
    return {
        "job": kind,
        "input": source,
        "output": str(out),
        "model": {"bundle": str(model)},
        "workers": workers,
        "options": options,
    }


def start(spec: dict, folder: Path) -> subprocess.Popen:
    """``latte-vt run`` in a process group of its own (the job, its workers, their subprocesses)."""
    path = folder / f"{Path(spec['output']).name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    command = [sys.executable, "-m", "latte_vt.cli", "run", str(path), "--quiet"]
    return subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_done(out: Path, proc: subprocess.Popen, count: int = 1, timeout_s: float = 120) -> int:
    """Wait until ``count`` shards are finished (their markers exist); the number finished."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = len(list((out / "_done").glob("*.json"))) if (out / "_done").is_dir() else 0
        if done >= count:
            return done
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        time.sleep(0.02)
    raise AssertionError("no shard finished in time")


def children(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def pool_workers(pid: int) -> list[int]:
    """The spawn pool's worker processes of a ``latte-vt run`` process (not multiprocessing's resource tracker)."""
    workers = []
    for child in children(pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "spawn_main" in command and "resource_tracker" not in command:
            workers.append(child)
    return workers


@pytest.mark.parametrize("kind", ["score-transactions", "classify-videos"])
def test_sigkill_of_the_whole_job_then_rerun_equals_one_run(kind, big_log, tx_models, clips, video_models, tmp_path):
    if kind == "score-transactions":
        source, model, results = [str(big_log)], tx_models.bundle, "scores"
    else:
        source, model, results = [str(clips["root"] / "videos")], video_models.bundle, "predictions"
    once = run_job(spec_from_dict(job_spec(kind, source, model, tmp_path / "once", workers=1)), progress=False)
    assert once.ok
    spec = job_spec(kind, source, model, tmp_path / "killed", workers=2)
    proc = start(spec, tmp_path)
    done_at_kill = wait_for_done(tmp_path / "killed", proc)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver, its workers and their probes, all at once
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert done_at_kill < once.shards  # killed in the middle, not after the end
    assert main(["run", str(tmp_path / "killed.yaml"), "--quiet"]) == 0
    for name in (results, "rejects"):
        resumed, whole = read_parts(tmp_path / "killed", name), read_parts(tmp_path / "once", name)
        assert resumed.equals(whole), name
    assert not list((tmp_path / "killed").rglob("*.tmp-*"))  # no half-written part survives


def test_a_dying_worker_fails_its_shards_and_the_rerun_completes(big_log, tx_models, tmp_path):
    spec = job_spec("score-transactions", [str(big_log)], tx_models.bundle, tmp_path / "out", workers=2)
    proc = start(spec, tmp_path)
    wait_for_done(tmp_path / "out", proc)
    workers = pool_workers(proc.pid)
    assert workers, "no pool worker found"
    os.kill(workers[0], signal.SIGKILL)  # one worker dies, as on a decoder crash or the OOM killer
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    summary = yaml.safe_load((tmp_path / "out" / "summary.json").read_text())
    assert summary["shards_failed"] >= 1
    assert any("worker process died" in f["error"] for f in summary["failures"])
    assert main(["run", str(tmp_path / "out.yaml"), "--quiet"]) == 0
    scores = read_parts(tmp_path / "out", "scores")
    assert scores.height == pl.read_parquet(big_log).height and scores["event_id"].n_unique() == scores.height


def test_a_rerun_with_changed_inputs_or_model_is_refused(tx_models, events, tmp_path):
    log = tmp_path / "log.parquet"
    pl.read_parquet(events["good"]).write_parquet(log)
    spec = job_spec("score-transactions", [str(log)], tx_models.bundle, tmp_path / "out", workers=1)
    assert run_job(spec_from_dict(spec), progress=False).ok
    pl.read_parquet(log).head(100).write_parquet(log)  # the input changed
    with pytest.raises(OutputFolderError, match="changed: inputs"):
        run_job(spec_from_dict(spec), progress=False)
    other = tmp_path / "other-bundle"
    other.mkdir()
    for item in tx_models.bundle.iterdir():
        (other / item.name).write_bytes(item.read_bytes())
    pl.read_parquet(events["good"]).write_parquet(log)
    spec2 = job_spec("score-transactions", [str(log)], other, tmp_path / "out2", workers=1)
    assert run_job(spec_from_dict(spec2), progress=False).ok
    spec2["model"] = {"bundle": str(tx_models.bundle)}  # another model at another path
    with pytest.raises(OutputFolderError, match="changed: model"):
        run_job(spec_from_dict(spec2), progress=False)

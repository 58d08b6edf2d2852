"""``latte-vt stream`` killed with SIGKILL at different points and restarted writes exactly what an
uninterrupted run writes (no event lost or applied twice); SIGTERM checkpoints and exits 0."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from jsonl_events import assert_same_scores, entity_counts, read_jsonl, state_meta, write_jsonl

from latte_vt.cli import main
from latte_vt.runtime import StreamingScorer

ARGS = ("--checkpoint-every", "50", "--batch", "8")


@pytest.fixture(scope="module")
def long_log(transaction_bundle, live_events, tmp_path_factory):
    """The synthetic log twice over (the copy 30 days later), with two bad lines, and an uninterrupted run's
    scores, rejects and state."""
    root = tmp_path_factory.mktemp("kill")
    later = [{**e, "time": e["time"] + timedelta(days=30), "event_id": f"{e['event_id']}-b"} for e in live_events]
    source = root / "events.jsonl"
    write_jsonl(live_events + later, source, {500: "{oops", 2000: '{"entity": "A000001"}'})
    reference = root / "reference.jsonl"
    assert main(stream_args(transaction_bundle, source, reference)) == 0
    return source, reference


def stream_args(bundle, source, out) -> list[str]:
    return ["stream", "--bundle", str(bundle), "--input", str(source), "--output", str(out), *ARGS]


@pytest.mark.parametrize("kill_after_lines", [300, 1500, 2700])
def test_sigkill_then_restart_equals_an_uninterrupted_run(transaction_bundle, long_log, tmp_path, kill_after_lines):
    source, reference = long_log
    out = tmp_path / "scores.jsonl"
    with (tmp_path / "stderr.txt").open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "latte_vt.cli", *stream_args(transaction_bundle, source, out)], stderr=err
        )
        watchdog = threading.Timer(120, proc.kill)  # never leave a stuck child behind
        watchdog.start()
        while proc.poll() is None:
            if out.exists() and out.read_bytes().count(b"\n") >= kill_after_lines:
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.002)
        watchdog.cancel()
        assert proc.wait() == -signal.SIGKILL, "the stream finished before it could be killed"
    written_at_kill = out.read_bytes().count(b"\n")
    checkpoint = state_meta(tmp_path / "scores.state.sqlite")
    assert 0 < checkpoint["input_line"] < len(source.read_bytes().splitlines())  # killed mid-run

    assert main(stream_args(transaction_bundle, source, out)) == 0

    assert written_at_kill >= kill_after_lines
    assert_same_scores(read_jsonl(out), read_jsonl(reference))
    assert (tmp_path / "scores.rejects.jsonl").read_bytes() == reference.with_name(
        "reference.rejects.jsonl"
    ).read_bytes()
    counts = entity_counts(tmp_path / "scores.state.sqlite")
    assert counts == entity_counts(reference.with_name("reference.state.sqlite"))
    assert sum(counts.values()) == len(read_jsonl(reference))  # each scored event applied exactly once


def test_sigterm_checkpoints_and_exits_cleanly_without_torch(transaction_bundle, live_events, tmp_path):
    blocked = tmp_path / "no_torch" / "torch"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text('raise ImportError("torch is not installed here")\n')
    env = {**os.environ, "PYTHONPATH": str(blocked.parent)}  # the stream must run where torch cannot load
    events = live_events[:10]
    data = write_jsonl(events, tmp_path / "events.jsonl").splitlines(keepends=True)
    state = tmp_path / "state.sqlite"
    command = [
        sys.executable,
        "-m",
        "latte_vt.cli",
        "stream",
        "--bundle",
        str(transaction_bundle),
        "--state",
        str(state),
    ]
    with (tmp_path / "stderr.txt").open("wb") as err:
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env)
        watchdog = threading.Timer(120, proc.kill)
        watchdog.start()
        proc.stdin.write(b"".join(data[:5]))
        proc.stdin.flush()
        first = [proc.stdout.readline() for _ in range(5)]  # scored while the producer keeps the pipe open
        proc.send_signal(signal.SIGTERM)  # it is waiting for the sixth line
        assert proc.wait() == 0
        watchdog.cancel()
    assert "stopped by signal" in (tmp_path / "stderr.txt").read_text()
    meta = state_meta(state)
    assert meta["input_line"] == 5 and meta["events_applied"] == 5 and meta["input_offset"] == len(b"".join(data[:5]))

    resumed = subprocess.run(
        command, input=b"".join(data[5:]), capture_output=True, timeout=120, env=env
    )  # replay from there
    assert resumed.returncode == 0, resumed.stderr.decode()[-2000:]
    scores = [json.loads(x)["score"] for x in first + resumed.stdout.splitlines()]
    assert [json.loads(x)["line"] for x in resumed.stdout.splitlines()] == [6, 7, 8, 9, 10]
    expected = StreamingScorer(transaction_bundle).score_batch(events)
    assert max(abs(a - b) for a, b in zip(scores, expected, strict=True)) <= 1e-6

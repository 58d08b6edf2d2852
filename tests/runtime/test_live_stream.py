"""``latte-vt stream`` in process: bad lines quarantined with their line numbers, a crashed run's leftovers
cut back to the last checkpoint, standard-input replays skipped, and unsafe resumes refused."""

import io
import sys
from datetime import timedelta

import numpy as np
from jsonl_events import assert_same_scores, entity_counts, read_jsonl, write_jsonl

from latte_vt.cli import main
from latte_vt.runtime import StreamingScorer


def stream(bundle, *args: str) -> int:
    return main(["stream", "--bundle", str(bundle), *args])


def test_bad_lines_go_to_rejects_with_their_line_numbers(transaction_bundle, live_events, tmp_path, capsys):
    events = [dict(e) for e in live_events[:300]]
    del events[40]["amount"]
    events[45] = {**events[45], "entity": events[0]["entity"], "time": events[0]["time"] - timedelta(days=1)}
    source = tmp_path / "events.jsonl"
    write_jsonl(events, source, {10: "{not json", 20: "", 30: "[1, 2]"})
    out = tmp_path / "scores.jsonl"
    assert stream(transaction_bundle, "--input", str(source), "--output", str(out), "--checkpoint-every", "37") == 0

    lines = source.read_text().splitlines()
    rejects = read_jsonl(tmp_path / "scores.rejects.jsonl")
    assert [r["kind"] for r in rejects] == ["invalid_json", "not_an_object", "missing_field", "late_event"]
    assert all(lines[r["line"] - 1] == r["raw"] for r in rejects)
    assert "['amount']" in rejects[2]["reason"] and "older than its last event" in rejects[3]["reason"]
    assert rejects[3]["event_id"] == events[45]["event_id"]
    scores = read_jsonl(out)
    accepted = [e for i, e in enumerate(events) if i not in (40, 45)]
    assert [s["event_id"] for s in scores] == [e["event_id"] for e in accepted]
    assert all(f'"event_id": "{s["event_id"]}"' in lines[s["line"] - 1] for s in scores)
    expected = StreamingScorer(transaction_bundle).score_batch(accepted)
    assert np.abs(np.array([s["score"] for s in scores]) - np.array(expected)).max() <= 1e-6
    err = capsys.readouterr().err
    assert "298 scored, 4 rejected (invalid_json 1, late_event 1, missing_field 1, not_an_object 1), 1 blank" in err


def test_a_crashed_runs_leftovers_are_cut_and_the_rest_scored_once(transaction_bundle, live_events, tmp_path):
    events = live_events[:400]
    reference = tmp_path / "ref.jsonl"
    write_jsonl(events, tmp_path / "all.jsonl")
    assert stream(transaction_bundle, "--input", str(tmp_path / "all.jsonl"), "--output", str(reference)) == 0

    source, out = tmp_path / "events.jsonl", tmp_path / "scores.jsonl"
    write_jsonl(events[:250], source)
    assert stream(transaction_bundle, "--input", str(source), "--output", str(out), "--checkpoint-every", "40") == 0
    with out.open("ab") as fh:  # what a run killed after its last checkpoint leaves behind
        fh.write(b'{"line": 251, "event_id": "half-writ')
    with (tmp_path / "scores.rejects.jsonl").open("ab") as fh:
        fh.write(b"junk")
    write_jsonl(events, source)  # the log grew
    assert stream(transaction_bundle, "--input", str(source), "--output", str(out), "--checkpoint-every", "40") == 0

    assert_same_scores(read_jsonl(out), read_jsonl(reference))
    assert (tmp_path / "scores.rejects.jsonl").read_bytes() == b""
    counts = entity_counts(tmp_path / "scores.state.sqlite")
    assert counts == entity_counts(tmp_path / "ref.state.sqlite")
    assert sum(counts.values()) == len(events)  # every event applied exactly once


def test_standard_input_replays_skip_what_was_applied(transaction_bundle, live_events, tmp_path, monkeypatch):
    events = live_events[:300]
    data = write_jsonl(events, tmp_path / "all.jsonl")
    reference = tmp_path / "ref.jsonl"
    assert stream(transaction_bundle, "--input", str(tmp_path / "all.jsonl"), "--output", str(reference)) == 0
    cut = data.index(b"\n", len(data) // 3) + 1
    out, state = tmp_path / "scores.jsonl", tmp_path / "state.sqlite"
    args = ["--output", str(out), "--state", str(state), "--checkpoint-every", "25"]

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data[:cut])))  # the producer stops early
    assert stream(transaction_bundle, *args) == 0
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data[cut + 10 :])))
    assert stream(transaction_bundle, *args, "--input-start-offset", str(cut + 10)) == 2  # a gap: refused
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))  # it replays from the start
    assert stream(transaction_bundle, *args, "--input-start-offset", "0") == 0

    assert_same_scores(read_jsonl(out), read_jsonl(reference))
    assert sum(entity_counts(state).values()) == len(events)


def test_unsafe_resumes_are_refused(transaction_bundle, live_events, tmp_path, capsys):
    source, out = tmp_path / "events.jsonl", tmp_path / "scores.jsonl"
    write_jsonl(live_events[:60], source)
    assert stream(transaction_bundle, "--input", str(source), "--output", str(out)) == 0
    other = tmp_path / "other.jsonl"
    write_jsonl(live_events[:60], other)
    assert stream(transaction_bundle, "--input", str(other), "--output", str(out)) == 2
    assert "resume it with that input" in capsys.readouterr().err
    out.write_bytes(out.read_bytes()[:100])
    assert stream(transaction_bundle, "--input", str(source), "--output", str(out)) == 2
    err = capsys.readouterr().err
    assert "fewer than the" in err and "truncated or replaced" in err
    assert stream(transaction_bundle, "--input", str(source), "--output", "-") == 2
    assert "give --state PATH" in capsys.readouterr().err


def test_a_micro_batch_below_one_line_is_refused(transaction_bundle, live_events, tmp_path, capsys):
    source, out = tmp_path / "events.jsonl", tmp_path / "scores.jsonl"
    write_jsonl(live_events[:10], source)
    for bad in ("0", "-3"):  # not silently replaced by the default
        assert stream(transaction_bundle, "--input", str(source), "--output", str(out), "--batch", bad) == 2
        assert f"batch_size (--batch) must be >= 1, got {bad}" in capsys.readouterr().err
    assert not out.exists()

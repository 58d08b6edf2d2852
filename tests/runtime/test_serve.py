"""``latte-vt serve``'s app: scores equal ``latte-vt stream``'s for the same events, refusals are reported
per event, malformed bodies get 422, health and metrics tell the truth, and the state survives a restart."""

import json
import subprocess
import sys

import numpy as np
from fastapi.testclient import TestClient
from jsonl_events import read_jsonl, write_jsonl

from latte_vt.cli import main
from latte_vt.runtime import StreamingScorer
from latte_vt.runtime.serve import ScoringService, create_app


def as_json(event: dict) -> dict:
    return {**event, "time": event["time"].isoformat()}


def test_serve_scores_equal_the_stream_commands_across_a_restart(transaction_bundle, live_events, tmp_path):
    events = live_events[:200]
    write_jsonl(events, tmp_path / "events.jsonl")
    stream_out = tmp_path / "stream.jsonl"
    args = ["stream", "--bundle", str(transaction_bundle), "--input", str(tmp_path / "events.jsonl")]
    assert main([*args, "--output", str(stream_out)]) == 0
    expected = [r["score"] for r in read_jsonl(stream_out)]

    state = tmp_path / "serve.sqlite"
    scores = []
    with TestClient(create_app(ScoringService(transaction_bundle, state))) as client:
        reply = client.post("/score", json=as_json(events[0]))  # one event object
        assert reply.status_code == 200
        scores += [r["score"] for r in reply.json()["results"]]
        for chunk in (events[1:8], events[8:50], events[50:100]):  # lists of several sizes
            reply = client.post("/score", json=[as_json(e) for e in chunk])
            assert reply.status_code == 200 and reply.json()["rejected"] == 0
            scores += [r["score"] for r in reply.json()["results"]]
        assert client.get("/health").json()["events_applied"] == 100
    # a new process on the same state carries on where the first one stopped
    with TestClient(create_app(ScoringService(transaction_bundle, state))) as client:
        health = client.get("/health").json()
        assert health["events_applied"] == 100 and health["state"] == str(state)
        assert health["bundle"] == StreamingScorer(transaction_bundle).bundle_id
        reply = client.post("/score", json=[as_json(e) for e in events[100:]])
        results = reply.json()["results"]
        assert [r["event_id"] for r in results] == [e["event_id"] for e in events[100:]]
        scores += [r["score"] for r in results]
    assert np.abs(np.array(scores) - np.array(expected)).max() <= 1e-6


def test_refusals_are_per_event_and_bad_bodies_get_422(transaction_bundle, live_events, tmp_path):
    first, second = live_events[0], live_events[1]
    late = {**as_json(first), "event_id": "late", "time": first["time"].replace(year=2000).isoformat()}
    missing = {k: v for k, v in as_json(second).items() if k != "amount"}
    with TestClient(create_app(ScoringService(transaction_bundle, tmp_path / "s.sqlite"))) as client:
        reply = client.post("/score", json=[as_json(first), late, missing, as_json(second)])
        assert reply.status_code == 200
        body = reply.json()
        assert (body["scored"], body["rejected"]) == (2, 2)
        statuses = [(r["index"], r["status"], r.get("kind")) for r in body["results"]]
        assert statuses == [(0, "scored", None), (1, "rejected", "late_event"), (2, "rejected", "missing_field"),
                            (3, "scored", None)]  # fmt: skip
        assert "older than its last event" in body["results"][1]["reason"]
        assert "['amount']" in body["results"][2]["reason"]

        for raw, message in [
            (b"{not json", "not valid JSON"),
            (b"42", "expected an event object or a list of them, got a JSON number"),
            (b'[{"entity": "a"}, "x"]', "item 1 of the list is a JSON string"),
        ]:
            reply = client.post("/score", content=raw, headers={"content-type": "application/json"})
            assert reply.status_code == 422 and message in reply.json()["detail"]

        metrics = client.get("/metrics").text
        assert 'latte_vt_requests_total{status="200"} 1' in metrics
        assert 'latte_vt_requests_total{status="422"} 3' in metrics
        assert 'latte_vt_events_total{result="scored"} 2' in metrics
        assert 'latte_vt_events_total{result="late_event"} 1' in metrics
        assert "latte_vt_events_applied 2" in metrics
        assert (
            'latte_vt_request_seconds_bucket{le="+Inf"} 4' in metrics and "latte_vt_request_seconds_count 4" in metrics
        )
        assert json.loads(client.get("/health").text)["status"] == "ok"


def test_serve_command_refuses_a_bad_bundle_before_listening(tmp_path, capsys):
    assert main(["serve", "--bundle", str(tmp_path / "missing"), "--state", str(tmp_path / "s.sqlite")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_the_app_is_built_without_torch(transaction_bundle, tmp_path):
    script = (
        "import sys\n"
        "from latte_vt.runtime.serve import ScoringService, create_app\n"
        f"create_app(ScoringService({str(transaction_bundle)!r}, {str(tmp_path / 's.sqlite')!r}))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]

"""``latte-vt serve`` killed with SIGKILL under load from four clients and restarted: every event that got a
reply is in the state, none is applied twice, and scoring the rest after the restart gives exactly the
scores of an uninterrupted run."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict

import numpy as np
from jsonl_events import entity_counts

from latte_vt.runtime import StreamingScorer

CLIENTS = 4
KILL_AFTER_REPLIES = 150


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(bundle, state, port: int, log) -> subprocess.Popen:
    command = [sys.executable, "-m", "latte_vt.cli", "serve", "--bundle", str(bundle), "--state", str(state)]
    proc = subprocess.Popen([*command, "--port", str(port)], stderr=log, stdout=log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # up when /health answers
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.1)
        assert proc.poll() is None, "serve exited while starting"
    raise AssertionError("serve did not start")


def post(port: int, event: dict) -> dict | None:
    """The reply to one event, or None when the server is gone."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/score", json.dumps(event), {"Content-Type": "application/json"})
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException):
        return None
    assert response.status == 200, body
    return json.loads(body)["results"][0]


def as_json(event: dict) -> dict:
    return {**event, "time": event["time"].isoformat()}


def test_sigkill_under_load_keeps_every_replied_event_once(transaction_bundle, live_events, tmp_path):
    entities = sorted({e["entity"] for e in live_events})
    owner = {entity: i % CLIENTS for i, entity in enumerate(entities)}  # each entity's events come from one client
    queues = defaultdict(list)
    for event in live_events:  # global time order, so each entity's events stay in order
        queues[owner[event["entity"]]].append(event)
    replies: dict[str, float] = {}
    in_flight: dict[int, dict] = {}
    lock = threading.Lock()
    stop = threading.Event()
    state, port = tmp_path / "serve.sqlite", free_port()
    log = (tmp_path / "serve.log").open("wb")
    server = start_server(transaction_bundle, state, port, log)

    def client(index: int) -> None:
        for event in queues[index]:
            if stop.is_set():
                return
            in_flight[index] = event
            reply = post(port, as_json(event))
            if reply is None:
                return  # the server died with this event in flight
            assert reply["status"] == "scored", reply
            with lock:
                replies[event["event_id"]] = reply["score"]
            del in_flight[index]

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    while len(replies) < KILL_AFTER_REPLIES and server.poll() is None:
        time.sleep(0.005)
    server.send_signal(signal.SIGKILL)
    server.wait(timeout=30)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert server.returncode == -signal.SIGKILL and len(replies) >= KILL_AFTER_REPLIES

    applied = entity_counts(state)
    sent = {e["entity"]: [] for e in live_events}
    for event in live_events:
        sent[event["entity"]].append(event)
    pending = {event["event_id"] for event in in_flight.values()}
    for entity, events in sent.items():
        replied = sum(e["event_id"] in replies for e in events)
        maybe = sum(e["event_id"] in pending for e in events)  # sent, no reply: applied or not
        assert replied <= applied.get(entity, 0) <= replied + maybe, entity  # every reply durable, none twice

    server = start_server(transaction_bundle, state, port, log)  # the same state: carry on
    try:
        rest = [e for entity, events in sent.items() for e in events[applied.get(entity, 0) :]]
        rest.sort(key=lambda e: (e["time"], e["event_id"]))
        for event in rest:
            reply = post(port, as_json(event))
            replies[event["event_id"]] = reply["score"]
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        log.close()
    reference = dict(
        zip(
            [e["event_id"] for e in live_events],
            StreamingScorer(transaction_bundle).score_batch(live_events),
            strict=True,
        )
    )
    ids = sorted(replies)
    assert len(ids) >= len(live_events) - CLIENTS  # all but events lost in flight at the kill
    got, want = np.array([replies[i] for i in ids]), np.array([reference[i] for i in ids])
    assert np.abs(got - want).max() <= 1e-6  # an event applied twice would shift every later score

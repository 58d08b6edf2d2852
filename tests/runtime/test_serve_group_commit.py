"""Group commit in ``latte-vt serve``: concurrent requests are scored and committed in shared batches, every
replied event is durable exactly once (the server is SIGKILLed right after the last reply), and the scores
equal scoring each entity's events one at a time."""

from __future__ import annotations

import re
import signal
import threading
import urllib.request
from collections import Counter, defaultdict

import numpy as np
import test_serve_kill as kill
from jsonl_events import entity_counts

from latte_vt.runtime import StreamingScorer

CLIENTS = 8
EVENTS = 320


def metric(text: str, name: str) -> float:
    return float(re.search(rf"^{name} (\S+)$", text, re.MULTILINE).group(1))


def test_concurrent_requests_share_batches_and_every_reply_is_durable_once(transaction_bundle, live_events, tmp_path):
    events = live_events[:EVENTS]
    entities = sorted({e["entity"] for e in events})
    owner = {entity: i % CLIENTS for i, entity in enumerate(entities)}  # each entity's events come from one client
    queues = defaultdict(list)
    for event in events:
        queues[owner[event["entity"]]].append(event)
    replies: dict[str, float] = {}
    lock = threading.Lock()
    state, port = tmp_path / "serve.sqlite", kill.free_port()
    log = (tmp_path / "serve.log").open("wb")
    server = kill.start_server(transaction_bundle, state, port, log)
    try:

        def client(index: int) -> None:
            for event in queues[index]:
                reply = kill.post(port, kill.as_json(event))
                assert reply is not None and reply["status"] == "scored", reply
                with lock:
                    replies[event["event_id"]] = reply["score"]

        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
    finally:
        server.send_signal(signal.SIGKILL)  # no shutdown checkpoint: only what was committed before replies
        server.wait(timeout=30)
        log.close()
    assert len(replies) == len(events)
    batches, checkpoints = metric(metrics, "latte_vt_batches_total"), metric(metrics, "latte_vt_checkpoints_total")
    assert checkpoints == batches < len(events)  # requests shared batches, one commit each
    assert metric(metrics, 'latte_vt_events_total{result="scored"}') == len(events)

    assert entity_counts(state) == Counter(e["entity"] for e in events)  # every replied event on disk, once
    reference = StreamingScorer(transaction_bundle)
    expected = {e["event_id"]: reference.score(e) for e in events}  # one event at a time
    ids = sorted(replies)
    got, want = np.array([replies[i] for i in ids]), np.array([expected[i] for i in ids])
    assert np.abs(got - want).max() <= 1e-6

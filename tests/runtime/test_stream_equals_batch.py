"""Streaming one event at a time equals ``model.onnx`` over whole histories, for every event of a log in
which many entities are interleaved (the way live traffic arrives)."""

from __future__ import annotations

import numpy as np

from latte_vt.runtime import StreamingScorer, TransactionScorer


def test_stepping_interleaved_entities_equals_the_full_history_graph(transaction_bundle, live_events):
    entities = {e["entity"] for e in live_events}
    switches = sum(a["entity"] != b["entity"] for a, b in zip(live_events, live_events[1:], strict=False))
    assert len(entities) >= 30 and switches > len(live_events) // 2  # really interleaved, event after event
    live = StreamingScorer(transaction_bundle)
    streamed = {e["event_id"]: live.score(e) for e in live_events}  # one event in, one score out
    batch = TransactionScorer(transaction_bundle).score(transaction_bundle.parent / "data" / "events.parquet")
    assert batch.height == len(streamed)
    expected = np.array([streamed[i] for i in batch["event_id"]])
    assert np.abs(batch["score"].to_numpy() - expected).max() <= 1e-5

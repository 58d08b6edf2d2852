"""Durable entity states in SQLite: a checkpoint is all-or-nothing, resumes equal an uninterrupted run,
and a store that belongs to another bundle, another writer or nothing at all is refused."""

import sqlite3

import numpy as np
import pytest

from latte_vt.runtime import StreamingScorer
from latte_vt.runtime.state_store import SQLiteStateStore, StateStoreError


def test_resume_from_a_checkpoint_equals_an_uninterrupted_run(transaction_bundle, live_events, tmp_path):
    events = live_events[:300]
    expected = StreamingScorer(transaction_bundle).score_batch(events)
    path = tmp_path / "state.sqlite"
    first = StreamingScorer(transaction_bundle, store=path)
    got = first.score_batch(events[:120])
    first.checkpoint(note="after 120")
    first.score_batch(events[120:170])  # applied but never checkpointed: lost on close, as in a crash
    first.store.close()

    second = StreamingScorer(transaction_bundle, store=path)
    assert second.events_applied == 120 and second.store.meta["note"] == "after 120"
    got += second.score_batch(events[120:])
    assert np.abs(np.array(got) - np.array(expected)).max() <= 1e-6
    entities = {e["entity"] for e in events}
    saved = dict(second.store.items())
    assert set(saved) == entities
    for entity, state in saved.items():
        last = max(e["time"] for e in events if e["entity"] == entity)
        assert state.history.last_time == last
        assert state.history.count == sum(e["entity"] == entity for e in events)


def test_states_survive_the_cache_being_dropped(transaction_bundle, live_events, tmp_path):
    events = live_events[:200]
    expected = StreamingScorer(transaction_bundle).score_batch(events)
    scorer = StreamingScorer(transaction_bundle)
    scorer.store = SQLiteStateStore(tmp_path / "s.sqlite", scorer.layout, scorer.bundle_id, cache_entities=1)
    got = []
    for start in range(0, len(events), 25):  # every checkpoint empties the cache: states come back from disk
        got += scorer.score_batch(events[start : start + 25])
        scorer.checkpoint()
    assert np.abs(np.array(got) - np.array(expected)).max() <= 1e-6


def test_a_store_of_another_bundle_or_writer_is_refused(transaction_bundle, tmp_path):
    path = tmp_path / "state.sqlite"
    scorer = StreamingScorer(transaction_bundle, store=path)
    with pytest.raises(StateStoreError, match="another latte-vt stream/serve"):
        SQLiteStateStore(path, scorer.layout, scorer.bundle_id)
    scorer.store.close()
    with pytest.raises(StateStoreError, match="written for owner .* states of another bundle"):
        SQLiteStateStore(path, scorer.layout, "0123456789abcdef")
    SQLiteStateStore(path, scorer.layout, scorer.bundle_id).close()  # the right bundle opens it again
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"these bytes are not a database" * 100)
    with pytest.raises(StateStoreError, match="junk.sqlite"):
        StreamingScorer(transaction_bundle, store=junk)


def test_a_corrupt_entity_state_is_named(transaction_bundle, live_events, tmp_path):
    path = tmp_path / "state.sqlite"
    scorer = StreamingScorer(transaction_bundle, store=path)
    scorer.score_batch(live_events[:50])
    scorer.checkpoint()
    scorer.store.close()
    entity = live_events[0]["entity"]
    other = next(e for e in live_events[:50] if e["entity"] != entity)
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE entity_state SET state = substr(state, 1, 8) WHERE entity = ?", (entity,))
        db.execute("UPDATE entity_state SET other_time_us = x'00' WHERE entity = ?", (other["entity"],))
    db.close()
    again = StreamingScorer(transaction_bundle, store=path)
    with pytest.raises(StateStoreError, match=f"entity '{entity}' is corrupt"):
        again.score({**live_events[0], "time": live_events[60]["time"]})
    with pytest.raises(StateStoreError, match=f"entity '{other['entity']}' is corrupt"):
        again.score({**other, "time": live_events[60]["time"]})

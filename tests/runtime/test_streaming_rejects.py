"""StreamingScorer's refusals: each bad event is named with its reason, the others are scored, and a
refused batch applies nothing.  Late events are refused; events at the entity's last time are accepted."""

from datetime import timedelta

import numpy as np
import pytest

from latte_vt.runtime import StreamingScorer
from latte_vt.runtime.streaming import RejectedEventError


def test_score_each_scores_good_events_and_names_each_bad_one(transaction_bundle, live_events):
    good = live_events[:40]
    entity = good[0]["entity"]
    first_time = good[0]["time"]
    bad = [
        {k: v for k, v in good[5].items() if k != "time"},
        {**good[6], "time": "yesterday"},
        {**good[7], "amount": "12,50 EUR"},
        {**good[8], "amount": float("nan")},
        {**good[9], "entity": entity, "time": first_time - timedelta(days=1)},  # before the entity's first
    ]
    mixed = good[:20] + bad + good[20:]
    results = StreamingScorer(transaction_bundle).score_each(mixed)
    rejected = [r for r in results if isinstance(r, RejectedEventError)]
    assert [r.kind for r in rejected] == ["missing_field", "bad_value", "bad_value", "bad_value", "late_event"]
    assert "['time']" in str(rejected[0]) and "'yesterday'" in str(rejected[1])
    assert "'12,50 EUR' is not a finite number" in str(rejected[2])
    assert f"entity {entity!r}" in str(rejected[4]) and "older than its last event" in str(rejected[4])
    scores = [r for r in results if not isinstance(r, RejectedEventError)]
    alone = StreamingScorer(transaction_bundle).score_batch(good)
    assert np.abs(np.array(scores) - np.array(alone)).max() <= 1e-6


def test_a_refused_batch_applies_nothing(transaction_bundle, live_events):
    scorer = StreamingScorer(transaction_bundle)
    scorer.score_batch(live_events[:10])
    before = dict(scorer.store.items())
    with pytest.raises(RejectedEventError, match="lacks required field"):
        scorer.score_batch([*live_events[10:20], {"entity": "x", "time": live_events[20]["time"]}])
    assert scorer.events_applied == 10
    after = dict(scorer.store.items())
    assert after.keys() == before.keys()
    assert all(after[e].history.count == before[e].history.count for e in before)


def test_events_at_the_same_time_are_applied_in_arrival_order(transaction_bundle, live_events):
    event = live_events[0]
    twin = {**event, "amount": event["amount"] * 3 + 1, "event_id": "twin"}
    scorer = StreamingScorer(transaction_bundle)
    one, two = scorer.score_batch([event, twin])
    swapped = StreamingScorer(transaction_bundle).score_batch([twin, event])
    assert scorer.events_applied == 2
    assert (one, two) != tuple(swapped)  # order matters, and both were accepted
    state = scorer.store.get(event["entity"])
    assert state.history.count == 2 and state.history.last_time == event["time"]

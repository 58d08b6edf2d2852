"""The plain-numpy live encoder equals the polars batch path event by event, on logs built to be awkward."""

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from latte_vt.data.transactions import FittedPreprocessor
from latte_vt.data.transactions.history import EntityHistory
from latte_vt.data.transactions.live_encoder import LiveEncoder
from latte_vt.data.transactions.load import NULL_CATEGORY

T0 = datetime(2023, 12, 30, 22, 59, 58, 999_999, tzinfo=UTC)
FIELDS = ("shop", "country")


def _log(n: int, seed: int) -> list[dict]:
    """Global time order; interleaved entities; equal timestamps; sub-second and multi-year gaps; missing
    fields (absent or None); zero and negative amounts; shops only seen after the training period."""
    rng = np.random.default_rng(seed)
    steps = rng.choice([0, 1, 37, 3_600, 86_400 * 400], size=n, p=[0.3, 0.2, 0.3, 0.17, 0.03])
    micros = np.cumsum(steps * 1_000_000 + rng.integers(0, 1_000_000, size=n) * (rng.random(n) < 0.3))
    events = []
    for i in range(n):
        event = {
            "event_id": f"e{i}",
            "entity": f"a{rng.integers(7)}",
            "time": T0 + timedelta(microseconds=int(micros[i])),
            "amount": float(rng.choice([0.0, -12.5, round(rng.lognormal(3, 1.5), 2)])),
            "shop": f"s{rng.integers(12 if i < n // 2 else 20)}",  # s12..s19 unknown to the vocabulary
            "country": str(rng.choice(["FR", "DE", "US"])),
            "score": float(rng.normal(5.0, 2.0)),
        }
        for f in FIELDS:
            if rng.random() < 0.04:
                del event[f]  # absent
            elif rng.random() < 0.04:
                event[f] = None  # present but null
        events.append(event)
    return events


def _frame(events: list[dict]) -> pl.DataFrame:
    """The canonical frame ``load_events`` would give: missing categorical values read "<null>"."""
    rows = [{**e, **{f: e.get(f) or NULL_CATEGORY for f in FIELDS}} for e in events]
    return pl.DataFrame(rows, schema_overrides={"time": pl.Datetime("us", "UTC")})


@pytest.mark.parametrize("entity_history", [True, False])
@pytest.mark.parametrize("seed", [0, 1])
def test_live_encoder_equals_batch_transform_event_by_event(entity_history, seed):
    events = _log(3000, seed)
    frame = _frame(events)
    assert frame["time"].is_duplicated().sum() > 100 and (frame["shop"] == NULL_CATEGORY).sum() > 20
    pre = FittedPreprocessor(FIELDS, ["score"], min_freq=3, entity_history=entity_history)
    pre.fit(frame, frame["time"][len(events) // 2])
    batch = pre.transform(frame)  # sorted by entity, then time: back to arrival order
    batch = batch.sort(pl.col("event_id").str.slice(1).cast(pl.Int64))
    encoder = LiveEncoder(pre)
    histories: dict[str, EntityHistory] = {}
    cats, nums = [], []
    for event in events:
        cat, num, histories[event["entity"]] = encoder.encode(event, histories.get(event["entity"]))
        assert cat.dtype == np.int64 and num.dtype == np.float32
        cats.append(cat)
        nums.append(num)
    cat_b, num_b = batch.select(pre.cat_columns).to_numpy(), batch.select(pre.num_columns).to_numpy()
    assert np.array_equal(np.stack(cats), cat_b)
    np.testing.assert_allclose(np.stack(nums), num_b, rtol=0, atol=1e-6)
    # the log exercises what it claims: unknown ids, every history flag both ways, capped and real gaps
    assert (cat_b == 1).any() and (cat_b > 1).any()
    if entity_history:
        for name in ("new_shop", "changed_country", "new_country"):
            assert set(np.unique(batch[f"num_{name}"])) == {0.0, 1.0}
        since = batch["num_since_other_shop"].to_numpy()
        assert (since == np.float32(np.log1p(365 * 86_400.0))).any() and (since < 5).any()


def test_live_encoder_sees_a_wrong_feature():
    """The comparison can fail: a scaler the batch path does not use shows up in the numeric features."""
    events = _log(200, 2)
    frame = _frame(events)
    pre = FittedPreprocessor(FIELDS, ["score"], min_freq=3).fit(frame, frame["time"][100])
    encoder = LiveEncoder(pre)
    encoder.stats = [("score", 0.0, 1.0)]
    batch = pre.transform(frame.filter(pl.col("event_id") == "e0"))
    _, num, _ = encoder.encode(events[0])
    assert not np.allclose(num, batch.select(pre.num_columns).to_numpy()[0], atol=1e-6)

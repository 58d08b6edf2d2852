"""Features fitted on the training period only; live (one event) encoding equals batch encoding."""

import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from latte_vt.data.transactions import FittedPreprocessor, load_events

T0 = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
TRAIN_END = T0 + timedelta(days=10)


def _events() -> pl.DataFrame:
    """Two entities; 'shop' values: a frequent one, a rare one (train) and one seen only after TRAIN_END."""
    rows = []
    for i in range(12):
        rows.append(("a", T0 + timedelta(days=i, hours=i), (-1) ** i * (10.0 + i), "common", float(i)))
    for i in range(6):
        rows.append(("b", T0 + timedelta(days=2 * i, minutes=30 * i), 3.0 * i, "rare" if i == 0 else "common", 100.0))
    rows.append(("b", TRAIN_END + timedelta(hours=1), 5.0, "future", 1e6))
    rows.append(("b", TRAIN_END + timedelta(hours=2), 5.0, "future", -1e6))
    frame = pl.DataFrame(rows, schema=["entity", "time", "amount", "shop", "score"], orient="row")
    return frame.with_columns(
        event_id=pl.int_range(pl.len()).cast(pl.String),
        time=pl.col("time").dt.cast_time_unit("us"),
        label=pl.lit(0, dtype=pl.Int8),
    ).sort("entity", "time")


def test_vocabularies_never_see_the_future():
    frame = _events()
    pre = FittedPreprocessor(["shop"], ["score"], min_freq=2).fit(frame, TRAIN_END)
    assert pre.vocabularies == {"shop": ["common"]}  # "rare" is below min_freq, "future" is after TRAIN_END
    assert pre.vocab_sizes == [3]
    ids = dict(zip(frame["shop"], pre.transform(frame)["cat_shop"], strict=True))
    assert ids == {"common": 2, "rare": 1, "future": 1}
    refit = FittedPreprocessor(["shop"], ["score"], min_freq=1).fit(frame, TRAIN_END)
    assert "future" not in refit.vocabularies["shop"] and "rare" in refit.vocabularies["shop"]


def test_scalers_are_fitted_on_the_training_period_only():
    frame = _events()
    pre = FittedPreprocessor(["shop"], ["score"], min_freq=1).fit(frame, TRAIN_END)
    train = frame.filter(pl.col("time") < TRAIN_END)["score"].to_numpy()
    assert pre.numeric_stats["score"] == pytest.approx((train.mean(), train.std()))
    encoded = pre.transform(frame)
    expected = (frame["score"].to_numpy() - train.mean()) / train.std()
    assert np.allclose(encoded["num_score"].to_numpy(), expected, rtol=1e-5)
    # the huge future values leave the fit untouched
    calm = frame.filter(pl.col("time") < TRAIN_END)
    assert FittedPreprocessor(["shop"], ["score"], 1).fit(calm, TRAIN_END).numeric_stats == pre.numeric_stats


def test_feature_values():
    frame = _events()
    pre = FittedPreprocessor(["shop"], [], min_freq=1, entity_history=False).fit(frame, TRAIN_END)
    out = pre.transform(frame).filter(pl.col("entity") == "a")
    assert pre.num_columns == [f"num_{f}" for f in ("amount", "log_dt", "hour_sin", "hour_cos", "dow_sin", "dow_cos")]
    a = frame.filter(pl.col("entity") == "a")
    amount = a["amount"].to_numpy()
    assert np.allclose(out["num_amount"], np.sign(amount) * np.log1p(np.abs(amount)), atol=1e-6)
    gaps = np.diff(a["time"].dt.epoch("s").to_numpy()).astype(float)
    assert out["num_log_dt"][0] == 0.0
    assert np.allclose(out["num_log_dt"].to_numpy()[1:], np.log1p(gaps), atol=1e-5)
    # event 3 of entity a: Thursday (day 3 after Monday) 03:00 UTC
    hour, dow = 3.0, 3 + 3.0 / 24
    row = out.row(3, named=True)
    assert row["num_hour_sin"] == pytest.approx(math.sin(2 * math.pi * hour / 24), abs=1e-6)
    assert row["num_hour_cos"] == pytest.approx(math.cos(2 * math.pi * hour / 24), abs=1e-6)
    assert row["num_dow_sin"] == pytest.approx(math.sin(2 * math.pi * dow / 7), abs=1e-6)
    assert row["num_dow_cos"] == pytest.approx(math.cos(2 * math.pi * dow / 7), abs=1e-6)
    assert out.schema["num_amount"] == pl.Float32 and out.schema["cat_shop"] == pl.Int64


def test_transform_orders_by_entity_then_time():
    frame = _events()
    pre = FittedPreprocessor(["shop"], ["score"], 1).fit(frame, TRAIN_END)
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=1)
    assert pre.transform(shuffled).equals(pre.transform(frame))


def test_live_encoding_equals_batch_encoding():
    frame = _events()
    pre = FittedPreprocessor(["shop"], ["score"], min_freq=2).fit(frame, TRAIN_END)
    batch = pre.transform(frame)
    histories = {}
    for i, event in enumerate(frame.iter_rows(named=True)):  # events arrive one at a time
        cat, num, histories[event["entity"]] = pre.encode_event(event, histories.get(event["entity"]))
        assert cat.dtype == np.int64 and num.dtype == np.float32
        assert np.array_equal(cat, batch.select(pre.cat_columns).row(i))
        assert np.array_equal(num, np.array(batch.select(pre.num_columns).row(i), dtype=np.float32))


def test_state_round_trips_through_plain_json(tmp_path):
    frame = _events()
    pre = FittedPreprocessor(["shop"], ["score"], min_freq=2).fit(frame, TRAIN_END)
    path = pre.save(tmp_path / "model" / "preprocessor.json")
    state = json.loads(path.read_text())
    assert state["vocabularies"] == {"shop": ["common"]} and state["train_end"].startswith("2024-01-11")
    loaded = FittedPreprocessor.load(path)
    assert loaded.transform(frame).equals(pre.transform(frame)) and loaded.vocab_sizes == pre.vocab_sizes
    (tmp_path / "other.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="not a latte_vt preprocessor state"):
        FittedPreprocessor.load(tmp_path / "other.json")


def test_unfitted_and_empty_training_period_are_clear_errors():
    frame = _events()
    with pytest.raises(RuntimeError, match="not fitted"):
        FittedPreprocessor(["shop"]).transform(frame)
    with pytest.raises(ValueError, match="no events before train_end"):
        FittedPreprocessor(["shop"]).fit(frame, T0)


def test_fit_on_loaded_events(tmp_path):
    """End to end from a real file: categorical nulls become their own value, ids stay in range."""
    (tmp_path / "ev.csv").write_text(
        "card,ts,amt,shop\n"
        + "".join(f"c{i % 2},2024-01-0{1 + i % 9} 10:00:00,{i},{'' if i % 3 else 's'}\n" for i in range(9))
    )
    events = load_events(
        tmp_path / "ev.csv", {"entity": "card", "time": "ts", "amount": "amt", "categorical": ["shop"]}
    ).events
    pre = FittedPreprocessor(["shop"], min_freq=1).fit(events, "2024-01-06")
    assert set(pre.vocabularies["shop"]) == {"s", "<null>"}
    codes = pre.transform(events)["cat_shop"]
    assert codes.min() >= 1 and codes.max() < pre.vocab_sizes[0]

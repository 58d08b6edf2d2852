"""Per-entity history features: exact values, no look-ahead, live == batch on a real generated log."""

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from latte_vt.data.synthetic.transactions import SCHEMA, TransactionSynthConfig, write_transactions
from latte_vt.data.transactions import FittedPreprocessor, load_events, load_schema
from latte_vt.data.transactions.history import HASH_BUCKETS, SINCE_CAP_SECONDS, EntityHistory, value_bucket

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _frame(rows: list[tuple[str, int, float, str]]) -> pl.DataFrame:
    frame = pl.DataFrame(
        [(e, T0 + timedelta(hours=h), a, shop) for e, h, a, shop in rows],
        schema=["entity", "time", "amount", "shop"],
        orient="row",
    )
    return frame.with_columns(time=pl.col("time").dt.cast_time_unit("us"), event_id=pl.int_range(pl.len()).cast(str))


def test_new_changed_and_amount_vs_mean_values():
    # entity a visits s1, s2, s1, s1; entity b (interleaved in the input) visits s1 twice
    frame = _frame([("a", 0, 10.0, "s1"), ("b", 1, 5.0, "s1"), ("a", 2, 100.0, "s2"), ("a", 3, 1.0, "s1")])
    frame = pl.concat([frame, _frame([("a", 4, -3.0, "s1"), ("b", 5, 5.0, "s1")])])
    pre = FittedPreprocessor(["shop"], min_freq=1).fit(frame, T0 + timedelta(days=1))
    out = pre.transform(frame)
    a, b = out.filter(pl.col("entity") == "a"), out.filter(pl.col("entity") == "b")
    assert a["num_new_shop"].to_list() == [1, 1, 0, 0] and b["num_new_shop"].to_list() == [1, 0]
    assert a["num_changed_shop"].to_list() == [0, 1, 1, 0] and b["num_changed_shop"].to_list() == [0, 0]
    # since the latest event with another shop: never, the s1 at 0 h, the s2 at 2 h, still the s2 at 2 h
    never = np.log1p(SINCE_CAP_SECONDS)
    assert np.allclose(a["num_since_other_shop"].to_numpy(), np.log1p([SINCE_CAP_SECONDS, 7200, 3600, 7200]))
    assert np.allclose(b["num_since_other_shop"].to_numpy(), [never, never])
    logs = np.sign([10.0, 100.0, 1.0, -3.0]) * np.log1p(np.abs([10.0, 100.0, 1.0, -3.0]))
    expected = [0.0] + [logs[i] - logs[:i].mean() for i in range(1, 4)]
    assert np.allclose(a["num_amount_vs_mean"].to_numpy(), expected, atol=1e-6)


def test_history_features_never_look_ahead():
    rows = [("a", h, float(h + 1), f"s{h % 3}") for h in range(8)]
    pre = FittedPreprocessor(["shop"], min_freq=1).fit(_frame(rows), T0 + timedelta(days=1))
    before = pre.transform(_frame(rows))
    changed = rows[:5] + [("a", h, 1e6, "brand-new") for h in range(5, 8)]
    after = pre.transform(_frame(changed))
    assert after.head(5).select(pre.num_columns).equals(before.head(5).select(pre.num_columns))
    assert after.row(5, named=True)["num_new_shop"] == 1.0


def test_live_history_equals_batch_on_a_generated_log(tmp_path):
    path = write_transactions(tmp_path, TransactionSynthConfig(accounts=12, days=15, seed=5), "parquet")
    schema = load_schema(SCHEMA)
    events = load_events(path, schema).events
    pre = FittedPreprocessor.from_schema(schema, min_freq=2).fit(events, events["time"].quantile(0.6))
    batch = pre.transform(events)
    histories: dict[str, EntityHistory] = {}
    cats, nums = [], []
    for event in (
        batch.select("entity", "time")
        .join(events, on=["entity", "time"], maintain_order="left")
        .head(600)
        .iter_rows(named=True)
    ):
        cat, num, histories[event["entity"]] = pre.encode_event(event, histories.get(event["entity"]))
        cats.append(cat)
        nums.append(num)
    head = batch.head(600)
    assert np.array_equal(np.stack(cats), head.select(pre.cat_columns).to_numpy())
    assert np.array_equal(np.stack(nums), head.select(pre.num_columns).to_numpy())
    # every categorical field gets both flags, and they are not constant on real data
    for f in schema.categorical:
        assert head[f"num_new_{f}"].n_unique() == 2 or f in ("channel", "mcc")
    assert head["num_since_other_merchant_id"].n_unique() > 10  # real gaps, not only the "never" cap


def test_bucket_is_stable_and_state_is_constant_size():
    assert value_bucket("M00042") == value_bucket("M00042") and 0 <= value_bucket("x") < HASH_BUCKETS
    history = EntityHistory(2)
    for i in range(500):
        history = history.advance(T0 + timedelta(minutes=i), 1.0, [value_bucket(f"m{i}"), value_bucket("d")])
    assert history.seen.nbytes == 2 * HASH_BUCKETS // 8 and history.count == 500


def test_saved_state_keeps_the_history_switch(tmp_path):
    frame = _frame([("a", 0, 1.0, "s1"), ("a", 1, 2.0, "s2")])
    for flag in (True, False):
        pre = FittedPreprocessor(["shop"], min_freq=1, entity_history=flag).fit(frame, T0 + timedelta(days=1))
        loaded = FittedPreprocessor.load(pre.save(tmp_path / f"{flag}.json"))
        assert loaded.num_columns == pre.num_columns
        assert loaded.transform(frame).equals(pre.transform(frame))
    assert ("num_new_shop" in FittedPreprocessor(["shop"]).num_columns) is True
    with pytest.raises(RuntimeError, match="not fitted"):
        FittedPreprocessor(["shop"]).transform(frame)


def test_since_other_state_survives_runs_of_equal_values():
    # live path alone: a, b, b, b -> the third and fourth b still date the a; then a dates the last b
    history = EntityHistory(1)
    seen = []
    for minute, value in [(0, "a"), (10, "b"), (30, "b"), (70, "b"), (75, "a")]:
        bucket = [value_bucket(value)]
        other = history.context(bucket, ["f"])["history_other_time_f"]
        seen.append(None if other is None else (other - T0) // timedelta(minutes=1))
        history = history.advance(T0 + timedelta(minutes=minute), 1.0, bucket)
    assert seen == [None, 0, 0, 0, 70]


def test_an_older_state_with_other_history_features_is_refused(tmp_path):
    frame = _frame([("a", 0, 1.0, "s1"), ("a", 1, 2.0, "s2")])
    for flag in (True, False):
        state = FittedPreprocessor(["shop"], min_freq=1, entity_history=flag).fit(frame, T0 + timedelta(days=1))
        old = state.to_dict() | {"format": "latte_vt.transactions.preprocessor/1"}
        (tmp_path / "old.json").write_text(json.dumps(old))
        if flag:
            with pytest.raises(ValueError, match="old.json: .* older latte_vt .* fit the model again"):
                FittedPreprocessor.load(tmp_path / "old.json")
        else:  # without history features the encoding never changed
            assert FittedPreprocessor.load(tmp_path / "old.json").num_columns == state.num_columns

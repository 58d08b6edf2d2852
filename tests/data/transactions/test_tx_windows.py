"""Time splits, training windows (left padding, masks, each labelled event counted once), full histories."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
import torch
from torch.utils.data import DataLoader

from latte_vt.data.transactions import (
    EntitySequenceDataset,
    EventWindowDataset,
    FittedPreprocessor,
    assign_split,
    collate_left_pad,
    split_bounds,
    split_cutoffs,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
VAL, TEST = T0 + timedelta(days=6), T0 + timedelta(days=8)


@pytest.fixture(scope="module")
def encoded() -> tuple[pl.DataFrame, FittedPreprocessor]:
    """Entity a: 10 daily events (the 5th unlabelled); b: 3 events; c: 1 event in the test period."""
    rows = [("a", T0 + timedelta(days=i), float(i), f"s{i % 3}", None if i == 4 else i % 2) for i in range(10)]
    rows += [("b", T0 + timedelta(days=i, hours=5), 1.0, "s0", 0) for i in (1, 6, 7)]
    rows += [("c", T0 + timedelta(days=9), 2.0, "s1", 1)]
    frame = pl.DataFrame(rows, schema=["entity", "time", "amount", "shop", "label"], orient="row").with_columns(
        time=pl.col("time").dt.cast_time_unit("us"),
        label=pl.col("label").cast(pl.Int8),
        event_id=pl.int_range(pl.len()).cast(pl.String),
    )
    pre = FittedPreprocessor(["shop"], min_freq=1).fit(frame, VAL)
    return pre.transform(frame), pre


def _windows(encoded, window, stride, split=None):
    enc, pre = encoded
    start, end = split_bounds(split, VAL, TEST) if split else (None, None)
    return EventWindowDataset(enc, pre.cat_columns, pre.num_columns, window, stride, start=start, end=end)


def test_windows_are_left_padded_with_masks_and_end_every_stride(encoded):
    ds = _windows(encoded, window=4, stride=2)
    rows = [ds[i]["row"].tolist() for i in range(len(ds))]
    # entity a = rows 0..9, b = 10..12, c = 13; windows end at the last event and every 2 events before it
    assert rows == [
        [-1, -1, 0, 1],
        [0, 1, 2, 3],
        [2, 3, 4, 5],
        [4, 5, 6, 7],
        [6, 7, 8, 9],
        [-1, -1, -1, 10],
        [-1, 10, 11, 12],
        [-1, -1, -1, 13],
    ]
    loss_rows = [ds[i]["row"][ds[i]["loss_mask"]].tolist() for i in range(len(ds))]
    assert loss_rows == [[0, 1], [2, 3], [5], [6, 7], [8, 9], [10], [11, 12], [13]]  # row 4 is unlabelled
    item = ds[0]
    assert item["cat"].shape == (4, 1) and item["num"].shape == (4, 10)  # 6 time features + 4 history features
    assert item["cat"].dtype == torch.int64 and item["num"].dtype == torch.float32
    assert item["label"].dtype == torch.float32 and item["mask"].dtype == torch.bool
    padded = item["row"] == -1
    assert torch.equal(item["mask"], ~padded)
    assert (item["cat"][padded] == 0).all() and (item["num"][padded] == 0).all() and not item["loss_mask"][padded].any()


def test_each_labelled_event_counts_once_and_sees_enough_history(encoded):
    enc, _ = encoded
    for window, stride in ((4, 2), (5, 5), (3, 1), (6, 4)):
        ds = _windows(encoded, window, stride)
        counted: Counter[int] = Counter()
        for i in range(len(ds)):
            item = ds[i]
            rows = item["row"].numpy()
            for pos in np.flatnonzero(item["loss_mask"].numpy()):
                counted[int(rows[pos])] += 1
                history = int(item["mask"][:pos].sum())
                entity = enc["entity"][int(rows[pos])]
                earlier = int((enc["entity"][: int(rows[pos])] == entity).sum())  # events of the entity before it
                assert history >= min(window - stride, earlier), (window, stride, i)
            assert (item["loss_mask"].numpy() <= item["mask"].numpy()).all()
        labelled = set(np.flatnonzero(enc["label"].is_not_null().to_numpy()).tolist())
        assert set(counted) == labelled and set(counted.values()) == {1}, (window, stride)
        assert 4 not in counted  # the unlabelled event is context only


def test_periods_score_their_own_events_with_earlier_context(encoded):
    enc, _ = encoded
    times = enc["time"]
    train = _windows(encoded, 4, 2, "train")
    val = _windows(encoded, 4, 2, "val")
    seen_train = {int(r) for i in range(len(train)) for r in train[i]["row"] if r >= 0}
    assert all(times[r] < VAL for r in seen_train)  # training never sees the future
    scored_val = {int(r) for i in range(len(val)) for r in val[i]["row"][val[i]["loss_mask"]]}
    assert scored_val and all(VAL <= times[r] < TEST for r in scored_val)
    context = {int(r) for i in range(len(val)) for r in val[i]["row"][val[i]["mask"] & ~val[i]["loss_mask"]]}
    assert any(times[r] < VAL for r in context)
    assert all(times[int(r)] < TEST for i in range(len(val)) for r in val[i]["row"] if r >= 0)


def test_default_collate_batches_windows(encoded):
    batch = next(iter(DataLoader(_windows(encoded, 4, 2, "train"), batch_size=3)))
    assert batch["cat"].shape == (3, 4, 1) and batch["loss_mask"].shape == (3, 4)


def test_full_histories_and_left_pad_collate(encoded):
    enc, pre = encoded
    ds = EntitySequenceDataset(enc, pre.cat_columns, pre.num_columns)
    assert len(ds) == 3
    items = [ds[i] for i in range(3)]
    assert [it["entity"] for it in items] == ["a", "b", "c"] and [len(it["mask"]) for it in items] == [10, 3, 1]
    assert items[0]["row"].tolist() == list(range(10)) and items[0]["mask"].all()
    batch = collate_left_pad(items)
    assert batch["entity"] == ["a", "b", "c"] and batch["cat"].shape == (3, 10, 1) and batch["num"].shape == (3, 10, 10)
    assert batch["row"][1].tolist() == [-1] * 7 + [10, 11, 12]
    assert batch["mask"][2].tolist() == [False] * 9 + [True]
    assert torch.equal(batch["num"][1, 7:], items[1]["num"]) and (batch["num"][1, :7] == 0).all()
    cut = EntitySequenceDataset(enc, pre.cat_columns, pre.num_columns, start=VAL, end=TEST)
    assert [len(cut[i]["mask"]) for i in range(len(cut))] == [8, 3]  # c's only event is after TEST
    assert cut[0]["loss_mask"].tolist() == [False] * 6 + [True, True]


def test_splits_by_time():
    frame = pl.DataFrame({"time": [T0 + timedelta(hours=h) for h in range(100)]}).with_columns(
        pl.col("time").dt.cast_time_unit("us")
    )
    val, test = split_cutoffs(frame, 0.2, 0.1)
    assert (val, test) == (T0 + timedelta(hours=70), T0 + timedelta(hours=90))
    split = assign_split(frame, val, test)["split"]
    assert split.value_counts(sort=True).rows() == [("train", 70), ("val", 20), ("test", 10)]
    assert split_bounds("train", val, test) == (None, val)
    with pytest.raises(ValueError, match="must come before"):
        assign_split(frame, test, val)


def test_bad_arguments_are_clear_errors(encoded):
    enc, pre = encoded
    with pytest.raises(ValueError, match="stride <= window"):
        EventWindowDataset(enc, pre.cat_columns, pre.num_columns, window=2, stride=3)
    shuffled = enc.sample(fraction=1.0, shuffle=True, seed=0)
    with pytest.raises(ValueError, match="grouped by entity in time order"):
        EntitySequenceDataset(shuffled, pre.cat_columns, pre.num_columns)

"""Checkpoints written on the store's writer thread: the snapshot is taken when the checkpoint begins, the
file holds exactly the last checkpoint that finished, a failed one is reported and stops every later one,
and the stream's score lines stay byte for byte what ``json.dumps`` writes."""

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from jsonl_events import write_jsonl

from latte_vt.cli import main
from latte_vt.data.transactions.history import to_us
from latte_vt.runtime.live_stream import _json
from latte_vt.runtime.state_store import SQLiteStateStore, StateLayout, StateStoreError
from latte_vt.runtime.streaming import iso_times

LAYOUT = StateLayout(("past_state.0.S", "past_state.0.m"), ((2, 3, 3), (2, 3)), 2, (0.0, -1e30))


def _store(path) -> SQLiteStateStore:
    return SQLiteStateStore(path, LAYOUT, owner="test")


def _set(store: SQLiteStateStore, entity: str, value: float) -> None:
    rows = store.rows([entity])
    store.table.flat[rows] = value
    store.table.history.count[rows] = 1
    store.updated(rows)


def test_a_checkpoint_saves_the_states_as_they_were_when_it_began(tmp_path):
    store = _store(tmp_path / "s.sqlite")
    _set(store, "a", 1.0)
    _set(store, "b", 2.0)
    pending = store.begin_checkpoint({"offset": 10})
    _set(store, "a", 5.0)  # after the snapshot: belongs to the next checkpoint, which never comes
    pending.result()
    store.close()

    again = _store(tmp_path / "s.sqlite")
    assert again.meta["offset"] == 10
    assert float(again.get("a").arrays[0].max()) == 1.0 and float(again.get("b").arrays[1].min()) == 2.0
    again.close()


def test_a_failed_checkpoint_is_reported_and_stops_later_ones(tmp_path):
    store = _store(tmp_path / "s.sqlite")
    _set(store, "a", 1.0)
    store.begin_checkpoint({"offset": 10}).result()
    _set(store, "a", 2.0)

    def disk_full() -> None:
        raise OSError(28, "No space left on device")

    failed = store.begin_checkpoint({"offset": 20}, before=disk_full)
    with pytest.raises(OSError, match="No space left"):
        failed.result()
    _set(store, "a", 3.0)
    with pytest.raises(StateStoreError, match="an earlier checkpoint failed .*the file keeps the last good one"):
        store.begin_checkpoint({"offset": 30})
    with pytest.raises(StateStoreError, match=str(tmp_path / "s.sqlite")):
        store.checkpoint(offset=40)
    store.close()

    again = _store(tmp_path / "s.sqlite")
    assert again.meta["offset"] == 10 and float(again.get("a").arrays[0].max()) == 1.0
    again.close()


def test_loads_wait_for_the_checkpoint_in_flight(tmp_path):
    store = SQLiteStateStore(tmp_path / "s.sqlite", LAYOUT, owner="test", cache_entities=1)
    _set(store, "a", 1.0)
    _set(store, "b", 2.0)
    store.begin_checkpoint({})  # the cache is dropped now: "a" comes back from the file once it is written
    assert float(store.get("a").arrays[0].max()) == 1.0
    store.close()


@pytest.mark.parametrize(
    "when",
    [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(999, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2025, 3, 30, 1, 2, 3, tzinfo=UTC),
        datetime(2025, 3, 30, 1, 2, 3, 500000, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_iso_times_match_isoformat(when):
    assert [f"{t}+00:00" for t in iso_times(np.array([to_us(when)] * 2, dtype=np.int64))] == [when.isoformat()] * 2


@pytest.mark.parametrize(
    "value", ["E1", 'quote " and \\ back', "ünïcode ☃", "", 17, -3, 2.5, 0.1 + 0.2, 1e-7, float("nan"), None, True, [1]]
)
def test_json_values_match_json_dumps(value):
    assert _json(value) == json.dumps(value)


def test_score_lines_are_what_json_dumps_writes(transaction_bundle, live_events, tmp_path):
    base = live_events[0]["time"]
    ids = [7, None, "ünïcode ☃", 'q"uote', "E5"]
    events = [
        {**e, "event_id": i, "time": base + timedelta(seconds=k)}
        for k, (e, i) in enumerate(zip(live_events[:5], ids, strict=True))
    ]
    events[4]["time"] += timedelta(microseconds=250)
    source, out = tmp_path / "events.jsonl", tmp_path / "scores.jsonl"
    write_jsonl(events, source)
    assert main(["stream", "--bundle", str(transaction_bundle), "--input", str(source), "--output", str(out)]) == 0

    lines = out.read_text().splitlines()
    for number, (line, event) in enumerate(zip(lines, events, strict=True), start=1):
        score = json.loads(line)["score"]
        record = {"line": number, "event_id": event["event_id"], "entity": str(event["entity"])}
        record |= {"time": event["time"].astimezone(UTC).isoformat(), "score": score}
        assert line == json.dumps(record)

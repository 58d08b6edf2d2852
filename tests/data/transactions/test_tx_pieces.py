"""Validation and encoding in pieces equal one pass: the same accepted events in the same order, the same rejects
and report when bad rows sit in later pieces, and bit-identical history features when an entity spans pieces."""

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from latte_vt.data.transactions import BadEventError, FittedPreprocessor, load_events, load_schema
from latte_vt.data.transactions.pieces import validate_in_pieces

SCHEMA = {
    "entity": "card",
    "time": "ts",
    "amount": "amt",
    "categorical": ["shop", "region"],
    "label": "fraud",
    "event_id": "id",
}
T0 = datetime(2024, 3, 1, tzinfo=UTC)
LONG = 300  # events of the long card


def event_log(interleaved: bool, seed: int = 0) -> pl.DataFrame:
    """One card with ``LONG`` events and six short ones; shops and regions that repeat, change and come back."""
    rng = np.random.default_rng(seed)
    cards = ["LONG"] * LONG + [f"c{i}" for i in range(6) for _ in range(5 + 3 * i)]
    n = len(cards)
    hours = (
        np.sort(rng.uniform(0, 24 * 90, n))
        if interleaved
        else np.concatenate(
            [np.sort(rng.uniform(0, 24 * 90, LONG))] + [np.sort(rng.uniform(0, 24 * 90, 5 + 3 * i)) for i in range(6)]
        )
    )
    order = rng.permutation(n) if interleaved else np.arange(n)
    frame = pl.DataFrame(
        {
            "id": [f"e{i}" for i in range(n)],
            "card": [cards[i] for i in order],
            "ts": [T0 + timedelta(hours=float(h)) for h in hours],
            "amt": rng.lognormal(3, 1.5, n).round(2) * rng.choice([1, -1], n, p=[0.9, 0.1]),
            "shop": [f"s{k}" for k in rng.choice(12, n, p=np.r_[[0.5], np.full(11, 0.5 / 11)])],
            "region": [f"r{k}" for k in rng.choice(3, n, p=[0.8, 0.15, 0.05])],
            "fraud": rng.choice([0, 1], n, p=[0.97, 0.03]),
        }
    )
    return frame.with_columns(pl.col("ts").dt.cast_time_unit("us"))


def with_bad_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """Bad rows spread over the log: each lands in a later piece than the first at a piece size of 50."""
    bad = frame.slice(0, 5).with_columns(
        pl.Series("amt", [None, 1.0, 2.0, 3.0, 4.0]),  # null_amount
        pl.Series("card", ["LONG", None, "LONG", "c1", "LONG"]),  # null_entity
        pl.Series("id", ["bad-1", "bad-2", "e3", "e120", "late-1"]),  # ids seen in earlier pieces
        pl.Series("ts", [T0, T0, T0, T0, T0 - timedelta(days=1)], dtype=pl.Datetime("us", "UTC")),  # late-1: late
    )
    rows = [frame.slice(0, 70), bad.slice(0, 1), frame.slice(70, 90), bad.slice(1, 2), frame.slice(160, 200)]
    return pl.concat([*rows, bad.slice(3, 2), frame.slice(360)])


@pytest.mark.parametrize("out_of_order", ["sort", "reject"])
@pytest.mark.parametrize("interleaved", [False, True])
def test_validation_in_pieces_equals_one_pass(tmp_path, interleaved, out_of_order):
    path = tmp_path / "events.parquet"
    with_bad_rows(event_log(interleaved)).write_parquet(path)
    schema = load_schema(SCHEMA | {"out_of_order": out_of_order})
    one = load_events(path, schema, rejects_path=tmp_path / "one.rejects.parquet")
    pieces = validate_in_pieces(path, schema, tmp_path / "pieces.rejects.parquet", piece_events=50)

    reasons = {"null_amount": 1, "null_entity": 1, "duplicate_event_id": 2}
    assert one.report.by_reason == reasons | ({"out_of_order": 1} if out_of_order == "reject" else {})
    assert pieces.report.to_dict() | {"rejects_path": None} == one.report.to_dict() | {"rejects_path": None}
    assert pl.read_parquet(tmp_path / "pieces.rejects.parquet").equals(
        pl.read_parquet(tmp_path / "one.rejects.parquet")
    )
    assert pieces.read(0, len(pieces.rows)).equals(one.events)  # every column, in entity/time order
    assert pieces.lengths.tolist() == one.events["entity"].rle().struct.field("len").to_list()
    assert pieces.read(17, 140).equals(one.events.slice(17, 123))  # any run reads back on its own


def test_validation_in_pieces_reads_csv_and_several_files(tmp_path):
    frame = with_bad_rows(event_log(interleaved=True, seed=1))
    frame.slice(0, 200).write_csv(tmp_path / "a.csv")
    frame.slice(200).write_parquet(tmp_path / "b.parquet")
    paths = [tmp_path / "a.csv", tmp_path / "b.parquet"]
    one = load_events(paths, SCHEMA, rejects_path=tmp_path / "one.rejects.csv")
    pieces = validate_in_pieces(paths, SCHEMA, tmp_path / "pieces.rejects.csv", piece_events=64)
    assert pieces.report.files == one.report.files and pieces.report.rejected == one.report.rejected == 4
    assert (tmp_path / "pieces.rejects.csv").read_text() == (tmp_path / "one.rejects.csv").read_text()
    assert pieces.read(0, len(pieces.rows)).equals(one.events)


def test_fail_mode_names_the_first_bad_row_of_a_later_piece(tmp_path):
    path = tmp_path / "events.parquet"
    with_bad_rows(event_log(interleaved=False)).write_parquet(path)
    with pytest.raises(BadEventError) as caught:
        validate_in_pieces(path, SCHEMA | {"on_error": "fail"}, piece_events=50)
    assert (caught.value.row, caught.value.column, caught.value.reason) == (70, "amt", "null_amount")
    assert str(path) in str(caught.value)


def test_no_bad_rows_no_rejects_file_and_an_empty_input(tmp_path):
    path = tmp_path / "events.parquet"
    event_log(interleaved=False).write_parquet(path)
    pieces = validate_in_pieces(path, SCHEMA, tmp_path / "rejects.parquet", piece_events=50)
    assert pieces.report.rejected == 0 and not (tmp_path / "rejects.parquet").exists()
    assert not list(tmp_path.glob("*.partial"))
    event_log(interleaved=False).head(0).write_parquet(path)
    empty = validate_in_pieces(path, SCHEMA, piece_events=50)
    assert empty.report.input_rows == 0 and len(empty.rows) == 0 and len(empty.lengths) == 0


@pytest.mark.parametrize("cut", [1, 7, 50, 299])
def test_history_features_in_pieces_equal_one_pass_exactly(cut):
    """Any cut of the sorted log, an entity running on across pieces: the same encoded values, bit for bit."""
    events = load_events_frame(event_log(interleaved=True, seed=2))
    pre = FittedPreprocessor(["shop", "region"], min_freq=2).fit(events, T0 + timedelta(days=45))
    one = pre.transform(events)
    parts, carry = [], None
    for start in range(0, events.height, cut):
        encoded, carry = pre.transform_piece(events.slice(start, cut), carry)
        parts.append(encoded)
    pieced = pl.concat(parts)
    assert pieced.equals(one)
    assert one["num_changed_shop"].sum() > 50 and one["num_new_region"].sum() >= 3  # the features are not trivial


def load_events_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """The canonical events of a raw frame, in entity/time order (as ``load_events`` returns them)."""
    canonical = frame.rename({"card": "entity", "ts": "time", "amt": "amount", "id": "event_id"})
    return canonical.sort("entity", "time", maintain_order=True)

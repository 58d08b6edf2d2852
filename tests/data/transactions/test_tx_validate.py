"""Bad rows: every kind rejected with its reason and counted (quarantine), or a clear error (fail)."""

import polars as pl
import pytest

from latte_vt.data.transactions import BadEventError, load_events

SCHEMA = {
    "entity": "card",
    "time": {"column": "ts", "format": "%Y-%m-%d %H:%M:%S"},
    "amount": "amt",
    "categorical": ["shop"],
    "numeric": ["score"],
    "label": "fraud",
    "event_id": "id",
}
SCHEMA_COLUMNS = ["card", "ts", "amt", "shop", "score", "fraud", "id"]  # the schema's source columns, in role order
HEADER = "id,card,ts,amt,shop,score,fraud\n"
GOOD = "e0,c1,2024-01-01 10:00:00,$5.00,s1,1.5,No\n"
# (reason, column, bad line); each bad line is bad in exactly one way
BAD = [
    ("null_entity", "card", "e1,,2024-01-01 10:01:00,5,s1,1,No\n"),
    ("null_time", "ts", "e2,c1,,5,s1,1,No\n"),
    ("unparseable_time", "ts", "e3,c1,2024-13-01 10:02:00,5,s1,1,No\n"),
    ("null_amount", "amt", "e4,c1,2024-01-01 10:03:00,,s1,1,No\n"),
    ("unparseable_amount", "amt", "e5,c1,2024-01-01 10:04:00,$5.x,s1,1,No\n"),
    ("null_numeric", "score", "e6,c1,2024-01-01 10:05:00,5,s1,,No\n"),
    ("unparseable_numeric", "score", "e7,c1,2024-01-01 10:06:00,5,s1,abc,No\n"),
    ("unparseable_label", "fraud", "e8,c1,2024-01-01 10:07:00,5,s1,1,maybe\n"),
    ("null_event_id", "id", ",c1,2024-01-01 10:08:00,5,s1,1,No\n"),
    ("duplicate_event_id", "id", "e0,c2,2024-01-01 10:09:00,5,s1,1,No\n"),
    ("out_of_order", "ts", "e11,c1,2024-01-01 09:00:00,5,,1,Yes\n"),
]
TAIL = "e12,c2,2024-01-01 10:10:00,-3,s2,2,1\ne13,c3,2024-01-01 10:11:00,7,s2,2,\n"


@pytest.mark.parametrize("out_of_order", ["sort", "reject"])
@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_quarantine_rejects_each_kind_with_its_reason_and_counts_it(tmp_path, out_of_order, suffix):
    path = tmp_path / "events.csv"
    path.write_text(HEADER + GOOD + "".join(line for _, _, line in BAD) + TAIL)
    rejects_path = tmp_path / f"rejects{suffix}"
    result = load_events(path, SCHEMA | {"out_of_order": out_of_order}, rejects_path=rejects_path)
    report = result.report
    n_input = 1 + len(BAD) + 2
    rejected_kinds = [r for r, _, _ in BAD if r != "out_of_order" or out_of_order == "reject"]
    assert report.input_rows == n_input
    assert report.by_reason == dict.fromkeys(rejected_kinds, 1)
    assert report.rejected == len(rejected_kinds) and report.accepted + report.rejected == n_input
    assert report.out_of_order_sorted == (1 if out_of_order == "sort" else 0)
    assert report.files == {str(path): {"input_rows": n_input, "rejected": len(rejected_kinds)}}

    rejects = pl.read_parquet(rejects_path) if suffix == ".parquet" else pl.read_csv(rejects_path, infer_schema=False)
    assert report.rejects_path == str(rejects_path) and rejects.height == report.rejected
    assert rejects.columns == ["source_file", "source_row", "reject_reason", "reject_column", *SCHEMA_COLUMNS]
    by_reason = {r["reject_reason"]: r for r in rejects.iter_rows(named=True)}
    for row, (reason, column, line) in enumerate(BAD, start=1):
        if reason not in by_reason:
            continue
        got = by_reason[reason]
        assert int(got["source_row"]) == row and got["reject_column"] == column
        original = line.rstrip("\n").split(",")
        assert [got[c] or "" for c in ("id", "card", "ts", "amt")] == original[:4]

    accepted = result.events
    expected_ids = ["e0", *(["e11"] if out_of_order == "sort" else []), "e12", "e13"]
    assert sorted(accepted["event_id"].to_list()) == sorted(expected_ids)
    c1 = accepted.filter(pl.col("entity") == "c1")
    assert c1["time"].is_sorted()  # the late event is sorted into place
    assert accepted.filter(pl.col("event_id") == "e13")["label"].item() is None  # empty label = unlabelled


@pytest.mark.parametrize(("reason", "column", "line"), BAD, ids=[r for r, _, _ in BAD])
def test_fail_mode_names_file_row_column_and_reason(tmp_path, reason, column, line):
    path = tmp_path / f"{reason}.csv"
    path.write_text(HEADER + GOOD + line + TAIL)
    schema = SCHEMA | {"on_error": "fail", "out_of_order": "reject"}
    with pytest.raises(BadEventError) as info:
        load_events(path, schema)
    err = info.value
    assert (err.file, err.row, err.column, err.reason) == (str(path), 1, column, reason)
    assert f"{path.name}: row 1" in str(err) and repr(column) in str(err) and reason in str(err)


def test_fail_mode_passes_clean_files_and_sorts_late_events(tmp_path):
    path = tmp_path / "ok.csv"
    path.write_text(HEADER + GOOD + BAD[-1][2] + TAIL)
    result = load_events(path, SCHEMA | {"on_error": "fail"})
    assert result.report.rejected == 0 and result.report.out_of_order_sorted == 1 and result.events.height == 4


def test_duplicates_across_files_keep_the_first_file(tmp_path):
    (tmp_path / "a.csv").write_text(HEADER + GOOD)
    (tmp_path / "b.csv").write_text(HEADER + GOOD.replace("10:00:00", "11:00:00") + TAIL)
    rejects = tmp_path / "rejects.csv"
    result = load_events([tmp_path / "a.csv", tmp_path / "b.csv"], SCHEMA, rejects_path=rejects)
    assert result.report.by_reason == {"duplicate_event_id": 1}
    kept = result.events.filter(pl.col("event_id") == "e0")
    assert kept["source_file"].cast(pl.String).item() == str(tmp_path / "a.csv")
    bad = pl.read_csv(rejects)
    assert bad["source_file"].item() == str(tmp_path / "b.csv") and bad["source_row"].item() == 0
    assert result.report.files[str(tmp_path / "b.csv")] == {"input_rows": 3, "rejected": 1}


def test_no_rejects_no_file(tmp_path):
    path = tmp_path / "ok.csv"
    path.write_text(HEADER + GOOD + TAIL)
    result = load_events(path, SCHEMA, rejects_path=tmp_path / "rejects.parquet")
    assert result.report.rejected == 0 and result.report.rejects_path is None
    assert not (tmp_path / "rejects.parquet").exists() and result.rejects.height == 0

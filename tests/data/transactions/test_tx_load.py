"""Loading event files by config alone: TabFormer and Sparkov layouts, CSV and Parquet, one or many files."""

import csv
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from latte_vt.data.transactions import SchemaError, load_events, load_schema, resolve_paths

REPO = Path(__file__).resolve().parents[3]
SCHEMAS = REPO / "configs" / "transactions" / "schema"

TABFORMER = """\
User,Card,Year,Month,Day,Time,Amount,Use Chip,Merchant Name,Merchant City,Merchant State,Zip,MCC,Errors?,Is Fraud?
0,0,2002,9,1,06:21,$134.09,Swipe Transaction,3527213246127876953,La Verne,CA,91750.0,5300,,No
0,0,2002,9,1,06:42,$38.48,Swipe Transaction,-727612092139916043,Monterey Park,CA,91754.0,5411,,No
0,1,2002,9,2,17:45,"$1,234.50",Chip Transaction,3414527459579106770,Monterey Park,CA,91754.0,5651,,No
0,0,2002,9,3,13:53,$-12.00,Chip Transaction,-7146670748125200898,Monterey Park,CA,91754.0,5970,,No
1,0,2002,9,4,05:51,$93.84,Online Transaction,-7146670748125200898,ONLINE,,,5970,"Bad PIN,",Yes
"""

SPARKOV_HEADER = (
    ",trans_date_trans_time,cc_num,merchant,category,amt,first,last,gender,street,city,state,zip,lat,long,"
    "city_pop,job,dob,trans_num,unix_time,merch_lat,merch_long,is_fraud"
)
SPARKOV_ROWS = [
    ["0", "2019-01-01 00:00:18", "2703186189652095", "fraud_Rippin, Kub and Mann", "misc_net", "4.97", "Jennifer"]
    + ["Banks", "F", "561 Perry Cove", "Moravian Falls", "NC", "28654", "36.0788", "-81.1781", "3495"]
    + ["Psychologist, counselling", "1988-03-09", "0b242abb623afc578575680df30655b9", "1325376018"]
    + ["36.011293", "-82.048315", "0"],
    ["1", "2019-01-01 00:00:44", "630423337322", "fraud_Heller, Gutmann and Zieme", "grocery_pos", "107.23"]
    + ["Stephanie", "Gill", "F", "43039 Riley Greens Suite 393", "Orient", "WA", "99160", "48.8878", "-118.2105"]
    + ["149", "Special educational needs teacher", "1978-06-21", "1f76529f8574734946361c461b024d99", "1325376044"]
    + ["49.159047", "-118.186462", "0"],
    ["2", "2019-01-01 00:00:51", "38859492057661", "fraud_Lind-Buckridge", "entertainment", "220.11", "Edward"]
    + ["Sanchez", "M", "594 White Dale Suite 530", "Malad City", "ID", "83252", "42.1808", "-112.262", "4154"]
    + ["Nature conservation officer", "1962-01-19", "a1a22d70485983eac12b5b88dad1cf95", "1325376051"]
    + ["43.150704", "-112.154481", "0"],
    ["3", "2019-01-01 00:01:16", "2703186189652095", "fraud_Kutch, Hermiston and Farrell", "gas_transport", "45.0"]
    + ["Jennifer", "Banks", "F", "561 Perry Cove", "Moravian Falls", "NC", "28654", "36.0788", "-81.1781", "3495"]
    + ["Psychologist, counselling", "1988-03-09", "6b849c168bdad6f867558c3793159a81", "1325376076"]
    + ["36.430124", "-81.179483", "1"],
]


def test_tabformer_layout_loads_by_config(tmp_path):
    path = tmp_path / "card_transaction.v1.csv"
    path.write_text(TABFORMER)
    result = load_events(path, SCHEMAS / "tabformer.yaml")
    events = result.events
    assert result.report.rejected == 0 and events.height == 5
    first = events.filter(pl.col("event_id") == f"{path}:0").row(0, named=True)
    assert first["entity"] == "0|0"
    assert first["time"] == datetime(2002, 9, 1, 6, 21, tzinfo=UTC)
    assert first["amount"] == pytest.approx(134.09) and first["label"] == 0
    assert first["Zip"] == "91750.0" and first["MCC"] == "5300" and first["Errors?"] == "<null>"
    by_row = {r["source_row"]: r for r in events.iter_rows(named=True)}
    assert by_row[2]["amount"] == pytest.approx(1234.50) and by_row[2]["entity"] == "0|1"
    assert by_row[3]["amount"] == pytest.approx(-12.0)
    assert by_row[4]["label"] == 1 and by_row[4]["Errors?"] == "Bad PIN," and by_row[4]["Merchant State"] == "<null>"
    # per-entity time order
    assert events["entity"].to_list() == ["0|0", "0|0", "0|0", "0|1", "1|0"]


def test_sparkov_layout_loads_by_config(tmp_path):
    path = tmp_path / "fraudTrain.csv"
    with path.open("w", newline="") as f:  # quoted like the Kaggle file: only fields with commas
        f.write(SPARKOV_HEADER + "\n")
        csv.writer(f, lineterminator="\n").writerows(SPARKOV_ROWS)
    result = load_events(path, SCHEMAS / "sparkov.yaml")
    events = result.events
    assert result.report.rejected == 0 and events.height == 4
    card = events.filter(pl.col("entity") == "2703186189652095")
    assert card["event_id"].to_list() == ["0b242abb623afc578575680df30655b9", "6b849c168bdad6f867558c3793159a81"]
    assert card["time"].to_list() == [
        datetime(2019, 1, 1, 0, 0, 18, tzinfo=UTC),
        datetime(2019, 1, 1, 0, 1, 16, tzinfo=UTC),
    ]
    assert card["label"].to_list() == [0, 1]
    assert card["merchant"][0] == "fraud_Rippin, Kub and Mann" and card["job"][0] == "Psychologist, counselling"
    assert card["lat"][0] == pytest.approx(36.0788) and events.schema["city_pop"] == pl.Float64
    assert "first" not in events.columns and "street" not in events.columns


def _synthetic_frame(n: int, start: int = 0) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "event_id": [f"e{start + i}" for i in range(n)],
            "account_id": [f"a{i % 3}" for i in range(n)],
            "timestamp": [datetime(2024, 1, 1, tzinfo=UTC).replace(hour=i % 24, minute=start % 60) for i in range(n)],
            "amount": [float(i) + 0.5 for i in range(n)],
            "merchant_id": [f"m{i % 4}" for i in range(n)],
            "mcc": [5411 + i % 2 for i in range(n)],
            "region": ["R01"] * n,
            "channel": ["chip"] * n,
            "device_id": ["pos"] * n,
            "is_fraud": [i % 5 == 0 for i in range(n)],
            "scenario": ["none"] * n,
        }
    )


def test_parquet_and_csv_one_file_and_several_give_the_same_events(tmp_path):
    schema = load_schema(SCHEMAS / "synthetic.yaml")
    a, b = _synthetic_frame(10), _synthetic_frame(7, start=10)
    (tmp_path / "pq").mkdir()
    (tmp_path / "csv").mkdir()
    a.write_parquet(tmp_path / "pq" / "part-0.parquet")
    b.write_parquet(tmp_path / "pq" / "part-1.parquet")
    a.write_csv(tmp_path / "csv" / "part-0.csv")
    b.write_csv(tmp_path / "csv" / "part-1.csv")
    pl.concat([a, b]).write_parquet(tmp_path / "all.parquet")

    keys = ["event_id", "entity", "time", "amount", "mcc", "label", "scenario"]
    one = load_events(tmp_path / "all.parquet", schema).events.select(keys)
    assert one.height == 17 and one["label"].sum() == 2 + 2
    for source in (
        tmp_path / "pq",  # a folder
        str(tmp_path / "pq" / "*.parquet"),  # a glob
        [tmp_path / "csv" / "part-0.csv", tmp_path / "csv" / "part-1.csv"],  # a list
        [tmp_path / "pq" / "part-0.parquet", tmp_path / "csv" / "part-1.csv"],  # mixed formats
    ):
        result = load_events(source, schema)
        assert result.events.select(keys).equals(one), source
        assert sorted(result.report.files.values(), key=lambda f: f["input_rows"]) == [
            {"input_rows": 7, "rejected": 0},
            {"input_rows": 10, "rejected": 0},
        ]


def test_time_zones_offsets_epochs_and_unlabelled_input(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(
        "id,card,ts,epoch,amt\n"
        "1,c,2024-03-01 10:00:00,1709287200,5\n"
        "2,c,2024-03-01T10:30:00+02:00,1709289000,6\n"
        "3,c,2024-03-01T11:00:00Z,1709290800,7\n"
    )
    base = {"entity": "card", "amount": "amt", "event_id": "id", "label": "fraud"}
    local = load_events(path, base | {"time": {"column": "ts", "timezone": "Europe/Berlin"}}, with_label=False)
    assert local.events["time"].to_list() == [
        datetime(2024, 3, 1, 8, 30, tzinfo=UTC),  # offset given: 10:30+02:00
        datetime(2024, 3, 1, 9, 0, tzinfo=UTC),  # naive, read in Berlin (UTC+1)
        datetime(2024, 3, 1, 11, 0, tzinfo=UTC),  # Z
    ]
    assert local.events["label"].null_count() == 3
    epoch = load_events(path, base | {"time": {"column": "epoch", "unit": "s"}}, with_label=False)
    assert epoch.events["time"].to_list() == [
        datetime(2024, 3, 1, h, m, tzinfo=UTC) for h, m in ((10, 0), (10, 30), (11, 0))
    ]
    with pytest.raises(SchemaError, match=r"events\.csv: missing column\(s\) \['fraud'\]"):
        load_events(path, base | {"time": "ts"})


@pytest.mark.parametrize("on_error", ["fail", "quarantine"])
def test_missing_columns_and_unusable_types_are_always_fatal(tmp_path, on_error):
    schema = load_schema(SCHEMAS / "synthetic.yaml").to_dict() | {"on_error": on_error}
    frame = _synthetic_frame(4)
    frame.drop("mcc").write_parquet(tmp_path / "no_mcc.parquet")
    with pytest.raises(SchemaError, match=r"no_mcc\.parquet: missing column\(s\) \['mcc'\]"):
        load_events(tmp_path / "no_mcc.parquet", schema)
    frame.with_columns(amount=pl.lit(True)).write_parquet(tmp_path / "bool_amount.parquet")
    with pytest.raises(SchemaError, match=r"bool_amount\.parquet: amount column 'amount' has type Boolean"):
        load_events(tmp_path / "bool_amount.parquet", schema)
    frame.with_columns(timestamp=pl.lit(3)).write_parquet(tmp_path / "int_time.parquet")
    with pytest.raises(SchemaError, match=r"int_time\.parquet: time column 'timestamp' holds integers; set time\.unit"):
        load_events(tmp_path / "int_time.parquet", schema)
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(SchemaError, match=r"broken\.parquet: cannot read the file"):
        load_events(tmp_path / "broken.parquet", schema)


def test_paths_that_find_nothing_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no files match"):
        resolve_paths(str(tmp_path / "*.csv"))
    with pytest.raises(FileNotFoundError, match="event file not found"):
        resolve_paths(tmp_path / "nope.csv")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="unsupported file type"):
        resolve_paths(tmp_path / "notes.txt")

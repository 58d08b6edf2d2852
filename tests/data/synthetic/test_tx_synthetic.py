"""Synthetic transactions: determinism, sizes, fraud mix, scenario structure, and that history matters."""

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score

from latte_vt.cli import main
from latte_vt.data.synthetic.transactions import SCENARIOS, TransactionSynthConfig, generate_transactions, to_frame
from latte_vt.data.transactions import load_events

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def log() -> pl.DataFrame:
    cfg = TransactionSynthConfig(accounts=600, days=60, seed=7)
    return to_frame(generate_transactions(cfg), cfg.start)


def test_same_seed_same_log_other_seed_other_log():
    cfg = TransactionSynthConfig(accounts=50, days=20, seed=3)
    a, b = generate_transactions(cfg), generate_transactions(cfg)
    c = generate_transactions(TransactionSynthConfig(accounts=50, days=20, seed=4))
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert a["t"].size != c["t"].size or not np.array_equal(a["amount"], c["amount"])


def test_size_order_fraud_rate_and_every_scenario(log):
    # ~1.8 events per account-day plus monthly bills
    assert 1.2 * 600 * 60 < log.height < 3.5 * 600 * 60
    assert log["timestamp"].is_sorted()
    assert log["event_id"].n_unique() == log.height
    assert 0.002 <= log["is_fraud"].mean() <= 0.01
    counts = dict(log["scenario"].value_counts().iter_rows())
    assert set(counts) == set(SCENARIOS)
    assert all(counts[s] >= 10 for s in SCENARIOS[1:])
    fraud = log.filter(pl.col("scenario") != "none")
    # label noise: most tagged fraud is labelled 1, a few are not, and a few untagged events are labelled 1
    assert 0.9 < fraud["is_fraud"].mean() < 1.0
    assert log.filter((pl.col("scenario") == "none") & (pl.col("is_fraud") == 1)).height > 0
    assert set(log["channel"].unique()) == {"chip", "swipe", "online"}
    assert (log["amount"] < 0).any()  # refunds


def _history(log: pl.DataFrame) -> pl.DataFrame:
    acct = "account_id"
    return (
        log.with_row_index("i")
        .sort(acct, "timestamp", "i")
        .with_columns(
            gap_s=(pl.col("timestamp") - pl.col("timestamp").shift(1)).over(acct).dt.total_seconds(),
            prev_region=pl.col("region").shift(1).over(acct),
            new_device=pl.col("device_id").is_first_distinct().over(acct) & pl.col("device_id").str.starts_with("D"),
            new_merchant=pl.col("merchant_id").is_first_distinct().over(acct),
            new_region=pl.col("region").is_first_distinct().over(acct),
            mean_log_amount=(pl.col("amount").abs().log1p().cum_sum().shift(1) / pl.int_range(pl.len())).over(acct),
        )
        .sort("i")
    )


def test_scenarios_have_their_shape(log):
    h = _history(log)
    testing = h.filter(pl.col("scenario") == "card_testing")
    assert (testing["channel"] == "online").all() and (testing["amount"] <= 4.0).all()
    assert testing["new_merchant"].mean() > 0.8
    assert (testing["gap_s"].drop_nulls() < 600).mean() > 0.5  # bursts minutes apart
    takeover = h.filter(pl.col("scenario") == "account_takeover")
    assert (takeover["channel"] == "online").all()
    assert takeover.group_by("account_id").agg(pl.first("new_device"))["new_device"].mean() > 0.9
    assert takeover["amount"].median() > 3 * log.filter(pl.col("scenario") == "none")["amount"].median()
    travel = h.filter(pl.col("scenario") == "impossible_travel")
    assert (travel["channel"] != "online").all()
    first_hops = travel.filter(pl.col("region") != pl.col("prev_region"))
    assert first_hops.height > 0.5 * travel["account_id"].n_unique() and (first_hops["gap_s"] < 4 * 3600).all()
    compromise = h.filter(pl.col("scenario") == "merchant_compromise")
    assert (compromise["new_region"] | compromise["new_device"] | compromise["new_merchant"]).mean() > 0.8


def test_a_single_row_is_not_enough_history_is(log):
    """Per-row logistic regression vs the same plus simple history features: AP must clearly improve."""
    h = _history(log)
    y = h["is_fraud"].to_numpy()
    hour = h["timestamp"].dt.hour().to_numpy() * (2 * np.pi / 24)
    row = np.column_stack(
        [
            np.sign(h["amount"]) * np.log1p(np.abs(h["amount"])),
            np.sin(hour),
            np.cos(hour),
            h.select(pl.col("mcc").cast(pl.String), "channel").to_dummies().to_numpy(),
        ]
    )
    gap = np.log1p(h["gap_s"].fill_null(1e7).to_numpy())
    region_jump = (h["region"] != h["prev_region"]).fill_null(False).to_numpy()
    history = np.column_stack(
        [
            row,
            gap,
            h["new_device"],
            h["new_merchant"],
            h["new_region"],
            region_jump & (gap < np.log1p(4 * 3600)),
            (np.log1p(np.abs(h["amount"])) - h["mean_log_amount"]).fill_null(0.0).fill_nan(0.0),
        ]
    )
    cut = h["timestamp"].min() + (h["timestamp"].max() - h["timestamp"].min()) * 2 / 3
    train = (h["timestamp"] < cut).to_numpy()
    ap = {}
    for name, x in (("row", row), ("history", history)):
        x = x.astype(np.float64)
        x = (x - x[train].mean(0)) / (x[train].std(0) + 1e-6)
        model = LogisticRegression(max_iter=1000).fit(x[train], y[train])
        ap[name] = average_precision_score(y[~train], model.predict_proba(x[~train])[:, 1])
    assert ap["row"] < 0.25, ap
    assert ap["history"] > 2 * ap["row"] and ap["history"] - ap["row"] > 0.2, ap


def test_cli_writes_events_schema_and_readme_that_load_cleanly(tmp_path, capsys):
    out = tmp_path / "tx"
    code = main(["data", "transactions-synthetic", "--out", str(out), "--accounts", "40", "--days", "10"])
    assert code == 0 and "wrote" in capsys.readouterr().out
    code = main(
        [
            "data",
            "transactions-synthetic",
            "--out",
            str(tmp_path / "csv"),
            "--accounts",
            "40",
            "--days",
            "10",
            "--format",
            "csv",
        ]
    )
    assert code == 0
    shipped = yaml.safe_load((REPO / "configs/transactions/schema/synthetic.yaml").read_text())
    assert yaml.safe_load((out / "schema.yaml").read_text()) == shipped
    assert "card_testing" in (out / "README.txt").read_text()
    parquet = load_events(out / "events.parquet", out / "schema.yaml")
    csv = load_events(tmp_path / "csv" / "events.csv", tmp_path / "csv" / "schema.yaml")
    assert parquet.report.rejected == 0 and parquet.report.accepted == pl.read_parquet(out / "events.parquet").height
    assert csv.report.rejected == 0
    keys = ["event_id", "entity", "time", "amount", "mcc", "device_id", "label", "scenario"]
    assert parquet.events.select(keys).equals(csv.events.select(keys))


def test_bad_sizes_are_a_clear_error(tmp_path, capsys):
    assert main(["data", "transactions-synthetic", "--out", str(tmp_path), "--accounts", "0"]) == 2
    assert "at least 1 account" in capsys.readouterr().err

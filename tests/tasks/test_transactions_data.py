"""TransactionDataModule on real generated Parquet/CSV files, and a tiny `latte-vt fit` whose loss falls."""

import csv
from pathlib import Path

import polars as pl
import pytest
import yaml

from latte_vt.cli import main
from latte_vt.data.synthetic.transactions import TransactionSynthConfig, write_transactions
from latte_vt.tasks.transactions_data import TransactionDataModule

SCHEMA = "configs/transactions/schema/synthetic.yaml"


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    out = tmp_path_factory.mktemp("tx")
    return write_transactions(out, TransactionSynthConfig(accounts=60, days=30, seed=3), "parquet")


def test_datamodule_splits_fits_on_train_and_quarantines(events, tmp_path):
    frame = pl.read_parquet(events)
    good = frame.head(frame.height - 2)
    bad = frame.tail(2).with_columns(pl.col("amount").cast(pl.String), pl.col("timestamp").cast(pl.String))
    bad = bad.with_columns(pl.Series("amount", ["12.5", "lots"]), pl.Series("timestamp", ["yesterday", None]))
    good.write_parquet(tmp_path / "a.parquet")
    bad.write_csv(tmp_path / "b.csv")
    dm = TransactionDataModule(
        paths=[str(tmp_path / "a.parquet"), str(tmp_path / "b.csv")],
        schema=SCHEMA,
        window=32,
        stride=8,
        batch_size=4,
        rejects_path=str(tmp_path / "rejects.csv"),
    )
    info = dm.data_info
    prepared = dm.prepare()
    assert prepared["report"].accepted == frame.height - 2 and prepared["report"].rejected == 2
    with open(tmp_path / "rejects.csv") as f:
        reasons = sorted(r["reject_reason"] for r in csv.DictReader(f))
    assert reasons == ["null_time", "unparseable_time"]
    val_start = info["val_start"]
    assert (
        info["preprocessor"]["train_end"] == val_start and info["vocab_sizes"] == prepared["preprocessor"].vocab_sizes
    )
    late_merchants = set(
        frame.filter(pl.col("timestamp") >= pl.lit(val_start).str.to_datetime(time_zone="UTC"))["merchant_id"]
    )
    early_merchants = set(
        frame.filter(pl.col("timestamp") < pl.lit(val_start).str.to_datetime(time_zone="UTC"))["merchant_id"]
    )
    assert not (
        set(info["preprocessor"]["vocabularies"]["merchant_id"]) - early_merchants
    )  # vocab never sees the future
    assert late_merchants - early_merchants  # there was a future to leak
    assert info["num_numeric"] == 6 + 1 + 3 * 5 and "none" in info["scenarios"]  # time, history (5 fields)

    batch = next(iter(dm.train_dataloader()))
    assert batch["cat"].shape == (4, 32, 5) and batch["num"].shape == (4, 32, 22)
    assert (batch["scenario"][~batch["mask"]] == -1).all() and (batch["scenario"][batch["mask"]] >= 0).all()
    val = dm.dataset("val")
    encoded = prepared["encoded"]
    scored = 0
    for item in val:
        rows = item["row"][item["loss_mask"]]
        times = encoded["time"].gather(rows.numpy())
        assert all(info["val_start"] <= t.isoformat() < info["test_start"] for t in times)
        scored += len(rows)
        names = [info["scenarios"][c] for c in item["scenario"][item["loss_mask"]].tolist()]
        assert names == encoded[rows.numpy()]["scenario"].to_list()
    in_val = encoded.filter(
        (pl.col("time") >= pl.lit(info["val_start"]).str.to_datetime(time_zone="UTC"))
        & (pl.col("time") < pl.lit(info["test_start"]).str.to_datetime(time_zone="UTC"))
    )
    assert scored == in_val.height  # every validation event scored exactly once, with its full history


def test_generates_missing_data(tmp_path):
    dm = TransactionDataModule(
        paths=str(tmp_path / "gen" / "events.csv"), generate_if_missing=True, accounts=20, days=10, window=16, stride=8
    )
    assert dm.data_info["vocab_sizes"] and (tmp_path / "gen" / "events.csv").exists()
    with pytest.raises(FileNotFoundError, match="event file not found"):
        TransactionDataModule(paths=str(tmp_path / "none" / "events.parquet")).prepare()


def test_tiny_fit_from_yaml_loss_falls(events, tmp_path):
    config = yaml.safe_load(Path("configs/transactions/synthetic.yaml").read_text())
    config["trainer"] |= {
        "max_epochs": 5,
        "default_root_dir": str(tmp_path),
        "log_every_n_steps": 1,
        "enable_progress_bar": False,
        "logger": [{"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": str(tmp_path)}}],
    }
    config["trainer"]["callbacks"][0]["init_args"]["dirpath"] = str(tmp_path / "ckpt")
    config["model"]["init_args"] |= {"encoder": {"dim": 32, "depth": 1, "heads": 2, "latents": 8}, "lr": 0.005}
    config["data"]["init_args"] |= {"paths": str(events), "generate_if_missing": False, "window": 32, "stride": 16}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["fit", "--config", str(path)]) == 0
    metrics = pl.read_csv(next(tmp_path.rglob("metrics.csv")))
    loss = metrics["train_loss"].drop_nulls()
    assert loss.tail(10).mean() < 0.7 * loss.head(5).mean()
    assert "val_ap" in metrics.columns and any("recall_1pct_fpr/" in c for c in metrics.columns)
    assert list(tmp_path.rglob("preprocessor.json")) and (tmp_path / "ckpt" / "best.ckpt").is_file()

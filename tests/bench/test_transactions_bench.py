"""Transaction benchmark: rolling features are per account, correct and causal; a tiny end-to-end run (slow)."""

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
import torch
from torch.utils.data import DataLoader

from latte_vt.backbone import LatteConfig
from latte_vt.bench.transactions import Run, TransactionBenchConfig, median_run, train_sequence_model
from latte_vt.bench.transactions_features import categorical_mask, feature_matrix, rolling_features
from latte_vt.cli import main
from latte_vt.tasks.transactions import TransactionScoringTask


def canonical(rows):
    start = datetime(2024, 3, 1, 12, tzinfo=UTC)
    frame = pl.DataFrame(
        {
            "entity": [r[0] for r in rows],
            "time": [start + timedelta(minutes=r[1]) for r in rows],
            "amount": [float(r[2]) for r in rows],
            "merchant_id": [r[3] for r in rows],
            "device_id": [r[4] for r in rows],
            "region": [r[5] for r in rows],
            "mcc": ["5411"] * len(rows),
            "channel": ["chip"] * len(rows),
        }
    )
    return frame.with_columns(pl.col("time").dt.cast_time_unit("us"))


def test_rolling_features_per_account_from_the_past_only():
    rows = [
        ("a", 0, 10, "m1", "d1", "r1"),
        ("a", 30, 20, "m1", "d1", "r1"),
        ("a", 90, 30, "m2", "d2", "r2"),
        ("a", 60 * 30, 40, "m1", "d1", "r1"),
        ("b", 10, 5, "m1", "d9", "r1"),
    ]
    f = rolling_features(canonical(rows))
    a = f.filter(pl.col("entity") == "a")
    assert a["count_1h"].to_list() == [1, 2, 1, 1]  # windows are (t - 1 h, t]: at 90 min, 30 min is out
    assert a["count_24h"].to_list() == [1, 2, 3, 1]
    assert a["sum_24h"].to_list() == [10, 30, 60, 40]
    assert a["count_7d"].to_list() == [1, 2, 3, 4]
    assert a["new_merchant"].to_list() == [1, 0, 1, 0] and a["new_device"].to_list() == [1, 0, 1, 0]
    assert a["new_region"].to_list() == [1, 0, 1, 0]
    assert a["amount_vs_mean"][1] == pytest.approx(20 / 10) and a["amount_vs_mean"][3] == pytest.approx(40 / 20)
    assert a["log_dt_region_change"].is_null().to_list() == [True, True, False, False]
    b = f.filter(pl.col("entity") == "b")
    assert b["count_7d"].to_list() == [1] and b["new_merchant"].to_list() == [1]  # accounts never mix
    changed = canonical([*rows[:3], ("a", 60 * 30, 4000, "m7", "d7", "r7"), rows[4]])
    g = rolling_features(changed)
    early = [0, 1, 2]
    assert np.allclose(feature_matrix(f)[early], feature_matrix(g)[early], equal_nan=True)  # no look-ahead
    assert categorical_mask(f).sum() == 3


def test_median_run_reports_the_middle_seed():
    runs = [Run(seed, {"ap": ap}, None, None) for seed, ap in [(0, 0.9), (1, 0.7), (2, 0.8)]]
    assert median_run(runs).seed == 2
    assert median_run(runs[:2]).seed == 1  # even count: the lower middle, never an average of two runs


@pytest.mark.parametrize(("val_aps", "kept"), [([0.5, 0.9, float("nan"), 0.7], 2), ([float("nan"), 0.2, 0.1], 2)])
def test_training_runs_the_task_for_its_epochs_and_keeps_the_best_validation_ap(monkeypatch, val_aps, kept):
    g = torch.Generator().manual_seed(0)
    windows = [
        {
            "cat": torch.randint(2, 5, (8, 1), generator=g),
            "num": torch.randn(8, 2, generator=g),
            "mask": torch.ones(8, dtype=torch.bool),
            "label": (torch.rand(8, generator=g) < 0.3).float(),
            "loss_mask": torch.ones(8, dtype=torch.bool),
        }
        for _ in range(4)
    ]
    weights_after_epoch, answers = [], iter(val_aps)

    def scripted_report(task):  # the task's validation AP, scripted; NaN: none logged (no positives)
        task._outputs["val"] = []
        weights_after_epoch.append({k: v.clone() for k, v in task.state_dict().items()})
        ap = next(answers)
        if np.isfinite(ap):
            task.log("val_ap", ap)

    monkeypatch.setattr(TransactionScoringTask, "on_validation_epoch_end", scripted_report)
    task = TransactionScoringTask([5], 2, LatteConfig(dim=8, depth=1, heads=2, latents=4), "gru", gru_layers=1)
    loader = DataLoader(windows, batch_size=2)
    fit = train_sequence_model(task, loader, loader, TransactionBenchConfig(epochs=len(val_aps)))
    assert fit["max_epochs"] == len(val_aps) == len(weights_after_epoch)
    assert fit["epoch"] == kept and np.allclose(fit["val_ap_by_epoch"], val_aps, equal_nan=True)
    final = task.state_dict()
    assert all(torch.equal(final[k], v) for k, v in weights_after_epoch[kept - 1].items())
    assert not all(torch.equal(final[k], v) for k, v in weights_after_epoch[-1].items())  # training went on


def test_zero_seeds_is_a_usage_error(tmp_path, capsys):
    assert main(["bench", "transactions", "--seeds", "0", "--json", str(tmp_path / "tx.json")]) == 2
    assert "--seeds must be >= 1" in capsys.readouterr().err
    assert main(["bench", "transactions", "--epochs", "0", "--json", str(tmp_path / "tx.json")]) == 2
    assert "--epochs must be >= 1" in capsys.readouterr().err
    assert not (tmp_path / "tx.json").exists()


@pytest.mark.slow
def test_bench_transactions_tiny_run_writes_json_markdown_and_png(tmp_path):
    out = tmp_path / "tx.json"
    args = [
        "bench",
        "transactions",
        "--accounts",
        "60",
        "--days",
        "30",
        "--epochs",
        "1",
        "--seeds",
        "2",
        "--json",
        str(out),
    ]
    code = main([*args, "--long-lengths", "500,1500", "--dim", "24", "--latte-dim", "16", "--mlp-ratio", "1"])
    payload = json.loads(out.read_text())
    assert code == (0 if payload["goal_latte_ap_ge_best_baseline"] else 1)
    assert (payload["config"]["dim"], payload["config"]["latte_dim"], payload["config"]["mlp_ratio"]) == (24, 16, 1.0)
    latte, gru = payload["models"]["latte"], payload["models"]["gru"]
    assert payload["latte_vs_gru_scoring"] == pytest.approx(latte["score_events_per_s"] / gru["score_events_per_s"])
    assert payload["goal_latte_scoring_ge_gru"] == (payload["latte_vs_gru_scoring"] >= 1)
    for key in ("ap_latte", "ap_gru", "ap_gbdt"):
        assert 0 <= payload[key] <= 1
    assert [r["events"] for r in payload["long_account"]] == [500, 1500]
    assert list(payload["models"]["latte"]["ap_by_seed"]) == ["0", "1"]
    for name in ("latte", "gru"):  # both trained by TransactionScoringTask for the fixed epochs
        assert payload["models"][name]["max_epochs"] == 1 and payload["models"][name]["epoch_by_seed"] == {
            "0": 1,
            "1": 1,
        }
    assert payload["ap_latte"] in payload["models"]["latte"]["ap_by_seed"].values()
    report = (tmp_path / "tx.md").read_text()
    assert f"| {latte['params']:,} |" in report and f"| {gru['params']:,} |" in report  # each model's size
    assert "Latte: width 16, 2 blocks" in report and "GRU: width 24, 2 layers" in report
    assert "Goal Latte scoring events/s >= the GRU's" in report
    assert (tmp_path / "tx-pr.png").stat().st_size > 1000

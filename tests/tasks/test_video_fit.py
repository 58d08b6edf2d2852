"""``latte-vt fit``/``test`` on real generated H.264 clips: loss falls, best checkpoint records data settings, PNG."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest
import torch
from video_fit import tiny_config

from latte_vt.cli import main


def epoch_losses(metrics_csv) -> list[float]:
    """Mean training loss of each epoch from a CSVLogger file."""
    per_epoch: dict[int, list[float]] = {}
    with metrics_csv.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row.get("train_loss"):
                per_epoch.setdefault(int(row["epoch"]), []).append(float(row["train_loss"]))
    return [sum(v) / len(v) for _, v in sorted(per_epoch.items())]


def test_tiny_cpu_fit_loss_falls_then_test_writes_the_confusion_matrix(tmp_path):
    config = tiny_config(tmp_path, tmp_path / "data", max_epochs=12)
    assert main(["fit", "--config", str(config)]) == 0
    assert (tmp_path / "data" / "meta.json").is_file()  # generated on the fly
    losses = epoch_losses(next((tmp_path / "runs").rglob("metrics.csv")))
    assert len(losses) == 12 and losses[-1] < 0.7 * losses[0], losses
    ckpt = tmp_path / "ckpt" / "best.ckpt"
    raw = torch.load(ckpt, map_location="cpu", weights_only=True)
    data = raw["datamodule_hyper_parameters"]
    assert (data["num_frames"], data["size"], data["num_clips"]) == (4, 32, 2)
    assert raw["hyper_parameters"]["data_info"]["classes"] == ["square_circle_triangle", "triangle_circle_square"]
    assert main(["test", "--config", str(config), "--ckpt_path", str(ckpt)]) == 0
    assert list((tmp_path / "runs").rglob("confusion_matrix.png"))


@pytest.mark.slow
def test_ddp_on_two_cpu_processes(tmp_path):
    config = tiny_config(tmp_path, tmp_path / "data", max_epochs=2, strategy="ddp", devices=2)
    done = subprocess.run(
        [sys.executable, "-m", "latte_vt.cli", "fit", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "world_size: 2" in done.stderr + done.stdout or "MEMBER: 2/2" in done.stderr + done.stdout
    assert (tmp_path / "ckpt" / "best.ckpt").is_file()

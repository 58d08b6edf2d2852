"""Every command and API that takes a checkpoint accepts both kinds: trained from a ``latte-vt fit`` config
and trained from Python with a ``LatteConfig`` object in the hyper-parameters (the quickstart's kind)."""

from __future__ import annotations

import json

import polars as pl
import pytest
import torch
import yaml

from latte_vt.cli import main
from latte_vt.data.video.sources import list_samples, split_source
from latte_vt.predict import TransactionScorer, VideoClassifier
from latte_vt.tasks.checkpoint import CheckpointError, load_checkpoint, read_checkpoint

KINDS = ["config", "python"]


def test_the_python_kind_really_holds_a_config_object(video_checkpoints, tx_checkpoints):
    """Without the allow-list, weights_only loading refuses these (the bug this loader fixes)."""
    for path in (video_checkpoints["python"], tx_checkpoints["python"]):
        with pytest.raises(Exception, match="LatteConfig"):
            torch.load(path, map_location="cpu", weights_only=True)
        assert type(read_checkpoint(path)["hyper_parameters"]["encoder"]).__name__ == "LatteConfig"


@pytest.mark.parametrize("kind", KINDS)
def test_video_checkpoint_in_every_command(kind, video_checkpoints, video_data, tmp_path):
    ckpt = video_checkpoints[kind]
    assert load_checkpoint(ckpt, expect="video").task == "video"
    clips = [s.path for s in list_samples(split_source(video_data, "test"))][:3]
    prediction = VideoClassifier(ckpt).predict(clips[0], top_k=2)
    assert len(prediction.labels) == 2 and prediction.ok
    out = tmp_path / "preds.json"
    assert main(["classify", str(clips[0].parent), "--checkpoint", str(ckpt), "--output", str(out)]) == 0
    assert json.loads(out.read_text())["predictions"]
    assert main(["export", "--checkpoint", str(ckpt), "--out", str(tmp_path / "bundle")]) == 0
    job = {
        "job": "classify-videos",
        "input": [str(c) for c in clips],
        "output": str(tmp_path / "job"),
        "model": {"checkpoint": str(ckpt)},
        "options": {"top_k": 2},
    }
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job))
    assert main(["run", str(tmp_path / "job.yaml"), "--quiet"]) == 0
    assert pl.read_parquet(tmp_path / "job" / "predictions" / "*.parquet")["error"].null_count() == len(clips)


@pytest.mark.parametrize("kind", KINDS)
def test_transaction_checkpoint_in_every_command(kind, tx_checkpoints, tx_data, tmp_path):
    ckpt = tx_checkpoints[kind]
    assert load_checkpoint(ckpt, expect="transactions").task == "transactions"
    scores = TransactionScorer(ckpt).score(tx_data)
    assert scores.height == pl.read_parquet(tx_data).height
    out = tmp_path / "scores.parquet"
    assert main(["score", str(tx_data), "--checkpoint", str(ckpt), "--output", str(out)]) == 0
    assert pl.read_parquet(out).height == scores.height
    assert main(["export", "--checkpoint", str(ckpt), "--out", str(tmp_path / "bundle")]) == 0
    job = {
        "job": "score-transactions",
        "input": [str(tx_data)],
        "output": str(tmp_path / "job"),
        "model": {"checkpoint": str(ckpt)},
        "options": {"shards": 2},
    }
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job))
    assert main(["run", str(tmp_path / "job.yaml"), "--quiet"]) == 0
    assert pl.read_parquet(tmp_path / "job" / "scores" / "*.parquet").height == scores.height


def test_a_checkpoint_of_the_other_task_or_kind_is_refused_by_name(video_checkpoints, tx_checkpoints, tmp_path, capsys):
    with pytest.raises(CheckpointError, match="a video checkpoint, expected a transactions one"):
        TransactionScorer(video_checkpoints["config"])
    out = tmp_path / "s.parquet"
    assert main(["score", "x.parquet", "--checkpoint", str(tx_checkpoints["config"].parent), "--output", str(out)]) == 2
    assert "a directory (a bundle? use --bundle)" in capsys.readouterr().err
    assert main(["classify", "x.mp4", "--bundle", str(video_checkpoints["config"])]) == 2
    assert "a file, not a bundle directory" in capsys.readouterr().err
    truncated = tmp_path / "cut.ckpt"
    truncated.write_bytes(video_checkpoints["config"].read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=r"cut\.ckpt: not a readable latte_vt checkpoint"):
        load_checkpoint(truncated)


def test_a_gru_baseline_checkpoint_scores_but_is_not_exported(tx_data, tmp_path, capsys):
    import lightning as L

    from latte_vt.backbone import LatteConfig
    from latte_vt.tasks.transactions import TransactionScoringTask
    from latte_vt.tasks.transactions_data import TransactionDataModule

    data = TransactionDataModule(paths=str(tx_data), window=32, stride=16, batch_size=16, min_freq=1)
    task = TransactionScoringTask(
        architecture="gru", encoder=LatteConfig(dim=16, depth=1, heads=1, latents=4), data_info=data.data_info
    )
    trainer = L.Trainer(
        max_steps=2,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        enable_checkpointing=False,
        limit_val_batches=0,
    )
    trainer.fit(task, data)
    ckpt = tmp_path / "gru.ckpt"
    trainer.save_checkpoint(ckpt)
    assert TransactionScorer(ckpt).score(tx_data)["score"].is_between(0, 1).all()
    assert main(["export", "--checkpoint", str(ckpt), "--out", str(tmp_path / "bundle")]) == 2
    assert "a gru baseline checkpoint; only Latte scorers export" in capsys.readouterr().err
    assert not (tmp_path / "bundle").exists()

"""Session fixtures for the batch-job tests: real event files (Parquet + a CSV with bad rows), real H.264
clips (+ broken files), and for each task a random-weight checkpoint and the bundle exported from it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from pipeline_fixtures import BAD_ROWS, CLASSES, Models, save_task

from latte_vt.backbone import LatteConfig
from latte_vt.data.synthetic.transactions import TransactionSynthConfig, write_transactions
from latte_vt.data.video.writer import write_video
from latte_vt.export.checkpoint import export_checkpoint


@pytest.fixture(scope="session")
def events(tmp_path_factory) -> dict[str, Path]:
    """``good``: a synthetic Parquet log; ``bad``: a CSV of more events of the same accounts with BAD_ROWS."""
    root = tmp_path_factory.mktemp("events")
    good = write_transactions(root / "data", TransactionSynthConfig(accounts=40, days=20, seed=3), "parquet")
    extra = write_transactions(root / "extra", TransactionSynthConfig(accounts=40, days=20, seed=4), "parquet")
    frame = (
        pl.read_parquet(extra)
        .head(12)
        .with_columns(pl.col("event_id").str.replace("^T", "X"), pl.col("timestamp").dt.strftime("%Y-%m-%d %H:%M:%S"))
    )
    frame = frame.cast(pl.String).with_columns(
        account_id=pl.when(pl.int_range(pl.len()) == BAD_ROWS["null_entity"]).then(None).otherwise("account_id"),
        timestamp=pl.when(pl.int_range(pl.len()) == BAD_ROWS["unparseable_time"])
        .then(pl.lit("2024-13-45 25:00:00"))
        .otherwise("timestamp"),
        amount=pl.when(pl.int_range(pl.len()) == BAD_ROWS["unparseable_amount"])
        .then(pl.lit("$12.x"))
        .otherwise("amount"),
    )
    bad = root / "bad.csv"
    frame.write_csv(bad)
    return {"good": good, "bad": bad, "schema": good.parent / "schema.yaml"}


@pytest.fixture(scope="session")
def tx_models(events, tmp_path_factory) -> Models:
    from latte_vt.tasks.transactions import TransactionScoringTask
    from latte_vt.tasks.transactions_data import TransactionDataModule

    root = tmp_path_factory.mktemp("tx-model")
    data = TransactionDataModule(paths=str(events["good"]), min_freq=1)
    torch.manual_seed(0)
    task = TransactionScoringTask(
        encoder=LatteConfig(dim=32, depth=2, heads=2, latents=8, chunk_size=16), data_info=data.data_info
    )
    checkpoint = save_task(task, root / "model.ckpt")
    return Models(checkpoint, export_checkpoint(checkpoint, root / "bundle"))


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, list[Path]]:
    """``good``: real H.264 clips of several sizes and lengths; ``bad``: files no decoder reads."""
    root = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(0)
    good = []
    for i, (frames, height, width) in enumerate([(12, 64, 96), (20, 80, 80), (6, 96, 64), (16, 64, 64), (10, 60, 100)]):
        path = root / "videos" / f"clip_{i}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_video(path, rng.integers(0, 255, (frames, height, width, 3), dtype=np.uint8), fps=25)
        good.append(path)
    (root / "videos" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    (root / "videos" / "empty.mkv").write_bytes(b"")
    (root / "videos" / "notes.txt").write_text("not a video, and not named like one\n")
    return {"good": good, "bad": [root / "videos" / "broken.mp4", root / "videos" / "empty.mkv"], "root": root}


@pytest.fixture(scope="session")
def video_models(tmp_path_factory) -> Models:
    from latte_vt.tasks.video import VideoClassificationTask

    root = tmp_path_factory.mktemp("video-model")
    torch.manual_seed(0)
    task = VideoClassificationTask(
        num_classes=len(CLASSES),
        classes=CLASSES,
        encoder=LatteConfig(dim=32, depth=1, heads=2, latents=8),
        num_frames=4,
        image_size=32,
    )
    data = {"num_frames": 4, "size": 32, "num_clips": 2, "eval_stride": 1, "mean": [0.5] * 3, "std": [0.25] * 3}
    checkpoint = save_task(task, root / "model.ckpt", data)
    return Models(checkpoint, export_checkpoint(checkpoint, root / "bundle"))

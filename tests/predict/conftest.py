"""Session fixtures: for each task, a checkpoint trained from a ``latte-vt fit`` YAML config and one trained
from Python with a ``LatteConfig`` object in its hyper-parameters (as the quickstart does), on real data."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from latte_vt.cli import main

VIDEO = {"num_frames": 4, "size": 32, "num_clips": 2, "eval_stride": 1}
VIDEO_SYNTH = {"synthetic_classes": 6, "synthetic_n": 4, "synthetic_frames": 8, "synthetic_size": 48}
VIDEO_MODEL = {"num_frames": 4, "image_size": 32, "patch": 16, "tubelet": 2, "lr": 0.01, "warmup_fraction": 0.0}
TX_DATA = {"accounts": 40, "days": 20, "seed": 4, "window": 32, "stride": 16, "batch_size": 16, "min_freq": 1}
ENCODER = {"dim": 32, "depth": 1, "heads": 2, "latents": 8}


def _trainer_config(root: Path, epochs: int) -> dict:
    return {
        "accelerator": "cpu",
        "max_epochs": epochs,
        "default_root_dir": str(root),
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "logger": False,
        "callbacks": [
            {
                "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                "init_args": {"dirpath": str(root / "ckpt"), "filename": "last"},
            }
        ],
    }


def _fit_config(root: Path, model: dict, data: dict, epochs: int) -> Path:
    """``latte-vt fit --config`` on a YAML written here; the checkpoint it wrote."""
    config = {"seed_everything": 0, "trainer": _trainer_config(root, epochs), "model": model, "data": data}
    path = root / "fit.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["fit", "--config", str(path)]) == 0
    return root / "ckpt" / "last.ckpt"


def _fit_python(root: Path, task, data, epochs: int) -> Path:
    """``Trainer.fit`` from Python, as the quickstart does; the checkpoint it wrote."""
    import lightning as L

    config = _trainer_config(root, epochs)
    callback = L.pytorch.callbacks.ModelCheckpoint(**config.pop("callbacks")[0]["init_args"])
    L.seed_everything(0)
    L.Trainer(**config, callbacks=[callback]).fit(task, data)
    return root / "ckpt" / "last.ckpt"


@pytest.fixture(scope="session")
def video_data(tmp_path_factory) -> Path:
    """A real six-class synthetic H.264 set (the ordering classes) with train/val/test splits."""
    from latte_vt.tasks.video_data import VideoDataModule

    root = tmp_path_factory.mktemp("video_data") / "set"
    VideoDataModule(root=str(root), generate_if_missing=True, **VIDEO_SYNTH).prepare_data()
    return root


@pytest.fixture(scope="session")
def video_checkpoints(video_data, tmp_path_factory) -> dict[str, Path]:
    from latte_vt.backbone import LatteConfig
    from latte_vt.tasks.video import VideoClassificationTask
    from latte_vt.tasks.video_data import VideoDataModule

    config_root, python_root = tmp_path_factory.mktemp("video_config"), tmp_path_factory.mktemp("video_python")
    model = {
        "class_path": "latte_vt.tasks.video.VideoClassificationTask",
        "init_args": VIDEO_MODEL | {"encoder": ENCODER | {"pooling": "mean"}},
    }
    data_args = {"root": str(video_data), "strides": [1], "batch_size": 8} | VIDEO
    data = {"class_path": "latte_vt.tasks.video_data.VideoDataModule", "init_args": data_args}
    dm = VideoDataModule(**data_args)
    task = VideoClassificationTask(
        encoder=LatteConfig(**ENCODER, pooling="latent"), data_info=dm.data_info, **VIDEO_MODEL
    )
    return {
        "config": _fit_config(config_root, model, data, epochs=2),
        "python": _fit_python(python_root, task, dm, epochs=4),
    }


@pytest.fixture(scope="session")
def tx_data(tmp_path_factory) -> Path:
    from latte_vt.data.synthetic.transactions import TransactionSynthConfig, write_transactions

    root = tmp_path_factory.mktemp("tx_data")
    return write_transactions(root, TransactionSynthConfig(accounts=40, days=20, seed=4), "parquet")


@pytest.fixture(scope="session")
def tx_checkpoints(tx_data, tmp_path_factory) -> dict[str, Path]:
    from latte_vt.backbone import LatteConfig
    from latte_vt.tasks.transactions import TransactionScoringTask
    from latte_vt.tasks.transactions_data import TransactionDataModule

    config_root, python_root = tmp_path_factory.mktemp("tx_config"), tmp_path_factory.mktemp("tx_python")
    schema = str(Path(__file__).parents[2] / "configs" / "transactions" / "schema" / "synthetic.yaml")
    data_args = {"paths": str(tx_data), "schema": schema} | {k: v for k, v in TX_DATA.items() if k != "seed"}
    model = {"class_path": "latte_vt.tasks.transactions.TransactionScoringTask", "init_args": {"encoder": ENCODER}}
    data = {"class_path": "latte_vt.tasks.transactions_data.TransactionDataModule", "init_args": data_args}
    dm = TransactionDataModule(**data_args)
    task = TransactionScoringTask(encoder=LatteConfig(**ENCODER, local_mix=4, recency=True), data_info=dm.data_info)
    return {
        "config": _fit_config(config_root, model, data, epochs=1),
        "python": _fit_python(python_root, task, dm, epochs=1),
    }

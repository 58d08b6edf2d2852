"""Helpers for the video fit/classify tests: a tiny real synthetic set and a tiny CPU config."""

from __future__ import annotations

from pathlib import Path

import yaml

TINY = {"synthetic_classes": 2, "synthetic_n": 6, "synthetic_frames": 8, "synthetic_size": 48, "synthetic_seed": 0}


def tiny_config(tmp_path: Path, root: Path, max_epochs: int = 1, **trainer: object) -> Path:
    """A fit config on ``root`` (generated there when missing) with a tiny patch model; returns its path."""
    config = {
        "seed_everything": 0,
        "trainer": {
            "accelerator": "cpu",
            "devices": 1,
            "max_epochs": max_epochs,
            "default_root_dir": str(tmp_path / "runs"),
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "log_every_n_steps": 1,
            "logger": {
                "class_path": "lightning.pytorch.loggers.CSVLogger",
                "init_args": {"save_dir": str(tmp_path / "runs")},
            },
            "callbacks": [
                {
                    "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                    "init_args": {
                        "dirpath": str(tmp_path / "ckpt"),
                        "filename": "best",
                        "monitor": "val_top1",
                        "mode": "max",
                    },
                }
            ],
            **trainer,
        },
        "model": {
            "class_path": "latte_vt.tasks.video.VideoClassificationTask",
            "init_args": {
                "num_frames": 4,
                "image_size": 32,
                "patch": 16,
                "tubelet": 2,
                "lr": 0.01,
                "warmup_fraction": 0.0,
                "label_smoothing": 0.0,
                "encoder": {"dim": 32, "depth": 1, "heads": 2, "latents": 8, "pooling": "mean"},
            },
        },
        "data": {
            "class_path": "latte_vt.tasks.video_data.VideoDataModule",
            "init_args": {
                "root": str(root),
                "num_frames": 4,
                "size": 32,
                "num_clips": 2,
                "strides": [1, 2],
                "batch_size": 4,
                "generate_if_missing": True,
                **TINY,
            },
        },
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path

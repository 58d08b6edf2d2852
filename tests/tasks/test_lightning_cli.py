"""``latte-vt fit/test`` through LightningCLI: config by class_path, data_info linked into the model."""

from pathlib import Path

import torch
import yaml
from lightning import LightningDataModule
from torch.utils.data import DataLoader, TensorDataset

from latte_vt.cli import main
from latte_vt.tasks.video import VideoClassificationTask


class ToyClips(LightningDataModule):
    """Random 2-class clips; enough to exercise the CLI plumbing."""

    def __init__(self, n: int = 8):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        videos = torch.randn(n, 1, 4, 3, 32, 32, generator=g)
        labels = torch.arange(n) % 2
        self.dataset = TensorDataset(videos, labels)

    @property
    def data_info(self) -> dict:
        return {"num_classes": 2, "classes": ["left", "right"]}

    def _loader(self):
        return DataLoader(
            self.dataset,
            batch_size=4,
            collate_fn=lambda b: {"video": torch.stack([x for x, _ in b]), "label": torch.stack([y for _, y in b])},
        )

    def train_dataloader(self):
        return self._loader()

    def val_dataloader(self):
        return self._loader()

    def test_dataloader(self):
        return self._loader()


def test_fit_then_test_from_a_yaml_config(tmp_path):
    config = {
        "seed_everything": 0,
        "trainer": {
            "max_epochs": 1,
            "default_root_dir": str(tmp_path),
            "enable_progress_bar": False,
            "logger": False,
            "callbacks": [
                {
                    "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                    "init_args": {"dirpath": str(tmp_path / "ckpt")},
                }
            ],
        },
        "model": {
            "class_path": "latte_vt.tasks.video.VideoClassificationTask",
            "init_args": {
                "num_frames": 4,
                "image_size": 32,
                "encoder": {"dim": 32, "depth": 1, "heads": 2, "latents": 8, "pooling": "mean"},
            },
        },
        "data": {"class_path": f"{ToyClips.__module__}.ToyClips", "init_args": {"n": 8}},
    }
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["fit", "--config", str(path)]) == 0
    ckpts = list((tmp_path / "ckpt").glob("*.ckpt"))
    assert len(ckpts) == 1
    task = VideoClassificationTask.load_from_checkpoint(ckpts[0], weights_only=True)
    assert task.classes == ["left", "right"] and task.hparams.data_info["num_classes"] == 2
    assert main(["test", "--config", str(path), "--ckpt_path", str(ckpts[0])]) == 0


ROOT = Path(__file__).resolve().parents[2]


def test_no_config_hard_codes_where_checkpoints_or_logs_go():
    """``trainer.default_root_dir`` is the one place: no ``dirpath`` or ``save_dir`` in any config."""
    configs = sorted((ROOT / "configs").rglob("*.yaml"))
    assert len(configs) >= 3
    for path in configs:
        text = path.read_text()
        assert "dirpath" not in text and "save_dir" not in text, path


def test_fit_writes_checkpoints_and_logs_under_the_given_default_root_dir(tmp_path, monkeypatch):
    cwd, root = tmp_path / "cwd", tmp_path / "elsewhere"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # where the config's own runs/transactions-synthetic would land
    argv = ["fit", "--config", str(ROOT / "configs/transactions/synthetic.yaml")]
    argv += ["--trainer.default_root_dir", str(root)]
    argv += ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2"]
    argv += ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]
    argv += ["--model.init_args.encoder", '{"dim": 16, "depth": 1, "heads": 2, "latents": 4}']
    argv += ["--data.init_args.paths", str(tmp_path / "data" / "events.parquet")]
    argv += ["--data.init_args.schema", str(ROOT / "configs/transactions/schema/synthetic.yaml")]
    argv += ["--data.init_args.accounts", "60", "--data.init_args.days", "20", "--data.init_args.window", "16"]
    argv += ["--data.init_args.stride", "16"]
    assert main(argv) == 0
    assert sorted(p.name for p in (root / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert list((root / "csv").rglob("metrics.csv")) and list((root / "tensorboard").rglob("events.out.tfevents*"))
    assert list((root / "csv").rglob("preprocessor.json"))
    assert list(cwd.iterdir()) == []  # nothing under runs/ (or anywhere else) of the working directory

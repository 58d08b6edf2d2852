"""``latte-vt fit/test`` through LightningCLI: config by class_path, data_info linked into the model."""

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

"""Toy Lightning pieces for the CLI tests, importable by the processes a DDP run starts (by ``class_path``)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from lightning import Callback, LightningDataModule, LightningModule, Trainer
from torch.utils.data import DataLoader, TensorDataset


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


class RankProbe(Callback):
    """Writes what each process saw to ``<out>/rank<N>.json``: world size, validation clips, the (synced)
    ``val_top1`` and a checksum of the trained weights."""

    def __init__(self, out: str):
        self.out = Path(out)
        self.val_clips = 0

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.val_clips += len(batch["label"])

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        report = {
            "world_size": trainer.world_size,
            "val_clips": self.val_clips,
            "val_top1": float(trainer.callback_metrics["val_top1"]),
            "weights_sum": float(sum(p.detach().double().sum() for p in pl_module.parameters())),
        }
        (self.out / f"rank{trainer.global_rank}.json").write_text(json.dumps(report))

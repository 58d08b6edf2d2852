"""LightningModules on small in-memory data: the loss falls, metrics and plots come out."""

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from latte_vt.backbone import LatteConfig
from latte_vt.metrics.fraud import fraud_metrics, recall_at_fpr
from latte_vt.tasks.transactions import TransactionScoringTask
from latte_vt.tasks.video import VideoClassificationTask


class BrightnessRamp(Dataset):
    """Class 0: frames get brighter over time; class 1: darker (the same frames, reversed)."""

    def __init__(self, n: int, views: int = 1):
        g = torch.Generator().manual_seed(n)
        self.items = []
        for i in range(n):
            ramp = torch.linspace(-1, 1, 4) * (0.5 + torch.rand(1, generator=g))
            label = i % 2
            clip = (ramp if label == 0 else ramp.flip(0)).view(4, 1, 1, 1).expand(4, 3, 32, 32).clone()
            clip += 0.1 * torch.randn(clip.shape, generator=g)
            self.items.append({"video": clip.expand(views, *clip.shape).clone(), "label": torch.tensor(label)})

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def trainer(tmp_path, epochs):
    return L.Trainer(
        max_epochs=epochs,
        default_root_dir=tmp_path,
        logger=L.pytorch.loggers.CSVLogger(tmp_path),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )


def test_video_task_learns_temporal_order_and_writes_confusion_matrix(tmp_path):
    torch.manual_seed(0)
    task = VideoClassificationTask(
        num_classes=2,
        classes=["brighter", "darker"],
        encoder=LatteConfig(dim=32, depth=1, heads=2, latents=8),
        num_frames=4,
        image_size=32,
        patch=16,
        lr=3e-3,
    )
    train = DataLoader(BrightnessRamp(64), batch_size=16, shuffle=True)
    val = DataLoader(BrightnessRamp(16, views=2), batch_size=8)
    before = trainer(tmp_path, 1).validate(task, val, verbose=False)[0]["val_loss"]
    t = trainer(tmp_path, 12)
    t.fit(task, train, val)
    after = t.validate(task, val, verbose=False)[0]
    assert after["val_loss"] < before
    assert after["val_top1"] >= 0.9
    t.test(task, val, verbose=False)
    assert (tmp_path / "lightning_logs").exists()
    assert list(tmp_path.rglob("confusion_matrix.png"))


class EventWindows(Dataset):
    """Windows where an event is fraud when its amount jumps far above the previous event's."""

    def __init__(self, n: int, W: int = 12, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.items = []
        for _ in range(n):
            amount = torch.randn(W, generator=g) * 0.3
            jumps = torch.rand(W, generator=g) < 0.08
            amount[jumps] += 3.0
            label = torch.zeros(W)
            label[1:] = (amount[1:] - amount[:-1] > 2.0).float()
            mask = torch.ones(W, dtype=torch.bool)
            mask[: int(torch.randint(0, 3, (1,), generator=g))] = False
            self.items.append(
                {
                    "cat": torch.randint(1, 5, (W, 1), generator=g) * mask[:, None],
                    "num": torch.stack([amount, torch.randn(W, generator=g)], -1) * mask[:, None],
                    "mask": mask,
                    "label": label * mask,
                    "loss_mask": mask,
                }
            )

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def test_transaction_task_learns_a_sequential_pattern_and_writes_pr_curve(tmp_path):
    torch.manual_seed(0)
    task = TransactionScoringTask(
        vocab_sizes=[6],
        num_numeric=2,
        encoder=LatteConfig(dim=32, depth=1, heads=2, latents=8),
        pos_weight=5.0,
        lr=5e-3,
    )
    train = DataLoader(EventWindows(256), batch_size=32, shuffle=True)
    val = DataLoader(EventWindows(64, seed=1), batch_size=32)
    t = trainer(tmp_path, 8)
    t.fit(task, train, val)
    metrics = t.validate(task, val, verbose=False)[0]
    assert metrics["val_ap"] > 0.6  # the jump needs the previous event: a per-row model cannot see it
    t.test(task, val, verbose=False)
    assert list(tmp_path.rglob("pr_curve.png"))


def test_fraud_metrics_on_known_scores():
    labels = np.array([0] * 1000 + [1] * 10)
    scores = np.concatenate([np.linspace(0, 1, 1000), np.array([2.0] * 5 + [0.5] * 5)])
    assert recall_at_fpr(scores, labels, 0.01) == 0.5
    m = fraud_metrics(scores, labels, scenarios=np.array(["none"] * 1000 + ["a"] * 5 + ["b"] * 5))
    assert m["recall_1pct_fpr/a"] == 1.0 and m["recall_1pct_fpr/b"] == 0.0
    assert 0.5 < m["ap"] < 1.0 and m["positives"] == 10
    assert np.isnan(fraud_metrics(scores[:1000], labels[:1000])["ap"])

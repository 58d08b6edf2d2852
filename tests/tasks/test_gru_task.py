"""``TransactionScoringTask(architecture="gru")``: the GRU baseline trains through the same task code as Latte."""

import lightning as L
import pytest
import torch
from test_tasks import EventWindows
from torch.utils.data import DataLoader

from latte_vt.backbone import LatteConfig
from latte_vt.models.gru import GRUScorer
from latte_vt.models.transactions import TransactionScoringModel
from latte_vt.tasks.transactions import TransactionScoringTask


def gru_task(**kwargs) -> TransactionScoringTask:
    encoder = LatteConfig(dim=16, depth=1, heads=2, latents=4)
    return TransactionScoringTask([6], 2, encoder, architecture="gru", gru_layers=1, lr=1e-2, **kwargs)


def test_the_task_builds_latte_by_default_and_the_gru_on_request():
    assert isinstance(TransactionScoringTask([6], 2).model, TransactionScoringModel)
    task = gru_task()
    assert isinstance(task.model, GRUScorer)
    assert task.model.gru.hidden_size == 16 and task.model.gru.num_layers == 1  # width from encoder.dim
    with pytest.raises(ValueError, match="architecture"):
        TransactionScoringTask([6], 2, architecture="transformer")


def test_a_tiny_fit_of_the_gru_task_lowers_its_loss(tmp_path):
    torch.manual_seed(0)
    task = gru_task()
    batch = next(iter(DataLoader(EventWindows(64, seed=1), batch_size=64)))
    with torch.no_grad():
        logits = task(batch["cat"], batch["num"], batch["mask"])
        before = task._loss(logits, batch).item()
    assert logits.shape == (64, 12)  # (B, T): one score per event
    trainer = L.Trainer(
        max_epochs=4,
        default_root_dir=tmp_path,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(task, DataLoader(EventWindows(256), batch_size=32, shuffle=True))
    assert trainer.global_step == 4 * 8
    with torch.no_grad():
        after = task._loss(task(batch["cat"], batch["num"], batch["mask"]), batch).item()
    assert after < 0.8 * before

"""Transaction scoring LightningModule: causal TransactionScoringModel, imbalance-aware loss, rare-event metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latte_vt.backbone import LatteConfig
from latte_vt.metrics.fraud import fraud_metrics
from latte_vt.models.gru import GRUScorer
from latte_vt.models.transactions import TransactionScoringModel
from latte_vt.tasks.plots import pr_curve_png
from latte_vt.tasks.schedule import configure_adamw


def focal_loss(logits: Tensor, targets: Tensor, gamma: float, pos_weight: float) -> Tensor:
    """Per-element binary focal loss (Lin et al.), positives weighted by ``pos_weight``."""
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_true = torch.exp(-bce)
    weight = torch.where(targets > 0.5, pos_weight, 1.0)
    return weight * (1 - p_true) ** gamma * bce


class TransactionScoringTask(L.LightningModule):
    """Train/evaluate a causal ``TransactionScoringModel`` (or the GRU baseline) on windows of events.

    Batches are dicts with ``cat`` (B, W, F_cat) int64, ``num`` (B, W, F_num) float, ``mask`` (B, W)
    bool (real events), ``label`` (B, W) float and ``loss_mask`` (B, W) bool (events that count).

    Args:
        vocab_sizes: per categorical field, ids including padding and unknown (linked from the data).
        num_numeric: numeric features per event (linked from the data).
        encoder: the shared encoder's config (causal is forced on).
        architecture: ``latte`` (``TransactionScoringModel``, the default) or ``gru`` (``GRUScorer``: the
            baseline the benchmark compares against, same tokenizer, inputs and outputs; it takes its width
            from ``encoder.dim`` and is not exportable or streamable).
        gru_layers: stacked GRU layers (``architecture="gru"`` only).
        loss: ``bce`` (weighted) or ``focal``.
        pos_weight: weight of positive events; fraud is rare (0.1-1 %).
        focal_gamma: focusing parameter of the focal loss.
        lr: peak learning rate.
        weight_decay: AdamW weight decay.
        warmup_fraction: share of the steps spent warming up.
        data_info: what the data module knows (``vocab_sizes``, ``num_numeric``); filled in by the
            CLI and saved with the checkpoint, it overrides those two arguments.
    """

    def __init__(
        self,
        vocab_sizes: list[int] | None = None,
        num_numeric: int = 0,
        encoder: LatteConfig | None = None,
        architecture: Literal["latte", "gru"] = "latte",
        gru_layers: int = 2,
        loss: Literal["bce", "focal"] = "bce",
        pos_weight: float = 10.0,
        focal_gamma: float = 2.0,
        lr: float = 2e-3,
        weight_decay: float = 0.01,
        warmup_fraction: float = 0.05,
        data_info: dict | None = None,
    ) -> None:
        super().__init__()
        if data_info:
            vocab_sizes, num_numeric = data_info["vocab_sizes"], data_info["num_numeric"]
        if not vocab_sizes:
            raise ValueError("vocab_sizes is required (the CLI links it from the data module)")
        self.save_hyperparameters()
        if architecture == "gru":
            width = {"dim": encoder.dim} if encoder else {}  # else GRUScorer's default
            self.model: nn.Module = GRUScorer(list(vocab_sizes), num_numeric, layers=gru_layers, **width)
        elif architecture == "latte":
            self.model = TransactionScoringModel(list(vocab_sizes), num_numeric, encoder)
        else:
            raise ValueError(f"architecture must be 'latte' or 'gru', got {architecture!r}")
        self._outputs: dict[str, list[tuple[np.ndarray, ...]]] = {"val": [], "test": []}

    def forward(self, cat: Tensor, num: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.model(cat, num, mask)

    def _loss(self, logits: Tensor, batch: dict) -> Tensor:
        keep = batch["loss_mask"]
        logits, targets = logits[keep], batch["label"][keep].float()
        if self.hparams.loss == "focal":
            return focal_loss(logits, targets, self.hparams.focal_gamma, self.hparams.pos_weight).mean()
        weight = torch.tensor(self.hparams.pos_weight, device=logits.device)
        return F.binary_cross_entropy_with_logits(logits, targets, pos_weight=weight)

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        logits = self.model(batch["cat"], batch["num"], batch["mask"])  # (B, W)
        loss = self._loss(logits, batch)
        self.log("train_loss", loss, prog_bar=True, batch_size=len(logits))
        return loss

    def _collect(self, batch: dict, stage: str) -> None:
        logits = self.model(batch["cat"], batch["num"], batch["mask"])
        self.log(f"{stage}_loss", self._loss(logits, batch), batch_size=len(logits))
        keep = batch["loss_mask"]
        parts = [logits[keep].float(), batch["label"][keep]]
        if "scenario" in batch:  # (B, W) int64 codes into data_info["scenarios"]
            parts.append(batch["scenario"][keep])
        self._outputs[stage].append(tuple(x.cpu().numpy() for x in parts))

    def _report(self, stage: str) -> dict[str, float]:
        parts = self._outputs[stage]
        self._outputs[stage] = []
        if not parts:
            return {}
        scores, labels, *codes = (np.concatenate(x) for x in zip(*parts, strict=True))
        names = np.array((self.hparams.data_info or {}).get("scenarios") or [], dtype=object)
        scenarios = names[codes[0]] if codes and len(names) else None
        metrics = fraud_metrics(scores, labels, scenarios)
        for name, value in metrics.items():
            if name not in ("events", "positives") and np.isfinite(value):
                self.log(f"{stage}_{name}", value, prog_bar=name == "ap")
        if stage == "test" and self.trainer.is_global_zero and 0 < labels.sum() < len(labels):
            out_dir = Path(self.trainer.log_dir or self.trainer.default_root_dir)
            curve = pr_curve_png({self.hparams.architecture: (scores, labels)}, out_dir / "pr_curve.png")
            print(f"precision-recall curve: {curve}")
        return metrics

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._collect(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._report("val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._collect(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._report("test")

    def configure_optimizers(self) -> dict:
        return configure_adamw(self)

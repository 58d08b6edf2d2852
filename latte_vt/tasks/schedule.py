"""AdamW with linear warm-up then cosine decay, sized from the trainer's total steps."""

from __future__ import annotations

import math

import torch
from torch import nn


def warmup_cosine(step: int, total: int, warmup: int, floor: float = 0.01) -> float:
    """Learning-rate multiplier: linear 0 -> 1 over ``warmup`` steps, then cosine 1 -> ``floor``."""
    if step < warmup:
        return (step + 1) / max(warmup, 1)
    progress = min((step - warmup) / max(total - warmup, 1), 1.0)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def adamw(module: nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW over ``module``'s trainable parameters; no weight decay on biases and norms."""
    decay, no_decay = [], []
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or name.endswith(".bias") else decay).append(p)
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=lr
    )


def adamw_warmup_cosine(
    module: nn.Module, lr: float, weight_decay: float, total_steps: int, warmup_fraction: float
) -> dict:
    """Lightning ``configure_optimizers`` result: ``adamw`` with a per-step warm-up + cosine schedule."""
    optimizer = adamw(module, lr, weight_decay)
    total = max(int(total_steps), 1)
    warmup = int(total * warmup_fraction)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(s, total, warmup))
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def configure_adamw(task) -> dict:
    """``configure_optimizers`` of a task whose hparams hold lr, weight_decay and warmup_fraction."""
    return adamw_warmup_cosine(
        task.model,
        task.hparams.lr,
        task.hparams.weight_decay,
        task.trainer.estimated_stepping_batches,
        task.hparams.warmup_fraction,
    )

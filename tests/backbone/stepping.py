"""Test helper: run a causal encoder one token at a time."""

import torch

from latte_vt.backbone import LatteEncoder


def step_through(enc: LatteEncoder, x: torch.Tensor) -> tuple[torch.Tensor, list]:
    """x (B, T, D) fed token by token through ``enc.step`` -> outputs (B, T, D) and the final states."""
    states, steps = None, []
    with torch.no_grad():
        for t in range(x.shape[1]):
            y_t, states = enc.step(x[:, t], states)
            steps.append(y_t)
    return torch.stack(steps, dim=1), states

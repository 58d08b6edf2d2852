"""The modules that are exported: they fix each ONNX graph's inputs and outputs.

* ``VideoGraph``: uint8 frames (B, T, H, W, 3) -> logits (B, C); scaling and normalisation inside.
* ``TransactionGraph``: cat (B, T, F_cat) int64, num (B, T, F_num), mask (B, T) bool -> logits (B, T).
* ``TransactionStepGraph``: one event per entity + ``past_state.*`` -> logit (B,) + ``present_state.*``.
Causal Latte runs in its scan form here (``LatteEncoder.set_exportable``): plain ops, no cummax.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from latte_vt.attention import LatteState
from latte_vt.models.transactions import TransactionScorer
from latte_vt.models.video import VideoClassifier

STATE_PARTS = ("S", "z", "m")


class VideoGraph(nn.Module):
    """uint8 (B, T, H, W, 3) frames -> (B, num_classes) logits."""

    def __init__(self, model: VideoClassifier, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 1, 3, 1, 1))

    def forward(self, frames: Tensor) -> Tensor:
        clips = frames.permute(0, 1, 4, 2, 3).float() / 255.0  # (B, T, 3, H, W)
        return self.model((clips - self.mean) / self.std)


class TransactionGraph(nn.Module):
    """Whole histories: cat (B, T, F_cat), num (B, T, F_num), mask (B, T) -> logits (B, T).

    The model is held as a plain attribute, not a submodule, so the exporter bakes its weights in as
    constants: torch 2.14's exporter fails to decompose a ``scan`` next to lifted parameters when
    both batch and time are dynamic ("Expected leaf to be a Tensor or None, got SymInt").
    """

    def __init__(self, model: TransactionScorer) -> None:
        super().__init__()
        object.__setattr__(self, "model", model)
        model.encoder.set_exportable(True)

    def forward(self, cat: Tensor, num: Tensor, mask: Tensor) -> Tensor:
        return self.model(cat, num, mask)


def state_names(depth: int, prefix: str) -> list[str]:
    """``prefix.{layer}.{S,z,m}`` for every layer, in the graph's input/output order."""
    return [f"{prefix}.{layer}.{part}" for layer in range(depth) for part in STATE_PARTS]


class TransactionStepGraph(nn.Module):
    """One event per entity: cat_t (B, F_cat), num_t (B, F_num), past states -> logit (B,), present states.

    States are float32 tensors per layer: S (B, H, L, Dh), z (B, H, L), m (B, H, L); a new entity
    starts from ``initial_states``.
    """

    def __init__(self, model: TransactionScorer) -> None:
        super().__init__()
        if model.encoder.config.mixer != "latte":
            raise ValueError(f"step export needs the latte mixer (constant state), got {model.encoder.config.mixer!r}")
        self.model = model
        self.depth = model.encoder.config.depth

    def initial_states(self, batch: int) -> list[Tensor]:
        cfg = self.model.encoder.config
        one = [
            torch.zeros(batch, cfg.heads, cfg.latents, cfg.head_dim),
            torch.zeros(batch, cfg.heads, cfg.latents),
            torch.full((batch, cfg.heads, cfg.latents), -1e30),
        ]
        return [t.clone() for _ in range(self.depth) for t in one]

    def forward(self, cat_t: Tensor, num_t: Tensor, *flat_states: Tensor) -> tuple[Tensor, ...]:
        states = [LatteState(*flat_states[3 * i : 3 * i + 3]) for i in range(self.depth)]
        logit, new_states = self.model.step(cat_t, num_t, states)
        return (logit, *[t for state in new_states for t in state])

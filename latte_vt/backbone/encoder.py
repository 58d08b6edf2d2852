"""``LatteEncoder``: pre-norm blocks of (token mixer, MLP), shared by the video and transaction models."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from torch import Tensor, nn

from latte_vt.backbone.config import LatteConfig
from latte_vt.backbone.local_mix import CausalLocalMix
from latte_vt.backbone.mixers import LatentProjection, LatteMixer, make_mixer
from latte_vt.backbone.pooling import make_pooling


class Block(nn.Module):
    """[x + local(norm(x)),] x + mixer(norm(x)), then x + mlp(norm(x)).

    ``step`` state: (mixer state, local-mix history or None).
    """

    def __init__(self, cfg: LatteConfig, latents: LatentProjection | None) -> None:
        super().__init__()
        hidden = int(cfg.dim * cfg.mlp_ratio)
        self.norm1 = nn.LayerNorm(cfg.dim)
        self.mixer = make_mixer(cfg, latents)
        self.local = CausalLocalMix(cfg.dim, cfg.local_mix) if cfg.local_mix else None
        self.norm2 = nn.LayerNorm(cfg.dim)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.dim, hidden), nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(hidden, cfg.dim)
        )
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        if self.local is not None:
            x = x + self.local(self.norm1(x), mask)  # (B, T, D)
        x = x + self.drop(self.mixer(self.norm1(x), mask))  # (B, T, D)
        return x + self.drop(self.mlp(self.norm2(x)))

    def step(self, x_t: Tensor, state: tuple[Any, Tensor | None] | None) -> tuple[Tensor, tuple[Any, Tensor | None]]:
        mixer_state, local_state = state if state is not None else (None, None)
        if self.local is not None:
            y, local_state = self.local.step(self.norm1(x_t), local_state)  # (B, D)
            x_t = x_t + y
        y, mixer_state = self.mixer.step(self.norm1(x_t), mixer_state)  # (B, D)
        x_t = x_t + self.drop(y)
        return x_t + self.drop(self.mlp(self.norm2(x_t))), (mixer_state, local_state)

    def piece(self, x: Tensor, state: tuple[Any, Tensor | None] | None) -> tuple[Tensor, tuple[Any, Tensor | None]]:
        """Tokens x (B, T, D) continuing ``state`` -> (B, T, D), the state after them (T calls of ``step``)."""
        mixer_state, local_state = state if state is not None else (None, None)
        if self.local is not None:
            y, local_state = self.local.piece(self.norm1(x), local_state)  # (B, T, D)
            x = x + y
        y, mixer_state = self.mixer.piece(self.norm1(x), mixer_state)  # (B, T, D)
        x = x + self.drop(y)
        return x + self.drop(self.mlp(self.norm2(x))), (mixer_state, local_state)


class LatteEncoder(nn.Module):
    """The shared backbone: tokens (B, T, D) [+ mask (B, T)] -> features (B, T, D) or pooled (B, D).

    ``LatteEncoder(LatteConfig(...))`` or ``LatteEncoder(dim=..., causal=True, ...)``; see ``LatteConfig``.
    Causal encoders also ``step`` one token at a time, equal to ``forward``.
    """

    def __init__(self, config: LatteConfig | None = None, **overrides: Any) -> None:
        super().__init__()
        unknown = set(overrides) - set(LatteConfig.field_names())
        if unknown:
            raise ValueError(f"unknown LatteEncoder options {sorted(unknown)}; valid: {LatteConfig.field_names()}")
        cfg = replace(config or LatteConfig(), **overrides)
        if cfg.local_mix and not cfg.causal:
            raise ValueError("LatteConfig.local_mix needs a causal encoder (causal=True)")
        self.config = cfg
        uses_latents = cfg.mixer in ("latte", "macchiato")
        shared = LatentProjection(cfg) if uses_latents and cfg.share_latents else None
        self.blocks = nn.ModuleList(
            Block(cfg, shared or (LatentProjection(cfg) if uses_latents else None)) for _ in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(cfg.dim)
        self.pool = make_pooling(cfg)

    def set_exportable(self, exportable: bool = True) -> LatteEncoder:
        """Use the scan form of causal Latte (plain ops; what ONNX export needs).  Same numbers."""
        for module in self.modules():
            if isinstance(module, LatteMixer):
                module.exportable = exportable
        return self

    @property
    def num_features(self) -> int:
        return self.config.dim

    def _check_tokens(self, x: Tensor, mask: Tensor | None) -> None:
        if x.ndim != 3 or x.shape[-1] != self.config.dim:
            raise ValueError(f"x must have shape (B, T, D={self.config.dim}), got {tuple(x.shape)}")
        if x.shape[1] < 1:
            raise ValueError("x must hold at least one token (T >= 1)")
        if mask is not None and (mask.dtype.is_floating_point or tuple(mask.shape) != tuple(x.shape[:2])):
            raise ValueError(
                f"mask must be a bool tensor of shape (B, T) = {tuple(x.shape[:2])}, got {tuple(mask.shape)}"
            )

    def forward_features(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """(B, T, D) tokens -> (B, T, D) normalised features."""
        self._check_tokens(x, mask)
        for block in self.blocks:
            x = block(x, mask)
        return self.norm(x)

    def forward_head(self, features: Tensor, mask: Tensor | None = None) -> Tensor:
        """Pool (B, T, D) features to (B, D); with ``pooling="none"`` they pass through."""
        return features if self.pool is None else self.pool(features, mask)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.forward_head(self.forward_features(x, mask), mask)

    def step(self, x_t: Tensor, states: list | None = None) -> tuple[Tensor, list]:
        """Causal only: one token (B, D) -> its features (B, D) and the per-layer (mixer, local-mix) states."""
        if not self.config.causal:
            raise ValueError("step() needs a causal encoder (LatteConfig.causal=True)")
        if x_t.ndim != 2 or x_t.shape[-1] != self.config.dim:
            raise ValueError(f"x_t must have shape (B, D={self.config.dim}), got {tuple(x_t.shape)}")
        states = states if states is not None else [None] * len(self.blocks)
        new_states = []
        for block, state in zip(self.blocks, states, strict=True):
            x_t, state = block.step(x_t, state)
            new_states.append(state)
        return self.norm(x_t), new_states

    def piece(self, x: Tensor, states: list | None = None) -> tuple[Tensor, list]:
        """Causal Latte only: a run of tokens (B, T, D) continuing ``states`` (as ``step`` leaves them; None = a
        new sequence) -> features (B, T, D) and the states after them: a long sequence in bounded memory."""
        if not self.config.causal or self.config.mixer != "latte":
            raise ValueError("piece() needs a causal encoder with the latte mixer")
        self._check_tokens(x, None)
        states = states if states is not None else [None] * len(self.blocks)
        new_states = []
        for block, state in zip(self.blocks, states, strict=True):
            x, state = block.piece(x, state)
            new_states.append(state)
        return self.norm(x), new_states

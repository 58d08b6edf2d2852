"""The one config dataclass of the shared encoder; every field is a constructor argument."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Literal

from latte_vt.attention.backend import BACKENDS

MIXERS = ("latte", "softmax", "macchiato")
POOLINGS = ("none", "mean", "latent")
LATENT_INITS = ("default", "orthogonal")


@dataclass
class LatteConfig:
    """Shape and options of a ``LatteEncoder``.

    Attributes:
        dim: token width.
        depth: number of pre-norm blocks.
        heads: attention heads; ``dim`` must be divisible by it.
        latents: latent states per head (L).
        mlp_ratio: hidden width of each block's MLP, as a multiple of ``dim``.
        dropout: dropout on the MLP and the residual branches.
        causal: token t only sees tokens <= t (transactions); otherwise bidirectional (video).
        mixer: token mixer: ``latte`` (linear time), ``softmax`` (SDPA baseline) or ``macchiato``
            (Latte plus a sliding-window softmax under one normaliser).
        tie_qk: tied latents: the same projection gives the query and the key latent logits.
        share_latents: one latent projection shared by every layer (weight sharing).
        latent_init: ``default`` (PyTorch Linear init) or ``orthogonal`` latent projections.
        pooling: ``none`` (token features out), ``mean`` (masked mean) or ``latent`` (a few learned
            queries cross-attend over the sequence).
        pool_queries: number of learned queries for ``latent`` pooling.
        window: sliding-window length of the ``macchiato`` softmax branch.
        chunk_size: chunk length of causal Latte (a power of two).
        local_mix: causal encoders only: kernel of a depthwise causal convolution over each block's
            normalised input, added before the token mixer (0 = off).  Hands each token its last
            ``local_mix - 1`` neighbours; Latte alone weighs the past by content, not recency.
        recency: causal Latte only: a learned rate per head and latent by which older tokens weigh
            less (token s seen from t: ``exp(k_s - rate * (t - s))``); the step state stays (S, z, m).
        attention_backend: ``auto`` (fused Triton kernels for CUDA tensors when triton is
            installed, plain torch otherwise and always while exporting), ``torch`` or ``triton``.
    """

    dim: int = 256
    depth: int = 4
    heads: int = 4
    latents: int = 64
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    causal: bool = False
    mixer: Literal["latte", "softmax", "macchiato"] = "latte"
    tie_qk: bool = False
    share_latents: bool = False
    latent_init: Literal["default", "orthogonal"] = "default"
    pooling: Literal["none", "mean", "latent"] = "none"
    pool_queries: int = 4
    window: int = 32
    chunk_size: int = 64
    local_mix: int = 0
    recency: bool = False
    attention_backend: Literal["auto", "torch", "triton"] = "auto"

    def __post_init__(self) -> None:
        for name in ("dim", "depth", "heads", "latents", "pool_queries", "window", "chunk_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"LatteConfig.{name} must be a positive int, got {getattr(self, name)!r}")
        if self.dim % self.heads:
            raise ValueError(f"LatteConfig.dim ({self.dim}) must be divisible by heads ({self.heads})")
        if not isinstance(self.local_mix, int) or self.local_mix < 0 or self.local_mix == 1:
            raise ValueError(f"LatteConfig.local_mix must be 0 (off) or a kernel >= 2, got {self.local_mix!r}")
        if self.chunk_size & (self.chunk_size - 1):
            raise ValueError(f"LatteConfig.chunk_size must be a power of two, got {self.chunk_size}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"LatteConfig.dropout must be in [0, 1), got {self.dropout}")
        if self.mlp_ratio <= 0:
            raise ValueError(f"LatteConfig.mlp_ratio must be > 0, got {self.mlp_ratio}")
        choices = (
            ("mixer", MIXERS),
            ("pooling", POOLINGS),
            ("latent_init", LATENT_INITS),
            ("attention_backend", BACKENDS),
        )
        for name, allowed in choices:
            if getattr(self, name) not in allowed:
                raise ValueError(f"LatteConfig.{name} must be one of {allowed}, got {getattr(self, name)!r}")

    @property
    def head_dim(self) -> int:
        """Value width per head (Dh = dim / heads)."""
        return self.dim // self.heads

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

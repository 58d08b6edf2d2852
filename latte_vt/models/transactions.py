"""Transaction scorer: event tokenizer -> causal LatteEncoder -> one logit per event."""

from __future__ import annotations

from dataclasses import replace

from torch import Tensor, nn

from latte_vt.backbone import LatteConfig, LatteEncoder
from latte_vt.tokenizers.transactions import TransactionTokenizer


class TransactionScoringModel(nn.Module):
    """cat (B, T, F_cat), num (B, T, F_num), mask (B, T) -> (B, T) logits, each from that entity's past only.

    Args:
        vocab_sizes: per categorical field, vocabulary size including padding and unknown ids.
        num_numeric: number of numeric features per event.
        encoder: encoder config; ``causal`` is forced on and pooling off.
    """

    def __init__(self, vocab_sizes: list[int], num_numeric: int, encoder: LatteConfig | None = None) -> None:
        super().__init__()
        cfg = encoder or LatteConfig(dim=64, depth=2, heads=4, latents=16, local_mix=4, recency=True)
        cfg = replace(cfg, causal=True, pooling="none")
        self.tokenizer = TransactionTokenizer(vocab_sizes, num_numeric, cfg.dim)
        self.encoder = LatteEncoder(cfg)
        self.head = nn.Linear(cfg.dim, 1)

    def forward(self, cat: Tensor, num: Tensor, mask: Tensor | None = None) -> Tensor:
        features = self.encoder(self.tokenizer(cat, num), mask)  # (B, T, D)
        return self.head(features).squeeze(-1)  # (B, T)

    def step(self, cat_t: Tensor, num_t: Tensor, states: list | None = None) -> tuple[Tensor, list]:
        """One event per entity: cat_t (B, F_cat), num_t (B, F_num) -> (B,) logits and new states."""
        features, states = self.encoder.step(self.tokenizer(cat_t, num_t), states)  # (B, D)
        return self.head(features).squeeze(-1), states

    def piece(self, cat: Tensor, num: Tensor, states: list | None = None) -> tuple[Tensor, list]:
        """A run of events per entity continuing ``states`` (as ``step`` leaves them; None = no past):
        cat (B, T, F_cat), num (B, T, F_num) -> (B, T) logits and the states after them."""
        features, states = self.encoder.piece(self.tokenizer(cat, num), states)  # (B, T, D)
        return self.head(features).squeeze(-1), states

"""GRU baseline on the transaction tokenizer: the same inputs and outputs as ``TransactionScoringModel``."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from latte_vt.tokenizers.transactions import TransactionTokenizer


class GRUScorer(nn.Module):
    """cat (B, T, F_cat), num (B, T, F_num), mask (B, T) left-padded -> (B, T) logits, each from the past only.

    Padding never reaches a real event: each row is rotated so its real events come first (the padding
    then trails them, and a recurrence only looks back), run, and rotated back; so a padded batch gives
    the same logits as each sequence alone.

    Args:
        vocab_sizes: per categorical field, vocabulary size including padding and unknown ids.
        num_numeric: number of numeric features per event.
        dim: token and hidden width.
        layers: stacked GRU layers.
    """

    def __init__(self, vocab_sizes: list[int], num_numeric: int, dim: int = 64, layers: int = 2) -> None:
        super().__init__()
        self.tokenizer = TransactionTokenizer(vocab_sizes, num_numeric, dim)
        self.gru = nn.GRU(dim, dim, num_layers=layers, batch_first=True)
        self.head = nn.Linear(dim, 1)

    def forward(self, cat: Tensor, num: Tensor, mask: Tensor | None = None) -> Tensor:
        x = self.tokenizer(cat, num)  # (B, T, D)
        T = x.shape[1]
        if mask is None:
            return self.head(self.gru(x)[0]).squeeze(-1)
        lengths = mask.sum(1)  # (B,)
        shift = (torch.arange(T, device=x.device) + (T - lengths)[:, None]) % T  # (B, T): left- to right-aligned
        x = x.gather(1, shift[..., None].expand_as(x))  # (B, T, D), real events first
        h = self.gru(x)[0]  # (B, T, D)
        back = (torch.arange(T, device=x.device) - (T - lengths)[:, None]) % T  # (B, T): right- to left-aligned
        h = h.gather(1, back[..., None].expand_as(h))  # (B, T, D)
        return self.head(h).squeeze(-1)  # (B, T)

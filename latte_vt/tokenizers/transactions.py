"""Transaction tokenizer: encoded event fields -> one token per event."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class TransactionTokenizer(nn.Module):
    """Field embeddings + a numeric projection: cat (B, T, F_cat) int64, num (B, T, F_num) -> (B, T, dim).

    ``vocab_sizes[i]`` counts field i's ids including padding (0) and unknown (1).
    """

    def __init__(self, vocab_sizes: list[int], num_numeric: int, dim: int) -> None:
        super().__init__()
        if any(v < 2 for v in vocab_sizes):
            raise ValueError(f"every vocabulary needs at least padding and unknown ids, got sizes {vocab_sizes}")
        self.vocab_sizes = list(vocab_sizes)
        self.num_numeric = num_numeric
        self.fields = nn.ModuleList(nn.Embedding(v, dim, padding_idx=0) for v in vocab_sizes)
        self.numeric = nn.Linear(num_numeric, dim) if num_numeric else None
        self.norm = nn.LayerNorm(dim)

    def forward(self, cat: Tensor, num: Tensor) -> Tensor:
        if cat.shape[-1] != len(self.fields) or num.shape[-1] != self.num_numeric or cat.shape[:-1] != num.shape[:-1]:
            raise ValueError(
                f"expected cat (..., {len(self.fields)}) and num (..., {self.num_numeric}) with the same leading "
                f"shape, got {tuple(cat.shape)} and {tuple(num.shape)}"
            )
        limits = torch.tensor(self.vocab_sizes, device=cat.device)
        if not torch.compiler.is_compiling() and ((cat < 0).any() or (cat >= limits).any()):  # data check: eager
            raise ValueError(f"categorical ids out of range for vocabulary sizes {self.vocab_sizes}")
        x = sum(emb(cat[..., i]) for i, emb in enumerate(self.fields))  # (..., D)
        if self.numeric is not None:
            x = x + self.numeric(num)
        return self.norm(x)

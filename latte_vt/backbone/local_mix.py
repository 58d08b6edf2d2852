"""``CausalLocalMix``: a depthwise causal convolution over each token's last few neighbours.

Causal Latte weighs a token's past by content only (``exp(k_s)``): it has no notion of recency, so
"what happened just before this event" is hard for it to express.  A short convolution in front of
each block's mixer hands every token its ``kernel - 1`` predecessors directly (as the short
convolutions of H3, Mamba or Based do).  Zero-initialised: a new block starts as plain Latte.
Streaming carries the last ``kernel - 1`` inputs, so the state stays constant-size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class CausalLocalMix(nn.Module):
    """x (B, T, D) [+ mask (B, T)] -> (B, T, D): out_t = sum_j w_j * x_{t-K+1+j} per channel, zero before t=0.

    Padded positions (mask False) count as zeros, exactly like the empty history of ``step``.
    """

    def __init__(self, dim: int, kernel: int) -> None:
        super().__init__()
        if kernel < 2:
            raise ValueError(f"CausalLocalMix needs kernel >= 2, got {kernel}")
        self.kernel = kernel
        self.weight = nn.Parameter(torch.zeros(dim, kernel))  # (D, K); column K-1 weighs the token itself

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        if mask is not None:
            x = x * mask[..., None].to(x.dtype)  # (B, T, D)
        padded = F.pad(x.transpose(1, 2), (self.kernel - 1, 0))  # (B, D, T + K - 1)
        out = F.conv1d(padded, self.weight[:, None, :], groups=self.weight.shape[0])  # (B, D, T)
        return out.transpose(1, 2)  # (B, T, D)

    def initial_state(self, batch: int, device: torch.device | None = None, dtype: torch.dtype | None = None) -> Tensor:
        """The empty history: (B, K - 1, D) zeros."""
        return torch.zeros(batch, self.kernel - 1, self.weight.shape[0], device=device, dtype=dtype)

    def step(self, x_t: Tensor, state: Tensor | None) -> tuple[Tensor, Tensor]:
        """One token x_t (B, D) and the previous K-1 inputs (B, K-1, D) -> output (B, D), next state."""
        if state is None:
            state = self.initial_state(x_t.shape[0], x_t.device, x_t.dtype)
        window = torch.cat([state, x_t[:, None]], dim=1)  # (B, K, D): the history, then x_t
        out = (window * self.weight.t()[None]).sum(1)  # (B, D)
        return out, window[:, 1:]

    def piece(self, x: Tensor, state: Tensor | None) -> tuple[Tensor, Tensor]:
        """Tokens x (B, T, D) after the previous K-1 inputs (B, K-1, D) -> output (B, T, D), next state;
        equals T calls of ``step``."""
        if state is None:
            state = self.initial_state(x.shape[0], x.device, x.dtype)
        window = torch.cat([state, x], dim=1).transpose(1, 2)  # (B, D, K - 1 + T): the history, then x
        out = F.conv1d(window, self.weight[:, None, :], groups=self.weight.shape[0])  # (B, D, T)
        return out.transpose(1, 2), window[:, :, -(self.kernel - 1) :].transpose(1, 2)

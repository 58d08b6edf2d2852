"""Token mixers behind ``LatteConfig.mixer``: latte, softmax (baseline) and macchiato.

Each maps (B, T, D) -> (B, T, D) with an optional (B, T) padding mask, and has
``step(x_t, state) -> (y_t, state)`` for causal use, one token (B, D) at a time.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latte_vt.attention import LatteState, latte_bidirectional, latte_causal, latte_step
from latte_vt.attention.latte import chunk_for_ramp
from latte_vt.attention.mixers import macchiato_mix, sliding_window_attention, softmax_attention
from latte_vt.attention.scan import latte_causal_scan
from latte_vt.backbone.config import LatteConfig


def split_heads(x: Tensor, heads: int) -> Tensor:
    """(B, T, H*d) -> (B, H, T, d)."""
    return x.unflatten(-1, (heads, -1)).transpose(1, 2)


def merge_heads(x: Tensor) -> Tensor:
    """(B, H, T, d) -> (B, T, H*d)."""
    return x.transpose(1, 2).flatten(2)


class LatentProjection(nn.Module):
    """Latent logits q, k (B, H, T, L) from tokens (B, T, D); with ``tie_qk`` the key logits are q.

    One instance may be shared by every layer (``share_latents``).
    """

    def __init__(self, cfg: LatteConfig) -> None:
        super().__init__()
        self.heads = cfg.heads
        self.q = nn.Linear(cfg.dim, cfg.heads * cfg.latents)
        self.k = None if cfg.tie_qk else nn.Linear(cfg.dim, cfg.heads * cfg.latents)
        if cfg.latent_init == "orthogonal":
            for layer in (self.q, self.k):
                if layer is not None:
                    nn.init.orthogonal_(layer.weight)
                    nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        q = split_heads(self.q(x), self.heads)  # (B, H, T, L)
        k = q if self.k is None else split_heads(self.k(x), self.heads)  # (B, H, T, L)
        return q, k


class LatteMixer(nn.Module):
    """Latte token mixer: bidirectional or causal (chunked), with a one-token ``step``.

    ``exportable = True`` switches the causal pass to the scan form and the bidirectional pass to
    the torch backend (plain ops, for ONNX export); otherwise ``cfg.attention_backend`` decides.
    """

    exportable: bool = False

    def __init__(self, cfg: LatteConfig, latents: LatentProjection) -> None:
        super().__init__()
        self.cfg = cfg
        self.latents = latents
        self.value = nn.Linear(cfg.dim, cfg.dim)
        self.out = nn.Linear(cfg.dim, cfg.dim)
        # per-latent recency rates (causal only): rates from 1e-3 to 0.5 per token at init, learned
        rates = torch.logspace(-3, math.log10(0.5), cfg.latents).expand(cfg.heads, cfg.latents)  # (H, L)
        self.recency = nn.Parameter(torch.log(torch.expm1(rates)).clone()) if cfg.causal and cfg.recency else None

    def rates(self) -> Tensor | None:
        """Recency rate per head and latent (H, L) >= 0: token s weighs exp(-rate * (t - s)) more lightly."""
        return None if self.recency is None else F.softplus(self.recency)

    def _chunk(self, rates: Tensor | None) -> int:
        """Causal chunk size: the configured one, smaller where the recency ramp would spread keys too far
        inside a chunk for the fast path (``chunk_for_ramp``)."""
        return self.cfg.chunk_size if rates is None else chunk_for_ramp(self.cfg.chunk_size, float(rates.max()))

    def mix(self, x: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """Per-head Latte output (B, H, T, Dh), the latent query logits and the values."""
        q, k = self.latents(x)  # (B, H, T, L)
        v = split_heads(self.value(x), self.cfg.heads)  # (B, H, T, Dh)
        rates = self.rates()
        if rates is not None:  # key bias rate * position: relative weights exp(-rate * (t - s)) for s <= t
            positions = torch.arange(x.shape[1], device=x.device, dtype=k.dtype)  # (T,)
            k = k + rates[None, :, None, :] * positions[None, None, :, None]  # (B, H, T, L)
        backend = "torch" if self.exportable else self.cfg.attention_backend
        if self.cfg.causal and self.exportable:
            y = latte_causal_scan(q, k, v, mask=mask)[0]
        elif self.cfg.causal:
            y = latte_causal(q, k, v, chunk_size=self._chunk(rates), mask=mask, backend=backend)
        else:
            y = latte_bidirectional(q, k, v, mask, backend=backend)
        return y, q, v

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.out(merge_heads(self.mix(x, mask)[0]))  # (B, T, D)

    def step(self, x_t: Tensor, state: LatteState | None) -> tuple[Tensor, LatteState]:
        q, k = self.latents(x_t.unsqueeze(1))  # (B, H, 1, L)
        v = split_heads(self.value(x_t.unsqueeze(1)), self.cfg.heads)  # (B, H, 1, Dh)
        rates = self.rates()
        if rates is not None and state is not None:  # age the past by one token: its log-weights drop by rate
            state = LatteState(state.S, state.z, state.m - rates[None])
        y, state = latte_step(q[:, :, 0], k[:, :, 0], v[:, :, 0], state)  # (B, H, Dh)
        return self.out(y.flatten(1)), state  # (B, D)

    def piece(self, x: Tensor, state: LatteState | None) -> tuple[Tensor, LatteState]:
        """Causal only: tokens x (B, T, D) continuing ``state`` (as ``step`` leaves it; None = a new sequence)
        -> (B, T, D) and the state after them; equals T calls of ``step``."""
        q, k = self.latents(x)  # (B, H, T, L)
        v = split_heads(self.value(x), self.cfg.heads)  # (B, H, T, Dh)
        rates, T = self.rates(), x.shape[1]
        if rates is not None:  # piece-local positions; the carried past is one token older than position 0
            positions = torch.arange(T, device=x.device, dtype=k.dtype)  # (T,)
            k = k + rates[None, :, None, :] * positions[None, None, :, None]  # (B, H, T, L)
            if state is not None:
                state = LatteState(state.S, state.z, state.m - rates[None])
        if self.exportable:
            y, state = latte_causal_scan(q, k, v, state=state)
        else:
            y, state = latte_causal(q, k, v, state, True, self._chunk(rates), backend=self.cfg.attention_backend)
        if rates is not None:  # back to step's frame: the newest token at position 0
            state = LatteState(state.S, state.z, state.m - rates[None] * (T - 1))
        return self.out(merge_heads(y)), state  # (B, T, D)


class KVCache(NamedTuple):
    """Keys and values seen so far (B, H, t, Dh); the softmax baseline's state grows with t."""

    k: Tensor
    v: Tensor


class SoftmaxMixer(nn.Module):
    """Plain scaled-dot-product attention: the O(T^2) baseline behind the same switch."""

    def __init__(self, cfg: LatteConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim)
        self.out = nn.Linear(cfg.dim, cfg.dim)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        q, k, v = (split_heads(t, self.cfg.heads) for t in self.qkv(x).chunk(3, dim=-1))  # (B, H, T, Dh)
        return self.out(merge_heads(softmax_attention(q, k, v, self.cfg.causal, mask)))

    def step(self, x_t: Tensor, state: KVCache | None) -> tuple[Tensor, KVCache]:
        q, k, v = (split_heads(t, self.cfg.heads) for t in self.qkv(x_t.unsqueeze(1)).chunk(3, dim=-1))
        if state is not None:
            k, v = torch.cat([state.k, k], dim=2), torch.cat([state.v, v], dim=2)  # (B, H, t, Dh)
        y = softmax_attention(q, k, v)  # (B, H, 1, Dh): the newest token sees everything so far
        return self.out(y.flatten(1)), KVCache(k, v)


class MacchiatoState(NamedTuple):
    """Latte state plus the last ``window`` local keys/values and which of them are real."""

    latte: LatteState | None
    k: Tensor  # (B, H, W, Dh)
    v: Tensor  # (B, H, W, Dh)
    valid: Tensor  # (B, W) bool


class MacchiatoMixer(nn.Module):
    """Latte (global, through latents) + sliding-window softmax (local) under one normaliser."""

    def __init__(self, cfg: LatteConfig, latents: LatentProjection) -> None:
        super().__init__()
        self.cfg = cfg
        self.latte = LatteMixer(cfg, latents)
        self.local_qk = nn.Linear(cfg.dim, 2 * cfg.dim)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        y_latte, q_lat, v = self.latte.mix(x, mask)  # (B, H, T, Dh), (B, H, T, L), (B, H, T, Dh)
        ql, kl = (split_heads(t, self.cfg.heads) for t in self.local_qk(x).chunk(2, dim=-1))  # (B, H, T, Dh)
        y_local, lse = sliding_window_attention(ql, kl, v, self.cfg.window, self.cfg.causal, mask)
        y = macchiato_mix(y_latte, q_lat, y_local, lse)  # (B, H, T, Dh)
        if mask is not None:
            y = y.masked_fill(~mask[:, None, :, None], 0.0)
        return self.latte.out(merge_heads(y))

    def step(self, x_t: Tensor, state: MacchiatoState | None) -> tuple[Tensor, MacchiatoState]:
        B, H, W = x_t.shape[0], self.cfg.heads, self.cfg.window
        x1 = x_t.unsqueeze(1)  # (B, 1, D)
        q_lat, k_lat = self.latte.latents(x1)  # (B, H, 1, L)
        v = split_heads(self.latte.value(x1), H)  # (B, H, 1, Dh)
        ql, kl = (split_heads(t, H) for t in self.local_qk(x1).chunk(2, dim=-1))  # (B, H, 1, Dh)
        if state is None:
            empty = torch.zeros(B, H, W, v.shape[-1], dtype=v.dtype, device=v.device)
            state = MacchiatoState(None, empty, empty, torch.zeros(B, W, dtype=torch.bool, device=v.device))
        y_latte, latte_state = latte_step(q_lat[:, :, 0], k_lat[:, :, 0], v[:, :, 0], state.latte)  # (B, H, Dh)
        k_win = torch.cat([state.k[:, :, 1:], kl], dim=2)  # (B, H, W, Dh) the last W tokens
        v_win = torch.cat([state.v[:, :, 1:], v], dim=2)
        valid = torch.cat([state.valid[:, 1:], torch.ones(B, 1, dtype=torch.bool, device=v.device)], dim=1)
        scores = (ql @ k_win.transpose(-1, -2)).squeeze(2) / ql.shape[-1] ** 0.5  # (B, H, W)
        scores = scores.masked_fill(~valid[:, None, :], float("-inf"))
        lse = torch.logsumexp(scores, dim=-1)  # (B, H)
        y_local = (torch.softmax(scores, dim=-1).unsqueeze(2) @ v_win).squeeze(2)  # (B, H, Dh)
        y = macchiato_mix(y_latte, q_lat[:, :, 0], y_local, lse)  # (B, H, Dh)
        return self.latte.out(y.flatten(1)), MacchiatoState(latte_state, k_win, v_win, valid)


def make_mixer(cfg: LatteConfig, latents: LatentProjection | None) -> nn.Module:
    """The token mixer ``cfg.mixer`` names; latte/macchiato need a latent projection."""
    if cfg.mixer == "softmax":
        return SoftmaxMixer(cfg)
    assert latents is not None
    return LatteMixer(cfg, latents) if cfg.mixer == "latte" else MacchiatoMixer(cfg, latents)

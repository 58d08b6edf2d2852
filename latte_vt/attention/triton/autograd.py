"""Autograd wrappers around the Triton kernels, with the same contract as the torch functions.

Arguments arrive already validated by ``latte_causal`` / ``latte_bidirectional`` (shapes, dtypes,
mask, chunk size).  Inputs may be strided views as long as their last dimension is contiguous.
"""

from __future__ import annotations

import torch
from torch import Tensor

from latte_vt.attention.latte import DEFAULT_CHUNK, NEG, LatteState
from latte_vt.attention.triton.bidirectional import BidirectionalForward, bidirectional_backward, bidirectional_forward
from latte_vt.attention.triton.causal_backward import causal_backward
from latte_vt.attention.triton.causal_forward import SUB, CausalForward, causal_forward


def _unit_stride(x: Tensor) -> Tensor:
    """The kernels index the last dimension densely; anything else is copied once."""
    return x if x.stride(-1) == 1 else x.contiguous()


class LatteCausalFunction(torch.autograd.Function):
    """(q, k, v, S0, la0) -> (y, S_final, la_final); S and la are the normalised Latte state."""

    @staticmethod
    def forward(ctx, q, k, v, S0, la0, mask, chunk):  # noqa: D102
        fwd = causal_forward(q, k, v, mask, S0, la0, chunk)
        ctx.save_for_backward(q, k, v, mask, fwd.la, fwd.states, fwd.la_in)
        ctx.chunk = chunk
        ctx.set_materialize_grads(False)  # unused outputs (usually the final state) get no zero tensors
        B, H, L, Dh = S0.shape
        S_final = fwd.states[:, -1].reshape(B, H, L, Dh).clone()  # (B, H, L, Dh)
        la_final = fwd.la_in[:, -1].reshape(B, H, L).clone()  # (B, H, L)
        return fwd.y, S_final, la_final

    @staticmethod
    def backward(ctx, dy, dS_final, dla_final):  # noqa: D102
        q, k, v, mask, la, states, la_in = ctx.saved_tensors
        B, H, T, L = q.shape
        Dh = v.shape[-1]
        dy = torch.zeros_like(v) if dy is None else _unit_stride(dy)  # (B, H, T, Dh)
        # the final state is a "query" after the last token: D seed = dS, E seed = dS . S - d la
        dS_seed = torch.zeros(B * H, L, Dh, dtype=torch.float32, device=q.device)  # (B*H, L, Dh)
        dE_seed = torch.zeros(B * H, L, dtype=torch.float32, device=q.device)  # (B*H, L)
        if dS_final is not None:
            dS_seed = dS_final.reshape(B * H, L, Dh).float().contiguous()
            dE_seed = (dS_seed * states[:, -1]).sum(-1)
        if dla_final is not None:
            dE_seed = dE_seed - dla_final.reshape(B * H, L).float()
        grads = causal_backward(dy, q, k, v, mask, CausalForward(None, la, states, la_in), dS_seed, dE_seed, ctx.chunk)
        if not (ctx.needs_input_grad[3] or ctx.needs_input_grad[4]):
            return grads.dq, grads.dk, grads.dv, None, None, None, None
        dla0 = (grads.dstate0 * states[:, 0]).sum(-1) - grads.dnorm0  # (B*H, L)
        return grads.dq, grads.dk, grads.dv, grads.dstate0.view(B, H, L, Dh), dla0.view(B, H, L), None, None


def _normalised_state(state: LatteState | None, B: int, H: int, L: int, Dh: int, device) -> tuple[Tensor, Tensor]:
    """(S / z, m + log z) in float32: the same state with z = 1; an empty state gives (0, NEG)."""
    if state is None:
        return (
            torch.zeros(B, H, L, Dh, dtype=torch.float32, device=device),
            torch.full((B, H, L), NEG, dtype=torch.float32, device=device),
        )
    S, z, m = (x.float() for x in state)
    seen = z > 0  # (B, H, L)
    z_safe = torch.where(seen, z, torch.ones_like(z))  # no 0/0, not even in the unused branch's gradient
    S_hat = torch.where(seen.unsqueeze(-1), S / z_safe.unsqueeze(-1), torch.zeros_like(S))  # (B, H, L, Dh)
    la0 = torch.where(seen, m + torch.log(z_safe), torch.full_like(m, NEG))  # (B, H, L)
    return S_hat.contiguous(), la0.contiguous()


def latte_causal_triton(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    state: LatteState | None = None,
    return_state: bool = False,
    chunk_size: int | None = None,
    mask: Tensor | None = None,
) -> Tensor | tuple[Tensor, LatteState]:
    """Causal Latte through the fused kernels; same arguments and results as ``latte_causal``.

    q, k: (B, H, T, L) float32/bfloat16/float16; v: (B, H, T, Dh).  ``chunk_size`` below 16 is
    raised to 16 (one tensor-core tile).  The returned state is normalised (z = 1, m = log alpha),
    equal to the torch one up to its reference (S / z and m + log z agree); gradients flow through
    it and through ``state``.
    """
    B, H, T, L = q.shape
    Dh = v.shape[-1]
    chunk = max(SUB, DEFAULT_CHUNK if chunk_size is None else chunk_size)
    S0, la0 = _normalised_state(state, B, H, L, Dh, q.device)
    y, S_final, la_final = LatteCausalFunction.apply(
        _unit_stride(q), _unit_stride(k), _unit_stride(v), S0, la0, mask, chunk
    )
    if not return_state:
        return y
    return y, LatteState(S_final, torch.ones_like(la_final), la_final)


class LatteBidirectionalFunction(torch.autograd.Function):
    """(q, k, v) -> y = softmax_rows(q) @ (softmax_cols(k)^T @ v), padding excluded."""

    @staticmethod
    def forward(ctx, q, k, v, mask):  # noqa: D102
        fwd = bidirectional_forward(q, k, v, mask)
        ctx.save_for_backward(q, k, v, mask, fwd.ctx, fwd.lse)
        return fwd.y

    @staticmethod
    def backward(ctx, dy):  # noqa: D102
        q, k, v, mask, context, lse = ctx.saved_tensors
        fwd = BidirectionalForward(None, context, lse)
        return (*bidirectional_backward(_unit_stride(dy), q, k, v, mask, fwd), None)


def latte_bidirectional_triton(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None) -> Tensor:
    """Bidirectional Latte through the fused kernels; same arguments and result as ``latte_bidirectional``.

    q, k: (B, H, T, L) float32/bfloat16/float16; v: (B, H, T, Dh); mask: (B, T) bool, True = real.
    """
    return LatteBidirectionalFunction.apply(_unit_stride(q), _unit_stride(k), _unit_stride(v), mask)

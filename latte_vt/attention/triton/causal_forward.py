"""Causal Latte forward in three Triton kernels, linear in T, every exponent <= 0.

Per (b, h) and latent l, with log alpha_t = log(e^{la0} + sum_{s<=t} e^{k_s}) (``la``):
  y_t = sum_l p(l|t) [ e^{la_in - la_t} S_in,l + sum_{s in chunk, s<=t} e^{k_s - la_t} v_s ]
where S_in (L x Dh) is the normalised state carried into the chunk: S_in = sum_{s<start} e^{k_s - la_in} v_s
(a convex combination of values) and la_in the log-normaliser at the chunk start.

1. ``_state_scan`` (sequential over the T/C chunks, parallel over (b, h), latent and channel blocks):
   stores every chunk's incoming (S_in, la_in) in float32 and the final one (the state after T tokens).
2. ``_log_normaliser`` (parallel over chunks): la for every token, a stable log-sum-exp scan
   inside the chunk (running max and sum fused in registers) seeded with la_in.
3. ``_causal_output`` (parallel over sub-blocks of SUB = 16 tokens): the carried state, then earlier
   sub-blocks of the chunk through C x C matmuls around the log-normaliser at the end of each
   sub-block (both factors <= 1), then the sub-block's own tokens one key at a time (exact for any
   key spread).
Memory: inputs, y, la (B, H, T, L) and (T/C + 1) states (L x Dh) per (b, h).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import triton
import triton.language as tl
from torch import Tensor

from latte_vt.attention.triton.tiles import (
    NEG,
    POS,
    combine_max_sum,
    diagonal_key,
    exp_nonpositive,
    load_key_block,
    load_matrix,
    load_query_logits,
    load_tile,
    load_vector,
    logaddexp,
    softmax_rows,
    store_matrix,
    store_vector,
    sub_block_program,
    valid_tokens,
)

#: Tokens per sub-block: the smallest tensor-core tile; the diagonal sub-block is done key by key.
SUB = 16
#: Latent / channel block width of the sequential state scans (more programs, more parallelism).
SCAN_BLOCK = 32


@triton.jit
def _state_scan(
    k_ptr, v_ptr, mask_ptr, s0_ptr, la0_ptr, states_ptr, la_in_ptr,
    T, H, L, Dh, N,
    skb, skh, skt, svb, svh, svt, smb,
    C: tl.constexpr, BL: tl.constexpr, BD: tl.constexpr, HAS_MASK: tl.constexpr, PREC: tl.constexpr,
):  # fmt: skip
    """Grid (B*H, L/BL, Dh/BD).  states: (B*H, N+1, L, Dh), la_in: (B*H, N+1, L); slot n = before chunk n."""
    bh, pl, pd = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    b, h = bh // H, bh % H
    lat = pl * BL + tl.arange(0, BL)  # (BL,)
    dim = pd * BD + tl.arange(0, BD)  # (BD,)
    rows = tl.arange(0, C)  # (C,)
    S = load_matrix(s0_ptr, bh, lat, dim, L, Dh)  # (BL, BD)
    la = load_vector(la0_ptr, bh, lat, L, NEG)  # (BL,)
    k_base, v_base = k_ptr + b * skb + h * skh, v_ptr + b * svb + h * svh
    for n in range(N):
        store_matrix(states_ptr, bh * (N + 1) + n, lat, dim, L, Dh, S)
        store_vector(la_in_ptr, bh * (N + 1) + n, lat, L, la, pd == 0)
        t = n * C + rows  # (C,)
        ok = valid_tokens(mask_ptr, b, smb, t, T, HAS_MASK)  # (C,)
        k = load_tile(k_base + pl * BL, t, tl.arange(0, BL), skt, L - pl * BL, ok, NEG)  # (C, BL)
        v = load_tile(v_base + pd * BD, t, tl.arange(0, BD), svt, Dh - pd * BD, ok, 0.0)  # (C, BD)
        top = tl.max(k, 0)  # (BL,)
        chunk_lse = top + tl.log(tl.sum(tl.exp(k - top[None, :]), 0))  # (BL,)
        la_next = logaddexp(la, chunk_lse)  # (BL,) log-normaliser after the chunk
        key_w = exp_nonpositive(k - la_next[None, :])  # (C, BL) <= 1
        S = S * tl.exp(la - la_next)[:, None] + tl.dot(tl.trans(key_w), v, input_precision=PREC)  # (BL, BD)
        la = la_next
    store_matrix(states_ptr, bh * (N + 1) + N, lat, dim, L, Dh, S)
    store_vector(la_in_ptr, bh * (N + 1) + N, lat, L, la, pd == 0)


@triton.jit
def _log_normaliser(
    k_ptr, mask_ptr, la_in_ptr, la_ptr,
    T, H, L, N,
    skb, skh, skt, smb,
    C: tl.constexpr, BL: tl.constexpr, HAS_MASK: tl.constexpr,
):  # fmt: skip
    """Grid (N, B*H).  la (B*H, T, L) = logaddexp(la_in of the chunk, log-cumsum-exp of its keys)."""
    n, bh = tl.program_id(0), tl.program_id(1)
    b, h = bh // H, bh % H
    lat = tl.arange(0, BL)  # (BL,)
    t = n * C + tl.arange(0, C)  # (C,)
    ok = valid_tokens(mask_ptr, b, smb, t, T, HAS_MASK)  # (C,)
    k = load_tile(k_ptr + b * skb + h * skh, t, lat, skt, L, ok, NEG)  # (C, BL)
    top, total = tl.associative_scan((k, tl.full((C, BL), 1.0, tl.float32)), 0, combine_max_sum)  # (C, BL) x2
    la_in = load_vector(la_in_ptr, bh * (N + 1) + n, lat, L, NEG)  # (BL,)
    la = logaddexp(la_in[None, :], top + tl.log(total))  # (C, BL)
    store_matrix(la_ptr, bh, t, lat, T, L, la)


@triton.jit
def _causal_output(
    q_ptr, k_ptr, v_ptr, mask_ptr, la_ptr, states_ptr, la_in_ptr, y_ptr,
    T, H, L, Dh, N,
    sqb, sqh, sqt, skb, skh, skt, svb, svh, svt, smb,
    C: tl.constexpr, SUB: tl.constexpr, BL: tl.constexpr, BD: tl.constexpr, HAS_MASK: tl.constexpr,
    PREC: tl.constexpr,
):  # fmt: skip
    """Grid (cdiv(T, SUB), B*H): y for the SUB query tokens of sub-block i of chunk n.  y (B, H, T, Dh)."""
    n, i, bh, b, h = sub_block_program(H, C, SUB)
    lat, dim, sub = tl.arange(0, BL), tl.arange(0, BD), tl.arange(0, SUB)  # (BL,), (BD,), (SUB,)
    q_base, k_base, v_base = q_ptr + b * sqb + h * sqh, k_ptr + b * skb + h * skh, v_ptr + b * svb + h * svh
    la_base = la_ptr + bh * T * L
    t = n * C + i * SUB + sub  # (SUB,) query tokens
    ok = valid_tokens(mask_ptr, b, smb, t, T, HAS_MASK)  # (SUB,)
    p, _ = softmax_rows(load_query_logits(q_base, t, lat, sqt, L, ok))  # (SUB, BL) p(l|t)
    la = load_tile(la_base, t, lat, L, L, t < T, POS)  # (SUB, BL) log alpha_t
    # earlier chunks, through the carried state
    la_in = load_vector(la_in_ptr, bh * (N + 1) + n, lat, L, NEG)  # (BL,)
    S_in = load_matrix(states_ptr, bh * (N + 1) + n, lat, dim, L, Dh)  # (BL, BD)
    y = tl.dot(p * exp_nonpositive(la_in[None, :] - la), S_in, input_precision=PREC)  # (SUB, BD)
    # earlier sub-blocks of this chunk, around r = log alpha at the end of sub-block j
    for j in range(i):
        s = n * C + j * SUB + sub  # (SUB,) key tokens, all < T
        k, v, r, _ = load_key_block(
            k_base, v_base, la_base, mask_ptr, b, smb, s, T, L, Dh, skt, svt, lat, dim, HAS_MASK
        )
        scores = tl.dot(
            p * exp_nonpositive(r[None, :] - la), tl.trans(exp_nonpositive(k - r[None, :])), input_precision=PREC
        )  # (SUB, SUB) [t, s]
        y += tl.dot(scores, v, input_precision=PREC)  # (SUB, BD)
    # the sub-block's own tokens, one key s at a time: weights e^{k_s - la_t} for t >= s
    for d in range(SUB):
        s1 = n * C + i * SUB + d
        w, v_row = diagonal_key(
            k_base, v_base, mask_ptr, b, smb, s1, d, T, L, Dh, skt, svt, lat, dim, sub, la, HAS_MASK
        )
        y += tl.sum(p * w, 1)[:, None] * v_row[None, :]  # (SUB, BD)
    y = tl.where(ok[:, None], y, 0.0)  # padded tokens output 0
    store_matrix(y_ptr, bh, t, dim, T, Dh, y.to(y_ptr.dtype.element_ty))


class CausalForward(NamedTuple):
    """Outputs of ``causal_forward``; the last three are what the backward pass needs."""

    y: Tensor  # (B, H, T, Dh) input dtype
    la: Tensor  # (B*H, T, L) float32 log alpha per token
    states: Tensor  # (B*H, N+1, L, Dh) float32 normalised state before each chunk; slot N = final
    la_in: Tensor  # (B*H, N+1, L) float32 log-normaliser before each chunk; slot N = final


def padded_width(n: int) -> int:
    """Tile width for n latents or channels: a power of two, at least 16 (tensor-core minimum)."""
    return max(16, triton.next_power_of_2(n))


def dot_precision(dtype: torch.dtype) -> str:
    """float32 inputs get exact float32 matmuls; half inputs (already rounded) accept TF32."""
    return "ieee" if dtype == torch.float32 else "tf32"


def mask_arg(mask: Tensor | None, fallback: Tensor) -> tuple[Tensor, int]:
    """(pointer tensor, batch stride) for the kernels' mask argument; ``fallback`` when there is none."""
    if mask is None:
        return fallback, 0
    m = mask.contiguous().view(torch.uint8)  # (B, T)
    return m, m.stride(0)


def causal_forward(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, S0: Tensor, la0: Tensor, chunk: int):
    """Run the three kernels.  q, k (B, H, T, L), v (B, H, T, Dh) with unit last stride; mask (B, T)
    bool or None; S0 (B, H, L, Dh), la0 (B, H, L) float32 contiguous (the normalised start state);
    chunk: power of two >= 16.  Returns ``CausalForward``."""
    B, H, T, L = q.shape
    Dh = v.shape[-1]
    N = triton.cdiv(T, chunk)
    BL, BD = padded_width(L), padded_width(Dh)
    BLs, BDs = min(BL, SCAN_BLOCK), min(BD, SCAN_BLOCK)
    f32 = dict(dtype=torch.float32, device=q.device)
    states = torch.empty(B * H, N + 1, L, Dh, **f32)
    la_in = torch.empty(B * H, N + 1, L, **f32)
    la = torch.empty(B * H, T, L, **f32)
    y = torch.empty(B, H, T, Dh, dtype=q.dtype, device=q.device)
    m, smb = mask_arg(mask, q)
    has_mask, prec = mask is not None, dot_precision(q.dtype)
    _state_scan[(B * H, triton.cdiv(L, BLs), triton.cdiv(Dh, BDs))](
        k, v, m, S0, la0, states, la_in, T, H, L, Dh, N,
        k.stride(0), k.stride(1), k.stride(2), v.stride(0), v.stride(1), v.stride(2), smb,
        C=chunk, BL=BLs, BD=BDs, HAS_MASK=has_mask, PREC=prec,
    )  # fmt: skip
    _log_normaliser[(N, B * H)](
        k, m, la_in, la, T, H, L, N, k.stride(0), k.stride(1), k.stride(2), smb,
        C=chunk, BL=BL, HAS_MASK=has_mask,
    )  # fmt: skip
    _causal_output[(triton.cdiv(T, SUB), B * H)](
        q, k, v, m, la, states, la_in, y, T, H, L, Dh, N,
        q.stride(0), q.stride(1), q.stride(2), k.stride(0), k.stride(1), k.stride(2),
        v.stride(0), v.stride(1), v.stride(2), smb,
        C=chunk, SUB=SUB, BL=BL, BD=BD, HAS_MASK=has_mask, PREC=prec,
    )  # fmt: skip
    return CausalForward(y, la, states, la_in)

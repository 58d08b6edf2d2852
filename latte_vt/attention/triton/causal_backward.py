"""Causal Latte backward in three Triton kernels, linear in T, recomputing inside chunks.

With u_{t,l} = sum_{s<=t} e^{k_s - la_t} v_s (+ the start state), y_t = sum_l p_{t,l} u_{t,l}:
  dp_{t,l} = dy_t . u_{t,l};   g = p * dp;   dq = g - p * rowsum(g)            (row softmax)
  dv_s     = sum_l G_{s,l};    dk_{s,l} = v_s . G_{s,l} - sum_{t>=s} e^{k_s - la_t} g_{t,l}
  G_{s,l}  = sum_{t>=s} e^{k_s - la_t} p_{t,l} dy_t
The sums over t >= s run backwards through a reverse state, normalised like the forward one:
  D_n = sum_{t >= start of chunk n} e^{la_in_n - la_t} p_t dy_t  (L x Dh),
  E_n = sum_{t >= start of chunk n} e^{la_in_n - la_t} g_t        (L),
so every exponent is <= 0.

1. ``_causal_dq`` (parallel over sub-blocks): dp as the forward's u, contracted with dy; writes dq,
   g (B*H, T, L) and the query log-sum-exp (B*H, T) float32.
2. ``_reverse_state_scan`` (sequential over chunks, last first): D_n, E_n for every chunk boundary,
   seeded with the gradient of the final state.
3. ``_causal_dkdv`` (parallel over sub-blocks): dk, dv from the reverse state after the chunk, the
   later sub-blocks of the chunk and the sub-block's own tokens one query at a time.
Slot 0 of the reverse state is the gradient of the start state.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import triton
import triton.language as tl
from torch import Tensor

from latte_vt.attention.triton.causal_forward import (
    SCAN_BLOCK,
    SUB,
    CausalForward,
    dot_precision,
    mask_arg,
    padded_width,
)
from latte_vt.attention.triton.tiles import (
    NEG,
    POS,
    diagonal_key,
    exp_nonpositive,
    load_key_block,
    load_matrix,
    load_query_logits,
    load_tile,
    load_vector,
    softmax_rows,
    store_matrix,
    store_vector,
    sub_block_program,
    valid_tokens,
)


@triton.jit
def _causal_dq(
    q_ptr, k_ptr, v_ptr, dy_ptr, mask_ptr, la_ptr, states_ptr, la_in_ptr, dq_ptr, g_ptr, q_lse_ptr,
    T, H, L, Dh, N,
    sqb, sqh, sqt, skb, skh, skt, svb, svh, svt, sdb, sdh, sdt, smb,
    C: tl.constexpr, SUB: tl.constexpr, BL: tl.constexpr, BD: tl.constexpr, HAS_MASK: tl.constexpr,
    PREC: tl.constexpr,
):  # fmt: skip
    """Grid (cdiv(T, SUB), B*H): dq (B, H, T, L), g and the query log-sum-exp for one sub-block."""
    n, i, bh, b, h = sub_block_program(H, C, SUB)
    lat, dim, sub = tl.arange(0, BL), tl.arange(0, BD), tl.arange(0, SUB)  # (BL,), (BD,), (SUB,)
    k_base, v_base = k_ptr + b * skb + h * skh, v_ptr + b * svb + h * svh
    la_base = la_ptr + bh * T * L
    t = n * C + i * SUB + sub  # (SUB,) query tokens
    ok = valid_tokens(mask_ptr, b, smb, t, T, HAS_MASK)  # (SUB,)
    p, q_lse = softmax_rows(load_query_logits(q_ptr + b * sqb + h * sqh, t, lat, sqt, L, ok))  # (SUB, BL), (SUB,)
    la = load_tile(la_base, t, lat, L, L, t < T, POS)  # (SUB, BL)
    dy = load_tile(dy_ptr + b * sdb + h * sdh, t, dim, sdt, Dh, ok, 0.0)  # (SUB, BD)
    # earlier chunks, through the carried state
    la_in = load_vector(la_in_ptr, bh * (N + 1) + n, lat, L, NEG)  # (BL,)
    S_in = load_matrix(states_ptr, bh * (N + 1) + n, lat, dim, L, Dh)  # (BL, BD)
    dp = tl.dot(dy, tl.trans(S_in), input_precision=PREC) * exp_nonpositive(la_in[None, :] - la)  # (SUB, BL)
    # earlier sub-blocks of this chunk, around r = log alpha at the end of sub-block j
    for j in range(i):
        s = n * C + j * SUB + sub  # (SUB,) key tokens
        k, v, r, _ = load_key_block(
            k_base, v_base, la_base, mask_ptr, b, smb, s, T, L, Dh, skt, svt, lat, dim, HAS_MASK
        )
        dyv = tl.dot(dy, tl.trans(v), input_precision=PREC)  # (SUB, SUB) dy_t . v_s
        dp += exp_nonpositive(r[None, :] - la) * tl.dot(dyv, exp_nonpositive(k - r[None, :]), input_precision=PREC)
    # the sub-block's own tokens, one key s at a time
    for d in range(SUB):
        s1 = n * C + i * SUB + d
        w, v_row = diagonal_key(
            k_base, v_base, mask_ptr, b, smb, s1, d, T, L, Dh, skt, svt, lat, dim, sub, la, HAS_MASK
        )
        dp += tl.sum(dy * v_row[None, :], 1)[:, None] * w  # (SUB, BL)
    g = p * dp  # (SUB, BL)
    dq = tl.where(ok[:, None], g - p * tl.sum(g, 1)[:, None], 0.0)  # (SUB, BL)
    store_matrix(dq_ptr, bh, t, lat, T, L, dq.to(dq_ptr.dtype.element_ty))
    store_matrix(g_ptr, bh, t, lat, T, L, g)
    store_vector(q_lse_ptr, bh, t, T, q_lse, True)


@triton.jit
def _reverse_state_scan(
    q_ptr, dy_ptr, mask_ptr, q_lse_ptr, la_ptr, la_in_ptr, g_ptr, dS_ptr, dE_ptr, rstates_ptr, rE_ptr,
    T, H, L, Dh, N,
    sqb, sqh, sqt, sdb, sdh, sdt, smb,
    C: tl.constexpr, BL: tl.constexpr, BD: tl.constexpr, HAS_MASK: tl.constexpr, PREC: tl.constexpr,
):  # fmt: skip
    """Grid (B*H, L/BL, Dh/BD).  rstates (B*H, N+1, L, Dh), rE (B*H, N+1, L): slot n = from token
    n*C on, scaled by e^{la_in_n}; seeded at slot N with the final-state gradient dS (B*H, L, Dh), dE (B*H, L)."""
    bh, pl, pd = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    b, h = bh // H, bh % H
    lat = pl * BL + tl.arange(0, BL)  # (BL,)
    dim = pd * BD + tl.arange(0, BD)  # (BD,)
    rows = tl.arange(0, C)  # (C,)
    D = load_matrix(dS_ptr, bh, lat, dim, L, Dh)  # (BL, BD)
    E = load_vector(dE_ptr, bh, lat, L, 0.0)  # (BL,)
    q_base = q_ptr + b * sqb + h * sqh + pl * BL
    dy_base = dy_ptr + b * sdb + h * sdh + pd * BD
    la_base, g_base = la_ptr + bh * T * L + pl * BL, g_ptr + bh * T * L + pl * BL
    for it in range(N):
        n = N - 1 - it
        store_matrix(rstates_ptr, bh * (N + 1) + n + 1, lat, dim, L, Dh, D)
        store_vector(rE_ptr, bh * (N + 1) + n + 1, lat, L, E, pd == 0)
        t = n * C + rows  # (C,)
        ok = valid_tokens(mask_ptr, b, smb, t, T, HAS_MASK)  # (C,)
        q = load_query_logits(q_base, t, tl.arange(0, BL), sqt, L - pl * BL, ok)  # (C, BL)
        q_lse = load_vector(q_lse_ptr, bh, t, T, 0.0)  # (C,)
        p = tl.exp(q - q_lse[:, None])  # (C, BL) p(l|t)
        la = load_tile(la_base, t, tl.arange(0, BL), L, L - pl * BL, t < T, POS)  # (C, BL)
        g = load_tile(g_base, t, tl.arange(0, BL), L, L - pl * BL, t < T, 0.0)  # (C, BL)
        dy = load_tile(dy_base, t, tl.arange(0, BD), sdt, Dh - pd * BD, ok, 0.0)  # (C, BD)
        la_cur = load_vector(la_in_ptr, bh * (N + 1) + n, lat, L, NEG)  # (BL,)
        la_next = load_vector(la_in_ptr, bh * (N + 1) + n + 1, lat, L, NEG)  # (BL,)
        a = exp_nonpositive(la_cur[None, :] - la)  # (C, BL) <= 1
        decay = exp_nonpositive(la_cur - la_next)  # (BL,) <= 1
        D = D * decay[:, None] + tl.dot(tl.trans(p * a), dy, input_precision=PREC)  # (BL, BD)
        E = E * decay + tl.sum(a * g, 0)  # (BL,)
    store_matrix(rstates_ptr, bh * (N + 1), lat, dim, L, Dh, D)
    store_vector(rE_ptr, bh * (N + 1), lat, L, E, pd == 0)


@triton.jit
def _causal_dkdv(
    q_ptr, k_ptr, v_ptr, dy_ptr, mask_ptr, q_lse_ptr, la_ptr, la_in_ptr, g_ptr, rstates_ptr, rE_ptr, dk_ptr, dv_ptr,
    T, H, L, Dh, N,
    sqb, sqh, sqt, skb, skh, skt, svb, svh, svt, sdb, sdh, sdt, smb,
    C: tl.constexpr, SUB: tl.constexpr, BL: tl.constexpr, BD: tl.constexpr, HAS_MASK: tl.constexpr,
    PREC: tl.constexpr,
):  # fmt: skip
    """Grid (cdiv(T, SUB), B*H): dk (B, H, T, L) and dv (B, H, T, Dh) for the SUB keys of sub-block j."""
    n, j, bh, b, h = sub_block_program(H, C, SUB)
    lat, dim, sub = tl.arange(0, BL), tl.arange(0, BD), tl.arange(0, SUB)  # (BL,), (BD,), (SUB,)
    q_base, dy_base = q_ptr + b * sqb + h * sqh, dy_ptr + b * sdb + h * sdh
    la_base, g_base = la_ptr + bh * T * L, g_ptr + bh * T * L
    s = n * C + j * SUB + sub  # (SUB,) key tokens
    # r = log alpha at the end of sub-block j: the reference for the later sub-blocks of the chunk
    k_base, v_base = k_ptr + b * skb + h * skh, v_ptr + b * svb + h * svh
    k, v, r, s_ok = load_key_block(k_base, v_base, la_base, mask_ptr, b, smb, s, T, L, Dh, skt, svt, lat, dim, HAS_MASK)
    # later chunks, through the reverse state (normalised by la_in of the next chunk)
    la_next = load_vector(la_in_ptr, bh * (N + 1) + n + 1, lat, L, NEG)  # (BL,)
    D = load_matrix(rstates_ptr, bh * (N + 1) + n + 1, lat, dim, L, Dh)  # (BL, BD)
    E = load_vector(rE_ptr, bh * (N + 1) + n + 1, lat, L, 0.0)  # (BL,)
    key_w = exp_nonpositive(k - la_next[None, :])  # (SUB, BL)
    dv = tl.dot(key_w, D, input_precision=PREC)  # (SUB, BD)
    dk = key_w * (tl.dot(v, tl.trans(D), input_precision=PREC) - E[None, :])  # (SUB, BL)
    # later sub-blocks of this chunk, around r
    key_r = exp_nonpositive(k - r[None, :])  # (SUB, BL)
    blocks_in_chunk = tl.minimum((T - n * C + SUB - 1) // SUB, C // SUB)
    for i in range(j + 1, blocks_in_chunk):
        t = n * C + i * SUB + sub  # (SUB,) query tokens
        ok = valid_tokens(mask_ptr, b, smb, t, T, HAS_MASK)
        q_lse = load_vector(q_lse_ptr, bh, t, T, 0.0)  # (SUB,)
        p = tl.exp(load_query_logits(q_base, t, lat, sqt, L, ok) - q_lse[:, None])  # (SUB, BL)
        la = load_tile(la_base, t, lat, L, L, t < T, POS)  # (SUB, BL)
        dy = load_tile(dy_base, t, dim, sdt, Dh, ok, 0.0)  # (SUB, BD)
        g = load_tile(g_base, t, lat, L, L, t < T, 0.0)  # (SUB, BL)
        query_r = exp_nonpositive(r[None, :] - la)  # (SUB, BL)
        pq = p * query_r  # (SUB, BL)
        scores = tl.dot(pq, tl.trans(key_r), input_precision=PREC)  # (SUB, SUB) [t, s]
        dv += tl.dot(tl.trans(scores), dy, input_precision=PREC)  # (SUB, BD)
        dyv = tl.dot(v, tl.trans(dy), input_precision=PREC)  # (SUB, SUB) [s, t] v_s . dy_t
        dk += key_r * (tl.dot(dyv, pq, input_precision=PREC) - tl.sum(query_r * g, 0)[None, :])  # (SUB, BL)
    # the sub-block's own tokens, one query t at a time
    for d in range(SUB):
        t1 = n * C + j * SUB + d
        in_seq1 = t1 < T
        t1_ok = in_seq1
        if HAS_MASK:
            t1_ok = t1_ok & (tl.load(mask_ptr + b * smb + t1, mask=in_seq1, other=0) != 0)
        q_lse1 = tl.load(q_lse_ptr + bh * T + t1, mask=in_seq1, other=0.0)
        q_row = tl.load(q_base + t1 * sqt + lat, mask=(lat < L) & t1_ok, other=0.0).to(tl.float32)  # (BL,)
        p_row = tl.where(lat < L, tl.exp(q_row - q_lse1), 0.0)  # (BL,)
        la_row = tl.load(la_base + t1 * L + lat, mask=(lat < L) & in_seq1, other=POS)  # (BL,)
        dy_row = tl.load(dy_base + t1 * sdt + dim, mask=(dim < Dh) & t1_ok, other=0.0).to(tl.float32)  # (BD,)
        g_row = tl.load(g_base + t1 * L + lat, mask=(lat < L) & in_seq1, other=0.0)  # (BL,)
        w = tl.where(sub[:, None] <= d, tl.exp(tl.minimum(k - la_row[None, :], 0.0)), 0.0)  # (SUB, BL) [s, l]
        dv += tl.sum(w * p_row[None, :], 1)[:, None] * dy_row[None, :]  # (SUB, BD)
        vdy = tl.sum(v * dy_row[None, :], 1)  # (SUB,)
        dk += w * (p_row[None, :] * vdy[:, None] - g_row[None, :])  # (SUB, BL)
    store_matrix(dk_ptr, bh, s, lat, T, L, tl.where(s_ok[:, None], dk, 0.0).to(dk_ptr.dtype.element_ty))
    store_matrix(dv_ptr, bh, s, dim, T, Dh, tl.where(s_ok[:, None], dv, 0.0).to(dv_ptr.dtype.element_ty))


class CausalGrads(NamedTuple):
    """Gradients from ``causal_backward``."""

    dq: Tensor  # (B, H, T, L)
    dk: Tensor  # (B, H, T, L)
    dv: Tensor  # (B, H, T, Dh)
    dstate0: Tensor  # (B*H, L, Dh) float32, gradient of the normalised start state
    dnorm0: Tensor  # (B*H, L) float32, reverse normaliser sum E at the start


def causal_backward(
    dy: Tensor,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None,
    fwd: CausalForward,
    dS_seed: Tensor,
    dE_seed: Tensor,
    chunk: int,
) -> CausalGrads:
    """Run the three kernels.  dy (B, H, T, Dh) with unit last stride; ``fwd`` from ``causal_forward``;
    dS_seed (B*H, L, Dh), dE_seed (B*H, L) float32: the final-state gradient (zeros when unused)."""
    B, H, T, L = q.shape
    Dh = v.shape[-1]
    N = triton.cdiv(T, chunk)
    BL, BD = padded_width(L), padded_width(Dh)
    BLs, BDs = min(BL, SCAN_BLOCK), min(BD, SCAN_BLOCK)
    f32 = dict(dtype=torch.float32, device=q.device)
    g = torch.empty(B * H, T, L, **f32)
    q_lse = torch.empty(B * H, T, **f32)
    rstates = torch.empty(B * H, N + 1, L, Dh, **f32)
    rE = torch.empty(B * H, N + 1, L, **f32)
    dq, dk = (torch.empty(x.shape, dtype=x.dtype, device=x.device) for x in (q, k))  # contiguous
    dv = torch.empty(v.shape, dtype=v.dtype, device=v.device)
    m, smb = mask_arg(mask, q)
    has_mask, prec = mask is not None, dot_precision(q.dtype)
    strides = (
        q.stride(0), q.stride(1), q.stride(2), k.stride(0), k.stride(1), k.stride(2),
        v.stride(0), v.stride(1), v.stride(2), dy.stride(0), dy.stride(1), dy.stride(2), smb,
    )  # fmt: skip
    blocks = dict(C=chunk, SUB=SUB, BL=BL, BD=BD, HAS_MASK=has_mask, PREC=prec)
    _causal_dq[(triton.cdiv(T, SUB), B * H)](
        q, k, v, dy, m, fwd.la, fwd.states, fwd.la_in, dq, g, q_lse, T, H, L, Dh, N, *strides, **blocks
    )
    _reverse_state_scan[(B * H, triton.cdiv(L, BLs), triton.cdiv(Dh, BDs))](
        q, dy, m, q_lse, fwd.la, fwd.la_in, g, dS_seed, dE_seed, rstates, rE, T, H, L, Dh, N,
        q.stride(0), q.stride(1), q.stride(2), dy.stride(0), dy.stride(1), dy.stride(2), smb,
        C=chunk, BL=BLs, BD=BDs, HAS_MASK=has_mask, PREC=prec,
    )  # fmt: skip
    _causal_dkdv[(triton.cdiv(T, SUB), B * H)](
        q, k, v, dy, m, q_lse, fwd.la, fwd.la_in, g, rstates, rE, dk, dv, T, H, L, Dh, N, *strides, **blocks
    )
    return CausalGrads(dq, dk, dv, rstates[:, 0], rE[:, 0])

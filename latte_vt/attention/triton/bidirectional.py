"""Bidirectional Latte forward and backward in Triton: Y = softmax_rows(Q) @ (softmax_cols(K)^T @ V).

Per (b, h), with pi_{s,l} = softmax over real tokens s of k_{s,l} and p_{t,l} = softmax_l(q_t):
  ctx_l = sum_s pi_{s,l} v_s  (L x Dh, float32),   y_t = sum_l p_{t,l} ctx_l
  dctx_l = sum_t p_{t,l} dy_t;  dq = g - p rowsum(g), g = p * (dy ctx^T)
  dv_s = sum_l pi_{s,l} dctx_l;  dk_{s,l} = pi_{s,l} (v_s . dctx_l - ctx_l . dctx_l)
The column softmax is a reduction over T: each program reduces a span of tokens with a running
max (partials), a small kernel merges the partials into ctx and the column log-sum-exp.  Padded
tokens read key NEG and value 0, so they carry no weight.  Memory: inputs + O(T / span) partials.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import triton
import triton.language as tl
from torch import Tensor

from latte_vt.attention.triton.causal_forward import dot_precision, mask_arg, padded_width
from latte_vt.attention.triton.tiles import (
    NEG,
    load_matrix,
    load_query_logits,
    load_tile,
    load_vector,
    softmax_rows,
    store_matrix,
    store_vector,
    valid_tokens,
)

#: Tokens per tile and tiles per reduction program (a span of 512 tokens).
TILE = 64
SPAN_TILES = 8
#: Warps per program: several (TILE x 64) float32 tiles are live at once; 8 warps keep them in registers.
TILE_WARPS = 8


@triton.jit
def _context_partials(
    k_ptr, v_ptr, mask_ptr, part_m_ptr, part_z_ptr, part_S_ptr,
    T, H, L, Dh, P,
    skb, skh, skt, svb, svh, svt, smb,
    BT: tl.constexpr, TILES: tl.constexpr, BL: tl.constexpr, BD: tl.constexpr, HAS_MASK: tl.constexpr,
    PREC: tl.constexpr,
):  # fmt: skip
    """Grid (P, B*H): over one span, running max m (L), z = sum e^{k - m} (L), S = sum e^{k - m} v (L, Dh)."""
    part, bh = tl.program_id(0), tl.program_id(1)
    b, h = bh // H, bh % H
    lat, dim = tl.arange(0, BL), tl.arange(0, BD)  # (BL,), (BD,)
    m = tl.full((BL,), NEG, tl.float32)
    z = tl.zeros((BL,), tl.float32)
    S = tl.zeros((BL, BD), tl.float32)
    for tile in range(TILES):
        t = (part * TILES + tile) * BT + tl.arange(0, BT)  # (BT,)
        ok = valid_tokens(mask_ptr, b, smb, t, T, HAS_MASK)  # (BT,)
        k = load_tile(k_ptr + b * skb + h * skh, t, lat, skt, L, ok, NEG)  # (BT, BL)
        v = load_tile(v_ptr + b * svb + h * svh, t, dim, svt, Dh, ok, 0.0)  # (BT, BD)
        m_new = tl.maximum(m, tl.max(k, 0))  # (BL,)
        scale = tl.exp(m - m_new)  # (BL,) <= 1
        e = tl.exp(k - m_new[None, :])  # (BT, BL) <= 1
        z = z * scale + tl.sum(e, 0)
        S = S * scale[:, None] + tl.dot(tl.trans(e), v, input_precision=PREC)  # (BL, BD)
        m = m_new
    store_vector(part_m_ptr, bh * P + part, lat, L, m, True)
    store_vector(part_z_ptr, bh * P + part, lat, L, z, True)
    store_matrix(part_S_ptr, bh * P + part, lat, dim, L, Dh, S)


@triton.jit
def _context_combine(
    part_m_ptr, part_z_ptr, part_S_ptr, ctx_ptr, lse_ptr, L, Dh, P, BL: tl.constexpr, BD: tl.constexpr
):
    """Grid (B*H,): merge the P partials into ctx = S / z (L, Dh) and the column log-sum-exp m + log z (L)."""
    bh = tl.program_id(0)
    lat, dim = tl.arange(0, BL), tl.arange(0, BD)  # (BL,), (BD,)
    m = tl.full((BL,), NEG, tl.float32)
    z = tl.zeros((BL,), tl.float32)
    S = tl.zeros((BL, BD), tl.float32)
    for part in range(P):
        at = bh * P + part
        m_p = load_vector(part_m_ptr, at, lat, L, NEG)  # (BL,)
        z_p = load_vector(part_z_ptr, at, lat, L, 0.0)  # (BL,)
        S_p = load_matrix(part_S_ptr, at, lat, dim, L, Dh)  # (BL, BD)
        m_new = tl.maximum(m, m_p)
        a, c = tl.exp(m - m_new), tl.exp(m_p - m_new)  # (BL,) <= 1
        z = z * a + z_p * c
        S = S * a[:, None] + S_p * c[:, None]
        m = m_new
    seen = z > 0  # (BL,)
    z_safe = tl.where(seen, z, 1.0)
    store_matrix(ctx_ptr, bh, lat, dim, L, Dh, S / z_safe[:, None])
    store_vector(lse_ptr, bh, lat, L, tl.where(seen, m + tl.log(z_safe), NEG), True)


@triton.jit
def _bidirectional_output(
    q_ptr, mask_ptr, ctx_ptr, y_ptr,
    T, H, L, Dh,
    sqb, sqh, sqt, smb,
    BT: tl.constexpr, BL: tl.constexpr, BD: tl.constexpr, HAS_MASK: tl.constexpr, PREC: tl.constexpr,
):  # fmt: skip
    """Grid (cdiv(T, BT), B*H): y = softmax_rows(q) @ ctx, 0 on padding.  y (B, H, T, Dh)."""
    blk, bh = tl.program_id(0), tl.program_id(1)
    b, h = bh // H, bh % H
    lat, dim = tl.arange(0, BL), tl.arange(0, BD)  # (BL,), (BD,)
    t = blk * BT + tl.arange(0, BT)  # (BT,)
    ok = valid_tokens(mask_ptr, b, smb, t, T, HAS_MASK)  # (BT,)
    p, _ = softmax_rows(load_query_logits(q_ptr + b * sqb + h * sqh, t, lat, sqt, L, ok))  # (BT, BL)
    ctx = load_matrix(ctx_ptr, bh, lat, dim, L, Dh)  # (BL, BD)
    y = tl.where(ok[:, None], tl.dot(p, ctx, input_precision=PREC), 0.0)  # (BT, BD)
    store_matrix(y_ptr, bh, t, dim, T, Dh, y.to(y_ptr.dtype.element_ty))


@triton.jit
def _context_grad_partials(
    q_ptr, dy_ptr, mask_ptr, part_dctx_ptr,
    T, H, L, Dh, P,
    sqb, sqh, sqt, sdb, sdh, sdt, smb,
    BT: tl.constexpr, TILES: tl.constexpr, BL: tl.constexpr, BD: tl.constexpr, HAS_MASK: tl.constexpr,
    PREC: tl.constexpr,
):  # fmt: skip
    """Grid (P, B*H): dctx partial over one span, sum_t p_t^T dy_t (L, Dh)."""
    part, bh = tl.program_id(0), tl.program_id(1)
    b, h = bh // H, bh % H
    lat, dim = tl.arange(0, BL), tl.arange(0, BD)  # (BL,), (BD,)
    dctx = tl.zeros((BL, BD), tl.float32)
    for tile in range(TILES):
        t = (part * TILES + tile) * BT + tl.arange(0, BT)  # (BT,)
        ok = valid_tokens(mask_ptr, b, smb, t, T, HAS_MASK)  # (BT,)
        p, _ = softmax_rows(load_query_logits(q_ptr + b * sqb + h * sqh, t, lat, sqt, L, ok))  # (BT, BL)
        dy = load_tile(dy_ptr + b * sdb + h * sdh, t, dim, sdt, Dh, ok, 0.0)  # (BT, BD)
        dctx += tl.dot(tl.trans(p), dy, input_precision=PREC)  # (BL, BD)
    store_matrix(part_dctx_ptr, bh * P + part, lat, dim, L, Dh, dctx)


@triton.jit
def _bidirectional_grads(
    q_ptr, k_ptr, v_ptr, dy_ptr, mask_ptr, ctx_ptr, lse_ptr, dctx_ptr, dq_ptr, dk_ptr, dv_ptr,
    T, H, L, Dh,
    sqb, sqh, sqt, skb, skh, skt, svb, svh, svt, sdb, sdh, sdt, smb,
    BT: tl.constexpr, BL: tl.constexpr, BD: tl.constexpr, HAS_MASK: tl.constexpr, PREC: tl.constexpr,
):  # fmt: skip
    """Grid (cdiv(T, BT), B*H): dq, dk (B, H, T, L) and dv (B, H, T, Dh) for one tile; 0 on padding."""
    blk, bh = tl.program_id(0), tl.program_id(1)
    b, h = bh // H, bh % H
    lat, dim = tl.arange(0, BL), tl.arange(0, BD)  # (BL,), (BD,)
    t = blk * BT + tl.arange(0, BT)  # (BT,)
    ok = valid_tokens(mask_ptr, b, smb, t, T, HAS_MASK)  # (BT,)
    ctx = load_matrix(ctx_ptr, bh, lat, dim, L, Dh)  # (BL, BD)
    dctx = load_matrix(dctx_ptr, bh, lat, dim, L, Dh)  # (BL, BD)
    lse = load_vector(lse_ptr, bh, lat, L, 0.0)  # (BL,)
    p, _ = softmax_rows(load_query_logits(q_ptr + b * sqb + h * sqh, t, lat, sqt, L, ok))  # (BT, BL)
    dy = load_tile(dy_ptr + b * sdb + h * sdh, t, dim, sdt, Dh, ok, 0.0)  # (BT, BD)
    g = p * tl.dot(dy, tl.trans(ctx), input_precision=PREC)  # (BT, BL)
    dq = tl.where(ok[:, None], g - p * tl.sum(g, 1)[:, None], 0.0)  # (BT, BL)
    k = load_tile(k_ptr + b * skb + h * skh, t, lat, skt, L, ok, NEG)  # (BT, BL)
    v = load_tile(v_ptr + b * svb + h * svh, t, dim, svt, Dh, ok, 0.0)  # (BT, BD)
    pi = tl.exp(tl.minimum(k - lse[None, :], 0.0))  # (BT, BL) p(s|l)
    dv = tl.where(ok[:, None], tl.dot(pi, dctx, input_precision=PREC), 0.0)  # (BT, BD)
    ctx_dctx = tl.sum(ctx * dctx, 1)  # (BL,)
    dk = tl.where(ok[:, None], pi * (tl.dot(v, tl.trans(dctx), input_precision=PREC) - ctx_dctx[None, :]), 0.0)
    store_matrix(dq_ptr, bh, t, lat, T, L, dq.to(dq_ptr.dtype.element_ty))
    store_matrix(dk_ptr, bh, t, lat, T, L, dk.to(dk_ptr.dtype.element_ty))
    store_matrix(dv_ptr, bh, t, dim, T, Dh, dv.to(dv_ptr.dtype.element_ty))


class BidirectionalForward(NamedTuple):
    """Outputs of ``bidirectional_forward``; ctx and lse are what the backward pass needs."""

    y: Tensor  # (B, H, T, Dh) input dtype
    ctx: Tensor  # (B*H, L, Dh) float32 per-latent value averages
    lse: Tensor  # (B*H, L) float32 column log-sum-exp of the keys over real tokens


def _launch_sizes(q: Tensor, v: Tensor) -> tuple[int, int, int, int, int, int, int]:
    B, H, T, L = q.shape
    return B, H, T, L, v.shape[-1], padded_width(L), padded_width(v.shape[-1])


def bidirectional_forward(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> BidirectionalForward:
    """q, k (B, H, T, L), v (B, H, T, Dh) with unit last stride; mask (B, T) bool or None."""
    B, H, T, L, Dh, BL, BD = _launch_sizes(q, v)
    P = triton.cdiv(T, TILE * SPAN_TILES)
    f32 = dict(dtype=torch.float32, device=q.device)
    part_m, part_z = torch.empty(B * H, P, L, **f32), torch.empty(B * H, P, L, **f32)
    part_S = torch.empty(B * H, P, L, Dh, **f32)
    ctx, lse = torch.empty(B * H, L, Dh, **f32), torch.empty(B * H, L, **f32)
    y = torch.empty(B, H, T, Dh, dtype=q.dtype, device=q.device)
    m, smb = mask_arg(mask, q)
    has_mask, prec = mask is not None, dot_precision(q.dtype)
    _context_partials[(P, B * H)](
        k, v, m, part_m, part_z, part_S, T, H, L, Dh, P,
        k.stride(0), k.stride(1), k.stride(2), v.stride(0), v.stride(1), v.stride(2), smb,
        BT=TILE, TILES=SPAN_TILES, BL=BL, BD=BD, HAS_MASK=has_mask, PREC=prec, num_warps=TILE_WARPS,
    )  # fmt: skip
    _context_combine[(B * H,)](part_m, part_z, part_S, ctx, lse, L, Dh, P, BL=BL, BD=BD)
    _bidirectional_output[(triton.cdiv(T, TILE), B * H)](
        q, m, ctx, y, T, H, L, Dh, q.stride(0), q.stride(1), q.stride(2), smb,
        BT=TILE, BL=BL, BD=BD, HAS_MASK=has_mask, PREC=prec, num_warps=TILE_WARPS,
    )  # fmt: skip
    return BidirectionalForward(y, ctx, lse)


def bidirectional_backward(
    dy: Tensor, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, fwd: BidirectionalForward
) -> tuple[Tensor, Tensor, Tensor]:
    """dq, dk (B, H, T, L) and dv (B, H, T, Dh); dy (B, H, T, Dh) with unit last stride."""
    B, H, T, L, Dh, BL, BD = _launch_sizes(q, v)
    P = triton.cdiv(T, TILE * SPAN_TILES)
    part_dctx = torch.empty(B * H, P, L, Dh, dtype=torch.float32, device=q.device)
    dq, dk = (torch.empty(x.shape, dtype=x.dtype, device=x.device) for x in (q, k))  # contiguous
    dv = torch.empty(v.shape, dtype=v.dtype, device=v.device)
    m, smb = mask_arg(mask, q)
    has_mask, prec = mask is not None, dot_precision(q.dtype)
    _context_grad_partials[(P, B * H)](
        q, dy, m, part_dctx, T, H, L, Dh, P,
        q.stride(0), q.stride(1), q.stride(2), dy.stride(0), dy.stride(1), dy.stride(2), smb,
        BT=TILE, TILES=SPAN_TILES, BL=BL, BD=BD, HAS_MASK=has_mask, PREC=prec, num_warps=TILE_WARPS,
    )  # fmt: skip
    dctx = part_dctx.sum(1)  # (B*H, L, Dh): P partials, O(T / span)
    _bidirectional_grads[(triton.cdiv(T, TILE), B * H)](
        q, k, v, dy, m, fwd.ctx, fwd.lse, dctx, dq, dk, dv, T, H, L, Dh,
        q.stride(0), q.stride(1), q.stride(2), k.stride(0), k.stride(1), k.stride(2),
        v.stride(0), v.stride(1), v.stride(2), dy.stride(0), dy.stride(1), dy.stride(2), smb,
        BT=TILE, BL=BL, BD=BD, HAS_MASK=has_mask, PREC=prec, num_warps=TILE_WARPS,
    )  # fmt: skip
    return dq, dk, dv

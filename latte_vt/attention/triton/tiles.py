"""Triton building blocks shared by the Latte kernels: masked tile loads, row softmax, log-sum-exp.

Conventions used by every kernel in this package:
  * one program handles one (batch, head) pair ``bh`` and a block of tokens; tensors indexed
    (B, H, T, F) are addressed as ``base + b * stride_b + h * stride_h + t * stride_t + f``;
  * loads come back as float32 whatever the input dtype; all sums are float32;
  * a token is *valid* when ``t < T`` and (with a mask) ``mask[b, t]`` is True; invalid tokens read
    key ``NEG`` and zero query/value/gradient, so they carry no weight (same as the torch path);
  * latents are padded to ``BL`` (a power of two >= 16) and head channels to ``BD``; padded
    latents get query logit ``NEG`` so their probability is exactly 0.
"""

from __future__ import annotations

import triton
import triton.language as tl

#: Finite stand-in for -inf (padding keys, empty log-normaliser); exp(NEG - x) == 0, never 0 * inf.
NEG = tl.constexpr(-1e30)
#: Log-normaliser read for rows past the end of the sequence: exp(anything - POS) == 0.
POS = tl.constexpr(1e30)


@triton.jit
def sub_block_program(H, C: tl.constexpr, SUB: tl.constexpr):
    """On a grid (cdiv(T, SUB), B*H): this program's chunk n, its sub-block in the chunk, bh, b and h."""
    pid, bh = tl.program_id(0), tl.program_id(1)
    NS: tl.constexpr = C // SUB
    return pid // NS, pid % NS, bh, bh // H, bh % H


@triton.jit
def valid_tokens(mask_ptr, b, stride_mask_b, t, T, HAS_MASK: tl.constexpr):
    """(R,) bool: token t exists (t < T) and is real (mask[b, t]) when a mask is given."""
    ok = t < T
    if HAS_MASK:
        ok = ok & (tl.load(mask_ptr + b * stride_mask_b + t, mask=ok, other=0) != 0)
    return ok


@triton.jit
def load_tile(ptr, rows, cols, stride_row, n_cols, row_ok, other):
    """Tile x[rows, cols] (R, K) as float32; rows not ``row_ok`` and columns >= ``n_cols`` read ``other``.

    ``other`` is applied after the float32 conversion: NEG does not fit a float16 (it would be -inf).
    """
    ok = row_ok[:, None] & (cols < n_cols)[None, :]
    x = tl.load(ptr + rows[:, None] * stride_row + cols[None, :], mask=ok, other=0.0).to(tl.float32)
    return tl.where(ok, x, other)


@triton.jit
def load_row(ptr, cols, n_cols, row_ok, other):
    """One row x[cols] (K,) as float32; everything reads ``other`` unless ``row_ok`` (a scalar)."""
    ok = (cols < n_cols) & row_ok
    return tl.where(ok, tl.load(ptr + cols, mask=ok, other=0.0).to(tl.float32), other)


@triton.jit
def load_matrix(ptr, index, rows, cols, n_rows, n_cols):
    """Matrix ``index`` of a contiguous float32 (..., n_rows, n_cols) buffer at [rows, cols] (R, K); padding reads 0."""
    ok = (rows < n_rows)[:, None] & (cols < n_cols)[None, :]
    return tl.load(ptr + (index * n_rows + rows[:, None]) * n_cols + cols[None, :], mask=ok, other=0.0)


@triton.jit
def store_matrix(ptr, index, rows, cols, n_rows, n_cols, x):
    """Write x (R, K) as matrix ``index`` of a contiguous (..., n_rows, n_cols) buffer, padding left out."""
    ok = (rows < n_rows)[:, None] & (cols < n_cols)[None, :]
    tl.store(ptr + (index * n_rows + rows[:, None]) * n_cols + cols[None, :], x, mask=ok)


@triton.jit
def load_vector(ptr, index, cols, n, other):
    """Vector ``index`` of a contiguous float32 (..., n) buffer at [cols] (K,); padding reads ``other``."""
    return tl.load(ptr + index * n + cols, mask=cols < n, other=other)


@triton.jit
def store_vector(ptr, index, cols, n, x, write):
    """Write x (K,) as vector ``index`` of a contiguous (..., n) buffer where ``write`` (scalar) holds."""
    tl.store(ptr + index * n + cols, x, mask=(cols < n) & write)


@triton.jit
def load_key_block(k_base, v_base, la_base, mask_ptr, b, smb, s, T, L, Dh, skt, svt, lat, dim, HAS_MASK: tl.constexpr):
    """Keys (R, BL) and values (R, BD) of tokens s (invalid ones read NEG / 0), whether each is valid
    (R,), and r (BL,) = log alpha at the last of them: k_s <= r <= log alpha_t for every later t."""
    s_ok = valid_tokens(mask_ptr, b, smb, s, T, HAS_MASK)  # (R,)
    k = load_tile(k_base, s, lat, skt, L, s_ok, NEG)  # (R, BL)
    v = load_tile(v_base, s, dim, svt, Dh, s_ok, 0.0)  # (R, BD)
    last = tl.max(s, 0)
    r = load_row(la_base + last * L, lat, L, last < T, 0.0)  # (BL,)
    return k, v, r, s_ok


@triton.jit
def diagonal_key(
    k_base, v_base, mask_ptr, b, smb, s1, d, T, L, Dh, skt, svt, lat, dim, sub, la, HAS_MASK: tl.constexpr
):
    """Key token s1 (the d-th of its sub-block) against the sub-block's queries: weights
    e^{k_s1 - la_t} (SUB, BL) for the queries t at or after it (0 before), and its value (BD,)."""
    s1_ok = s1 < T
    if HAS_MASK:
        s1_ok = s1_ok & (tl.load(mask_ptr + b * smb + s1, mask=s1_ok, other=0) != 0)
    k_ok = (lat < L) & s1_ok
    k_row = tl.where(k_ok, tl.load(k_base + s1 * skt + lat, mask=k_ok, other=0.0).to(tl.float32), NEG)  # (BL,)
    v_row = tl.load(v_base + s1 * svt + dim, mask=(dim < Dh) & s1_ok, other=0.0).to(tl.float32)  # (BD,)
    return tl.where(sub[:, None] >= d, tl.exp(tl.minimum(k_row[None, :] - la, 0.0)), 0.0), v_row


@triton.jit
def load_query_logits(ptr, rows, cols, stride_row, n_cols, row_ok):
    """Query latent logits (R, BL): invalid tokens read 0, padded latents NEG (probability 0)."""
    q = load_tile(ptr, rows, cols, stride_row, n_cols, row_ok, 0.0)
    return tl.where((cols < n_cols)[None, :], q, NEG)


@triton.jit
def softmax_rows(q):
    """Row softmax of (R, BL) logits: probabilities p(l|t) (R, BL) and the row log-sum-exp (R,)."""
    top = tl.max(q, 1)  # (R,)
    e = tl.exp(q - top[:, None])  # (R, BL) <= 1
    total = tl.sum(e, 1)  # (R,) >= 1
    return e / total[:, None], top + tl.log(total)


@triton.jit
def logaddexp(a, b):
    """log(e^a + e^b), elementwise, with every exponent <= 0."""
    top = tl.maximum(a, b)
    return top + tl.log(tl.exp(a - top) + tl.exp(b - top))


@triton.jit
def combine_max_sum(m1, s1, m2, s2):
    """Associative merge of two (running max, sum of exp(x - max)) pairs: a stable log-sum-exp scan."""
    top = tl.maximum(m1, m2)
    return top, s1 * tl.exp(m1 - top) + s2 * tl.exp(m2 - top)


@triton.jit
def exp_nonpositive(x):
    """exp(min(x, 0)): for exponents that are <= 0 mathematically but may round a hair above."""
    return tl.exp(tl.minimum(x, 0.0))

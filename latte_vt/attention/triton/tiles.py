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

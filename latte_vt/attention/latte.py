"""Latte: latent attention in linear time (bidirectional, causal chunked, one-token step).

Notation (DESIGN.md §3), per batch b and head h:
  q_t, k_t in R^L are latent logits, v_t in R^Dh.  p(l|t) = softmax_l(q_t).
  bidirectional: y_t = sum_l p(l|t) sum_s softmax_s(k_{s,l}) v_s
  causal:        y_t = sum_l p(l|t) sum_{s<=t} exp(k_{s,l} - log alpha_{t,l}) v_s,
                 log alpha_{t,l} = logsumexp_{s<=t} k_{s,l}
The causal form is computed chunk by chunk (C tokens).  Weights exp(k_s - log alpha_t) are split
into a key factor exp(k_s - R) <= 1 and a query factor exp(R - log alpha_t) around a reference R
that is >= every key so far, so nothing overflows: key logits may spread over +-80 in float32.
  * between chunks: a state S (L x Dh) scaled by exp(-R_chunk), carried by a scan over the T/C
    chunks (autograd keeps O(T/C) states);
  * inside a chunk, fast path: one reference per chunk and one C x C matmul, taken when every
    query factor stays below e^SAFE_SPREAD (unless keys jump by ~40 inside a chunk: its backward squares it);
  * inside a chunk, robust path: recursive halving, the reference being log alpha at each split
    point, so both factors are <= 1 for any spread.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from latte_vt.attention.backend import resolve_backend
from latte_vt.attention.shapes import check_mask, check_qkv, compute_dtype

#: Finite stand-in for -inf (padding keys, empty running max); exp(NEG - x) == 0, never 0 * inf.
NEG = -1e30
DEFAULT_CHUNK = 64
#: Largest exp(R - log alpha) the one-reference fast path accepts, per compute dtype.
# The fast path divides by alpha_t e^-R >= e^-SAFE_SPREAD, and its backward by the square of it: e^(2 x spread)
# must stay finite (float32 overflows past e^88, float64 past e^709), so a spread above this takes the robust path.
SAFE_SPREAD = {torch.float32: 40.0, torch.float64: 300.0}
#: Smallest chunk the fast path is retried with before the robust path (keys rising by rate r per token spread
# about r * C inside a chunk: a learned recency rate of 5 passes at 4 tokens, not at 16).
MIN_FAST_CHUNK = 4


class LatteState(NamedTuple):
    """Recurrent state of causal Latte after some tokens, all scaled by exp(-m)."""

    S: Tensor  # (B, H, L, Dh) sum_s exp(k_s - m) v_s
    z: Tensor  # (B, H, L)     sum_s exp(k_s - m)
    m: Tensor  # (B, H, L)     running max of the key logits


def initial_state(
    batch: int, heads: int, latents: int, head_dim: int, *, dtype: torch.dtype = torch.float32, device=None
) -> LatteState:
    """The state before any token: empty sums and a large finite negative running max."""
    return LatteState(
        S=torch.zeros(batch, heads, latents, head_dim, dtype=dtype, device=device),
        z=torch.zeros(batch, heads, latents, dtype=dtype, device=device),
        m=torch.full((batch, heads, latents), NEG, dtype=dtype, device=device),
    )


def _check_state(state: LatteState, q: Tensor, v: Tensor) -> None:
    B, H, L, Dh = q.shape[0], q.shape[1], q.shape[-1], v.shape[-1]
    if not isinstance(state, tuple) or len(state) != 3:
        raise ValueError("state must be a LatteState(S, z, m)")
    expected = (("state.S", state.S, (B, H, L, Dh)), ("state.z", state.z, (B, H, L)), ("state.m", state.m, (B, H, L)))
    for name, x, want in expected:
        if tuple(x.shape) != want:
            raise ValueError(f"{name} must have shape {want}, got {tuple(x.shape)}")


def _apply_mask(k: Tensor, v: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    """Padded tokens get key NEG and zero value, so they carry no weight and no NaN leaks.  Their queries
    need nothing: a query reaches only its own token's output, which the callers zero."""
    if mask is None:
        return k, v
    pad = ~mask[:, None, :, None]  # (B, 1, T, 1)
    return k.masked_fill(pad, NEG), v.masked_fill(pad, 0.0)


def latte_bidirectional(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, backend: str = "auto") -> Tensor:
    """Bidirectional Latte: ``softmax_rows(q) @ (softmax_cols(k)^T @ v)`` per head.

    q, k: (B, H, T, L) latent logits; v: (B, H, T, Dh); mask: (B, T) bool, True = real token.
    ``backend``: ``"auto"`` (fused Triton kernels on CUDA when available, else torch), ``"torch"``
    or ``"triton"`` (see ``latte_vt.attention.backend``).
    Returns (B, H, T, Dh) in the input dtype; padded positions output zeros.
    """
    check_qkv(q, k, v, per_token=False)
    check_mask(mask, q.shape[0], q.shape[2])
    if resolve_backend(backend, q, v) == "triton":
        from latte_vt.attention.triton import latte_bidirectional_triton

        return latte_bidirectional_triton(q, k, v, mask)
    out_dtype, dt = q.dtype, compute_dtype(q.dtype)
    q, (k, v) = q.to(dt), _apply_mask(k.to(dt), v.to(dt), mask)
    p_lat = torch.softmax(q, dim=-1)  # (B, H, T, L)  p(l|t)
    # softmax over the last axis: onnxruntime runs a softmax over any other axis through two transposes
    p_pos = torch.softmax(k.transpose(-1, -2), dim=-1)  # (B, H, L, T)  p(s|l), over positions
    context = p_pos @ v  # (B, H, L, Dh) per-latent value averages
    y = p_lat @ context  # (B, H, T, Dh)
    if mask is not None:
        y = y.masked_fill(~mask[:, None, :, None], 0.0)
    return y.to(out_dtype)


def latte_step(q_t: Tensor, k_t: Tensor, v_t: Tensor, state: LatteState | None = None) -> tuple[Tensor, LatteState]:
    """One causal token: q_t, k_t (B, H, L), v_t (B, H, Dh) -> (y_t (B, H, Dh), new state).

    ``state=None`` starts a new sequence.  States are kept in float32 (float64 for float64 input).
    """
    check_qkv(q_t, k_t, v_t, per_token=True)
    out_dtype, dt = q_t.dtype, compute_dtype(q_t.dtype)
    q_t, k_t, v_t = q_t.to(dt), k_t.to(dt), v_t.to(dt)
    B, H, L = q_t.shape
    if state is None:
        state = initial_state(B, H, L, v_t.shape[-1], dtype=dt, device=q_t.device)
    else:
        _check_state(state, q_t.unsqueeze(2), v_t.unsqueeze(2))
    S, z, m = (x.to(dt) for x in state)
    m_new = torch.maximum(m, k_t)  # (B, H, L)
    decay = torch.exp(m - m_new)  # (B, H, L)  <= 1
    w = torch.exp(k_t - m_new)  # (B, H, L)  <= 1
    S = decay.unsqueeze(-1) * S + w.unsqueeze(-1) * v_t.unsqueeze(-2)  # (B, H, L, Dh)
    z = decay * z + w  # (B, H, L)  >= 1 once a token was seen
    p_lat = torch.softmax(q_t, dim=-1)  # (B, H, L)
    y = ((p_lat / z).unsqueeze(-2) @ S).squeeze(-2)  # (B, H, Dh)
    return y.to(out_dtype), LatteState(S, z, m_new)


def _carry_states(
    keyf: Tensor, vc: Tensor, R: Tensor, state: LatteState | None
) -> tuple[Tensor, Tensor, Tensor, Tensor, LatteState]:
    """Scan over chunks: the (S, z) each chunk starts from, and the final state.

    keyf: (B, H, N, C, L) = exp(k - R); vc: (B, H, N, C, Dh); R: (B, H, N, L) per-chunk reference,
    non-decreasing and >= every key so far.  Returns S_before (B, H, N, L, Dh) and z_before
    (B, H, N, L), both scaled by exp(-R_prev), R_prev (B, H, N, L), decay exp(R_prev - R) (B, H, N, L, 1)
    and the final LatteState.
    Autograd keeps these N = T/C states, never one per token.
    """
    B, H, N, C, L = keyf.shape
    Dh = vc.shape[-1]
    if state is None:
        state = initial_state(B, H, L, Dh, dtype=keyf.dtype, device=keyf.device)
    R_prev = torch.cat([state.m.unsqueeze(2), R[:, :, :-1]], dim=2)  # (B, H, N, L)
    U = torch.cat([keyf.transpose(-1, -2) @ vc, keyf.sum(3).unsqueeze(-1)], dim=-1)  # (B, H, N, L, Dh+1)
    decay = torch.exp(R_prev - R).unsqueeze(-1)  # (B, H, N, L, 1) <= 1
    Sz = torch.cat([state.S, state.z.unsqueeze(-1)], dim=-1)  # (B, H, L, Dh+1) [S | z]
    before = []
    for U_i, decay_i in zip(U.unbind(2), decay.unbind(2), strict=True):  # unbind: one cheap backward
        before.append(Sz)
        Sz = torch.addcmul(U_i, decay_i, Sz)  # (B, H, L, Dh+1)
    Sz_before = torch.stack(before, dim=2)  # (B, H, N, L, Dh+1)
    final = LatteState(Sz[..., :Dh], Sz[..., Dh], R[:, :, -1])
    return Sz_before[..., :Dh], Sz_before[..., Dh], R_prev, decay, final


def _causal_fast(
    pc: Tensor, kc: Tensor, vc: Tensor, state: LatteState | None, real: Tensor | None
) -> tuple[Tensor, LatteState] | None:
    """One reference per chunk (the running max R at its end) and C x C matmuls inside the chunk.

    weight(t, s) = exp(k_s - log alpha_t) = exp(k_s - R) / (alpha_t e^-R), and alpha_t e^-R is a plain
    cumulative sum.  Returns None when some real token has alpha_t e^-R < e^-SAFE_SPREAD (keys jumping
    by ~40 inside one chunk), where the robust path must be used instead.
    pc, kc: (B, H, N, C, L); vc: (B, H, N, C, Dh); real: (B, 1, N, C, 1) bool or None.
    """
    B, H, N, C, L = kc.shape
    chunk_max = kc.amax(dim=3)  # (B, H, N, L)
    if state is not None:
        chunk_max = torch.cat([state.m.unsqueeze(2), chunk_max], dim=2)
    R = torch.cummax(chunk_max.detach(), dim=2).values[:, :, -N:]  # (B, H, N, L) running max
    keyf = (kc - R.unsqueeze(3)).exp_()  # (B, H, N, C, L) <= 1  (in place: fewer fresh pages)
    S_before, z_before, _, decay, final = _carry_states(keyf, vc, R, state)  # decay (B, H, N, L, 1) <= 1
    denom = torch.cumsum(keyf, dim=3).add_((z_before * decay.squeeze(-1)).unsqueeze(3))  # alpha_t e^-R
    floor = math.exp(-SAFE_SPREAD[kc.dtype])
    check = denom.detach() if real is None else torch.where(real, denom.detach(), 1.0)  # (B, H, N, C, L)
    if check.amin() < floor:
        return None
    if real is not None:  # leading padding has alpha = 0; keep its (discarded) outputs finite
        denom = denom.clamp_min(floor)
    q_scaled = pc / denom  # (B, H, N, C, L) p(l|t) e^R / alpha_t
    causal = torch.ones(C, C, dtype=torch.bool, device=pc.device).tril()  # (C, C) s <= t
    scores = (q_scaled @ keyf.transpose(-1, -2)).masked_fill_(~causal, 0.0)  # (B, H, N, C, C)
    S_from = (S_before * decay).view(B * H * N, L, -1)  # (BHN, L, Dh) rescaled to R
    y = (scores @ vc).view(B * H * N, C, -1).baddbmm_(q_scaled.view(B * H * N, C, L), S_from)  # (BHN, C, Dh)
    return y, final


def _causal_robust(pc: Tensor, kc: Tensor, vc: Tensor, state: LatteState | None) -> tuple[Tensor, LatteState]:
    """Any key spread: exact log alpha, and inside chunks recursive halving with log alpha at each
    split point as the reference, so every factor exp(k_s - la_split), exp(la_split - la_t) is <= 1.

    pc, kc: (B, H, N, C, L); vc: (B, H, N, C, Dh).  Block sizes C, C/2, ..., 2, then each token with itself.
    """
    B, H, N, C, L = pc.shape
    Dh = vc.shape[-1]
    la = torch.logcumsumexp(kc.reshape(B, H, N * C, L), dim=2).view(B, H, N, C, L)  # log alpha
    if state is not None:
        la = torch.logaddexp(la, (state.m + torch.log(state.z))[:, :, None, None, :])
    R = la[:, :, :, -1].detach()  # (B, H, N, L) log alpha at chunk ends, >= every key so far
    S_before, _, R_prev, _, final = _carry_states(torch.exp(kc - R.unsqueeze(3)), vc, R, state)
    y = (pc * torch.exp(R_prev.unsqueeze(3) - la)) @ S_before  # (B, H, N, C, Dh) earlier chunks
    y = y + (pc * torch.exp(kc - la)).sum(-1, keepdim=True) * vc  # token with itself
    b = C
    while b >= 2:
        h, nb = b // 2, C // b
        blocks = (B, H, N, nb, b)
        ref = la.detach().reshape(*blocks, L)[..., h - 1 : h, :]  # (B, H, N, nb, 1, L)
        k_left = torch.exp(kc.reshape(*blocks, L)[..., :h, :] - ref)  # (B, H, N, nb, h, L) <= 1
        q_right = pc.reshape(*blocks, L)[..., h:, :] * torch.exp(ref - la.reshape(*blocks, L)[..., h:, :])
        v_left = vc.reshape(*blocks, Dh)[..., :h, :]  # (B, H, N, nb, h, Dh)
        y_right = (q_right @ k_left.transpose(-1, -2)) @ v_left  # (B, H, N, nb, h, Dh)
        y.view(*blocks, Dh)[..., h:, :] += y_right
        b = h
    return y, final


def chunk_for_ramp(C: int, rate: float) -> int:
    """The chunk size, at most C, at which keys rising by ``rate`` per token spread at most 3/4 of the fast path's
    limit inside a chunk, leaving room for the keys' own spread (a power of two, at least MIN_FAST_CHUNK or C)."""
    while C > MIN_FAST_CHUNK and rate * (C - 1) > 0.75 * SAFE_SPREAD[torch.float32]:
        C //= 2
    return C


def _fast_chunk_sizes(C: int) -> list[int]:
    """Chunk sizes the fast path tries, largest first: C, C/2, ... down to MIN_FAST_CHUNK (or C when smaller)."""
    sizes = [C]
    while sizes[-1] > MIN_FAST_CHUNK:
        sizes.append(sizes[-1] // 2)
    return sizes


def _chunked(
    p: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, C: int
) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """p, k (B, H, T, L), v (B, H, T, Dh) padded at the end to whole chunks of C tokens (keys NEG, rest 0) ->
    (B, H, N, C, L), (B, H, N, C, L), (B, H, N, C, Dh) and the real tokens (B, 1, N, C, 1) (None without mask)."""
    B, H, T, L = p.shape
    N = -(-T // C)
    tail = N * C - T  # later tokens never touch earlier outputs
    pc = F.pad(p, (0, 0, 0, tail)).view(B, H, N, C, L)
    kc = F.pad(k, (0, 0, 0, tail), value=NEG).view(B, H, N, C, L)
    vc = F.pad(v, (0, 0, 0, tail)).view(B, H, N, C, v.shape[-1])
    real = None if mask is None else F.pad(mask, (0, tail), value=True).view(B, 1, N, C, 1)
    return pc, kc, vc, real


def latte_causal(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    state: LatteState | None = None,
    return_state: bool = False,
    chunk_size: int | None = None,
    mask: Tensor | None = None,
    backend: str = "auto",
) -> Tensor | tuple[Tensor, LatteState]:
    """Causal Latte over a whole sequence, chunked and linear in T.

    q, k: (B, H, T, L) latent logits; v: (B, H, T, Dh); ``state`` continues an earlier sequence;
    ``chunk_size`` (a power of two, default 64); mask: (B, T) bool, padded tokens carry no weight.
    ``backend``: ``"auto"`` (fused Triton kernels on CUDA when available, else torch), ``"torch"``
    or ``"triton"`` (see ``latte_vt.attention.backend``; its states are normalised, z = 1).
    Returns y (B, H, T, Dh), or ``(y, state)`` when ``return_state``.
    """
    check_qkv(q, k, v, per_token=False)
    B, H, T, L = q.shape
    Dh = v.shape[-1]
    check_mask(mask, B, T)
    C = DEFAULT_CHUNK if chunk_size is None else chunk_size
    if not isinstance(C, int) or C < 1 or C & (C - 1):
        raise ValueError(f"chunk_size must be a power of two >= 1, got {chunk_size!r}")
    if state is not None:
        _check_state(state, q, v)
    if resolve_backend(backend, q, v) == "triton":
        from latte_vt.attention.triton import latte_causal_triton

        return latte_causal_triton(q, k, v, state, return_state, C, mask)
    out_dtype, dt = q.dtype, compute_dtype(q.dtype)
    q, (k, v) = q.to(dt), _apply_mask(k.to(dt), v.to(dt), mask)
    if state is not None:
        state = LatteState(*(x.to(dt) for x in state))
    C = min(C, 1 << max(T - 1, 0).bit_length())  # no bigger than the sequence needs
    p = torch.softmax(q, dim=-1)  # (B, H, T, L) p(l|t)
    result = None
    for size in _fast_chunk_sizes(C):  # smaller chunks: keys spread less inside each (e.g. a recency ramp)
        chunks = _chunked(p, k, v, mask, size)
        result = _causal_fast(*chunks[:3], state, chunks[3])
        if result is not None:
            break
    if result is None:
        chunks = _chunked(p, k, v, mask, C)
        result = _causal_robust(*chunks[:3], state)
    Tp = chunks[0].shape[2] * chunks[0].shape[3]
    y, final = result
    y = y.reshape(B, H, Tp, Dh)[:, :, :T]  # (B, H, T, Dh)
    if mask is not None:
        y = y.masked_fill(~mask[:, None, :, None], 0.0)
    y = y.to(out_dtype)
    return (y, final) if return_state else y

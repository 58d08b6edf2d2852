"""Latte attention core against O(T^2) float64 references, across shapes, chunkings and key spreads."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import latte_vt.attention.latte as latte_module
from latte_vt.attention import (
    initial_state,
    latte_bidirectional,
    latte_bidirectional_reference,
    latte_causal,
    latte_causal_reference,
    latte_step,
)
from latte_vt.attention.latte import chunk_for_ramp

SHAPES = st.tuples(
    st.integers(1, 2),  # B
    st.integers(1, 3),  # H
    st.integers(1, 70),  # T (rarely a multiple of the chunk)
    st.integers(1, 8),  # L
    st.integers(1, 6),  # Dh
)
CHUNKS = st.sampled_from([None, 1, 2, 4, 8, 16, 32])
SPREADS = st.sampled_from([1.0, 10.0, 80.0])


def make_qkv(B, H, T, L, Dh, spread, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, H, T, L, generator=g, dtype=torch.float64) * 3
    k = (torch.rand(B, H, T, L, generator=g, dtype=torch.float64) * 2 - 1) * spread
    v = torch.randn(B, H, T, Dh, generator=g, dtype=torch.float64)
    return q.to(dtype), k.to(dtype), v.to(dtype)


def rel_err(y, ref):
    return ((y.double() - ref).abs().max() / ref.abs().max().clamp_min(1e-30)).item()


@pytest.fixture(params=["fast", "robust"])
def path(request, monkeypatch):
    """Run a test through the one-reference fast path (default) and through the robust path."""
    if request.param == "robust":
        monkeypatch.setattr(latte_module, "_causal_fast", lambda *args: None)
    return request.param


@settings(max_examples=40, deadline=None)
@given(shape=SHAPES, chunk=CHUNKS, spread=SPREADS, seed=st.integers(0, 10_000))
def test_causal_matches_reference_float64(shape, chunk, spread, seed):
    q, k, v = make_qkv(*shape, spread, seed=seed)
    y = latte_causal(q, k, v, chunk_size=chunk)
    assert y.shape == v.shape and y.dtype == torch.float64
    assert (y - latte_causal_reference(q, k, v)).abs().max().item() <= 1e-9


@settings(max_examples=40, deadline=None)
@given(shape=SHAPES, chunk=CHUNKS, spread=SPREADS, seed=st.integers(0, 10_000))
def test_causal_matches_reference_float32(shape, chunk, spread, seed):
    q, k, v = make_qkv(*shape, spread, dtype=torch.float32, seed=seed)
    y = latte_causal(q, k, v, chunk_size=chunk)
    assert y.dtype == torch.float32 and torch.isfinite(y).all()
    assert rel_err(y, latte_causal_reference(q, k, v)) <= 1e-5


@pytest.mark.parametrize(
    "dtype,spread,tol", [(torch.float64, 80.0, 1e-9), (torch.float64, 2000.0, 1e-9), (torch.float32, 80.0, 1e-5)]
)
def test_both_paths_match_reference(path, dtype, spread, tol):
    q, k, v = make_qkv(2, 3, 75, 8, 5, spread, dtype=dtype, seed=3)
    for chunk in (1, 4, 16, 64):
        y = latte_causal(q, k, v, chunk_size=chunk)
        assert torch.isfinite(y).all()
        assert rel_err(y, latte_causal_reference(q, k, v)) <= tol


def test_extreme_spread_takes_robust_path_and_stays_exact(monkeypatch):
    calls = []
    robust = latte_module._causal_robust
    monkeypatch.setattr(latte_module, "_causal_robust", lambda *a: calls.append(1) or robust(*a))
    q, k, v = make_qkv(1, 2, 40, 4, 3, 80.0, dtype=torch.float32, seed=1)
    k[..., 5, :] = 80.0  # a key jumps by 160 inside one chunk: the fast path must decline
    k[..., :5, :] = -80.0
    y = latte_causal(q, k, v, chunk_size=16)
    assert calls, "the robust path was not taken"
    assert rel_err(y, latte_causal_reference(q, k, v)) <= 1e-5


@settings(max_examples=25, deadline=None)
@given(shape=SHAPES, spread=SPREADS, seed=st.integers(0, 10_000))
def test_stepping_equals_causal(shape, spread, seed):
    q, k, v = make_qkv(*shape, spread, seed=seed)
    state, ys = None, []
    for t in range(q.shape[2]):
        y_t, state = latte_step(q[:, :, t], k[:, :, t], v[:, :, t], state)
        ys.append(y_t)
    y_full, final = latte_causal(q, k, v, return_state=True, chunk_size=8)
    assert (torch.stack(ys, dim=2) - y_full).abs().max().item() <= 1e-9
    # states are equal up to their reference: S / z and m + log z agree
    assert torch.allclose(state.S / state.z[..., None], final.S / final.z[..., None], atol=1e-9)
    assert torch.allclose(state.m + state.z.log(), final.m + final.z.log(), atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(shape=SHAPES, spread=SPREADS, seed=st.integers(0, 10_000), split=st.floats(0.0, 1.0))
def test_split_and_carry_equals_one_pass(shape, spread, seed, split):
    q, k, v = make_qkv(*shape, spread, seed=seed)
    T = q.shape[2]
    cut = int(split * T)
    ref = latte_causal(q, k, v)
    if cut in (0, T):
        return
    y1, s1 = latte_causal(q[:, :, :cut], k[:, :, :cut], v[:, :, :cut], return_state=True, chunk_size=4)
    y2, s2 = latte_causal(q[:, :, cut:], k[:, :, cut:], v[:, :, cut:], state=s1, return_state=True, chunk_size=16)
    assert (torch.cat([y1, y2], dim=2) - ref).abs().max().item() <= 1e-9
    # a step after the carried state continues the same sequence
    y_next, _ = latte_step(q[:, :, -1], k[:, :, -1], v[:, :, -1], s2)
    y_ref = latte_causal(
        torch.cat([q, q[:, :, -1:]], 2), torch.cat([k, k[:, :, -1:]], 2), torch.cat([v, v[:, :, -1:]], 2)
    )
    assert (y_next - y_ref[:, :, -1]).abs().max().item() <= 1e-9


def test_split_and_carry_robust_path(path):
    q, k, v = make_qkv(2, 2, 50, 6, 4, 80.0, seed=5)
    y1, s1 = latte_causal(q[:, :, :21], k[:, :, :21], v[:, :, :21], return_state=True, chunk_size=8)
    y2 = latte_causal(q[:, :, 21:], k[:, :, 21:], v[:, :, 21:], state=s1, chunk_size=8)
    assert (torch.cat([y1, y2], 2) - latte_causal_reference(q, k, v)).abs().max().item() <= 1e-9


def test_explicit_initial_state_equals_none():
    q, k, v = make_qkv(2, 2, 20, 4, 3, 10.0)
    state = initial_state(2, 2, 4, 3, dtype=torch.float64)
    assert torch.equal(latte_causal(q, k, v, state=state), latte_causal(q, k, v))
    assert torch.equal(
        latte_step(q[:, :, 0], k[:, :, 0], v[:, :, 0], state)[0], latte_step(q[:, :, 0], k[:, :, 0], v[:, :, 0])[0]
    )


@pytest.mark.parametrize("spread", [1.0, 40.0])
def test_gradcheck_causal(path, spread):
    q, k, v = make_qkv(1, 2, 11, 3, 2, spread, seed=7)
    q, k, v = (x.requires_grad_() for x in (q, k, v))
    assert torch.autograd.gradcheck(lambda a, b, c: latte_causal(a, b, c, chunk_size=4), (q, k, v))


def test_gradcheck_causal_with_state():
    q, k, v = make_qkv(1, 1, 9, 3, 2, 5.0, seed=8)
    _, s = latte_causal(q, k, v, return_state=True)
    S, z = s.S.clone().requires_grad_(), s.z.clone().requires_grad_()
    q, k, v = (x.requires_grad_() for x in (q, k, v))

    def f(a, b, c, S_, z_):
        return latte_causal(a, b, c, state=type(s)(S_, z_, s.m), chunk_size=2)

    assert torch.autograd.gradcheck(f, (q, k, v, S, z))


def test_gradcheck_step_and_bidirectional():
    q, k, v = make_qkv(1, 2, 7, 3, 2, 5.0, seed=9)
    q, k, v = (x.requires_grad_() for x in (q, k, v))
    mask = torch.tensor([[True, True, False, True, True, True, False]])
    assert torch.autograd.gradcheck(lambda a, b, c: latte_bidirectional(a, b, c, mask), (q, k, v))
    assert torch.autograd.gradcheck(lambda a, b, c: latte_step(a[:, :, 0], b[:, :, 0], c[:, :, 0])[0], (q, k, v))


@settings(max_examples=30, deadline=None)
@given(shape=SHAPES, spread=SPREADS, seed=st.integers(0, 10_000))
def test_bidirectional_matches_reference(shape, spread, seed):
    q, k, v = make_qkv(*shape, spread, seed=seed)
    B, T = q.shape[0], q.shape[2]
    assert (latte_bidirectional(q, k, v) - latte_bidirectional_reference(q, k, v)).abs().max().item() <= 1e-9
    mask = torch.rand(B, T, generator=torch.Generator().manual_seed(seed)) > 0.3
    y = latte_bidirectional(q, k, v, mask)
    assert (y - latte_bidirectional_reference(q, k, v, mask)).abs().max().item() <= 1e-9


def test_padding_content_never_reaches_real_tokens():
    q, k, v = make_qkv(2, 2, 30, 5, 4, 10.0, dtype=torch.float32)
    mask = torch.ones(2, 30, dtype=torch.bool)
    mask[0, :7] = False  # left padding
    mask[1, 24:] = False  # right padding
    poisoned = [x.clone() for x in (q, k, v)]
    for x in poisoned:
        x[~mask[:, None, :, None].expand_as(x)] = float("nan")
        x[0, 0, 0] = 1e30  # huge values in padding too
    for fn in (latte_bidirectional, latte_causal):
        clean = fn(q, k, v, mask=mask)
        dirty = fn(*poisoned, mask=mask)
        assert torch.isfinite(dirty).all()
        assert torch.equal(
            clean[mask[:, None, :, None].expand_as(clean)], dirty[mask[:, None, :, None].expand_as(dirty)]
        )
        assert (dirty[~mask[:, None, :, None].expand_as(dirty)] == 0).all()


def test_causal_left_padding_equals_unpadded_sequence():
    q, k, v = make_qkv(1, 2, 25, 4, 3, 20.0)
    pad = 9
    qp, kp, vp = (torch.cat([torch.randn(1, 2, pad, x.shape[-1], dtype=x.dtype), x], dim=2) for x in (q, k, v))
    mask = torch.ones(1, 25 + pad, dtype=torch.bool)
    mask[:, :pad] = False
    for chunk in (4, 16):
        y = latte_causal(qp, kp, vp, mask=mask, chunk_size=chunk)
        assert (y[:, :, pad:] - latte_causal(q, k, v)).abs().max().item() <= 1e-9
    q.requires_grad_()
    latte_causal(qp, kp, vp.requires_grad_(), mask=mask).sum().backward()
    assert torch.isfinite(vp.grad).all()


def test_bfloat16_within_1e2():
    q, k, v = make_qkv(2, 2, 100, 8, 8, 10.0, dtype=torch.bfloat16)
    for y, ref in (
        (latte_causal(q, k, v), latte_causal_reference(q, k, v)),
        (latte_bidirectional(q, k, v), latte_bidirectional_reference(q, k, v)),
    ):
        assert y.dtype == torch.bfloat16
        assert rel_err(y, ref) <= 1e-2
    y_t, state = latte_step(q[:, :, 0], k[:, :, 0], v[:, :, 0])
    assert y_t.dtype == torch.bfloat16 and state.S.dtype == torch.float32


def test_autograd_keeps_chunk_states_not_token_states():
    """Saved activations grow linearly in T and never hold an (L x Dh) state per token."""
    B, H, L, Dh, C = 1, 2, 16, 16, 16

    def saved_numels(T):
        q, k, v = (x.requires_grad_() for x in make_qkv(B, H, T, L, Dh, 3.0, dtype=torch.float32))
        sizes = []
        with torch.autograd.graph.saved_tensors_hooks(lambda t: sizes.append(t.numel()) or t, lambda t: t):
            latte_causal(q, k, v, chunk_size=C).sum()
        return sizes

    small, large = saved_numels(256), saved_numels(1024)
    per_token_states = B * H * 1024 * L * Dh
    assert max(large) < per_token_states / 4
    assert sum(large) < per_token_states
    assert sum(large) <= 4.2 * sum(small)


@pytest.mark.parametrize(
    "args,match",
    [
        ((torch.zeros(2, 3, 4), torch.zeros(2, 3, 4), torch.zeros(2, 3, 4)), r"q must have shape \(B, H, T, L\)"),
        (
            (torch.zeros(1, 2, 5, 4), torch.zeros(1, 2, 5, 3), torch.zeros(1, 2, 5, 6)),
            "k must have the same shape as q",
        ),
        (
            (torch.zeros(1, 2, 5, 4), torch.zeros(1, 2, 5, 4), torch.zeros(1, 2, 6, 6)),
            r"v must have shape \(B, H, T, Dh\)",
        ),
        ((torch.zeros(1, 2, 5, 4, dtype=torch.int64),) * 3, "q must be float64/float32/bfloat16/float16"),
        (
            (torch.zeros(1, 2, 5, 4), torch.zeros(1, 2, 5, 4, dtype=torch.float64), torch.zeros(1, 2, 5, 3)),
            "share one dtype",
        ),
    ],
)
def test_bad_arguments_raise_value_error(args, match):
    for fn in (latte_causal, latte_bidirectional):
        with pytest.raises(ValueError, match=match):
            fn(*args)


def test_bad_mask_chunk_and_state_raise_value_error():
    q, k, v = make_qkv(2, 2, 10, 4, 3, 1.0)
    with pytest.raises(ValueError, match=r"mask must have shape \(B, T\) = \(2, 10\)"):
        latte_bidirectional(q, k, v, torch.ones(2, 9, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask must be a bool tensor"):
        latte_causal(q, k, v, mask=torch.ones(2, 10))
    with pytest.raises(ValueError, match="chunk_size must be a power of two"):
        latte_causal(q, k, v, chunk_size=12)
    bad_state = initial_state(2, 2, 5, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"state.S must have shape \(2, 2, 4, 3\)"):
        latte_causal(q, k, v, state=bad_state)
    with pytest.raises(ValueError, match=r"q must have shape \(B, H, L\)"):
        latte_step(q, k, v)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.bfloat16, 1e-2)])
def test_cuda_matches_reference(dtype, tol):
    q, k, v = (x.cuda() for x in make_qkv(2, 4, 300, 16, 16, 60.0, dtype=dtype))
    assert rel_err(latte_causal(q, k, v).cpu(), latte_causal_reference(q, k, v).cpu()) <= tol
    assert rel_err(latte_bidirectional(q, k, v).cpu(), latte_bidirectional_reference(q, k, v).cpu()) <= tol
    assert math.isfinite(latte_causal(q, k, v).float().sum().item())


@pytest.mark.parametrize("jump", [35.0, 55.0, 75.0])
def test_float32_gradients_stay_finite_when_keys_climb_inside_a_chunk(jump):
    """Keys rising by `jump` across one chunk (what learned recency rates do): the chosen path's backward
    stays finite and matches float64 (the fast path squares its query factor in the backward)."""
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 2, 64, 8) for _ in range(3))
    k = k + torch.linspace(0, jump, 64)[:, None]  # (1, 2, 64, 8)
    grads = []
    for dtype in (torch.float32, torch.float64):
        kk = k.to(dtype).clone().requires_grad_()
        latte_causal(q.to(dtype), kk, v.to(dtype), chunk_size=64).square().sum().backward()
        grads.append(kk.grad)
    assert torch.isfinite(grads[0]).all()
    assert torch.allclose(grads[0].double(), grads[1], atol=1e-4, rtol=1e-3)


def test_keys_ramping_too_fast_for_the_chunk_take_smaller_fast_chunks_not_the_robust_path(monkeypatch):
    """A learned recency rate of 5 per token spreads keys by 75 inside a 16-token chunk: the fast path declines
    at 16 and 8, then takes 4-token chunks; the robust path is never needed and the result stays exact."""
    sizes = []
    fast = latte_module._causal_fast
    monkeypatch.setattr(latte_module, "_causal_fast", lambda pc, *a: sizes.append(pc.shape[3]) or fast(pc, *a))
    monkeypatch.setattr(latte_module, "_causal_robust", lambda *a: pytest.fail("robust path taken"))
    q, k, v = make_qkv(2, 2, 100, 8, 6, 3.0, dtype=torch.float32, seed=5)
    k = k + 5.0 * torch.arange(100, dtype=torch.float32)[:, None]  # (B, H, T, L): a steep recency ramp
    mask = torch.ones(2, 100, dtype=torch.bool)
    mask[1, :30] = False  # left padding, as batched histories have
    y = latte_causal(q, k, v, chunk_size=16, mask=mask)
    assert sizes == [16, 8, 4]
    assert rel_err(y[0:1], latte_causal_reference(q[0:1], k[0:1], v[0:1])) <= 1e-5
    ref = latte_causal_reference(q[1:, :, 30:], k[1:, :, 30:], v[1:, :, 30:])
    assert rel_err(y[1:, :, 30:], ref) <= 1e-5 and (y[1, :, :30] == 0).all()


@pytest.mark.parametrize("rate,chunk", [(0.0, 64), (0.5, 32), (1.0, 16), (3.0, 8), (5.0, 4), (100.0, 4)])
def test_chunk_for_ramp_starts_where_the_ramp_leaves_the_fast_path_room(rate, chunk):
    assert chunk_for_ramp(64, rate) == chunk
    assert chunk_for_ramp(2, 100.0) == 2  # never above the configured size, never raised to the floor

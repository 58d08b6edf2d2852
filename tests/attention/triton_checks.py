"""Triton Latte kernels against the float64 references, at small sizes.

Not collected by a plain ``pytest`` run (the file name does not start with ``test_``): Triton has
to be imported with ``TRITON_INTERPRET=1`` to run kernels on CPU tensors, and that must not leak
into other tests.  ``test_triton_interpreter.py`` runs this file in a fresh interpreter process;
``test_triton_gpu.py`` runs it on CUDA.  By hand:

    TRITON_INTERPRET=1 pytest tests/attention/triton_checks.py      # CPU, the Triton interpreter
    pytest tests/attention/triton_checks.py -m "not slow or slow"   # on a CUDA machine
"""

import os
from functools import partial

import pytest
import torch

from latte_vt.attention import (
    LatteState,
    latte_bidirectional,
    latte_bidirectional_reference,
    latte_causal,
    latte_causal_reference,
)
from latte_vt.attention.triton.autograd import latte_bidirectional_triton, latte_causal_triton
from latte_vt.backbone import LatteConfig, LatteEncoder
from latte_vt.bench.attention_worker import run_cases

INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"
DEVICE = "cpu" if INTERPRETED else "cuda"
if not INTERPRETED and not torch.cuda.is_available():
    pytest.skip("needs CUDA, or TRITON_INTERPRET=1 set before triton is imported", allow_module_level=True)

SPREAD = 60.0  # key logits in [-60, 60]
#: The interpreter runs every Triton op in Python: the default run keeps one case of each kind
#: (about 30 s); ``-m slow`` (and every GPU run) adds the rest.
SLOW = pytest.mark.slow


def make_qkv(B, H, T, L, Dh, spread=SPREAD, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, H, T, L, generator=g, dtype=torch.float64) * 3
    k = (torch.rand(B, H, T, L, generator=g, dtype=torch.float64) * 2 - 1) * spread
    v = torch.randn(B, H, T, Dh, generator=g, dtype=torch.float64)
    return tuple(x.to(DEVICE, dtype) for x in (q, k, v))


def rel_err(y, ref):
    """max |y - ref| / max |ref|.  The denominator is floored at 1e-2 (values here are O(1)): with
    T = 1, dq and dk vanish exactly and float32 leaves ~1e-7 of cancellation noise."""
    y, ref = y.double().cpu(), ref.double().cpu()
    return ((y - ref).abs().max() / ref.abs().max().clamp_min(1e-2)).item()


def outputs_and_grads(fn, q, k, v, dy):
    """fn(q, k, v) and the gradients of <fn(q, k, v), dy> with respect to q, k, v."""
    q, k, v = (x.detach().clone().requires_grad_() for x in (q, k, v))
    y = fn(q, k, v)
    y.backward(dy)
    return y.detach(), q.grad, k.grad, v.grad


def cast_allowance(ref, dtype):
    """Rounding the checks forgive on top of ``tol``: the Triton interpreter casts float32 to bfloat16
    by truncation (GPUs round to nearest), up to one bfloat16 step (2^-7 relative) per element."""
    if not (INTERPRETED and dtype == torch.bfloat16):
        return torch.zeros_like(ref)
    return torch.exp2(torch.floor(torch.log2(ref.abs().clamp_min(1e-30))) - 7)


def assert_matches_reference(fn, reference, q, k, v, tol, seed=1):
    """Outputs and q/k/v gradients of ``fn`` within ``tol`` (relative) of the float64 ``reference``."""
    g = torch.Generator().manual_seed(seed)
    dy = torch.randn(v.shape, generator=g, dtype=torch.float64)
    got = outputs_and_grads(fn, q, k, v, dy.to(v.device, v.dtype))
    want = outputs_and_grads(reference, *(x.double().cpu() for x in (q, k, v)), dy)
    for name, a, b in zip(("y", "dq", "dk", "dv"), got, want, strict=True):
        assert a.dtype == q.dtype and torch.isfinite(a).all(), name
        excess = ((a.double().cpu() - b).abs() - cast_allowance(b, a.dtype)).clamp_min(0)
        err = (excess.max() / b.abs().max().clamp_min(1e-2)).item()
        assert err <= tol, f"{name}: relative error {err:.2e} > {tol:.0e}"


@pytest.mark.parametrize(
    "B,H,T,chunk",
    [pytest.param(2, 2, 1, 16, marks=SLOW), (2, 2, 37, 16), pytest.param(1, 2, 128, 32, marks=SLOW)],
)
def test_causal_outputs_and_grads_float32(B, H, T, chunk):
    q, k, v = make_qkv(B, H, T, 16, 16)
    causal = partial(latte_causal_triton, chunk_size=chunk)
    assert_matches_reference(causal, latte_causal_reference, q, k, v, 1e-4)


@SLOW
@pytest.mark.parametrize("T,chunk", [(1, 32), (37, 32), (128, 16), (128, 32), (200, 64), (75, 128)])
def test_causal_outputs_and_grads_float32_more_chunkings(T, chunk):
    q, k, v = make_qkv(2, 2, T, 16, 16, seed=T)
    assert_matches_reference(
        lambda a, b, c: latte_causal_triton(a, b, c, chunk_size=chunk), latte_causal_reference, q, k, v, 1e-4
    )


def test_causal_keys_jumping_by_160_stay_exact():
    """Keys at -80, then +80 inside a sub-block and again in a later chunk: no reference overflows."""
    q, k, v = make_qkv(1, 2, 40, 16, 16, spread=80.0, seed=11)
    k[..., :5, :] = -80.0
    k[..., 5, :] = 80.0  # a jump of 160 inside the first sub-block
    k[..., 21:30, :] = -80.0
    k[..., 30, :] = 80.0  # and inside a later chunk
    assert_matches_reference(partial(latte_causal_triton, chunk_size=16), latte_causal_reference, q, k, v, 1e-4)


@SLOW
def test_causal_odd_widths_and_strided_inputs():
    """L and Dh that are not tile sizes; q, k, v as head views of (B, T, H*F) projections."""
    B, H, T, L, Dh = 1, 2, 45, 5, 7
    g = torch.Generator().manual_seed(3)
    qk = (torch.rand(B, T, 2 * H * L, generator=g, dtype=torch.float64) * 2 - 1) * SPREAD
    q, k = (x.unflatten(-1, (H, L)).transpose(1, 2).to(DEVICE, torch.float32) for x in qk.chunk(2, -1))
    v = torch.randn(B, T, H * Dh, generator=g, dtype=torch.float64).unflatten(-1, (H, Dh)).transpose(1, 2)
    v = v.to(DEVICE, torch.float32)
    assert not q.is_contiguous() and not v.is_contiguous()
    assert_matches_reference(latte_causal_triton, latte_causal_reference, q, k, v, 1e-4)


def masked_reference(reference):
    """The float64 reference run on each row's real tokens only, scattered back (padding outputs 0)."""

    def run(q, k, v, mask):
        rows = []
        for b in range(q.shape[0]):
            real = mask[b].nonzero().squeeze(1)  # (T_b,)
            y_b = reference(*(x[b : b + 1].index_select(2, real) for x in (q, k, v)))  # (1, H, T_b, Dh)
            rows.append(torch.zeros_like(v[b]).index_copy(1, real, y_b[0]))  # (H, T, Dh)
        return torch.stack(rows)

    return run


def padding_mask(B, T, device=DEVICE):
    """Row 0: left padding; row 1: right padding and holes; row 2 (if any): all real."""
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, : T // 3] = False
    if B > 1:
        mask[1, -(T // 4) :] = False
        mask[1, 3:T:5] = False
    return mask.to(device)


def poison_padding(x, mask):
    """NaN and huge values where the mask is False: they must never reach a real token."""
    x = x.clone()
    pad = ~mask[:, None, :, None].expand_as(x)
    x[pad] = float("nan")
    x[..., 0][~mask[:, None, :].expand(x.shape[:3])] = 1e30
    return x


@pytest.mark.parametrize("chunk", [16, pytest.param(32, marks=SLOW)])
def test_causal_padding_mask(chunk):
    B, H, T = 2, 1, 45
    q, k, v = make_qkv(B, H, T, 16, 16, seed=4)
    mask = padding_mask(B, T)
    causal = partial(latte_causal_triton, chunk_size=chunk, mask=mask)
    reference = partial(masked_reference(latte_causal_reference), mask=mask.cpu())
    assert_matches_reference(causal, reference, q, k, v, 1e-4)
    q, k, v = (poison_padding(x, mask) for x in (q, k, v))
    y, dq, dk, dv = outputs_and_grads(causal, q, k, v, torch.ones_like(v))
    pad = ~mask[:, None, :, None]
    for name, x in (("y", y), ("dq", dq), ("dk", dk), ("dv", dv)):
        assert torch.isfinite(x).all(), name
        assert (x.masked_select(pad) == 0).all(), f"{name} is not zero on padding"


def test_causal_state_carries_outputs_and_gradients():
    """Two calls joined by the returned state equal one call, gradients flowing through the state."""
    T, cut = 50, 21

    def two_parts(q, k, v):
        y1, state = latte_causal_triton(q[:, :, :cut], k[:, :, :cut], v[:, :, :cut], return_state=True)
        y2 = latte_causal_triton(q[:, :, cut:], k[:, :, cut:], v[:, :, cut:], state=state, chunk_size=16)
        return torch.cat([y1, y2], dim=2)

    q, k, v = make_qkv(1, 2, T, 16, 16, seed=5)
    assert_matches_reference(two_parts, latte_causal_reference, q, k, v, 1e-4)


@SLOW
def test_causal_state_matches_torch_backend_and_gets_gradients():
    q, k, v = make_qkv(1, 2, 40, 16, 16, seed=6)
    _, torch_state = latte_causal(q[:, :, :17], k[:, :, :17], v[:, :, :17], return_state=True, backend="torch")
    _, triton_state = latte_causal_triton(q[:, :, :17], k[:, :, :17], v[:, :, :17], return_state=True)
    assert torch.allclose(
        triton_state.S / triton_state.z[..., None], torch_state.S / torch_state.z[..., None], atol=1e-5
    )
    assert torch.allclose(triton_state.m + triton_state.z.log(), torch_state.m + torch_state.z.log(), atol=1e-4)
    grads = []
    for fn in (partial(latte_causal, backend="torch"), latte_causal_triton):
        state = LatteState(*(x.detach().clone().requires_grad_() for x in torch_state))
        rest = (x[:, :, 17:] for x in (q, k, v))
        y, final = fn(*rest, state=state, return_state=True)
        (y.square().sum() + (final.S / final.z[..., None]).sum()).backward()
        grads.append([x.grad for x in state])
    for name, a, b in zip("Szm", *grads, strict=True):
        assert rel_err(a, b) <= 1e-4, f"d{name}: {rel_err(a, b):.2e}"


@pytest.mark.parametrize(
    "B,H,T", [pytest.param(2, 2, 1, marks=SLOW), (2, 2, 37), pytest.param(2, 2, 128, marks=SLOW), (1, 2, 1100)]
)
def test_bidirectional_outputs_and_grads_float32(B, H, T):
    """T = 1100 spans three reduction programs (512 tokens each) merged by the combine kernel."""
    q, k, v = make_qkv(B, H, T, 16, 16)
    assert_matches_reference(latte_bidirectional_triton, latte_bidirectional_reference, q, k, v, 1e-4)


def test_bidirectional_odd_widths_padding_and_strided_inputs():
    B, H, T, L, Dh = 3, 2, 45, 5, 7
    q, k, v = (x.transpose(1, 2).contiguous().transpose(1, 2) for x in make_qkv(B, H, T, L, Dh, seed=8))
    assert not q.is_contiguous()
    mask = padding_mask(B, T)
    mask[2] = False  # a row with no real token at all
    bidir = partial(latte_bidirectional_triton, mask=mask)
    reference = partial(latte_bidirectional_reference, mask=mask.cpu())
    assert_matches_reference(bidir, reference, q, k, v, 1e-4)
    poisoned = [poison_padding(x, mask) for x in (q, k, v)]
    y, dq, dk, dv = outputs_and_grads(bidir, *poisoned, torch.ones_like(v))
    for name, x in (("y", y), ("dq", dq), ("dk", dk), ("dv", dv)):
        assert torch.isfinite(x).all() and (x.masked_select(~mask[:, None, :, None]) == 0).all(), name


@pytest.mark.parametrize("dtype", [torch.bfloat16, pytest.param(torch.float16, marks=SLOW)])
@pytest.mark.parametrize(
    "kernel,reference",
    [
        (partial(latte_causal_triton, chunk_size=32), masked_reference(latte_causal_reference)),
        (latte_bidirectional_triton, latte_bidirectional_reference),
    ],
    ids=["causal", "bidirectional"],
)
def test_half_precision_within_3e_3(kernel, reference, dtype):
    """Half inputs, float32 accumulation; padding reads NEG after the float32 conversion (not -inf)."""
    q, k, v = make_qkv(2, 1, 64, 16, 16, dtype=dtype, seed=7)
    mask = padding_mask(2, 64)
    assert_matches_reference(partial(kernel, mask=mask), partial(reference, mask=mask.cpu()), q, k, v, 3e-3)


@pytest.mark.parametrize("causal", [pytest.param(True, marks=SLOW), False])
def test_public_api_and_encoder_run_the_kernels(causal):
    """``backend="triton"`` reaches the kernels through latte_causal / latte_bidirectional and the
    encoder config; outputs and parameter gradients match the torch backend."""
    q, k, v = make_qkv(2, 2, 40, 16, 16, seed=10)
    fn = latte_causal if causal else latte_bidirectional
    direct = latte_causal_triton if causal else latte_bidirectional_triton
    assert torch.equal(fn(q, k, v, backend="triton"), direct(q, k, v))
    assert rel_err(fn(q, k, v, backend="triton"), fn(q, k, v, backend="torch")) <= 1e-5
    results = []
    for backend in ("torch", "triton"):
        torch.manual_seed(0)
        cfg = LatteConfig(dim=32, depth=1, heads=2, latents=16, causal=causal, chunk_size=16, attention_backend=backend)
        encoder = LatteEncoder(cfg).to(DEVICE)
        x, w = torch.randn(2, 2, 40, 32, generator=torch.Generator().manual_seed(1)).to(DEVICE)
        y = encoder(x, padding_mask(2, 40))
        (y * w).sum().backward()  # a random projection (sum of squares of a normed output cancels)
        results.append((y.detach(), [p.grad for p in encoder.parameters()]))
    (y_torch, g_torch), (y_triton, g_triton) = results
    assert rel_err(y_triton, y_torch) <= 1e-4
    for a, b in zip(g_triton, g_torch, strict=True):
        assert rel_err(a, b) <= 1e-4


@SLOW
def test_bench_worker_measures_the_triton_methods():
    """``latte-vt bench attention``'s worker runs and times the Triton contestants (CUDA events on a GPU)."""
    spec = {
        "device": DEVICE, "dtype": "float32", "batch": 1, "heads": 1, "latents": 16, "head_dim": 16,
        "min_reps": 1, "budget_s": 0.01,
        "cases": [
            {"method": "latte_causal_triton", "mode": "forward_backward", "seq_len": 40},
            {"method": "latte_bidirectional_triton", "mode": "forward_backward", "seq_len": 40},
        ],
    }  # fmt: skip
    for result in run_cases(spec):
        assert "error" not in result and result["median_s"] > 0 and result["samples"] >= 1, result

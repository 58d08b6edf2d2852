"""The Triton Latte kernels on a CUDA device: real sizes against a float64 reference, backend choice,
memory linear in T, and the small-size checks of ``triton_checks.py`` compiled for the GPU.

Run with ``pytest -m gpu`` (``scripts/gpu_check.sh`` does, with the benchmark).
"""

import importlib.util
import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
import torch

from latte_vt.attention import latte_bidirectional, latte_causal
from latte_vt.attention.backend import resolve_backend
from latte_vt.backbone import LatteConfig, LatteEncoder

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
    pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="needs triton"),
]
CHECKS = Path(__file__).with_name("triton_checks.py")


def make_qkv(B, H, T, L, Dh, dtype, seed=0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    q = torch.randn(B, H, T, L, generator=g, device="cuda", dtype=torch.float64) * 3
    k = (torch.rand(B, H, T, L, generator=g, device="cuda", dtype=torch.float64) * 2 - 1) * 60
    v = torch.randn(B, H, T, Dh, generator=g, device="cuda", dtype=torch.float64)
    return q.to(dtype), k.to(dtype), v.to(dtype)


def outputs_and_grads(fn, q, k, v, dy):
    q, k, v = (x.detach().clone().requires_grad_() for x in (q, k, v))
    y = fn(q, k, v)
    y.backward(dy)
    return y.detach(), q.grad, k.grad, v.grad


@pytest.mark.parametrize("dtype,tol", [(torch.bfloat16, 3e-3), (torch.float32, 1e-4)])
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "bidirectional"])
def test_real_size_matches_float64_reference(causal, dtype, tol):
    """B=2, H=8, T=16384, L=64, Dh=64, key logits +-60, second row 9000 real tokens then padding."""
    B, H, T, L, Dh = 2, 8, 16384, 64, 64
    q, k, v = make_qkv(B, H, T, L, Dh, dtype)
    mask = torch.ones(B, T, dtype=torch.bool, device="cuda")
    mask[1, 9000:] = False
    fn = latte_causal if causal else latte_bidirectional
    dy = torch.randn(B, H, T, Dh, device="cuda", dtype=torch.float64)
    got = outputs_and_grads(partial(fn, mask=mask, backend="triton"), q, k, v, dy.to(dtype))
    want = outputs_and_grads(partial(fn, mask=mask, backend="torch"), *(x.double() for x in (q, k, v)), dy)
    for name, a, b in zip(("y", "dq", "dk", "dv"), got, want, strict=True):
        assert a.dtype == dtype and torch.isfinite(a).all(), name
        err = ((a.double() - b).abs().max() / b.abs().max()).item()
        assert err <= tol, f"{name}: relative error {err:.2e} > {tol:.0e}"


def test_auto_picks_triton_on_cuda(monkeypatch):
    import latte_vt.attention.triton.autograd as triton_autograd

    q, k, v = make_qkv(2, 2, 100, 16, 16, torch.bfloat16)
    assert resolve_backend("auto", q, v) == "triton"
    assert resolve_backend("auto", q.double(), v.double()) == "torch"
    calls = []
    for name in ("latte_causal_triton", "latte_bidirectional_triton"):
        real = getattr(triton_autograd, name)
        monkeypatch.setattr(
            triton_autograd, name, lambda *a, _real=real, _n=name, **kw: calls.append(_n) or _real(*a, **kw)
        )
    latte_causal(q, k, v)
    latte_bidirectional(q, k, v)
    for causal in (True, False):
        LatteEncoder(LatteConfig(dim=32, depth=1, heads=2, latents=16, causal=causal)).cuda()(
            torch.randn(2, 50, 32).cuda()
        )
    assert calls == ["latte_causal_triton", "latte_bidirectional_triton"] * 2


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "bidirectional"])
def test_peak_memory_is_linear_in_length(causal):
    fn = partial(latte_causal if causal else latte_bidirectional, backend="triton")

    def peak(T):
        q, k, v = (x.requires_grad_() for x in make_qkv(2, 8, T, 64, 64, torch.bfloat16))
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn(q, k, v).sum().backward()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base

    peak(4096)  # compile outside the measurement
    small, large = peak(8192), peak(32768)
    assert large <= 4.5 * small, f"peak {large / 2**20:.0f} MiB at 32k vs {small / 2**20:.0f} MiB at 8k"


def test_small_size_checks_compiled_for_the_gpu():
    """Every check of ``triton_checks.py`` (slow ones too), compiled for this GPU instead of interpreted."""
    env = {key: value for key, value in os.environ.items() if key != "TRITON_INTERPRET"}
    cmd = [sys.executable, "-m", "pytest", str(CHECKS), "-v", "-x", "-p", "no:cacheprovider", "-m", "not gpu"]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=150)
    except subprocess.TimeoutExpired as exc:
        partial_output = (exc.stdout or b"").decode(errors="replace")  # bytes, even with text=True
        pytest.fail(f"the checks ran past 150 s (kernel compilation?):\n{partial_output[-6000:]}")
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    assert proc.returncode == 0 and "skipped" not in summary, f"{proc.stdout[-8000:]}\n{proc.stderr[-2000:]}"

"""Triton Latte kernels against the float64 references, at small sizes.

Not collected by a plain ``pytest`` run (the file name does not start with ``test_``): Triton has
to be imported with ``TRITON_INTERPRET=1`` to run kernels on CPU tensors, and that must not leak
into other tests.  ``test_triton_interpreter.py`` runs this file in a fresh interpreter process;
``test_triton_gpu.py`` runs it on CUDA.  By hand:

    TRITON_INTERPRET=1 pytest tests/attention/triton_checks.py      # CPU, the Triton interpreter
    pytest tests/attention/triton_checks.py -m "not slow or slow"   # on a CUDA machine
"""

import os

import pytest
import torch

from latte_vt.attention import latte_causal_reference
from latte_vt.attention.triton.causal_forward import causal_forward

INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"
DEVICE = "cpu" if INTERPRETED else "cuda"
if not INTERPRETED and not torch.cuda.is_available():
    pytest.skip("needs CUDA, or TRITON_INTERPRET=1 set before triton is imported", allow_module_level=True)

SPREAD = 60.0  # key logits in [-60, 60]


def make_qkv(B, H, T, L, Dh, spread=SPREAD, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, H, T, L, generator=g, dtype=torch.float64) * 3
    k = (torch.rand(B, H, T, L, generator=g, dtype=torch.float64) * 2 - 1) * spread
    v = torch.randn(B, H, T, Dh, generator=g, dtype=torch.float64)
    return tuple(x.to(DEVICE, dtype) for x in (q, k, v))


def rel_err(y, ref):
    """max |y - ref| / max |ref| (absolute when the reference is all zeros)."""
    y, ref = y.double().cpu(), ref.double().cpu()
    return ((y - ref).abs().max() / ref.abs().max().clamp_min(1.0 if ref.abs().max() == 0 else 1e-30)).item()


@pytest.mark.parametrize("T,chunk", [(1, 16), (37, 16), (128, 32)])
def test_causal_forward_kernels_match_reference(T, chunk):
    B, H, L, Dh = 2, 2, 16, 16
    q, k, v = make_qkv(B, H, T, L, Dh)
    S0 = torch.zeros(B, H, L, Dh, device=DEVICE)
    la0 = torch.full((B, H, L), -1e30, device=DEVICE)
    out = causal_forward(q, k, v, None, S0, la0, chunk)
    assert out.y.shape == v.shape and out.y.dtype == torch.float32
    assert rel_err(out.y, latte_causal_reference(q, k, v)) <= 1e-4
    log_alpha = torch.logcumsumexp(k.double(), dim=2).reshape(B * H, T, L)  # (B*H, T, L)
    assert (out.la.double().cpu() - log_alpha.cpu()).abs().max().item() <= 1e-4

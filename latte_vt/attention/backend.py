"""Which implementation runs a Latte call: plain torch ops or the fused Triton kernels.

``"auto"`` picks Triton for float32/bfloat16/float16 CUDA tensors when ``triton`` can be imported
and nothing is being traced or exported; everything else (CPU, float64, ``torch.export``,
``torch.onnx.export``, TorchScript, ``torch.compile``) stays on plain torch ops.  ``"triton"`` asks
for the kernels and says clearly why when they cannot run.
"""

from __future__ import annotations

import importlib.util
import os
from functools import cache

import torch
from torch import Tensor

BACKENDS = ("auto", "torch", "triton")
TRITON_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
#: Largest latents-per-head and head width the kernels take (one register tile per program).
TRITON_MAX_WIDTH = 128
TRITON_HINT = 'pip install "latte-vt[gpu]" (the CUDA builds of torch on Linux already ship triton)'


@cache
def triton_importable() -> bool:
    """True when the ``triton`` package is installed (it is not imported here)."""
    return importlib.util.find_spec("triton") is not None


def triton_interpreting() -> bool:
    """True when the Triton interpreter is on (``TRITON_INTERPRET=1``, read when triton is imported)."""
    return os.environ.get("TRITON_INTERPRET") == "1"


def tracing() -> bool:
    """True while a graph is being captured: torch.export / ONNX export, torch.compile, TorchScript."""
    return (
        torch.compiler.is_exporting()
        or torch.compiler.is_compiling()
        or torch.onnx.is_in_onnx_export()
        or torch.jit.is_tracing()
        or torch.jit.is_scripting()
    )


def _triton_blocker(q: Tensor, v: Tensor) -> str | None:
    """Why the (installed) Triton kernels cannot run on these inputs, or None when they can."""
    if q.dtype not in TRITON_DTYPES:
        return f"the Triton kernels take float32/bfloat16/float16, got {q.dtype}"
    B, H, T, L = q.shape
    chunk_states = B * H * (T // 16 + 1) * L * v.shape[-1]  # float32 states at the smallest chunk
    if max(q.numel(), v.numel(), chunk_states) >= 2**31:
        return "the Triton kernels index with 32-bit offsets: inputs and chunk states need < 2^31 elements"
    if max(q.shape[-1], v.shape[-1]) > TRITON_MAX_WIDTH:
        return f"the Triton kernels take L, Dh <= {TRITON_MAX_WIDTH}, got L={q.shape[-1]}, Dh={v.shape[-1]}"
    if tracing():
        return "a graph is being traced or exported (torch.export, ONNX, torch.compile, TorchScript)"
    if q.device.type == "cpu" and not triton_interpreting():
        return (
            "CPU tensors run Triton kernels only under the Triton interpreter "
            "(TRITON_INTERPRET=1 set before triton is imported)"
        )
    if q.device.type not in ("cpu", "cuda"):
        return f"the Triton kernels run on CUDA tensors, got {q.device.type}"
    return None


def resolve_backend(backend: str, q: Tensor, v: Tensor) -> str:
    """``"torch"`` or ``"triton"`` for a call with latent logits q (..., L) and values v (..., Dh).

    Raises ValueError for an unknown name and, for ``"triton"``, ImportError without triton and
    ValueError when the kernels cannot run on these tensors here.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "torch":
        return "torch"
    if backend == "auto":
        return "triton" if q.is_cuda and triton_importable() and _triton_blocker(q, v) is None else "torch"
    if not triton_importable():
        raise ImportError(f"backend='triton' needs triton: {TRITON_HINT}")
    blocker = _triton_blocker(q, v)
    if blocker is not None:
        raise ValueError(f"backend='triton' cannot run: {blocker}; use backend='torch' or 'auto'")
    return "triton"

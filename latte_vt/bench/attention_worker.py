"""Worker process for ``latte-vt bench attention``: a list of (method, mode, T) cases -> one JSON line.

The parent sends one case per worker on CPU (the resident-set peak needs a fresh process) and one
method's cases per worker on CUDA (``max_memory_allocated`` is reset per case).
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
from collections.abc import Callable

import torch
import torch.nn.functional as F

from latte_vt.attention import latte_bidirectional, latte_causal
from latte_vt.bench.measure import peak_memory_of, summarize, time_fn

#: fla (flash-linear-attention) baselines: (module, function); inputs (B, T, H, D), gla with a log-decay.
FLA = {
    "fla_chunk_gla": ("fla.ops.gla", "chunk_gla"),
    "fla_chunk_linear_attn": ("fla.ops.linear_attn", "chunk_linear_attn"),
}
FLA_HINT = "fla is not installed (pip install flash-linear-attention)"

METHODS: dict[str, Callable[..., torch.Tensor]] = {
    "latte_causal": lambda q, k, v: latte_causal(q, k, v),
    "latte_bidirectional": lambda q, k, v: latte_bidirectional(q, k, v),
    "latte_causal_triton": lambda q, k, v: latte_causal(q, k, v, backend="triton"),
    "latte_causal_torch": lambda q, k, v: latte_causal(q, k, v, backend="torch"),
    "latte_bidirectional_triton": lambda q, k, v: latte_bidirectional(q, k, v, backend="triton"),
    "latte_bidirectional_torch": lambda q, k, v: latte_bidirectional(q, k, v, backend="torch"),
    "sdpa_causal": lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
    "sdpa_full": lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
}


def fla_method(method: str) -> Callable[..., torch.Tensor]:
    """The fla function for ``method``, called on (B, T, H, D) tensors; ModuleNotFoundError without fla."""
    module, name = FLA[method]
    fn = getattr(importlib.import_module(module), name)
    layout = {"head_first": False} if "head_first" in inspect.signature(fn).parameters else {}

    def call(*tensors: torch.Tensor) -> torch.Tensor:
        out = fn(*tensors, **layout)
        return out[0] if isinstance(out, tuple) else out

    return call


def make_inputs(spec: dict, case: dict) -> list[torch.Tensor]:
    """Seeded inputs: Latte q, k (B, H, T, L), v (B, H, T, Dh); SDPA q, k, v (B, H, T, Dh);
    fla q, k, v (B, T, H, Dh) and, for gla, a log-decay g (B, T, H, Dh)."""
    device, dtype = spec["device"], getattr(torch, spec["dtype"])
    B, H, T, Dh = spec["batch"], spec["heads"], case["seq_len"], spec["head_dim"]
    method = case["method"]
    g = torch.Generator(device="cpu").manual_seed(0)
    if method.startswith("fla"):
        shapes = [(B, T, H, Dh)] * (4 if method == "fla_chunk_gla" else 3)
    else:
        width = spec["latents"] if method.startswith("latte") else Dh
        shapes = [(B, H, T, width), (B, H, T, width), (B, H, T, Dh)]
    tensors = [torch.randn(shape, generator=g) for shape in shapes]
    if method == "fla_chunk_gla":
        tensors[3] = F.logsigmoid(tensors[3]) / 16  # log-decay <= 0, as in fla's own benchmarks
    return [x.to(device, dtype) for x in tensors]


def run_case(spec: dict, case: dict) -> dict:
    """Measure peak memory on the first (warm-up) run, then time; errors are reported, not raised."""
    try:
        fn = fla_method(case["method"]) if case["method"] in FLA else METHODS[case["method"]]
    except ModuleNotFoundError:
        return {"skipped": FLA_HINT}
    inputs = make_inputs(spec, case)
    backward = case["mode"] == "forward_backward"
    if backward:
        for x in inputs:
            x.requires_grad_()

    def call() -> None:
        if backward:
            fn(*inputs).sum().backward()
            for x in inputs:
                x.grad = None
        else:
            with torch.no_grad():
                fn(*inputs)

    try:
        first, peak = peak_memory_of(call, spec["device"])
        times = time_fn(call, spec["device"], first, spec["min_reps"], spec["budget_s"])
    except Exception as exc:  # one failing case (out of memory, a kernel that does not compile) is a result
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"}
    return {**summarize(times), "peak_bytes": peak, "first_s": first}


def run_cases(spec: dict) -> list[dict]:
    """Every case in ``spec["cases"]``, freeing the device memory between them."""
    results = []
    for case in spec["cases"]:
        results.append({**case, **run_case(spec, case)})
        if spec["device"].startswith("cuda"):
            torch.cuda.empty_cache()
    return results


if __name__ == "__main__":
    print(json.dumps({"results": run_cases(json.loads(sys.argv[1]))}))

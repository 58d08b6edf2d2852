"""Worker process for ``latte-vt bench attention``: one (method, mode, T) case -> one JSON line."""

from __future__ import annotations

import json
import sys

import torch
import torch.nn.functional as F

from latte_vt.attention import latte_bidirectional, latte_causal
from latte_vt.bench.measure import peak_memory_of, summarize, time_fn

METHODS = {
    "latte_causal": lambda q, k, v: latte_causal(q, k, v),
    "latte_bidirectional": lambda q, k, v: latte_bidirectional(q, k, v),
    "sdpa_causal": lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
    "sdpa_full": lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
}


def run_case(spec: dict) -> dict:
    """Build seeded inputs, measure peak memory on the first (warm-up) run, then time."""
    device, dtype = spec["device"], getattr(torch, spec["dtype"])
    B, H, T = spec["batch"], spec["heads"], spec["seq_len"]
    width = spec["latents"] if spec["method"].startswith("latte") else spec["head_dim"]
    g = torch.Generator(device="cpu").manual_seed(0)
    q = torch.randn(B, H, T, width, generator=g).to(device, dtype)
    k = torch.randn(B, H, T, width, generator=g).to(device, dtype)
    v = torch.randn(B, H, T, spec["head_dim"], generator=g).to(device, dtype)
    fn = METHODS[spec["method"]]
    backward = spec["mode"] == "forward_backward"
    if backward:
        for x in (q, k, v):
            x.requires_grad_()

    def call() -> None:
        if backward:
            fn(q, k, v).sum().backward()
            for x in (q, k, v):
                x.grad = None
        else:
            with torch.no_grad():
                fn(q, k, v)

    first, peak = peak_memory_of(call, device)
    times = time_fn(call, device, first, spec["min_reps"], spec["budget_s"])
    return {**summarize(times), "peak_bytes": peak, "first_s": first}


if __name__ == "__main__":
    print(json.dumps(run_case(json.loads(sys.argv[1]))))

"""Worker process for ``latte-vt bench video`` and ``long-video``: one (mixer, tokens[, mode]) encoder case -> one
JSON line. ``mode`` is ``forward`` (default, no autograd) or ``forward_backward`` (the gradient of every weight)."""

from __future__ import annotations

import json
import sys

import torch

from latte_vt.backbone import LatteConfig, LatteEncoder
from latte_vt.bench.measure import peak_memory_of, summarize, time_fn


def run_case(spec: dict) -> dict:
    """Seeded encoder and tokens; peak memory on the first (warm-up) forward, then timed forwards."""
    torch.manual_seed(spec["seed"])
    cfg = LatteConfig(spec["dim"], spec["depth"], spec["heads"], spec["latents"], mixer=spec["mixer"], pooling="mean")
    encoder = LatteEncoder(cfg).eval()
    tokens = torch.randn(1, spec["tokens"], spec["dim"])  # (1, N, D)

    backward = spec.get("mode", "forward") == "forward_backward"

    def call() -> None:
        if backward:
            encoder(tokens).sum().backward()
            encoder.zero_grad(set_to_none=True)
        else:
            with torch.no_grad():
                encoder(tokens)

    try:
        first, peak = peak_memory_of(call, "cpu")
        times = time_fn(call, "cpu", first, 3, spec["budget_s"])
    except RuntimeError as exc:  # out of memory is a result
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"}
    return {**summarize(times), "peak_bytes": peak, "first_s": first}


if __name__ == "__main__":
    print(json.dumps(run_case(json.loads(sys.argv[1]))))

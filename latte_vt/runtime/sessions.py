"""The one way every bundle graph is opened with onnxruntime (CPU; torch-free).

onnxruntime's ``SkipLayerNormFusion`` (residual add + LayerNormalization -> one ``SkipLayerNormalization``) is
turned off: at the models' widths (64-128) its CPU kernel ran 6x slower than the Add and LayerNormalization it
replaces (onnxruntime 1.32, one thread: 5.3 ms vs 0.8 ms on (32, 512, 64)), 13 % of the full-history
transaction graph's kernel time. Every other graph optimisation stays on (``ORT_ENABLE_ALL``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: onnxruntime graph optimisers that make these graphs slower (see the module note).
DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)


def cpu_session(path: Path, options: Any = None) -> Any:
    """An onnxruntime InferenceSession for the graph at ``path`` on the CPU; ``options`` an
    ``onnxruntime.SessionOptions`` (default: onnxruntime's)."""
    import onnxruntime as ort

    return ort.InferenceSession(
        str(path),
        options if options is not None else ort.SessionOptions(),
        providers=["CPUExecutionProvider"],
        disabled_optimizers=list(DISABLED_OPTIMIZERS),
    )

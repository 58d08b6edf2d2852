"""Torch-free inference on exported bundles: numpy + onnxruntime (+ polars for events, decord for video).

Nothing in this package imports torch, so it runs on edge boxes and in scoring services that only
have onnxruntime.  ``Bundle`` verifies a bundle (files, hashes, opset) before anything runs.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Bundle": "bundle",
    "BundleError": "bundle",
    "TransactionScorer": "transactions",
    "StreamingScorer": "streaming",
    "VideoClassifier": "video",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)

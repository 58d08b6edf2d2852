"""Torch-free inference on exported bundles: numpy + onnxruntime (+ polars for events, decord for video).

Nothing in this package imports torch, so it runs on edge boxes and in scoring services that only
have onnxruntime.  ``Bundle`` verifies a bundle (files, hashes, opset) before anything runs.
"""

from __future__ import annotations

from latte_vt.lazy import lazy_getattr

_EXPORTS = {
    "Bundle": "bundle",
    "BundleError": "bundle",
    "TransactionScorer": "transactions",
    "StreamingScorer": "streaming",
    "VideoClassifier": "video",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)

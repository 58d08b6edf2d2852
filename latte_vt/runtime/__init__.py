"""Torch-free inference on exported bundles: numpy + onnxruntime (+ polars for events, decord for video).

Nothing in this package imports torch, so it runs on edge boxes and in scoring services that only
have onnxruntime.  ``Bundle`` verifies a bundle (files, hashes, opset) before anything runs.
``VideoClassifier`` and ``TransactionScorer`` are the prediction layer's classes (``latte_vt.predict``):
given a bundle they run with onnxruntime only (given a checkpoint, the same classes use torch).
"""

from __future__ import annotations

from latte_vt.lazy import lazy_getattr

_EXPORTS = {
    "Bundle": "bundle",
    "BundleError": "bundle",
    "ClipPrediction": "latte_vt.predict.results",
    "FootageSampling": "latte_vt.predict.clips",
    "TransactionScorer": "latte_vt.predict.transactions",
    "StreamingScorer": "streaming",
    "VideoClassifier": "latte_vt.predict.video",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)

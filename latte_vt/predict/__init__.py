"""One prediction layer over a checkpoint (torch) or a bundle (onnxruntime), the same interface for both.

* ``VideoClassifier(model)``: top-k labels per file or frame array (``ClipPrediction``); long files
  sampled across their whole length with ``sampling=FootageSampling(...)``.
* ``TransactionScorer(model)``: a score for every accepted event of CSV/Parquet logs.

``model`` is a bundle directory (or ``Bundle``) — run with onnxruntime, torch never imported — or a
``.ckpt`` file from ``latte-vt fit`` — run with torch. Both execute the same preprocessing spec
(video: ``ClipSpec``; transactions: the fitted preprocessor and schema), so one file gets the same
answer either way. ``classify``, ``score``, ``latte-vt run``, the quickstart and the runtime use these.
"""

from __future__ import annotations

from latte_vt.lazy import lazy_getattr

_EXPORTS = {
    "ClipPrediction": "results",
    "FootageSampling": "clips",
    "TransactionScorer": "transactions",
    "VideoClassifier": "video",
    "decode_clips": "clips",
    "decode_footage": "clips",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)

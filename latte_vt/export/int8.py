"""Dynamic int8 (MatMul weights) judged by the task metric on validation data, not per element.

The quantised graph ships in the bundle (``model.int8.onnx``) only when the metric drops by at most
``MAX_DROP_POINTS``; either way the measurement is recorded in the manifest.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

MAX_DROP_POINTS = 1.0


def quantize(path: Path) -> Path:
    """``model.onnx`` -> ``model.int8.onnx`` (dynamic quantisation of MatMul weights to int8)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = path.with_name(path.stem + ".int8.onnx")
    quantize_dynamic(str(path), str(out), op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8)
    return out


def judge(root: Path, metric_name: str, evaluate: Callable[[Path], tuple[float, int]]) -> dict:
    """Quantise ``root/model.onnx``, evaluate both graphs with ``evaluate(graph) -> (metric, n)``; keep or drop."""
    int8_path = quantize(root / "model.onnx")
    fp32, n = evaluate(root / "model.onnx")
    int8, _ = evaluate(int8_path)
    drop = 100.0 * (fp32 - int8)
    accepted = bool(np.isfinite(drop) and drop <= MAX_DROP_POINTS)
    if not accepted:
        int8_path.unlink()
    return {
        "metric": metric_name,
        "fp32": fp32,
        "int8": int8,
        "drop_points": drop,
        "max_drop_points": MAX_DROP_POINTS,
        "evaluated_on": n,
        "accepted": accepted,
        "file": "model.int8.onnx" if accepted else None,
    }


def transaction_evaluator(root: Path, events) -> Callable[[Path], tuple[float, int]]:
    """AP over the labelled validation events (canonical frame), scored through a graph file."""
    from sklearn.metrics import average_precision_score

    from latte_vt.data.transactions.preprocess import FittedPreprocessor
    from latte_vt.runtime.transactions import score_encoded

    pre = FittedPreprocessor.load(root / "preprocessor.json")
    encoded = pre.transform(events)
    cat = encoded.select(pre.cat_columns).to_numpy().astype(np.int64)
    num = encoded.select(pre.num_columns).to_numpy().astype(np.float32)
    lengths = encoded.group_by("entity", maintain_order=True).len()["len"].to_numpy()
    labels = encoded["label"].to_numpy()
    known = ~np.isnan(labels.astype(np.float64))

    def evaluate(graph: Path) -> tuple[float, int]:
        import onnxruntime as ort

        session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
        logits = score_encoded(session, cat, num, lengths)
        return float(average_precision_score(labels[known].astype(int), logits[known])), int(known.sum())

    return evaluate


def video_evaluator(
    spec: dict, classes: list[str], samples: list[tuple[str, str]]
) -> Callable[[Path], tuple[float, int]]:
    """Top-1 accuracy over (path, label) validation clips, decoded and cropped as the runtime does."""
    from latte_vt.runtime.video import clip_batch

    index = {c: i for i, c in enumerate(classes)}
    clips = []
    for path, label in samples:
        try:
            clips.append((clip_batch(path, spec), index[label]))
        except Exception:  # noqa: BLE001 - unreadable clips are left out of the measurement
            continue

    def evaluate(graph: Path) -> tuple[float, int]:
        import onnxruntime as ort

        session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
        hits = [int(session.run(None, {"frames": c})[0].mean(axis=0).argmax() == y) for c, y in clips]
        return (float(np.mean(hits)) if hits else float("nan")), len(hits)

    return evaluate

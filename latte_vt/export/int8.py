"""Dynamic int8 (MatMul weights) judged by the task metric on validation data, not per element.

The quantised graph ships in the bundle (``model.int8.onnx``) only when the metric drops by at most
``MAX_DROP_POINTS``. It is "not judged" (and not shipped) when the metric is undefined on the validation
data or the data is too small to resolve that tolerance. Either way the manifest records why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from latte_vt.runtime.sessions import cpu_session

if TYPE_CHECKING:
    import polars as pl

    from latte_vt.data.video.spec import ClipSpec

MAX_DROP_POINTS = 1.0
# A positive's share of average precision is at most 1/P (its precision, averaged over P positives), and a
# clip's share of top-1 is exactly 1/N. Below 100 of them one event or clip ranked differently moves the
# metric by more than the 1-point tolerance, so the gate would judge single-sample noise, not the graph.
MIN_POSITIVES = 100
MIN_CLIPS = 100


@dataclass
class Measurement:
    """The validation data run through the fp32 and int8 graphs (or why it was not)."""

    metric: str
    size: int  # samples the metric is computed on
    values: tuple[float, float] = (float("nan"), float("nan"))  # (fp32, int8)
    not_judged: str | None = None  # why the metric cannot judge the tolerance on this data
    skipped: list[dict[str, str]] = field(default_factory=list)  # samples left out: path and reason


Evaluator = Callable[[Path, Path], Measurement]


def quantize(path: Path) -> Path:
    """``model.onnx`` -> ``model.int8.onnx`` (dynamic quantisation of MatMul weights to int8)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = path.with_name(path.stem + ".int8.onnx")
    quantize_dynamic(str(path), str(out), op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8)
    return out


def judge(root: Path, evaluate: Evaluator) -> dict:
    """Quantise ``root/model.onnx`` and measure both graphs; keep ``model.int8.onnx`` only if accepted.

    The manifest entry: ``status`` ("accepted", "rejected" or "not judged"), the metric, the samples it was
    evaluated on, the skipped samples, and the fp32/int8 figures and drop when judged; ``reason`` unless accepted.
    """
    int8_path = quantize(root / "model.onnx")
    m = evaluate(root / "model.onnx", int8_path)
    figures: dict = {"metric": m.metric, "evaluated_on": m.size, "max_drop_points": MAX_DROP_POINTS}
    if m.not_judged is not None:
        status, figures["reason"] = "not judged", m.not_judged
    else:
        fp32, q8 = m.values
        drop = 100.0 * (fp32 - q8)
        figures |= {"fp32": fp32, "int8": q8, "drop_points": drop}
        status = "accepted" if np.isfinite(drop) and drop <= MAX_DROP_POINTS else "rejected"
        if status == "rejected":
            figures["reason"] = f"{m.metric} dropped {drop:.2f} points; at most {MAX_DROP_POINTS} is accepted"
    if status != "accepted":
        int8_path.unlink()
    return {
        "status": status,
        **figures,
        "skipped": len(m.skipped),
        "skipped_samples": m.skipped,
        "file": int8_path.name if status == "accepted" else None,
    }


def transaction_evaluator(root: Path, events: pl.DataFrame) -> Evaluator:
    """Average precision over the labelled validation events (canonical frame), scored through each graph
    the way bundles score (every entity's history in one pass, batched by length)."""
    from sklearn.metrics import average_precision_score

    from latte_vt.data.transactions.preprocess import FittedPreprocessor
    from latte_vt.predict.histories import score_histories
    from latte_vt.predict.transactions import encoded_arrays

    pre = FittedPreprocessor.load(root / "preprocessor.json")
    encoded = pre.transform(events)
    cat, num, lengths = encoded_arrays(encoded, pre)
    labels = encoded["label"].to_numpy().astype(np.float64)
    known = ~np.isnan(labels)  # unlabelled events are scored (they are history) but not measured
    y = labels[known].astype(int)
    n, positives = len(y), int(y.sum())
    negatives = n - positives

    def average_precision(graph: Path) -> float:
        session = cpu_session(graph)

        def logits(c: np.ndarray, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
            return session.run(None, {"cat": c, "num": x, "mask": mask})[0]  # (B, T)

        return float(average_precision_score(y, score_histories(logits, cat, num, lengths)[known]))

    def evaluate(fp32: Path, int8: Path) -> Measurement:
        m = Measurement("average_precision", n)
        if positives == 0 or negatives == 0:
            m.not_judged = (
                f"average precision is undefined: {positives} positive and {negatives} negative labels "
                f"among the {n} labelled validation events"
            )
        elif positives < MIN_POSITIVES:
            m.not_judged = (
                f"too few positives: {positives} among the {n} labelled validation events; judging a "
                f"{MAX_DROP_POINTS}-point drop in average precision needs at least {MIN_POSITIVES}"
            )
        else:
            m.values = (average_precision(fp32), average_precision(int8))
        return m

    return evaluate


def video_evaluator(spec: ClipSpec, classes: list[str], samples: list[tuple[str, str]]) -> Evaluator:
    """Top-1 accuracy over (path, label) validation clips, decoded and classified as bundles do (class
    probabilities averaged over the spec's views); clips that cannot be used are skipped with their reason."""
    from latte_vt.data.video.reader import VideoReadError
    from latte_vt.predict.clips import decode_clips
    from latte_vt.predict.video import softmax

    index = {c: i for i, c in enumerate(classes)}

    def evaluate(fp32: Path, int8: Path) -> Measurement:
        sessions = [cpu_session(fp32), cpu_session(int8)]
        m = Measurement("top1", 0)
        hits = np.zeros(len(sessions))
        for path, label in samples:
            if label not in index:
                m.skipped.append({"path": path, "reason": f"label {label!r} is not one of the model's classes"})
                continue
            try:
                views = decode_clips(path, spec)  # (V, T, H, W, 3) uint8
            except VideoReadError as exc:
                m.skipped.append({"path": path, "reason": exc.reason})
                continue
            for k, session in enumerate(sessions):
                (logits,) = session.run(None, {"frames": views})  # (V, C)
                hits[k] += int(softmax(logits).mean(axis=0).argmax() == index[label])
            m.size += 1
        if m.size == 0:
            m.not_judged = f"top-1 is undefined: none of the {len(samples)} validation clips could be used"
        elif m.size < MIN_CLIPS:
            m.not_judged = (
                f"too few clips: {m.size} usable validation clips; judging a {MAX_DROP_POINTS}-point drop "
                f"in top-1 needs at least {MIN_CLIPS}"
            )
        else:
            m.values = (float(hits[0] / m.size), float(hits[1] / m.size))
        return m

    return evaluate

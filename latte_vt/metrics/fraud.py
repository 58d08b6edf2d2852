"""Rare-event metrics for per-event fraud scores: AP, ROC-AUC, recall at a fixed false-positive rate."""

from __future__ import annotations

import numpy as np


def recall_at_fpr(scores: np.ndarray, labels: np.ndarray, fpr: float) -> float:
    """Share of positives caught when the threshold lets through at most ``fpr`` of the negatives."""
    labels = labels.astype(bool)
    neg, pos = scores[~labels], scores[labels]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    allowed = int(np.floor(fpr * len(neg)))  # negatives we may flag
    neg_sorted = np.sort(neg)[::-1]
    # flag scores strictly above the (allowed+1)-th highest negative: at most `allowed` negatives flagged
    threshold = neg_sorted[allowed] if allowed < len(neg_sorted) else -np.inf
    return float((pos > threshold).mean())


def fraud_metrics(
    scores: np.ndarray, labels: np.ndarray, scenarios: np.ndarray | None = None, fprs: tuple[float, ...] = (0.01, 0.001)
) -> dict[str, float]:
    """AP, ROC-AUC, recall@FPR for each ``fprs`` and, given scenario names per event, recall per scenario
    at the 1 % FPR threshold.  Returns NaN where a metric is undefined (one class only)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(int)
    both = 0 < labels.sum() < len(labels)
    out = {
        "events": float(len(labels)),
        "positives": float(labels.sum()),
        "ap": float(average_precision_score(labels, scores)) if both else float("nan"),
        "roc_auc": float(roc_auc_score(labels, scores)) if both else float("nan"),
    }
    for fpr in fprs:
        out[f"recall_at_{fpr * 100:g}pct_fpr"] = recall_at_fpr(scores, labels, fpr)
    if scenarios is not None and both:
        neg_sorted = np.sort(scores[labels == 0])[::-1]
        threshold = neg_sorted[int(np.floor(0.01 * len(neg_sorted)))]
        for name in np.unique(scenarios[labels == 1]):
            hit = (scenarios == name) & (labels == 1)
            out[f"recall_1pct_fpr/{name}"] = float((scores[hit] > threshold).mean())
    return out

"""A feature set's power to tell classes apart: the synthetic sets' tests show order-free features at chance."""

import numpy as np


def nearest_centroid_loo(groups: list[list[np.ndarray]]) -> float:
    """Leave-one-out accuracy of a nearest-centroid classifier on standardised features (one group per class)."""
    X = np.stack([f for g in groups for f in g])
    y = np.concatenate([np.full(len(g), c) for c, g in enumerate(groups)])
    X = (X - X.mean(0)) / (X.std(0) + 1e-6)
    correct = 0
    for i in range(len(X)):
        rest = np.arange(len(X)) != i
        centroids = [X[rest & (y == c)].mean(0) for c in range(len(groups))]
        correct += int(np.argmin([np.linalg.norm(X[i] - c) for c in centroids]) == y[i])
    return correct / len(X)

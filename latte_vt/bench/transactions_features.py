"""Hand-made rolling features per account (polars) and the gradient-boosted-trees baseline on them.

This is the fraud team's usual model: for each event, from that account's events up to and including
it, counts and amount sums over 1 h / 24 h / 7 d, the amount against the account's running mean,
first-seen flags for merchant / device / region, how familiar the region is, time since the previous
event and since the previous event in another region, hour of day, and the raw fields.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import polars as pl

WINDOWS = ("1h", "24h", "7d")
CATEGORICAL = ("mcc", "channel", "region")


def rolling_features(events: pl.DataFrame) -> pl.DataFrame:
    """Feature columns (float32, plus small-int categorical codes) for a canonical frame sorted by entity then time.

    Every feature of an event uses only that account's events up to and including it.
    """
    import polars as pl

    e, t, amount = pl.col("entity"), pl.col("time"), pl.col("amount")
    n_before = pl.int_range(pl.len()).over("entity").cast(pl.Float64)  # events of the account before this one
    past_mean = (amount.cum_sum().over("entity") - amount) / n_before
    dt = (t - t.shift(1).over("entity")).dt.total_seconds().cast(pl.Float64)
    other_region = pl.col("region") != pl.col("region").shift(1).over("entity")
    feats = [
        amount.alias("amount"),
        amount.abs().log1p().alias("log_amount"),
        (amount / past_mean.abs().clip(lower_bound=1.0)).alias("amount_vs_mean"),
        n_before.alias("n_before"),
        dt.log1p().alias("log_dt"),
        pl.when(other_region).then(dt.log1p()).otherwise(None).alias("log_dt_region_change"),
        (t.dt.hour() + t.dt.minute() / 60.0).alias("hour"),
        pl.struct("entity", "merchant_id").is_first_distinct().cast(pl.Float64).alias("new_merchant"),
        pl.struct("entity", "device_id").is_first_distinct().cast(pl.Float64).alias("new_device"),
        pl.struct("entity", "region").is_first_distinct().cast(pl.Float64).alias("new_region"),
        (pl.int_range(pl.len()).over("entity", "region").cast(pl.Float64) / n_before.clip(lower_bound=1.0)).alias(
            "region_share"
        ),
    ]
    one = amount.is_not_null().cast(pl.Float64)
    for w in WINDOWS:
        feats += [
            amount.rolling_sum_by("time", window_size=w).over("entity").alias(f"sum_{w}"),
            one.rolling_sum_by("time", window_size=w).over("entity").alias(f"count_{w}"),
        ]
    codes = [(pl.col(c).cast(pl.String).rank("dense") - 1).cast(pl.Int32).alias(c) for c in CATEGORICAL]
    out = events.select(e, t, *feats, *codes)
    return out.with_columns(pl.exclude("entity", "time", *CATEGORICAL).cast(pl.Float32))


def feature_matrix(features: pl.DataFrame) -> np.ndarray:
    """(N, F) float32 matrix of the feature frame (NaN = missing)."""
    return features.drop("entity", "time").to_numpy().astype(np.float32)


def categorical_mask(features: pl.DataFrame) -> np.ndarray:
    """Which columns of ``feature_matrix`` are categorical codes."""
    return np.array([c in CATEGORICAL for c in features.drop("entity", "time").columns])


def fit_gbdt(x: np.ndarray, y: np.ndarray, categorical: np.ndarray, seed: int = 0, max_iter: int = 300):
    """sklearn ``HistGradientBoostingClassifier`` on the features, early-stopped on a held-out 10 %."""
    try:
        from sklearn.ensemble import HistGradientBoostingClassifier
    except ImportError as exc:
        raise ImportError("the GBDT baseline needs scikit-learn: pip install 'latte-vt[transactions]'") from exc
    model = HistGradientBoostingClassifier(
        max_iter=max_iter,
        learning_rate=0.1,
        max_leaf_nodes=31,
        l2_regularization=1.0,
        categorical_features=categorical,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=30,
        scoring="average_precision",
        random_state=seed,
    )
    return model.fit(x, y)

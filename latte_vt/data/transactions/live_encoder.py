"""One live event -> its model inputs, in plain Python and numpy (no dataframe per event).

``LiveEncoder(preprocessor).encode(event, history)`` gives what ``FittedPreprocessor.transform`` gives the
event in its entity's log: the batch path is polars expressions, this is their one-event form (time
features here, history features in ``EntityHistory.features``); tests encode generated logs both ways and
compare them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np

from latte_vt.data.transactions.history import EntityHistory, signed_log, to_us
from latte_vt.data.transactions.preprocess import UNKNOWN_ID, FittedPreprocessor


def time_features(time: datetime, log_amount: float, prev_time: datetime | None) -> list[float]:
    """``TIME_FEATURES`` of an event (UTC ``time``, the entity's previous event at ``prev_time`` or None)."""
    hour = time.hour + time.minute / 60.0 + time.second / 3600.0  # whole seconds, as polars' dt.second()
    dow = float(time.weekday()) + hour / 24.0
    gap = 0.0 if prev_time is None else math.log1p(max((to_us(time) - to_us(prev_time)) / 1e6, 0.0))
    return [
        log_amount,
        gap,
        math.sin(hour * (2 * math.pi / 24)),
        math.cos(hour * (2 * math.pi / 24)),
        math.sin(dow * (2 * math.pi / 7)),
        math.cos(dow * (2 * math.pi / 7)),
    ]


class LiveEncoder:
    """Encodes live events with a fitted preprocessor's vocabularies and scalers (looked up once, here)."""

    def __init__(self, preprocessor: FittedPreprocessor) -> None:
        self.preprocessor = preprocessor
        self.ids = {
            f: {v: i for i, v in enumerate(preprocessor.vocabularies[f], start=2)} for f in preprocessor.categorical
        }
        self.stats = [(f, *preprocessor.numeric_stats[f]) for f in preprocessor.numeric]

    def encode(
        self, event: Mapping[str, Any], past: EntityHistory | None = None
    ) -> tuple[np.ndarray, np.ndarray, EntityHistory]:
        """One live event (canonical values: time, amount, fields; a missing field = "<null>") and its entity's
        history (None = no events yet) -> cat (n_cat,) int64, num (n_num,) float32, the entity's next history."""
        pre = self.preprocessor
        past = past or pre.new_history()
        time, amount, values, buckets = pre.live_inputs(event)
        log_amount = signed_log(amount)
        num = time_features(time, log_amount, past.last_time)
        if pre.entity_history:
            num += past.features(to_us(time), log_amount, buckets)
        num += [(float(event[f]) - mean) / std for f, mean, std in self.stats]
        cat = [self.ids[f].get(values[f], UNKNOWN_ID) for f in pre.categorical]
        return np.array(cat, dtype=np.int64), np.array(num, dtype=np.float32), past.advance(time, amount, buckets)

"""StreamingScorer's plain-numpy encoding scores events as the polars live path (live_context + encode_rows)
does, one at a time and in micro-batches holding several events of one entity."""

import numpy as np

from latte_vt.data.transactions.live_encoder import HistoryColumns
from latte_vt.runtime.streaming import StreamingScorer


class _PolarsEncoder:
    """The polars live path, in ``LiveEncoder``'s place: one ``EntityHistory`` and one polars frame per event."""

    def __init__(self, preprocessor) -> None:
        self.preprocessor = preprocessor

    def encode_batch(self, events, past, time_us=None):  # reads each event's own time, not time_us
        contexts = [self.preprocessor.live_context(e, past.history(i)) for i, e in enumerate(events)]
        cat, num = self.preprocessor.encode_rows([row for row, _ in contexts])
        fields = len(self.preprocessor.history_fields)
        return cat, num, HistoryColumns.from_histories([after for _, after in contexts], fields)


def test_micro_batches_score_as_the_polars_path_one_at_a_time(transaction_bundle, live_events):
    events = live_events[:300]
    fast = StreamingScorer(transaction_bundle)
    batched = [s for i in range(0, len(events), 64) for s in fast.score_batch(events[i : i + 64])]
    reference = StreamingScorer(transaction_bundle)
    reference.encoder = _PolarsEncoder(reference.preprocessor)
    one_by_one = [reference.score(e) for e in events]
    assert len({e["entity"] for e in events[:64]}) < 64  # a batch holds an entity more than once
    np.testing.assert_allclose(batched, one_by_one, rtol=0, atol=1e-6)
    assert fast.events_applied == reference.events_applied == len(events)

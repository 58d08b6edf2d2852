"""Transaction event data: schema mapping, loading and validation (polars), features, windows.

Typical use::

    from latte_vt.data.transactions import (
        EventWindowDataset, FittedPreprocessor, load_events, load_schema, split_cutoffs,
    )

    schema = load_schema("configs/transactions/schema/synthetic.yaml")
    result = load_events("data/transactions/events.parquet", schema, rejects_path="rejects.parquet")
    val_start, test_start = split_cutoffs(result.events)
    pre = FittedPreprocessor.from_schema(schema).fit(result.events, train_end=val_start)
    encoded = pre.transform(result.events)
    train = EventWindowDataset(encoded, pre.cat_columns, pre.num_columns, window=128, stride=32, end=val_start)

The modules import polars only inside functions (``pip install 'latte-vt[transactions]'``).
"""

from latte_vt.data.transactions.load import resolve_paths, scan_events
from latte_vt.data.transactions.preprocess import FittedPreprocessor
from latte_vt.data.transactions.schema import EventSchema, SchemaError, TimeSpec, load_schema
from latte_vt.data.transactions.validate import BadEventError, ValidatedEvents, ValidationReport, load_events
from latte_vt.data.transactions.windows import (
    EntitySequenceDataset,
    EventWindowDataset,
    assign_split,
    collate_left_pad,
    split_bounds,
    split_cutoffs,
)

__all__ = [
    "BadEventError",
    "EntitySequenceDataset",
    "EventSchema",
    "EventWindowDataset",
    "FittedPreprocessor",
    "SchemaError",
    "TimeSpec",
    "ValidatedEvents",
    "ValidationReport",
    "assign_split",
    "collate_left_pad",
    "load_events",
    "load_schema",
    "resolve_paths",
    "scan_events",
    "split_bounds",
    "split_cutoffs",
]

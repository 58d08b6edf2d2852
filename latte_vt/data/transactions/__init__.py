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

Names are imported on first use: ``preprocess``/``load``/``validate`` need only polars and numpy
(the torch-free runtime uses them); ``windows`` (torch datasets) loads torch.
"""

from __future__ import annotations

from latte_vt.lazy import lazy_getattr

_EXPORTS = {
    "resolve_paths": "load",
    "scan_events": "load",
    "FittedPreprocessor": "preprocess",
    "EventSchema": "schema",
    "SchemaError": "schema",
    "TimeSpec": "schema",
    "load_schema": "schema",
    "BadEventError": "validate",
    "ValidatedEvents": "validate",
    "ValidationReport": "validate",
    "load_events": "validate",
    "EntitySequenceDataset": "windows",
    "EventWindowDataset": "windows",
    "assign_split": "windows",
    "collate_left_pad": "windows",
    "split_bounds": "windows",
    "split_cutoffs": "windows",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)

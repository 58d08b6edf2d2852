"""Fixtures shared across test folders."""

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def transaction_bundle(tmp_path_factory) -> Path:
    """A small causal transaction scorer (untrained, seeded) exported to a bundle, with int8 judged on a
    validation period.  Next to it: ``data/`` (the synthetic log and schema.yaml), ``preprocessor.json``
    and ``weights.pt``."""
    import polars as pl
    import torch
    import yaml

    from latte_vt.backbone import LatteConfig
    from latte_vt.data.synthetic.transactions import TransactionSynthConfig, write_transactions
    from latte_vt.data.transactions import FittedPreprocessor, load_events, load_schema
    from latte_vt.export.bundle import export_transaction_bundle
    from latte_vt.models.transactions import TransactionScoringModel as TorchScorer

    root = tmp_path_factory.mktemp("tx")
    data = write_transactions(root / "data", TransactionSynthConfig(accounts=40, days=20, seed=3), "parquet")
    schema_path = data.parent / "schema.yaml"
    events = load_events(data, load_schema(schema_path)).events
    pre = FittedPreprocessor.from_schema(load_schema(schema_path), min_freq=1).fit(events, events["time"].max())
    pre_path = pre.save(root / "preprocessor.json")
    torch.manual_seed(0)
    model = TorchScorer(
        pre.vocab_sizes,
        len(pre.num_columns),
        LatteConfig(dim=32, depth=2, heads=2, latents=8, local_mix=4, recency=True),
    )
    schema = yaml.safe_load(schema_path.read_text())
    late = events.filter(pl.col("time") >= events["time"].quantile(0.7))  # a validation period
    enc = pre.transform(late.filter(pl.col("entity") == late["entity"][0]))
    real = (
        enc.select(pre.cat_columns).to_numpy()[None].astype(np.int64),
        enc.select(pre.num_columns).to_numpy()[None].astype(np.float32),
        np.ones((1, enc.height), dtype=bool),
    )
    out = export_transaction_bundle(model, pre_path, schema, root / "bundle", int8_events=late, real_inputs=real)
    torch.save(model.state_dict(), root / "weights.pt")
    return out


@pytest.fixture(scope="session")
def live_events(transaction_bundle) -> list[dict]:
    """The log's validated events with canonical field names, in global time order (entities interleaved)."""
    from latte_vt.data.transactions import load_events, load_schema

    data = transaction_bundle.parent / "data"
    frame = load_events(data / "events.parquet", load_schema(data / "schema.yaml")).events
    frame = frame.drop("label", "scenario", "source_file", "source_row").sort("time", "event_id")
    return list(frame.iter_rows(named=True))

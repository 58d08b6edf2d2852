"""Events of the shared transaction bundle's synthetic log, as live scoring receives them."""

import pytest


@pytest.fixture(scope="session")
def live_events(transaction_bundle) -> list[dict]:
    """The log's validated events with canonical field names, in global time order (entities interleaved)."""
    from latte_vt.data.transactions import load_events, load_schema

    data = transaction_bundle.parent / "data"
    frame = load_events(data / "events.parquet", load_schema(data / "schema.yaml")).events
    frame = frame.drop("label", "scenario", "source_file", "source_row").sort("time", "event_id")
    return list(frame.iter_rows(named=True))

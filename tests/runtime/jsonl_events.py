"""Event files for the live-scoring tests: JSON lines in, JSON lines out."""

import json
import sqlite3

import numpy as np


def write_jsonl(events: list[dict], path, extra_lines: dict[int, str] | None = None) -> bytes:
    """Write events as JSON lines (times in ISO 8601); ``extra_lines`` inserts raw lines before the given
    event indices.  Returns the bytes written."""
    extra = extra_lines or {}
    lines = []
    for i, event in enumerate(events):
        if i in extra:
            lines.append(extra[i])
        lines.append(json.dumps({**event, "time": event["time"].isoformat()}))
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(data)
    return data


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def entity_counts(state) -> dict[str, int]:
    """Events applied per entity, as a state file records them."""
    db = sqlite3.connect(state)
    try:
        return dict(db.execute("SELECT entity, event_count FROM entity_state"))
    finally:
        db.close()


def assert_same_scores(got: list[dict], expected: list[dict]) -> None:
    """Same lines, event ids, entities and times; scores equal to 1e-6."""
    assert [{k: v for k, v in r.items() if k != "score"} for r in got] == [
        {k: v for k, v in r.items() if k != "score"} for r in expected
    ]
    assert np.abs(np.array([r["score"] for r in got]) - np.array([r["score"] for r in expected])).max() <= 1e-6


def state_meta(state) -> dict:
    """The checkpoint a state file holds (offsets, events applied)."""
    db = sqlite3.connect(state)
    try:
        return {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM meta")}
    finally:
        db.close()

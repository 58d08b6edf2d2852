"""Live scoring with ``step.onnx``: one event in, one score out, constant state per entity.

State per entity: every layer's (S, z, m) as float32 arrays plus the entity's last event time (for
the time-gap feature).  ``snapshot(path)`` / ``restore(path)`` write and read it as ``.npz`` arrays and
JSON (no pickle).  Stepping an entity's events one by one gives the same scores as ``model.onnx``
over its whole history.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from latte_vt.runtime.bundle import Bundle
from latte_vt.runtime.transactions import load_bundle, sigmoid


class StreamingScorer:
    """``StreamingScorer(bundle).score(event)`` -> probability, using and updating the entity's state.

    Events use the canonical field names (``entity``, ``time``, ``amount`` and the schema's
    categorical/numeric fields).  An event older than its entity's last event is refused with
    ``ValueError`` (scores depend on order; the caller decides what to do with late events).
    """

    def __init__(self, bundle: Bundle | str | Path, threads: int | None = 1) -> None:
        from latte_vt.data.transactions.preprocess import FittedPreprocessor, as_utc

        self._as_utc = as_utc
        self.bundle = load_bundle(bundle, "transactions")
        self.preprocessor = FittedPreprocessor.load(self.bundle.root / "preprocessor.json")
        self.session = self.bundle.session("step", threads)
        step = self.bundle.manifest["graphs"]["step"]
        self.state_inputs = [n for n in step["inputs"] if n.startswith("past_state.")]
        self.state_shapes = {n: step["inputs"][n]["shape"][1:] for n in self.state_inputs}
        self.initial = {n: float(step["initial_state"][n.rsplit(".", 1)[1]]) for n in self.state_inputs}
        self.states: dict[str, list[np.ndarray]] = {}
        self.last_time: dict[str, datetime] = {}

    def _fresh(self) -> list[np.ndarray]:
        return [np.full(self.state_shapes[n], self.initial[n], dtype=np.float32) for n in self.state_inputs]

    def score_batch(self, events: Iterable[Mapping[str, Any]]) -> list[float]:
        """Score a micro-batch; events of one entity are applied in the given order."""
        out: list[float] = []
        pending: list[tuple[Mapping[str, Any], datetime]] = []
        seen: set[str] = set()
        for event in events:
            missing = [k for k in ("entity", "time", "amount") if event.get(k) is None]
            if missing:
                raise ValueError(f"event {dict(event)!r} lacks required field(s) {missing}")
            entity = str(event["entity"])
            if entity in seen:  # an entity's second event must see the first one's state
                out += self._run(pending)
                pending, seen = [], set()
            time = self._as_utc(event["time"])
            last = self.last_time.get(entity)
            if last is not None and time < last:
                raise ValueError(f"event for entity {entity!r} at {time} is older than its last event at {last}")
            pending.append((event, time))
            seen.add(entity)
        return out + self._run(pending)

    def score(self, event: Mapping[str, Any]) -> float:
        return self.score_batch([event])[0]

    def _run(self, batch: list[tuple[Mapping[str, Any], datetime]]) -> list[float]:
        if not batch:
            return []
        cats, nums, states = [], [], []
        for event, _ in batch:
            entity = str(event["entity"])
            cat, num = self.preprocessor.encode_event(event, self.last_time.get(entity))
            cats.append(cat)
            nums.append(num)
            states.append(self.states.get(entity) or self._fresh())
        feed = {"cat": np.stack(cats), "num": np.stack(nums)}
        for i, name in enumerate(self.state_inputs):
            feed[name] = np.stack([s[i] for s in states])
        logit, *present = self.session.run(None, feed)
        for row, (event, time) in enumerate(batch):
            entity = str(event["entity"])
            self.states[entity] = [p[row] for p in present]
            self.last_time[entity] = time
        return [float(p) for p in sigmoid(logit)]

    def snapshot(self, path: str | Path) -> Path:
        """Write every entity's state (``.npz``) and last event time (JSON in the same archive)."""
        path = Path(path)
        entities = sorted(self.states)
        arrays = {
            f"s{i}": np.stack([self.states[e][i] for e in entities])
            if entities
            else np.zeros((0, *self.state_shapes[n]))
            for i, n in enumerate(self.state_inputs)
        }
        meta = {"entities": entities, "last_time": [self.last_time[e].isoformat() for e in entities]}
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as fh:
            np.savez(fh, **arrays)
        tmp.replace(path)
        return path

    def restore(self, path: str | Path) -> None:
        """Replace the in-memory state with a snapshot."""
        with np.load(Path(path), allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            stacks = [data[f"s{i}"] for i in range(len(self.state_inputs))]
        self.states = {e: [s[k] for s in stacks] for k, e in enumerate(meta["entities"])}
        self.last_time = {e: self._as_utc(t) for e, t in zip(meta["entities"], meta["last_time"], strict=True)}

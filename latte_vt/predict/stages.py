"""Where a batch scoring run spends its time: seconds per stage (read/validate, encode, batch, model, write)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

STAGES = ("read_validate", "encode", "batch", "model", "write")
"""``read_validate``: scan, map and validate the files; ``encode``: features and numpy arrays; ``batch``: padding and
scattering the scores; ``model``: the model's own calls; ``write``: the output files."""


class StageTimes:
    """Seconds per stage, accumulated over any number of laps (``as_dict`` lists every stage of ``STAGES``)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(STAGES, 0.0)

    @contextmanager
    def stage(self, name: str, minus: str | None = None) -> Iterator[None]:
        """Time the ``with`` block as ``name``, less what stage ``minus`` accrued inside it."""
        began, inner = time.perf_counter(), self.seconds[minus] if minus else 0.0
        try:
            yield
        finally:
            nested = self.seconds[minus] - inner if minus else 0.0
            self.seconds[name] += time.perf_counter() - began - nested

    def timed(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` with every call timed as ``name``."""

        def call(*args: Any) -> Any:
            with self.stage(name):
                return fn(*args)

        return call

    def as_dict(self) -> dict[str, float]:
        return dict(self.seconds)

    def summary(self) -> str:
        total = sum(self.seconds.values()) or 1e-9
        return ", ".join(f"{k} {v:.1f} s ({v / total:.0%})" for k, v in self.seconds.items())

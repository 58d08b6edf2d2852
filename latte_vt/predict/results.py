"""The video task's one result type (transactions return a scores frame: event_id, entity, time, score)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class WindowPrediction:
    """One window of a long file classified window by window: its first and last frame (and seconds,
    None when the file has no frame rate) and its own top-k labels."""

    first_frame: int
    last_frame: int
    start_s: float | None
    end_s: float | None
    labels: list[str]
    probs: list[float]


@dataclass
class ClipPrediction:
    """Top-k labels of one file (best first) with probabilities averaged over its views — or, for a file
    that could not be classified, the stage (``listing``, ``probe`` or ``load``) and the reason."""

    path: str
    labels: list[str]
    probs: list[float]
    frames_read: int
    stage: str | None = None
    reason: str | None = None
    windows: list[WindowPrediction] = field(default_factory=list)  # long files with windows only

    @property
    def ok(self) -> bool:
        return self.stage is None

    @property
    def error(self) -> str | None:
        """``stage: reason`` for a failed file, else None."""
        return None if self.ok else f"{self.stage}: {self.reason}"

    @classmethod
    def failed(cls, path: str, stage: str, reason: str) -> ClipPrediction:
        return cls(str(path), [], [], 0, stage, reason)

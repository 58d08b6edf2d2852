"""``ClipSpec``: how a video file becomes model input at evaluation — the video task's one preprocessing spec.

It is saved with every checkpoint (``VideoDataModule``'s hyper-parameters), written to a bundle's
``preprocess.json``, and executed by one function everywhere: frames are decoded and sampled
(``eval_clip_indices``: ``num_clips`` uniform views of ``num_frames`` frames at ``eval_stride``), then
``ClipPreprocess`` (torch; exported inside ``model.onnx``) resizes the short side to ``short_side``
with antialiasing, centre-crops ``size`` x ``size`` and normalises with ``mean``/``std``. Validation
during training, checkpoint inference, bundle inference, batch jobs and benchmarks all run it.

This module imports neither torch nor numpy: the torch-free runtime reads it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from latte_vt.errors import InputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def default_short_side(size: int) -> int:
    """Short side of the resized frame before the centre crop: ``round(size * 8 / 7)`` (128 for 112)."""
    return round(size * 8 / 7)


@dataclass(frozen=True)
class ClipSpec:
    """Frames per clip, views per file and their stride, resize, crop and normalisation."""

    num_frames: int = 16
    size: int = 112
    short_side: int | None = None  # None: ``default_short_side(size)``
    num_clips: int = 1
    eval_stride: int = 2
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        if self.short_side is None:
            object.__setattr__(self, "short_side", default_short_side(self.size))
        object.__setattr__(self, "mean", tuple(float(x) for x in self.mean))
        object.__setattr__(self, "std", tuple(float(x) for x in self.std))
        for name in ("num_frames", "size", "num_clips", "eval_stride"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"clip spec: {name} must be at least 1, got {getattr(self, name)}")
        if self.short_side < self.size:
            raise InputError(f"clip spec: short_side ({self.short_side}) must be at least size ({self.size})")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise InputError(f"clip spec: mean and std need 3 values, std > 0; got {self.mean}, {self.std}")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "clip spec") -> ClipSpec:
        """The spec from a dict (``preprocess.json``, data-module hyper-parameters); unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in values.items() if k in known})
        except (TypeError, ValueError) as exc:
            raise InputError(f"{where}: {exc}") from exc

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any]) -> ClipSpec:
        """From a checkpoint: the data module's hyper-parameters, else the model's ``num_frames``/``image_size``."""
        model = checkpoint.get("hyper_parameters") or {}
        data = dict(checkpoint.get("datamodule_hyper_parameters") or {})
        data.setdefault("num_frames", model.get("num_frames", cls.num_frames))
        data.setdefault("size", model.get("image_size", cls.size))
        return cls.from_dict(data, "checkpoint data settings")

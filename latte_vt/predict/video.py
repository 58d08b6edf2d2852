"""``VideoClassifier``: top-k labels per video file, from a bundle (onnxruntime) or a checkpoint (torch).

A file is decoded and sampled into the spec's views at its native resolution (``decode_clips``), or,
with a ``FootageSampling``, into frames at a rate or stride across the whole file, decoded in chunks at
model size (``decode_footage``): one view of all of them, or windows. The model resizes, crops and
normalises (``ClipPreprocess``, inside ``model.onnx`` for bundles) and the views' class probabilities
are averaged. Unreadable files never stop a run: they come back as ``ClipPrediction`` rows with the
stage and reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import numpy as np

from latte_vt.data.video.spec import ClipSpec
from latte_vt.errors import InputError
from latte_vt.predict.clips import Footage, FootageSampling, decode_clips, decode_footage
from latte_vt.predict.results import ClipPrediction, WindowPrediction
from latte_vt.predict.source import ModelKind, model_kind
from latte_vt.runtime.bundle import Bundle


class ClipModel(Protocol):
    """What a video backend provides (``OnnxClipModel``, ``TorchClipModel``)."""

    classes: list[str]
    spec: ClipSpec

    def logits(self, frames: np.ndarray) -> np.ndarray:
        """uint8 frames (B, T, H, W, 3) -> logits (B, C)."""
        ...


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


class VideoClassifier:
    """``VideoClassifier(model).predict(path_or_frames)`` -> ``ClipPrediction``.

    Args:
        model: a bundle directory (or ``Bundle``), run with onnxruntime, or a ``.ckpt`` file, run with torch.
        threads: intra-op threads (onnxruntime or torch).
        precision: ``fp32`` or ``int8`` (bundles with ``model.int8.onnx`` only).
        device: torch device for checkpoints.
        num_clips: views per file (default: the model's evaluation setting).
        sampling: sample long files by rate or stride across the whole file instead of the spec's views
            (one file per model call; ``num_clips`` does not apply).
        expect: ``bundle`` or ``checkpoint`` when the caller was told which (``--bundle``/``--checkpoint``):
            a path of the other kind is refused with what it is.
    """

    def __init__(
        self,
        model: Bundle | str | Path,
        threads: int | None = None,
        precision: str = "fp32",
        device: str = "cpu",
        num_clips: int | None = None,
        expect: ModelKind | None = None,
        sampling: FootageSampling | None = None,
    ) -> None:
        self.kind = model_kind(model, expect)
        if self.kind == "bundle":
            from latte_vt.predict.onnx_models import OnnxClipModel

            self.model: ClipModel = OnnxClipModel(model, threads, precision)
        else:
            from latte_vt.predict.torch_models import TorchClipModel

            self.model = TorchClipModel(model, device, threads)
        self.classes = self.model.classes
        self.spec = self.model.spec if num_clips is None else replace(self.model.spec, num_clips=num_clips)
        if sampling is not None:
            if num_clips is not None:
                raise InputError("num_clips sets the model's views; it does not combine with footage sampling")
            sampling.check(self.spec)
        self.sampling = sampling

    def view_probabilities(self, views: Sequence[np.ndarray], per_call: int | None = None) -> list[np.ndarray]:
        """Class probabilities (V_i, C) of each view of each file; ``views[i]`` is (V_i, T, H, W, 3).

        Files of the same clip shape share model calls of at most ``per_call`` views (None: one call);
        other shapes run separately."""
        out: list[np.ndarray | None] = [None] * len(views)
        shapes: dict[tuple[int, ...], list[int]] = {}
        for i, v in enumerate(views):
            shapes.setdefault(v.shape[1:], []).append(i)
        for members in shapes.values():
            batch = np.concatenate([views[i] for i in members])  # (ΣV, T, H, W, 3)
            step = per_call or len(batch)
            logits = [self.model.logits(batch[s : s + step]) for s in range(0, len(batch), step)]  # (≤step, C) each
            probs = softmax(np.concatenate(logits))  # (ΣV, C)
            bounds = np.cumsum([0, *(len(views[i]) for i in members)])
            for i, start, end in zip(members, bounds[:-1], bounds[1:], strict=True):
                out[i] = probs[start:end]
        return out  # type: ignore[return-value]

    def probabilities(self, views: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Class probabilities (C,) of each file, averaged over its views; ``views[i]`` is (V_i, T, H, W, 3)."""
        return [p.mean(axis=0) for p in self.view_probabilities(views)]

    def _top(self, probs: np.ndarray, top_k: int) -> tuple[list[str], list[float]]:
        order = np.argsort(-probs, kind="stable")[: min(top_k, len(self.classes))]
        return [self.classes[i] for i in order], [float(probs[i]) for i in order]

    def _decode(self, source: str | Path | np.ndarray) -> tuple[np.ndarray, Footage | None]:
        """The views (V, T, H, W, 3) of one file, and with footage sampling their frame indices and rate."""
        if self.sampling is None:
            return decode_clips(source, self.spec), None
        footage = decode_footage(source, self.spec, self.sampling)
        return footage.views, footage

    def _prediction(
        self, path: str, view_probs: np.ndarray, views: np.ndarray, footage: Footage | None, top_k: int
    ) -> ClipPrediction:
        """Top-k of the views' mean; per-window top-k when the footage was sampled in windows."""
        labels, probs = self._top(view_probs.mean(axis=0), top_k)
        windows = []
        if footage is not None and self.sampling is not None and self.sampling.windows:
            rate = footage.fps if np.isfinite(footage.fps) else None
            for idx, p in zip(footage.indices, view_probs, strict=True):
                first, last = int(idx[0]), int(idx[-1])
                span = (first / rate, last / rate) if rate else (None, None)
                windows.append(WindowPrediction(first, last, *span, *self._top(p, top_k)))
        frames = int(views.shape[0] * views.shape[1])
        return ClipPrediction(path, labels, probs, frames, windows=windows)

    def predict(self, source: str | Path | np.ndarray, top_k: int = 5, batch_size: int = 8) -> ClipPrediction:
        """One file or frame array (T, H, W, 3) uint8 (``batch_size`` windows per model call); a file that
        cannot be read raises ``VideoReadError``."""
        views, footage = self._decode(source)
        path = "<frames>" if isinstance(source, np.ndarray) else str(source)
        probs = self.view_probabilities([views], batch_size if footage is not None else None)[0]  # (V, C)
        return self._prediction(path, probs, views, footage, top_k)

    def classify(
        self,
        files: Sequence[str | Path],
        top_k: int = 5,
        batch_size: int = 8,
        probe_timeout_s: float | None = 10.0,
        progress: bool = True,
    ) -> list[ClipPrediction]:
        """One ``ClipPrediction`` per file, in order; ``batch_size`` files per model call (with footage
        sampling: one file at a time, ``batch_size`` windows per call). With ``probe_timeout_s`` each file is
        first test-decoded in a subprocess (a file that hangs the decoder is failed at ``probe``, not
        waited for); a file that fails to decode is failed at ``load``."""
        from tqdm import tqdm

        from latte_vt.data.video.reader import VideoReadError

        paths = [str(f) for f in files]
        rows: dict[str, ClipPrediction] = {}
        for path in paths:
            if not Path(path).is_file():
                rows[path] = ClipPrediction.failed(path, "listing", "file not found")
        if probe_timeout_s:
            from latte_vt.data.video.probe import probe_many

            todo = [p for p in paths if p not in rows]
            for result in probe_many(todo, timeout_s=probe_timeout_s, progress=False):
                if result.info is None:
                    rows[result.path] = ClipPrediction.failed(result.path, "probe", result.reason or "unreadable")
        decoded: list[tuple[str, np.ndarray, Footage | None]] = []

        def flush() -> None:
            per_call = batch_size if self.sampling is not None else None
            probs = self.view_probabilities([views for _, views, _ in decoded], per_call)
            for (path, views, footage), p in zip(decoded, probs, strict=True):
                rows[path] = self._prediction(path, p, views, footage, top_k)
            decoded.clear()

        todo = [p for p in paths if p not in rows]
        files_per_call = 1 if self.sampling is not None else batch_size
        for path in tqdm(todo, desc="classify", unit="clip", disable=not progress or len(todo) < 2):
            try:
                decoded.append((path, *self._decode(path)))
            except VideoReadError as exc:
                rows[path] = ClipPrediction.failed(path, "load", exc.reason)
            if len(decoded) >= files_per_call:
                flush()
        if decoded:
            flush()
        return [rows[p] for p in paths]

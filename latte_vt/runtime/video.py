"""Clip classification with ``model.onnx``: decode (decord), sample uniform clips, resize/crop in numpy,
average class probabilities over the clips, return the top-k labels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latte_vt.runtime.bundle import Bundle
from latte_vt.runtime.transactions import load_bundle


def resize_center_crop(frames: np.ndarray, size: int) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, size, size, 3) uint8: bilinear short-side resize to ``size``, centre crop."""
    N, H, W, _ = frames.shape
    scale = size / min(H, W)
    h, w = max(size, round(H * scale)), max(size, round(W * scale))
    top, left = (h - size) // 2, (w - size) // 2
    ys = (np.arange(top, top + size) + 0.5) / scale - 0.5  # source coordinates of the kept rows/cols
    xs = (np.arange(left, left + size) + 0.5) / scale - 0.5
    y0 = np.clip(np.floor(ys).astype(int), 0, H - 1)
    x0 = np.clip(np.floor(xs).astype(int), 0, W - 1)
    y1, x1 = np.clip(y0 + 1, 0, H - 1), np.clip(x0 + 1, 0, W - 1)
    wy = np.clip(ys - y0, 0, 1)[None, :, None, None]
    wx = np.clip(xs - x0, 0, 1)[None, None, :, None]
    f = frames.astype(np.float32)
    top_row = f[:, y0][:, :, x0] * (1 - wx) + f[:, y0][:, :, x1] * wx  # (N, size, size, 3)
    bottom_row = f[:, y1][:, :, x0] * (1 - wx) + f[:, y1][:, :, x1] * wx
    return np.clip(top_row * (1 - wy) + bottom_row * wy + 0.5, 0, 255).astype(np.uint8)


def clip_batch(source: str | Path | np.ndarray, spec: dict) -> np.ndarray:
    """Decode (or take) frames and build the uniform eval clips: (V, T, S, S, 3) uint8."""
    from latte_vt.data.video.sampling import eval_clip_indices

    num_frames, size = int(spec["num_frames"]), int(spec["size"])
    num_clips, stride = int(spec.get("num_clips", 1)), int(spec.get("eval_stride", 2))
    if isinstance(source, np.ndarray):
        if source.ndim != 4 or source.shape[-1] != 3 or source.dtype != np.uint8:
            raise ValueError(f"frames must be uint8 (T, H, W, 3), got {source.dtype} {source.shape}")
        idx = eval_clip_indices(len(source), num_frames, num_clips, stride)  # (V, T)
        frames = source[idx.ravel()]
    else:
        from latte_vt.data.video import reader

        reader.TORCH_BEFORE_DECORD = False  # the runtime never loads torch
        video = reader.open_video(source)
        idx = eval_clip_indices(video.num_frames, num_frames, num_clips, stride)
        frames = video.get(idx.ravel())
    return resize_center_crop(frames, size).reshape(*idx.shape, size, size, 3)


@dataclass
class Prediction:
    """Top-k labels and probabilities of one clip (averaged over ``clips`` views)."""

    labels: list[str]
    probs: list[float]
    clips: int


class VideoClassifier:
    """``VideoClassifier(bundle).predict(path_or_frames)`` -> ``Prediction``; frames (T, H, W, 3) uint8."""

    def __init__(self, bundle: Bundle | str | Path, threads: int | None = None, precision: str = "fp32") -> None:
        self.bundle = load_bundle(bundle, "video")
        self.classes: list[str] = self.bundle.preprocess["classes"]
        self.session = self.bundle.session("model.int8" if precision == "int8" else "model", threads)

    def predict(self, source: str | Path | np.ndarray, top_k: int = 5) -> Prediction:
        return self.predict_clips([clip_batch(source, self.bundle.preprocess)], top_k)[0]

    def predict_clips(self, clips: list[np.ndarray], top_k: int = 5) -> list[Prediction]:
        """One model call for several files' eval clips (each (V_i, T, S, S, 3) from ``clip_batch``)."""
        (logits,) = self.session.run(None, {"frames": np.concatenate(clips)})  # (ΣV_i, C)
        z = logits - logits.max(axis=-1, keepdims=True)
        probs = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)  # (ΣV_i, C)
        bounds = np.cumsum([0, *(len(c) for c in clips)])
        out = []
        for start, end in zip(bounds[:-1], bounds[1:], strict=True):
            mean = probs[start:end].mean(axis=0)  # (C,) averaged over the file's views
            order = np.argsort(-mean)[: min(top_k, len(self.classes))]
            out.append(Prediction([self.classes[i] for i in order], [float(mean[i]) for i in order], int(end - start)))
        return out


@dataclass
class FileFailure:
    """A file the runtime could not classify, with the stage (probe/load) and the reason."""

    path: str
    reason: str
    stage: str


def classify_files(
    classifier: VideoClassifier,
    files: list[Path],
    top_k: int,
    probe_timeout_s: float | None,
    batch_size: int = 1,
    progress: bool = True,
) -> tuple[list[tuple[str, Prediction]], list[FileFailure]]:
    """Classify many files, ``batch_size`` files per model call; a file that hangs (probed in a subprocess
    first) or fails is listed, never fatal."""
    from tqdm import tqdm

    from latte_vt.data.video.reader import VideoReadError

    failures: list[FileFailure] = []
    if probe_timeout_s:
        from latte_vt.data.video.probe import probe_many

        probed = probe_many(files, timeout_s=probe_timeout_s, progress=False)
        failures += [FileFailure(r.path, r.reason or "unreadable", "probe") for r in probed if r.info is None]
        bad = {f.path for f in failures}
        files = [f for f in files if str(f) not in bad]
    predictions: list[tuple[str, Prediction]] = []
    decoded: list[tuple[str, np.ndarray]] = []

    def flush() -> None:
        found = classifier.predict_clips([clips for _, clips in decoded], top_k)
        predictions.extend(zip([path for path, _ in decoded], found, strict=True))
        decoded.clear()

    for path in tqdm(files, desc="classify", unit="clip", disable=not progress or len(files) < 2):
        try:
            decoded.append((str(path), clip_batch(path, classifier.bundle.preprocess)))
        except (VideoReadError, ValueError, RuntimeError) as exc:
            failures.append(FileFailure(str(path), str(getattr(exc, "reason", exc)), "load"))
        if len(decoded) >= batch_size:
            flush()
    if decoded:
        flush()
    return predictions, failures

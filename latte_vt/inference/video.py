"""Classify video files with a trained checkpoint: eval clips -> probabilities averaged over views -> top-k.

The data settings (frames per clip, crop size, normalisation, evaluation stride and views) are read
from the checkpoint's data-module hyper-parameters (``VideoDataModule`` saves them), so a clip is
prepared exactly as at validation. Unreadable files never stop a run: they come back as
``Failure(path, reason, stage)`` next to the predictions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from latte_vt.data.video.check import gather_videos
from latte_vt.data.video.datasets import Failure, VideoClipDataset, collate_valid
from latte_vt.data.video.sampling import ClipSampler
from latte_vt.data.video.sources import Sample
from latte_vt.data.video.transforms import IMAGENET_MEAN, IMAGENET_STD, VideoTransform

UNLABELLED = "?"


@dataclass(frozen=True)
class ClipSettings:
    """How a clip is prepared for the model (saved with the checkpoint by ``VideoDataModule``)."""

    num_frames: int
    size: int
    num_clips: int = 1
    eval_stride: int = 2
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any]) -> ClipSettings:
        """Data-module hyper-parameters, else the model's ``num_frames``/``image_size`` with ImageNet statistics."""
        model = checkpoint.get("hyper_parameters", {})
        data = checkpoint.get("datamodule_hyper_parameters") or {}
        return cls(
            num_frames=int(data.get("num_frames", model.get("num_frames", 16))),
            size=int(data.get("size", model.get("image_size", 112))),
            num_clips=int(data.get("num_clips", 1)),
            eval_stride=int(data.get("eval_stride", 2)),
            mean=tuple(data.get("mean", IMAGENET_MEAN)),
            std=tuple(data.get("std", IMAGENET_STD)),
        )


@dataclass
class Prediction:
    """Top-k labels of one file, best first, with their probabilities (averaged over views)."""

    path: str
    labels: list[str]
    probs: list[float]


@dataclass
class ClassifyResult:
    """Predictions for the readable files and the reasons for the others."""

    predictions: list[Prediction] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    ignored: int = 0  # files of a folder without a video suffix


class VideoPredictor:
    """A checkpoint ready to classify files.

    Args:
        checkpoint: a ``VideoClassificationTask`` checkpoint (loaded with ``weights_only=True``).
        num_clips: views per file (default: the checkpoint's evaluation setting).
        device: torch device.
    """

    def __init__(self, checkpoint: str | Path, num_clips: int | None = None, device: str = "cpu") -> None:
        from latte_vt.tasks.video import VideoClassificationTask

        path = Path(checkpoint)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint not found: {path}")
        raw = torch.load(path, map_location="cpu", weights_only=True)
        settings = ClipSettings.from_checkpoint(raw)
        if num_clips is not None:
            settings = replace(settings, num_clips=num_clips)
        self.settings = settings
        self.device = torch.device(device)
        task = VideoClassificationTask.load_from_checkpoint(path, map_location="cpu", weights_only=True)
        self.model = task.model.eval().to(self.device)
        self.classes: list[str] = list(task.classes)

    def dataset(self, files: Sequence[Path], probe_timeout_s: float | None) -> VideoClipDataset:
        """Evaluation clips of ``files`` (unlabelled) with this checkpoint's settings."""
        s = self.settings
        return VideoClipDataset(
            [Sample(Path(f), UNLABELLED, "command line") for f in files],
            classes=[UNLABELLED],
            sampler=ClipSampler(s.num_frames, (1,), s.num_clips, s.eval_stride),
            transform=VideoTransform(False, s.size, mean=s.mean, std=s.std),
            size=s.size,
            probe_timeout_s=probe_timeout_s,
        )

    def classify(
        self,
        files: Sequence[Path],
        top_k: int = 5,
        batch_size: int = 8,
        probe_timeout_s: float | None = 10.0,
        progress: bool = True,
    ) -> ClassifyResult:
        """Top-k predictions of every readable file; the others as failures with their reasons.

        Clips are decoded in this process, so every failure is collected here.
        """
        from torch.utils.data import DataLoader

        data = self.dataset(files, probe_timeout_s)
        loader = DataLoader(data, batch_size=batch_size, collate_fn=collate_valid)
        k = min(top_k, len(self.classes))
        result = ClassifyResult()
        for batch in tqdm(loader, desc="classifying", unit="batch", disable=not progress):
            if not batch["path"]:
                continue
            probs = self.model.predict_proba(batch["video"].to(self.device))  # (B, C)
            top = probs.float().topk(k, dim=-1)
            for path, values, indices in zip(batch["path"], top.values.tolist(), top.indices.tolist(), strict=True):
                result.predictions.append(Prediction(path, [self.classes[i] for i in indices], values))
        result.failures = list(data.failures)
        return result


def classify_path(
    source: str | Path,
    checkpoint: str | Path,
    top_k: int = 5,
    num_clips: int | None = None,
    device: str = "cpu",
    batch_size: int = 8,
    probe_timeout_s: float | None = 10.0,
    progress: bool = True,
) -> tuple[VideoPredictor, ClassifyResult]:
    """Classify one file, every video under a folder (recursively), or the rows of a CSV/TSV."""
    source = Path(source)
    if source.is_file() and source.suffix.lower() not in {".csv", ".tsv"}:
        files, ignored = [source], 0
    else:
        files, ignored = gather_videos(source)
    predictor = VideoPredictor(checkpoint, num_clips, device)
    result = predictor.classify(files, top_k, batch_size, probe_timeout_s, progress)
    result.ignored = ignored
    return predictor, result

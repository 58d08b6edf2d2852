"""``VideoClipDataset``: a map-style dataset of labelled clips (works with DataLoader workers and DDP).

Bad files never stop a job. They are quarantined at three points, each recorded as a
``Failure(path, reason, stage)`` in ``dataset.failures`` (this process) and, when ``report_path``
is set, appended to that CSV (``path,reason,stage``) from whichever process met it:

* ``listing``: the file does not exist; left out of the dataset at construction.
* ``probe``: with ``probe_timeout_s`` set, every file is test-decoded in subprocesses at
  construction; files that fail or hang are left out. Use this for untrusted data: a file that hangs
  decord would otherwise hang a DataLoader worker.
* ``load``: the file fails while a clip is decoded. ``__getitem__`` then returns a substitute item
  with ``valid = False`` (zeros of the usual shape) and remembers the failure, so the file is not
  decoded again in this process. ``collate_valid`` drops invalid items from the batch and counts them.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from latte_vt.data.video.reader import VideoReadError, open_video
from latte_vt.data.video.sampling import ClipSampler
from latte_vt.data.video.sources import Sample, list_samples
from latte_vt.data.video.transforms import VideoTransform
from latte_vt.errors import InputError

log = logging.getLogger(__name__)

REPORT_COLUMNS = ("path", "reason", "stage")


@dataclass(frozen=True)
class Failure:
    """A quarantined file: where, why, and at which stage (listing, probe or load)."""

    path: str
    reason: str
    stage: str


class VideoClipDataset(Dataset):
    """Labelled clips from a folder-per-class tree, a CSV/TSV of ``path,label``, or a list of ``Sample``.

    Items are dicts::

        {"video": (V, T, 3, S, S) float32,   # V = 1 when training, sampler.num_clips otherwise
         "label": () int64, "index": int, "path": str, "valid": bool}

    Args:
        source: folder tree, CSV/TSV file, or samples (see ``latte_vt.data.video.sources``).
        train: training sampling and augmentation (one random clip) instead of evaluation (uniform clips).
        classes: class names in index order; default: the sorted labels of this source. Pass the
            training set's ``classes`` to validation/test sets; an unknown label is an error naming its row.
        sampler: clip sampling settings (frames per clip, strides, clips per video).
        transform: frames (T, H, W, 3) uint8 -> (T, 3, S, S) float; default ``VideoTransform(train, size)``.
        size: output frame size S (used by the default transform and for substitute items).
        report_path: CSV that quarantined files are appended to (created with a header).
        probe_timeout_s: test-decode every file in subprocesses first, dropping those that fail or hang.
        probe_workers: parallel probe subprocesses.
        num_threads: decoder threads per file (1 suits DataLoader workers).
    """

    def __init__(
        self,
        source: str | Path | Sequence[Sample],
        train: bool = False,
        classes: Sequence[str] | None = None,
        sampler: ClipSampler | None = None,
        transform: Callable[[np.ndarray], Tensor] | None = None,
        size: int = 112,
        report_path: str | Path | None = None,
        probe_timeout_s: float | None = None,
        probe_workers: int = 2,
        num_threads: int = 1,
    ) -> None:
        samples = list_samples(source) if isinstance(source, str | Path) else list(source)
        self.train = train
        self.sampler = sampler or ClipSampler()
        self.size = size
        self.transform = transform or VideoTransform(train, size)
        self.num_threads = num_threads
        self.classes = list(classes) if classes is not None else sorted({s.label for s in samples})
        self.class_to_index = {name: i for i, name in enumerate(self.classes)}
        _check_labels(samples, self.class_to_index)
        self.report_path = Path(report_path) if report_path is not None else None
        if self.report_path is not None:
            self.report_path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError), self.report_path.open("x") as fh:  # one header, even under DDP
                fh.write(",".join(REPORT_COLUMNS) + "\n")
        self.failures: list[Failure] = []
        self._failed: dict[int, str] = {}
        self.samples = self._quarantine(samples, probe_timeout_s, probe_workers)

    def _quarantine(self, samples: list[Sample], timeout_s: float | None, workers: int) -> list[Sample]:
        kept = []
        for sample in samples:
            if sample.path.is_file():
                kept.append(sample)
            else:
                self._record(Failure(str(sample.path), f"file not found (listed at {sample.origin})", "listing"))
        if timeout_s is None or not kept:
            return kept
        from latte_vt.data.video.probe import probe_many

        results = probe_many([s.path for s in kept], timeout_s=timeout_s, workers=workers)
        for result in results:
            if not result.ok:
                self._record(Failure(result.path, result.reason or "unknown", "probe"))
        return [s for s, r in zip(kept, results, strict=True) if r.ok]

    def _record(self, failure: Failure) -> None:
        self.failures.append(failure)
        log.warning("skipping %s (%s): %s", failure.path, failure.stage, failure.reason)
        if self.report_path is not None:
            line = io.StringIO()
            csv.writer(line).writerow([failure.path, failure.reason, failure.stage])
            with self.report_path.open("a") as fh:  # one short append: safe from several worker processes
                fh.write(line.getvalue())

    @property
    def labels(self) -> list[int]:
        """Class index of every sample (for stratified or class-balanced samplers)."""
        return [self.class_to_index[s.label] for s in self.samples]

    @property
    def num_views(self) -> int:
        return 1 if self.train else self.sampler.num_clips

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.samples[index]
        item = {"label": torch.tensor(self.class_to_index[sample.label]), "index": index, "path": str(sample.path)}
        if index in self._failed:
            return self._substitute(item)
        try:
            clips = self._load(sample.path)  # (V, T, 3, S, S)
        except VideoReadError as exc:
            self._failed[index] = exc.reason
            self._record(Failure(str(sample.path), exc.reason, "load"))
            return self._substitute(item)
        return {"video": clips, **item, "valid": True}

    def _load(self, path: Path) -> Tensor:
        video = open_video(path, self.num_threads)
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))  # follows torch's (per-worker) seed
        indices = self.sampler(video.num_frames, self.train, rng)  # (V, T)
        unique, inverse = np.unique(indices, return_inverse=True)  # decode each frame once, in file order
        frames = video.get(unique)[inverse.reshape(-1)]  # (V*T, H, W, 3)
        V, T = indices.shape
        return torch.stack([self.transform(frames[v * T : (v + 1) * T]) for v in range(V)])  # (V, T, 3, S, S)

    def _substitute(self, item: dict[str, Any]) -> dict[str, Any]:
        shape = (self.num_views, self.sampler.num_frames, 3, self.size, self.size)
        return {"video": torch.zeros(shape), **item, "valid": False}


def _check_labels(samples: Sequence[Sample], class_to_index: dict[str, int]) -> None:
    unknown = [s for s in samples if s.label not in class_to_index]
    if unknown:
        shown = "; ".join(f"{s.origin}: {s.label!r}" for s in unknown[:5])
        raise InputError(
            f"{len(unknown)} sample(s) have labels outside the class list ({len(class_to_index)} classes): {shown}"
        )


def collate_valid(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Batch the valid items; invalid (quarantined) ones are dropped and counted.

    Returns ``video`` (B, V, T, 3, S, S), ``label`` (B,), ``index`` (B,), ``path`` (list), plus
    ``num_invalid`` and ``invalid_paths``. B may be 0 when every item in the batch was invalid.
    """
    valid = [it for it in items if it["valid"]]
    invalid = [it["path"] for it in items if not it["valid"]]
    if valid:
        video = torch.stack([it["video"] for it in valid])  # (B, V, T, 3, S, S)
    else:
        video = items[0]["video"].new_zeros((0, *items[0]["video"].shape))
    return {
        "video": video,
        "label": torch.stack([it["label"] for it in valid]) if valid else torch.zeros(0, dtype=torch.int64),
        "index": torch.tensor([it["index"] for it in valid], dtype=torch.int64),
        "path": [it["path"] for it in valid],
        "num_invalid": len(invalid),
        "invalid_paths": invalid,
    }


def read_report(path: str | Path) -> list[Failure]:
    """Quarantined files from a report CSV, one entry per (path, stage) even if several workers wrote it."""
    with Path(path).open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    unique = {(r["path"], r["stage"]): Failure(r["path"], r["reason"], r["stage"]) for r in rows}
    return list(unique.values())

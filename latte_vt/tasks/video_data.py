"""``VideoDataModule``: train/val/test/predict loaders of labelled clips for ``latte-vt fit|test|predict``.

The data root is a dataset with splits (``train.csv``/``val.csv``/``test.csv`` or ``train/``,
``val/``, ``test/`` folder trees, see ``latte_vt.data.video.sources``). With ``generate_if_missing``
a missing root (no ``meta.json``) is filled with the synthetic temporal set first, so a config works
on a fresh checkout. Class names come from ``classes.txt`` when present, else from the training split.

Unreadable files never stop a run: they are left out (listing/probe) or dropped from their batch
(load) and appended to ``report_path`` with their reason (``collate_valid``).
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
from torch.utils.data import DataLoader

from latte_vt.data.video.datasets import VideoClipDataset, collate_valid
from latte_vt.data.video.sampling import ClipSampler
from latte_vt.data.video.sources import load_classes, split_source
from latte_vt.data.video.spec import IMAGENET_MEAN, IMAGENET_STD, ClipSpec
from latte_vt.data.video.transforms import VideoTransform


class VideoDataModule(L.LightningDataModule):
    """Clips from a dataset root with train/val/test splits.

    Args:
        root: dataset root (a synthetic set, or a folder holding split CSV/TSV files or split folder trees).
        num_frames: frames per clip.
        size: crop size S of every frame.
        short_side: frames are resized so their short side is this long before cropping (default
            ``round(size * 8 / 7)``); see ``latte_vt.data.video.spec.ClipSpec``.
        num_clips: clips (views) per video at validation/test/predict; probabilities are averaged.
        strides: temporal strides a training clip may use.
        eval_stride: temporal stride of evaluation clips.
        batch_size: clips per batch.
        num_workers: DataLoader worker processes.
        probe_timeout_s: test-decode every file in subprocesses first (untrusted data); None: skip.
        report_path: CSV that quarantined files are appended to (default ``<root>/bad_files.csv``).
        mean: per-channel normalisation mean (saved with the checkpoint for export).
        std: per-channel normalisation std.
        predict_split: split that ``latte-vt predict`` runs over.
        generate_if_missing: write the synthetic set into ``root`` when it holds no ``meta.json``.
        synthetic_classes: synthetic generator: number of classes (even, 2-16; the first six: frame order).
        synthetic_n: synthetic generator: clips per class.
        synthetic_frames: synthetic generator: frames per clip.
        synthetic_size: synthetic generator: largest frame side in px.
        synthetic_seed: synthetic generator: random seed.
    """

    def __init__(
        self,
        root: str = "data/video-synthetic",
        num_frames: int = 16,
        size: int = 112,
        short_side: int | None = None,
        num_clips: int = 1,
        strides: tuple[int, ...] = (1, 2, 3, 4),
        eval_stride: int = 2,
        batch_size: int = 16,
        num_workers: int = 0,
        probe_timeout_s: float | None = None,
        report_path: str | None = None,
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
        predict_split: str = "test",
        generate_if_missing: bool = False,
        synthetic_classes: int = 6,
        synthetic_n: int = 60,
        synthetic_frames: int = 16,
        synthetic_size: int = 160,
        synthetic_seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.root = Path(root)
        self.report_path = Path(report_path) if report_path else self.root / "bad_files.csv"
        self.sampler = ClipSampler(num_frames, tuple(strides), num_clips, eval_stride)
        self._datasets: dict[str, VideoClipDataset] = {}
        self._classes: list[str] | None = None

    def prepare_data(self) -> None:
        """Generate the synthetic set when asked to and the root is not a complete set (rank 0 only)."""
        self._ensure_data()

    def _ensure_data(self) -> None:
        hp = self.hparams
        if not hp.generate_if_missing or (self.root / "meta.json").is_file():
            return
        from latte_vt.data.synthetic.video import VideoSynthConfig, write_video_synthetic

        cfg = VideoSynthConfig(
            hp.synthetic_classes, hp.synthetic_n, hp.synthetic_frames, hp.synthetic_size, hp.synthetic_seed
        )
        print(f"generating the synthetic video set into {self.root}")
        write_video_synthetic(self.root, cfg)

    @property
    def classes(self) -> list[str]:
        """Class names in index order: ``classes.txt`` of the root, else the sorted training labels."""
        if self._classes is None:
            self._ensure_data()  # the CLI asks for data_info before prepare_data runs
            listed = self.root / "classes.txt"
            self._classes = load_classes(listed) if listed.is_file() else self.dataset("train").classes
        return self._classes

    @property
    def data_info(self) -> dict:
        """What the model needs to know: ``num_classes`` and ``classes``."""
        return {"num_classes": len(self.classes), "classes": list(self.classes)}

    @property
    def clip_spec(self) -> ClipSpec:
        """How evaluation clips are made (saved with the checkpoint through the hyper-parameters)."""
        return ClipSpec.from_dict(dict(self.hparams))

    def dataset(self, split: str) -> VideoClipDataset:
        """The (cached) dataset of one split: training sampling/augmentation for ``train``, uniform clips otherwise."""
        if split not in self._datasets:
            hp = self.hparams
            train = split == "train"
            self._datasets[split] = VideoClipDataset(
                split_source(self.root, split),
                train=train,
                classes=self._classes,
                sampler=self.sampler,
                transform=VideoTransform(train, hp.size, hp.short_side, mean=hp.mean, std=hp.std),
                size=hp.size,
                report_path=self.report_path,
                probe_timeout_s=hp.probe_timeout_s,
            )
        return self._datasets[split]

    def _loader(self, split: str) -> DataLoader:
        hp = self.hparams
        return DataLoader(
            self.dataset(split),
            batch_size=hp.batch_size,
            shuffle=split == "train",
            drop_last=False,
            num_workers=hp.num_workers,
            persistent_workers=hp.num_workers > 0,
            collate_fn=collate_valid,
        )

    def setup(self, stage: str | None = None) -> None:
        _ = self.classes  # fixes the class list before any split is built

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.hparams.predict_split)

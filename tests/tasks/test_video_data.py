"""VideoDataModule on real generated H.264 clips: generation when missing, data_info, batch shapes, bad files."""

from __future__ import annotations

import csv

import pytest
from video_fit import TINY

from latte_vt.data.video.datasets import read_report
from latte_vt.tasks.video_data import VideoDataModule


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("video") / "synthetic"
    dm = VideoDataModule(str(root), num_frames=4, size=32, generate_if_missing=True, **TINY)
    dm.prepare_data()
    return root


def test_generates_the_set_when_missing_and_reports_classes(tiny_root):
    assert (tiny_root / "meta.json").is_file()
    dm = VideoDataModule(str(tiny_root), num_frames=4, size=32)
    assert dm.data_info == {"num_classes": 2, "classes": ["square_circle_triangle", "triangle_circle_square"]}
    assert dm.hparams.num_frames == 4 and dm.hparams.size == 32  # saved into checkpoints


def test_missing_root_without_generation_names_the_split(tmp_path):
    dm = VideoDataModule(str(tmp_path / "nothing"))
    with pytest.raises(FileNotFoundError, match="no 'train' split"):
        dm.setup("fit")


def test_train_and_eval_batches_have_one_and_num_clips_views(tiny_root):
    dm = VideoDataModule(str(tiny_root), num_frames=4, size=32, num_clips=3, strides=(1, 2), batch_size=4)
    dm.setup("fit")
    train = next(iter(dm.train_dataloader()))
    val = next(iter(dm.val_dataloader()))
    assert train["video"].shape == (4, 1, 4, 3, 32, 32)
    assert val["video"].shape[1:] == (3, 4, 3, 32, 32)
    assert set(val["label"].tolist()) <= {0, 1} and train["num_invalid"] == 0


def test_bad_files_are_reported_and_dropped_from_batches(tiny_root, tmp_path):
    rows = list(csv.reader((tiny_root / "train.csv").open()))[1:]
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 4096)
    (tmp_path / "empty.mp4").write_bytes(b"")
    with (tmp_path / "train.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label"])
        writer.writerows([[str(tiny_root / p), label] for p, label in rows])
        writer.writerows(
            [
                ["broken.mp4", "square_circle_triangle"],
                ["empty.mp4", "triangle_circle_square"],
                ["gone.mp4", "square_circle_triangle"],
            ]
        )
    for split in ("val", "test"):
        (tmp_path / f"{split}.csv").write_text(
            (tiny_root / f"{split}.csv").read_text().replace("videos/", f"{tiny_root}/videos/")
        )
    report = tmp_path / "bad.csv"
    dm = VideoDataModule(str(tmp_path), num_frames=4, size=32, batch_size=64, report_path=str(report))
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert len(batch["label"]) == len(rows) and batch["num_invalid"] == 2
    stages = {f.path.rsplit("/", 1)[-1]: f.stage for f in read_report(report)}
    assert stages == {"broken.mp4": "load", "empty.mp4": "load", "gone.mp4": "listing"}

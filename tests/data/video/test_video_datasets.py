"""VideoClipDataset on real clips: folder trees, CSV/TSV, items, quarantine of bad files, DataLoader workers."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from video_clips import write_clip

from latte_vt.data.video.datasets import VideoClipDataset, collate_valid, read_report
from latte_vt.data.video.sampling import ClipSampler
from latte_vt.data.video.sources import Sample, list_samples, load_classes, save_classes, split_source

SAMPLER = ClipSampler(num_frames=8, strides=(1, 2), num_clips=2, eval_stride=1)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """ROOT/<label>/<clip>: two classes of two real clips each (different sizes, codecs, lengths)."""
    root = tmp_path_factory.mktemp("tree")
    for label, specs in {
        "cat": [(176, 144, 20, "mp4"), (160, 120, 12, "mkv")],
        "dog": [(128, 96, 16, "webm")] * 2,
    }.items():
        (root / label).mkdir()
        for i, (w, h, T, ext) in enumerate(specs):
            codec = "libvpx-vp9" if ext == "webm" else "libx264"
            write_clip(root / label / f"{label}{i}.{ext}", w, h, T, codec=codec)
    return root


def write_table(path: Path, rows: list[tuple[str, str]], delimiter: str = ",") -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh, delimiter=delimiter)
        writer.writerow(["label", "path"])  # column order is free
        writer.writerows([(label, p) for p, label in rows])
    return path


def test_folder_tree_items(tree):
    readme = tree / "README.txt"
    readme.write_text("not a clip")
    with pytest.warns(UserWarning, match=r"1 file\(s\) .* are not samples \(e\.g\. .*README\.txt\)"):
        ds = VideoClipDataset(tree, train=True, sampler=SAMPLER, size=64)
    readme.unlink()
    assert ds.classes == ["cat", "dog"] and ds.class_to_index == {"cat": 0, "dog": 1}
    assert len(ds) == 4 and ds.labels == [0, 0, 1, 1]
    item = ds[0]
    assert item["video"].shape == (1, 8, 3, 64, 64) and item["video"].dtype == torch.float32
    assert item["label"].dtype == torch.int64 and int(item["label"]) == 0
    assert item["valid"] and item["index"] == 0 and item["path"].endswith("cat0.mp4")
    evaluation = VideoClipDataset(tree, train=False, sampler=SAMPLER, size=64)
    assert evaluation[3]["video"].shape == (2, 8, 3, 64, 64)  # two uniform views
    assert not ds.failures


def test_eval_clips_keep_time_order(tree):
    ds = VideoClipDataset(tree, train=False, sampler=ClipSampler(num_frames=8, num_clips=1), size=64)
    video = ds[0]["video"][0]  # (T, 3, S, S): the test clips brighten frame by frame
    brightness = video.mean(dim=(1, 2, 3))
    assert (brightness.diff() > 0).all()


def test_csv_paths_are_relative_to_the_csv_and_tsv_works(tree, tmp_path):
    lists, data = tmp_path / "lists", tmp_path / "data"
    lists.mkdir()
    shutil.copytree(tree, data, ignore=shutil.ignore_patterns("*.txt"))
    rows = [(f"../data/{p.relative_to(data).as_posix()}", p.parent.name) for p in sorted(data.rglob("*.*"))]
    for table in (write_table(lists / "train.csv", rows), write_table(lists / "train.tsv", rows, "\t")):
        ds = VideoClipDataset(table, train=True, sampler=SAMPLER, size=32)
        assert len(ds) == 4 and ds.classes == ["cat", "dog"]
        assert all(s.path.is_file() for s in ds.samples)
        assert ds[2]["valid"] and int(ds[2]["label"]) == 1


def test_unknown_labels_and_bad_tables_name_the_file_and_line(tree, tmp_path):
    rows = [(str(p), p.parent.name) for p in sorted(tree.rglob("*.mp4"))] + [(str(tree / "x.mp4"), "bird")]
    table = write_table(tmp_path / "val.csv", rows)
    with pytest.raises(ValueError, match=r"val\.csv:3: 'bird'"):
        VideoClipDataset(table, classes=["cat", "dog"])
    (tmp_path / "nolabel.csv").write_text("path,kind\na.mp4,cat\n")
    with pytest.raises(ValueError, match=r"nolabel\.csv: .*missing \['label'\]"):
        list_samples(tmp_path / "nolabel.csv")
    (tmp_path / "empty_label.csv").write_text("path,label\na.mp4,cat\nb.mp4,\n")
    with pytest.raises(ValueError, match=r"empty_label\.csv:3: empty 'label'"):
        list_samples(tmp_path / "empty_label.csv")
    with pytest.raises(FileNotFoundError, match="dataset source not found"):
        list_samples(tmp_path / "nope")


@pytest.fixture()
def mixed_table(tree, bad_files, tmp_path) -> tuple[Path, set[str], set[str]]:
    """A CSV of the four good clips and every kind of bad file (including one that does not exist)."""
    good = [(str(p), p.parent.name) for p in sorted(tree.rglob("*.*")) if p.suffix != ".txt"]
    bad = [(str(path), "cat") for path, _ in bad_files.values()]
    return write_table(tmp_path / "mixed.csv", good + bad), {g for g, _ in good}, {b for b, _ in bad}


def test_bad_files_are_quarantined_with_reasons(mixed_table, bad_files, tmp_path):
    table, good, bad = mixed_table
    report = tmp_path / "report" / "bad.csv"
    ds = VideoClipDataset(table, train=True, sampler=SAMPLER, size=32, report_path=report)
    missing = str(bad_files["missing"][0])
    assert len(ds) == len(good) + len(bad) - 1  # the missing file is left out at listing ...
    assert [(f.path, f.stage) for f in ds.failures] == [(missing, "listing")]  # ... and recorded
    for i in range(len(ds)):
        item = ds[i]
        assert item["valid"] == (item["path"] in good)
        assert item["video"].shape == (1, 8, 3, 32, 32)
        if not item["valid"]:
            assert item["video"].abs().sum() == 0
    reasons = {f.path: f.reason for f in ds.failures}
    assert set(reasons) == bad
    for kind, (path, words) in bad_files.items():
        assert words in reasons[str(path)], kind
    ds[len(ds) - 1]  # a quarantined file is not decoded (or recorded) again
    assert len(ds.failures) == len(bad)
    from_file = {(f.path, f.stage) for f in read_report(report)}
    assert from_file == {(f.path, f.stage) for f in ds.failures}


def test_dataloader_workers_skip_bad_files(mixed_table, tmp_path):
    table, good, bad = mixed_table
    report = tmp_path / "bad.csv"
    ds = VideoClipDataset(table, train=True, sampler=SAMPLER, size=32, report_path=report)
    loader = DataLoader(ds, batch_size=3, num_workers=2, collate_fn=collate_valid)
    seen, invalid = [], []
    for batch in loader:
        B = len(batch["path"])
        assert batch["video"].shape == (B, 1, 8, 3, 32, 32)
        assert batch["label"].shape == (B,) and batch["index"].shape == (B,)
        seen += batch["path"]
        invalid += batch["invalid_paths"]
        assert batch["num_invalid"] == len(batch["invalid_paths"])
    assert set(seen) == good and len(seen) == len(good)
    assert set(invalid) | {f.path for f in ds.failures} == bad  # decoded in workers, listed in the main process
    assert {f.path for f in read_report(report)} == bad  # the workers wrote their failures to the report


def test_all_invalid_batch_is_empty_not_an_error(bad_files):
    ds = VideoClipDataset([Sample(path, "cat", "test") for path, _ in bad_files.values()], sampler=SAMPLER, size=32)
    batch = collate_valid([ds[0], ds[1]])
    assert batch["video"].shape == (0, 2, 8, 3, 32, 32) and batch["label"].shape == (0,)
    assert batch["num_invalid"] == 2 and batch["path"] == []


def test_probe_at_construction_drops_files_that_fail(mixed_table, bad_files):
    table, good, bad = mixed_table
    ds = VideoClipDataset(table, sampler=SAMPLER, size=32, probe_timeout_s=30)
    assert {str(s.path) for s in ds.samples} == good
    assert {f.stage for f in ds.failures} == {"listing", "probe"} and {f.path for f in ds.failures} == bad
    assert all(ds[i]["valid"] for i in range(len(ds)))


def test_short_clips_are_padded_in_order(tmp_path):
    (tmp_path / "a").mkdir()
    write_clip(tmp_path / "a" / "short.mp4", 96, 64, T=5)
    for train in (True, False):
        ds = VideoClipDataset(tmp_path, train=train, sampler=ClipSampler(num_frames=12), size=32)
        video = ds[0]["video"][0]  # (12, 3, 32, 32)
        brightness = video.mean(dim=(1, 2, 3)).numpy()
        assert video.shape[0] == 12 and (np.diff(brightness) >= -1e-3).all()
        assert len(np.unique(brightness.round(2))) == 5  # all five frames, each repeated


def test_classes_round_trip_and_split_sources(tmp_path):
    save_classes(tmp_path / "classes.txt", ["b", "a"])
    assert load_classes(tmp_path / "classes.txt") == ["b", "a"]
    (tmp_path / "dup.txt").write_text("a\nb\na\n")
    with pytest.raises(ValueError, match="duplicate"):
        load_classes(tmp_path / "dup.txt")
    (tmp_path / "train.csv").write_text("path,label\n")
    (tmp_path / "val").mkdir()
    assert split_source(tmp_path, "train").name == "train.csv" and split_source(tmp_path, "val").name == "val"
    with pytest.raises(FileNotFoundError, match="no 'test' split"):
        split_source(tmp_path, "test")

"""``latte-vt video-check``: every file probed with a reason in the report; exit 0 with bad files, 2 on misuse."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from latte_vt.cli import main
from latte_vt.data.video.writer import write_video


def clip(T: int, H: int, W: int) -> np.ndarray:
    return np.repeat(np.linspace(30, 220, T).astype(np.uint8), H * W * 3).reshape(T, H, W, 3)


def make_folder(root: Path) -> dict[str, str]:
    """A nested folder of good and bad files -> expected report status per file name."""
    (root / "a" / "deeper").mkdir(parents=True)
    write_video(root / "a" / "good.mp4", clip(10, 144, 176), fps=25)
    write_video(root / "a" / "deeper" / "good.mkv", clip(8, 120, 160), fps=25, audio=True)
    write_video(root / "b.avi", clip(8, 120, 160), fps=25, codec="mpeg4")
    (root / "empty.mp4").write_bytes(b"")
    (root / "a" / "random.webm").write_bytes(np.random.default_rng(0).bytes(4096))
    (root / "notes.mp4").write_text("not a video\n" * 10)
    (root / "labels.txt").write_text("not probed\n")
    return {"good.mp4": "true", "good.mkv": "true", "b.avi": "true", "empty.mp4": "false", "random.webm": "false",
            "notes.mp4": "false"}  # fmt: skip


def read_report(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as fh:
        return {Path(row["path"]).name: row for row in csv.DictReader(fh)}


def test_folder_report_and_summary(tmp_path, capsys):
    expected = make_folder(tmp_path / "videos")
    report = tmp_path / "out" / "report.csv"
    code = main(["video-check", str(tmp_path / "videos"), "--report", str(report), "--timeout", "30", "--workers", "2"])
    assert code == 0
    rows = read_report(report)
    assert {name: row["ok"] for name, row in rows.items()} == expected
    good = rows["good.mp4"]
    assert [good[k] for k in ("num_frames", "width", "height", "fps", "reason")] == ["10", "176", "144", "25.000", ""]
    assert "empty file" in rows["empty.mp4"]["reason"] and "text file" in rows["notes.mp4"]["reason"]
    assert rows["random.webm"]["reason"]
    out = capsys.readouterr().out
    assert "probed 6 file(s): 3 ok, 3 bad" in out and "1 other file(s)" in out
    assert f"BAD {tmp_path / 'videos' / 'empty.mp4'}: empty file" in out


def test_csv_source_reports_missing_rows(tmp_path):
    make_folder(tmp_path)
    (tmp_path / "list.csv").write_text("path,label\na/good.mp4,x\ngone.mp4,y\nnotes.mp4,x\n")
    report = tmp_path / "report.csv"
    assert main(["video-check", str(tmp_path / "list.csv"), "--report", str(report), "--timeout", "30"]) == 0
    rows = read_report(report)
    assert {n: r["ok"] for n, r in rows.items()} == {"good.mp4": "true", "gone.mp4": "false", "notes.mp4": "false"}
    assert rows["gone.mp4"]["reason"] == "file not found"


def test_usage_errors_exit_2(tmp_path, capsys):
    assert main(["video-check", str(tmp_path / "nope")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["video-check", str(tmp_path), "--timeout", "0"]) == 2
    (tmp_path / "bad.csv").write_text("file,kind\nx.mp4,a\n")
    assert main(["video-check", str(tmp_path / "bad.csv"), "--report", str(tmp_path / "r.csv")]) == 2
    assert "'path' and 'label'" in capsys.readouterr().err

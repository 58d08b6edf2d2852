"""``latte-vt classify`` on a folder of real good and bad files: table, JSON/CSV output, reasons, exit codes."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "tasks"))
from video_fit import tiny_config  # noqa: E402

from latte_vt.cli import main  # noqa: E402
from latte_vt.data.video.writer import write_video  # noqa: E402


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("classify")
    assert main(["fit", "--config", str(tiny_config(tmp, tmp / "data", max_epochs=1))]) == 0
    return tmp / "ckpt" / "best.ckpt"


@pytest.fixture()
def folder(tmp_path) -> Path:
    """Three readable clips (one nested, one shorter than a clip, one with audio) and three bad files."""
    rng = np.random.default_rng(0)
    (tmp_path / "nested").mkdir()
    write_video(tmp_path / "a.mp4", rng.integers(0, 255, (10, 48, 64, 3), dtype=np.uint8), fps=25)
    write_video(tmp_path / "nested" / "short.mkv", rng.integers(0, 255, (2, 40, 40, 3), dtype=np.uint8), fps=25)
    write_video(tmp_path / "b.mp4", rng.integers(0, 255, (8, 60, 80, 3), dtype=np.uint8), fps=25, audio=True)
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "noise.webm").write_bytes(rng.bytes(5000))
    (tmp_path / "notes.mp4").write_text("not a video\n" * 20)
    (tmp_path / "readme.txt").write_text("ignored\n")
    return tmp_path


def test_folder_json_lists_predictions_and_unreadable_files(checkpoint, folder, tmp_path_factory, capsys):
    out = tmp_path_factory.mktemp("out") / "preds.json"
    code = main(["classify", str(folder), "--checkpoint", str(checkpoint), "--top-k", "5", "--output", str(out)])
    assert code == 0
    payload = json.loads(out.read_text())
    preds = {Path(p["path"]).name: p for p in payload["predictions"]}
    assert set(preds) == {"a.mp4", "short.mkv", "b.mp4"}
    for p in preds.values():
        assert len(p["labels"]) == 2 and set(p["labels"]) == {
            "square_circle_triangle",
            "triangle_circle_square",
        }  # top-k capped at 2
        assert abs(sum(p["probs"]) - 1) < 1e-4 and p["probs"][0] >= p["probs"][1]
    failures = {Path(f["path"]).name: f for f in payload["failures"]}
    assert set(failures) == {"empty.mp4", "noise.webm", "notes.mp4"}
    assert "empty" in failures["empty.mp4"]["reason"] and "text" in failures["notes.mp4"]["reason"]
    assert (payload["num_frames"], payload["size"], payload["num_clips"]) == (4, 32, 2)  # from the checkpoint
    shown = capsys.readouterr().out
    assert "UNREADABLE" in shown and "a.mp4" in shown and "1 file(s) without a video suffix" in shown


def test_csv_output_and_num_clips_override(checkpoint, folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "preds.csv"
    args = ["classify", str(folder / "a.mp4"), "--checkpoint", str(checkpoint), "--top-k", "1", "--num-clips", "3"]
    assert main([*args, "--output", str(out), "--timeout", "0"]) == 0
    rows = list(csv.DictReader(out.open(newline="")))
    assert [(Path(r["path"]).name, r["rank"]) for r in rows] == [("a.mp4", "1")]
    assert 0.5 <= float(rows[0]["probability"]) <= 1.0


def test_exit_codes_for_all_bad_input_and_misuse(checkpoint, folder, tmp_path):
    assert main(["classify", str(folder / "empty.mp4"), "--checkpoint", str(checkpoint)]) == 1
    assert main(["classify", str(folder), "--checkpoint", str(tmp_path / "missing.ckpt")]) == 2
    assert main(["classify", str(folder), "--checkpoint", str(checkpoint), "--output", "x.parquet"]) == 2
    assert main(["classify", str(folder), "--bundle", str(tmp_path)]) == 2


def test_long_file_options_windows_in_json_and_peak_memory(checkpoint, folder, tmp_path_factory, capsys):
    out = tmp_path_factory.mktemp("out") / "windows.json"
    args = ["classify", str(folder / "a.mp4"), "--checkpoint", str(checkpoint), "--stride", "1", "--windows"]
    assert main([*args, "--top-k", "1", "--output", str(out)]) == 0
    payload = json.loads(out.read_text())
    (pred,) = payload["predictions"]
    assert pred["frames"] == 12  # 10 frames, rounded up to whole clips of 4 (spread evenly)
    assert [(w["first_frame"], w["last_frame"]) for w in pred["windows"]] == [(0, 2), (3, 6), (7, 9)]
    assert [w["start_s"] for w in pred["windows"]] == [0.0, 3 / 25, 7 / 25] and len(pred["windows"][0]["labels"]) == 1
    shown = capsys.readouterr().out
    assert "0.0-0.1 s [0..2]" in shown and "peak RSS" in shown and payload["peak_rss_mib"] > 0


@pytest.mark.parametrize(
    "extra",
    [
        ["--windows"],
        ["--max-frames", "64"],
        ["--fps", "1", "--stride", "2"],
        ["--fps", "1", "--num-clips", "2"],
        ["--fps", "0"],
        ["--stride", "1", "--max-frames", "3"],  # below one clip of the model (4 frames)
    ],
)
def test_long_file_option_misuse_is_a_usage_error(checkpoint, folder, extra):
    assert main(["classify", str(folder / "a.mp4"), "--checkpoint", str(checkpoint), *extra]) == 2

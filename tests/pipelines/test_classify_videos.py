"""classify-videos on the local engine: one row per clip with the same top-k as the runtime, broken files
kept as rows with their error and listed in the rejects, inputs from a folder, a glob or a CSV."""

import numpy as np
import polars as pl
import pytest
from pipeline_fixtures import CLASSES, classify_job, read_parts

from latte_vt.pipelines.classify_videos import list_files
from latte_vt.pipelines.runner import run_job
from latte_vt.runtime import VideoClassifier


def predictions(out):
    return read_parts(out, "predictions")


def test_bundle_rows_equal_the_runtime_and_broken_files_are_rejected(clips, video_models, tmp_path):
    summary = run_job(
        classify_job(str(clips["root"] / "videos"), {"bundle": str(video_models.bundle)}, tmp_path / "out")
    )
    rows = predictions(tmp_path / "out")
    videos = sorted(str(p) for p in [*clips["good"], *clips["bad"]])
    assert rows["path"].to_list() == videos  # every video once, in order; notes.txt is not a video
    assert rows.schema == pl.Schema(
        {
            "path": pl.String,
            "labels": pl.List(pl.String),
            "probs": pl.List(pl.Float32),
            "frames_read": pl.Int64,
            "error": pl.String,
        }
    )
    classifier = VideoClassifier(video_models.bundle)
    for row in rows.filter(pl.col("error").is_null()).iter_rows(named=True):
        alone = classifier.predict(row["path"], top_k=2)  # one clip per model call; the job batches 2 files
        assert row["labels"] == alone.labels and set(row["labels"]) <= set(CLASSES)
        np.testing.assert_allclose(row["probs"], alone.probs, atol=1e-5)
        assert row["frames_read"] == 2 * 4  # two views of four frames
    bad = rows.filter(pl.col("error").is_not_null())
    assert sorted(bad["path"]) == sorted(str(p) for p in clips["bad"])
    assert (bad["frames_read"] == 0).all() and bad["labels"].list.len().max() == 0
    rejects = pl.read_parquet(tmp_path / "out" / "rejects" / "*.parquet").sort("path")
    assert rejects["path"].to_list() == sorted(bad["path"]) and set(rejects["stage"]) == {"probe"}
    assert any("empty" in r for r in rejects["reason"])
    assert (summary.items_in, summary.rows_out, summary.rejected) == (len(videos), len(videos), 2)
    assert summary.shards == 3 and summary.reasons == {"probe": 2} and summary.ok


def test_without_probing_a_broken_file_fails_at_load_and_its_shard_goes_on(clips, video_models, tmp_path):
    files = [str(clips["bad"][0]), *(str(p) for p in clips["good"][:2])]
    spec = classify_job(files, {"bundle": str(video_models.bundle)}, tmp_path / "out", probe_timeout_s=0, shard_size=8)
    summary = run_job(spec, progress=False)
    rows = predictions(tmp_path / "out")
    assert rows.height == 3 and summary.shards == 1 and summary.reasons == {"load": 1}
    assert rows.filter(pl.col("path") == files[0])["error"].item().startswith("load: ")
    assert rows["error"].null_count() == 2


def test_checkpoint_model_and_csv_input(clips, video_models, tmp_path):
    table = tmp_path / "clips.csv"
    table.write_text("path,label\n" + "".join(f"{p},?\n" for p in clips["good"][:4]))
    summary = run_job(
        classify_job(str(table), {"checkpoint": str(video_models.checkpoint)}, tmp_path / "out"), progress=False
    )
    rows = predictions(tmp_path / "out")
    assert rows["path"].to_list() == sorted(str(p) for p in clips["good"][:4]) and summary.rejected == 0
    expected = VideoClassifier(video_models.checkpoint).classify(clips["good"][:4], top_k=2, progress=False)
    by_path = {p.path: p for p in expected}
    for row in rows.iter_rows(named=True):
        assert row["labels"] == by_path[row["path"]].labels
        np.testing.assert_allclose(row["probs"], by_path[row["path"]].probs, atol=1e-5)


def test_inputs_glob_folder_and_missing(clips, tmp_path):
    videos = clips["root"] / "videos"
    assert list_files((str(videos / "clip_*.mp4"),)) == sorted(str(p) for p in clips["good"])
    assert list_files((str(videos), str(clips["good"][0]))) == sorted(str(p) for p in [*clips["good"], *clips["bad"]])
    with pytest.raises(FileNotFoundError, match="no files match"):
        list_files((str(tmp_path / "*.mp4"),))
    with pytest.raises(FileNotFoundError, match="not found"):
        list_files((str(tmp_path / "missing"),))

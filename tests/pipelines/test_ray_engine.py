"""The Ray engine on a local 2-CPU Ray cluster writes the same files as the local engine, and resumes the same."""

import sys

import polars as pl
import pytest
from pipeline_fixtures import classify_job, score_job

from latte_vt.pipelines.runner import run_job

ray = pytest.importorskip("ray")  # the `distributed` extra (part of `dev`)


@pytest.fixture(scope="module", autouse=True)
def ray_cluster():
    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


def assert_same_folders(local, on_ray, names):
    for name in names:
        local_files = sorted(p.name for p in (local / name).glob("*.parquet"))
        assert local_files and local_files == sorted(p.name for p in (on_ray / name).glob("*.parquet"))
        for file in local_files:
            assert pl.read_parquet(local / name / file).equals(pl.read_parquet(on_ray / name / file)), file


def test_score_transactions_on_ray_equals_local(events, tx_models, tmp_path):
    model = {"bundle": str(tx_models.bundle)}
    local = run_job(score_job(events, model, tmp_path / "local", workers=2), progress=False)
    on_ray = run_job(score_job(events, model, tmp_path / "ray", engine="ray"), progress=False)
    assert_same_folders(tmp_path / "local", tmp_path / "ray", ["scores", "rejects"])
    assert on_ray.engine == "ray" and on_ray.ok and on_ray.shards_run == 4
    counts = ("items_in", "rows_out", "rejected", "reasons")
    assert [getattr(on_ray, k) for k in counts] == [getattr(local, k) for k in counts]

    (tmp_path / "ray" / "_done" / "part-00001.json").unlink()  # as if that shard had been cut short
    resumed = run_job(score_job(events, model, tmp_path / "ray", engine="ray"), progress=False)
    assert (resumed.shards_skipped, resumed.shards_run) == (3, 1)
    assert_same_folders(tmp_path / "local", tmp_path / "ray", ["scores", "rejects"])


def test_classify_videos_on_ray_equals_local(clips, video_models, tmp_path):
    model = {"bundle": str(video_models.bundle)}
    source = str(clips["root"] / "videos")
    local = run_job(classify_job(source, model, tmp_path / "local", workers=2), progress=False)
    on_ray = run_job(classify_job(source, model, tmp_path / "ray", engine="ray"), progress=False)
    assert_same_folders(tmp_path / "local", tmp_path / "ray", ["predictions", "rejects"])
    assert (on_ray.items_in, on_ray.rejected, on_ray.shards) == (local.items_in, local.rejected, 3)


def test_without_ray_the_error_says_what_to_install(monkeypatch):
    from latte_vt.pipelines.ray_engine import require_ray

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r'pip install "latte-vt\[distributed\]"'):
        require_ray()

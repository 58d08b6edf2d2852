"""The README's main job, ``latte-vt quickstart``, end to end (slow: two trainings and two exports)."""

import pytest

from latte_vt.quickstart import run_quickstart


@pytest.mark.slow
def test_quickstart_generates_trains_exports_and_runs(tmp_path):
    result = run_quickstart(tmp_path, epochs=1)
    assert result["transactions"]["events_scored"] > 1000
    assert result["transactions"]["stream_vs_batch_max_diff"] <= 1e-5
    assert result["video"]["clips_classified"] >= 1
    assert (tmp_path / "transactions" / "scores.parquet").exists()
    assert (tmp_path / "video" / "bundle" / "manifest.json").exists()
    jobs = result["batch_jobs"]
    assert jobs["score-transactions"]["rows_out"] == result["transactions"]["events_scored"]
    assert jobs["score-transactions"]["shards"] == 4 and jobs["classify-videos"]["rows_out"] >= 100
    assert all(job["shards_failed"] == 0 for job in jobs.values())
    assert len(list((tmp_path / "jobs" / "score-transactions" / "scores").glob("part-*.parquet"))) == 4

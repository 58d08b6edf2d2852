"""``measure_live`` end to end on a small log (slow: a real uvicorn server and several stream runs); the median run."""

import pytest

import latte_vt.bench.live as live
from latte_vt.bench.live import STAGES, measure_live, median_stream_run, render_breakdown


@pytest.mark.slow
def test_measure_live_reports_stream_serve_and_the_baseline(transaction_bundle, tmp_path):
    results = measure_live(transaction_bundle, tmp_path, n_events=400)
    for key in ("stream_events_per_s", "stream_p50_ms", "stream_p99_ms", "serve_p50_ms", "serve_p99_ms",
                "serve_requests_per_s", "window_reencode_events_per_s"):  # fmt: skip
        assert results[key] > 0, key
    details = results["details"]
    assert details["stream"]["events"] == details["serve"]["requests"] == 400
    assert details["stream"]["rejected"] == 0 and details["stream"]["checkpoints"] >= 1
    runs = details["stream"]["runs_events_per_s"]
    assert len(runs) == live.STREAM_RUNS and results["stream_events_per_s"] == sorted(runs)[len(runs) // 2]
    assert details["stream"]["writer_us_per_event"] > 0  # the checkpoints written on the store's writer thread
    assert details["window_reencode"]["max_abs_diff_vs_stream"] <= 1e-5  # the naive path gives the same scores
    assert results["model_only_events_per_s"] > 0 and details["serve"]["requests_per_batch"] >= 1
    for breakdown in (details["stream"]["us_per_event"], details["serve"]["us_per_request"]):
        assert set(breakdown) == {*STAGES, "other"}
        assert breakdown["model"] > 0 and breakdown["encode"] > 0 and breakdown["commit"] > 0
    assert "| model |" in render_breakdown(results)


def test_the_stream_figure_is_the_median_run_with_its_own_latencies(monkeypatch, tmp_path):
    speeds = iter([30.0, 50.0, 10.0, 40.0, 20.0])

    def fake_run(bundle_dir, source, workdir, batch, name):
        speed = next(speeds)
        return {"events_per_s": speed, "p99_ms": 1000 / speed, "scores": workdir / f"{name}.jsonl"}

    monkeypatch.setattr(live, "measure_stream", fake_run)
    result = median_stream_run(tmp_path, tmp_path / "events.jsonl", tmp_path, 5)
    assert result["events_per_s"] == 30.0 and result["p99_ms"] == 1000 / 30.0  # one run's figures, not mixed
    assert result["runs_events_per_s"] == [30.0, 50.0, 10.0, 40.0, 20.0]

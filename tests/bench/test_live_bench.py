"""``measure_live`` end to end on a small log (slow: a real uvicorn server and three stream runs)."""

import pytest

from latte_vt.bench.live import STAGES, measure_live, render_breakdown


@pytest.mark.slow
def test_measure_live_reports_stream_serve_and_the_baseline(transaction_bundle, tmp_path):
    results = measure_live(transaction_bundle, tmp_path, n_events=400)
    for key in ("stream_events_per_s", "stream_p50_ms", "stream_p99_ms", "serve_p50_ms", "serve_p99_ms",
                "serve_requests_per_s", "window_reencode_events_per_s"):  # fmt: skip
        assert results[key] > 0, key
    details = results["details"]
    assert details["stream"]["events"] == details["serve"]["requests"] == 400
    assert details["stream"]["rejected"] == 0 and details["stream"]["checkpoints"] >= 1
    assert details["stream"]["writer_us_per_event"] > 0  # the checkpoints written on the store's writer thread
    assert details["window_reencode"]["max_abs_diff_vs_stream"] <= 1e-5  # the naive path gives the same scores
    assert results["model_only_events_per_s"] > 0 and details["serve"]["requests_per_batch"] >= 1
    for breakdown in (details["stream"]["us_per_event"], details["serve"]["us_per_request"]):
        assert set(breakdown) == {*STAGES, "other"}
        assert breakdown["model"] > 0 and breakdown["encode"] > 0 and breakdown["commit"] > 0
    assert "| model |" in render_breakdown(results)

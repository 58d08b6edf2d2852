"""``latte-vt bench onnx`` end to end (slow: three ONNX exports)."""

import json

import pytest

from latte_vt.cli import main


@pytest.mark.slow
def test_onnx_bench_reports_both_goals(tmp_path):
    out = tmp_path / "onnx.json"
    assert main(["bench", "onnx", "--reps", "3", "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    assert min(payload["ort_vs_torch_video_batch1"], payload["ort_vs_torch_video_batch8"]) > 0
    assert payload["ort_vs_torch_tx_full_history"] > 0 and payload["stream_vs_window_reencode"] > 0
    assert {"torch_eager_batch1", "onnxruntime_fp32_batch1", "onnxruntime_int8_batch8"} <= set(payload["video"])
    assert "| step.onnx (constant state) |" in out.with_suffix(".md").read_text()

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
    markdown = out.with_suffix(".md").read_text()
    assert "| step.onnx (constant state) |" in markdown
    for shares in payload["onnxruntime_profile"].values():  # where onnxruntime's time goes, per op type
        assert 0 < len(shares) <= 7 and abs(sum(shares.values()) - 1) < 1e-6
        assert "MatMul" in shares or "FusedMatMul" in shares
    assert "| tx_full_history |" in markdown

"""Transaction bundle: export with parity, verified loading, torch-free batch and streaming scoring."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from latte_vt.data.transactions import load_events, load_schema
from latte_vt.export import DEFAULT_OPSET
from latte_vt.runtime import Bundle, BundleError, StreamingScorer, TransactionScorer


@pytest.fixture
def bundle_dir(transaction_bundle) -> Path:
    return transaction_bundle


def test_manifest_records_files_graphs_and_parity(bundle_dir):
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    assert set(manifest["files"]) - {"model.int8.onnx"} == {
        "model.onnx",
        "step.onnx",
        "piece.onnx",
        "preprocessor.json",
        "preprocess.json",
    }
    assert manifest["parity"]["ok"] and len(manifest["parity"]["full"]) >= 3
    assert [c["input"] for c in manifest["parity"]["full"] if "input" in c] == ["real validation events"]
    assert manifest["parity"]["step_vs_full"]["max_abs_diff"] <= 1e-5
    assert "past_state.0.S" in manifest["graphs"]["step"]["inputs"]
    assert manifest["parity"]["piece_vs_full"]["ok"] and manifest["parity"]["piece_vs_full"]["pieces"][0] == 1
    assert manifest["graphs"]["piece"]["inputs"].keys() == manifest["graphs"]["step"]["inputs"].keys()
    assert manifest["opset"] == DEFAULT_OPSET and manifest["versions"]["torch"] == torch.__version__


def test_int8_is_not_judged_on_a_validation_period_without_fraud(bundle_dir):
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    judged = manifest["int8"]
    assert judged["status"] == "not judged" and judged["metric"] == "average_precision"
    assert judged["reason"].startswith("average precision is undefined: 0 positive") and judged["evaluated_on"] > 100
    assert "model.int8.onnx" not in manifest["files"] and not (bundle_dir / "model.int8.onnx").exists()
    with pytest.raises(BundleError, match=r"no model\.int8\.onnx"):
        TransactionScorer(bundle_dir, precision="int8")


def test_batch_scores_every_event_and_equal_streaming(bundle_dir):
    data = bundle_dir.parent / "data" / "events.parquet"
    scores = TransactionScorer(bundle_dir).score(data)
    assert scores.height == pl.read_parquet(data).height
    assert scores["score"].is_between(0, 1).all()
    stream = StreamingScorer(bundle_dir)
    frame = load_events(data, load_schema(bundle_dir.parent / "data" / "schema.yaml")).events
    first = frame.filter(pl.col("entity") == frame["entity"][0]).head(30)
    live = [stream.score(row) for row in first.iter_rows(named=True)]
    batch = scores.filter(pl.col("entity") == frame["entity"][0]).head(30)["score"].to_numpy()
    assert np.abs(np.array(live) - batch).max() <= 1e-5


def test_streaming_snapshot_restore_and_late_events(bundle_dir, tmp_path):
    data = bundle_dir.parent / "data" / "events.parquet"
    frame = load_events(data, load_schema(bundle_dir.parent / "data" / "schema.yaml")).events.head(60)
    rows = list(frame.iter_rows(named=True))
    whole = StreamingScorer(bundle_dir)
    expected = whole.score_batch(rows)
    first = StreamingScorer(bundle_dir)
    got = first.score_batch(rows[:25])
    first.snapshot(tmp_path / "state.npz")
    second = StreamingScorer(bundle_dir)
    second.restore(tmp_path / "state.npz")
    got += second.score_batch(rows[25:])
    assert np.abs(np.array(got) - np.array(expected)).max() <= 1e-6
    with np.load(tmp_path / "state.npz") as saved:  # a snapshot of an older version lacks the change times
        np.savez(tmp_path / "old.npz", **{k: saved[k] for k in saved.files if k != "other_time_us"})
    with pytest.raises(ValueError, match="old.npz: snapshot written by an older latte_vt"):
        StreamingScorer(bundle_dir).restore(tmp_path / "old.npz")
    late = dict(rows[30])
    late["time"] = rows[0]["time"].replace(year=rows[0]["time"].year - 1)
    with pytest.raises(ValueError, match="older than its last event"):
        second.score(late)
    with pytest.raises(ValueError, match=r"lacks required field\(s\) \['amount'\]"):
        second.score({k: v for k, v in rows[40].items() if k != "amount"})


def test_bad_bundles_are_refused(bundle_dir, tmp_path):
    broken = tmp_path / "b"
    shutil.copytree(bundle_dir, broken)
    (broken / "step.onnx").write_bytes(b"tampered")
    with pytest.raises(BundleError, match="step.onnx does not match its sha256"):
        Bundle.load(broken)
    (broken / "step.onnx").unlink()
    with pytest.raises(BundleError, match="step.onnx is missing"):
        Bundle.load(broken)
    shutil.rmtree(broken)
    shutil.copytree(bundle_dir, broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["opset"] = 9
    (broken / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="opset 9 is not supported"):
        Bundle.load(broken)
    with pytest.raises(BundleError, match="not a directory"):
        Bundle.load(tmp_path / "nope")


def test_runtime_runs_where_torch_cannot_be_imported(bundle_dir, tmp_path):
    fake = tmp_path / "no_torch" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('raise ImportError("torch is not installed in this environment")\n')
    script = f"""
import sys
from latte_vt.runtime import StreamingScorer, TransactionScorer
scores = TransactionScorer({str(bundle_dir)!r}).score({str(bundle_dir.parent / "data" / "events.parquet")!r})
StreamingScorer({str(bundle_dir)!r})
assert "torch" not in sys.modules
print("scored", scores.height)
"""
    env = {**os.environ, "PYTHONPATH": str(fake.parent)}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "scored" in proc.stdout
    check = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True, text=True, env=env)
    assert "not installed" in check.stderr  # the guard really blocks torch


def test_score_command_with_a_bundle_scores_every_event_and_quarantines_bad_rows(bundle_dir, tmp_path):
    from latte_vt.cli import main

    events = pl.read_parquet(bundle_dir.parent / "data" / "events.parquet")
    bad = events.head(3).with_columns(amount=pl.lit(None, dtype=pl.Float64))  # null amounts: rejected
    mixed = tmp_path / "mixed.parquet"
    pl.concat([events, bad.with_columns(event_id=pl.col("event_id") + "-bad")]).write_parquet(mixed)
    out = tmp_path / "scores.parquet"
    assert main(["score", str(mixed), "--bundle", str(bundle_dir), "--output", str(out)]) == 0
    scored = pl.read_parquet(out)
    assert scored.height == events.height and scored["score"].is_between(0, 1).all()
    rejects = list(tmp_path.glob("*rejects*"))
    assert rejects and pl.read_parquet(rejects[0]).height == 3

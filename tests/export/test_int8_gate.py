"""The int8 gate on real files, each branch: accepted, rejected (a damaged int8 graph) and not judged (metric
undefined, too little validation data); validation clips that cannot be used are counted and named."""

import datetime as dt
import json
import shutil

import lightning as L
import numpy as np
import onnx
import polars as pl
import pytest
import torch
from onnx import numpy_helper
from sklearn.metrics import average_precision_score
from video_checkpoint import save_video_checkpoint

from latte_vt.backbone import LatteConfig
from latte_vt.cli import main
from latte_vt.data.synthetic.transactions import TransactionSynthConfig, write_transactions
from latte_vt.data.transactions import load_events, load_schema
from latte_vt.data.video.spec import ClipSpec
from latte_vt.data.video.writer import write_video
from latte_vt.export import int8
from latte_vt.runtime import Bundle, BundleError, TransactionScorer, VideoClassifier
from latte_vt.tasks.video import VideoClassificationTask

CLASSES = ["a", "b", "c"]
DATA = {"num_frames": 4, "size": 32, "num_clips": 2, "eval_stride": 1, "mean": [0.5] * 3, "std": [0.25] * 3}


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> dict:
    """A tiny video checkpoint whose validation split is ``MIN_CLIPS`` real H.264 clips labelled with the model's
    own top-1 (fp32 scores 100 %, so any drop is the int8 graph's) and two files no decoder reads."""
    root = tmp_path_factory.mktemp("int8-video")
    torch.manual_seed(0)
    task = VideoClassificationTask(
        num_classes=3,
        classes=CLASSES,
        encoder=LatteConfig(dim=32, depth=1, heads=2, latents=8),
        num_frames=4,
        image_size=32,
    )
    unlabelled = save_video_checkpoint(task, root / "unlabelled.ckpt", DATA)
    val = root / "val"
    val.mkdir()
    good = [val / f"clip{i}.mp4" for i in range(int8.MIN_CLIPS)]
    for i, path in enumerate(good):
        write_video(path, np.random.default_rng(i).integers(0, 255, (8, 48, 64, 3), dtype=np.uint8), fps=25)
    predictions = VideoClassifier(unlabelled).classify(good, top_k=1, probe_timeout_s=None, progress=False)
    labels = [p.labels[0] for p in predictions]
    assert len(set(labels)) > 1  # the labels tell clips apart: a constant prediction cannot score 100 %
    bad = {val / "broken.mp4": b"\x00\x00\x00\x18ftypmp42 this is not a video", val / "empty.mp4": b""}
    for path, content in bad.items():
        path.write_bytes(content)
    rows = [f"{p.name},{label}" for p, label in zip(good, labels, strict=True)] + [f"{p.name},a" for p in bad]
    (val / "val.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    checkpoint = save_video_checkpoint(task, root / "model.ckpt", DATA | {"root": str(val)})
    return {"checkpoint": checkpoint, "good": list(zip(map(str, good), labels, strict=True)), "bad": list(bad)}


@pytest.fixture(scope="module")
def video_bundle(video, tmp_path_factory):
    out = tmp_path_factory.mktemp("int8-video-bundle") / "bundle"
    assert main(["export", "--checkpoint", str(video["checkpoint"]), "--out", str(out), "--int8"]) == 0
    return out


def test_int8_is_accepted_on_enough_clips_and_unusable_clips_are_named(video, video_bundle):
    manifest = json.loads((video_bundle / "manifest.json").read_text())
    judged = manifest["int8"]
    assert judged["status"] == "accepted" and judged["metric"] == "top1" and "reason" not in judged
    assert judged["evaluated_on"] == int8.MIN_CLIPS and judged["fp32"] == 1.0
    assert judged["drop_points"] == pytest.approx(100 * (judged["fp32"] - judged["int8"]))
    assert judged["drop_points"] <= int8.MAX_DROP_POINTS
    assert judged["skipped"] == 2
    reasons = {s["path"]: s["reason"] for s in judged["skipped_samples"]}
    assert reasons[str(video["bad"][1])] == "empty file (0 bytes)"
    assert set(reasons) == set(map(str, video["bad"])) and all(reasons.values())
    assert judged["file"] == "model.int8.onnx" and "model.int8.onnx" in manifest["files"]
    path, label = video["good"][0]
    assert VideoClassifier(Bundle.load(video_bundle), precision="int8").predict(path, top_k=1).labels == [label]


def _scrambled_quantize(real_quantize):
    """``quantize`` that writes the real int8 graph, then shuffles the values of every int8 weight."""

    def quantize(path):
        out = real_quantize(path)
        graph = onnx.load(out)
        weights = [w for w in graph.graph.initializer if w.data_type == onnx.TensorProto.INT8]
        assert weights  # the quantised MatMul weights
        rng = np.random.default_rng(0)
        for w in weights:
            values = numpy_helper.to_array(w)
            w.CopyFrom(numpy_helper.from_array(rng.permutation(values.ravel()).reshape(values.shape), w.name))
        onnx.save(graph, out)
        return out

    return quantize


def test_a_damaged_int8_graph_is_rejected_and_the_fp32_bundle_still_ships(video, tmp_path, monkeypatch):
    monkeypatch.setattr(int8, "quantize", _scrambled_quantize(int8.quantize))
    out = tmp_path / "bundle"
    assert main(["export", "--checkpoint", str(video["checkpoint"]), "--out", str(out), "--int8"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    judged = manifest["int8"]
    assert judged["status"] == "rejected" and judged["file"] is None
    assert judged["evaluated_on"] == int8.MIN_CLIPS and judged["fp32"] == 1.0 and judged["int8"] < 0.9
    assert judged["drop_points"] == pytest.approx(100 * (1.0 - judged["int8"]))
    assert judged["drop_points"] > int8.MAX_DROP_POINTS
    assert f"dropped {judged['drop_points']:.2f} points" in judged["reason"]
    assert not (out / "model.int8.onnx").exists() and "model.int8.onnx" not in manifest["files"]
    path, label = video["good"][0]
    assert VideoClassifier(Bundle.load(out)).predict(path, top_k=1).labels == [label]
    with pytest.raises(BundleError, match=r"no model\.int8\.onnx"):
        VideoClassifier(out, precision="int8")


def _judge_copy(bundle, root, evaluator):
    """Judge int8 on a copy of ``bundle``'s graph in ``root``; returns the manifest entry and the files left."""
    root.mkdir()
    for name in ("model.onnx", "preprocessor.json"):
        if (bundle / name).exists():
            shutil.copy(bundle / name, root)
    entry = int8.judge(root, evaluator)
    return entry, sorted(p.name for p in root.iterdir())


def test_video_int8_is_not_judged_without_a_usable_clip_or_with_too_few(video, video_bundle, tmp_path):
    spec = ClipSpec.from_dict(json.loads((video_bundle / "preprocess.json").read_text()))
    unusable = [(str(p), "a") for p in video["bad"]] + [(video["good"][0][0], "zebra")]
    entry, left = _judge_copy(video_bundle, tmp_path / "none", int8.video_evaluator(spec, CLASSES, unusable))
    assert entry["status"] == "not judged" and entry["file"] is None and left == ["model.onnx"]
    assert entry["reason"].startswith("top-1 is undefined") and entry["evaluated_on"] == 0
    assert "fp32" not in entry and entry["skipped"] == 3
    assert entry["skipped_samples"][2]["reason"] == "label 'zebra' is not one of the model's classes"

    few = video["good"][: int8.MIN_CLIPS - 1]
    entry, left = _judge_copy(video_bundle, tmp_path / "few", int8.video_evaluator(spec, CLASSES, few))
    assert entry["status"] == "not judged" and left == ["model.onnx"]
    assert entry["evaluated_on"] == int8.MIN_CLIPS - 1 and entry["skipped"] == 0
    assert f"at least {int8.MIN_CLIPS}" in entry["reason"]


def test_transaction_int8_is_not_judged_with_too_few_positives(transaction_bundle, tmp_path):
    data = transaction_bundle.parent / "data"
    events = load_events(data / "events.parquet", load_schema(data / "schema.yaml")).events
    positives = int(events["label"].sum())
    assert 0 < positives < int8.MIN_POSITIVES
    evaluator = int8.transaction_evaluator(transaction_bundle, events)
    entry, left = _judge_copy(transaction_bundle, tmp_path / "judged", evaluator)
    assert entry["status"] == "not judged" and entry["metric"] == "average_precision"
    assert entry["reason"].startswith(f"too few positives: {positives} among the {events.height} labelled")
    assert entry["evaluated_on"] == events.height and left == ["model.onnx", "preprocessor.json"]


@pytest.fixture(scope="module")
def transactions(tmp_path_factory) -> dict:
    """A transaction scorer trained for a few steps by Lightning on a synthetic log whose validation period
    holds well over ``MIN_POSITIVES`` fraud labels; the checkpoint as ``Trainer.save_checkpoint`` writes it."""
    from latte_vt.tasks.transactions import TransactionScoringTask
    from latte_vt.tasks.transactions_data import TransactionDataModule

    root = tmp_path_factory.mktemp("int8-tx")
    config = TransactionSynthConfig(accounts=120, days=20, seed=3, fraud_rate=0.06)
    log = write_transactions(root / "data", config, "parquet")
    data = TransactionDataModule(paths=str(log), min_freq=1, window=64, val_fraction=0.4, test_fraction=0.1)
    torch.manual_seed(0)
    task = TransactionScoringTask(
        encoder=LatteConfig(dim=16, depth=1, heads=2, latents=4, chunk_size=16), data_info=data.data_info
    )
    trainer = L.Trainer(
        max_steps=10,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=root,
    )
    trainer.fit(task, datamodule=data)
    trainer.save_checkpoint(root / "model.ckpt")
    info = data.data_info
    events = load_events(log, load_schema(log.parent / "schema.yaml")).events
    start, end = (dt.datetime.fromisoformat(info[k]) for k in ("val_start", "test_start"))
    val = events.filter((pl.col("time") >= start) & (pl.col("time") < end))
    return {"checkpoint": root / "model.ckpt", "val": val}


def test_transaction_export_int8_through_the_cli_is_judged_by_average_precision(transactions, tmp_path, capsys):
    out = tmp_path / "bundle"
    assert main(["export", "--checkpoint", str(transactions["checkpoint"]), "--out", str(out), "--int8"]) == 0
    assert "bundle written" in capsys.readouterr().out
    judged = json.loads((out / "manifest.json").read_text())["int8"]
    val = transactions["val"]
    assert val["label"].sum() >= int8.MIN_POSITIVES and judged["evaluated_on"] == val.height
    assert judged["status"] == "accepted" and judged["metric"] == "average_precision"
    assert abs(judged["drop_points"]) <= int8.MAX_DROP_POINTS and (out / "model.int8.onnx").exists()
    for precision in ("fp32", "int8"):  # the figures are what the shipped graphs give on the validation period
        scores = TransactionScorer(out, precision=precision).score(val).join(val, on="event_id")
        ap = average_precision_score(scores["label"].to_numpy(), scores["score"].to_numpy())
        assert ap == pytest.approx(judged[precision], abs=1e-4)

"""Video bundle from a checkpoint through ``latte-vt export``; torch-free prediction on a real clip."""

import json

import numpy as np
import pytest
import torch
from video_checkpoint import save_video_checkpoint

from latte_vt.backbone import LatteConfig
from latte_vt.cli import main
from latte_vt.data.video.writer import write_video
from latte_vt.runtime import BundleError, VideoClassifier
from latte_vt.tasks.video import VideoClassificationTask


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("video")
    torch.manual_seed(0)
    task = VideoClassificationTask(
        num_classes=3,
        classes=["a", "b", "c"],
        encoder=LatteConfig(dim=32, depth=1, heads=2, latents=8),
        num_frames=4,
        image_size=32,
    )
    data = {"num_frames": 4, "size": 32, "num_clips": 2, "eval_stride": 1, "mean": [0.5] * 3, "std": [0.25] * 3}
    return save_video_checkpoint(task, root / "model.ckpt", data)


def test_export_command_writes_a_bundle_that_classifies_real_clips(checkpoint, tmp_path):
    out = tmp_path / "bundle"
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(out), "--preset", "export/default.yaml"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["task"] == "video" and manifest["parity"]["ok"]
    assert all(c["same_argmax"] for c in manifest["parity"]["full"])
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(out)]) == 2  # exists, no --force
    clip = tmp_path / "clip.mp4"
    frames = np.random.default_rng(0).integers(0, 255, (12, 96, 128, 3), dtype=np.uint8)
    write_video(clip, frames, fps=25)
    classifier = VideoClassifier(out)
    pred = classifier.predict(clip, top_k=2)
    assert len(pred.labels) == 2 and set(pred.labels) <= {"a", "b", "c"} and pred.frames_read == 2 * 4
    assert pred.probs[0] >= pred.probs[1] > 0
    from_array = classifier.predict(frames, top_k=3)
    assert abs(sum(from_array.probs) - 1) < 1e-5
    with pytest.raises(ValueError, match=r"uint8 \(T, H, W, 3\)"):
        classifier.predict(frames.astype(np.float32))
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all")
    preds = tmp_path / "preds.json"
    assert main(["classify", str(tmp_path), "--bundle", str(out), "--top-k", "2", "--output", str(preds)]) == 0
    report = json.loads(preds.read_text())
    assert [p["path"] for p in report["predictions"]] == [str(clip)]
    assert report["predictions"][0]["labels"] == pred.labels
    assert [f["path"] for f in report["failures"]] == [str(tmp_path / "broken.mp4")]
    assert main(["classify", str(clip), "--bundle", str(out), "--checkpoint", str(checkpoint)]) == 2


def test_int8_preset_measures_top1_on_the_validation_split(checkpoint, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rows = ["path,label"]
    for i, label in enumerate(["a", "b", "c", "a"]):
        frames = np.random.default_rng(i).integers(0, 255, (8, 64, 80, 3), dtype=np.uint8)
        write_video(data / f"clip{i}.mp4", frames, fps=25)
        rows.append(f"clip{i}.mp4,{label}")
    (data / "val.csv").write_text("\n".join(rows) + "\n")
    ckpt = torch.load(checkpoint, weights_only=False)
    ckpt["datamodule_hyper_parameters"]["root"] = str(data)
    path = tmp_path / "with_data.ckpt"
    torch.save(ckpt, path)
    out = tmp_path / "bundle"
    assert main(["export", "--checkpoint", str(path), "--out", str(out), "--preset", "export/edge-int8.yaml"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    real = [c for c in manifest["parity"]["full"] if c["input"] == "real clip"]
    assert len(real) == 4 and all(c["ok"] for c in real)  # the validation clips, decoded at 64 x 80
    assert {(c["batch"], c["height"], c["width"]) for c in real} == {(2, 64, 80)}
    judged = manifest["int8"]  # 4 clips cannot resolve a 1-point drop in top-1 (test_int8_gate: each branch)
    assert judged["metric"] == "top1" and judged["evaluated_on"] == 4 and judged["status"] == "not judged"
    assert "too few clips: 4" in judged["reason"] and not (out / "model.int8.onnx").exists()


def test_bad_checkpoints_and_wrong_bundle_kind(tmp_path, checkpoint, capsys):
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint")
    assert main(["export", "--checkpoint", str(junk), "--out", str(tmp_path / "b")]) == 2
    assert f"{junk}: not a readable latte_vt checkpoint" in capsys.readouterr().err
    assert main(["export", "--checkpoint", str(tmp_path / "missing.ckpt"), "--out", str(tmp_path / "b")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    with pytest.raises(BundleError, match="manifest.json is missing"):
        VideoClassifier(tmp_path)

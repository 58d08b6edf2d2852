"""ONNX export parity for the video tokenizer options the benchmark uses (conv stem, keypoints, centering)."""

import json

import pytest
import torch
from video_checkpoint import save_video_checkpoint

from latte_vt.backbone import LatteConfig
from latte_vt.cli import main
from latte_vt.tasks.video import VideoClassificationTask

OPTIONS = {
    "patch_stem": {"tokenizer": "patch", "patch": 8, "tubelet": 4, "patch_stem": 4, "temporal_centering": True},
    "frame_keypoints": {
        "tokenizer": "frame",
        "frame_backbone": "test_resnet",
        "frame_pool": "keypoints",
        "frame_stage": 1,
        "temporal_centering": True,
    },
}


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_export_parity_with_tokenizer_options(name, tmp_path):
    torch.manual_seed(0)
    task = VideoClassificationTask(
        num_classes=3,
        classes=["a", "b", "c"],
        encoder=LatteConfig(dim=16, depth=1, heads=2, latents=4),
        num_frames=8,
        image_size=32,
        **OPTIONS[name],
    )
    data = {"num_frames": 8, "size": 32, "num_clips": 1, "eval_stride": 1}
    checkpoint = save_video_checkpoint(task, tmp_path / "model.ckpt", data)
    out = tmp_path / "bundle"
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(out), "--preset", "export/default.yaml"]) == 0
    parity = json.loads((out / "manifest.json").read_text())["parity"]
    assert parity["ok"] and len(parity["full"]) >= 3  # several batch sizes and clip lengths
    assert all(case["same_argmax"] and case["max_abs_diff"] < 1e-4 for case in parity["full"])

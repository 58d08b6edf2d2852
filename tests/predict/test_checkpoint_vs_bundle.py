"""A checkpoint and the bundle exported from it give the same answers on real files: video clips of many
sizes, aspect ratios and codecs (``classify --checkpoint`` vs ``--bundle``), and event logs with bad rows
(``score --checkpoint`` vs ``--bundle``, identical rejects). Both run one preprocessing function."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from latte_vt.cli import main
from latte_vt.data.video.preprocess import ClipPreprocess
from latte_vt.data.video.spec import ClipSpec
from latte_vt.data.video.writer import write_video

# (name, height, width, codec, audio): real-world shapes — 720p with sound, cinema, QCIF, portrait, VP9, MPEG-4
FOOTAGE = [
    ("hd_audio.mp4", 720, 1280, "libx264", True),
    ("cinema.mp4", 272, 640, "libx264", False),
    ("qcif.mp4", 144, 176, "libx264", False),
    ("portrait.mp4", 640, 360, "libx264", False),
    ("vp9.webm", 240, 320, "libvpx-vp9", False),
    ("mpeg4.avi", 180, 320, "mpeg4", False),
]


def moving_shapes(frames: int, height: int, width: int, seed: int) -> np.ndarray:
    """(T, H, W, 3) uint8: a colour ramp background and two squares moving across it."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    base = np.stack([xs * 255 // width, ys * 255 // height, np.full_like(xs, 60)], axis=-1).astype(np.uint8)
    video = np.repeat(base[None], frames, axis=0)
    side = max(8, min(height, width) // 5)
    for colour in rng.integers(0, 256, (2, 3)):
        y0, x0 = rng.integers(0, height - side), rng.integers(0, width - side)
        dy, dx = rng.integers(-height // 10, height // 10 + 1), rng.integers(-width // 10, width // 10 + 1)
        for t in range(frames):
            y = int(np.clip(y0 + dy * t // 2, 0, height - side))
            x = int(np.clip(x0 + dx * t // 2, 0, width - side))
            video[t, y : y + side, x : x + side] = colour
    return video


def write_footage(folder: Path) -> None:
    for i, (name, height, width, codec, audio) in enumerate(FOOTAGE):
        write_video(folder / name, moving_shapes(12, height, width, i), fps=25, codec=codec, audio=audio)


@pytest.fixture(scope="module")
def footage(tmp_path_factory) -> Path:
    """The clips, encoded in a fresh process: once decord is loaded, PyAV's VP9 encoder fails to open."""
    folder = tmp_path_factory.mktemp("footage")
    script = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import {Path(__file__).stem} as t; "
    script += f"t.write_footage(t.Path({str(folder)!r}))"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return folder


@pytest.fixture(scope="module", params=["python", "config", "confident"])
def video_model(request, video_checkpoints, tmp_path_factory) -> tuple[Path, Path]:
    """(checkpoint, bundle): the two trained checkpoints, and one whose head is scaled 30x so its
    probabilities are far from uniform (where preprocessing differences would show most)."""
    root = tmp_path_factory.mktemp(f"video_{request.param}")
    if request.param == "confident":
        raw = torch.load(video_checkpoints["python"], map_location="cpu", weights_only=False)
        for key in ("model.head.weight", "model.head.bias"):
            raw["state_dict"][key] = raw["state_dict"][key] * 30
        ckpt = root / "confident.ckpt"
        torch.save(raw, ckpt)
    else:
        ckpt = video_checkpoints[request.param]
    assert main(["export", "--checkpoint", str(ckpt), "--out", str(root / "bundle")]) == 0
    return ckpt, root / "bundle"


def classify(model_flag: str, model: Path, footage: Path, out: Path) -> dict[str, dict]:
    args = ["classify", str(footage), model_flag, str(model), "--top-k", "6", "--output", str(out)]
    assert main(args) == 0
    report = json.loads(out.read_text())
    assert not report["failures"]
    return {p["path"]: dict(zip(p["labels"], p["probs"], strict=True)) for p in report["predictions"]}


def test_classify_checkpoint_and_bundle_agree_on_real_footage(video_model, footage, tmp_path):
    ckpt, bundle = video_model
    torch_side = classify("--checkpoint", ckpt, footage, tmp_path / "ckpt.json")
    onnx_side = classify("--bundle", bundle, footage, tmp_path / "bundle.json")
    assert sorted(torch_side) == sorted(onnx_side) == sorted(str(footage / f[0]) for f in FOOTAGE)
    spreads = []
    for path, probs in torch_side.items():
        other = onnx_side[path]
        assert max(probs, key=probs.get) == max(other, key=other.get), path  # same top-1
        assert max(abs(probs[c] - other[c]) for c in probs) <= 1e-3, path
        spreads.append(max(probs.values()) - min(probs.values()))
    if ckpt.name == "confident.ckpt":
        assert max(spreads) > 0.5  # the comparison really happened away from uniform outputs


def test_the_crop_keeps_the_centre_of_wide_footage():
    """A 1280x720 horizontal ramp: short side to round(32 * 8 / 7) = 37 px, centre 32 px: the model sees the
    middle 32 / 65.8 = 48.6 % of the width (the ramp's values 65..190), the same in torch and in the bundle."""
    ramp = np.broadcast_to(np.linspace(0, 255, 1280, dtype=np.float32), (720, 1280)).round().astype(np.uint8)
    frames = np.repeat(ramp[None, None, :, :, None], 3, axis=-1)  # (1, 1, 720, 1280, 3)
    spec = ClipSpec(num_frames=1, size=32, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    out = ClipPreprocess(spec)(torch.from_numpy(frames))[0, 0, 0] * 255  # (32, 32) back in pixel values
    first, last = out[:, 0].mean().item(), out[:, -1].mean().item()
    assert abs(first - 255 * (1 - 0.486) / 2) < 4 and abs(last - 255 * (1 + 0.486) / 2) < 4


def test_score_checkpoint_and_bundle_agree_and_reject_the_same_rows(tx_checkpoints, tx_data, tmp_path):
    ckpt = tx_checkpoints["python"]
    assert main(["export", "--checkpoint", str(ckpt), "--out", str(tmp_path / "bundle")]) == 0
    frame = pl.read_parquet(tx_data).with_columns(pl.col("amount").cast(pl.String))
    frame = frame.with_columns(pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%S%.f"))
    bad = frame.head(4).with_columns(
        pl.Series("amount", ["n/a", "1.0", "2.0", "3.0"]),
        pl.Series("account_id", ["a1", None, "a1", "a2"]),
        pl.Series("timestamp", [frame["timestamp"][0], frame["timestamp"][1], "yesterday", frame["timestamp"][3]]),
        pl.Series("event_id", ["x1", "x2", "x3", frame["event_id"][10]]),  # the last duplicates an event id
    )
    events = tmp_path / "events.csv"
    pl.concat([frame, bad]).write_csv(events)
    results = {}
    for flag, model in (("--checkpoint", ckpt), ("--bundle", tmp_path / "bundle")):
        out = tmp_path / flag.strip("-") / "scores.parquet"
        assert main(["score", str(events), flag, str(model), "--output", str(out)]) == 0
        results[flag] = (pl.read_parquet(out), pl.read_parquet(out.with_name("scores.rejects.parquet")))
    (scores_t, rejects_t), (scores_o, rejects_o) = results["--checkpoint"], results["--bundle"]
    assert rejects_t.equals(rejects_o) and rejects_t.height == 4
    assert sorted(rejects_t["reject_reason"]) == [
        "duplicate_event_id",
        "null_entity",
        "unparseable_amount",
        "unparseable_time",
    ]
    assert scores_t.height == scores_o.height == frame.height
    assert scores_t["event_id"].equals(scores_o["event_id"])
    assert (scores_t["score"] - scores_o["score"]).abs().max() <= 1e-5


def test_video_classifier_and_a_served_request_run_where_torch_cannot_be_imported(
    video_model, footage, transaction_bundle, live_events, tmp_path
):
    _, bundle = video_model
    fake = tmp_path / "no_torch" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('raise ImportError("torch is not installed in this environment")\n')
    event = {**live_events[0], "time": live_events[0]["time"].isoformat()}
    script = f"""
import json, sys
from fastapi.testclient import TestClient
from latte_vt.runtime import VideoClassifier
from latte_vt.runtime.serve import ScoringService, create_app
rows = VideoClassifier({str(bundle)!r}).classify([{str(footage / "hd_audio.mp4")!r}, {str(footage / "vp9.webm")!r}])
assert all(r.ok for r in rows), rows
with TestClient(create_app(ScoringService({str(transaction_bundle)!r}, {str(tmp_path / "s.sqlite")!r}))) as client:
    reply = client.post("/score", json={json.dumps(event)})
assert reply.status_code == 200 and reply.json()["scored"] == 1, reply.text
assert "torch" not in sys.modules
print("ok", [r.labels[0] for r in rows])
"""
    env = {**os.environ, "PYTHONPATH": str(fake.parent)}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("ok")

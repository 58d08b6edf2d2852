"""Long real footage (minutes of H.264 with an audio track): sampling by rate or stride across the whole file,
chunked decoding at model size (the frames asked for, in order, and exactly the pixels the model would
crop), one model pass or windows, the checkpoint and its bundle giving the same answers (the bundle
without torch), and truncated long files as failed rows. ``footage.py`` writes the files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from latte_vt.cli import main
from latte_vt.data.video.preprocess import ClipPreprocess
from latte_vt.data.video.reader import open_video
from latte_vt.data.video.spec import ClipSpec
from latte_vt.errors import InputError
from latte_vt.predict import VideoClassifier
from latte_vt.predict.clips import FootageSampling, decode_footage, footage_crop, footage_indices

sys.path.insert(0, str(Path(__file__).parent))
from footage import read_frame_numbers  # noqa: E402

SECONDS, FPS = 180, 4  # three minutes: 720 frames of 160 x 120
SPEC = ClipSpec(num_frames=4, size=32)  # the test models' clip: short side 37


def write_in_subprocess(path: Path, seconds: float, fps: int, width: int, height: int) -> Path:
    """Encode with PyAV in a fresh process: with decord loaded, some PyAV encoders fail to open."""
    here = str(Path(__file__).parent)
    script = f"import sys; sys.path.insert(0, {here!r}); from footage import write_footage; from pathlib import Path; "
    script += f"write_footage(Path({str(path)!r}), {seconds}, {fps}, {width}, {height})"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return path


@pytest.fixture(scope="module")
def long_files(tmp_path_factory) -> Path:
    """long.mp4 and long.mkv (3 minutes, audio), and cut.mp4 / cut.mkv: the same cut off after 60 % of the bytes."""
    folder = tmp_path_factory.mktemp("long")
    for suffix in (".mp4", ".mkv"):
        data = write_in_subprocess(folder / f"long{suffix}", SECONDS, FPS, 160, 120).read_bytes()
        (folder / f"cut{suffix}").write_bytes(data[: len(data) * 6 // 10])
    return folder


@pytest.fixture(scope="module")
def models(video_checkpoints, tmp_path_factory) -> tuple[Path, Path]:
    """(checkpoint, bundle): a trained test checkpoint (4 frames, 32 px) and the bundle exported from it."""
    out = tmp_path_factory.mktemp("footage_bundle") / "bundle"
    assert main(["export", "--checkpoint", str(video_checkpoints["python"]), "--out", str(out)]) == 0
    return video_checkpoints["python"], out


def test_stride_keeps_its_spacing_and_fps_spreads_whole_clips_over_the_file():
    n = SECONDS * FPS
    by_stride = footage_indices(n, FPS, SPEC, FootageSampling(stride=10))  # 72 frames: whole clips already
    gaps = np.diff(by_stride[0])  # centred with a half-frame margin: the middle gap gives way to symmetry
    assert by_stride.shape == (1, 72) and (gaps == 10).sum() == 70 and set(gaps) == {9, 10}
    by_fps = footage_indices(n, FPS, SPEC, FootageSampling(fps=1))  # one frame per second of video
    assert by_fps.shape == (1, 180) and by_fps[0, 0] == 0 and by_fps[0, -1] == n - 1
    assert np.array_equal(by_fps[0][::-1], n - 1 - by_fps[0])  # symmetric under time reversal
    assert footage_indices(n, FPS, SPEC, FootageSampling(fps=0.3)).shape == (1, 56)  # 54 frames -> whole clips
    capped = footage_indices(n, FPS, SPEC, FootageSampling(stride=1, max_frames=42))  # 40: whole clips of 4
    assert capped.shape == (1, 40) and (capped[0, 0], capped[0, -1]) == (0, n - 1)
    windows = footage_indices(n, FPS, SPEC, FootageSampling(fps=1, windows=True))
    assert windows.shape == (45, 4) and np.array_equal(windows.ravel(), by_fps[0])
    short = footage_indices(3, FPS, SPEC, FootageSampling(fps=1))  # shorter than a clip: stretched to one
    assert short.shape == (1, 4) and set(short[0]) == {0, 1, 2}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "exactly one of fps or stride"),
        ({"fps": 1, "stride": 2}, "exactly one of fps or stride"),
        ({"fps": 0}, "fps must be a positive number"),
        ({"fps": float("nan")}, "fps must be a positive number"),
        ({"stride": 0}, "stride must be at least 1"),
        ({"stride": 1, "max_frames": 0}, "max_frames must be at least 1"),
    ],
)
def test_bad_sampling_settings_are_refused(kwargs, message):
    with pytest.raises(InputError, match=message):
        FootageSampling(**kwargs)


def test_a_cap_below_one_clip_and_fps_without_a_frame_rate_are_refused():
    with pytest.raises(InputError, match=r"max_frames \(3\) must be at least the model's clip \(4 frames\)"):
        footage_indices(100, 25, SPEC, FootageSampling(stride=1, max_frames=3))
    with pytest.raises(InputError, match="no frame rate"):
        decode_footage(np.zeros((10, 8, 8, 3), np.uint8), SPEC, FootageSampling(fps=1))
    frames = np.arange(10, dtype=np.uint8)[:, None, None, None].repeat(8, 1).repeat(8, 2).repeat(3, 3)
    footage = decode_footage(frames, SPEC, FootageSampling(stride=3))  # arrays: by stride
    assert footage.indices.tolist() == [[0, 3, 6, 9]] and footage.views[0, :, 0, 0, 0].tolist() == [0, 3, 6, 9]


@pytest.mark.parametrize("name", ["long.mp4", "long.mkv"])
def test_decoded_footage_is_the_sampled_frames_at_model_size(long_files, name):
    footage = decode_footage(long_files / name, SPEC, FootageSampling(fps=1, windows=True))
    assert footage.views.shape == (45, 4, 37, 37, 3) and footage.fps == FPS  # short side 37, the crop's square
    assert np.array_equal(read_frame_numbers(footage.views.reshape(-1, 37, 37, 3)), footage.indices.ravel())


def test_the_models_preprocessing_sees_the_same_pixels_as_from_the_whole_scaled_frame(long_files):
    """The square cut from each scaled frame is exactly what ``ClipPreprocess`` crops from the whole frame."""
    sampling = FootageSampling(stride=97)
    footage = decode_footage(long_files / "long.mp4", SPEC, sampling)
    (width, height), _ = footage_crop(160, 120, SPEC)
    video = open_video(long_files / "long.mp4")
    video.resize(width, height)
    whole = video.get(footage.indices.ravel())[None]  # (1, T, 37, 49, 3): the decoder's scaled frames
    preprocess = ClipPreprocess(SPEC)
    expected = preprocess(torch.from_numpy(whole))  # (1, T, 3, 32, 32)
    assert torch.allclose(preprocess(torch.from_numpy(footage.views)), expected, atol=1e-5)


@pytest.mark.parametrize("windows", [False, True])
def test_checkpoint_and_bundle_give_the_same_answer_on_long_footage(models, long_files, windows):
    """One pass over 180 frames (a length the graph was never traced at) or 45 windows, both backends."""
    checkpoint, bundle = models
    sampling = FootageSampling(fps=1, windows=windows)
    ours = [VideoClassifier(m, sampling=sampling).predict(long_files / "long.mkv", top_k=6) for m in models]
    by_label = [dict(zip(p.labels, p.probs, strict=True)) for p in ours]
    assert by_label[0].keys() == by_label[1].keys()
    assert all(abs(by_label[0][k] - by_label[1][k]) < 1e-4 for k in by_label[0])
    assert ours[0].frames_read == ours[1].frames_read == 180
    if windows:
        assert [(w.first_frame, w.last_frame) for w in ours[0].windows] == [
            (w.first_frame, w.last_frame) for w in ours[1].windows
        ]
        assert len(ours[0].windows) == 45 and ours[0].windows[-1].end_s == (SECONDS * FPS - 1) / FPS
        for a, b in zip(ours[0].windows, ours[1].windows, strict=True):
            assert a.labels[0] == b.labels[0] or abs(a.probs[0] - b.probs[0]) < 1e-4
    else:
        assert ours[0].windows == []


def test_bundle_classifies_long_footage_without_torch(models, long_files, tmp_path):
    _, bundle = models
    fake = tmp_path / "no_torch" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('raise ImportError("torch is not installed in this environment")\n')
    out = tmp_path / "preds.json"
    script = f"""
import sys
from latte_vt.cli import main
code = main(["classify", {str(long_files)!r}, "--bundle", {str(bundle)!r}, "--fps", "2", "--windows",
             "--output", {str(out)!r}])
assert "torch" not in sys.modules
sys.exit(code)
"""
    env = {**os.environ, "PYTHONPATH": str(fake.parent)}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    payload = json.loads(out.read_text())
    assert {Path(p["path"]).name for p in payload["predictions"]} == {"long.mp4", "long.mkv"}
    for p in payload["predictions"]:
        assert p["frames"] == 360 and len(p["windows"]) == 90
        assert [w["first_frame"] for w in p["windows"]] == sorted(w["first_frame"] for w in p["windows"])
    failures = {Path(f["path"]).name: f for f in payload["failures"]}
    assert set(failures) == {"cut.mp4", "cut.mkv"}  # truncated: a failed row each, with the reason
    assert "truncated: 432 frames (108.0 s) of the 180.0 s" in failures["cut.mkv"]["reason"]  # decodable, but cut
    assert "cannot open" in failures["cut.mp4"]["reason"]  # no index at the end: nothing to read
    assert payload["footage_sampling"] == {"fps": 2.0, "stride": None, "max_frames": 1024, "windows": True}
    assert 0 < payload["peak_rss_mib"] < 2048
    assert "peak RSS" in proc.stdout and "2 unreadable" in proc.stdout


LONG_720P = Path("/tmp/latte_vt_720p_10min.mp4")  # written once, reused across runs


@pytest.mark.slow
def test_ten_minutes_of_720p_classify_in_bounded_memory(models, tmp_path):
    """A 10-minute 1280x720 H.264 file with audio, one frame per second (600 frames, one model pass): the
    checkpoint and the bundle, each in a fresh process, agree and report a peak RSS far below the
    file's decoded size (15,000 frames x 2.6 MiB = 39 GiB)."""
    if not LONG_720P.exists():
        part = write_in_subprocess(LONG_720P.with_suffix(".part.mp4"), 600, 25, 1280, 720)
        part.rename(LONG_720P)
    payloads = []
    for flag, model in zip(("--checkpoint", "--bundle"), models, strict=True):
        out = tmp_path / f"{flag[2:]}.json"
        command = ["classify", str(LONG_720P), flag, str(model), "--fps", "1", "--output", str(out)]
        script = f"import sys; from latte_vt.cli import main; sys.exit(main({command!r}))"
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr[-3000:]
        payloads.append(json.loads(out.read_text()))
    for payload in payloads:
        (pred,) = payload["predictions"]
        assert pred["frames"] == 600 and payload["peak_rss_mib"] < 1500
    assert payloads[1]["peak_rss_mib"] < 400  # onnxruntime, no torch
    probs = [dict(zip(p["predictions"][0]["labels"], p["predictions"][0]["probs"], strict=True)) for p in payloads]
    assert all(abs(probs[0][k] - probs[1][k]) < 1e-4 for k in probs[0])

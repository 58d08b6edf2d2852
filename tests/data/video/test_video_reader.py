"""decord reader and subprocess probe on real encoded clips and on broken files."""

from __future__ import annotations

import numpy as np
import pytest
from video_clips import FORMATS, write_clip

from latte_vt.data.video.probe import ProbeWorker, probe_many
from latte_vt.data.video.reader import VideoReadError, open_video, probe, read_frames, video_info


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_real_formats_decode_in_the_order_asked(clips, name):
    if name not in clips:
        pytest.skip(f"this PyAV build has no {FORMATS[name][4]} encoder")
    clip = clips[name]
    T, H, W, _ = clip.frames.shape
    info = video_info(clip.path)
    assert (info.num_frames, info.width, info.height) == (T, W, H)
    assert info.fps == pytest.approx(clip.fps, abs=0.01)
    order = [T - 1, 0, T // 2, 0, 1]  # backwards, repeated, across B-frames
    frames = read_frames(clip.path, order)
    assert frames.shape == (len(order), H, W, 3) and frames.dtype == np.uint8
    decoded = frames.reshape(len(order), -1).mean(1)
    expected = clip.frames[order].reshape(len(order), -1).mean(1)
    assert np.abs(decoded - expected).max() < 4, (decoded, expected)


def test_widths_decord_cannot_copy_are_decoded_upscaled(tmp_path):
    clip = write_clip(tmp_path / "narrow.mp4", width=48, height=64, T=12)
    info = video_info(clip.path)
    assert (info.width, info.height, info.num_frames) == (48, 64, 12)
    video = open_video(clip.path)
    frames = video.get(range(12))
    assert frames.shape == (12, 64 * video.scale, 48 * video.scale, 3) and video.scale > 1
    assert video.get([3]).shape == frames[3:4].shape  # the upscaled reader is kept
    means = frames.reshape(12, -1).mean(1)
    assert np.abs(means - clip.frames.reshape(12, -1).mean(1)).max() < 4


@pytest.mark.parametrize(
    "kind", ["empty", "random_bytes", "truncated", "text", "truncated_faststart", "audio_only", "missing"]
)
def test_bad_files_raise_a_read_error_with_a_reason(bad_files, kind):
    path, words = bad_files[kind]
    with pytest.raises(VideoReadError) as err:
        video_info(path)
    assert err.value.path == str(path)
    assert words in err.value.reason and err.value.reason.strip()
    assert str(path) in str(err.value)


def test_out_of_range_indices_are_a_clear_error(clips):
    path = clips["h264_176x144_25fps.mp4"].path
    with pytest.raises(ValueError, match=r"indices must be in \[0, 20\)"):
        read_frames(path, [0, 20])


def test_probe_matches_in_process_and_reports_the_same_reasons(clips, bad_files):
    path = clips["h264_320x240_ntsc_audio.mp4"].path
    assert probe(path, timeout_s=30) == video_info(path)
    bad, words = bad_files["text"]
    with pytest.raises(VideoReadError, match=words):
        probe(bad, timeout_s=30)


def test_probe_times_out_kills_the_worker_and_recovers(tmp_path, clips):
    slow = write_clip(tmp_path / "slow.mp4", width=640, height=360, T=40).path  # a full decode takes far longer
    with ProbeWorker(timeout_s=0.01) as worker:
        with pytest.raises(VideoReadError, match="timed out after 0.01 s"):
            worker.probe(slow, decode="all")
        worker.timeout_s = 60
        assert worker.probe(slow, decode="all").num_frames == 40  # a fresh worker took over


def test_probe_many_keeps_order_and_gives_every_bad_file_its_reason(clips, bad_files):
    good = [c.path for c in clips.values()]
    bad = [p for p, _ in bad_files.values()]
    paths = [p for pair in zip(good, bad, strict=False) for p in pair] + good[len(bad) :]
    results = probe_many(paths, timeout_s=30, workers=2, progress=False)
    assert [r.path for r in results] == [str(p) for p in paths]
    for r in results:
        if r.path in map(str, good):
            assert r.ok and r.info.num_frames > 0 and r.reason is None
        else:
            assert not r.ok and r.info is None and r.reason

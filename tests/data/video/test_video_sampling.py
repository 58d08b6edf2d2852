"""Clip index sampling: symmetric evaluation clips, in-range increasing training clips, padding of short videos."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latte_vt.data.video.sampling import ClipSampler, eval_clip_indices, train_clip_indices

lengths = st.integers(1, 300)
frames = st.integers(1, 32)


@settings(max_examples=300, deadline=None)
@given(n=lengths, k=frames, clips=st.integers(1, 6), stride=st.integers(1, 5))
def test_eval_clips_are_symmetric_under_time_reversal(n, k, clips, stride):
    idx = eval_clip_indices(n, k, clips, stride)
    assert idx.shape == (clips, k) and idx.dtype == np.int64
    assert idx.min() >= 0 and idx.max() <= n - 1
    assert (np.diff(idx, axis=1) >= 0).all()  # each clip runs forward in time
    mirrored = idx[::-1, ::-1] != n - 1 - idx  # reversing the video maps the set onto itself ...
    if clips * k % 2 and n % 2 == 0:  # ... except a lone centre position half-way between two frames
        mirrored[clips // 2, k // 2] = False
    assert not mirrored.any(), idx


@settings(max_examples=200, deadline=None)
@given(n=lengths, k=st.integers(2, 32), clips=st.integers(2, 6), stride=st.integers(1, 5))
def test_eval_clips_spread_from_the_first_to_the_last_frame(n, k, clips, stride):
    idx = eval_clip_indices(n, k, clips, stride)
    assert idx[0, 0] == 0 and idx[-1, -1] == n - 1
    assert (np.diff(idx[:, 0]) >= 0).all()  # clip starts move forward


def test_eval_clip_uses_the_stride_when_the_video_is_long_enough():
    np.testing.assert_array_equal(eval_clip_indices(101, 8, num_clips=1, stride=4)[0], 36 + 4 * np.arange(8))
    steps = np.diff(eval_clip_indices(100, 8, num_clips=1, stride=4)[0])  # centred start 35.5: one step gives
    assert sorted(steps.tolist()) == [3] + [4] * 6  # way so that the clip stays symmetric
    np.testing.assert_array_equal(eval_clip_indices(16, 16, 1, 2)[0], np.arange(16))


@settings(max_examples=300, deadline=None)
@given(n=lengths, k=frames, seed=st.integers(0, 2**32 - 1))
def test_train_clip_is_in_range_and_runs_forward(n, k, seed):
    strides = (1, 2, 3, 4)
    idx = train_clip_indices(n, k, np.random.default_rng(seed), strides)
    assert idx.shape == (k,) and idx.dtype == np.int64
    assert idx.min() >= 0 and idx.max() <= n - 1
    if n >= k:
        steps = np.diff(idx)
        assert k == 1 or (len(set(steps)) == 1 and steps[0] in strides)  # one constant stride from the set
        assert k == 1 or (k - 1) * steps[0] + 1 <= n
    else:  # padded by repeating: every frame, in order
        assert (np.diff(idx) >= 0).all()
        assert set(idx.tolist()) == set(range(n))


def test_train_strides_are_random_and_limited_by_length():
    rng = np.random.default_rng(0)
    seen = {int(np.diff(train_clip_indices(200, 16, rng))[0]) for _ in range(200)}
    assert seen == {1, 2, 3, 4}
    seen_short = {int(np.diff(train_clip_indices(40, 16, rng))[0]) for _ in range(100)}
    assert seen_short == {1, 2}  # 3 * 15 + 1 = 46 > 40
    starts = {int(train_clip_indices(200, 16, rng)[0]) for _ in range(200)}
    assert len(starts) > 20


@pytest.mark.parametrize("n", [1, 3, 5, 9, 15])
def test_short_videos_are_padded_by_repeating_frames(n):
    for idx in (train_clip_indices(n, 16, np.random.default_rng(1)), eval_clip_indices(n, 16, 3)[1]):
        assert len(idx) == 16 and set(idx.tolist()) == set(range(n))
        counts = np.bincount(idx, minlength=n)
        assert counts.max() - counts.min() <= 1  # repeats spread evenly, not a frozen tail


def test_clip_sampler_views():
    sampler = ClipSampler(num_frames=8, num_clips=3)
    rng = np.random.default_rng(0)
    assert sampler(50, train=True, rng=rng).shape == (1, 8)
    assert sampler(50, train=False, rng=rng).shape == (3, 8)


def test_invalid_arguments_are_rejected():
    with pytest.raises(ValueError):
        eval_clip_indices(0, 8)
    with pytest.raises(ValueError):
        train_clip_indices(10, 8, np.random.default_rng(0), strides=())

"""Video transforms: shapes, dtypes, normalisation, one crop per clip, and no flip unless asked."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latte_vt.data.video.transforms import IMAGENET_MEAN, IMAGENET_STD, VideoTransform


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("hw", [(144, 176), (240, 320), (720, 1280), (160, 96)])
def test_output_shape_and_dtype(train, hw):
    frames = np.random.default_rng(0).integers(0, 256, (4, *hw, 3), dtype=np.uint8)
    out = VideoTransform(train, size=112)(frames)
    assert out.shape == (4, 3, 112, 112) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert VideoTransform(train, size=64)(torch.from_numpy(frames)).shape == (4, 3, 64, 64)


def test_eval_normalises_with_mean_and_std():
    frames = np.full((2, 90, 120, 3), 128, np.uint8)
    out = VideoTransform(False, size=64)(frames)
    for c in range(3):
        expected = (128 / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]
        assert out[:, c].sub(expected).abs().max() < 1e-5
    custom = VideoTransform(False, size=64, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))(frames)
    assert custom.sub((128 / 255 - 0.5) / 0.5).abs().max() < 1e-5


def test_one_random_crop_for_all_frames_of_a_clip():
    frame = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    out = VideoTransform(True, size=64)(np.stack([frame] * 6))
    assert all(torch.equal(out[0], out[t]) for t in range(1, 6))


def left_bright_clip() -> np.ndarray:
    frames = np.zeros((3, 120, 160, 3), np.uint8)
    frames[:, :, :80] = 255
    return frames


def is_mirrored(out: torch.Tensor) -> bool:
    return bool(out[..., 0].mean() < out[..., -1].mean())  # the bright side moved to the right


def test_train_never_flips_by_default_but_can():
    torch.manual_seed(0)
    plain = VideoTransform(True, size=64)
    assert not any(is_mirrored(plain(left_bright_clip())) for _ in range(20))
    flipping = VideoTransform(True, size=64, hflip=True)
    flips = [is_mirrored(flipping(left_bright_clip())) for _ in range(20)]
    assert any(flips) and not all(flips)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\) uint8"):
        VideoTransform(False)(np.zeros((4, 3, 32, 32), np.uint8))
    with pytest.raises(ValueError, match="short_side"):
        VideoTransform(False, size=112, short_side=100)

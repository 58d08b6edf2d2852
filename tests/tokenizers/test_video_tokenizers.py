"""Patch and frame tokenizers: token counts, position interpolation, local weights."""

import pytest
import torch

from latte_vt.tokenizers.video import FrameTokenizer, PatchTokenizer


def test_patch_tokenizer_shapes_and_time_major_order():
    tok = PatchTokenizer(dim=24, num_frames=8, image_size=64, tubelet=2, patch=16)
    clips = torch.randn(2, 8, 3, 64, 64)
    tokens = tok(clips)
    assert tokens.shape == (2, 4 * 4 * 4, 24)
    # changing only the last two frames changes only the last tubelet's tokens
    later = clips.clone()
    later[:, 6:] += 1.0
    diff = (tok(later) - tokens).abs().sum(-1)[0]  # (N,)
    assert diff[:48].max() == 0 and diff[48:].min() > 0


def test_patch_tokenizer_interpolates_to_new_frames_and_sizes():
    tok = PatchTokenizer(dim=16, num_frames=8, image_size=64, tubelet=2, patch=16)
    assert tok(torch.randn(1, 16, 3, 96, 128)).shape == (1, 8 * 6 * 8, 16)
    assert tok(torch.randn(1, 4, 3, 32, 48)).shape == (1, 2 * 2 * 3, 16)
    # at the training shape the learned tables are used as they are
    assert torch.allclose(tok.time(4), tok.time.table, atol=1e-6)
    assert torch.equal(tok.space(4, 4), tok.space.grid.reshape(16, 16))


def test_patch_tokenizer_errors():
    with pytest.raises(ValueError, match="multiples of"):
        PatchTokenizer(dim=8, num_frames=7, tubelet=2)
    tok = PatchTokenizer(dim=8, num_frames=8, image_size=32, patch=16)
    with pytest.raises(ValueError, match=r"\(B, T, 3, H, W\)"):
        tok(torch.randn(2, 8, 32, 32, 3))
    with pytest.raises(ValueError, match="smaller than one tubelet"):
        tok(torch.randn(1, 8, 3, 8, 8))


def test_frame_tokenizer_one_token_per_frame_and_local_weights(tmp_path):
    torch.manual_seed(0)
    a = FrameTokenizer(dim=12, backbone="resnet18", num_frames=4).eval()
    clips = torch.randn(2, 6, 3, 64, 64)
    with torch.no_grad():
        assert a(clips).shape == (2, 6, 12)
    path = tmp_path / "backbone.pt"
    torch.save(a.backbone.state_dict(), path)
    torch.manual_seed(1)
    b = FrameTokenizer(dim=12, backbone="resnet18", num_frames=4, weights=str(path)).eval()
    with torch.no_grad():
        assert torch.allclose(a.backbone(clips[:, 0]), b.backbone(clips[:, 0]))
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(Exception, match="junk.pt|pickle|invalid|load"):
        FrameTokenizer(dim=12, backbone="resnet18", weights=str(tmp_path / "junk.pt"))
    with pytest.raises(FileNotFoundError, match="not found"):
        FrameTokenizer(dim=12, backbone="resnet18", weights=str(tmp_path / "missing.pt"))


def test_frame_tokenizer_grid_pool_keeps_the_layout_in_each_token():
    torch.manual_seed(0)
    tok = FrameTokenizer(dim=12, backbone="test_resnet", num_frames=4, pool=2).eval()
    assert tok.proj.in_features == 4 * tok.backbone.num_features  # a 2 x 2 grid of features per frame
    clips = torch.randn(2, 4, 3, 64, 64)
    with torch.no_grad():
        tokens = tok(clips)
        grid = torch.nn.functional.adaptive_avg_pool2d(tok.backbone(clips.flatten(0, 1)), 2)  # (8, F, 2, 2)
        expected = tok.proj(grid.flatten(1)).view(2, 4, 12) + tok.time(4)
        assert torch.allclose(tokens, expected, atol=1e-5)
        # a change confined to the top-left quadrant of one frame reaches only that frame's token
        later = clips.clone()
        later[0, 1, :, :16, :16] += 3.0
        diff = (tok(later) - tokens).abs().sum(-1)  # (B, T)
        assert diff[0, 1] > 0 and diff[0, [0, 2, 3]].max() == 0 and diff[1].max() == 0
        # other frame counts and resolutions: the time table interpolates, the grid is always 2 x 2
        assert tok(torch.randn(1, 7, 3, 32, 48)).shape == (1, 7, 12)
        assert torch.allclose(tok.time(4), tok.time.table, atol=1e-6)


def test_frame_tokenizer_output_stride_and_pool_errors():
    tok = FrameTokenizer(dim=8, backbone="test_resnet", num_frames=4, pool=2, output_stride=16).eval()
    with torch.no_grad():
        maps = tok.backbone(torch.randn(1, 3, 32, 32))
    assert maps.shape[-2:] == (2, 2)  # stride 16 instead of 32: a 2 x 2 map from a 32 px frame
    with pytest.raises(ValueError, match="pool must be >= 1"):
        FrameTokenizer(dim=8, backbone="test_resnet", pool=0)
    vit = FrameTokenizer(dim=8, backbone="test_vit", num_frames=2, pool=2)
    with pytest.raises(ValueError, match=r"pool=2 needs a backbone with \(C, h, w\) feature maps"):
        vit(torch.randn(1, 2, 3, 32, 32))

"""Patch and frame tokenizers: token counts, position interpolation, local weights."""

import pytest
import torch

from latte_vt.tokenizers.keypoints import SpatialSoftmax
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


def test_patch_tokenizer_with_a_conv_stem():
    torch.manual_seed(0)
    tok = PatchTokenizer(dim=16, num_frames=16, image_size=32, tubelet=4, patch=8, stem=4).eval()
    clips = torch.randn(2, 16, 3, 32, 32)
    with torch.no_grad():
        tokens = tok(clips)
        assert tokens.shape == (2, 4 * 4 * 4, 16)  # the stem quarters the resolution; 8 px patches remain 8 px
        # the stem's temporal kernel (3 frames) lets frame 4 reach the tokens of tubelets 0 and 1 only
        later = clips.clone()
        later[:, 4] += 1.0
        diff = (tok(later) - tokens).abs().sum(-1)[0].view(4, 16)  # (T', H'W')
        assert diff[:2].min() > 0 and diff[2:].max() == 0
        # other frame counts and sizes: position tables interpolate as without a stem
        assert tok(torch.randn(1, 8, 3, 48, 64)).shape == (1, 2 * 6 * 8, 16)
    with pytest.raises(ValueError, match="multiple of 4"):
        PatchTokenizer(dim=8, num_frames=4, image_size=36, tubelet=2, patch=6, stem=4)


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


def test_spatial_softmax_finds_where_each_channel_fires():
    maps = torch.zeros(2, 3, 5, 7)
    maps[0, 0, 4, 6] = 5.0  # channel 0 of map 0 fires bottom-right, channel 1 top-left
    maps[0, 1, 0, 0] = 5.0
    maps[1, :, 2, 3] = 5.0  # every channel of map 1 fires in the centre
    kp = SpatialSoftmax(temperature=20.0)
    with torch.no_grad():
        out = kp(maps)  # (2, 3C): x per channel, y per channel, mean per channel
    assert out.shape == (2, 9)
    x, y, mean = out[:, :3], out[:, 3:6], out[:, 6:]
    assert torch.allclose(x[0, :2], torch.tensor([1.0, -1.0]), atol=1e-3)
    assert torch.allclose(y[0, :2], torch.tensor([1.0, -1.0]), atol=1e-3)
    assert abs(x[0, 2]) < 1e-6 and abs(y[0, 2]) < 1e-6  # a flat channel weighs every position alike
    assert torch.allclose(x[1], torch.zeros(3), atol=1e-3) and torch.allclose(y[1], torch.zeros(3), atol=1e-3)
    assert torch.allclose(mean[0, 0], torch.tensor(5.0 / 35))
    with pytest.raises(ValueError, match=r"needs \(N, C, h, w\) feature maps \(a CNN\), got \(2, 3, 4\)"):
        kp(torch.randn(2, 3, 4))


def test_frame_tokenizer_keypoints_on_an_early_stage():
    torch.manual_seed(0)
    tok = FrameTokenizer(dim=12, backbone="test_resnet", num_frames=4, pool="keypoints", stage=1).eval()
    channels = tok.backbone.feature_info.channels()[0]
    assert tok.proj.in_features == 3 * channels
    clips = torch.randn(2, 4, 3, 32, 32)
    with torch.no_grad():
        tokens = tok(clips)
        maps = tok.backbone(clips.flatten(0, 1))[0]  # (8, C, 8, 8): stage 1 is the stride-4 map
        assert maps.shape[-2:] == (8, 8)
        assert torch.allclose(tokens, tok.proj(tok.keypoints(maps)).view(2, 4, 12) + tok.time(4), atol=1e-5)
        # a change in one frame reaches only that frame's token
        later = clips.clone()
        later[0, 1, :, :8, :8] += 3.0
        diff = (tok(later) - tokens).abs().sum(-1)  # (B, T)
        assert diff[0, 1] > 0 and diff[0, [0, 2, 3]].max() == 0 and diff[1].max() == 0
        # other frame counts and resolutions: the time table interpolates, keypoints adapt to the map
        assert tok(torch.randn(1, 7, 3, 48, 40)).shape == (1, 7, 12)
        assert torch.allclose(tok.time(4), tok.time.table, atol=1e-6)


def test_frame_tokenizer_max_pool_sees_a_small_object_the_average_dilutes():
    torch.manual_seed(0)
    pooled = {}
    for pool in ("max", "avg"):
        tok = FrameTokenizer(dim=8, backbone="test_resnet", num_frames=2, pool=pool, stage=1).eval()
        with torch.no_grad():
            maps = tok.backbone(torch.zeros(1, 3, 32, 32))[0]  # (1, C, 8, 8)
            empty = torch.zeros(1, 2, 3, 32, 32)
            dot = empty.clone()
            dot[0, 1, :, 12:16, 12:16] = 3.0  # a 4 x 4 px object in the second frame only
            tokens, base = tok(dot), tok(empty)
            assert torch.allclose(
                base, tok.proj(maps.amax((2, 3)) if pool == "max" else maps.mean((2, 3))) + tok.time(2)
            )
            pooled[pool] = (tokens - base)[0, 1].norm() / base[0, 1].norm()
            assert torch.equal(tokens[0, 0], base[0, 0])  # the other frame's token is untouched
    assert pooled["max"] > 2 * pooled["avg"]


def test_time_table_starts_smooth_in_time():
    """At initialisation nearby frames have similar time embeddings and distant ones do not (a random
    table would make every pair equally unrelated), so earlier vs later is there from the first step."""
    from latte_vt.tokenizers.positions import LearnedPositions1d

    torch.manual_seed(0)
    table = torch.nn.functional.normalize(LearnedPositions1d(16, 64).table.detach(), dim=1)  # (16, 64)
    similarity = table @ table.T  # (16, 16) cosine
    near = similarity.diagonal(offset=1)  # (15,) frame t vs t + 1
    far = similarity.diagonal(offset=8)  # (8,) frame t vs t + 8
    assert near.min() > 0.9 and far.max() < near.min() - 0.1


def test_frame_tokenizer_stage_average_and_pool_errors(tmp_path):
    tok = FrameTokenizer(dim=8, backbone="test_resnet", num_frames=4, stage=2).eval()
    assert tok.proj.in_features == tok.backbone.feature_info.channels()[0]
    with torch.no_grad():
        assert tok(torch.randn(1, 3, 3, 32, 32)).shape == (1, 3, 8)
    # weights of the whole model load into the cut one (the later stages' keys are unused)
    path = tmp_path / "full.pt"
    torch.save(FrameTokenizer(dim=8, backbone="test_resnet").backbone.state_dict(), path)
    cut = FrameTokenizer(dim=8, backbone="test_resnet", stage=2, weights=str(path))
    assert torch.equal(cut.backbone.state_dict()["conv1.0.weight"], torch.load(path)["conv1.0.weight"])
    with pytest.raises(ValueError, match="pool must be one of"):
        FrameTokenizer(dim=8, backbone="test_resnet", pool="grid")
    vit = FrameTokenizer(dim=8, backbone="test_vit", num_frames=2, pool="keypoints")
    with pytest.raises(ValueError, match=r"keypoint pooling needs \(N, C, h, w\) feature maps"):
        vit(torch.randn(1, 2, 3, 32, 32))


@pytest.mark.parametrize("kind", ["patch", "frame"])
def test_temporal_centering_drops_what_does_not_move_and_ignores_frame_order(kind):
    torch.manual_seed(0)
    if kind == "patch":
        tok = PatchTokenizer(dim=8, num_frames=4, image_size=32, tubelet=1, patch=16, temporal_centering=True)
    else:
        tok = FrameTokenizer(dim=8, backbone="test_resnet", num_frames=4, stage=1, temporal_centering=True)
    tok = tok.eval()
    still = torch.randn(1, 1, 3, 32, 32).expand(2, 4, -1, -1, -1)  # (2, 4, 3, 32, 32) nothing moves
    moving = torch.randn(2, 4, 3, 32, 32)
    with torch.no_grad():
        # a still clip, whatever its picture, gives the tokens of an all-zero clip
        assert torch.allclose(tok(still), tok(torch.zeros(2, 4, 3, 32, 32)), atol=1e-5)
        # the centring does not depend on frame order (unlike, say, subtracting the first frame): the
        # reversed clip gives the reversed content tokens, so order reaches a model only as order
        forward, backward = tok(moving), tok(moving.flip(1))
        if kind == "frame":
            time = tok.time(4)  # (T, D)
            assert torch.allclose((forward - time).flip(1), backward - time, atol=1e-5)
        else:
            pos = tok.time(4)[:, None, :] + tok.space(2, 2)[None]  # (T', H'W', D)
            content_f, content_b = forward.view(2, 4, 4, 8) - pos, backward.view(2, 4, 4, 8) - pos
            assert torch.allclose(content_f.flip(1), content_b, atol=1e-5)

"""Task models: video logits and multi-view averaging; transaction scorer causality and step == forward."""

import torch

from latte_vt.backbone import LatteConfig
from latte_vt.models.transactions import TransactionScoringModel
from latte_vt.models.video import VideoClassificationModel


def test_video_classifier_logits_and_views():
    torch.manual_seed(0)
    encoder = LatteConfig(dim=32, depth=1, heads=2, latents=8)
    model = VideoClassificationModel(5, encoder, num_frames=4, image_size=32).eval()
    assert not model.encoder.config.causal
    clips = torch.randn(3, 4, 3, 32, 32)
    assert model(clips).shape == (3, 5)
    views = torch.stack([clips, clips.flip(-1)], dim=1)  # (B, V=2, T, 3, H, W)
    probs = model.predict_proba(views)
    expected = (model(clips).softmax(-1) + model(clips.flip(-1)).softmax(-1)) / 2
    assert torch.allclose(probs, expected, atol=1e-6)
    assert torch.allclose(probs.sum(-1), torch.ones(3))


def test_causal_video_encoder_reads_time_major_tokens_in_order():
    torch.manual_seed(0)
    clips = torch.randn(2, 8, 3, 32, 32)
    later = clips.clone()
    later[:, 4:] = torch.randn(2, 4, 3, 32, 32)  # the second half of every clip changes: tubelets 2 and 3
    seen = 2 * 16  # tokens of the first two tubelets (time-major, 16 patches each)
    for causal in (True, False):
        encoder = LatteConfig(dim=32, depth=2, heads=2, latents=8, causal=causal, pooling="mean", chunk_size=8)
        model = VideoClassificationModel(4, encoder, num_frames=8, image_size=32, patch=8).eval()
        assert model.encoder.config.causal is causal and model(clips).shape == (2, 4)
        with torch.no_grad():
            before, after = (model.encoder.forward_features(model.tokenizer(x)) for x in (clips, later))  # (B, N, D)
        # causal: the first tubelets' features ignore what comes later; bidirectional: they do not
        assert torch.allclose(before[:, :seen], after[:, :seen], atol=1e-5) is causal
        assert not torch.allclose(before[:, seen:], after[:, seen:], atol=1e-5)


def test_transaction_scorer_is_causal_and_steps_like_forward():
    torch.manual_seed(0)
    model = TransactionScoringModel([6, 9], 4, LatteConfig(dim=32, depth=2, heads=2, latents=8, chunk_size=4)).eval()
    assert model.encoder.config.causal
    cat = torch.randint(1, 6, (2, 15, 2))
    num = torch.randn(2, 15, 4)
    with torch.no_grad():
        logits = model(cat, num)
        assert logits.shape == (2, 15)
        changed = num.clone()
        changed[:, 10:] = 5.0
        assert torch.allclose(model(cat, changed)[:, :10], logits[:, :10], atol=1e-6)
        states, steps = None, []
        for t in range(15):
            y, states = model.step(cat[:, t], num[:, t], states)
            steps.append(y)
    assert torch.allclose(torch.stack(steps, 1), logits, atol=1e-5)

"""The causal local mix: step == forward, padding isolation, no look-ahead, recency it adds, errors."""

import pytest
import torch
from stepping import step_through

from latte_vt.backbone import LatteConfig, LatteEncoder
from latte_vt.backbone.local_mix import CausalLocalMix


def encoder(**kw) -> LatteEncoder:
    torch.manual_seed(0)
    enc = LatteEncoder(LatteConfig(dim=32, depth=2, heads=2, latents=8, chunk_size=8, causal=True, local_mix=4, **kw))
    for block in enc.blocks:  # zero-initialised weights would hide the branch; give it real weights
        torch.nn.init.normal_(block.local.weight, std=0.5)
    return enc.eval()


def test_conv_matches_its_definition():
    mix = CausalLocalMix(3, kernel=3)
    torch.nn.init.normal_(mix.weight)
    x = torch.randn(2, 7, 3)
    out = mix(x)
    w = mix.weight  # (D, K)
    for t in range(7):
        expected = sum(w[:, 2 - j] * x[:, t - j] for j in range(3) if t - j >= 0)
        assert torch.allclose(out[:, t], expected, atol=1e-6)


def test_step_equals_forward_with_local_mix():
    enc = encoder()
    x = torch.randn(3, 21, 32)
    with torch.no_grad():
        full = enc(x)
    stepped, states = step_through(enc, x)
    assert states[0][1].shape == (3, 3, 32)  # the last K-1 mixer inputs of layer 0
    assert (stepped - full).abs().max().item() <= 1e-5


def test_left_padding_never_reaches_real_tokens_and_matches_a_fresh_history():
    enc = encoder()
    x = torch.randn(2, 12, 32)
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[0, :5] = False
    noisy = x.clone()
    noisy[0, :5] = torch.randn(5, 32) * 100
    with torch.no_grad():
        a, b = enc(x, mask), enc(noisy, mask)
        alone = enc(x[:1, 5:])  # the same entity without padding
    assert torch.allclose(a[mask], b[mask], atol=1e-5)
    assert torch.allclose(b[0, 5:], alone[0], atol=1e-5)


def test_no_look_ahead_and_the_previous_token_matters():
    enc = encoder()
    x = torch.randn(1, 20, 32)
    later = x.clone()
    later[:, 15:] += 5.0
    with torch.no_grad():
        base, changed = enc(x), enc(later)
    assert torch.allclose(base[:, :15], changed[:, :15], atol=1e-5)
    # swapping the order of the two latest tokens changes the last output with the local mix
    swapped = x.clone()
    swapped[:, [17, 18]] = x[:, [18, 17]]
    plain = LatteEncoder(LatteConfig(dim=32, depth=1, heads=2, latents=8, chunk_size=8, causal=True)).eval()
    local = encoder()
    with torch.no_grad():
        assert not torch.allclose(local(x)[:, 19], local(swapped)[:, 19], atol=1e-4)
        # plain causal Latte is order-blind within the past (content weights only)
        assert torch.allclose(plain(x)[:, 19], plain(swapped)[:, 19], atol=1e-5)


def test_local_mix_errors():
    with pytest.raises(ValueError, match="local_mix needs a causal encoder"):
        LatteEncoder(LatteConfig(dim=32, heads=2, latents=8, local_mix=4))
    with pytest.raises(ValueError, match="local_mix must be 0"):
        LatteConfig(local_mix=1)
    with pytest.raises(ValueError, match="kernel >= 2"):
        CausalLocalMix(8, 1)

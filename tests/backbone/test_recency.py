"""Recency rates of causal Latte: step == chunked == scan, older tokens weigh less, no look-ahead."""

import pytest
import torch
from stepping import step_through

from latte_vt.attention import latte_causal
from latte_vt.backbone import LatteConfig, LatteEncoder
from latte_vt.backbone.mixers import LatentProjection, LatteMixer


def encoder(**kw) -> LatteEncoder:
    torch.manual_seed(0)
    base = dict(dim=32, depth=2, heads=2, latents=8, chunk_size=8, causal=True, recency=True)
    return LatteEncoder(LatteConfig(**{**base, **kw})).eval()


@pytest.mark.parametrize("local_mix", [0, 3])
def test_step_equals_chunked_equals_scan(local_mix):
    enc = encoder(local_mix=local_mix)
    x = torch.randn(2, 45, 32)
    with torch.no_grad():
        full = enc(x)
        stepped, _ = step_through(enc, x)
        scan = enc.set_exportable(True)(x)
    assert (stepped - full).abs().max().item() <= 1e-5
    assert (scan - full).abs().max().item() <= 1e-5


def test_rates_equal_explicit_exponential_weights():
    """The mixer's attention equals sum_s exp(k_s - rate (t - s)) v_s / sum_s exp(k_s - rate (t - s))."""
    torch.manual_seed(1)
    cfg = LatteConfig(dim=8, heads=1, latents=2, causal=True, recency=True, chunk_size=4)
    mixer = LatteMixer(cfg, LatentProjection(cfg))
    x = torch.randn(1, 9, 8, dtype=torch.float64)
    mixer = mixer.double()
    q, k = mixer.latents(x)  # (1, 1, T, L)
    v = mixer.value(x)[:, None]  # (1, 1, T, Dh)
    rate = mixer.rates()[0]  # (L,)
    T = x.shape[1]
    age = (torch.arange(T)[:, None] - torch.arange(T)[None]).double()  # (t, s)
    logits = k[0, 0].T[:, None, :] - rate[:, None, None] * age[None]  # (L, t, s)
    logits = logits.masked_fill(age[None] < 0, float("-inf"))
    per_latent = torch.softmax(logits, -1) @ v[0, 0]  # (L, T, Dh)
    expected = torch.einsum("tl,ltd->td", torch.softmax(q[0, 0], -1), per_latent)
    got = mixer.mix(x, None)[0][0, 0]
    assert torch.allclose(got, expected, atol=1e-10)
    assert (rate > 0).all()
    # and without rates it is plain causal Latte
    assert not torch.allclose(got, latte_causal(q, k, v, chunk_size=4)[0, 0], atol=1e-6)


def test_no_look_ahead_and_padding_isolation():
    enc = encoder()
    x = torch.randn(2, 30, 32)
    later = x.clone()
    later[:, 20:] *= -3
    mask = torch.ones(2, 30, dtype=torch.bool)
    mask[1, :6] = False
    noisy = x.clone()
    noisy[1, :6] = 50 * torch.randn(6, 32)
    with torch.no_grad():
        assert torch.allclose(enc(x)[:, :20], enc(later)[:, :20], atol=1e-5)
        a, b, alone = enc(x, mask), enc(noisy, mask), enc(x[1:, 6:])
    assert torch.allclose(a[mask], b[mask], atol=1e-5)
    assert torch.allclose(b[1, 6:], alone[0], atol=1e-4)  # left padding shifts positions: weights are relative

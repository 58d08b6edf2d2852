"""The shared encoder: mixers, options, pooling, step == forward, masks, registry, errors."""

import itertools

import pytest
import torch
from stepping import step_through

from latte_vt.attention import latte_bidirectional, latte_causal
from latte_vt.attention.mixers import macchiato_mix, sliding_window_attention
from latte_vt.backbone import LatteConfig, LatteEncoder, create_model, list_models, model_config

MIXERS = ["latte", "softmax", "macchiato"]
OPTIONS = [
    {},
    {"tie_qk": True},
    {"share_latents": True, "latent_init": "orthogonal"},
    {"tie_qk": True, "share_latents": True},
]


def small(**kw) -> LatteEncoder:
    torch.manual_seed(0)
    base = dict(dim=32, depth=2, heads=2, latents=8, window=4, chunk_size=8)
    return LatteEncoder(LatteConfig(**{**base, **kw})).eval()


@pytest.mark.parametrize("mixer,options", list(itertools.product(MIXERS, OPTIONS)))
def test_step_equals_forward(mixer, options):
    enc = small(causal=True, mixer=mixer, **options)
    x = torch.randn(3, 21, 32)
    with torch.no_grad():
        full = enc(x)
    stepped, _ = step_through(enc, x)
    assert full.shape == (3, 21, 32)
    assert (stepped - full).abs().max().item() <= 1e-5


@pytest.mark.parametrize("mixer,causal", list(itertools.product(MIXERS, [False, True])))
def test_padding_never_changes_real_outputs(mixer, causal):
    enc = small(mixer=mixer, causal=causal)
    x = torch.randn(2, 17, 32)
    mask = torch.ones(2, 17, dtype=torch.bool)
    mask[0, :5] = False  # left padding
    mask[1, 12:] = False  # right padding
    noisy = x.clone()
    noisy[~mask] = torch.randn(int((~mask).sum()), 32) * 100
    with torch.no_grad():
        a, b = enc(x, mask), enc(noisy, mask)
    assert torch.isfinite(b).all()
    assert torch.allclose(a[mask], b[mask], atol=1e-5)


@pytest.mark.parametrize("mixer", MIXERS)
def test_causal_encoder_ignores_the_future(mixer):
    enc = small(mixer=mixer, causal=True)
    x = torch.randn(1, 30, 32)
    changed = x.clone()
    changed[:, 20:] = torch.randn(1, 10, 32)
    with torch.no_grad():
        assert torch.allclose(enc(x)[:, :20], enc(changed)[:, :20], atol=1e-6)
        assert not torch.allclose(enc(x)[:, 20:], enc(changed)[:, 20:], atol=1e-3)


@pytest.mark.parametrize("pooling", ["mean", "latent"])
@pytest.mark.parametrize("mixer", MIXERS)
def test_pooling_gives_one_vector_and_respects_mask(pooling, mixer):
    enc = small(mixer=mixer, pooling=pooling, pool_queries=3)
    x = torch.randn(2, 12, 32)
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[:, 9:] = False
    with torch.no_grad():
        pooled = enc(x, mask)
        truncated = enc(x[:, :9])
    assert pooled.shape == (2, 32)
    assert torch.allclose(pooled, truncated, atol=1e-5)


@pytest.mark.parametrize("mixer", MIXERS)
def test_gradients_flow_and_stay_finite(mixer):
    enc = small(mixer=mixer, causal=mixer != "softmax", pooling="latent").train()
    x = torch.randn(2, 40, 32, requires_grad=True)
    mask = torch.ones(2, 40, dtype=torch.bool)
    mask[1, :13] = False
    enc(x, mask).pow(2).sum().backward()
    grads = [p.grad for p in enc.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert x.grad[1, :13].abs().max() == 0  # padding gets no gradient


def test_tied_and_shared_latents_share_parameters():
    plain, tied, shared = small(), small(tie_qk=True), small(share_latents=True)
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(tied) < n(plain) and n(shared) < n(plain)
    assert all(b.mixer.latents.k is None for b in tied.blocks)
    first = shared.blocks[0].mixer.latents
    assert all(b.mixer.latents is first for b in shared.blocks)


def test_orthogonal_latent_init():
    enc = small(latent_init="orthogonal", latents=8, heads=2, dim=32)
    w = enc.blocks[0].mixer.latents.q.weight  # (H*L, D) = (16, 32): orthonormal rows
    assert torch.allclose(w @ w.T, torch.eye(16), atol=1e-5)


def test_outputs_are_convex_combinations_of_values():
    """Weights sum to 1 in every mixer: constant values come out unchanged."""
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 2, 50, 6, generator=g) * 5, torch.randn(2, 2, 50, 6, generator=g) * 5
    ones = torch.ones(2, 2, 50, 4)
    assert torch.allclose(latte_causal(q, k, ones), ones, atol=1e-5)
    assert torch.allclose(latte_bidirectional(q, k, ones), ones, atol=1e-5)
    ql, kl = torch.randn(2, 2, 50, 4, generator=g), torch.randn(2, 2, 50, 4, generator=g)
    for causal in (True, False):
        y_local, lse = sliding_window_attention(ql, kl, ones, window=8, causal=causal)
        assert torch.allclose(y_local, ones, atol=1e-5)
        assert torch.allclose(macchiato_mix(ones, q, y_local, lse), ones, atol=1e-5)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("window", [1, 3, 8, 64])
def test_sliding_window_matches_dense_band(causal, window):
    g = torch.Generator().manual_seed(window)
    q, k, v = (torch.randn(2, 2, 37, 4, generator=g, dtype=torch.float64) for _ in range(3))
    mask = torch.rand(2, 37, generator=g) > 0.2
    y, lse = sliding_window_attention(q, k, v, window, causal, mask)
    d = torch.arange(37)[:, None] - torch.arange(37)[None, :]
    band = ((d >= 0) & (d < window)) if causal else d.abs() <= window // 2
    allowed = band[None, None] & mask[:, None, None, :]
    scores = (q @ k.transpose(-1, -2) / 2.0).masked_fill(~allowed, float("-inf"))
    rows = allowed.any(-1).expand(2, 2, 37)  # rows with at least one real key in band
    ref = torch.softmax(scores, -1).nan_to_num(0.0) @ v
    assert (y - ref)[rows].abs().max() <= 1e-10
    assert (lse - torch.logsumexp(scores, -1))[rows].abs().max() <= 1e-10


def test_registry():
    assert {"latte_tiny", "latte_small", "latte_base"} <= set(list_models())
    enc = create_model("latte_tiny", causal=True, mixer="macchiato")
    assert enc.config.causal and enc.config.mixer == "macchiato" and enc.config.dim == model_config("latte_tiny").dim
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        create_model("nope")
    with pytest.raises(ValueError, match=r"unknown options \['colour'\]"):
        create_model("latte_tiny", colour="red")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"dim": 30, "heads": 4}, "divisible by heads"),
        ({"mixer": "rnn"}, "mixer must be one of"),
        ({"pooling": "max"}, "pooling must be one of"),
        ({"chunk_size": 24}, "power of two"),
        ({"depth": 0}, "depth must be a positive int"),
        ({"dropout": 1.5}, "dropout must be in"),
    ],
)
def test_bad_config_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LatteConfig(**kwargs)


def test_bad_inputs_raise():
    enc = small()
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, D=32\)"):
        enc(torch.randn(2, 5, 31))
    with pytest.raises(ValueError, match="mask must be a bool tensor"):
        enc(torch.randn(2, 5, 32), torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="needs a causal encoder"):
        enc.step(torch.randn(2, 32))
    with pytest.raises(ValueError, match="unknown LatteEncoder options"):
        LatteEncoder(widht=3)

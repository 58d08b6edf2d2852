"""Backend selection behind latte_causal / latte_bidirectional and the encoder config (CPU, no kernels run)."""

import pytest
import torch

import latte_vt.attention.backend as backend_module
import latte_vt.backbone.mixers as mixers_module
from latte_vt.attention import latte_bidirectional, latte_causal
from latte_vt.attention.backend import resolve_backend, tracing
from latte_vt.backbone import LatteConfig, LatteEncoder

FUNCTIONS = [latte_causal, latte_bidirectional]


def qkv(dtype=torch.float32, L=8, Dh=4):
    g = torch.Generator().manual_seed(0)
    return (
        torch.randn(2, 2, 19, L, generator=g, dtype=dtype),
        torch.randn(2, 2, 19, L, generator=g, dtype=dtype) * 20,
        torch.randn(2, 2, 19, Dh, generator=g, dtype=dtype),
    )


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_auto_on_cpu_is_the_torch_path(fn):
    q, k, v = qkv()
    assert resolve_backend("auto", q, v) == "torch"
    assert torch.equal(fn(q, k, v, backend="auto"), fn(q, k, v, backend="torch"))
    assert torch.equal(fn(q, k, v), fn(q, k, v, backend="torch"))


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_unknown_backend_is_a_value_error(fn):
    with pytest.raises(ValueError, match=r"backend must be one of \('auto', 'torch', 'triton'\), got 'cuda'"):
        fn(*qkv(), backend="cuda")


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_triton_on_cpu_needs_the_interpreter(fn, monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setattr(backend_module, "triton_importable", lambda: True)
    with pytest.raises(ValueError, match="TRITON_INTERPRET=1"):
        fn(*qkv(), backend="triton")


def test_triton_refuses_what_the_kernels_cannot_take(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    monkeypatch.setattr(backend_module, "triton_importable", lambda: True)
    with pytest.raises(ValueError, match="float32/bfloat16/float16, got torch.float64"):
        latte_causal(*qkv(torch.float64), backend="triton")
    with pytest.raises(ValueError, match="L, Dh <= 128, got L=200"):
        latte_bidirectional(*qkv(L=200), backend="triton")
    assert resolve_backend("auto", *qkv(L=200)[::2]) == "torch"
    q, v = torch.empty(1, 8, 2**20, 64, device="meta"), torch.empty(1, 8, 2**20, 64, device="meta")
    with pytest.raises(ValueError, match="32-bit offsets"):  # 2^29 elements, but 2^31 in chunk states
        resolve_backend("triton", q, v)


def test_missing_triton_gives_an_install_hint(monkeypatch):
    monkeypatch.setattr(backend_module, "triton_importable", lambda: False)
    with pytest.raises(ImportError, match=r'pip install "latte-vt\[gpu\]"'):
        latte_causal(*qkv(), backend="triton")
    assert latte_causal(*qkv(), backend="auto").shape == (2, 2, 19, 4)


def test_tracing_and_export_are_detected(tmp_path):
    """Exporters and tracers see ``tracing()`` and "auto" resolves to plain torch ops under them."""
    seen = []  # (tracing(), what "auto" resolves to), once per forward call

    class Recorder(torch.nn.Module):
        def forward(self, q, k, v):
            seen.append((tracing(), resolve_backend("auto", q, v)))
            return latte_bidirectional(q, k, v, backend="torch")

    args = qkv()
    captures = {
        "eager": lambda m: m(*args),
        "jit.trace": lambda m: torch.jit.trace(m, args, check_trace=False),
        "torch.export": lambda m: torch.export.export(m, args),
        "onnx": lambda m: torch.onnx.export(m, args, str(tmp_path / "m.onnx"), dynamo=True, opset_version=18),
    }
    for name, capture in captures.items():
        seen.clear()
        capture(Recorder().eval())
        assert seen and all(s == (name != "eager", "torch") for s in seen), (name, seen)


def test_triton_while_exporting_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    monkeypatch.setattr(backend_module, "triton_importable", lambda: True)

    class Causal(torch.nn.Module):
        def forward(self, q, k, v):
            return latte_causal(q, k, v, backend="triton")

    with pytest.raises(ValueError, match="traced or exported"):
        torch.export.export(Causal(), qkv())


def test_config_validates_and_the_mixer_passes_the_backend(monkeypatch):
    with pytest.raises(ValueError, match="LatteConfig.attention_backend must be one of"):
        LatteConfig(attention_backend="cuda")
    calls = []
    for name in ("latte_causal", "latte_bidirectional"):
        real = getattr(mixers_module, name)
        monkeypatch.setattr(
            mixers_module,
            name,
            lambda *a, _real=real, _name=name, **kw: calls.append((_name, kw["backend"])) or _real(*a, **kw),
        )
    x = torch.randn(2, 9, 16)
    for causal in (True, False):
        encoder = LatteEncoder(
            LatteConfig(dim=16, depth=1, heads=2, latents=4, causal=causal, attention_backend="torch")
        )
        encoder(x)
        encoder.set_exportable(True)
        encoder(x)
    assert calls == [("latte_causal", "torch"), ("latte_bidirectional", "torch"), ("latte_bidirectional", "torch")]
    calls.clear()
    encoder = LatteEncoder(LatteConfig(dim=16, depth=1, heads=2, latents=4))  # attention_backend="auto"
    encoder(x)
    encoder.set_exportable(True)
    encoder(x)
    assert calls == [("latte_bidirectional", "auto"), ("latte_bidirectional", "torch")]

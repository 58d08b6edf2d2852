"""The exportable scan form of causal Latte: equal to the reference, carries state, exports to ONNX."""

import numpy as np
import pytest
import torch

from latte_vt.attention import latte_causal, latte_causal_reference
from latte_vt.attention.scan import latte_causal_scan


def qkv(B, H, T, L, Dh, spread, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, H, T, L, generator=g, dtype=torch.float64) * 3
    k = (torch.rand(B, H, T, L, generator=g, dtype=torch.float64) * 2 - 1) * spread
    v = torch.randn(B, H, T, Dh, generator=g, dtype=torch.float64)
    return q.to(dtype), k.to(dtype), v.to(dtype)


@pytest.mark.parametrize("T,chunk", [(1, 4), (16, 16), (37, 16), (50, 8), (70, 2), (130, 64)])
@pytest.mark.parametrize("spread", [1.0, 80.0])
def test_scan_matches_reference(T, chunk, spread):
    q, k, v = qkv(2, 2, T, 6, 4, spread)
    y, _ = latte_causal_scan(q, k, v, chunk_size=chunk)
    assert (y - latte_causal_reference(q, k, v)).abs().max().item() <= 1e-9


def test_scan_state_continues_and_matches_chunked_state():
    q, k, v = qkv(2, 2, 45, 6, 4, 30.0)
    y1, s1 = latte_causal_scan(q[:, :, :19], k[:, :, :19], v[:, :, :19])
    y2, s2 = latte_causal_scan(q[:, :, 19:], k[:, :, 19:], v[:, :, 19:], state=s1)
    assert (torch.cat([y1, y2], 2) - latte_causal_reference(q, k, v)).abs().max().item() <= 1e-9
    _, ref_state = latte_causal(q, k, v, return_state=True)
    assert torch.allclose(s2.S / s2.z[..., None], ref_state.S / ref_state.z[..., None], atol=1e-9)


def test_scan_with_left_padding_mask():
    q, k, v = qkv(1, 2, 20, 4, 3, 10.0)
    pad = 7
    qp, kp, vp = (
        torch.cat([torch.full((1, 2, pad, x.shape[-1]), float("nan"), dtype=x.dtype), x], 2) for x in (q, k, v)
    )
    mask = torch.ones(1, 20 + pad, dtype=torch.bool)
    mask[:, :pad] = False
    y, _ = latte_causal_scan(qp, kp, vp, mask=mask)
    assert torch.isfinite(y).all()
    assert (y[:, :, pad:] - latte_causal_reference(q, k, v)).abs().max().item() <= 1e-9


def test_scan_exports_to_onnx_with_dynamic_batch_and_time(tmp_path):
    import onnxruntime as ort

    class Causal(torch.nn.Module):
        def forward(self, q, k, v):
            return latte_causal_scan(q, k, v)[0]

    q, k, v = qkv(2, 2, 40, 8, 4, 20.0, dtype=torch.float32)
    B, T = torch.export.Dim("B", min=1, max=1024), torch.export.Dim("T", min=1, max=1 << 20)
    dims = {0: B, 2: T}
    path = tmp_path / "causal.onnx"
    torch.onnx.export(
        Causal(),
        (q, k, v),
        str(path),
        dynamo=True,
        dynamic_shapes=(dims, dims, dims),
        opset_version=18,
        input_names=["q", "k", "v"],
    )
    session = ort.InferenceSession(str(path))
    for b, t in ((1, 1), (3, 33), (2, 100)):  # other than the traced (2, 40)
        q, k, v = qkv(b, 2, t, 8, 4, 60.0, dtype=torch.float32, seed=t)
        (y,) = session.run(None, {"q": q.numpy(), "k": k.numpy(), "v": v.numpy()})
        assert np.isfinite(y).all()
        assert np.abs(y - latte_causal(q, k, v).numpy()).max() <= 1e-4


def test_scan_rejects_chunk_not_power_of_two():
    q, k, v = qkv(1, 1, 8, 2, 2, 1.0)
    with pytest.raises(ValueError, match="power of two"):
        latte_causal_scan(q, k, v, chunk_size=12)


def test_exported_scan_body_is_chunk_level_only(tmp_path):
    """onnxruntime pays per node and per iteration of a Scan body: per-token work stays outside it."""
    import onnx

    class Causal(torch.nn.Module):
        def forward(self, q, k, v):
            return latte_causal_scan(q, k, v)[0]

    q, k, v = qkv(2, 2, 40, 8, 4, 20.0, dtype=torch.float32)
    T = torch.export.Dim("T", min=2, max=1 << 20)
    path = tmp_path / "causal.onnx"
    torch.onnx.export(Causal(), (q, k, v), str(path), dynamo=True, dynamic_shapes=({2: T},) * 3, opset_version=18)
    scans = [n for n in onnx.load(str(path)).graph.node if n.op_type == "Scan"]
    assert len(scans) == 1
    body = next(a.g for a in scans[0].attribute if a.name == "body")
    ops = [n.op_type for n in body.node]
    assert "MatMul" not in ops and "Where" not in ops
    assert len(ops) <= 24, ops


@pytest.mark.parametrize("spread", [1.0, 80.0])
def test_scan_fast_and_exact_forms_agree_with_reference(spread):
    """Narrow keys take the one-reference fast form, wide ones the exact form: both equal the reference."""
    from latte_vt.attention import scan as scan_module

    q, k, v = qkv(2, 2, 100, 6, 4, spread, dtype=torch.float32)
    ok, _ = scan_module._fast_parts(
        k.unflatten(2, (-1, 4)),
        v.unflatten(2, (-1, 4)),
        (torch.zeros(2, 2, 6, 4), torch.zeros(2, 2, 6), torch.full((2, 2, 6), -1e30)),
        None,
    )
    assert bool(ok) == (spread < 10)
    y, _ = latte_causal_scan(q, k, v)
    assert (y - latte_causal_reference(q, k, v)).abs().max().item() <= 1e-5


def test_exported_graph_takes_fast_form_for_narrow_keys_and_exact_for_wide(tmp_path):
    """One ``If`` picks the form at run time: onnxruntime matches torch for keys spread 3 and 60, with
    left padding, at sizes other than the traced one."""
    import onnx
    import onnxruntime as ort

    class Causal(torch.nn.Module):
        def forward(self, q, k, v, mask):
            return latte_causal_scan(q, k, v, mask=mask)[0]

    q, k, v = qkv(2, 2, 40, 8, 4, 3.0, dtype=torch.float32)
    mask = torch.ones(2, 40, dtype=torch.bool)
    B, T = torch.export.Dim("B", min=1, max=1024), torch.export.Dim("T", min=1, max=1 << 20)
    path = tmp_path / "causal.onnx"
    torch.onnx.export(
        Causal(),
        (q, k, v, mask),
        str(path),
        dynamo=True,
        dynamic_shapes=({0: B, 2: T}, {0: B, 2: T}, {0: B, 2: T}, {0: B, 1: T}),
        opset_version=18,
        input_names=["q", "k", "v", "mask"],
    )
    assert [n.op_type for n in onnx.load(str(path)).graph.node].count("If") == 1
    session = ort.InferenceSession(str(path))
    for b, t, spread in ((1, 1, 3.0), (3, 97, 3.0), (2, 300, 3.0), (3, 97, 60.0)):
        q, k, v = qkv(b, 2, t, 8, 4, spread, dtype=torch.float32, seed=t)
        mask = torch.ones(b, t, dtype=torch.bool)
        mask[0, : t // 3] = False
        feed = {"q": q.numpy(), "k": k.numpy(), "v": v.numpy(), "mask": mask.numpy()}
        (y,) = session.run(None, feed)
        ref = latte_causal(q, k, v, mask=mask).numpy()
        assert np.isfinite(y).all()
        assert np.abs(y - ref).max() <= 1e-4, (b, t, spread)

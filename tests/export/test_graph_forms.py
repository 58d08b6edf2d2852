"""The forms the exported graphs take for onnxruntime's sake: real exported files run with onnxruntime equal torch.

* the tubelet projection exports as one MatMul (no Conv), whole tubelets only, at other clip lengths and sizes;
* bidirectional Latte's softmax over positions is a last-axis softmax, padding included;
* causal Latte (the scan form) is masked only where it must be: padded q, k, v may hold NaN;
* ``cpu_session`` (every bundle session) leaves the slow SkipLayerNormalization fusion out.
"""

import warnings

import numpy as np
import onnx
import pytest
import torch

from latte_vt.attention import latte_bidirectional, latte_causal_reference
from latte_vt.attention.scan import latte_causal_scan
from latte_vt.backbone import LatteConfig
from latte_vt.export import DEFAULT_OPSET
from latte_vt.export.graphs import TransactionGraph
from latte_vt.export.onnx_export import export_transaction_graph
from latte_vt.models.transactions import TransactionScoringModel
from latte_vt.runtime.sessions import cpu_session
from latte_vt.tokenizers.video import PatchTokenizer


def _export(module: torch.nn.Module, args: tuple, dynamic: tuple, names: list[str], path) -> onnx.ModelProto:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module.eval(), args, dynamo=True, dynamic_shapes=dynamic, input_names=names, opset_version=DEFAULT_OPSET
        )
    program.save(str(path))
    return onnx.load(str(path))


def _op_types(model: onnx.ModelProto) -> set[str]:
    return {node.op_type for node in model.graph.node}


def test_tubelets_export_as_one_matmul_equal_to_the_conv(tmp_path):
    torch.manual_seed(0)
    tok = PatchTokenizer(dim=24, num_frames=8, image_size=48, tubelet=2, patch=16).eval()
    T = torch.export.Dim("time", min=2, max=64)
    path = tmp_path / "tubelets.onnx"
    # sides that are not whole patches (as a crop of another size gives) and odd frame counts: the Conv3d drops
    # the remainder, so must the matmul
    model = _export(
        tok, (torch.randn(2, 8, 3, 50, 37),), ({0: torch.export.Dim("batch", min=1, max=64), 1: T},), ["clips"], path
    )
    assert "Conv" not in _op_types(model) and "MatMul" in _op_types(model)
    session = cpu_session(path)
    for batch, frames in ((1, 8), (3, 7), (2, 13)):
        clips = torch.randn(batch, frames, 3, 50, 37)
        with torch.no_grad():
            want = tok(clips).numpy()  # eager: the Conv3d
        (got,) = session.run(None, {"clips": clips.numpy()})
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= 1e-4


class _Bidirectional(torch.nn.Module):
    def forward(self, q, k, v, mask):
        return latte_bidirectional(q, k, v, mask, backend="torch")


def test_bidirectional_latte_exports_with_last_axis_softmax_and_masks_padding(tmp_path):
    g = torch.Generator().manual_seed(0)
    B, H, T, L, Dh = 2, 2, 9, 4, 3
    args = (*(torch.randn(B, H, T, n, generator=g) for n in (L, L, Dh)), torch.ones(B, T, dtype=torch.bool))
    b, t = torch.export.Dim("batch", min=1, max=64), torch.export.Dim("time", min=2, max=4096)
    dynamic = ({0: b, 2: t}, {0: b, 2: t}, {0: b, 2: t}, {0: b, 1: t})
    path = tmp_path / "bidirectional.onnx"
    model = _export(_Bidirectional(), args, dynamic, ["q", "k", "v", "mask"], path)
    softmax_axes = {a.i for n in model.graph.node if n.op_type == "Softmax" for a in n.attribute if a.name == "axis"}
    assert softmax_axes <= {-1, 3}  # only the last axis of (B, H, ., .)
    session = cpu_session(path)
    q, k, v = (torch.randn(3, H, 40, n, generator=g) * 20 for n in (L, L, Dh))
    mask = torch.ones(3, 40, dtype=torch.bool)
    mask[0, :13], mask[2, 31:] = False, False  # left and right padding
    (got,) = session.run(None, {"q": q.numpy(), "k": k.numpy(), "v": v.numpy(), "mask": mask.numpy()})
    want = latte_bidirectional(q.double(), k.double(), v.double(), mask, backend="torch").numpy()
    assert np.abs(got - want).max() <= 1e-5
    assert (got[0, :, :13] == 0).all() and (got[2, :, 31:] == 0).all()


class _Causal(torch.nn.Module):
    def forward(self, q, k, v, mask):
        return latte_causal_scan(q, k, v, mask=mask)[0]


@pytest.mark.parametrize("spread", [3.0, 60.0])  # the fast form and the exact one behind the If
def test_causal_scan_export_ignores_nan_in_padded_tokens(tmp_path, spread):
    g = torch.Generator().manual_seed(1)
    H, L, Dh = 2, 4, 3
    args = (*(torch.randn(2, H, 40, n, generator=g) for n in (L, L, Dh)), torch.ones(2, 40, dtype=torch.bool))
    b, t = torch.export.Dim("batch", min=1, max=64), torch.export.Dim("time", min=2, max=4096)
    dynamic = ({0: b, 2: t}, {0: b, 2: t}, {0: b, 2: t}, {0: b, 1: t})
    path = tmp_path / "causal.onnx"
    _export(_Causal(), args, dynamic, ["q", "k", "v", "mask"], path)
    session = cpu_session(path)
    B, T, pad = 3, 70, 11
    q, v = (torch.randn(B, H, T, n, generator=g, dtype=torch.float64) for n in (L, Dh))
    k = (torch.rand(B, H, T, L, generator=g, dtype=torch.float64) * 2 - 1) * spread
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[1, :pad] = False  # left padding, as the history batches have it
    feed = {name: x.float().numpy() for name, x in (("q", q), ("k", k), ("v", v))}
    for x in feed.values():
        x[1, :, :pad] = np.nan
    (got,) = session.run(None, feed | {"mask": mask.numpy()})
    assert np.isfinite(got).all()
    assert (got[1, :, :pad] == 0).all()
    want = latte_causal_reference(q[1:2, :, pad:], k[1:2, :, pad:], v[1:2, :, pad:]).numpy()
    assert np.abs(got[1:2, :, pad:] - want).max() <= 1e-4
    assert np.abs(got[[0, 2]] - latte_causal_reference(q[[0, 2]], k[[0, 2]], v[[0, 2]]).numpy()).max() <= 1e-4


def test_bundle_sessions_leave_out_the_skip_layer_norm_fusion(tmp_path):
    import onnxruntime as ort

    torch.manual_seed(0)
    model = TransactionScoringModel([5, 7], 2, LatteConfig(dim=16, depth=2, heads=2, latents=4)).eval()
    path = tmp_path / "model.onnx"
    export_transaction_graph(TransactionGraph(model), path, DEFAULT_OPSET)
    optimised = {}
    for name, open_session in (("ours", cpu_session), ("plain", None)):
        options = ort.SessionOptions()
        options.optimized_model_filepath = str(tmp_path / f"{name}.optimised.onnx")
        if open_session is None:
            ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        else:
            open_session(path, options)
        optimised[name] = _op_types(onnx.load(options.optimized_model_filepath))
    assert "SkipLayerNormalization" in optimised["plain"]  # what onnxruntime would do by default
    assert "SkipLayerNormalization" not in optimised["ours"] and "LayerNormalization" in optimised["ours"]

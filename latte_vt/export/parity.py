"""Parity checks run at export: the ONNX graphs must reproduce torch, or the bundle is not written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from latte_vt.errors import LatteError
from latte_vt.export.graphs import TransactionStepGraph, VideoGraph
from latte_vt.models.transactions import TransactionScoringModel
from latte_vt.runtime.sessions import cpu_session

FULL_TOL = 1e-4
STEP_TOL = 1e-5


class ParityError(LatteError):
    """The exported graph disagrees with torch beyond tolerance."""


def transaction_parity(model: TransactionScoringModel, root: Path, seed: int = 0, real: tuple | None = None) -> dict:
    """model.onnx vs torch at batch/time sizes other than the traced (2, 37), a stress input, real
    encoded histories when given (cat, num, mask arrays), step.onnx over every event and piece.onnx over pieces
    vs model.onnx."""
    model.encoder.set_exportable(False)  # the reference is the training-time chunked path
    g = torch.Generator().manual_seed(seed)
    vocab, n_num = model.tokenizer.vocab_sizes, model.tokenizer.num_numeric
    full = cpu_session(root / "model.onnx")
    checks = []
    for B, T, scale in ((1, 5, 1.0), (3, 50, 1.0), (4, 257, 1.0), (2, 64, 30.0)):
        cat = torch.stack([torch.randint(1, v, (B, T), generator=g) for v in vocab], dim=-1)
        num = torch.randn(B, T, n_num, generator=g) * scale
        mask = torch.ones(B, T, dtype=torch.bool)
        mask[0, : T // 3] = False  # left padding on one row
        with torch.no_grad():
            ref = model(cat, num, mask).numpy()
        (got,) = full.run(None, {"cat": cat.numpy(), "num": num.numpy(), "mask": mask.numpy()})
        rows = mask.numpy()
        diff = float(np.abs(got - ref)[rows].max())
        finite = bool(np.isfinite(got[rows]).all())
        checks.append(
            {
                "batch": B,
                "time": T,
                "input_scale": scale,
                "max_abs_diff": diff,
                "finite": finite,
                "ok": finite and diff <= FULL_TOL,
            }
        )
    if real is not None:  # encoded validation histories (cat, num, mask)
        cat_r, num_r, mask_r = real
        with torch.no_grad():
            ref = model(torch.from_numpy(cat_r), torch.from_numpy(num_r), torch.from_numpy(mask_r)).numpy()
        (got,) = full.run(None, {"cat": cat_r, "num": num_r, "mask": mask_r})
        diff = float(np.abs(got - ref)[mask_r].max())
        ok = diff <= FULL_TOL and bool(np.isfinite(got[mask_r]).all())
        checks.append(
            {
                "batch": int(cat_r.shape[0]),
                "time": int(cat_r.shape[1]),
                "input": "real validation events",
                "max_abs_diff": diff,
                "ok": ok,
            }
        )
    step = cpu_session(root / "step.onnx")
    B, T = 3, 40
    cat = torch.stack([torch.randint(1, v, (B, T), generator=g) for v in vocab], dim=-1).numpy()
    num = torch.randn(B, T, n_num, generator=g).numpy()
    (whole,) = full.run(None, {"cat": cat, "num": num, "mask": np.ones((B, T), dtype=bool)})
    states = initial = [s.numpy() for s in TransactionStepGraph(model).initial_states(B)]
    names = [i.name for i in step.get_inputs()]
    stepped = []
    for t in range(T):
        logit, *states = step.run(None, dict(zip(names, [cat[:, t], num[:, t], *states], strict=True)))
        stepped.append(logit)
    step_diff = float(np.abs(np.stack(stepped, 1) - whole).max())
    result = {
        "full": checks,
        "step_vs_full": {"batch": B, "time": T, "max_abs_diff": step_diff, "ok": step_diff <= STEP_TOL},
        "piece_vs_full": _piece_parity(root, cat, num, whole, initial),
        "tolerances": {"full": FULL_TOL, "step": STEP_TOL},
    }
    result["ok"] = all(c["ok"] for c in checks) and result["step_vs_full"]["ok"] and result["piece_vs_full"]["ok"]
    return result


def _piece_parity(root: Path, cat: np.ndarray, num: np.ndarray, whole: np.ndarray, states: list[np.ndarray]) -> dict:
    """piece.onnx over pieces of 1, 15 and the rest of the events, each continuing the last one's states (from
    the initial ``states``), vs model.onnx over the whole histories: ``whole`` (B, T) logits."""
    piece = cpu_session(root / "piece.onnx")
    names = [i.name for i in piece.get_inputs()]
    B, T = whole.shape
    sizes, got, start = [1, 15, T - 16], [], 0
    for size in sizes:
        part = slice(start, start + size)
        logits, *states = piece.run(None, dict(zip(names, [cat[:, part], num[:, part], *states], strict=True)))
        got.append(logits)
        start += size
    diff = float(np.abs(np.concatenate(got, 1) - whole).max())
    return {"batch": B, "time": T, "pieces": sizes, "max_abs_diff": diff, "ok": diff <= FULL_TOL}


def video_parity(graph: VideoGraph, graph_path: Path, seed: int = 0, real: list[np.ndarray] | None = None) -> dict:
    """model.onnx vs the same ``VideoGraph`` in torch (preprocessing included), on uint8 frames of other
    batch/time sizes and frame sizes than the traced one (square, landscape, portrait, smaller than the
    crop), and on real decoded validation clips at their native resolution when given: max abs logit
    diff and argmax."""
    g = torch.Generator().manual_seed(seed)
    session = cpu_session(graph_path)
    T, S = graph.spec.num_frames, graph.spec.size
    cases: list[tuple[str, torch.Tensor]] = [
        ("random", torch.randint(0, 256, shape, generator=g, dtype=torch.uint8))
        for shape in (
            (1, T, S, S, 3),
            (3, T, 72, 128, 3),
            (2, max(2, T // 2), 2 * S + 1, S + 7, 3),
            (1, 2 * T, S // 2 + 1, S, 3),
        )
    ]
    cases += [("real clip", torch.from_numpy(clip)) for clip in real or []]  # (V, T, H, W, 3) each
    checks = []
    for kind, frames in cases:
        with torch.no_grad():
            ref = graph(frames).numpy()
        (got,) = session.run(None, {"frames": frames.numpy()})
        diff = float(np.abs(got - ref).max())
        same = bool((got.argmax(-1) == ref.argmax(-1)).all())
        B, T_, H, W = frames.shape[:4]
        checks.append(
            {
                "batch": B,
                "time": T_,
                "height": H,
                "width": W,
                "input": kind,
                "max_abs_diff": diff,
                "same_argmax": same,
                "ok": diff <= FULL_TOL and same and bool(np.isfinite(got).all()),
            }
        )
    return {"full": checks, "tolerances": {"full": FULL_TOL}, "ok": all(c["ok"] for c in checks)}

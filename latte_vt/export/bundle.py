"""Write a bundle: graphs, preprocessing spec, parity results and a hashed manifest — atomically.

The bundle is assembled in ``<out>.partial`` and renamed into place only when every parity check
passed, so a failing export leaves no bundle behind.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latte_vt import __version__
from latte_vt.data.video.spec import ClipSpec
from latte_vt.errors import InputError
from latte_vt.export import DEFAULT_OPSET, int8
from latte_vt.export.graphs import TransactionGraph, TransactionPieceGraph, TransactionStepGraph, VideoGraph
from latte_vt.export.onnx_export import (
    export_piece_graph,
    export_step_graph,
    export_transaction_graph,
    export_video_graph,
)
from latte_vt.export.parity import ParityError, transaction_parity, video_parity
from latte_vt.models.transactions import TransactionScoringModel
from latte_vt.models.video import VideoClassificationModel
from latte_vt.runtime.bundle import SUPPORTED_OPSETS, write_manifest


def versions() -> dict[str, str]:
    import onnx
    import onnxruntime

    return {
        "latte_vt": __version__,
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "python": platform.python_version(),
    }


def _start(out: Path, opset: int, force: bool) -> Path:
    if opset not in SUPPORTED_OPSETS:
        raise InputError(f"--opset {opset} is not supported (use {SUPPORTED_OPSETS.start}-{SUPPORTED_OPSETS.stop - 1})")
    if out.exists() and not force:
        raise InputError(f"{out} exists; pass --force to replace it")
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    return partial


def _finish(partial: Path, out: Path, manifest: dict[str, Any], judge_int8: Callable[[], dict] | None = None) -> Path:
    """Judge int8, write the manifest and move ``partial`` to ``out``. When parity failed, only the report
    ``<out>.parity.json`` is written: ``partial`` is removed and whatever is at ``out`` is left as it was."""
    report = out.with_name(out.name + ".parity.json")
    if not manifest["parity"]["ok"]:
        report.write_text(json.dumps(manifest["parity"], indent=2))
        shutil.rmtree(partial)
        kept = f" ({out} left as it was)" if out.exists() else ""
        raise ParityError(f"parity failed, bundle not written{kept}; the failing checks are in {report}")
    if judge_int8 is not None:  # judged by the task metric; shipped only when accepted
        manifest["int8"] = judge_int8()
        if manifest["int8"]["status"] == "accepted":
            manifest["files"]["model.int8.onnx"] = None
    manifest["created"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    manifest["versions"] = versions()
    write_manifest(partial, manifest)
    replaced = out.with_name(out.name + ".replaced")
    shutil.rmtree(replaced, ignore_errors=True)
    if out.exists():
        out.rename(replaced)  # the old bundle stays whole until the new one is in place
    partial.rename(out)
    shutil.rmtree(replaced, ignore_errors=True)
    report.unlink(missing_ok=True)  # an earlier failed export's report no longer describes what is at ``out``
    return out


def export_transaction_bundle(
    model: TransactionScoringModel,
    preprocessor_json: Path,
    schema: dict,
    out: Path,
    opset: int = DEFAULT_OPSET,
    force: bool = False,
    int8_events: Any = None,
    real_inputs: tuple | None = None,
) -> Path:
    """model.onnx + step.onnx + piece.onnx + preprocessor.json + preprocess.json + manifest.json; with ``int8_events``
    (labelled validation events, a canonical frame) also model.int8.onnx when its AP drops <= 1 point."""
    model = model.eval().float()
    partial = _start(out, opset, force)
    graphs = {
        "model": export_transaction_graph(TransactionGraph(model), partial / "model.onnx", opset),
        "step": export_step_graph(TransactionStepGraph(model), partial / "step.onnx", opset),
        "piece": export_piece_graph(TransactionPieceGraph(model), partial / "piece.onnx", opset),
    }
    shutil.copyfile(preprocessor_json, partial / "preprocessor.json")
    spec = {
        "task": "transactions",
        "schema": schema,
        "vocab_sizes": model.tokenizer.vocab_sizes,
        "num_numeric": model.tokenizer.num_numeric,
        "encoder": vars(model.encoder.config),
    }
    (partial / "preprocess.json").write_text(json.dumps(spec, indent=2, default=str))
    manifest = {
        "task": "transactions",
        "opset": opset,
        "graphs": graphs,
        "files": dict.fromkeys(["model.onnx", "step.onnx", "piece.onnx", "preprocessor.json", "preprocess.json"]),
        "parity": transaction_parity(model, partial, real=real_inputs),
    }
    judge_int8 = None
    if int8_events is not None:

        def judge_int8() -> dict:
            return int8.judge(partial, int8.transaction_evaluator(partial, int8_events))

    return _finish(partial, out, manifest, judge_int8)


def export_video_bundle(
    model: VideoClassificationModel,
    classes: list[str],
    spec: ClipSpec,
    out: Path,
    opset: int = DEFAULT_OPSET,
    force: bool = False,
    int8_samples: list[tuple[str, str]] | None = None,
    real_clips: list[np.ndarray] | None = None,
) -> Path:
    """model.onnx (uint8 frames at any resolution in; the clip spec's resize, crop and normalisation inside)
    + preprocess.json (labels and the ``ClipSpec``) + manifest; with ``int8_samples`` ((path, label)
    validation clips) also model.int8.onnx when top-1 drops <= 1 point."""
    if model.encoder.config.causal:  # the chunked pass is not exportable; its scan form fails in torch.export
        raise InputError(
            "a causal video model (encoder causal: true) cannot be exported to ONNX yet; run it from the checkpoint"
        )
    graph = VideoGraph(model.eval().float(), spec).eval()
    partial = _start(out, opset, force)
    graphs = {"model": export_video_graph(graph, spec.num_frames, partial / "model.onnx", opset)}
    preprocess = {"task": "video", "classes": classes, **spec.to_dict()}
    (partial / "preprocess.json").write_text(json.dumps(preprocess, indent=2))
    manifest = {
        "task": "video",
        "opset": opset,
        "graphs": graphs,
        "files": dict.fromkeys(["model.onnx", "preprocess.json"]),
        "parity": video_parity(graph, partial / "model.onnx", real=real_clips),
    }
    judge_int8 = None
    if int8_samples is not None:

        def judge_int8() -> dict:
            return int8.judge(partial, int8.video_evaluator(spec, classes, int8_samples))

    return _finish(partial, out, manifest, judge_int8)

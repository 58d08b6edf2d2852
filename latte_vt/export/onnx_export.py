"""torch -> ONNX for the exported graphs (dynamo exporter, dynamic batch and time axes)."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from latte_vt.export.graphs import (
    INITIAL_VALUES,
    TransactionGraph,
    TransactionPieceGraph,
    TransactionStepGraph,
    VideoGraph,
)

#: Trace sizes: batch >= 2 and T >= 2, or the exporter freezes the axis to the traced size.
TRACE_BATCH = 2
MAX_BATCH = 1 << 16
MAX_TIME = 1 << 22
MAX_SIDE = 1 << 14


def _export(
    module: nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str], dynamic: tuple, opset: int
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module.eval(),
            args,
            dynamo=True,
            dynamic_shapes=dynamic,
            input_names=inputs,
            output_names=outputs,
            opset_version=opset,
            verbose=False,
        )
    _rename_clashing_values(program.model.graph, set(inputs) | set(outputs))
    program.save(str(path), external_data=False)


def _rename_clashing_values(graph, names: set[str]) -> None:
    """The exporter names intermediate values after their op (a ``torch.cat`` gives "cat"); one that
    takes the name of a graph input or output makes the model invalid ("Duplicate definition"), so it
    gets a fresh name (nodes of subgraphs such as the chunk scan's body included)."""
    from onnx_ir.traversal import RecursiveGraphIterator

    io = {*graph.inputs, *graph.outputs}
    for node in RecursiveGraphIterator(graph):
        for i, value in enumerate(node.outputs):
            if value.name in names and value not in io:
                value.name = f"{value.name}__{node.name or node.op_type}_{i}"


def export_video_graph(graph: VideoGraph, num_frames: int, path: Path, opset: int) -> dict:
    """model.onnx for video: frames uint8 (B, T, H, W, 3) -> logits; batch, time, height and width dynamic
    (traced on a non-square frame larger than the crop, so neither side freezes)."""
    side = graph.preprocess.short_side
    frames = torch.randint(0, 256, (TRACE_BATCH, num_frames, side + 3, 2 * side + 5, 3), dtype=torch.uint8)
    B, T = torch.export.Dim("batch", min=1, max=MAX_BATCH), torch.export.Dim("time", min=2, max=MAX_TIME)
    H, W = torch.export.Dim("height", min=2, max=MAX_SIDE), torch.export.Dim("width", min=2, max=MAX_SIDE)
    _export(graph, (frames,), path, ["frames"], ["logits"], ({0: B, 1: T, 2: H, 3: W},), opset)
    return {
        "inputs": {"frames": {"dtype": "uint8", "shape": ["batch", "time", "height", "width", 3]}},
        "outputs": {"logits": {"dtype": "float32", "shape": ["batch", "classes"]}},
    }


def export_transaction_graph(graph: TransactionGraph, path: Path, opset: int) -> dict:
    """model.onnx for transactions: whole histories -> one logit per event; batch and time dynamic."""
    model = graph.model
    n_cat, n_num = len(model.tokenizer.vocab_sizes), model.tokenizer.num_numeric
    T0 = 37
    cat = torch.ones(TRACE_BATCH, T0, n_cat, dtype=torch.int64)
    num = torch.zeros(TRACE_BATCH, T0, n_num)
    mask = torch.ones(TRACE_BATCH, T0, dtype=torch.bool)
    B, T = torch.export.Dim("batch", min=1, max=MAX_BATCH), torch.export.Dim("time", min=2, max=MAX_TIME)
    axes = {0: B, 1: T}
    _export(graph, (cat, num, mask), path, ["cat", "num", "mask"], ["logits"], (axes, axes, axes), opset)
    return {
        "inputs": {
            "cat": {"dtype": "int64", "shape": ["batch", "time", n_cat]},
            "num": {"dtype": "float32", "shape": ["batch", "time", n_num]},
            "mask": {"dtype": "bool", "shape": ["batch", "time"]},
        },
        "outputs": {"logits": {"dtype": "float32", "shape": ["batch", "time"]}},
    }


def _export_stateful(graph: TransactionStepGraph, path: Path, opset: int, time: int | None) -> dict:
    """A graph with past_state.* in and present_state.* out: one event per entity (``time`` None: cat (B, F_cat)
    -> logit (B,)) or a run of events (cat (B, T, F_cat) -> logits (B, T)); batch (and time) dynamic."""
    model = graph.model
    n_cat, n_num = len(model.tokenizer.vocab_sizes), model.tokenizer.num_numeric
    lead = (TRACE_BATCH,) if time is None else (TRACE_BATCH, time)
    states = graph.initial_states(TRACE_BATCH)
    args = (torch.ones(*lead, n_cat, dtype=torch.int64), torch.zeros(*lead, n_num), *states)
    B = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    axes = {0: B} if time is None else {0: B, 1: torch.export.Dim("time", min=2, max=MAX_TIME)}
    past, present = graph.state_names("past_state"), graph.state_names("present_state")
    dynamic = (axes, axes, tuple({0: B} for _ in states))  # *flat_states is one argument to the exporter
    out = "logit" if time is None else "logits"
    _export(graph, args, path, ["cat", "num", *past], [out, *present], dynamic, opset)
    shapes = {part: ["batch", *shape] for part, shape in graph.part_shapes().items()}
    state_io = {name: {"dtype": "float32", "shape": shapes[name.rsplit(".", 1)[1]]} for name in past}
    events = ["batch"] if time is None else ["batch", "time"]
    return {
        "inputs": {
            "cat": {"dtype": "int64", "shape": [*events, n_cat]},
            "num": {"dtype": "float32", "shape": [*events, n_num]},
            **state_io,
        },
        "outputs": {
            out: {"dtype": "float32", "shape": events},
            **{n.replace("past_", "present_"): v for n, v in state_io.items()},
        },
        "initial_state": {part: INITIAL_VALUES[part] for part in graph.parts},
    }


def export_step_graph(graph: TransactionStepGraph, path: Path, opset: int) -> dict:
    """step.onnx: one event per entity with past_state.* in, logit and present_state.* out; batch dynamic."""
    return _export_stateful(graph, path, opset, time=None)


def export_piece_graph(graph: TransactionPieceGraph, path: Path, opset: int) -> dict:
    """piece.onnx: T events per entity with past_state.* in (step.onnx's states), logits (B, T) and
    present_state.* out; batch and time dynamic (T >= 1 runs; traced at T = 37)."""
    return _export_stateful(graph, path, opset, time=37)

"""``latte-vt bench onnx``: torch eager vs onnxruntime fp32 vs onnxruntime int8, same process.

* video: clip latency at batch 1 (p50/p99) and throughput at batch 8 (uint8 frames in);
* transactions: full-history scoring events/s;
* streaming: ``step.onnx`` events/s and p99 per micro-batch of entities, versus re-encoding the last
  128 events with the softmax encoder for every new event (what a window model must do).
Untrained weights of the default task sizes: speed does not depend on the weights.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from latte_vt.backbone import LatteConfig
from latte_vt.bench.report import RunInfo, environment, markdown_table, write_outputs
from latte_vt.data.video.spec import ClipSpec
from latte_vt.export.graphs import TransactionGraph, TransactionStepGraph, VideoGraph
from latte_vt.export.onnx_export import export_step_graph, export_transaction_graph, export_video_graph
from latte_vt.models.transactions import TransactionScoringModel
from latte_vt.models.video import VideoClassificationModel

VOCAB = [2000, 500, 60, 4, 3000]
NUM_NUMERIC = 6
WINDOW = 128


def _times(fn: Callable[[], object], reps: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def _p(times: list[float], q: float) -> float:
    return float(np.percentile(np.array(times), q))


def _session(path: Path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _int8(path: Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = path.with_name(path.stem + ".int8.onnx")
    quantize_dynamic(str(path), str(out), op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8)
    return out


def bench_video(tmp: Path, reps: int) -> dict:
    torch.manual_seed(0)
    frames_n, size = 16, 112
    model = VideoClassificationModel(10, LatteConfig(dim=128, depth=4, heads=4, latents=32, pooling="latent")).eval()
    graph = VideoGraph(model, ClipSpec(num_frames=frames_n, size=size)).eval()  # the spec's preprocessing inside
    path = tmp / "video.onnx"
    export_video_graph(graph, frames_n, path, 18)
    height, width = graph.spec.short_side, graph.spec.short_side * 4 // 3  # decoded 4:3 frames, resized in the graph
    sessions = {"onnxruntime_fp32": _session(path), "onnxruntime_int8": _session(_int8(path))}
    out: dict = {}
    for batch in (1, 8):
        frames = np.random.default_rng(0).integers(0, 256, (batch, frames_n, height, width, 3), dtype=np.uint8)
        tf = torch.from_numpy(frames)
        runs = {"torch_eager": lambda tf=tf: graph(tf)}
        runs |= {name: (lambda s=s, f=frames: s.run(None, {"frames": f})) for name, s in sessions.items()}
        for name, fn in runs.items():
            with torch.inference_mode():
                t = _times(fn, reps)
            out[f"{name}_batch{batch}"] = {
                "p50_ms": _p(t, 50) * 1e3,
                "p99_ms": _p(t, 99) * 1e3,
                "clips_per_s": batch / statistics.median(t),
            }
    return out


def bench_transactions(tmp: Path, reps: int) -> dict:
    torch.manual_seed(0)
    model = TransactionScoringModel(VOCAB, NUM_NUMERIC, LatteConfig(dim=64, depth=2, heads=4, latents=16)).eval()
    full_path, step_path = tmp / "tx.onnx", tmp / "step.onnx"
    export_transaction_graph(TransactionGraph(model), full_path, 18)
    step_graph = TransactionStepGraph(model)
    export_step_graph(step_graph, step_path, 18)
    model.encoder.set_exportable(False)
    rng = np.random.default_rng(0)
    B, T = 32, 512
    cat = np.stack([rng.integers(1, v, (B, T)) for v in VOCAB], -1).astype(np.int64)
    num = rng.standard_normal((B, T, NUM_NUMERIC)).astype(np.float32)
    mask = np.ones((B, T), dtype=bool)
    feed = {"cat": cat, "num": num, "mask": mask}
    fp32, int8 = _session(full_path), _session(_int8(full_path))
    full = {
        "torch_eager": lambda: model(torch.from_numpy(cat), torch.from_numpy(num), torch.from_numpy(mask)),
        "onnxruntime_fp32": lambda: fp32.run(None, feed),
        "onnxruntime_int8": lambda: int8.run(None, feed),
    }
    out: dict = {"full_history": {}}
    for name, fn in full.items():
        with torch.inference_mode():
            t = _times(fn, max(3, reps // 4))
        out["full_history"][name] = {
            "events_per_s": B * T / statistics.median(t),
            "median_ms": statistics.median(t) * 1e3,
        }
    # streaming: one event for each of E entities per micro-batch
    E = 256
    step = _session(step_path)
    names = [i.name for i in step.get_inputs()]
    states = [s.numpy() for s in step_graph.initial_states(E)]
    cat_t = np.stack([rng.integers(1, v, E) for v in VOCAB], -1).astype(np.int64)
    num_t = rng.standard_normal((E, NUM_NUMERIC)).astype(np.float32)

    def stream_once() -> None:
        nonlocal states
        _, *states = step.run(None, dict(zip(names, [cat_t, num_t, *states], strict=True)))

    t_stream = _times(stream_once, reps * 4)
    # window re-encoding: the softmax encoder over each entity's last 128 events, for every new event
    softmax_cfg = LatteConfig(dim=64, depth=2, heads=4, latents=16, mixer="softmax")
    softmax = TransactionScoringModel(VOCAB, NUM_NUMERIC, softmax_cfg)
    win_path = tmp / "window.onnx"
    export_transaction_graph(TransactionGraph(softmax.eval()), win_path, 18)
    win = _session(win_path)
    wfeed = {
        "cat": np.stack([rng.integers(1, v, (E, WINDOW)) for v in VOCAB], -1).astype(np.int64),
        "num": rng.standard_normal((E, WINDOW, NUM_NUMERIC)).astype(np.float32),
        "mask": np.ones((E, WINDOW), dtype=bool),
    }
    t_window = _times(lambda: win.run(None, wfeed), max(3, reps // 2))
    stream_eps = E / statistics.median(t_stream)
    window_eps = E / statistics.median(t_window)
    out["streaming"] = {
        "micro_batch_entities": E,
        "step_events_per_s": stream_eps,
        "step_p50_ms": _p(t_stream, 50) * 1e3,
        "step_p99_ms": _p(t_stream, 99) * 1e3,
        "window_reencode_events_per_s": window_eps,
        "window_reencode_p50_ms": _p(t_window, 50) * 1e3,
        "window": WINDOW,
    }
    return out


def run_onnx_bench(json_path: Path, md_path: Path, reps: int = 30) -> dict:
    run = RunInfo.start()
    with tempfile.TemporaryDirectory() as tmp:
        video = bench_video(Path(tmp), reps)
        tx = bench_transactions(Path(tmp), reps)
    ort_vs_torch = video["torch_eager_batch1"]["p50_ms"] / video["onnxruntime_fp32_batch1"]["p50_ms"]
    stream_vs = tx["streaming"]["step_events_per_s"] / tx["streaming"]["window_reencode_events_per_s"]
    payload = {
        "benchmark": "onnx",
        "environment": environment("cpu"),
        "video": video,
        "transactions": tx,
        "ort_vs_torch_batch1": ort_vs_torch,
        "stream_vs_window_reencode": stream_vs,
        "goals": [
            {
                "goal": "onnxruntime >= 1.5x torch eager, video batch 1 (p50)",
                "value": ort_vs_torch,
                "met": ort_vs_torch >= 1.5,
            },
            {
                "goal": "streaming step >= 20x faster per event than re-encoding a 128-event window",
                "value": stream_vs,
                "met": stream_vs >= 20,
            },
        ],
    }
    markdown = render_markdown(payload)
    write_outputs(payload, markdown, json_path, md_path, run)
    print(markdown)
    return payload


def render_markdown(payload: dict) -> str:
    v, tx, env = payload["video"], payload["transactions"], payload["environment"]
    rows = [
        [
            name.rsplit("_batch", 1)[0],
            name.rsplit("_batch", 1)[1],
            f"{r['p50_ms']:.1f}",
            f"{r['p99_ms']:.1f}",
            f"{r['clips_per_s']:.1f}",
        ]
        for name, r in v.items()
    ]
    video = markdown_table(["engine", "batch", "p50 ms", "p99 ms", "clips/s"], rows)
    full = markdown_table(
        ["engine", "events/s", "median ms (32 x 512 events)"],
        [[n, f"{r['events_per_s']:,.0f}", f"{r['median_ms']:.1f}"] for n, r in tx["full_history"].items()],
    )
    s = tx["streaming"]
    stream = markdown_table(
        ["method", "events/s", "p50 ms / micro-batch", "p99 ms / micro-batch"],
        [
            [
                "step.onnx (constant state)",
                f"{s['step_events_per_s']:,.0f}",
                f"{s['step_p50_ms']:.2f}",
                f"{s['step_p99_ms']:.2f}",
            ],
            [
                f"softmax re-encode of last {s['window']} events",
                f"{s['window_reencode_events_per_s']:,.0f}",
                f"{s['window_reencode_p50_ms']:.2f}",
                "–",
            ],
        ],
    )
    goals = "\n".join(f"- {'✅' if g['met'] else '❌'} {g['goal']}: {g['value']:.2f}" for g in payload["goals"])
    return (
        f"# ONNX runtime benchmark (cpu)\n\ntorch {env['torch']}, {env['cpu_count']} CPUs. "
        f"Untrained default-size models (speed does not depend on weights); int8 = dynamic MatMul quantisation.\n\n"
        f"## Video classifier (16 frames of 112x112, uint8 in)\n\n{video}\n\n"
        f"## Transactions: full-history scoring\n\n{full}\n\n"
        f"## Streaming ({s['micro_batch_entities']} entities per micro-batch, one new event each)\n\n{stream}\n\n"
        f"## Goals\n\n{goals}\n"
    )

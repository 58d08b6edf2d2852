"""``latte-vt bench onnx``: torch eager vs onnxruntime fp32 vs onnxruntime int8, same process.

* video: clip latency at batch 1 (p50/p99) and throughput at batch 8 (uint8 frames in);
* transactions: full-history scoring events/s;
* streaming: ``step.onnx`` events/s and p99 per micro-batch of entities, versus re-encoding the last
  128 events with the softmax encoder for every new event (what a window model must do).
Untrained weights of the default task sizes: speed does not depend on the weights. Every engine gets the
same number of threads (``--threads``), onnxruntime does not spin-wait between runs (its idle threads
would steal the CPU from torch in the same process), and the contestants' runs are interleaved, so a
busy moment of the machine costs each of them alike.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from latte_vt.backbone import LatteConfig
from latte_vt.bench.report import RunInfo, environment, markdown_table, write_outputs
from latte_vt.data.video.spec import ClipSpec
from latte_vt.export import DEFAULT_OPSET
from latte_vt.export.graphs import TransactionGraph, TransactionStepGraph, VideoGraph
from latte_vt.export.onnx_export import export_step_graph, export_transaction_graph, export_video_graph
from latte_vt.models.transactions import TransactionScoringModel
from latte_vt.models.video import VideoClassificationModel
from latte_vt.runtime.sessions import cpu_session

VOCAB = [2000, 500, 60, 4, 3000]
NUM_NUMERIC = 6
WINDOW = 128


def _times(fn: Callable[[], object], reps: int, warmup: int = 2) -> list[float]:
    return _interleaved({"fn": fn}, reps, warmup)["fn"]


@torch.inference_mode()
def _interleaved(fns: dict[str, Callable[[], object]], reps: int, warmup: int = 2) -> dict[str, list[float]]:
    """Seconds per run of each contestant, the contestants taking turns run by run."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    out: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            out[name].append(time.perf_counter() - start)
    return out


def _p(times: list[float], q: float) -> float:
    return float(np.percentile(np.array(times), q))


THREADS = {"n": 0}  # set by run_onnx_bench: the same intra-op threads for torch and onnxruntime


CONTROL_FLOW = {"If", "Scan", "Loop"}  # their time is their subgraphs' nodes, which the profiler lists too
TOP_OPS = 6


def _session(path: Path, profile_prefix: Path | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS["n"]
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = str(profile_prefix)
    return cpu_session(path, options)


def op_profile(path: Path, feed: dict[str, np.ndarray], runs: int = 3) -> dict[str, float]:
    """Share of onnxruntime kernel time per op type (top ``TOP_OPS``, the rest as ``other``), from its
    profiler over ``runs`` runs after one warm-up; nodes inside If/Scan bodies count as themselves."""
    session = _session(path, profile_prefix=path.with_suffix(""))
    for _ in range(runs + 1):
        session.run(None, feed)
    events = json.loads(Path(session.end_profiling()).read_text())
    kernel = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    warmup_end = len(kernel) // (runs + 1)  # the first run's kernels (allocations, first-touch) are left out
    per_op: Counter[str] = Counter()
    for e in kernel[warmup_end:]:
        if e["args"]["op_name"] not in CONTROL_FLOW:
            per_op[e["args"]["op_name"]] += e["dur"]
    total = sum(per_op.values()) or 1
    top = {op: us / total for op, us in per_op.most_common(TOP_OPS)}
    return top | {"other": 1.0 - sum(top.values())}


def _int8(path: Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = path.with_name(path.stem + ".int8.onnx")
    quantize_dynamic(str(path), str(out), op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8)
    return out


def bench_video(tmp: Path, reps: int) -> tuple[dict, dict[str, float]]:
    """Clip latency and throughput per engine, and onnxruntime fp32's op profile at batch 1."""
    torch.manual_seed(0)
    frames_n, size = 16, 112
    model = VideoClassificationModel(10, LatteConfig(dim=128, depth=4, heads=4, latents=32, pooling="latent")).eval()
    graph = VideoGraph(model, ClipSpec(num_frames=frames_n, size=size)).eval()  # the spec's preprocessing inside
    path = tmp / "video.onnx"
    export_video_graph(graph, frames_n, path, DEFAULT_OPSET)
    height, width = graph.spec.short_side, graph.spec.short_side * 4 // 3  # decoded 4:3 frames, resized in the graph
    sessions = {"onnxruntime_fp32": _session(path), "onnxruntime_int8": _session(_int8(path))}
    out: dict = {}
    profile: dict[str, float] = {}
    for batch in (1, 8):
        frames = np.random.default_rng(0).integers(0, 256, (batch, frames_n, height, width, 3), dtype=np.uint8)
        if batch == 1:
            profile = op_profile(path, {"frames": frames})
        tf = torch.from_numpy(frames)
        runs = {"torch_eager": lambda tf=tf: graph(tf)}
        runs |= {name: (lambda s=s, f=frames: s.run(None, {"frames": f})) for name, s in sessions.items()}
        for name, t in _interleaved(runs, reps).items():
            out[f"{name}_batch{batch}"] = {
                "p50_ms": _p(t, 50) * 1e3,
                "p99_ms": _p(t, 99) * 1e3,
                "clips_per_s": batch / statistics.median(t),
            }
    return out, profile


def bench_transactions(tmp: Path, reps: int) -> dict:
    """Full-history events/s per engine (with onnxruntime fp32's op profile) and streaming step vs window."""
    torch.manual_seed(0)
    model = TransactionScoringModel(VOCAB, NUM_NUMERIC, LatteConfig(dim=64, depth=2, heads=4, latents=16)).eval()
    full_path, step_path = tmp / "tx.onnx", tmp / "step.onnx"
    export_transaction_graph(TransactionGraph(model), full_path, DEFAULT_OPSET)
    step_graph = TransactionStepGraph(model)
    export_step_graph(step_graph, step_path, DEFAULT_OPSET)
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
    out: dict = {"full_history": {}, "profile": op_profile(full_path, feed)}
    for name, t in _interleaved(full, max(5, reps // 3)).items():
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
    export_transaction_graph(TransactionGraph(softmax.eval()), win_path, DEFAULT_OPSET)
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


def run_onnx_bench(json_path: Path, md_path: Path, reps: int = 30, threads: int = 2) -> dict:
    run = RunInfo.start()
    THREADS["n"] = threads
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        video, video_profile = bench_video(Path(tmp), reps)
        tx = bench_transactions(Path(tmp), reps)
    profiles = {"video_batch1": video_profile, "tx_full_history": tx.pop("profile")}
    ratios = {
        f"ort_vs_torch_video_batch{b}": video[f"torch_eager_batch{b}"]["p50_ms"]
        / video[f"onnxruntime_fp32_batch{b}"]["p50_ms"]
        for b in (1, 8)
    }
    full = tx["full_history"]
    ratios["ort_vs_torch_tx_full_history"] = (
        full["onnxruntime_fp32"]["events_per_s"] / full["torch_eager"]["events_per_s"]
    )
    stream_vs = tx["streaming"]["step_events_per_s"] / tx["streaming"]["window_reencode_events_per_s"]
    payload = {
        "benchmark": "onnx",
        "environment": environment("cpu"),
        "threads": threads,
        "video": video,
        "transactions": tx,
        **ratios,
        "stream_vs_window_reencode": stream_vs,
        "onnxruntime_profile": profiles,
        "goals": [
            *(
                {
                    "goal": f"onnxruntime >= {need}x torch eager ({key[len('ort_vs_torch_') :]})",
                    "value": ratios[key],
                    "met": ratios[key] >= need,
                }
                for key, need in (
                    ("ort_vs_torch_video_batch1", 1.5),
                    ("ort_vs_torch_video_batch8", 1.0),
                    ("ort_vs_torch_tx_full_history", 1.5),
                )
            ),
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
    profile_rows = []
    for name, shares in payload["onnxruntime_profile"].items():
        top = [f"{op} {share:.0%}" for op, share in shares.items() if op != "other"]
        profile_rows.append([name, *top, *[""] * (TOP_OPS - len(top)), f"{shares['other']:.0%}"])
    profile = markdown_table(["graph", *(f"top {i + 1}" for i in range(TOP_OPS)), "other"], profile_rows)
    goals = "\n".join(f"- {'✅' if g['met'] else '❌'} {g['goal']}: {g['value']:.2f}" for g in payload["goals"])
    return (
        f"# ONNX runtime benchmark (cpu)\n\ntorch {env['torch']}, {env['cpu_count']} CPUs, {payload['threads']} "
        "intra-op threads for every engine, runs interleaved. Untrained default-size models (speed does not "
        "depend on weights); int8 = dynamic MatMul quantisation.\n\n"
        f"## Video classifier (16 decoded 4:3 frames of 128x170, uint8 in; resize + 112x112 crop inside)\n\n"
        f"{video}\n\n"
        f"## Transactions: full-history scoring\n\n{full}\n\n"
        f"## Streaming ({s['micro_batch_entities']} entities per micro-batch, one new event each)\n\n{stream}\n\n"
        "## Where onnxruntime fp32 spends its time (share of kernel time per op type, its profiler)\n\n"
        f"{profile}\n\n"
        f"## Goals\n\n{goals}\n"
    )

"""``latte-vt bench live``: live scoring speed, durable state included, against re-encoding each history.

* ``stream``: ``latte-vt stream``'s loop (JSON parse, features, step.onnx, JSON out, SQLite checkpoints
  every 1000 lines with fsync, written on the store's writer thread while the loop goes on) over a JSONL
  file: events/s, and per-event latency (from the start of the event's micro-batch to its score written;
  checkpoints included), at the default micro-batch (``BATCH``) and one event at a time (what a pipe with
  one event in flight gets).
* ``serve``: a real ``latte-vt serve`` (uvicorn, group commit: one checkpoint before the replies of each
  batch of concurrent requests) on 127.0.0.1 under a bounded load: a fixed number of concurrent clients,
  one event per request, each client owning its entities (so each entity's events arrive in order):
  p50/p99 per request and requests/s.
* where the time goes: microseconds per event (serve: per request) in each stage (parse, validate, state,
  encode, model, write, commit; the rest of the wall time as ``other``: the loop, or HTTP for serve), beside
  ``step.onnx`` alone (``model_only_events_per_s``, one entity per row, as many rows as a wave can hold).
* baseline, the naive alternative: for each event, encode its features (as the stream does) and run
  ``model.onnx`` over the entity's whole history so far, keeping the last score (what a scorer without a
  recurrent state must do).  It reads the history's features from memory and writes no state, so it is
  flattered; its scores must equal the stream's, which the report checks.
Events are synthetic, drawn from the bundle's own vocabularies; speed does not depend on the weights.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np

from latte_vt.data.transactions.preprocess import FittedPreprocessor
from latte_vt.predict.histories import pad_left
from latte_vt.predict.transactions import sigmoid
from latte_vt.runtime.bundle import Bundle
from latte_vt.runtime.live_stream import BATCH

ENTITIES = 200
STAGES = ("parse", "validate", "state", "encode", "model", "write", "commit")  # where an event's time goes
SINGLE_EVENTS = 2000  # events streamed one at a time (slow path) and re-encoded by the baseline
SERVE_CLIENTS = 4
SERVE_REQUESTS = 2000
STREAM_RUNS = 5  # micro-batched stream runs (each with a fresh state); the median run is reported
UNTRAINED_SIZE = {"dim": 64, "depth": 2, "heads": 4, "latents": 16}


def synthetic_events(preprocessor: FittedPreprocessor, n_events: int, entities: int = ENTITIES, seed: int = 0):
    """``n_events`` canonical events (JSON-ready) for ``entities`` entities, in time order, with field values
    drawn from the preprocessor's vocabularies (and 1 % unseen values)."""
    rng = np.random.default_rng(seed)
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    seconds = np.cumsum(rng.integers(1, 90, n_events))
    who = rng.integers(0, entities, n_events)
    amounts = np.round(rng.lognormal(3.3, 1.1, n_events), 2)
    events = []
    for i in range(n_events):
        event = {
            "event_id": f"E{i:09d}",
            "entity": f"acct-{who[i]:05d}",
            "time": (start + dt.timedelta(seconds=int(seconds[i]))).isoformat(),
            "amount": float(amounts[i]),
        }
        for field in preprocessor.categorical:
            vocab = preprocessor.vocabularies[field]
            unseen = not vocab or rng.random() < 0.01
            event[field] = f"new-{rng.integers(1 << 20)}" if unseen else vocab[int(rng.integers(len(vocab)))]
        for field in preprocessor.numeric:
            mean, std = preprocessor.numeric_stats[field]
            event[field] = float(mean + std * rng.standard_normal())
        events.append(event)
    return events


def _percentiles_ms(seconds: list[float]) -> tuple[float, float]:
    values = np.asarray(seconds) * 1e3
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def measure_stream(bundle_dir: Path, source: Path, workdir: Path, batch: int | None, name: str) -> dict:
    """One ``latte-vt stream`` run in this process over ``source``, with a fresh state."""
    from latte_vt.runtime.live_stream import LiveStream
    from latte_vt.runtime.streaming import StreamingScorer

    out = workdir / f"{name}.jsonl"
    for path in workdir.glob(f"{name}.*"):
        path.unlink()
    scorer = StreamingScorer(bundle_dir, store=workdir / f"{name}.state.sqlite")
    try:
        job = LiveStream(scorer, source, out, workdir / f"{name}.rejects.jsonl", batch_size=batch, record_latency=True)
        summary = job.run()
    finally:
        scorer.store.close()
    p50, p99 = _percentiles_ms(summary.latencies_s)
    stages = {**summary.stages, **scorer.stages}
    return {
        "events": summary.scored,
        "rejected": sum(summary.rejected.values()),
        "events_per_s": summary.scored / summary.seconds,
        "p50_ms": p50,
        "p99_ms": p99,
        "checkpoints": summary.checkpoints,
        "us_per_event": _breakdown(stages, summary.seconds, summary.scored),
        "model_in_run_events_per_s": summary.scored / stages["model"],
        "writer_us_per_event": scorer.store.writer_seconds / summary.scored * 1e6,  # overlaps the stages
        "scores": out,
    }


def median_stream_run(bundle_dir: Path, source: Path, workdir: Path, runs: int) -> dict:
    """``runs`` micro-batched ``measure_stream`` runs, each with a fresh state: the run of median events/s (its
    latencies and stages as they were), with every run's events/s in ``runs_events_per_s``."""
    results = [measure_stream(bundle_dir, source, workdir, None, "stream") for _ in range(runs)]
    speeds = [r["events_per_s"] for r in results]
    median = sorted(results, key=lambda r: r["events_per_s"])[(runs - 1) // 2]
    return median | {"runs_events_per_s": speeds}


def _breakdown(stages: dict[str, float], wall_s: float, count: int) -> dict[str, float]:
    """Microseconds per event (or request) in each stage, in ``STAGES`` order, and ``other``: the wall time
    per item that no stage accounts for (the loop itself; for serve, HTTP)."""
    out = {stage: stages.get(stage, 0.0) / count * 1e6 for stage in STAGES}
    out["other"] = wall_s / count * 1e6 - sum(out.values())
    return out


def measure_step_only(bundle_dir: Path, rows: int, seconds: float = 1.0) -> dict:
    """step.onnx alone on ``rows`` entities per call (fresh states, unknown ids, zero features): events/s."""
    from latte_vt.runtime.streaming import StreamingScorer

    scorer = StreamingScorer(bundle_dir)
    layout = scorer.layout
    feed = {
        "cat": np.ones((rows, len(scorer.preprocessor.cat_columns)), dtype=np.int64),
        "num": np.zeros((rows, len(scorer.preprocessor.num_columns)), dtype=np.float32),
    }
    states = zip(layout.names, layout.shapes, layout.initial, strict=True)
    feed |= {name: np.full((rows, *shape), value, np.float32) for name, shape, value in states}
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        scorer.session.run(None, feed)
        calls += 1
    return {"rows_per_call": rows, "events_per_s": calls * rows / (time.perf_counter() - start)}


def measure_window_reencode(bundle_dir: Path, events: list[dict], stream_scores: Path, count: int) -> dict:
    """The naive alternative on the last ``count`` events: model.onnx over the entity's whole history."""
    import polars as pl

    bundle = Bundle.load(bundle_dir)
    preprocessor = FittedPreprocessor.load(bundle.root / "preprocessor.json")
    session = bundle.session("model", 1)
    frame = pl.DataFrame(events).with_columns(pl.col("time").str.to_datetime(time_zone="UTC"))
    encoded = preprocessor.transform(frame)  # sorted by entity, then time
    cat = encoded.select(preprocessor.cat_columns).to_numpy().astype(np.int64)  # (N, n_cat)
    num = encoded.select(preprocessor.num_columns).to_numpy().astype(np.float32)  # (N, n_num)
    row_of = {e: i for i, e in enumerate(encoded["event_id"].to_list())}
    first_of = {}
    for i, entity in enumerate(encoded["entity"].to_list()):
        first_of.setdefault(entity, i)
    streamed = {r["event_id"]: r["score"] for r in map(json.loads, stream_scores.read_text().splitlines())}
    times, lengths, diffs = [], [], []
    for event in events[-count:]:
        row, first = row_of[event["event_id"]], first_of[event["entity"]]
        start = time.perf_counter()
        preprocessor.encode_event(event)  # the new event's features, as the stream computes them
        history = pad_left(cat[first : row + 1], num[first : row + 1], np.array([row + 1 - first]), np.array([0]))
        (logits,) = session.run(None, {"cat": history.cat, "num": history.num, "mask": history.mask})  # (1, T)
        score = float(sigmoid(logits[0, -1:])[0])
        times.append(time.perf_counter() - start)
        lengths.append(row + 1 - first)
        diffs.append(abs(score - streamed[event["event_id"]]))
    p50, p99 = _percentiles_ms(times)
    return {
        "events": count,
        "events_per_s": count / sum(times),
        "p50_ms": p50,
        "p99_ms": p99,
        "mean_history": float(np.mean(lengths)),
        "max_abs_diff_vs_stream": float(max(diffs)),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(port: int, proc: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"latte-vt serve exited with {proc.returncode} before it was healthy")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"latte-vt serve did not answer /health within {timeout_s:.0f} s")


def measure_serve(bundle_dir: Path, events: list[dict], workdir: Path, clients: int, requests: int) -> dict:
    """A real ``latte-vt serve`` subprocess; ``clients`` threads send ``requests`` single-event requests."""
    state = workdir / "serve.state.sqlite"
    for path in workdir.glob("serve.state.sqlite*"):
        path.unlink()
    port = _free_port()
    command = [sys.executable, "-m", "latte_vt.cli", "serve", "--bundle", str(bundle_dir), "--state", str(state)]
    with (workdir / "serve.log").open("wb") as log:
        proc = subprocess.Popen([*command, "--port", str(port)], stdout=log, stderr=log)
        try:
            _wait_healthy(port, proc)
            chosen = events[:requests]
            shares = [[e for e in chosen if zlib.crc32(e["entity"].encode()) % clients == c] for c in range(clients)]
            latencies: list[list[float]] = [[] for _ in range(clients)]
            failures: list[str] = []

            def client(c: int) -> None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                for event in shares[c]:
                    body = json.dumps(event).encode()
                    start = time.perf_counter()
                    conn.request("POST", "/score", body, {"content-type": "application/json"})
                    reply = conn.getresponse()
                    payload = json.loads(reply.read())
                    latencies[c].append(time.perf_counter() - start)
                    if reply.status != 200 or payload["scored"] != 1:
                        failures.append(f"{event['event_id']}: HTTP {reply.status} {payload}")
                conn.close()

            threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
            began = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - began
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("GET", "/metrics")
            metrics = conn.getresponse().read().decode()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    if failures:
        raise RuntimeError(f"{len(failures)} serve requests failed, e.g. {failures[0]}")
    flat = [x for per in latencies for x in per]
    p50, p99 = _percentiles_ms(flat)
    stages = {
        m[1]: float(m[2]) for m in re.finditer(r'^latte_vt_stage_seconds_total\{stage="(\w+)"\} (\S+)$', metrics, re.M)
    }
    batches = float(re.search(r"^latte_vt_batches_total (\S+)$", metrics, re.M).group(1))
    return {
        "requests": len(flat),
        "clients": clients,
        "requests_per_s": len(flat) / wall,
        "p50_ms": p50,
        "p99_ms": p99,
        "requests_per_batch": len(flat) / max(batches, 1),
        "us_per_request": _breakdown(stages, wall, len(flat)),
    }


def measure_live(bundle_dir: Path, workdir: Path, n_events: int = 20000) -> dict:
    """Stream (batched and one at a time), serve, and the window re-encode baseline on ``n_events`` synthetic
    events; flat keys ``stream_events_per_s``, ``stream_p50_ms``, ``stream_p99_ms``, ``serve_p50_ms``,
    ``serve_p99_ms``, ``serve_requests_per_s`` plus the details."""
    bundle_dir, workdir = Path(bundle_dir), Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]  # other jobs on the machine skew every figure
    preprocessor = FittedPreprocessor.load(bundle_dir / "preprocessor.json")
    events = synthetic_events(preprocessor, n_events)
    source = workdir / "events.jsonl"
    source.write_text("".join(json.dumps(e) + "\n" for e in events))
    single_n = min(SINGLE_EVENTS, n_events)
    (workdir / "events-single.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events[:single_n]))

    batched = median_stream_run(bundle_dir, source, workdir, STREAM_RUNS)
    single = measure_stream(bundle_dir, workdir / "events-single.jsonl", workdir, 1, "stream-single")
    baseline = measure_window_reencode(bundle_dir, events, batched.pop("scores"), single_n)
    single.pop("scores")
    served = measure_serve(bundle_dir, events, workdir, SERVE_CLIENTS, min(SERVE_REQUESTS, n_events))
    step_only = measure_step_only(bundle_dir, min(BATCH, ENTITIES))  # a wave holds each entity at most once
    return {
        "events": n_events,
        "entities": ENTITIES,
        "stream_events_per_s": batched["events_per_s"],
        "stream_p50_ms": batched["p50_ms"],
        "stream_p99_ms": batched["p99_ms"],
        "stream_single_events_per_s": single["events_per_s"],
        "stream_single_p50_ms": single["p50_ms"],
        "stream_single_p99_ms": single["p99_ms"],
        "serve_p50_ms": served["p50_ms"],
        "serve_p99_ms": served["p99_ms"],
        "serve_requests_per_s": served["requests_per_s"],
        "window_reencode_events_per_s": baseline["events_per_s"],
        "window_reencode_p50_ms": baseline["p50_ms"],
        "window_reencode_p99_ms": baseline["p99_ms"],
        "model_only_events_per_s": step_only["events_per_s"],
        "stream_vs_model_only": batched["events_per_s"] / step_only["events_per_s"],
        "details": {
            "stream": batched,
            "stream_single": single,
            "serve": served,
            "window_reencode": baseline,
            "step_only": step_only,
        },
        "cpu_count": os.cpu_count(),
        "load_average_1m_at_start": load,
    }


def untrained_bundle(workdir: Path) -> Path:
    """A transactions bundle of the default task size (untrained, seeded) over the synthetic schema."""
    import torch
    import yaml

    from latte_vt.backbone import LatteConfig
    from latte_vt.data.synthetic.transactions import TransactionSynthConfig, write_transactions
    from latte_vt.data.transactions import load_events, load_schema
    from latte_vt.export.bundle import export_transaction_bundle
    from latte_vt.models.transactions import TransactionScoringModel

    data = write_transactions(workdir / "data", TransactionSynthConfig(accounts=100, days=30, seed=0), "parquet")
    schema_path = data.parent / "schema.yaml"
    events = load_events(data, load_schema(schema_path)).events
    pre = FittedPreprocessor.from_schema(load_schema(schema_path)).fit(events, events["time"].max())
    torch.manual_seed(0)
    model = TransactionScoringModel(pre.vocab_sizes, len(pre.num_columns), LatteConfig(**UNTRAINED_SIZE))
    pre_path = pre.save(workdir / "preprocessor.json")
    schema = yaml.safe_load(schema_path.read_text())
    return export_transaction_bundle(model, pre_path, schema, workdir / "bundle", force=True)


def render_markdown(payload: dict) -> str:
    from latte_vt.bench.report import markdown_table

    r, d = payload["results"], payload["results"]["details"]
    runs = d["stream"].get("runs_events_per_s", [r["stream_events_per_s"]])  # older reports: one run
    spread = f"{min(runs) / 1e3:.1f}k-{max(runs) / 1e3:.1f}k events/s"
    rows = [
        [f"stream, micro-batches of {BATCH} (file; median of {len(runs)} runs, {spread})",
         f"{r['stream_events_per_s']:,.0f}", f"{r['stream_p50_ms']:.2f}", f"{r['stream_p99_ms']:.2f}",
         f"{d['stream']['events']:,}"],
        ["stream, one event at a time", f"{r['stream_single_events_per_s']:,.0f}", f"{r['stream_single_p50_ms']:.2f}",
         f"{r['stream_single_p99_ms']:.2f}", f"{d['stream_single']['events']:,}"],
        [f"serve, {d['serve']['clients']} loopback clients, 1 event/request", f"{r['serve_requests_per_s']:,.0f}",
         f"{r['serve_p50_ms']:.2f}", f"{r['serve_p99_ms']:.2f}", f"{d['serve']['requests']:,}"],
        [f"baseline: model.onnx over the whole history (mean {d['window_reencode']['mean_history']:.0f} events)",
         f"{r['window_reencode_events_per_s']:,.0f}", f"{r['window_reencode_p50_ms']:.2f}",
         f"{r['window_reencode_p99_ms']:.2f}", f"{d['window_reencode']['events']:,}"],
    ]  # fmt: skip
    table = markdown_table(["method", "events/s", "p50 ms/event", "p99 ms/event", "events"], rows)
    env, diff = payload["environment"], d["window_reencode"]["max_abs_diff_vs_stream"]
    return (
        f"# Live scoring benchmark (cpu)\n\n{env['cpu_count']} CPUs, python {env['python']}; bundle "
        f"{payload['bundle']}; {r['events']:,} synthetic events over {r['entities']} entities.\n\n"
        f"{table}\n\n"
        "Stream and serve include JSON parsing, features, step.onnx and durable SQLite state (stream: a checkpoint "
        "with fsync every 1000 lines, written on a writer thread while the stream goes on; serve: group commit, "
        "one checkpoint before the replies of each batch of "
        f"concurrent requests, {d['serve']['requests_per_batch']:.1f} requests per batch here). Latency is from the "
        "start of the event's micro-batch (or request) to its score written. The baseline encodes the new event's "
        "features but reads the history's from memory and keeps no state; its scores equal the stream's to "
        f"{diff:.1e}.\n\n{render_breakdown(r)}"
    )


def render_breakdown(r: dict) -> str:
    """The 'where the time goes' table: microseconds per event (serve: per request) by stage, and the model alone."""
    from latte_vt.bench.report import markdown_table

    d = r["details"]
    columns = [d["stream"]["us_per_event"], d["stream_single"]["us_per_event"], d["serve"]["us_per_request"]]
    rows = [[stage, *(f"{c[stage]:.1f}" for c in columns)] for stage in (*STAGES, "other")]
    rows.append(["total (wall / events)", *(f"{sum(c.values()):.1f}" for c in columns)])
    table = markdown_table(
        ["stage", "stream, micro-batch µs/event", "one at a time µs/event", "serve µs/request"], rows
    )
    step = d["step_only"]
    return (
        f"## Where the time goes\n\n{table}\n\nparse: JSON in; validate: fields, times, late events; state: "
        "loading, gathering and scattering entity states; encode: features (numpy); model: step.onnx; write: JSON "
        "out; commit: fsync of the outputs and the SQLite checkpoint (stream: the loop's share - taking the "
        "checkpoint and waiting for the previous one; the writer thread's fsyncs and transactions overlap the loop, "
        f"{d['stream']['writer_us_per_event']:.1f} µs/event micro-batched, "
        f"{d['stream_single']['writer_us_per_event']:.1f} one at a time); other: the rest of the wall time per event "
        "(the loop; for serve, HTTP, uvicorn and the client). serve's stages are the writer thread's, per request. "
        f"The model alone (step.onnx, {step['rows_per_call']} entities per call): "
        f"{r['model_only_events_per_s']:,.0f} events/s; the micro-batched stream runs at "
        f"{r['stream_vs_model_only']:.2f}x that (in the stream, the model stage alone: "
        f"{d['stream']['model_in_run_events_per_s']:,.0f} events/s).\n"
    )


def run_live_bench(json_path: Path, md_path: Path, bundle: Path | None, n_events: int, workdir: Path) -> dict:
    """Build (or use) a bundle, measure, write JSON + Markdown."""
    from latte_vt.bench.report import RunInfo, environment, write_outputs

    run = RunInfo.start()
    workdir.mkdir(parents=True, exist_ok=True)
    size = ", ".join(f"{k} {v}" for k, v in UNTRAINED_SIZE.items())
    label = str(bundle) if bundle else f"untrained, default task size ({size})"
    bundle = Path(bundle) if bundle else untrained_bundle(workdir)
    results = measure_live(bundle, workdir / "live", n_events)
    payload = {
        "benchmark": "live",
        "environment": environment("cpu"),
        "bundle": label,
        "results": results,
    }
    markdown = render_markdown(payload)
    write_outputs(payload, markdown, json_path, md_path, run)
    print(markdown)
    return payload

"""``latte-vt bench pipelines``: batch jobs against the one-shot commands, and the Ray engine against the
local one, on synthetic data (≥ 5M events, ≥ 1k clips).

Every contestant is the command a user would type, run in a fresh process: ``latte-vt score --bundle``
and ``latte-vt classify --bundle`` (the one-shot paths: one process, one output file) against
``latte-vt run`` with the local engine (a pool of workers, shards) and with ``engine=ray`` (a local Ray
cluster on the same CPUs).  Wall time includes process start and model loading; peak memory is that of
the largest process (``ru_maxrss`` of the command's process tree).  The models are untrained exports of
the training configs' sizes (speed does not depend on the weights).  The scores of the job are checked
against the one-shot scores, so both did the same work.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from latte_vt.bench.report import RunInfo, environment, fmt_bytes, markdown_table, write_outputs
from latte_vt.predict.histories import MAX_BATCH_EVENTS


@dataclass(frozen=True)
class PipelineBenchConfig:
    """Sizes of the pipeline benchmark.

    Args:
        events: at least this many synthetic events (the generator is sized up until it reaches them).
        clips: at least this many synthetic clips.
        shards: entity hash buckets of the scoring job.
        workers: worker processes of the local engine, CPUs of the Ray cluster (0: all CPUs).
        ray: also run both jobs on the Ray engine (a local cluster).
        workdir: keep the generated data, bundles and outputs here (default: a temporary folder).
        long_account_events: events of the one account scored alone by ``latte-vt score --bundle`` (peak memory).
    """

    events: int = 5_000_000
    clips: int = 1000
    shards: int = 16
    workers: int = 0
    ray: bool = True
    workdir: str | None = None
    long_account_events: int = 1_000_000


QUICK = PipelineBenchConfig(events=200_000, clips=60, shards=4, long_account_events=50_000)
GOAL_EVENTS_PER_S = 100_000  # issue 13: end to end, Parquet in -> Parquet out, validation included
GOAL_VS_MODEL = 0.5  # end to end within 2x of the model alone
GOAL_PEAK_RSS = 2 << 30  # the job's largest process
GOAL_LONG_ACCOUNT_EVENTS, GOAL_LONG_ACCOUNT_RSS = 1_000_000, 300 << 20  # one account of 1M events
EVENTS_PER_ACCOUNT_DAY = 2.0  # the generator's default habits give about this many
TX_ENCODER = {"dim": 64, "depth": 2, "heads": 4, "latents": 16, "chunk_size": 64}  # configs/transactions/synthetic
VIDEO_TASK = {"tokenizer": "patch", "num_frames": 8, "image_size": 64, "tubelet": 2, "patch": 16}  # untrained
VIDEO_ENCODER = {"dim": 64, "depth": 2, "heads": 2, "latents": 16, "pooling": "latent", "pool_queries": 4}


@dataclass
class Run:
    """One command: wall seconds, the peak memory of its largest process, the load average when it started."""

    seconds: float
    peak_rss_bytes: int
    load_average_1m: float


LAUNCHER = """
import json, resource, subprocess, sys
code = subprocess.call(sys.argv[2:])
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
open(sys.argv[1], "w").write(json.dumps({"returncode": code, "peak_rss_bytes": peak}))
"""
"""Runs the command and reports the largest ``ru_maxrss`` among its process tree.  A process's peak
memory includes that of the process it was forked from, so the command is started from this small
launcher, not from the benchmark process (which holds the data and exported models)."""


def run_command(args: list[str], log: Path) -> Run:
    """Run ``python -m latte_vt.cli ARGS`` in a fresh process (output to ``log``); time and peak memory."""
    log.parent.mkdir(parents=True, exist_ok=True)
    report = log.with_suffix(".rusage.json")
    command = [sys.executable, "-c", LAUNCHER, str(report), sys.executable, "-m", "latte_vt.cli", *args]
    load = os.getloadavg()[0]
    began = time.perf_counter()
    with log.open("w") as out:
        subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=True)
    seconds = time.perf_counter() - began
    result = json.loads(report.read_text())
    if result["returncode"] != 0:
        tail = log.read_text()[-2000:]
        raise RuntimeError(f"`latte-vt {' '.join(args)}` exited {result['returncode']}; log {log}:\n{tail}")
    return Run(seconds, result["peak_rss_bytes"], load)


def _untrained_checkpoint(task: Any, path: Path, datamodule_hparams: dict | None = None) -> Path:
    import lightning
    import torch

    checkpoint = {"state_dict": task.state_dict(), "hyper_parameters": dict(task.hparams)}
    checkpoint["pytorch-lightning_version"] = lightning.__version__
    if datamodule_hparams is not None:
        checkpoint["datamodule_hyper_parameters"] = datamodule_hparams
    torch.save(checkpoint, path)
    return path


def transaction_data(root: Path, events: int) -> tuple[Path, int]:
    """A synthetic log of at least ``events`` events (reused when already there)."""
    import polars as pl

    from latte_vt.data.synthetic.transactions import TransactionSynthConfig, write_transactions

    path = root / "events.parquet"
    if path.is_file() and pl.scan_parquet(path).select(pl.len()).collect().item() >= events:
        return path, pl.scan_parquet(path).select(pl.len()).collect().item()
    days, scale = 60, 1.0
    while True:
        accounts = max(10, math.ceil(scale * events / (days * EVENTS_PER_ACCOUNT_DAY)))
        path = write_transactions(root, TransactionSynthConfig(accounts=accounts, days=days, seed=0), "parquet")
        count = pl.scan_parquet(path).select(pl.len()).collect().item()
        if count >= events:
            return path, count
        scale *= 1.1 * events / count


def transaction_bundle(root: Path, events: Path) -> Path:
    """An untrained scorer of the training config's size, exported (vocabularies fitted on ``events``' first
    100k rows: enough for speed, which does not depend on the weights)."""
    import polars as pl
    import torch

    from latte_vt.backbone import LatteConfig
    from latte_vt.export.checkpoint import export_checkpoint
    from latte_vt.tasks.transactions import TransactionScoringTask
    from latte_vt.tasks.transactions_data import TransactionDataModule

    bundle = root / "tx-bundle"
    if (bundle / "manifest.json").is_file():
        return bundle
    sample = root / "fit-sample.parquet"
    pl.scan_parquet(events).head(100_000).collect().write_parquet(sample)
    torch.manual_seed(0)
    data = TransactionDataModule(paths=str(sample))
    task = TransactionScoringTask(encoder=LatteConfig(**TX_ENCODER), data_info=data.data_info)
    return export_checkpoint(_untrained_checkpoint(task, root / "tx.ckpt"), bundle, force=True)


def video_data(root: Path, clips: int) -> tuple[Path, int]:
    """At least ``clips`` small synthetic H.264 clips (8 frames, up to 64 px; reused when already there)."""
    from latte_vt.data.synthetic.video import VideoSynthConfig, write_video_synthetic

    classes = 6
    cfg = VideoSynthConfig(classes=classes, n=max(3, math.ceil(clips / classes)), frames=8, size=64, seed=0)
    meta = root / "meta.json"
    if not meta.is_file() or json.loads(meta.read_text())["config"] != asdict(cfg) | {"splits": list(cfg.splits)}:
        write_video_synthetic(root, cfg)
    return root / "videos", cfg.classes * cfg.n


def video_bundle(root: Path) -> Path:
    """An untrained patch-tokenizer classifier of the training config's size, exported."""
    import torch

    from latte_vt.backbone import LatteConfig
    from latte_vt.export.checkpoint import export_checkpoint
    from latte_vt.tasks.video import VideoClassificationTask

    bundle = root / "video-bundle"
    if (bundle / "manifest.json").is_file():
        return bundle
    torch.manual_seed(0)
    classes = [f"class_{i}" for i in range(6)]
    task = VideoClassificationTask(
        num_classes=len(classes), classes=classes, encoder=LatteConfig(**VIDEO_ENCODER), **VIDEO_TASK
    )
    data = {"num_frames": 8, "size": 64, "num_clips": 2, "eval_stride": 2}
    checkpoint = _untrained_checkpoint(task, root / "video.ckpt", data)
    return export_checkpoint(checkpoint, bundle, force=True)


def _job_args(spec: Path, sets: dict[str, Any]) -> list[str]:
    return ["run", str(spec), "--quiet", "--set", *(f"{k}={v}" for k, v in sets.items())]


def _write_spec(path: Path, spec: dict[str, Any]) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(spec))
    return path


def _figures(run: Run, items: int) -> dict[str, Any]:
    return {
        "seconds": run.seconds,
        "items_per_s": items / run.seconds,
        "peak_rss_bytes": run.peak_rss_bytes,
        "load_average_1m_at_start": run.load_average_1m,
    }


def _job_figures(run: Run, items: int, folder: Path, workers: int) -> dict[str, Any]:
    """A job's figures plus its shards' own compute time (from their done-markers) and the engine's overhead:
    wall time minus the shards' time spread over the workers (start-up, scheduling, idle workers at the end).
    On a shared machine the shard time shows how busy the CPUs were during the run."""
    shard_seconds = [json.loads(m.read_text())["seconds"] for m in (folder / "_done").glob("*.json")]
    return _figures(run, items) | {
        "shard_seconds_mean": sum(shard_seconds) / len(shard_seconds),
        "engine_overhead_s": run.seconds - sum(shard_seconds) / workers,
    }


def stage_seconds(folder: Path) -> dict[str, float]:
    """Seconds per stage summed over a score-transactions job's shards (from their done-markers)."""
    total: dict[str, float] = {}
    for marker in (folder / "_done").glob("*.json"):
        for stage, seconds in json.loads(marker.read_text()).get("stages", {}).items():
            total[stage] = total.get(stage, 0.0) + seconds
    return total


def model_only(bundle: Path, events: Path, shards: int, threads: int, max_batch_events: int) -> dict[str, Any]:
    """The bundle's model alone (onnxruntime, ``threads`` intra-op threads) on the histories of the job's shard 0,
    validated, encoded and padded beforehand, batched as the job batches them: events/s of the model calls."""
    from latte_vt.data.transactions import scan_events
    from latte_vt.data.transactions.validate import validate_events
    from latte_vt.pipelines.score_transactions import bucket
    from latte_vt.predict import TransactionScorer
    from latte_vt.predict.histories import length_batches, pad_left
    from latte_vt.predict.transactions import encoded_arrays

    scorer = TransactionScorer(bundle, max_batch_events, threads=threads, expect="bundle")
    shard = scan_events(events, scorer.schema, with_label=False)[0].filter(bucket(shards) == 0)
    canonical = validate_events(shard, scorer.schema, with_label=False).events
    cat, num, lengths = encoded_arrays(scorer.encode(canonical), scorer.preprocessor)
    batches = [pad_left(cat, num, lengths, e) for e in length_batches(lengths, max_batch_events)]
    began = time.perf_counter()
    for batch in batches:
        scorer.model.logits(batch.cat, batch.num, batch.mask)
    seconds = time.perf_counter() - began
    return {"events": len(cat), "seconds": seconds, "events_per_s": len(cat) / seconds, "threads": threads}


def long_account_data(root: Path, events: Path, n: int) -> Path:
    """One account with ``n`` events: the synthetic log's events in time order (repeated later as needed) under
    one account id, with fresh event ids (reused when already there)."""
    import polars as pl

    path = root / f"one-account-{n}.parquet"
    if path.is_file():
        return path
    log = pl.read_parquet(events).sort("timestamp")
    span = log["timestamp"].max() - log["timestamp"].min() + dt.timedelta(days=1)
    copies = [log.with_columns(pl.col("timestamp") + span * i) for i in range(math.ceil(n / log.height))]
    frame = pl.concat(copies).head(n)
    ids = pl.concat_str(pl.lit("L"), pl.int_range(pl.len()).cast(pl.String))
    frame.with_columns(pl.lit("ONE").alias("account_id"), ids.alias("event_id")).write_parquet(path)
    return path


def job_contestants(
    work: Path, name: str, job: dict[str, Any], sets: dict[str, Any], cfg: PipelineBenchConfig, workers: int, items: int
) -> dict[str, Any]:
    """``latte-vt run`` of one job on the local engine (results in ``work/<name>-job``), then, with ``cfg.ray``,
    on a local Ray cluster of as many CPUs (``work/<name>-job-ray``)."""
    spec = _write_spec(work / f"{name}.yaml", job | {"output": str(work / f"{name}-job")})
    sets = {"workers": workers, "overwrite": "true"} | sets
    shutil.rmtree(work / f"{name}-job", ignore_errors=True)
    local = run_command(_job_args(spec, sets), work / f"log-{name}-local")
    figures = {"pipeline_local": _job_figures(local, items, work / f"{name}-job", workers)}
    if cfg.ray:
        shutil.rmtree(work / f"{name}-job-ray", ignore_errors=True)
        ray_sets = sets | {
            "engine": "ray",
            "output": str(work / f"{name}-job-ray"),
            "ray.num_cpus": workers,
            "workers": 0,
        }
        on_ray = run_command(_job_args(spec, ray_sets), work / f"log-{name}-ray")
        ray_figures = _job_figures(on_ray, items, work / f"{name}-job-ray", workers)
        ray_figures["peak_rss_bytes"] = None  # Ray's workers are not the command's children
        figures |= {"pipeline_ray": ray_figures, "ray_vs_local": local.seconds / on_ray.seconds}
    return figures


def bench_transactions(work: Path, cfg: PipelineBenchConfig, workers: int) -> dict[str, Any]:
    """One-shot ``latte-vt score --bundle`` vs ``latte-vt run`` (local, then Ray) on the same log."""
    import polars as pl

    events, count = transaction_data(work / "tx-data", cfg.events)
    bundle = transaction_bundle(work, events)
    one_shot_out = work / "tx-one-shot.parquet"
    one_shot = run_command(
        ["score", str(events), "--bundle", str(bundle), "--output", str(one_shot_out)], work / "log-tx-one-shot"
    )
    job = {"job": "score-transactions", "input": str(events), "model": {"bundle": str(bundle)}}
    figures = job_contestants(work, "tx", job, {"options.shards": cfg.shards}, cfg, workers, count)
    figures["pipeline_local"]["stage_seconds"] = stage_seconds(work / "tx-job")
    alone = model_only(bundle, events, cfg.shards, workers, MAX_BATCH_EVENTS)
    long_path = long_account_data(work / "tx-data", events, cfg.long_account_events)
    long_run = run_command(
        ["score", str(long_path), "--bundle", str(bundle), "--output", str(work / "tx-one-account.parquet")],
        work / "log-tx-one-account",
    )
    job_scores = pl.scan_parquet(work / "tx-job" / "scores" / "*.parquet").select("event_id", "score")
    both = pl.scan_parquet(one_shot_out).select("event_id", "score").join(job_scores, on="event_id", suffix="_job")
    diff, matched = both.select((pl.col("score") - pl.col("score_job")).abs().max(), pl.len()).collect().row(0)
    scored = pl.scan_parquet(one_shot_out).select(pl.len()).collect().item()
    return {
        "events": count,
        "events_scored": scored,
        "shards": cfg.shards,
        "workers": workers,
        "one_shot": _figures(one_shot, count),
        **figures,
        "pipeline_vs_one_shot": one_shot.seconds / figures["pipeline_local"]["seconds"],
        "same_events_scored": matched == scored,
        "max_abs_score_diff_vs_one_shot": diff,
        "model_only": alone,
        "one_account": {"events": cfg.long_account_events, **_figures(long_run, cfg.long_account_events)},
    }


def bench_videos(work: Path, cfg: PipelineBenchConfig, workers: int) -> dict[str, Any]:
    """One-shot ``latte-vt classify --bundle`` vs ``latte-vt run`` (local, then Ray) on the same clips."""
    import polars as pl

    videos, count = video_data(work / "video-data", cfg.clips)
    bundle = video_bundle(work)
    one_shot_out = work / "video-one-shot.json"
    one_shot = run_command(
        ["classify", str(videos), "--bundle", str(bundle), "--top-k", "5", "--output", str(one_shot_out)],
        work / "log-video-one-shot",
    )
    job = {"job": "classify-videos", "input": str(videos), "model": {"bundle": str(bundle)}}
    figures = job_contestants(work, "video", job, {}, cfg, workers, count)
    rows = pl.read_parquet(work / "video-job" / "predictions" / "*.parquet")
    expected = {p["path"]: p["labels"] for p in json.loads(one_shot_out.read_text())["predictions"]}
    same = all(expected.get(p) == labels for p, labels in zip(rows["path"], rows["labels"].to_list(), strict=True))
    return {
        "clips": count,
        "workers": workers,
        "one_shot": _figures(one_shot, count),
        **figures,
        "pipeline_vs_one_shot": one_shot.seconds / figures["pipeline_local"]["seconds"],
        "same_top_labels": same,
    }


def live_figures(bundle: Path, work: Path) -> dict[str, Any] | str:
    """Streaming / serving figures from ``latte_vt.bench.live`` when that module is there."""
    if importlib.util.find_spec("latte_vt.bench.live") is None:
        return "not measured"
    from latte_vt.bench.live import measure_live

    return measure_live(bundle, work / "live")


def run_pipeline_bench(cfg: PipelineBenchConfig, json_path: Path, md_path: Path) -> dict[str, Any]:
    workers = cfg.workers or os.cpu_count() or 1
    run = RunInfo.start()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(cfg.workdir) if cfg.workdir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        tx = bench_transactions(work, cfg, workers)
        videos = bench_videos(work, cfg, workers)
        live = live_figures(work / "tx-bundle", work)
    one_account = tx["one_account"]
    payload = {
        "benchmark": "pipelines",
        "environment": environment("cpu"),
        "config": asdict(cfg),
        "batch_events_per_s": tx["pipeline_local"]["items_per_s"],
        "model_only_events_per_s": tx["model_only"]["events_per_s"],
        "batch_vs_model_only": tx["pipeline_local"]["items_per_s"] / tx["model_only"]["events_per_s"],
        "one_account_events": one_account["events"],
        "one_account_peak_rss_mib": one_account["peak_rss_bytes"] / (1 << 20),
        "classify_clips_per_s": videos["pipeline_local"]["items_per_s"],
        "transactions": tx,
        "videos": videos,
        "live": live,
    }
    payload["goals"] = goals(payload)
    markdown = render_markdown(payload)
    write_outputs(payload, markdown, json_path, md_path, run)
    return payload


def goals(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 13's goals for batch scoring, each with its value and whether it is met (the one-account memory goal
    is judged only at its 1M-event size)."""
    tx = payload["transactions"]
    events = tx["events"]
    peak = tx["pipeline_local"]["peak_rss_bytes"]
    found = [
        {
            "goal": f"end to end >= {GOAL_EVENTS_PER_S:,} events/s over >= 5M events",
            "value": payload["batch_events_per_s"],
            "met": payload["batch_events_per_s"] >= GOAL_EVENTS_PER_S and events >= 5_000_000,
        },
        {
            "goal": f"end to end >= {GOAL_VS_MODEL}x the model alone (within 2x of the model)",
            "value": payload["batch_vs_model_only"],
            "met": payload["batch_vs_model_only"] >= GOAL_VS_MODEL,
        },
        {"goal": "job peak memory <= 2 GiB (MiB)", "value": peak / (1 << 20), "met": peak <= GOAL_PEAK_RSS},
    ]
    if payload["one_account_events"] >= GOAL_LONG_ACCOUNT_EVENTS:
        mib = payload["one_account_peak_rss_mib"]
        found.append(
            {
                "goal": f"one account of {GOAL_LONG_ACCOUNT_EVENTS:,} events: peak memory <= 300 MiB (MiB)",
                "value": mib,
                "met": mib <= GOAL_LONG_ACCOUNT_RSS / (1 << 20),
            }
        )
    return found


def _stage_table(tx: dict[str, Any]) -> str:
    stages = tx["pipeline_local"]["stage_seconds"]
    total = sum(stages.values()) or 1e-9
    rows = [[name, f"{seconds:.1f} s", f"{seconds / total:.0%}"] for name, seconds in stages.items()]
    return markdown_table(["stage", "seconds (summed over shards)", "share"], rows)


def _rows(name: str, unit: str, r: dict[str, Any]) -> list[list[str]]:
    contestants = [
        (f"one-shot `latte-vt {'score' if unit == 'event' else 'classify'} --bundle`", r["one_shot"], None),
        (f"`latte-vt run` local, {r['workers']} workers", r["pipeline_local"], r["pipeline_vs_one_shot"]),
    ]
    if "pipeline_ray" in r:
        contestants.append((f"`latte-vt run` ray, {r['workers']} CPUs", r["pipeline_ray"], None))
    rows = []
    for label, f, ratio in contestants:
        rows.append(
            [
                name,
                label,
                f"{f['seconds']:.1f} s",
                f"{f['items_per_s']:,.0f} {unit}s/s",
                f"{f['shard_seconds_mean']:.1f} s" if "shard_seconds_mean" in f else "–",
                f"{f['engine_overhead_s']:.1f} s" if "engine_overhead_s" in f else "–",
                fmt_bytes(f["peak_rss_bytes"]),
                f"{f['load_average_1m_at_start']:.1f}",
                "–" if ratio is None else f"{ratio:.2f}× one-shot",
            ]
        )
    if "pipeline_ray" in r:
        rows[-1][-1] = f"{r['ray_vs_local']:.2f}× local"
    return rows


def render_markdown(payload: dict[str, Any]) -> str:
    tx, videos, env = payload["transactions"], payload["videos"], payload["environment"]
    table = markdown_table(
        [
            "job",
            "contestant",
            "wall time",
            "throughput",
            "mean shard time",
            "engine overhead",
            "peak memory (largest process)",
            "load avg at start",
            "speed vs baseline",
        ],
        _rows(f"score {tx['events']:,} events, {tx['shards']} shards", "event", tx)
        + _rows(f"classify {videos['clips']:,} clips", "clip", videos),
    )
    live = payload["live"]
    live_text = (
        "Streaming / serving: not measured here (latte_vt.bench.live is not installed)."
        if isinstance(live, str)
        else "Streaming / serving (latte_vt.bench.live):\n\n"
        + markdown_table(
            ["figure", "value"],
            [
                [k, f"{v:,.2f}" if isinstance(v, float) else v]
                for k, v in live.items()
                if not isinstance(v, dict | list)
            ],
        )
    )
    alone, one = tx["model_only"], tx["one_account"]
    goal_lines = "\n".join(f"- {'✅' if g['met'] else '❌'} {g['goal']}: {g['value']:,.2f}" for g in payload["goals"])
    return (
        f"# Batch pipelines (cpu)\n\n"
        f"torch {env['torch']}, {env['cpu_count']} CPUs. "
        "Each contestant is the command a user types, run in a fresh process (wall time includes start-up "
        "and model loading). Untrained exports of the training configs' model sizes.\n\n"
        f"{table}\n\n"
        f"- Batch scoring: **{payload['batch_events_per_s']:,.0f} events/s**; the job's scores equal the one-shot "
        f"scores (max |Δ| {tx['max_abs_score_diff_vs_one_shot']:.1e}, same events: {tx['same_events_scored']}).\n"
        f"- The model alone (the same bundle's model.onnx, {alone['threads']} threads, on shard 0's "
        f"{alone['events']:,} events validated, encoded and padded beforehand, batched as the job does): "
        f"**{payload['model_only_events_per_s']:,.0f} events/s**; end to end / model alone = "
        f"{payload['batch_vs_model_only']:.2f}.\n"
        f"- One account of {one['events']:,} events through `latte-vt score --bundle` (scored in pieces with the "
        f"carried state): {one['seconds']:.1f} s, peak memory **{payload['one_account_peak_rss_mib']:,.0f} MiB**.\n"
        f"- Clip classification: **{payload['classify_clips_per_s']:,.1f} clips/s**; same top labels as the "
        f"one-shot command: {videos['same_top_labels']}.\n"
        "- Speed vs baseline: one-shot wall time / job wall time (local rows), local / Ray wall time (Ray rows).\n"
        "- Mean shard time: a shard's own compute time (the same function on both engines, so a difference is "
        "the machine's load); engine overhead: wall time minus the shards' time spread over the workers "
        "(start-up, scheduling, workers idle at the end).\n"
        "- Peak memory is not measured for Ray (–): its workers run under the raylet, outside the command's "
        "process tree.\n\n"
        f"Where the job's time goes (`latte-vt run` local, seconds per stage summed over its shards; read_validate: "
        "scan + validate, encode: features and arrays, batch: padding and scattering, model: the model's calls, "
        f"write: the shard's files):\n\n{_stage_table(tx)}\n\n"
        f"## Goals\n\n{goal_lines}\n\n"
        f"{live_text}\n"
    )

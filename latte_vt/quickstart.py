"""``latte-vt quickstart``: the whole path on built-in synthetic data, small enough for a laptop CPU.

generate data -> train (Lightning) -> export ONNX bundles (parity-checked) -> run them through the
torch-free runtime: classify clips, score every event in batch, and stream events one at a time ->
run both batch jobs (``latte-vt run``: sharded, resumable, Parquet parts) over the synthetic data.
Everything lands under ``--out`` (default ``runs/quickstart``).  A few minutes on 2 CPU cores; the
models train only briefly, so their accuracy here says nothing (see the benchmarks for that).
"""

from __future__ import annotations

import time
from pathlib import Path


def _trainer(root: Path, epochs: int):
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint

    checkpoint = ModelCheckpoint(dirpath=root / "checkpoints", filename="last", save_last=False)
    trainer = L.Trainer(
        max_epochs=epochs,
        default_root_dir=root,
        callbacks=[checkpoint],
        accelerator="cpu",
        logger=L.pytorch.loggers.CSVLogger(root),
        enable_model_summary=False,
        log_every_n_steps=5,
    )
    return trainer, root / "checkpoints" / "last.ckpt"


def transactions(out: Path, epochs: int) -> dict:
    """Synthetic events -> causal scorer -> bundle -> batch + streaming scores through onnxruntime."""
    import polars as pl

    from latte_vt.backbone import LatteConfig
    from latte_vt.data.transactions.validate import load_events
    from latte_vt.export.checkpoint import export_checkpoint
    from latte_vt.runtime import StreamingScorer, TransactionScorer
    from latte_vt.tasks.transactions import TransactionScoringTask
    from latte_vt.tasks.transactions_data import TransactionDataModule

    events = out / "transactions" / "data" / "events.parquet"
    data = TransactionDataModule(
        paths=str(events), generate_if_missing=True, accounts=300, days=30, window=64, stride=32, batch_size=32
    )
    task = TransactionScoringTask(
        encoder=LatteConfig(dim=32, depth=2, heads=2, latents=8, local_mix=4, recency=True), data_info=data.data_info
    )
    trainer, ckpt = _trainer(out / "transactions", epochs)
    trainer.fit(task, data)
    bundle = export_checkpoint(ckpt, out / "transactions" / "bundle", force=True)
    scorer = TransactionScorer(bundle)
    scores = scorer.score(events, rejects_path=out / "transactions" / "rejects.parquet")
    scores.write_parquet(out / "transactions" / "scores.parquet")
    first = scores["entity"][0]
    live = StreamingScorer(bundle)
    canonical = load_events(events, scorer.schema).events  # validated events with canonical field names
    history = canonical.filter(pl.col("entity") == first).head(20)
    stream = [live.score(row) for row in history.iter_rows(named=True)]
    batch = scores.filter(pl.col("entity") == first).head(len(stream))["score"].to_list()
    return {
        "events_scored": scores.height,
        "bundle": str(bundle),
        "stream_vs_batch_max_diff": max(abs(a - b) for a, b in zip(stream, batch, strict=True)),
    }


def video(out: Path, epochs: int) -> dict:
    """Synthetic clips -> patch-tokenizer classifier -> bundle -> classify the test clips through onnxruntime."""
    from latte_vt.backbone import LatteConfig
    from latte_vt.data.video.sources import list_samples, split_source
    from latte_vt.export.checkpoint import export_checkpoint
    from latte_vt.runtime import VideoClassifier
    from latte_vt.tasks.video import VideoClassificationTask
    from latte_vt.tasks.video_data import VideoDataModule

    root = out / "video" / "data"
    data = VideoDataModule(
        root=str(root),
        num_frames=8,
        size=64,
        num_clips=2,
        strides=(1, 2),
        batch_size=16,
        generate_if_missing=True,
        synthetic_n=20,
        synthetic_size=96,
    )
    data.prepare_data()
    task = VideoClassificationTask(
        encoder=LatteConfig(dim=64, depth=2, heads=2, latents=16, pooling="latent"),
        num_frames=8,
        image_size=64,
        data_info=data.data_info,
    )
    trainer, ckpt = _trainer(out / "video", epochs)
    trainer.fit(task, data)
    bundle = export_checkpoint(ckpt, out / "video" / "bundle", force=True)
    classifier = VideoClassifier(bundle)
    samples = list_samples(split_source(root, "test"))[:6]
    hits = [classifier.predict(s.path, top_k=1).labels[0] == s.label for s in samples]
    return {"clips_classified": len(hits), "top1_on_these": sum(hits) / max(len(hits), 1), "bundle": str(bundle)}


def batch_jobs(out: Path) -> dict:
    """Both batch jobs (``latte-vt run``) over the synthetic data with the exported bundles: local engine,
    two workers, a few shards; their summaries."""
    from latte_vt.pipelines.runner import run_job
    from latte_vt.pipelines.spec import spec_from_dict

    common = {"workers": 2, "overwrite": True}  # a new quickstart run exports new bundles: replace old results
    jobs = {
        "score-transactions": {
            "input": str(out / "transactions" / "data" / "events.parquet"),
            "model": {"bundle": str(out / "transactions" / "bundle")},
            "options": {"shards": 4},
        },
        "classify-videos": {
            "input": str(out / "video" / "data" / "videos"),
            "model": {"bundle": str(out / "video" / "bundle")},
            "options": {"shard_size": 32, "top_k": 3},
        },
    }
    summaries = {}
    for name, spec in jobs.items():
        raw = {"job": name, "output": str(out / "jobs" / name), **common, **spec}
        summaries[name] = run_job(spec_from_dict(raw)).to_dict()
    return summaries


def run_quickstart(out: Path, epochs: int = 1) -> dict:
    start = time.perf_counter()
    result = {"transactions": transactions(out, epochs), "video": video(out, epochs), "batch_jobs": batch_jobs(out)}
    result["seconds"] = time.perf_counter() - start
    return result

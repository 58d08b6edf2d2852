"""``latte-vt quickstart``: the whole path on built-in synthetic data, a few minutes on a 2-core laptop CPU.

generate data -> train both models (Lightning) long enough to be right on their own held-out data ->
export ONNX bundles (parity-checked) -> judge them through the prediction layer (``latte_vt.predict``,
onnxruntime): video top-1 on the test clips, transaction average precision on the test period beside a
gradient-boosted-trees baseline on hand-made rolling features -> stream one account's events one at a
time -> run both batch jobs (``latte-vt run``) -> ``summary.json`` and a self-contained ``report.html``.

Training budgets are fixed numbers of epochs or steps (not seconds), so the figures do not depend on how busy
the machine is; only the time does.  Everything lands under ``--out`` (default ``runs/quickstart``).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from latte_vt.tasks.video_data import VideoDataModule

if TYPE_CHECKING:
    from latte_vt.quickstart_report import TransactionFigures, VideoFigures


@dataclass(frozen=True)
class QuickstartConfig:
    """Data sizes and fixed training budgets of the quickstart (defaults: the full run).

    Video: the six ordering classes of the synthetic set (which of three shapes appears first, second,
    third: frame order is the only cue), 16 frames at 32 px, PatchTokenizer with temporal centering and
    a 16-channel convolutional stem, a 2-layer Latte encoder with latent-query pooling, trained as the
    video benchmark trains it (``DecodedVideoData``).  Transactions: causal Latte (local mix 8, recency
    rates) on synthetic accounts, trained on the first 70 % of the time range; the validation and test
    periods follow it (15 % each).

    Args:
        video_clips_per_class: synthetic clips per class (70 % train, 15 % val, 15 % test).
        video_source_size: largest side of the synthetic clips in px.
        video_steps: optimizer steps of the video model.
        video_batch_size: clips per training step.
        accounts: synthetic transaction accounts.
        days: days of transaction history.
        transactions_epochs: training epochs of the transaction scorer.
        transactions_dim: width of the transaction encoder.
        transactions_batch_size: windows of ``window`` events per training step.
        window: events per training window.
        stride: new events per training window.
        threads: torch / onnxruntime intra-op threads (these small models run fastest on one; more
            threads than free cores slow them down many times over).
        seed: seed of the data generators and of training.
    """

    video_clips_per_class: int = 400
    video_source_size: int = 96
    video_steps: int = 900
    video_batch_size: int = 16
    accounts: int = 2000
    days: int = 60
    transactions_epochs: int = 3
    transactions_dim: int = 64
    transactions_batch_size: int = 16
    window: int = 128
    stride: int = 64
    threads: int = 1
    seed: int = 0

    @classmethod
    def quick(cls) -> QuickstartConfig:
        """A few seconds of everything: checks the path end to end; the figures mean nothing."""
        return cls(
            video_clips_per_class=10,
            video_steps=4,
            accounts=300,
            days=30,
            transactions_epochs=1,
            transactions_dim=32,
            window=64,
            stride=32,
        )


class DecodedVideoData(VideoDataModule):
    """A ``VideoDataModule`` whose training clips are decoded once into memory and augmented as the video
    benchmark does (``latte_vt.bench.video``): frames resized to ``short_side`` and cropped to ``size``
    at a random offset (the same for all frames of a clip).

    Decoding a clip costs more than a training step of this small model, so decoding once nearly halves
    the training time. With the quickstart's model and learning rate (1e-3) it reached 94-96 % test top-1
    on the synthetic ordering classes in 900 steps for each of five seeds (at 3e-3 one seed of three
    stayed at chance, with these clips and with the data module's random resized crops). Classes, splits
    and the clip spec are the data module's and are saved with the checkpoint, so the exported bundle
    preprocesses exactly as evaluation does. The random crops follow the seed Lightning was given.
    """

    def train_dataloader(self) -> DataLoader:
        from latte_vt.bench.video import ClipItems, VideoBenchConfig, load_split, train_clip
        from latte_vt.data.video.datasets import collate_valid

        hp, spec = self.hparams, self.clip_spec
        bench = VideoBenchConfig(
            data_dir=str(self.root),
            video_frames=hp.synthetic_frames,
            num_frames=spec.num_frames,
            size=spec.size,
            margin=spec.short_side - spec.size,
        )
        split, _ = load_split(bench, "train")
        rng = np.random.default_rng(torch.initial_seed())
        items = ClipItems(split, lambda i: train_clip(split.frames[i], bench, rng))
        return DataLoader(items, hp.batch_size, shuffle=True, drop_last=True, collate_fn=collate_valid)


@dataclass
class StageClock:
    """Wall-clock seconds of each named stage, in the order they ran."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = time.perf_counter() - began


@dataclass
class QuickstartResult:
    """What ``run_quickstart`` produced: the summary (also in ``summary.json``) and where it wrote it."""

    summary: dict[str, Any]
    summary_path: Path
    report_path: Path


def _trainer(root: Path, **options: Any) -> tuple[L.Trainer, Path]:
    """A CPU Lightning trainer for a fixed ``max_epochs`` or ``max_steps`` budget (plus Trainer options)
    that keeps the final weights in ``root/checkpoints/last.ckpt`` (replaced on every run) and logs to CSV
    under ``root``.

    No validation runs during training: the budget is fixed, and the models are judged afterwards on
    their test data through the exported bundles."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    shutil.rmtree(root / "checkpoints", ignore_errors=True)  # never judge a previous run's checkpoint
    checkpoint = ModelCheckpoint(dirpath=root / "checkpoints", filename="last", enable_version_counter=False)
    trainer = L.Trainer(
        default_root_dir=root,
        callbacks=[checkpoint],
        accelerator="cpu",
        devices=1,
        logger=L.pytorch.loggers.CSVLogger(root),
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        log_every_n_steps=10,
        **options,
    )
    return trainer, root / "checkpoints" / "last.ckpt"


def _transaction_log(data_dir: Path, accounts: int, days: int, seed: int) -> Path:
    """The synthetic log for these settings: reused when ``data_dir`` already holds it, else (re)generated."""
    from latte_vt.data.synthetic.transactions import TransactionSynthConfig, write_transactions

    synth = TransactionSynthConfig(accounts=accounts, days=days, seed=seed)
    stamp, events = data_dir / "quickstart.json", data_dir / "events.parquet"
    wanted = json.dumps(asdict(synth), sort_keys=True)
    if events.is_file() and stamp.is_file() and stamp.read_text() == wanted:
        return events
    write_transactions(data_dir, synth)
    stamp.write_text(wanted)
    return events


def _account_to_show(frame: Any, test_start: Any) -> Any:
    """The account with the most labelled frauds in the test period (else in all periods, else the first)."""
    import polars as pl

    frauds = frame.filter(pl.col("label") == 1)
    for candidates in (frauds.filter(pl.col("time") >= test_start), frauds, frame):
        if candidates.height:
            counts = candidates.group_by("entity", maintain_order=True).len().sort("len", descending=True)
            return counts["entity"][0]
    raise ValueError("the transaction log is empty")


def transactions(out: Path, cfg: QuickstartConfig, clock: StageClock) -> tuple[dict[str, Any], TransactionFigures]:
    """Synthetic log -> causal Latte scorer (Lightning) -> bundle -> every event scored through onnxruntime;
    test-period AP beside the gradient-boosted-trees baseline; one account streamed event by event."""
    import polars as pl

    from latte_vt.backbone import LatteConfig
    from latte_vt.bench.transactions_features import categorical_mask, feature_matrix, fit_gbdt, rolling_features
    from latte_vt.data.transactions.validate import load_events
    from latte_vt.export.checkpoint import export_checkpoint
    from latte_vt.metrics.fraud import fraud_metrics
    from latte_vt.predict import TransactionScorer
    from latte_vt.quickstart_report import AccountTimeline, TransactionFigures
    from latte_vt.runtime import StreamingScorer
    from latte_vt.tasks.transactions import TransactionScoringTask
    from latte_vt.tasks.transactions_data import TransactionDataModule

    root = out / "transactions"
    with clock.stage("transactions: generate"):
        events_path = _transaction_log(root / "data", cfg.accounts, cfg.days, cfg.seed)
    with clock.stage("transactions: train"):
        L.seed_everything(cfg.seed, verbose=False)  # the initial weights and the window order
        data = TransactionDataModule(
            paths=str(events_path), window=cfg.window, stride=cfg.stride, batch_size=cfg.transactions_batch_size
        )
        encoder = LatteConfig(
            dim=cfg.transactions_dim, depth=2, heads=4, latents=16, chunk_size=64, local_mix=8, recency=True
        )
        task = TransactionScoringTask(encoder=encoder, lr=3e-3, pos_weight=10.0, data_info=data.data_info)
        trainer, ckpt = _trainer(root, max_epochs=cfg.transactions_epochs, gradient_clip_val=1.0)
        trainer.fit(task, data)
        val_start, test_start = data.prepare()["cutoffs"]
    with clock.stage("transactions: export"):
        bundle = export_checkpoint(ckpt, root / "bundle", force=True)
    with clock.stage("transactions: score (onnxruntime)"):
        began = time.perf_counter()
        scorer = TransactionScorer(bundle, threads=cfg.threads)
        scores = scorer.score(events_path, rejects_path=root / "rejects.parquet")
        score_s = time.perf_counter() - began
        scores.write_parquet(root / "scores.parquet")
    with clock.stage("transactions: baseline"):
        events = load_events(events_path, scorer.schema).events  # canonical fields, with the labels
        features = rolling_features(events)  # rows in the order of `events` (entity, time)
        x, y = feature_matrix(features), events["label"].fill_null(0).to_numpy()
        train_rows = (events["time"] < val_start).to_numpy()
        gbdt = fit_gbdt(x[train_rows], y[train_rows], categorical_mask(features), cfg.seed)
        baseline_scores = gbdt.predict_proba(x)[:, 1].astype(np.float32)
    test = (  # one frame, so labels and both models' scores stay aligned whatever order the joins give
        events.select("event_id", "label", pl.Series("baseline", baseline_scores))
        .join(scores, on="event_id", how="inner")
        .filter(pl.col("time") >= test_start)
    )
    test_labels = test["label"].fill_null(0).to_numpy()
    test_scores, baseline_test = test["score"].to_numpy(), test["baseline"].to_numpy()
    latte, baseline = fraud_metrics(test_scores, test_labels), fraud_metrics(baseline_test, test_labels)
    with clock.stage("transactions: stream one account"):
        account = _account_to_show(events, test_start)
        history = events.filter(pl.col("entity") == account)
        live = StreamingScorer(bundle, threads=cfg.threads)
        streamed = np.array([live.score(row) for row in history.iter_rows(named=True)])
        batch = scores.filter(pl.col("entity") == account)["score"].to_numpy()
    summary = {
        "transactions_test_ap": latte["ap"],
        "transactions_baseline_ap": baseline["ap"],
        "transactions_baseline": "gradient-boosted trees on rolling features (latte_vt.bench.transactions_features)",
        "transactions_test_roc_auc": latte["roc_auc"],
        "transactions_test_recall_at_1pct_fpr": latte["recall_at_1pct_fpr"],
        "transactions_baseline_recall_at_1pct_fpr": baseline["recall_at_1pct_fpr"],
        "transactions_events": scores.height,
        "transactions_test_events": test.height,
        "transactions_test_frauds": int(test_labels.sum()),
        "transactions_test_start": test_start.isoformat(),
        "transactions_events_per_s": scores.height / score_s,
        "transactions_stream_account": str(account),
        "transactions_stream_events": len(streamed),
        "transactions_stream_vs_batch_max_diff": float(np.abs(streamed - batch).max()),
        "transactions_bundle": str(bundle),
        "transactions_scores": str(root / "scores.parquet"),
    }
    figures = TransactionFigures(
        test_scores=test_scores,
        baseline_scores=baseline_test,
        test_labels=test_labels,
        baseline_name="gradient-boosted trees",
        account=AccountTimeline(
            entity=str(account),
            times=history["time"].to_numpy(),
            scores=streamed,
            labels=history["label"].fill_null(0).to_numpy(),
            test_start=np.datetime64(test_start.replace(tzinfo=None)),
        ),
    )
    return summary, figures


def video(out: Path, cfg: QuickstartConfig, clock: StageClock) -> tuple[dict[str, Any], VideoFigures]:
    """Synthetic clips -> PatchTokenizer + Latte classifier (Lightning) -> bundle -> every test clip
    classified through onnxruntime: top-1, confusion matrix, a few clips' frames."""
    from latte_vt.backbone import LatteConfig
    from latte_vt.bench.video import synthetic_set_matches
    from latte_vt.data.synthetic.video import VideoSynthConfig, write_video_synthetic
    from latte_vt.data.video.sources import list_samples, split_source
    from latte_vt.export.checkpoint import export_checkpoint
    from latte_vt.predict import VideoClassifier, decode_clips
    from latte_vt.quickstart_report import ClipExample, VideoFigures
    from latte_vt.tasks.video import VideoClassificationTask

    root = out / "video"
    data_root = root / "data"
    with clock.stage("video: generate"):
        synth = VideoSynthConfig(n=cfg.video_clips_per_class, frames=16, size=cfg.video_source_size, seed=cfg.seed)
        if not synthetic_set_matches(data_root, synth):
            write_video_synthetic(data_root, synth)
    with clock.stage("video: train"):
        L.seed_everything(cfg.seed, verbose=False)  # the initial weights, the clip order and the crops
        data = DecodedVideoData(
            root=str(data_root),
            num_frames=16,
            size=32,
            short_side=36,
            num_clips=1,
            strides=(1,),
            eval_stride=1,
            batch_size=cfg.video_batch_size,
            synthetic_n=synth.n,
            synthetic_frames=synth.frames,
            synthetic_size=synth.size,
            synthetic_seed=synth.seed,
        )
        task = VideoClassificationTask(
            encoder=LatteConfig(dim=64, depth=2, heads=2, latents=16, pooling="latent", pool_queries=4),
            tokenizer="patch",
            num_frames=16,
            image_size=32,
            tubelet=4,
            patch=8,
            patch_stem=16,
            temporal_centering=True,
            lr=1e-3,
            data_info=data.data_info,
        )
        trainer, ckpt = _trainer(root, max_steps=cfg.video_steps)
        trainer.fit(task, data)
    with clock.stage("video: export"):
        bundle = export_checkpoint(ckpt, root / "bundle", force=True)
    with clock.stage("video: classify test clips (onnxruntime)"):
        began = time.perf_counter()
        classifier = VideoClassifier(bundle, threads=cfg.threads)
        samples = list_samples(split_source(data_root, "test"))
        preds = classifier.classify([s.path for s in samples], top_k=1, probe_timeout_s=None, progress=False)
        classify_s = time.perf_counter() - began
    classes = classifier.classes
    index = {name: i for i, name in enumerate(classes)}
    predicted = [p.labels[0] if p.ok else None for p in preds]
    confusion = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for sample, label in zip(samples, predicted, strict=True):
        if label is not None:
            confusion[index[sample.label], index[label]] += 1
    hits = [label == s.label for s, label in zip(samples, predicted, strict=True)]
    # the strip: wrong clips first (at most 2), then right ones, 4 in all
    order = sorted(range(len(samples)), key=lambda i: (hits[i], i))
    shown = order[: min(2, len(hits) - sum(hits))] + [i for i in order if hits[i]][:2]
    examples = [
        ClipExample(decode_clips(samples[i].path, classifier.spec)[0], samples[i].label, predicted[i] or "unreadable")
        for i in shown
    ]
    summary = {
        "video_test_top1": sum(hits) / max(len(hits), 1),
        "video_test_clips": len(hits),
        "video_test_unreadable": sum(not p.ok for p in preds),
        "video_classes": classes,
        "video_clips_per_s": len(samples) / classify_s,
        "video_bundle": str(bundle),
    }
    return summary, VideoFigures(classes=classes, confusion=confusion, examples=examples)


def batch_jobs(out: Path) -> dict[str, dict[str, Any]]:
    """Both batch jobs (``latte-vt run``) with the exported bundles: local engine, two workers, a few
    shards; every event of the log scored, the test clips classified; their summaries."""
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
            "input": str(out / "video" / "data" / "test.csv"),
            "model": {"bundle": str(out / "video" / "bundle")},
            "options": {"shard_size": 32, "top_k": 3},
        },
    }
    summaries = {}
    for name, spec in jobs.items():
        raw = {"job": name, "output": str(out / "jobs" / name), **common, **spec}
        summaries[name] = run_job(spec_from_dict(raw)).to_dict()
    return summaries


def _json_safe(value: Any) -> Any:
    """NaN / infinity -> None, recursively (``summary.json`` stays valid JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def run_quickstart(out: Path, cfg: QuickstartConfig | None = None) -> QuickstartResult:
    """Run every stage into ``out``; writes ``summary.json`` and ``report.html`` there."""
    from latte_vt.quickstart_report import write_report

    cfg = cfg or QuickstartConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clock = StageClock()
    load_at_start = os.getloadavg()
    began = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        tx_summary, tx_figures = transactions(out, cfg, clock)
        video_summary, video_figures = video(out, cfg, clock)
        with clock.stage("batch jobs"):
            jobs = batch_jobs(out)
    finally:
        torch.set_num_threads(threads)
    summary_path, report_path = out / "summary.json", out / "report.html"
    summary: dict[str, Any] = {
        **video_summary,
        **tx_summary,
        "batch_jobs": jobs,
        "seconds": clock.seconds,
        "load_average_at_start": list(load_at_start),
        "config": asdict(cfg),
        "summary": str(summary_path),
        "report": str(report_path),
    }
    summary["total_seconds"] = time.perf_counter() - began  # the report's own few seconds come after
    with clock.stage("report"):
        write_report(report_path, summary, video_figures, tx_figures)
    summary["total_seconds"] = time.perf_counter() - began
    summary["load_average_at_end"] = list(os.getloadavg())
    summary_path.write_text(json.dumps(_json_safe(summary), indent=2) + "\n")
    return QuickstartResult(summary, summary_path, report_path)

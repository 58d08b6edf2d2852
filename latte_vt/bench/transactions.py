"""``latte-vt bench transactions``: causal Latte vs a GRU (same tokenizer, both trained by ``TransactionScoringTask``
for a fixed number of epochs) vs gradient-boosted trees on polars rolling features, on one synthetic log and one
time split.

All three train on the training period and are scored on the test period; the sequence models keep
the weights of their epoch with the best validation-period AP (each account's validation events scored
with its whole past, as the task's ``val_ap``) and score each account's full history in
one causal pass (as ``latte-vt score`` does). Reported per model: AP, ROC-AUC, recall at 1 % / 0.1 %
FPR, recall per fraud scenario at 1 % FPR, training seconds, scoring events/s (both sequence models in torch
eager under inference mode, same threads and batches; Latte at width 64 with a 2x MLP, ~70k multiply-adds per
event, the GRU at width 128, ~200k) and parameters; plus one account with
10k..100k events scored in one pass (time and peak memory vs length), and a precision-recall PNG with
the three curves.
"""

from __future__ import annotations

import functools
import math
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from latte_vt.bench.measure import peak_memory_of
from latte_vt.bench.report import RunInfo, environment, fmt_bytes, markdown_table, write_outputs
from latte_vt.predict.histories import MAX_BATCH_EVENTS


@dataclass
class TransactionBenchConfig:
    """Data, split, models and training budget of the transaction benchmark."""

    accounts: int = 2000
    days: int = 60
    seed: int = 0
    seeds: int = 3
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    window: int = 128
    stride: int = 64
    batch_size: int = 16
    epochs: int = 6
    lr: float = 3e-3
    pos_weight: float = 10.0
    dim: int = 128  # the GRU's token and hidden width
    latte_dim: int = 64  # Latte's token width: ~120k multiply-adds per event (MLP 4x) vs the GRU's ~200k
    mlp_ratio: float = 4.0
    depth: int = 2
    heads: int = 4
    latents: int = 16
    chunk_size: int = 16
    local_mix: int = 8
    recency: bool = True
    gru_layers: int = 2
    long_lengths: tuple[int, ...] = (10_000, 30_000, 100_000)
    threads: int | None = None
    data_dir: str | None = None


def _prepare(cfg: TransactionBenchConfig, out_dir: Path) -> dict[str, Any]:
    """Generate (or reuse) the log, validate, split by time, fit the preprocessor on train, encode."""
    from latte_vt.data.synthetic.transactions import SCHEMA, TransactionSynthConfig, write_transactions
    from latte_vt.data.transactions import FittedPreprocessor, load_events, load_schema, split_cutoffs

    path = out_dir / "events.parquet"
    if not path.exists():
        write_transactions(out_dir, TransactionSynthConfig(accounts=cfg.accounts, days=cfg.days, seed=cfg.seed))
    schema = load_schema(SCHEMA)
    events = load_events(path, schema).events
    val_start, test_start = split_cutoffs(events, cfg.val_fraction, cfg.test_fraction)
    pre = FittedPreprocessor.from_schema(schema).fit(events, train_end=val_start)
    return {"events": events, "encoded": pre.transform(events), "pre": pre, "cutoffs": (val_start, test_start)}


class BestValidationEpoch(L.Callback):
    """Keeps the weights of the epoch with the best ``val_ap`` the task logged (the earliest on ties; an
    epoch with no AP, e.g. no validation positives, never wins) and puts them back when training ends.

    ``val_aps`` holds every epoch's AP (NaN where none was logged); ``epoch`` the one kept (1-based).
    """

    def __init__(self) -> None:
        self.val_aps: list[float] = []
        self.epoch = 0
        self._best: dict[str, torch.Tensor] = {}

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        ap = trainer.callback_metrics.pop("val_ap", None)  # taken out: the next epoch must log its own
        self.val_aps.append(math.nan if ap is None else float(ap))
        best = max((a for a in self.val_aps[:-1] if math.isfinite(a)), default=-math.inf)
        if not self._best or self.val_aps[-1] > best:
            self.epoch = len(self.val_aps)
            self._best = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._best:
            pl_module.load_state_dict(self._best)


def train_sequence_model(
    task: L.LightningModule, train: DataLoader, val: DataLoader, cfg: TransactionBenchConfig
) -> dict[str, Any]:
    """Both sequence models train through ``TransactionScoringTask`` in a Lightning ``Trainer``: ``cfg.epochs``
    epochs over the training windows (AdamW, warm-up + cosine, weighted BCE, gradients clipped at 1), the
    task's validation-period AP after each, and the weights of the best epoch kept (``BestValidationEpoch``).

    Returns ``train_s`` (seconds, validation included), ``epoch`` (the one kept), ``max_epochs`` and
    ``val_ap_by_epoch``.
    """
    keep = BestValidationEpoch()
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=cfg.epochs,
        gradient_clip_val=1.0,
        callbacks=[keep],
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    began = time.perf_counter()
    trainer.fit(task, train, val)
    seconds = time.perf_counter() - began
    return {"train_s": seconds, "epoch": keep.epoch, "max_epochs": trainer.max_epochs, "val_ap_by_epoch": keep.val_aps}


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    began = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - began


def _long_worker(spec: dict) -> dict:
    """In a fresh process: score one account of ``spec["events"]`` random events in one causal pass."""
    from latte_vt.backbone import LatteConfig
    from latte_vt.models.transactions import TransactionScoringModel

    torch.set_num_threads(spec["threads"])
    model = TransactionScoringModel(spec["vocab_sizes"], spec["num_numeric"], LatteConfig(**spec["encoder"])).eval()
    model.load_state_dict(spec["state"])
    T, g = spec["events"], torch.Generator().manual_seed(0)
    cat = torch.stack([torch.randint(2, v, (1, T), generator=g) for v in spec["vocab_sizes"]], -1)  # (1, T, F_cat)
    num = torch.randn(1, T, spec["num_numeric"], generator=g)  # (1, T, F_num)
    mask = torch.ones(1, T, dtype=torch.bool)
    with torch.inference_mode():
        model(cat[:, :64], num[:, :64], mask[:, :64])  # warm-up
        seconds, peak = peak_memory_of(lambda: model(cat, num, mask), "cpu")
    return {"events": T, "seconds": seconds, "events_per_s": T / seconds, "peak_bytes": peak}


def long_entity_scaling(model: nn.Module, vocab_sizes: list[int], num_numeric: int, lengths: tuple[int, ...]):
    """One account with T events scored in one causal pass, each T in a fresh process: seconds and peak
    extra memory (RSS high-water mark above the process's baseline)."""
    import multiprocessing

    base = {
        "vocab_sizes": vocab_sizes,
        "num_numeric": num_numeric,
        "encoder": asdict(model.encoder.config),
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "threads": torch.get_num_threads(),
    }
    rows = []
    ctx = multiprocessing.get_context("spawn")
    for T in lengths:
        with ctx.Pool(1) as pool:
            rows.append(pool.apply(_long_worker, (base | {"events": T},)))
        print(
            f"long account: T={T} {rows[-1]['seconds']:.2f} s, peak {fmt_bytes(rows[-1]['peak_bytes'])}",
            file=sys.stderr,
        )
    return rows


def run_transaction_bench(cfg: TransactionBenchConfig, json_path: Path, md_path: Path, png_path: Path) -> dict:
    """Run the whole benchmark; writes JSON, Markdown and the PR-curve PNG; returns the payload."""

    from latte_vt.backbone import LatteConfig
    from latte_vt.bench.transactions_features import categorical_mask, feature_matrix, fit_gbdt, rolling_features
    from latte_vt.data.transactions import EntitySequenceDataset, EventWindowDataset, collate_left_pad
    from latte_vt.metrics.fraud import fraud_metrics
    from latte_vt.predict.histories import score_histories
    from latte_vt.predict.torch_models import module_logits
    from latte_vt.predict.transactions import encoded_arrays, sigmoid
    from latte_vt.tasks.plots import pr_curve_png
    from latte_vt.tasks.transactions import TransactionScoringTask

    if cfg.seeds < 1:
        raise ValueError(f"--seeds must be >= 1 (training runs per model), got {cfg.seeds}")
    if cfg.epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {cfg.epochs}")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    began, run = time.perf_counter(), RunInfo.start()
    with tempfile.TemporaryDirectory() as tmp:
        data = _prepare(cfg, Path(cfg.data_dir or tmp))
    events, encoded, pre = data["events"], data["encoded"], data["pre"]
    val_start, test_start = data["cutoffs"]
    in_test = (encoded["time"] >= test_start).to_numpy()
    labels = encoded["label"].fill_null(0).to_numpy()[in_test]
    scenarios = encoded["scenario"].to_numpy()[in_test]
    columns = (encoded, pre.cat_columns, pre.num_columns)
    windows = EventWindowDataset(*columns, cfg.window, cfg.stride, end=val_start)
    val_histories = EntitySequenceDataset(*columns, start=val_start, end=test_start)  # each with its whole past
    val_loader = DataLoader(val_histories, 64, collate_fn=collate_left_pad)

    @torch.inference_mode()
    def score_encoded(model: nn.Module) -> np.ndarray:  # both sequence models: torch eager, no autograd
        cat, num, lengths = encoded_arrays(encoded, pre)
        return sigmoid(score_histories(functools.partial(module_logits, model.eval()), cat, num, lengths))

    print(
        f"{encoded.height} events ({int(labels.sum())} labelled fraud in test), {len(windows)} training windows",
        file=sys.stderr,
    )
    vocab, n_num = pre.vocab_sizes, len(pre.num_columns)
    latte_cfg = LatteConfig(
        dim=cfg.latte_dim,
        depth=cfg.depth,
        heads=cfg.heads,
        latents=cfg.latents,
        mlp_ratio=cfg.mlp_ratio,
        chunk_size=cfg.chunk_size,
        local_mix=cfg.local_mix,
        recency=cfg.recency,
    )
    encoders = {"latte": latte_cfg, "gru": LatteConfig(dim=cfg.dim)}  # the task takes the GRU's width from it
    sequence_models = ("latte", "gru")
    seeds = list(range(cfg.seed, cfg.seed + cfg.seeds))
    runs: dict[str, list[Run]] = {name: [] for name in (*sequence_models, "gbdt")}
    for name in sequence_models:
        for seed in seeds:  # the seed sets the initial weights and the window order
            torch.manual_seed(seed)
            task = TransactionScoringTask(
                vocab, n_num, encoders[name], name, cfg.gru_layers, pos_weight=cfg.pos_weight, lr=cfg.lr
            )
            g = torch.Generator().manual_seed(seed)
            train_loader = DataLoader(windows, cfg.batch_size, shuffle=True, generator=g)
            fit = train_sequence_model(task, train_loader, val_loader, cfg)
            model = task.model
            scores, score_s = _timed(lambda m=model: score_encoded(m))
            metrics = (
                fraud_metrics(scores[in_test], labels, scenarios)
                | fit
                | {
                    "score_events_per_s": encoded.height / score_s,
                    "params": sum(p.numel() for p in model.parameters()),
                }
            )
            runs[name].append(Run(seed, metrics, scores[in_test], model))
            print(f"{name} seed {seed}: AP {metrics['ap']:.4f}, epoch {fit['epoch']}", file=sys.stderr)

    feats, feat_s = _timed(lambda: rolling_features(events))  # same row order as `encoded` (entity, time)
    x, y = feature_matrix(feats), events["label"].fill_null(0).to_numpy()
    train_rows = (events["time"] < val_start).to_numpy()
    for seed in seeds:  # the seed sets the early-stopping split
        gbdt, train_s = _timed(lambda s=seed: fit_gbdt(x[train_rows], y[train_rows], categorical_mask(feats), s))
        scores, predict_s = _timed(lambda g=gbdt: g.predict_proba(x)[:, 1])
        metrics = fraud_metrics(scores[in_test], labels, scenarios) | {
            "train_s": train_s,
            "score_events_per_s": events.height / (feat_s + predict_s),
            "iterations": int(gbdt.n_iter_),
            "features": feats.drop("entity", "time").columns,
        }
        runs["gbdt"].append(Run(seed, metrics, scores[in_test], None))
        print(f"gbdt seed {seed}: AP {metrics['ap']:.4f}, train {train_s:.0f} s", file=sys.stderr)
    medians = {name: median_run(r) for name, r in runs.items()}
    results = {
        name: run.metrics
        | {"median_seed": run.seed, "ap_by_seed": {str(r.seed): r.metrics["ap"] for r in runs[name]}}
        | ({"epoch_by_seed": {str(r.seed): r.metrics["epoch"] for r in runs[name]}} if name in sequence_models else {})
        for name, run in medians.items()
    }
    pr_curve_png(
        {n: (r.test_scores, labels) for n, r in medians.items()}, png_path, title="test period: precision-recall"
    )

    scaling = long_entity_scaling(medians["latte"].model, vocab, n_num, cfg.long_lengths)
    payload = {
        "benchmark": "transactions",
        "config": asdict(cfg),
        "environment": environment("cpu"),
        "data": {
            "events": encoded.height,
            "test_events": int(in_test.sum()),
            "test_positives": int(labels.sum()),
            "val_start": val_start.isoformat(),
            "test_start": test_start.isoformat(),
            "training_windows": len(windows),
        },
        **{f"ap_{name}": r["ap"] for name, r in results.items()},
        "models": results,
        "long_account": scaling,
        "pr_curve": str(png_path),
        "total_s": time.perf_counter() - began,
    }
    payload["goal_latte_ap_ge_best_baseline"] = bool(payload["ap_latte"] >= max(payload["ap_gru"], payload["ap_gbdt"]))
    payload["latte_vs_gru_scoring"] = results["latte"]["score_events_per_s"] / results["gru"]["score_events_per_s"]
    payload["goal_latte_scoring_ge_gru"] = bool(payload["latte_vs_gru_scoring"] >= 1.0)
    write_outputs(payload, markdown(payload), json_path, md_path, run)
    return payload


@dataclass
class Run:
    """One trained contestant: its seed, test metrics, test-period scores and model (None for the GBDT)."""

    seed: int
    metrics: dict[str, Any]
    test_scores: Any
    model: nn.Module | None


def median_run(runs: list[Run]) -> Run:
    """The run with the median AP (the lower middle one for an even count): every figure reported for a
    model comes from this one run, so they stay consistent with each other."""
    ordered = sorted(runs, key=lambda r: r.metrics["ap"])
    return ordered[(len(ordered) - 1) // 2]


def _met(goal: bool) -> str:
    return "met" if goal else "not met"


def markdown(payload: dict) -> str:
    """The report: one row per model, per-scenario recall, and the long-account scaling table."""
    models = payload["models"]
    names = list(models)
    scen = sorted({k.split("/", 1)[1] for r in models.values() for k in r if k.startswith("recall_1pct_fpr/")})
    rows = [
        [
            name,
            f"{r['ap']:.4f} ({', '.join(f'{a:.3f}' for a in r['ap_by_seed'].values())})",
            f"{r['roc_auc']:.4f}",
            f"{r['recall_at_1pct_fpr']:.3f}",
            f"{r['recall_at_0.1pct_fpr']:.3f}",
            f"{r['train_s']:.0f} s",
            f"{r['score_events_per_s']:,.0f}",
            f"{r['params']:,}" if "params" in r else "-",
        ]
        for name, r in models.items()
    ]
    scen_rows = [[s, *(f"{models[n].get(f'recall_1pct_fpr/{s}', math.nan):.3f}" for n in names)] for s in scen]
    long_rows = [
        [f"{r['events']:,}", f"{r['seconds']:.2f} s", f"{r['events_per_s']:,.0f}", fmt_bytes(r["peak_bytes"])]
        for r in payload["long_account"]
    ]
    d, env, c = payload["data"], payload["environment"], payload["config"]
    return "\n\n".join(
        [
            "# Transaction scoring: Latte vs GRU vs gradient-boosted trees (CPU)",
            f"`latte-vt bench transactions`: synthetic log of {d['events']:,} events "
            f"({payload['config']['accounts']} accounts, {payload['config']['days']} days), time split; test period "
            f"from {d['test_start']} ({d['test_events']:,} events, {d['test_positives']} labelled fraud). Sequence "
            "models score each account's full history in one causal pass; the GBDT uses polars rolling features. "
            f"Total run {payload['total_s'] / 60:.1f} min on {env['cpu_count']} CPU cores.",
            markdown_table(
                [
                    "model",
                    "AP median (per seed)",
                    "ROC-AUC",
                    "recall@1%FPR",
                    "recall@0.1%FPR",
                    "train + validation",
                    "scoring events/s",
                    "parameters",
                ],
                rows,
            ),
            f"Each model trained with seeds {list(next(iter(models.values()))['ap_by_seed'])}; every figure of a "
            "model comes from its median-AP run. Each sequence model keeps the weights of its epoch with the best "
            f"validation-period AP (of {payload['config']['epochs']}; epoch kept per seed: "
            + ", ".join(f"{n} {list(r['epoch_by_seed'].values())}" for n, r in models.items() if "epoch_by_seed" in r)
            + "); the GBDT early-stops on a random tenth of the training rows.",
            f"Latte: width {c['latte_dim']}, {c['depth']} blocks, {c['heads']} heads x {c['latents']} latents, MLP "
            f"{c['mlp_ratio']:g}x, chunk {c['chunk_size']}, local mix {c['local_mix']}, recency {c['recency']}; GRU: "
            f"width {c['dim']}, {c['gru_layers']} layers. Both score in torch eager (inference mode, "
            f"{env['torch_threads']} thread(s)) through the same length-bucketed batches of at most "
            f"{MAX_BATCH_EVENTS:,} padded events; the GBDT's figure includes its rolling features.",
            f"Goal Latte AP >= best baseline: **{_met(payload['goal_latte_ap_ge_best_baseline'])}**. Goal Latte "
            f"scoring events/s >= the GRU's: **{_met(payload['goal_latte_scoring_ge_gru'])}** "
            f"({payload['latte_vs_gru_scoring']:.2f}x).",
            "Recall per fraud scenario at the 1 % FPR threshold:",
            markdown_table(["scenario", *names], scen_rows),
            "One account's history scored in one pass (Latte, batch 1): time and peak extra memory vs length.",
            markdown_table(["events", "time", "events/s", "peak memory"], long_rows),
            f"![precision-recall]({Path(payload['pr_curve']).name})",
        ]
    )

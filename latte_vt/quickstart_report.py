"""The quickstart's report: the summary table printed at the end of ``latte-vt quickstart`` and a
self-contained ``report.html`` (every figure a matplotlib PNG embedded as base64: open the file, no server).

Figures: the confusion matrix of the test clips, the test period's precision-recall curves (Latte and
the baseline), a strip of frames from a few test clips with their true and predicted labels, and one
account's score timeline with its frauds marked. The PNGs are also kept next to the report
(``figures/``). The confusion matrix and the precision-recall plot come from ``latte_vt.tasks.plots``.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from latte_vt.tasks.plots import _pyplot, confusion_matrix_png, pr_curve_png


@dataclass
class ClipExample:
    """One test clip of the strip: its frames (T, H, W, 3) uint8 as the model's view saw them, and labels."""

    frames: np.ndarray
    true: str
    predicted: str


@dataclass
class VideoFigures:
    """What the video figures need: class names, the (C, C) confusion counts (rows = true) and a few clips."""

    classes: list[str]
    confusion: np.ndarray
    examples: list[ClipExample]


@dataclass
class AccountTimeline:
    """One account's events: times (N,) datetime64, streamed scores (N,), labels (N,) and the test start."""

    entity: str
    times: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    test_start: np.datetime64


@dataclass
class TransactionFigures:
    """Test-period scores of Latte and of the baseline with their labels (N,), and the account shown."""

    test_scores: np.ndarray
    baseline_scores: np.ndarray
    test_labels: np.ndarray
    baseline_name: str
    account: AccountTimeline


def summary_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(what, result) rows of the quickstart's table, from its summary."""
    chance = 1 / max(len(summary["video_classes"]), 1)
    rows = [
        (
            "video: test top-1",
            f"{summary['video_test_top1']:.1%} of {summary['video_test_clips']} test clips, "
            f"{len(summary['video_classes'])} classes (chance {chance:.1%})",
        ),
        (
            "transactions: test-period AP",
            f"{summary['transactions_test_ap']:.3f} ({summary['transactions_test_frauds']} frauds in "
            f"{summary['transactions_test_events']:,} test events)",
        ),
        ("baseline: gradient-boosted trees, test AP", f"{summary['transactions_baseline_ap']:.3f}"),
        (
            "scoring through onnxruntime",
            f"{summary['transactions_events_per_s']:,.0f} events/s ({summary['transactions_events']:,} events)",
        ),
        ("classifying through onnxruntime", f"{summary['video_clips_per_s']:,.1f} clips/s (decoding included)"),
        (
            "streaming one account",
            f"{summary['transactions_stream_events']} events, max |stream - batch| "
            f"{summary['transactions_stream_vs_batch_max_diff']:.1e}",
        ),
    ]
    for name, job in summary["batch_jobs"].items():
        rows.append(
            (
                f"batch job {name}",
                f"{job['items_in']:,} {job['unit']}s, {job['items_per_s']:,.0f} {job['unit']}s/s -> {job['results']}",
            )
        )
    load = summary["load_average_at_start"][0]
    rows += [
        ("time", f"{summary['total_seconds']:.0f} s (1-min load average {load:.1f} at the start)"),
        ("bundles", f"{summary['video_bundle']}, {summary['transactions_bundle']}"),
        ("report", summary["report"]),
        ("summary", summary["summary"]),
    ]
    return rows


def format_table(rows: list[tuple[str, str]]) -> str:
    """Two aligned text columns."""
    width = max(len(what) for what, _ in rows)
    return "\n".join(f"{what.ljust(width)}  {result}" for what, result in rows)


def frames_strip_png(examples: list[ClipExample], path: Path, per_clip: int = 8) -> Path:
    """One row per clip: ``per_clip`` evenly spaced frames, headed by the true and predicted labels."""
    plt = _pyplot()
    fig, axes = plt.subplots(
        len(examples),
        per_clip,
        figsize=(1.25 * per_clip, 1.55 * len(examples)),
        squeeze=False,
        gridspec_kw={"hspace": 0.6, "wspace": 0.05},
    )
    for row, example in zip(axes, examples, strict=True):
        picks = np.linspace(0, len(example.frames) - 1, per_clip).round().astype(int)
        for ax, t in zip(row, picks, strict=True):
            ax.imshow(example.frames[t])
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(f"frame {t}", fontsize=7, labelpad=2)
        right = example.true == example.predicted
        row[0].text(
            0,
            1.08,
            f"true: {example.true}    predicted: {example.predicted}",
            transform=row[0].transAxes,
            fontsize=9,
            color="darkgreen" if right else "firebrick",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return path


def account_timeline_png(account: AccountTimeline, path: Path) -> Path:
    """The account's score for every event (streamed one at a time) in event order, frauds marked and the
    test period shaded. Events are evenly spaced, so a burst of frauds minutes apart stays visible."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.2))
    fraud = account.labels == 1
    index = np.arange(len(account.scores))
    first_test = int(np.searchsorted(account.times, account.test_start))
    ax.plot(index, account.scores, color="steelblue", lw=0.8, marker=".", ms=3, label="score (streamed)")
    ax.scatter(index[fraud], account.scores[fraud], color="firebrick", marker="x", s=40, zorder=3, label="fraud")
    if first_test < len(index):
        ax.axvspan(first_test - 0.5, index[-1] + 0.5, color="0.92", zorder=0, label="test period")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("event of the account, in time order")
    ax.set_ylabel("fraud score")
    days = (account.times[-1] - account.times[0]) / np.timedelta64(1, "D")
    ax.set_title(
        f"account {account.entity}: {len(index)} events over {days:.0f} days, {int(fraud.sum())} labelled fraud"
    )
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{html.escape(a)}</th><td>{html.escape(b)}</td></tr>" for a, b in rows)
    return f"<table>{body}</table>"


def write_report(path: Path, summary: dict[str, Any], video: VideoFigures, transactions: TransactionFigures) -> Path:
    """Draw the figures into ``path.parent / "figures"`` and write ``path``: one HTML file, images inline."""
    figures = path.parent / "figures"
    labels = transactions.test_labels
    confusion = confusion_matrix_png(
        video.confusion, video.classes, figures / "confusion_matrix.png", title="test clips (rows: true class)"
    )
    strip = frames_strip_png(video.examples, figures / "test_clips.png")
    timeline = account_timeline_png(transactions.account, figures / "account_timeline.png")
    sections = [
        (
            "Video: confusion matrix of the test clips",
            f"Every test clip classified by the exported bundle (onnxruntime). Top-1 {summary['video_test_top1']:.1%}.",
            _img(confusion, "confusion matrix"),
        ),
        (
            "Video: frames of a few test clips",
            "The class is the order in which the square, the circle and the triangle appear; misclassified "
            "clips (if any) come first.",
            _img(strip, "test clip frames"),
        ),
    ]
    if 0 < labels.sum() < len(labels):  # a precision-recall curve needs both classes
        pr = pr_curve_png(
            {
                "Latte (bundle)": (transactions.test_scores, labels),
                transactions.baseline_name: (transactions.baseline_scores, labels),
            },
            figures / "pr_curve.png",
            title="test period: precision-recall",
        )
        sections.append(
            (
                "Transactions: precision-recall on the test period",
                f"{int(labels.sum())} labelled frauds among {len(labels):,} test events; each model trained on "
                "the training period only.",
                _img(pr, "precision-recall curves"),
            )
        )
    sections.append(
        (
            "Transactions: one account streamed event by event",
            "Scores from the streaming scorer (step.onnx, constant state per account); they equal the batch scores "
            f"to {summary['transactions_stream_vs_batch_max_diff']:.1e}.",
            _img(timeline, "account score timeline"),
        )
    )
    stage_rows = [(name, f"{seconds:.1f} s") for name, seconds in summary["seconds"].items()]
    body = "".join(
        f"<h2>{html.escape(title)}</h2><p>{html.escape(caption)}</p>{image}" for title, caption, image in sections
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>latte-vt quickstart</title>
<style>
body {{ font-family: sans-serif; max-width: 1000px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 4px 10px; text-align: left; vertical-align: top; }}
th {{ background: #f4f4f4; font-weight: normal; }}
img {{ max-width: 100%; display: block; margin: 0.5em 0 1.5em; }}
</style></head><body>
<h1>latte-vt quickstart</h1>
<p>Synthetic data, both models trained with Lightning, exported to ONNX and judged through the bundles
on data they never saw.</p>
{_table(summary_rows(summary))}
{body}
<h2>Seconds per stage</h2>
{_table(stage_rows)}
</body></html>
"""
    path.write_text(page)
    return path

"""The README's main job, ``latte-vt quickstart``: the whole path on tiny data in the default suite
(``--quick``), and the full run with its accuracy goals under ``-m slow``."""

from __future__ import annotations

import base64
import contextlib
import io
import json
from dataclasses import asdict
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from latte_vt.cli import main
from latte_vt.quickstart import QuickstartConfig, _transaction_log, run_quickstart

KEYS = ("video_test_top1", "transactions_test_ap", "transactions_baseline_ap")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ImageTags(HTMLParser):
    """Collects the attributes of every ``<img>`` tag of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs))


def decode_png(src: str) -> np.ndarray:
    """A ``data:image/png;base64,...`` source -> the decoded image (H, W, channels)."""
    from matplotlib.image import imread

    prefix = "data:image/png;base64,"
    assert src.startswith(prefix), src[:40]
    data = base64.b64decode(src[len(prefix) :], validate=True)
    assert data.startswith(PNG_SIGNATURE)
    return imread(io.BytesIO(data), format="png")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, int]:
    """``latte-vt quickstart --quick`` once for the module: (its output folder, what it printed, exit code)."""
    out = tmp_path_factory.mktemp("quickstart")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["quickstart", "--quick", "--out", str(out)])
    return out, printed.getvalue(), code


def test_quick_run_prints_the_table(quick_run):
    out, printed, code = quick_run
    assert code == 0
    table = printed[printed.index("latte-vt quickstart --quick") :]
    for row in ("video: test top-1", "transactions: test-period AP", "baseline: gradient-boosted trees, test AP"):
        assert row in table, row
    assert "events/s" in table and "clips/s" in table
    rows = [line.split() for line in table.splitlines()]
    assert ["report", str(out / "report.html")] in rows and ["summary", str(out / "summary.json")] in rows


def test_quick_run_writes_the_summary(quick_run):
    out, _, _ = quick_run
    summary = json.loads((out / "summary.json").read_text())
    for key in KEYS:
        assert isinstance(summary[key], float) and 0.0 <= summary[key] <= 1.0, (key, summary[key])
    assert summary["video_test_clips"] == 12 and summary["video_test_unreadable"] == 0  # 2 test clips per class
    assert summary["transactions_test_frauds"] > 0 and summary["transactions_events_per_s"] > 0
    assert summary["video_clips_per_s"] > 0
    assert summary["transactions_stream_vs_batch_max_diff"] <= 1e-5
    assert summary["config"] == asdict(QuickstartConfig.quick())
    assert set(summary["seconds"]) >= {"transactions: train", "video: train", "batch jobs", "report"}
    assert 0 < sum(summary["seconds"].values()) <= summary["total_seconds"]


def test_quick_run_writes_a_self_contained_report(quick_run):
    out, _, _ = quick_run
    page = (out / "report.html").read_text()
    tags = ImageTags()
    tags.feed(page)
    alts = [img["alt"] for img in tags.images]
    assert alts == ["confusion matrix", "test clip frames", "precision-recall curves", "account score timeline"]
    for img in tags.images:
        pixels = decode_png(img["src"] or "")
        assert pixels.ndim == 3 and pixels.shape[0] >= 100 and pixels.shape[1] >= 100
        assert pixels.std() > 0  # not a blank canvas
    assert 'src="http' not in page and "<script" not in page  # nothing to fetch, no server


def test_quick_run_scores_streams_and_runs_the_batch_jobs(quick_run):
    out, _, _ = quick_run
    summary = json.loads((out / "summary.json").read_text())
    assert (out / "transactions" / "scores.parquet").exists()
    assert (out / "video" / "bundle" / "manifest.json").exists()
    jobs = summary["batch_jobs"]
    assert jobs["score-transactions"]["rows_out"] == summary["transactions_events"]
    assert jobs["classify-videos"]["rows_out"] == summary["video_test_clips"]
    assert all(job["shards_failed"] == 0 for job in jobs.values())
    assert len(list((out / "jobs" / "score-transactions" / "scores").glob("part-*.parquet"))) == 4


def test_transaction_log_is_reused_only_for_the_same_settings(tmp_path):
    first = _transaction_log(tmp_path, accounts=20, days=5, seed=0)
    made = first.stat().st_mtime_ns
    assert _transaction_log(tmp_path, accounts=20, days=5, seed=0) == first
    assert first.stat().st_mtime_ns == made  # same settings: the log on disk is used
    import polars as pl

    before = pl.read_parquet(first)["account_id"].n_unique()
    _transaction_log(tmp_path, accounts=40, days=5, seed=0)  # e.g. --quick, then the full run into one --out
    assert pl.read_parquet(first)["account_id"].n_unique() > before


@pytest.mark.slow
def test_full_quickstart_models_are_right_on_their_test_data(tmp_path):
    result = run_quickstart(tmp_path)
    summary = json.loads(result.summary_path.read_text())
    assert summary["video_test_top1"] >= 0.9, summary["video_test_top1"]
    assert summary["transactions_test_ap"] >= 0.7, summary["transactions_test_ap"]
    assert summary["transactions_test_ap"] > summary["transactions_baseline_ap"]
    assert summary["video_test_clips"] == 360 and summary["transactions_test_frauds"] >= 100
    assert result.report_path.is_file()

"""``latte-vt bench pipelines``: contestants run as fresh commands (time, peak memory, failures surfaced), and
a tiny end to end run (slow: two exports and six commands)."""

import json

import pytest

from latte_vt.bench.pipelines import run_command


def test_a_command_is_timed_and_its_failure_carries_the_log(tmp_path):
    run = run_command(["run", "--help"], tmp_path / "help.log")
    assert run.seconds > 0 and run.peak_rss_bytes > 1 << 20
    assert "--set KEY=VALUE" in (tmp_path / "help.log").read_text()
    with pytest.raises(RuntimeError, match=r"exited 2; log .*\n.*job spec not found"):
        run_command(["run", str(tmp_path / "missing.yaml")], tmp_path / "missing.log")


@pytest.mark.slow
def test_tiny_pipeline_bench_compares_each_job_with_its_one_shot_command(tmp_path):
    from dataclasses import replace

    from latte_vt.bench.pipelines import QUICK, run_pipeline_bench

    cfg = replace(QUICK, events=3000, clips=12, shards=2, workers=2, workdir=str(tmp_path / "work"))
    cfg = replace(cfg, long_account_events=3000)
    payload = run_pipeline_bench(cfg, tmp_path / "p.json", tmp_path / "p.md")
    assert json.loads((tmp_path / "p.json").read_text())["batch_events_per_s"] == payload["batch_events_per_s"] > 0
    tx, videos = payload["transactions"], payload["videos"]
    assert tx["events"] >= 3000 and tx["same_events_scored"] and tx["max_abs_score_diff_vs_one_shot"] < 1e-4
    assert videos["clips"] >= 12 and videos["same_top_labels"]
    assert tx["ray_vs_local"] > 0 and videos["ray_vs_local"] > 0
    assert payload["live"] == "not measured" or "stream_events_per_s" in payload["live"]
    assert payload["model_only_events_per_s"] > 0 and payload["batch_vs_model_only"] > 0
    assert set(tx["pipeline_local"]["stage_seconds"]) == {"read_validate", "encode", "batch", "model", "write"}
    assert tx["model_only"]["events"] > 0 and tx["one_account"]["events"] == 3000
    assert 0 < payload["one_account_peak_rss_mib"] < 2048
    assert [g["goal"].split(" ")[0] for g in payload["goals"]] == ["end", "end", "job"]  # 1M-event goal: not at 3k
    markdown = (tmp_path / "p.md").read_text()
    assert "× one-shot" in markdown and "× local" in markdown
    assert "## Goals" in markdown and "| model |" in markdown and "The model alone" in markdown

"""``latte-vt run SPEC --set ...``: runs a job from YAML, resumes, and answers mistakes with exit code 2."""

import polars as pl
import yaml
from pipeline_fixtures import BAD_ROWS

from latte_vt.cli import main


def write_spec(tmp_path, events, bundle):
    spec = {
        "job": "score-transactions",
        "input": [str(events["good"]), str(events["bad"])],
        "output": str(tmp_path / "out"),
        "model": {"bundle": str(bundle)},
        "workers": 1,
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_run_writes_results_resumes_and_prints_the_summary(events, tx_models, tmp_path, capsys):
    spec = write_spec(tmp_path, events, tx_models.bundle)
    assert main(["run", str(spec), "--set", "options.shards=3", "options.max_batch_events=512", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "3 shards, 3 run now, 0 already done, 0 failed" in printed and f"{len(BAD_ROWS)} rejected" in printed
    scores = pl.read_parquet(tmp_path / "out" / "scores" / "*.parquet")
    assert scores.height == pl.read_parquet(events["good"]).height + pl.read_csv(events["bad"]).height - len(BAD_ROWS)
    assert main(["run", str(spec), "--set", "options.shards=3", "options.max_batch_events=512", "--quiet"]) == 0
    assert "0 run now, 3 already done" in capsys.readouterr().out


def test_run_answers_mistakes_with_exit_code_2(events, tx_models, tmp_path, capsys):
    spec = write_spec(tmp_path, events, tx_models.bundle)
    assert main(["run", str(spec), "--set", "options.shard=3"]) == 2
    assert "unknown key options.shard " in capsys.readouterr().err
    assert main(["run", str(spec), "--set", f"input={tmp_path / 'missing.parquet'}"]) == 2
    assert "event file not found" in capsys.readouterr().err
    assert main(["run", str(spec), "--set", f"model.bundle={tmp_path}"]) == 2
    assert "manifest.json is missing" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert "job spec not found" in capsys.readouterr().err

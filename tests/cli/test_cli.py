"""The ``latte-vt`` command: help, models, and a small real attention benchmark run."""

import json
import subprocess
import sys

from latte_vt.cli import main


def test_help_lists_subcommands(capsys):
    assert main([]) == 2
    out = capsys.readouterr().out
    assert "bench" in out and "models" in out


def test_console_script_runs():
    proc = subprocess.run([sys.executable, "-m", "latte_vt.cli", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and "latte-vt" in proc.stdout


def test_models_lists_sizes(capsys):
    assert main(["models"]) == 0
    assert "latte_tiny" in capsys.readouterr().out


def test_bad_seq_lens_is_a_clear_error(capsys):
    try:
        main(["bench", "attention", "--seq-lens", "abc"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "comma-separated integers" in capsys.readouterr().err


def test_bench_attention_writes_json_and_markdown(tmp_path):
    out = tmp_path / "att.json"
    code = main(["bench", "attention", "--seq-lens", "96", "--modes", "forward", "--json", str(out)])
    assert code == 0
    payload = json.loads(out.read_text())
    methods = {r["method"] for r in payload["results"]}
    assert methods == {"latte_causal", "sdpa_causal", "latte_bidirectional", "sdpa_full"}
    for r in payload["results"]:
        assert r["median_s"] > 0 and r["samples"] >= 1
        assert r["peak_bytes"] is None or r["peak_bytes"] >= 0
    latte = [r for r in payload["results"] if r["method"].startswith("latte")]
    for r in latte:
        rival = next(
            x
            for x in payload["results"]
            if x["seq_len"] == r["seq_len"]
            and x["method"].startswith("sdpa")
            and ("causal" in x["method"]) == ("causal" in r["method"])
        )
        assert abs(r["speedup"] - rival["median_s"] / r["median_s"]) < 1e-9
    md = out.with_suffix(".md").read_text()
    assert "| causal | forward | 96 |" in md and "| bidirectional | forward | 96 |" in md

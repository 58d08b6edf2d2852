"""``latte-vt bench attention``: the CUDA suite's worker methods (run here on CPU), its goals and table."""

import importlib.util

import pytest

from latte_vt.bench.attention import LABELS, _cuda_goals, _worker_groups, default_config, render_markdown, suite
from latte_vt.bench.attention_worker import FLA_HINT, run_cases


def test_cuda_defaults_are_the_issue_shapes():
    cfg = default_config("cuda")
    assert (cfg.dtype, cfg.batch, cfg.heads, cfg.latents, cfg.head_dim) == ("bfloat16", 2, 8, 64, 64)
    assert cfg.seq_lens == (16384, 65536)
    cpu = default_config("cpu")
    assert (cpu.dtype, cpu.batch, cpu.heads, cpu.seq_lens) == ("float32", 1, 4, (1024, 4096, 16384, 65536))
    contestants, rival = suite("cuda:0")["causal"]
    assert contestants[0] == "latte_causal_triton" and rival == "sdpa_causal"
    groups = _worker_groups(cfg)  # one worker per method, headline contestants first
    assert [g[0]["method"] for g in groups[:4]] == [
        "latte_causal_triton", "sdpa_causal", "latte_bidirectional_triton", "sdpa_full"
    ]  # fmt: skip
    assert len(groups) == 8 and all(len(g) == 4 for g in groups)
    assert len(_worker_groups(cpu)) == 2 * 2 * 4 * 2  # one case per worker on CPU


def test_worker_runs_the_cuda_suite_methods_and_reports_failures(monkeypatch):
    """Each case is measured or reported: missing fla is skipped with a hint, a Triton call that cannot
    run here (CPU without the interpreter) is an error naming why; the other cases still run."""
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    spec = {
        "device": "cpu", "dtype": "float32", "batch": 1, "heads": 2, "latents": 8, "head_dim": 8,
        "min_reps": 1, "budget_s": 0.2,
        "cases": [
            {"method": "latte_causal_torch", "mode": "forward_backward", "seq_len": 40},
            {"method": "latte_bidirectional_torch", "mode": "forward", "seq_len": 40},
            {"method": "sdpa_causal", "mode": "forward_backward", "seq_len": 40},
            {"method": "latte_causal_triton", "mode": "forward", "seq_len": 40},
            {"method": "fla_chunk_gla", "mode": "forward", "seq_len": 64},
        ],
    }  # fmt: skip
    results = {r["method"]: r for r in run_cases(spec)}
    for method in ("latte_causal_torch", "latte_bidirectional_torch", "sdpa_causal"):
        assert results[method]["median_s"] > 0 and results[method]["samples"] >= 1, results[method]
    assert "TRITON_INTERPRET=1" in results["latte_causal_triton"]["error"]
    if importlib.util.find_spec("fla") is None:
        assert results["fla_chunk_gla"] == {
            "method": "fla_chunk_gla",
            "mode": "forward",
            "seq_len": 64,
            "skipped": FLA_HINT,
        }


def _result(method, mode, T, median_ms, peak_mib, speedup=None):
    r = {"method": method, "mode": mode, "seq_len": T, "median_s": median_ms / 1e3, "peak_bytes": peak_mib * 2**20}
    return r if speedup is None else {**r, "speedup": speedup}


@pytest.mark.parametrize("causal_ms,met", [(1.5, True), (2.5, False)])
def test_cuda_goals_pass_and_fail_on_the_issue_thresholds(causal_ms, met):
    fb = "forward_backward"
    results = [
        _result("latte_causal_triton", fb, 16384, causal_ms, 100, speedup=4.0 if met else 2.0),
        _result("latte_causal_triton", fb, 65536, 4 * causal_ms, 400 if met else 900, speedup=8.0),
        _result("latte_bidirectional_triton", fb, 16384, 0.8, 50),
        _result("latte_bidirectional_triton", fb, 65536, 3.0, 200),
    ]
    goals = {g["goal"]: g for g in _cuda_goals(results, (16384, 65536))}
    assert goals["latte_causal_triton fwd+bwd at T=16384 <= 1.8 ms"]["met"] is met
    assert goals["latte_causal_triton fwd+bwd >= 2.5x faster than SDPA causal at T=16384"]["met"] is met
    assert goals["latte_causal_triton fwd+bwd >= 6.0x faster than SDPA causal at T=65536"]["met"] is True
    assert goals["latte_bidirectional_triton fwd+bwd at T=16384 <= 1.0 ms"]["met"] is True
    peak = goals["latte_causal_triton forward+backward peak memory at 64k <= 4.5x its peak at 16k (linear in T)"]
    assert peak["met"] is met and peak["value"] == (4.0 if met else 9.0)
    assert len(goals) == 6


def test_cuda_table_names_every_contestant_and_the_missing_ones():
    cfg = {**vars(default_config("cuda")), "seq_lens": (16384,), "modes": ("forward",)}
    results = [
        _result("latte_causal_triton", "forward", 16384, 0.5, 80, speedup=3.0),
        _result("sdpa_causal", "forward", 16384, 1.5, 40),
        {"method": "fla_chunk_gla", "mode": "forward", "seq_len": 16384, "skipped": FLA_HINT},
        {"method": "latte_causal_torch", "mode": "forward", "seq_len": 16384, "error": "OutOfMemoryError: CUDA"},
    ]
    env = {"device": "cuda", "gpu": "NVIDIA H200", "torch": "2.x", "triton": "3.x", "fla": "not installed"}
    payload = {"config": cfg, "environment": env, "results": results, "goals": []}
    md = render_markdown(payload)
    assert "NVIDIA H200" in md and "triton 3.x" in md and "fla not installed" in md
    assert "| causal | forward | 16384 | Latte (Triton) | 0.5 ms | 3.0× | 80 MiB |  |" in md
    assert "| causal | forward | 16384 | SDPA causal | 1.5 ms | 1.0× | 40 MiB |  |" in md
    assert f"| fla chunk_gla | – | – | – | {FLA_HINT} |" in md
    assert "OutOfMemoryError: CUDA" in md
    for method in suite("cuda")["bidirectional"][0]:
        assert f"| bidirectional | forward | 16384 | {LABELS[method]} | – |" in md

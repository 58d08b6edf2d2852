"""``latte-vt bench attention``: Latte (bidirectional, causal) vs PyTorch SDPA (full, causal).

Same process tree, same inputs, same allocator settings; each case runs in a fresh worker so
peak memory is measured cleanly.  Median time, peak memory and the SDPA / Latte ratio per T.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from latte_vt.bench.measure import run_worker
from latte_vt.bench.report import environment, fmt_bytes, fmt_ratio, fmt_seconds, markdown_table, write_outputs

PAIRS = (("latte_causal", "sdpa_causal"), ("latte_bidirectional", "sdpa_full"))
MODES = ("forward", "forward_backward")
FULL_LENGTHS = (1024, 4096, 16384, 65536)
QUICK_LENGTHS = (1024, 4096)


@dataclass
class AttentionBenchConfig:
    """Options of ``latte-vt bench attention`` (CPU defaults B=1, H=4, L=64, Dh=64)."""

    device: str = "cpu"
    dtype: str = "float32"
    batch: int = 1
    heads: int = 4
    latents: int = 64
    head_dim: int = 64
    seq_lens: tuple[int, ...] = FULL_LENGTHS
    modes: tuple[str, ...] = MODES
    min_reps: int = 3
    budget_s: float = 8.0
    tuned_malloc: bool = True
    case_timeout_s: float = 1800.0
    extra: dict = field(default_factory=dict)


def _goals(results: list[dict], lengths: tuple[int, ...]) -> list[dict]:
    """The issue's targets, checked on this run's figures (only where the lengths were run)."""

    def ratio(method: str, mode: str, T: int) -> float | None:
        for r in results:
            if r["method"] == method and r["mode"] == mode and r["seq_len"] == T:
                return r.get("speedup")
        return None

    def peak(method: str, T: int) -> int | None:
        for r in results:
            if r["method"] == method and r["mode"] == "forward" and r["seq_len"] == T:
                return r.get("peak_bytes")
        return None

    goals = []
    for method, T, target in (
        ("latte_causal", 16384, 8),
        ("latte_causal", 65536, 30),
        ("latte_bidirectional", 16384, 8),
    ):
        value = ratio(method, "forward", T)
        if T in lengths:
            goals.append(
                {
                    "goal": f"{method} forward >= {target}x faster than SDPA at T={T}",
                    "value": value,
                    "met": value is not None and value >= target,
                }
            )
    if 16384 in lengths and 65536 in lengths:
        p16, p64 = peak("latte_causal", 16384), peak("latte_causal", 65536)
        value = p64 / p16 if p16 and p64 else None
        goals.append(
            {
                "goal": "latte_causal peak memory at 64k <= 4.5x its peak at 16k",
                "value": value,
                "met": value is not None and value <= 4.5,
            }
        )
    return goals


def run_attention_bench(cfg: AttentionBenchConfig, json_path: Path, md_path: Path) -> dict:
    """Run every case, print and write the table; return the JSON payload."""
    cases = [(method, mode, T) for T in cfg.seq_lens for mode in cfg.modes for pair in PAIRS for method in pair]
    results = []
    bar = tqdm(cases, desc="bench attention", unit="case")
    for method, mode, T in bar:
        bar.set_postfix_str(f"{method} {mode} T={T}")
        spec = {
            "method": method,
            "mode": mode,
            "seq_len": T,
            "device": cfg.device,
            "dtype": cfg.dtype,
            "batch": cfg.batch,
            "heads": cfg.heads,
            "latents": cfg.latents,
            "head_dim": cfg.head_dim,
            "min_reps": cfg.min_reps,
            "budget_s": cfg.budget_s,
        }
        out = run_worker("latte_vt.bench.attention_worker", spec, cfg.tuned_malloc, cfg.case_timeout_s)
        results.append({"method": method, "mode": mode, "seq_len": T, **out})
    by_key = {(r["method"], r["mode"], r["seq_len"]): r for r in results}
    for r in results:
        if r["method"].startswith("latte"):
            rival = by_key[(dict(PAIRS)[r["method"]], r["mode"], r["seq_len"])]
            if "median_s" in r and "median_s" in rival:
                r["speedup"] = rival["median_s"] / r["median_s"]
            if r.get("peak_bytes") and rival.get("peak_bytes"):
                r["memory_ratio"] = rival["peak_bytes"] / r["peak_bytes"]
    payload = {
        "benchmark": "attention",
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config": {k: v for k, v in asdict(cfg).items() if k != "extra"},
        "environment": environment(cfg.device),
        "results": results,
        "goals": _goals(results, cfg.seq_lens),
    }
    markdown = render_markdown(payload)
    write_outputs(payload, markdown, json_path, md_path)
    print(markdown)
    return payload


def render_markdown(payload: dict) -> str:
    cfg, env = payload["config"], payload["environment"]
    by_key = {(r["method"], r["mode"], r["seq_len"]): r for r in payload["results"]}
    rows = []
    for latte, sdpa in PAIRS:
        for mode in cfg["modes"]:
            for T in cfg["seq_lens"]:
                a, b = by_key.get((latte, mode, T), {}), by_key.get((sdpa, mode, T), {})
                rows.append(
                    [
                        f"{latte.removeprefix('latte_')}",
                        mode.replace("_", "+"),
                        T,
                        fmt_seconds(a.get("median_s")),
                        fmt_seconds(b.get("median_s")),
                        fmt_ratio(a.get("speedup")),
                        fmt_bytes(a.get("peak_bytes")),
                        fmt_bytes(b.get("peak_bytes")),
                        a.get("error") or b.get("error") or "",
                    ]
                )
    table = markdown_table(
        [
            "attention",
            "pass",
            "T",
            "Latte (median)",
            "SDPA (median)",
            "SDPA / Latte",
            "Latte peak",
            "SDPA peak",
            "note",
        ],
        rows,
    )
    goals = "\n".join(
        f"- {'✅' if g['met'] else '❌'} {g['goal']}: " + ("n/a" if g["value"] is None else f"{g['value']:.2f}")
        for g in payload["goals"]
    )
    return (
        f"# Attention benchmark ({env['device']})\n\n"
        f"B={cfg['batch']}, H={cfg['heads']}, L={cfg['latents']}, Dh={cfg['head_dim']}, {cfg['dtype']}; "
        f"torch {env['torch']}, {env['cpu_count']} CPUs ({env['torch_threads']} threads)"
        f"{', ' + env['gpu'] if 'gpu' in env else ''}; created {payload['created']}.\n"
        f"Each case runs in a fresh process (same allocator settings for both: tuned malloc = "
        f"{cfg['tuned_malloc']}); times are medians of the timed runs after a warm-up; peak memory is the "
        f"extra peak over the inputs.\n\n{table}\n\n## Goals\n\n{goals or '- (none at these lengths)'}\n"
    )

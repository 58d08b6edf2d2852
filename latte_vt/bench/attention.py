"""``latte-vt bench attention``: Latte (bidirectional, causal) vs PyTorch SDPA (full, causal).

Same inputs and allocator settings for every contestant.  On CPU each case runs in a fresh worker
(honest resident-set peak); on CUDA each method runs in one worker, timed with CUDA events, and the
contestants are Latte through the Triton kernels and through plain torch, SDPA (flash attention)
and, when ``fla`` is installed, its ``chunk_gla`` / ``chunk_linear_attn``.  Median time, peak
memory and the SDPA / method ratio per T, plus the issue's goals, pass or fail.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from tqdm import tqdm

from latte_vt.bench.measure import run_worker
from latte_vt.bench.report import (
    RunInfo,
    environment,
    fmt_bytes,
    fmt_ratio,
    fmt_seconds,
    markdown_table,
    write_outputs,
)

MODES = ("forward", "forward_backward")
FULL_LENGTHS = (1024, 4096, 16384, 65536)
QUICK_LENGTHS = (1024, 4096)
CUDA_LENGTHS = (16384, 65536)
CUDA_QUICK_LENGTHS = (4096, 16384)
#: attention kind -> (contestants, the SDPA rival they are compared with), per device type.
SUITES = {
    "cpu": {
        "causal": (("latte_causal",), "sdpa_causal"),
        "bidirectional": (("latte_bidirectional",), "sdpa_full"),
    },
    "cuda": {
        "causal": (
            ("latte_causal_triton", "latte_causal_torch", "fla_chunk_gla", "fla_chunk_linear_attn"),
            "sdpa_causal",
        ),
        "bidirectional": (("latte_bidirectional_triton", "latte_bidirectional_torch"), "sdpa_full"),
    },
}
LABELS = {
    "latte_causal": "Latte",
    "latte_bidirectional": "Latte",
    "latte_causal_triton": "Latte (Triton)",
    "latte_causal_torch": "Latte (torch)",
    "latte_bidirectional_triton": "Latte (Triton)",
    "latte_bidirectional_torch": "Latte (torch)",
    "sdpa_causal": "SDPA causal",
    "sdpa_full": "SDPA full",
    "fla_chunk_gla": "fla chunk_gla",
    "fla_chunk_linear_attn": "fla chunk_linear_attn",
}


@dataclass
class AttentionBenchConfig:
    """Options of ``latte-vt bench attention`` (CPU defaults B=1, H=4, L=64, Dh=64, float32)."""

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


def default_config(device: str, quick: bool = False) -> AttentionBenchConfig:
    """The issue's shapes per device: CPU as before; CUDA B=2, H=8, L=Dh=64, bfloat16, T = 16k and 64k."""
    cpu = AttentionBenchConfig(device=device)
    if not device.startswith("cuda"):
        return replace(cpu, seq_lens=QUICK_LENGTHS, min_reps=1, budget_s=2.0) if quick else cpu
    cuda = replace(
        cpu, dtype="bfloat16", batch=2, heads=8, seq_lens=CUDA_LENGTHS, min_reps=10, budget_s=1.0, case_timeout_s=60.0
    )
    return replace(cuda, seq_lens=CUDA_QUICK_LENGTHS, budget_s=0.3) if quick else cuda


def suite(device: str) -> dict[str, tuple[tuple[str, ...], str]]:
    return SUITES["cuda" if device.startswith("cuda") else "cpu"]


def _worker_groups(cfg: AttentionBenchConfig) -> list[list[dict]]:
    """Cases per worker process: one each on CPU, one method's cases on CUDA (the first contestant
    and SDPA of every kind first, so a run cut short still has the headline figures)."""
    kinds = suite(cfg.device).values()
    methods = [m for contestants, rival in kinds for m in (contestants[0], rival)]
    methods += [m for contestants, _ in kinds for m in contestants[1:]]
    cases = [{"method": m, "mode": mode, "seq_len": T} for m in methods for T in cfg.seq_lens for mode in cfg.modes]
    if not cfg.device.startswith("cuda"):
        return [[case] for case in cases]
    return [[c for c in cases if c["method"] == m] for m in methods]


def _versions() -> dict:
    """Versions of the kernel packages the figures depend on (absent ones say so)."""
    out = {}
    for name, dist in (("triton", "triton"), ("fla", "flash-linear-attention")):
        try:
            out[name] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _find(results: list[dict], method: str, mode: str, T: int) -> dict:
    return next((r for r in results if (r["method"], r["mode"], r["seq_len"]) == (method, mode, T)), {})


def _goal(text: str, value: float | None, met: bool, unit: str) -> dict:
    return {"goal": text, "value": value, "unit": unit, "met": value is not None and met}


def _peak_goal(results: list[dict], method: str, mode: str, lengths: tuple[int, ...]) -> list[dict]:
    if 16384 not in lengths or 65536 not in lengths:
        return []
    p16, p64 = (_find(results, method, mode, T).get("peak_bytes") for T in (16384, 65536))
    value = p64 / p16 if p16 and p64 else None
    text = f"{method} {mode.replace('_', '+')} peak memory at 64k <= 4.5x its peak at 16k (linear in T)"
    return [_goal(text, value, value is not None and value <= 4.5, "x")]


def _cpu_goals(results: list[dict], lengths: tuple[int, ...]) -> list[dict]:
    goals = []
    for method, T, target in (
        ("latte_causal", 16384, 8),
        ("latte_causal", 65536, 30),
        ("latte_bidirectional", 16384, 8),
    ):
        if T in lengths:
            value = _find(results, method, "forward", T).get("speedup")
            text = f"{method} forward >= {target}x faster than SDPA at T={T}"
            goals.append(_goal(text, value, value is not None and value >= target, "x"))
    return goals + _peak_goal(results, "latte_causal", "forward", lengths)


def _cuda_goals(results: list[dict], lengths: tuple[int, ...]) -> list[dict]:
    """Issue 7: causal fwd+bwd at 16k <= 1.8 ms and >= 2.5x SDPA, at 64k >= 6x SDPA; bidirectional
    fwd+bwd at 16k <= 1.0 ms; peak memory linear in T."""
    fb, goals = "forward_backward", []
    for method, T, limit_ms in (("latte_causal_triton", 16384, 1.8), ("latte_bidirectional_triton", 16384, 1.0)):
        if T in lengths:
            median = _find(results, method, fb, T).get("median_s")
            value = None if median is None else median * 1e3
            goals.append(
                _goal(
                    f"{method} fwd+bwd at T={T} <= {limit_ms} ms", value, value is not None and value <= limit_ms, "ms"
                )
            )
    for T, target in ((16384, 2.5), (65536, 6.0)):
        if T in lengths:
            value = _find(results, "latte_causal_triton", fb, T).get("speedup")
            text = f"latte_causal_triton fwd+bwd >= {target}x faster than SDPA causal at T={T}"
            goals.append(_goal(text, value, value is not None and value >= target, "x"))
    for method in ("latte_causal_triton", "latte_bidirectional_triton"):
        goals += _peak_goal(results, method, fb, lengths)
    return goals


def run_attention_bench(cfg: AttentionBenchConfig, json_path: Path, md_path: Path) -> dict:
    """Run every case, print and write the table; return the JSON payload.

    The JSON and Markdown are rewritten after every worker, so a run cut short keeps what it measured.
    """
    run = RunInfo.start()
    groups = _worker_groups(cfg)
    common = {k: v for k, v in asdict(cfg).items() if k not in ("seq_lens", "modes", "extra")}
    env = {**environment(cfg.device), **_versions()}
    results: list[dict] = []
    bar = tqdm(total=sum(len(g) for g in groups), desc="bench attention", unit="case")
    for group in groups:
        first = group[0]
        bar.set_postfix_str(f"{first['method']} {'' if len(group) > 1 else first['mode']} T={first['seq_len']}")
        spec = {**common, "cases": group}
        out = run_worker("latte_vt.bench.attention_worker", spec, cfg.tuned_malloc, cfg.case_timeout_s * len(group))
        results += out["results"] if "results" in out else [{**case, **out} for case in group]
        bar.update(len(group))
        payload = _payload(cfg, env, results)
        write_outputs(payload, render_markdown(payload), json_path, md_path, run)
    bar.close()
    print(render_markdown(payload))
    return payload


def _payload(cfg: AttentionBenchConfig, env: dict, results: list[dict]) -> dict:
    """The JSON payload: config, environment, results with SDPA ratios, and the goals."""
    for contestants, rival in suite(cfg.device).values():
        for r in results:
            sdpa = _find(results, rival, r["mode"], r["seq_len"])
            if r["method"] in contestants and "median_s" in r and "median_s" in sdpa:
                r["speedup"] = sdpa["median_s"] / r["median_s"]
                if r.get("peak_bytes") and sdpa.get("peak_bytes"):
                    r["memory_ratio"] = sdpa["peak_bytes"] / r["peak_bytes"]
    goals = _cuda_goals if cfg.device.startswith("cuda") else _cpu_goals
    return {
        "benchmark": "attention",
        "config": {k: v for k, v in asdict(cfg).items() if k != "extra"},
        "environment": env,
        "results": results,
        "goals": goals(results, cfg.seq_lens),
    }


def render_markdown(payload: dict) -> str:
    cfg, env, results = payload["config"], payload["environment"], payload["results"]
    rows = []
    for kind, (contestants, rival) in suite(cfg["device"]).items():
        for mode in cfg["modes"]:
            for T in cfg["seq_lens"]:
                for method in (*contestants, rival):
                    r = _find(results, method, mode, T)
                    note = r.get("error") or r.get("skipped") or ""
                    ratio = 1.0 if method == rival and "median_s" in r else r.get("speedup")
                    rows.append(
                        [kind, mode.replace("_", "+"), T, LABELS[method], fmt_seconds(r.get("median_s")),
                         fmt_ratio(ratio), fmt_bytes(r.get("peak_bytes")), note]
                    )  # fmt: skip
    table = markdown_table(["attention", "pass", "T", "method", "median", "SDPA / method", "peak memory", "note"], rows)
    goals = "\n".join(
        f"- {'✅' if g['met'] else '❌'} {g['goal']}: "
        + ("n/a" if g["value"] is None else f"{g['value']:.2f}{' ms' if g.get('unit') == 'ms' else ''}")
        for g in payload["goals"]
    )
    if cfg["device"].startswith("cuda"):
        where = f"{env.get('gpu', cfg['device'])}; torch {env['torch']}, triton {env['triton']}, fla {env['fla']}"
        how = (
            "timed with CUDA events (L2 flushed before each run) after a warm-up, each method in its own worker; "
            "SDPA picks its fastest kernel (flash attention for bfloat16)"
        )
    else:
        where = f"torch {env['torch']}, {env['cpu_count']} CPUs ({env['torch_threads']} threads)"
        how = f"each case in a fresh process (same allocator settings for all: tuned malloc = {cfg['tuned_malloc']})"
    return (
        f"# Attention benchmark ({env['device']})\n\n"
        f"B={cfg['batch']}, H={cfg['heads']}, L={cfg['latents']}, Dh={cfg['head_dim']}, {cfg['dtype']}; {where}.\n"
        f"Times are medians of the timed runs, {how}; peak memory is the extra peak over the inputs; "
        f"SDPA / method > 1 means the method is faster than SDPA.\n\n"
        f"{table}\n\n## Goals\n\n{goals or '- (none at these lengths)'}\n"
    )

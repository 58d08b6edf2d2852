"""``latte-vt bench readme``: the README's headline figures, generated from the benchmark JSON files.

The block between ``<!-- headline:start -->`` and ``<!-- headline:end -->`` holds one bullet per report in
``REPORTS`` that exists, every figure read from its JSON and every bullet naming its run (date, commit, load).
A report without a JSON file has no bullet: a figure with no JSON behind it is not quoted.
"""

from __future__ import annotations

import difflib
import json
import textwrap
from collections.abc import Callable
from pathlib import Path

from latte_vt.bench.attention import suite
from latte_vt.bench.report import LOADED, load_from_others
from latte_vt.errors import InputError

START, END = "<!-- headline:start -->", "<!-- headline:end -->"
MODEL_NAMES = {"patch": "PatchTokenizer + Latte", "frame": "FrameTokenizer + Latte", "softmax": "softmax encoder"}


def _sig(x: float) -> str:
    """Three significant digits with a k/M suffix: 16476.9 -> 16.5k, 5275328 -> 5.28M, 181.5 -> 182."""
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if x >= scale:
            return f"{x / scale:.3g}{suffix}"
    return f"{x:.3g}"


def _time(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    return f"{seconds * 1e3:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def _pct(x: float) -> str:
    return f"{x * 100:.1f} %"


def _gib(n_bytes: int) -> str:
    return f"{n_bytes / 2**30:.1f} GiB"


def _tokens(T: int) -> str:
    return f"{T // 1024}k" if T % 1024 == 0 else str(T)


def _legacy_run(payload: dict) -> dict:
    """What a report written before the run record existed kept: its date and the load it noted (transactions:
    1, 5 and 15-minute averages at start and end; video, pipelines, live: the 1-minute one at start)."""
    env, results = payload.get("environment", {}), payload.get("results")
    places = [payload, results if isinstance(results, dict) else {}]
    keys = ("load_average_start", "load_average_1m_at_start")
    one_minute = next((place[k] for place in places for k in keys if k in place), None)
    return {
        "date": payload.get("created"),
        "git_commit": None,
        "load_average_at_start": env.get("load_average_at_start") or (None if one_minute is None else [one_minute]),
        "load_average_at_end": env.get("load_average_at_end"),
    }


def provenance(payload: dict) -> str:
    """The run a report came from, e.g. "run of 2026-12-01, commit 0ae8998, 1-min load 0.4 at the start, 0.6 at
    the end", from its run record."""
    run = payload.get("run") or _legacy_run(payload)
    date = f"run of {run['date'][:10]}" if run["date"] else "date not recorded"
    if run["git_commit"] is None:
        commit = "commit not recorded"
    else:
        commit = f"commit {run['git_commit'][:7]}{' (dirty tree)' if run.get('git_dirty') else ''}"
    loads = {when: run[f"load_average_at_{when}"] for when in ("start", "end") if run.get(f"load_average_at_{when}")}
    load = ", ".join(f"{avg[0]:.1f} at the {when}" for when, avg in loads.items())
    load = f"1-min load {load}" if loads else "load not recorded"
    if "own_load_at_end" in run:
        load += f" ({run['own_load_at_end']:.1f} of it the run's own)"
    others = load_from_others(run) if len(loads) == 2 else max((avg[0] for avg in loads.values()), default=0.0)
    if others > LOADED:
        load += ": a loaded machine"
    return f"{date}, {commit}, {load}"


def _ratio(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0f}×"


def _attention(p: dict) -> str:
    device, lengths = p["config"]["device"], sorted(p["config"]["seq_lens"])[-2:]
    kinds = suite(device)
    causal, rival, bidi = kinds["causal"][0][0], kinds["causal"][1], kinds["bidirectional"][0][0]

    def find(method: str, T: int) -> dict:
        hits = [r for r in p["results"] if (r["method"], r["mode"], r["seq_len"]) == (method, "forward", T)]
        return hits[0] if hits else {}

    def each(method: str, key: str, fmt: Callable[[float | None], str]) -> str:
        return " / ".join(fmt(find(method, T).get(key)) for T in lengths)

    text = (
        f"attention on {device} ({provenance(p)}), causal forward at T = {' / '.join(map(_tokens, lengths))}: "
        f"Latte {each(causal, 'median_s', _time)} vs SDPA {each(rival, 'median_s', _time)} "
        f"({each(causal, 'speedup', _ratio)}); bidirectional forward at {_tokens(lengths[0])}: "
        f"{_ratio(find(bidi, lengths[0]).get('speedup'))}"
    )
    peaks = [find(causal, T).get("peak_bytes") for T in lengths]
    if len(lengths) == 2 and all(peaks):
        text += (
            f"; Latte's peak memory {_tokens(lengths[1])} / {_tokens(lengths[0])} = {peaks[1] / peaks[0]:.1f} "
            f"(T × {lengths[1] // lengths[0]})"
        )
    return text + "."


def _video(p: dict) -> str:
    cfg, models, big = p["config"], p["models"], p["encoder"][-1]
    chance = 1 / p["num_classes"]
    tops = ", ".join(f"{MODEL_NAMES[kind]} {_pct(r['val_top1'])}" for kind, r in models.items())
    text = (
        f"video ({p['num_classes']} synthetic classes, {cfg['num_frames']} frames at {cfg['size']} px, trained from "
        f"scratch in one {p['total_s'] / 60:.1f}-min run; {provenance(p)}): val top-1 {tops}"
    )
    if "patch" in models:
        text += (
            f"; on frame-shuffled clips the patch model scores {_pct(models['patch']['shuffled_top1'])} "
            f"(chance {_pct(chance)}, goal ≤ {_pct(chance + 0.15)})"
        )
    return text + (
        f". Encoder at {_tokens(big['tokens'])} tokens: Latte {_time(big['latte']['median_s'])} vs softmax "
        f"{_time(big['softmax']['median_s'])} ({big['softmax_over_latte_time']:.0f}×)."
    )


def _transactions(p: dict) -> str:
    d, cfg, models = p["data"], p["config"], p["models"]
    names = {"latte": "Latte", "gru": "GRU", "gbdt": "gradient-boosted trees"}
    aps = ", ".join(f"{names[n]} {r['ap']:.3f}" for n, r in models.items())
    spreads = ", ".join(
        f"{names[n]} {min(r['ap_by_seed'].values()):.3f}–{max(r['ap_by_seed'].values()):.3f}" for n, r in models.items()
    )
    best_baseline = max(r["ap"] for n, r in models.items() if n != "latte")
    latte_seeds = models["latte"]["ap_by_seed"].values()
    margin, spread = p["ap_latte"] - best_baseline, max(latte_seeds) - min(latte_seeds)
    goal = (
        f"met, by {margin:.3f} ({'less' if margin < spread else 'more'} than Latte's seed spread {spread:.3f})"
        if p["goal_latte_ap_ge_best_baseline"]
        else f"not met, by {-margin:.3f}"
    )
    long = p["long_account"][-1]
    return (
        f"transactions ({_sig(d['events'])} events, {cfg['accounts']:,} accounts, {d['test_positives']} test frauds; "
        f"median AP of {cfg['seeds']} seeds, each model at its best-validation epoch; one {p['total_s'] / 60:.1f}-min "
        f"run; {provenance(p)}): {aps} — goal "
        f"(Latte ≥ the best baseline) {goal}; per-seed ranges {spreads}. One {_sig(long['events'])}-event account "
        f"scored in one pass: {_time(long['seconds'])}, {_gib(long['peak_bytes'])}.{_scoring_speed(p)}"
    )


def _scoring_speed(p: dict) -> str:
    """Latte's scoring speed against the GRU's (the reports that measured both under the same settings)."""
    if "latte_vs_gru_scoring" not in p:
        return ""
    latte, gru = (p["models"][n]["score_events_per_s"] for n in ("latte", "gru"))
    return f" Scoring: Latte {_sig(latte)} events/s vs GRU {_sig(gru)} ({p['latte_vs_gru_scoring']:.2f}×)."


def _onnx(p: dict) -> str:
    s, v = p["transactions"]["streaming"], p["video"]
    video_ratio = p.get("ort_vs_torch_video_batch1", p.get("ort_vs_torch_batch1"))  # the older reports' key
    return (
        f"ONNX / streaming ({provenance(p)}): `step.onnx` {_sig(s['step_events_per_s'])} events/s vs "
        f"{_sig(s['window_reencode_events_per_s'])} events/s re-encoding a {s['window']}-event window "
        f"({p['stream_vs_window_reencode']:.0f}×); video batch 1, p50: onnxruntime "
        f"{_time(v['onnxruntime_fp32_batch1']['p50_ms'] / 1e3)} vs torch eager "
        f"{_time(v['torch_eager_batch1']['p50_ms'] / 1e3)} ({video_ratio:.2f}×)"
        + (f", batch 8: {p['ort_vs_torch_video_batch8']:.2f}×" if "ort_vs_torch_video_batch8" in p else "")
        + (
            f"; full-history transactions: onnxruntime {p['ort_vs_torch_tx_full_history']:.2f}× torch eager."
            if "ort_vs_torch_tx_full_history" in p
            else "."
        )
    )


def _live(p: dict) -> str:
    r = p["results"]
    return (
        f"live scoring ({provenance(p)}): `latte-vt stream` {_sig(r['stream_events_per_s'])} events/s (p50 / p99 "
        f"{r['stream_p50_ms']:.3g} / {r['stream_p99_ms']:.3g} ms per event, micro-batched, durable state), "
        f"one event at a time {_sig(r['stream_single_events_per_s'])} events/s (p99 {r['stream_single_p99_ms']:.2g} "
        f"ms); `serve` (4 clients) {_sig(r['serve_requests_per_s'])} requests/s, p50 / p99 {r['serve_p50_ms']:.3g} / "
        f"{r['serve_p99_ms']:.3g} ms per request; the model alone (`step.onnx`) "
        f"{_sig(r['model_only_events_per_s'])} events/s; re-encoding each history instead: "
        f"{_sig(r['window_reencode_events_per_s'])} events/s."
    )


def _pipelines(p: dict) -> str:
    tx, videos = p["transactions"], p["videos"]
    local, one_shot = tx["pipeline_local"], tx["one_shot"]
    notes = [f"{tx['pipeline_vs_one_shot']:.2f}× the one-shot `score`"]
    if local["peak_rss_bytes"] and one_shot["peak_rss_bytes"]:
        notes[0] += f", {_gib(local['peak_rss_bytes'])} vs {_gib(one_shot['peak_rss_bytes'])} peak"
    if p.get("model_only_events_per_s"):
        notes.append(f"the model alone {_sig(p['model_only_events_per_s'])} events/s")
    if p.get("one_account_peak_rss_mib"):
        notes.append(
            f"one account of {_sig(p['one_account_events'])} events scored in {p['one_account_peak_rss_mib']:.0f} "
            "MiB peak"
        )
    return (
        f"batch jobs ({provenance(p)}): `latte-vt run` {_sig(p['batch_events_per_s'])} events/s over "
        f"{_sig(tx['events'])} events ({'; '.join(notes)}); classify {p['classify_clips_per_s']:.3g} clips/s over "
        f"{videos['clips']:,} clips ({videos['pipeline_vs_one_shot']:.2f}× the one-shot `classify`)."
    )


def _long_video(p: dict) -> str:
    cfg, models, t = p["config"], p["models"], p["step_time_4k"]
    long, short = models["latte_long"], models["latte_16f"]
    big = [r for r in p["encoder"] if r["mode"] == "forward_backward"][-1]
    softmax_big = _time(big["softmax"]["median_s"]) if "median_s" in big["softmax"] else "did not finish"
    growth = p["latte_memory_growth"]
    return (
        f"long video ({p['num_classes']} classes decided by the order of brief events in {cfg['video_frames']}-frame "
        f"clips; every model {cfg['steps']:,} steps; {provenance(p)}): val top-1 Latte on all frames "
        f"({long['tokens']:,} tokens) {_pct(long['val_top1'])}, on 16 uniform frames {_pct(short['val_top1'])} "
        f"(chance {_pct(p['chance'])}), softmax on all frames {_pct(models['softmax_long']['val_top1'])}; training "
        f"step at {t['latte']['tokens']:,} tokens: Latte {t['latte']['step_ms']:.0f} ms vs softmax "
        f"{t['softmax']['step_ms']:.0f} ms ({t['softmax_over_latte']:.1f}×); encoder forward+backward at "
        f"{_tokens(big['tokens'])} tokens: Latte {_time(big['latte'].get('median_s'))} vs softmax {softmax_big}"
        + ("." if growth is None else f"; Latte's peak memory grows {growth:.2f}× the frame ratio.")
    )


#: report file stem -> its bullet, in README order
REPORTS: dict[str, Callable[[dict], str]] = {
    "attention-cpu": _attention,
    "attention-cuda": _attention,
    "video-cpu": _video,
    "transactions-cpu": _transactions,
    "onnx-cpu": _onnx,
    "live-cpu": _live,
    "pipelines-cpu": _pipelines,
    "long-video-cpu": _long_video,
}


def headline_block(bench_dir: Path) -> str:
    """The marked block: one wrapped bullet per report whose JSON is in ``bench_dir``."""
    bullets = [
        textwrap.fill(
            bullet(json.loads(path.read_text())),
            110,
            initial_indent="* ",
            subsequent_indent="  ",
            break_on_hyphens=False,
        )
        for stem, bullet in REPORTS.items()
        if (path := bench_dir / f"{stem}.json").is_file()
    ]
    return "\n".join([START, *bullets, END])


def with_headline(readme: str, bench_dir: Path) -> str:
    """``readme`` with its marked block replaced by the one the JSON files give."""
    start, end = readme.find(START), readme.find(END)
    if start < 0 or end < start:
        raise InputError(f"the README has no headline block: {START} ... {END}")
    return readme[:start] + headline_block(bench_dir) + readme[end + len(END) :]


def update_readme(readme_path: Path, bench_dir: Path, check: bool) -> int:
    """Rewrite the README's headline block (0), or with ``check`` print the diff and return 1 when it differs."""
    old = readme_path.read_text()
    new = with_headline(old, bench_dir)
    if new == old:
        print(f"{readme_path}: headline figures match {bench_dir}/*.json")
        return 0
    if check:
        diff = difflib.unified_diff(old.splitlines(True), new.splitlines(True), str(readme_path), f"from {bench_dir}")
        print("".join(diff), end="")
        return 1
    readme_path.write_text(new)
    print(f"{readme_path}: headline figures rewritten from {bench_dir}/*.json")
    return 0

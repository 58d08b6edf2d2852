"""Timing and peak-memory measurement, each case in a fresh worker process.

A fresh process per case makes the peak-memory figure honest (nothing cached from an earlier
case) and lets both contestants run under the same allocator settings.  On CPU the peak is the
resident-set high-water mark above the baseline after the inputs exist (Linux /proc); on CUDA it
is ``torch.cuda.max_memory_allocated`` above the baseline.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

#: glibc malloc settings for the workers: keep freed memory for reuse instead of returning every
#: large tensor to the OS and page-faulting it back in (PyTorch's CPU tuning guide recommends a
#: caching allocator for the same reason).  Applied to every contestant alike.
TUNED_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "68719476736"}


def _status_kb(field: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    match = re.search(rf"{field}:\s+(\d+) kB", text)
    return int(match.group(1)) if match else None


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_memory_of(fn: Callable[[], object], device: str) -> tuple[float, int | None]:
    """Run ``fn`` once; return (seconds, peak extra bytes or None where it cannot be measured)."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        return time.perf_counter() - start, torch.cuda.max_memory_allocated() - base
    base = _status_kb("VmRSS")
    can_reset = _reset_peak_rss()
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    peak = _status_kb("VmHWM")
    if base is None or peak is None or not can_reset:
        return seconds, None
    return seconds, max(peak - base, 0) * 1024


def time_fn(fn: Callable[[], object], device: str, first: float, min_reps: int, budget_s: float) -> list[float]:
    """Timed runs after a warm-up: at least ``min_reps`` while they fit ``budget_s``, at least one.

    When the warm-up run alone took more than the budget, it is the single sample.  CUDA devices
    are timed with CUDA events (``time_cuda``).
    """
    if device.startswith("cuda"):
        return time_cuda(fn, min_reps, budget_s)
    if first > budget_s:
        return [first]
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(times) < min_reps or (time.perf_counter() < deadline and len(times) < 50):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        if time.perf_counter() > deadline and len(times) >= 1:
            break
    return times


def time_cuda(fn: Callable[[], object], min_reps: int, budget_s: float, max_reps: int = 200) -> list[float]:
    """Seconds per run from CUDA events, as ``triton.testing.do_bench`` does it: estimate one run,
    warm up for ~10 % of the budget, then time each run alone with the L2 cache flushed before it."""
    import torch

    flush = torch.empty(256 * 2**20, dtype=torch.int8, device="cuda")  # larger than any L2
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(3):
        fn()
    end.record()
    torch.cuda.synchronize()
    estimate = max(start.elapsed_time(end) / 3e3, 1e-6)  # seconds per run
    reps = int(min(max_reps, max(min_reps, budget_s / estimate)))
    for _ in range(max(1, reps // 10)):
        fn()
    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(reps)]
    for run_start, run_end in events:
        flush.zero_()
        run_start.record()
        fn()
        run_end.record()
    torch.cuda.synchronize()
    return [run_start.elapsed_time(run_end) / 1e3 for run_start, run_end in events]


def run_worker(module: str, spec: dict, tuned_malloc: bool, timeout_s: float) -> dict:
    """Run ``python -m module '<spec json>'`` in a fresh process and return its JSON result
    (``{"error": ...}`` when it times out or exits without one)."""
    env = dict(os.environ)
    if tuned_malloc:
        env.update(TUNED_MALLOC_ENV)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", module, json.dumps(spec)],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:.0f} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"error": f"worker exited {proc.returncode}: {' | '.join(tail)}"}
    return json.loads(lines[-1])


def summarize(times: list[float]) -> dict:
    return {"median_s": statistics.median(times), "min_s": min(times), "samples": len(times)}

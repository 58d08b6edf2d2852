"""Run the Triton kernel checks (``triton_checks.py``) on CPU under the Triton interpreter.

``TRITON_INTERPRET=1`` only works when set before ``triton`` is imported, so the checks run in a
fresh Python process; nothing leaks into this test session.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

CHECKS = Path(__file__).with_name("triton_checks.py")
pytestmark = pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed")


def run_checks(marker: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TRITON_INTERPRET": "1", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [sys.executable, "-m", "pytest", str(CHECKS), "-q", "-p", "no:cacheprovider", "-m", marker]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)


def assert_passed(proc: subprocess.CompletedProcess) -> None:
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    assert proc.returncode == 0, f"{summary}\n{proc.stdout[-8000:]}\n{proc.stderr[-2000:]}"
    assert " passed" in summary and "skipped" not in summary, summary


def test_kernels_match_reference_under_interpreter():
    assert_passed(run_checks("not slow and not gpu"))


@pytest.mark.slow
def test_kernels_match_reference_under_interpreter_slow_cases():
    assert_passed(run_checks("slow and not gpu"))

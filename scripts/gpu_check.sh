#!/usr/bin/env bash
# The GPU check of the Triton fast path (issue 7), in one call: the GPU tests, then the CUDA
# attention benchmark.  Run from the repository root on a CUDA machine:
#
#     OUT=/some/folder scripts/gpu_check.sh
#
# Python: $PYTHON if set, else .venv/bin/python when it sees a GPU, else python3 (a machine image
# with torch + triton; the repository is put on PYTHONPATH, nothing is installed).
# Everything goes to $OUT (default ./gpu-check): summary.txt, one log per step, attention-cuda.json
# and attention-cuda.md.  Each step has its own time limit (about 7.5 minutes in all), so a hang
# costs one step, not the whole budget; the exit status is non-zero if any step failed.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
OUT="${OUT:-$PWD/gpu-check}"
mkdir -p "$OUT"

if [ -n "${PYTHON:-}" ]; then
    PY="$PYTHON"
elif [ -x .venv/bin/python ] && .venv/bin/python -c "import torch, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
    PY=.venv/bin/python
else
    PY=python3
fi

failed=0
# step NAME LIMIT_SECONDS COMMAND...: run with a time limit, log to $OUT/NAME.log, summarise.
step() {
    local name=$1 limit=$2
    shift 2
    echo "== $name (limit ${limit}s): $(echo "$*" | head -n 1)" | tee -a "$OUT/summary.txt"
    local start=$SECONDS
    timeout --kill-after=15 "$limit" "$@" >"$OUT/$name.log" 2>&1
    local rc=$?
    [ "$rc" -eq 124 ] && echo "   TIMED OUT" | tee -a "$OUT/summary.txt"
    echo "   exit $rc after $((SECONDS - start)) s; last lines:" | tee -a "$OUT/summary.txt"
    tail -n 8 "$OUT/$name.log" | sed 's/^/   | /' | tee -a "$OUT/summary.txt"
    [ "$rc" -eq 0 ] || failed=1
}

step environment 30 bash -c "nvidia-smi; $PY - <<'EOF'
import importlib.metadata as md, torch
print('python torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))
for name in ('triton', 'flash-linear-attention', 'pytest', 'hypothesis'):
    try:
        print(name, md.version(name))
    except md.PackageNotFoundError:
        print(name, 'not installed')
EOF"
# tests/attention holds the GPU tests of this path; other test folders import packages
# (polars, decord, ...) that a bare GPU image may lack.
step gpu-tests 210 "$PY" -m pytest -m gpu -x -v -p no:cacheprovider tests/attention
if grep -q " skipped" "$OUT/gpu-tests.log"; then  # a skipped GPU test is not a pass here
    echo "   GPU tests were SKIPPED (no CUDA device or no triton?)" | tee -a "$OUT/summary.txt"
    failed=1
fi
step bench-attention 240 "$PY" -m latte_vt.cli bench attention --device cuda --json "$OUT/attention-cuda.json"
if [ -s "$OUT/attention-cuda.md" ]; then  # measured figures (complete or partial) replace the placeholder
    cp "$OUT/attention-cuda.json" "$OUT/attention-cuda.md" benchmarks/
fi

echo "== done: $([ "$failed" -eq 0 ] && echo all steps passed || echo SOME STEPS FAILED); files in $OUT" | tee -a "$OUT/summary.txt"
exit "$failed"

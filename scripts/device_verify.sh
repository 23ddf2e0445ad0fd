#!/usr/bin/env bash
# The verification call before resolving kernel issues: the whole GPU test suite (pytest -m gpu, the
# 2**32 cast sweep against fp8ref included) and compute-sanitizer memcheck/racecheck on quantize and GEMM.
# Usage on the device: bash scripts/device_verify.sh   (logs under $OUT; a summary is printed last)
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 FP8CUDA_HYPOTHESIS_PROFILE=device
PY=python3
{ date -u; nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader;
  $PY -c "import torch, cupy; print('torch', torch.__version__, 'cupy', cupy.__version__)"; } > "$OUT/env.log" 2>&1
timeout ${TEST_TIMEOUT:-420} $PY -m pytest -m gpu -p no:cacheprovider -q -rfEs --durations=8 > "$OUT/gpu_tests.log" 2>&1
echo "pytest -m gpu rc=$?" >> "$OUT/summary.txt"
for target in scripts/sanitize_quantize.py scripts/sanitize_gemm.py; do
  for tool in memcheck racecheck; do
    log="$OUT/$(basename $target .py)-$tool.log"
    timeout ${SAN_TIMEOUT:-90} compute-sanitizer --tool $tool --report-api-errors no --error-exitcode 9 $PY $target > "$log" 2>&1
    echo "$tool $(basename $target) rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$log" | tail -1)" >> "$OUT/summary.txt"
  done
done
cat "$OUT/env.log"; grep -E "passed|failed|error" "$OUT/gpu_tests.log" | tail -3; grep -E "s call" "$OUT/gpu_tests.log" | head -8
grep -E "^(FAILED|ERROR)" "$OUT/gpu_tests.log" | head -20
cat "$OUT/summary.txt"

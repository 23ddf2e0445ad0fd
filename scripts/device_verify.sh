#!/usr/bin/env bash
# The verification call before resolving kernel issues: the whole GPU test suite (pytest -m gpu, the
# 2**32 cast sweep against fp8ref included), the Numba prototypes on the real GPU, and compute-sanitizer
# memcheck/racecheck on quantize and GEMM. SKIP_GPU_TESTS=1 skips the first step; PYTEST_WORKERS=N runs the
# suite in N pytest-xdist processes (kernel compilation is most of its time; the disk cache is shared);
# SKIP_SANITIZERS=1 skips compute-sanitizer.
# Usage on the device: bash scripts/device_verify.sh   (logs under $OUT; a summary is printed last)
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 FP8CUDA_HYPOTHESIS_PROFILE=device PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=python3
{ date -u; nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader;
  $PY -c "import torch, cupy; print('torch', torch.__version__, 'cupy', cupy.__version__)"; } > "$OUT/env.log" 2>&1
if [ "${SKIP_GPU_TESTS:-0}" != 1 ]; then
  $PY -m fp8cuda.bench_gemm --precompile > "$OUT/precompile.log" 2>&1  # the GEMM instances, 8 compilers at once
  timeout ${TEST_TIMEOUT:-420} $PY -m pytest -m gpu -p no:cacheprovider -q -rfEs --durations=8 \
    ${PYTEST_WORKERS:+-n $PYTEST_WORKERS} > "$OUT/gpu_tests.log" 2>&1
  echo "pytest -m gpu rc=$?" >> "$OUT/summary.txt"
fi
# No GPU marker on the prototypes: they run in the simulator on CPU machines and for real here.
timeout ${NUMBA_TIMEOUT:-240} $PY -m pytest tests/cuda/test_numba_proto.py -p no:cacheprovider -q -rfEs > "$OUT/numba.log" 2>&1
echo "numba prototypes on the GPU rc=$? $(tail -n 1 "$OUT/numba.log")" >> "$OUT/summary.txt"
[ "${SKIP_SANITIZERS:-0}" = 1 ] && SAN_TARGETS="" || SAN_TARGETS="scripts/sanitize_quantize.py scripts/sanitize_gemm.py"
for target in $SAN_TARGETS; do
  for tool in memcheck racecheck; do
    log="$OUT/$(basename $target .py)-$tool.log"
    timeout ${SAN_TIMEOUT:-90} compute-sanitizer --tool $tool --report-api-errors no --error-exitcode 9 $PY $target > "$log" 2>&1
    rc=$?
    verdict=$(grep -E "ERROR SUMMARY|RACECHECK SUMMARY" "$log" | tail -n 1)
    grep -q "sanitizer target done" "$log" || verdict="TARGET DID NOT FINISH"
    echo "$tool $(basename $target) rc=$rc ${verdict:-no summary line}" >> "$OUT/summary.txt"
  done
done
cat "$OUT/env.log"; [ -f "$OUT/gpu_tests.log" ] && grep -E "passed|failed|error" "$OUT/gpu_tests.log" | tail -n 3
grep -hE "^(FAILED|ERROR)" "$OUT"/gpu_tests.log "$OUT"/numba.log 2>/dev/null | head -20
cat "$OUT/summary.txt"
# At most 8 files come back from a device call: the logs travel as one archive (the summary beside it).
(cd "$OUT" && tar czf logs.tgz *.log && rm -f *.log)

#!/usr/bin/env bash
# One device call for the quantize work: environment check, GPU tests, benchmark, compute-sanitizer.
# Run from the repository root on the GPU machine: bash scripts/device_quantize.sh
# Logs go to $OUT (default /tmp/fp8_out); the last lines printed are a short summary.
set -u
OUT=${OUT:-/tmp/fp8_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD" FP8CUDA_CACHE_DIR=/tmp/fp8cuda_cache FP8CUDA_HYPOTHESIS_PROFILE=device
PY=python3
T0=$(date +%s)
stage() { echo "== $1 ($(( $(date +%s) - T0 )) s)"; }

stage env
$PY - <<'PY' 2>&1 | tee "$OUT/env.log"
import importlib, numpy as np
for m in ("cupy", "cuda.bindings", "numba", "numba_cuda", "torch", "triton", "ml_dtypes", "hypothesis"):
    try:
        mod = importlib.import_module(m); print(m, getattr(mod, "__version__", "?"))
    except Exception as e:
        print(m, "MISSING", e)
import cupy, ml_dtypes
print("device", cupy.cuda.runtime.getDeviceProperties(0)["name"], "cc", cupy.cuda.Device().compute_capability)
try:
    a = cupy.zeros(4, np.uint16).view(ml_dtypes.bfloat16); print("cupy bf16 view ok", a.dtype)
except Exception as e:
    print("cupy bf16 view FAILED", e)
PY

stage tests
timeout ${TEST_TIMEOUT:-185} $PY -m pytest -p no:cacheprovider -q -s -rfEs \
  tests/cuda/test_loader.py tests/cuda/test_quantize_gpu.py tests/cuda/test_quantize_args.py tests/cuda/test_numba_proto.py \
  > "$OUT/tests.log" 2>&1
echo "pytest rc=$?"
grep -E "HW cvt" "$OUT/tests.log" | head -4
tail -n 25 "$OUT/tests.log"

stage bench
timeout ${BENCH_TIMEOUT:-170} $PY -m fp8cuda.bench quantize --markdown "$OUT/benchmarks.md" --json "$OUT/bench.json" --variants \
  > "$OUT/bench.log" 2>&1
echo "bench rc=$?"
grep -E "x |copy|Geometric|variants" "$OUT/bench.log" | grep -v "^|" | head -20

for tool in memcheck racecheck; do
  stage "sanitizer $tool"
  timeout ${SAN_TIMEOUT:-40} compute-sanitizer --tool $tool --error-exitcode 9 $PY scripts/sanitize_quantize.py \
    > "$OUT/$tool.log" 2>&1
  echo "$tool rc=$?"; tail -n 3 "$OUT/$tool.log"
done

stage summary
echo "tests: $(tail -n 1 "$OUT/tests.log")"
grep -E "Geometric" "$OUT/bench.log" | head -1
echo "memcheck: $(grep -E 'ERROR SUMMARY' "$OUT/memcheck.log" | tail -1)"
echo "racecheck: $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' "$OUT/racecheck.log" | tail -1)"

#!/usr/bin/env bash
# One device call for the quantize work: environment check, GPU tests, benchmark, compute-sanitizer.
# Run from the repository root on the GPU machine: bash scripts/device_quantize.sh
# Logs go to $OUT (default /tmp/fp8_out); the last lines printed are a short summary.
# TUNE=1: first `python -m fp8cuda.bench quantize --tune` (rewrites quantize.PIPE_STAGES here; the file is
# copied to $OUT/quantize.py.tuned), so the tests and the table use the tuned choice. FULL_SANITIZE=1: also
# run scripts/sanitize_quantize.py under the sanitizers (the pipelined kernel always is). EXTRA_TESTS: more
# pytest paths. *_TIMEOUT: per-stage limits in seconds.
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

nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,clocks.mem,power.draw,temperature.gpu --format=csv 2>&1 | tee -a "$OUT/env.log"

if [ -n "${TUNE:-}" ]; then  # choose quantize.PIPE_STAGES here first; the tests and the table then use it
  stage tune
  timeout ${TUNE_TIMEOUT:-120} $PY -m fp8cuda.bench quantize --tune > "$OUT/tune.log" 2>&1
  echo "tune rc=$?"; grep -E "^tune" "$OUT/tune.log"
  cp fp8cuda/quantize.py "$OUT/quantize.py.tuned"
fi

stage tests
timeout ${TEST_TIMEOUT:-185} $PY -m pytest -p no:cacheprovider -q -s -rfEs -x \
  tests/cuda/test_quantize_gpu.py tests/cuda/test_loader.py tests/cuda/test_quantize_args.py ${EXTRA_TESTS:-} \
  > "$OUT/tests.log" 2>&1
echo "pytest rc=$?"
grep -E "HW cvt" "$OUT/tests.log" | head -4
tail -n 25 "$OUT/tests.log"

stage bench
timeout ${BENCH_TIMEOUT:-170} $PY -m fp8cuda.bench quantize --markdown "$OUT/benchmarks.md" --json "$OUT/bench.json" --variants \
  > "$OUT/bench.log" 2>&1
echo "bench rc=$?"
grep -E "variants" "$OUT/bench.log" | cut -c1-500

# The persistent pipelined kernel under the sanitizers: forced on few rows with a grid of 2, so each block
# loops over several rows and every shared-memory stage is refilled (bf16, K = 8192 and 53248; num_tokens).
cat > /tmp/sanitize_pipe.py <<'PY'
import cupy, ml_dtypes, numpy as np
import fp8cuda
from fp8cuda import quantize as Q
Q.PIPE_MIN_ROWS_PER_SM, Q.PIPE_GRID_LIMIT, Q.pipe_stages = 0, 2, Q.default_pipe_stages
rng = np.random.default_rng(0)
for shape in ((9, 8192), (5, 53248), (7, 4096)):
    x = cupy.asarray(rng.standard_normal(shape).astype(ml_dtypes.bfloat16))
    fp8cuda.quantize_fp8_per_row(x)
    fp8cuda.quantize_fp8_per_row(x, 1.0, cupy.asarray([3], np.int64))
    fp8cuda.quantize_fp8_per_row(x, stochastic_rounding=True, seed=3)
cupy.cuda.Device().synchronize()
print("OK")
PY
for tool in memcheck racecheck; do
  stage "sanitizer $tool"
  timeout ${SAN_TIMEOUT:-40} compute-sanitizer --tool $tool --error-exitcode 9 $PY /tmp/sanitize_pipe.py \
    > "$OUT/$tool.pipe.log" 2>&1
  echo "$tool pipe rc=$?"; tail -n 2 "$OUT/$tool.pipe.log"
  if [ -n "${FULL_SANITIZE:-}" ]; then
    timeout ${SAN_TIMEOUT:-40} compute-sanitizer --tool $tool --error-exitcode 9 $PY scripts/sanitize_quantize.py \
      > "$OUT/$tool.log" 2>&1
    echo "$tool rc=$?"; tail -n 3 "$OUT/$tool.log"
  fi
done

stage summary
echo "tests: $(tail -n 1 "$OUT/tests.log")"
[ -f "$OUT/tune.log" ] && grep -E "^tune: wrote" "$OUT/tune.log"
grep -E "^copy bandwidth" "$OUT/bench.log" | head -1
grep -E "^ +[0-9]+ x [0-9]+ +ours" "$OUT/bench.log"
grep -E "Geometric" "$OUT/bench.log" | head -1
echo "memcheck pipe: $(grep -E 'ERROR SUMMARY' "$OUT/memcheck.pipe.log" | tail -1)"
echo "racecheck pipe: $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' "$OUT/racecheck.pipe.log" | tail -1)"

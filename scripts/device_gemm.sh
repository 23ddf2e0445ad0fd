#!/usr/bin/env bash
# One device call for the FP8 GEMM (issue 4): probe, build, correctness, sanitizers, timing.
# Usage (on the device machine, repo root): bash scripts/device_gemm.sh [quick|full|tests|bench|final|pingpong|schedules|
#   profile|variants]
#   quick: tests + sanitizers + 9-shape benchmark with tile variants; full: tests + all 63 shapes
#   (table also written as $OUT/benchmarks.md, the GEMM section for docs/benchmarks.md);
#   tests: no timing; bench: all 63 shapes only; final: quick + Nsight Compute speed-of-light;
#   pingpong: tests + sanitizers + 9 shapes timing cooperative vs ping-pong vs torch in the same rounds,
#   then all 63 shapes if the time budget still allows; schedules: tests + sanitizers + all 63 shapes
#   timing the default and the alternative schedules / cluster sizes in the same rounds; profile: fixed
#   M, N with K swept (scripts/gemm_k_sweep.py: per-K vs fixed time, ours and torch) + Nsight Compute
#   warp-stall sampling per SASS instruction of our kernel and cuBLAS's warp states at 4096 x 28672 x 4096;
#   variants: tests + sanitizers + scripts/gemm_variants.py (its checks, then its variants on the 9 quick shapes);
#   exp: the GPU tests matching PYTEST_K (default: overlap) + gemm_variants.py as in variants, no sanitizers.
# Every step's time limit is clipped to a whole-script budget (BUDGET_S, default 400 s), so the script
# ends inside the device call's limit. Logs go to $OUT (or ./.out); a short summary is printed last.
set -u -o pipefail
MODE=${1:-quick}
T_START=$(date +%s); BUDGET_S=${BUDGET_S:-400}
left() { echo $(( BUDGET_S - ($(date +%s) - T_START) )); }
OUT=${OUT:-./.out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 FP8CUDA_CACHE_DIR=/tmp/fp8cuda-cache PYTHONPATH=$PWD FP8CUDA_HYPOTHESIS_PROFILE=device
PY=python3
SUMMARY="$OUT/summary.txt"; : > "$SUMMARY"
note() { echo "$*" | tee -a "$SUMMARY"; }
step() {  # step NAME TIMEOUT CMD...: run with a time limit, log to $OUT/NAME.log, record status
  local name=$1 t=$2; shift 2
  local l=$(( $(left) - 5 ))
  if [ $l -lt 10 ]; then note "[$name] skipped: script budget spent"; return 124; fi
  [ $t -gt $l ] && t=$l
  local t0=$(date +%s)
  timeout "$t" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  note "[$name] rc=$rc $(( $(date +%s) - t0 ))s :: $(tail -n 1 "$OUT/$name.log" | cut -c1-160)"
  return $rc
}

note "date $(date -u +%FT%TZ) mode=$MODE"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv,noheader | tee -a "$SUMMARY"
$PY - <<'PY' 2>&1 | tee -a "$SUMMARY"
import cupy, torch, numpy, ml_dtypes
print("cupy", cupy.__version__, "torch", torch.__version__, "numpy", numpy.__version__)
try:
    import cuda.bindings, cuda.bindings.driver as d
    print("cuda-bindings", cuda.bindings.__version__)
except Exception as e:
    print("cuda-bindings MISSING", e)
from fp8cuda.gemm import bf16_cupy_dtype
print("cupy bf16 storage dtype:", bf16_cupy_dtype())
PY

# 1. build every kernel instance in parallel (loader disk cache)
step precompile 150 $PY -m fp8cuda.bench_gemm --precompile

# 2. smoke: one small GEMM per launch path, with tails, under a short time limit (a hang shows here)
SMOKE_S=120; [ -n "${SKIP_SMOKE:-}" ] && SMOKE_S=1  # SKIP_SMOKE=1: experiments that test what they change
step smoke $SMOKE_S $PY - <<'PY'
import numpy as np, cupy as cp
from fp8cuda import gemm
from fp8ref.testing import assert_gemm_within_bound
rng = np.random.default_rng(0)
fin = np.array([c for c in range(256) if c & 0x7F != 0x7F], np.uint8)
C = gemm.GemmConfig
for mode in ("cupy", "driver"):
    for (m, n, k, fast, cfg) in [(200, 300, 528, True, C(128, 256, 4, 1)), (200, 300, 528, True, C(128, 256, 4, 2)),
                                 (200, 300, 528, True, C(64, 256, 5, 2, pingpong=True)),
                                 (1300, 700, 784, True, C(128, 128, 6, 2, pingpong=True)),
                                 (700, 300, 784, False, C(64, 192, 6, 2, pingpong=True)),
                                 (3000, 3000, 784, True, C(64, 256, 5, 4, pingpong=True)),
                                 (1000, 3000, 528, True, C(128, 256, 4, 4)), (1000, 3000, 528, False, C(128, 192, 5, 4)),
                                 (200, 300, 528, True, None), (200, 300, 528, False, None), (1, 1, 16, True, None),
                                 (1000, 3000, 1024, True, None)]:
        gemm._launch_mode = mode
        xq, wq = rng.choice(fin, (m, k)), rng.choice(fin, (n, k))
        xs = (rng.random(m) * 1e-2 + 1e-3).astype(np.float32); ws = (rng.random(n) * 1e-2 + 1e-3).astype(np.float32)
        out = cp.full((m, n), np.nan, cp.float32)
        print(mode, (m, n, k, fast), cfg, end=" ", flush=True)
        gemm.f8f8bf16_rowwise(*map(cp.asarray, (xq, wq, xs, ws)), use_fast_accum=fast, out=out, output_dtype=np.float32, config=cfg)
        cp.cuda.runtime.deviceSynchronize()
        print("->", gemm._launch_mode, end=" ")
        assert_gemm_within_bound(out.get(), xq, wq, xs, ws, use_fast_accum=fast, output_dtype=np.float32)
        print("ok")
print("smoke ok")
PY
SMOKE=$?; [ -n "${SKIP_SMOKE:-}" ] && SMOKE=0

if [ "$MODE" = exp ] && [ $SMOKE -eq 0 ]; then  # variants first: their precompile also builds the tests' instances
  step variants 200 $PY scripts/gemm_variants.py --precompile --check --quick --rounds 3 --json "$OUT/variants.json"
  step pytest 150 $PY -m pytest tests/cuda/test_gemm.py -q -x -rf -p no:cacheprovider --hypothesis-seed=0 -o addopts="" \
       -k "${PYTEST_K:-overlap}"
  [ -n "${TRACE_CONFIGS:-}" ] && step trace 90 $PY scripts/gemm_trace.py 4096,28672,4096 8192,8192,8192 \
       $(for c in $TRACE_CONFIGS; do echo --config $c; done) --json "$OUT/trace.json"
fi
if [ "$MODE" != bench ] && [ "$MODE" != profile ] && [ "$MODE" != exp ] && [ $SMOKE -eq 0 ]; then
  # 3. correctness suite (GPU tests + offline SASS tests)
  step pytest 230 $PY -m pytest tests/cuda/test_gemm.py -q -x -rf -p no:cacheprovider \
       --hypothesis-seed=0 -o addopts="" 
  # 4. sanitizers on shapes with tails
  cat > /tmp/san.py <<'PY'
import numpy as np, cupy as cp
from fp8cuda import gemm
rng = np.random.default_rng(1)
pp = lambda bn, cm: gemm.GemmConfig(64, bn, 4, cm, 8, pingpong=True)
for fn, cfg in ((gemm.f8f8bf16_rowwise, None), (gemm.f8f8bf16_rowwise_simple, None),
                (gemm.f8f8bf16_rowwise, pp(128, 2)), (gemm.f8f8bf16_rowwise, pp(128, 4)),
                (gemm.f8f8bf16_rowwise, gemm.GemmConfig(128, 128, 4, 4))):
    for (m, n, k, fast) in [(65, 130, 144, True), (129, 257, 528, False), (1, 1, 16, True), (4480, 256, 784, False),
                            (4480, 256, 272, True)]:
        xq = cp.asarray(rng.integers(0, 0x7E, (m, k), dtype=np.uint8)); wq = cp.asarray(rng.integers(0, 0x7E, (n, k), dtype=np.uint8))
        kw = {"config": cfg} if cfg else {}
        fn(xq, wq, cp.ones(m, cp.float32), cp.ones(n, cp.float32), bias=cp.ones(n, cp.float32), use_fast_accum=fast, **kw)
# deferred epilogue through TMA stores (fast, bf16, N % 8 == 0, several tiles per block, K of 2 and 3
# blocks); ping-pong 128-row tiles
for cfg, fast in ((gemm.GemmConfig(128, 256, 4, 2, 3), True), (gemm.GemmConfig(128, 128, 4, 2, 3, pingpong=True), True),
                  (gemm.GemmConfig(128, 64, 4, 2, 3, pingpong=True), False)):
    for (m, n, k) in [(4480, 2056, 272), (4480, 2056, 144)]:
        xq = cp.asarray(rng.integers(0, 0x7E, (m, k), dtype=np.uint8)); wq = cp.asarray(rng.integers(0, 0x7E, (n, k), dtype=np.uint8))
        gemm.f8f8bf16_rowwise(xq, wq, cp.ones(m, cp.float32), cp.ones(n, cp.float32), bias=cp.ones(n, cp.float32),
                              use_fast_accum=fast, config=cfg)
cp.cuda.runtime.deviceSynchronize(); print("sanitizer target done")
PY
  step memcheck 120 compute-sanitizer --tool memcheck --report-api-errors no --error-exitcode 9 $PY /tmp/san.py
  step racecheck 150 compute-sanitizer --tool racecheck --report-api-errors no --error-exitcode 9 $PY /tmp/san.py
fi

if [ "$MODE" != tests ] && [ "$MODE" != profile ] && [ $SMOKE -eq 0 ]; then
  # 5. timing vs torch._scaled_mm, same inputs, one process
  if [ "$MODE" = full ] || [ "$MODE" = bench ]; then BARGS="--markdown $OUT/benchmarks.md"; else BARGS="--quick --variants"; fi
  if [ "$MODE" = final ]; then BARGS="--quick --variants --rounds 2"; fi
  if [ "$MODE" = pingpong ]; then BARGS="--quick --schedules --variants --rounds 3"; fi
  if [ "$MODE" = schedules ]; then BARGS="--schedules --rounds 2 --rep 30 --markdown $OUT/benchmarks.md"; fi
  if [ "$MODE" = exp ]; then
    :  # done above
  elif [ "$MODE" = variants ]; then
    step variants 330 $PY scripts/gemm_variants.py --precompile --check --quick --rounds 3 --json "$OUT/variants.json"
  else
    step bench 330 $PY -m fp8cuda.bench_gemm $BARGS --json "$OUT/bench.json"
  fi
  if [ "$MODE" = pingpong ] && [ "$(left)" -gt 110 ]; then
    cp "$OUT/bench.log" "$OUT/bench_quick.log"
    step bench_full 330 $PY -m fp8cuda.bench_gemm --rounds 2 --markdown "$OUT/benchmarks.md" --json "$OUT/bench_full.json"
  fi
fi

if [ "$MODE" = final ] && [ $SMOKE -eq 0 ]; then
  # 6. Nsight Compute speed-of-light of our kernel and cuBLAS's on 8192^3 and 4096 x 28672 x 4096
  step ncu 120 ncu --clock-control none --profile-from-start off --section SpeedOfLight --section MemoryWorkloadAnalysis \
       --csv --page details python3 scripts/ncu_gemm_target.py 8192,8192,8192 4096,28672,4096
fi

if [ "$MODE" = profile ] && [ $SMOKE -eq 0 ]; then
  step ksweep 200 $PY scripts/gemm_k_sweep.py --rounds 3 --json "$OUT/ksweep.json"
  NCU="ncu --clock-control none --profile-from-start off --section SpeedOfLight --section WarpStateStats --section SchedulerStats --section SourceCounters --section MemoryWorkloadAnalysis"
  for who in ours cublas; do
    [ $who = ours ] && K=regex:sm90_fp8 || K=regex:nvjet
    step ncu_$who 90 $NCU -k $K --export "$OUT/$who" --force-overwrite $PY scripts/ncu_gemm_target.py 4096,28672,4096
    step ncu_${who}_details 30 ncu --import "$OUT/$who.ncu-rep" --page details --print-details all
    step ncu_${who}_raw 30 ncu --import "$OUT/$who.ncu-rep" --page raw --csv
    step ncu_${who}_sass 60 ncu --import "$OUT/$who.ncu-rep" --page source --print-source sass --csv
    step stalls_$who 30 $PY scripts/ncu_sass_summary.py "$OUT/ncu_${who}_sass.log" --top 45
    step stalls_${who}_raw 30 $PY scripts/ncu_sass_summary.py --raw "$OUT/ncu_${who}_raw.log"
    rm -f "$OUT/$who.ncu-rep"
  done
  for f in "$OUT"/stalls_*.log; do echo "==== $f"; cut -c1-150 "$f" | head -c 3500; done
fi

echo; echo "==== failures (pytest) ===="; grep -E "^(FAILED|ERROR)|Error|assert" "$OUT/pytest.log" 2>/dev/null | head -20
echo "==== sanitizer ===="; grep -E "ERROR SUMMARY|RACECHECK SUMMARY|Invalid|Race" "$OUT"/memcheck.log "$OUT"/racecheck.log 2>/dev/null | head -10
echo "==== bench (quick) ===="; sed -n '/^ *M /,$p' "$OUT/bench_quick.log" 2>/dev/null
echo "==== bench ===="; sed -n '/^ *M /,$p' "$OUT/bench.log" 2>/dev/null
echo "==== variants ===="; grep -v "^precompiled\|^check" "$OUT/variants.log" 2>/dev/null
echo "==== trace ===="; cat "$OUT/trace.log" 2>/dev/null
echo "==== bench (full) ===="; sed -n '/^ *M /,$p' "$OUT/bench_full.log" 2>/dev/null | tail -n 3
echo "==== summary ===="; cat "$SUMMARY"
# At most 8 files come back from a device call: the logs travel as one archive.
(cd "$OUT" && ls *.log >/dev/null 2>&1 && tar czf logs.tgz *.log && rm -f *.log)

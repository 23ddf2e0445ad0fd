#!/usr/bin/env bash
# One device call for the decode benchmark (issue 5): the M = 1..128 sweep over the twelve Llama-3 weight shapes
# and the 32-layer Llama-3-8B decode step, fp8cuda vs torch._scaled_mm, timed as CUDA-graph replays with
# rotated weights (fp8cuda/bench_decode.py). Run from the repository root on the GPU machine:
#   OUT=/path/to/out PYTHONPATH=$PWD bash scripts/device_decode.sh [--quick] [more `bench decode` options]
# Writes $OUT/decode.json (rewritten after every case: a cut-off run keeps its rows), $OUT/decode.md (the
# docs/benchmarks.md section), $OUT/decode.png and the log $OUT/decode.log; prints a short summary at the end.
# Extra arguments go to `python -m fp8cuda bench decode` (e.g. --m 1 16, --models 8B, --no-step, --step-only,
# --rounds 5). DECODE_TIMEOUT: limit in seconds for the benchmark (default 480).
#
# Run time on an H200 (estimate): full sweep 96 cases x (2 captures + 3 rounds x 2 graphs x ~25 ms of replays)
# ~ 0.3-0.5 s each = 30-50 s (the event-timed quick sweep of 2026-11-22 took 15 s
# for 48 cases); weights made once per
# shape (12 x <= 3.5 GB, clones); decode step ~5 s (7 GB of weights, ~2 ms per replay); ceilings ~5 s
# (1 GiB copies, 8192^3 matmul); Python/CUDA start ~20 s; NVRTC compilation of each kernel config the sweep
# selects, on a cold FP8CUDA_CACHE_DIR, ~10-30 s each (the bulk of an uncached run). Total ~2-4 min, inside the
# 480 s limit; --quick (M = 1, 8, 32, 128: 48 cases) roughly halves the sweep part.
set -u
OUT=${OUT:-/tmp/fp8_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="${PYTHONPATH:-$PWD}" FP8CUDA_CACHE_DIR=${FP8CUDA_CACHE_DIR:-/tmp/fp8cuda_cache}
PY=${PY:-python3}
LOG="$OUT/decode.log"
T0=$(date +%s)
stage() { echo "== $1 ($(( $(date +%s) - T0 )) s)" | tee -a "$LOG"; }

: > "$LOG"
stage env
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,clocks.mem,power.draw,temperature.gpu --format=csv 2>&1 | tee -a "$LOG"
$PY -c "import torch, cupy; print('torch', torch.__version__, 'cupy', cupy.__version__, torch.cuda.get_device_name(),
'L2', torch.cuda.get_device_properties(0).L2_cache_size)" 2>&1 | tee -a "$LOG"

PLOT=(--plot "$OUT/decode.png")
$PY -c "import matplotlib" 2>/dev/null || { PLOT=(); echo "no matplotlib: no plot (python -m fp8cuda plot $OUT/decode.json --out decode.png offline)" | tee -a "$LOG"; }

stage "bench decode $*"
timeout "${DECODE_TIMEOUT:-480}" $PY -m fp8cuda bench decode --json "$OUT/decode.json" --markdown "$OUT/decode.md" \
  "${PLOT[@]}" "$@" >> "$LOG" 2>&1
RC=$?
echo "bench decode rc=$RC (124: timed out; $OUT/decode.json keeps the rows measured)" | tee -a "$LOG"

stage summary
grep -E "^(ceilings|geomean|M <= |M = |decode step)" "$LOG" | cut -c1-400
grep -cE "FAILED" "$LOG" | sed 's/^/FAILED lines in the log: /'
grep -E "FAILED" "$LOG" | grep -v "^decode \[" | head -5
[ "$RC" -ne 0 ] && tail -n 3 "$LOG"
exit $RC

"""Hunt for nondeterminism in the GEMM kernels (notes-gemm.md, Next steps: the once-seen Hypothesis failure at
M = N = 129, K = 16, fp32 output, fast accumulation). The kernels are deterministic: the same inputs must give
bitwise the same output on every launch, whatever the timing. A race shows as a launch that differs from the
first; every distinct output is also checked against fp8ref's bound.

Usage (device): python scripts/stress_gemm_repeat.py [--repeats 400] [--seconds 60]
"""

from __future__ import annotations

import argparse
import time

import cupy as cp
import ml_dtypes
import numpy as np

from fp8cuda import gemm
from fp8ref.testing import assert_gemm_within_bound

# (M, N, K, fast, output dtype): the failing example first, then its neighbours across the launch paths
CASES = [(129, 129, 16, True, np.float32), (129, 129, 16, False, np.float32), (129, 129, 16, True, "bf16"),
         (129, 129, 32, True, np.float32), (130, 129, 16, True, np.float32), (257, 129, 16, True, np.float32),
         (129, 257, 144, True, np.float32), (1, 129, 16, True, np.float32), (65, 130, 144, True, np.float32),
         (600, 600, 4096, True, np.float32)]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=400)
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    fin = np.array([c for c in range(256) if c & 0x7F != 0x7F], np.uint8)
    bad = 0
    t_end = time.time() + args.seconds
    for (m, n, k, fast, od) in CASES:
        od = gemm.bf16_cupy_dtype() if od == "bf16" else od
        xq, wq = rng.choice(fin, (m, k)), rng.choice(fin, (n, k))
        xs = (rng.random(m) * 1e-2 + 1e-3).astype(np.float32)
        ws = (rng.random(n) * 1e-2 + 1e-3).astype(np.float32)
        args_d = [cp.asarray(a) for a in (xq, wq, xs, ws)]
        outs = [cp.full((m, n), np.nan, od) for _ in range(8)]  # rotate buffers: poisoned once, then reused
        first = None
        distinct = {}
        differ = 0
        reps = 0
        for i in range(args.repeats):
            o = outs[i % len(outs)]
            o.fill(np.nan)
            gemm.f8f8bf16_rowwise(*args_d, use_fast_accum=fast, out=o, output_dtype=od)
            h = o.view(cp.uint16 if o.dtype.itemsize == 2 else cp.uint32).get()
            if first is None:
                first = h
            elif not np.array_equal(h, first):
                differ += 1
            distinct.setdefault(h.tobytes(), h)
            reps += 1
            if time.time() > t_end:
                break
        for h in distinct.values():  # every distinct output against fp8ref
            try:
                y = h if h.dtype == np.uint16 else h.view(np.float32)  # uint16: bfloat16 bits
                assert_gemm_within_bound(y, xq, wq, xs, ws, use_fast_accum=fast,
                                         output_dtype=np.float32 if h.dtype == np.uint32 else ml_dtypes.bfloat16)
            except AssertionError as e:
                bad += 1
                print("   OUT OF BOUND:", str(e).splitlines()[0][:200])
        cfg = gemm.select_kernel(m, n, k, use_fast_accum=fast)
        print(f"{(m, n, k, fast, np.dtype(od).name)} {cfg}: {reps} launches, {differ} differ from the first, "
              f"{len(distinct)} distinct outputs", flush=True)
        bad += differ > 0
    print("stress done:", "FAIL" if bad else "all launches identical and within bound")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Does a kernel's measured speed depend on what ran before it? (issue 4, docs/notes-gemm.md "The harness")

``python scripts/gemm_clock_ab.py [--warmups 10,200] [--rounds 6] [--rep 30] [--json PATH]``
(run on H200 2026-12-01; bench_gemm now warms up 200 ms and draws its orders per shape, from this)

The H200's SM clock follows its power draw. A kernel timed right after a low-power one starts at a higher
clock, and do_bench's short warm-up does not let it settle. ``alternate_medians`` used the same shuffled
order for every shape, so a kernel could follow the same neighbours on every shape. Here: the quick shapes,
for each warm-up length (ms of the same kernel before its timed reps), ``--rounds`` rounds in an order drawn
per shape and round; nvidia-smi samples the SM clock and power every 20 ms (bench_gemm.ClockSampler, read
after the run so no timing waits for it), and every timed window gets the mean clock and power in it.
Prints per warm-up: geomean over torch of each kernel, and each kernel's mean clock and power. Benchmarks are not tests.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time

import numpy as np

from fp8cuda import gemm
from fp8cuda.bench_gemm import QUICK, ClockSampler, _inputs

KERNELS = {"coop256_f": ("128x256x4c2", True), "ov256_f": ("ov128x256x4c2", True),
           "coop192_s": ("128x192x5c2", False)}


def main(argv=None) -> int:
    import cupy as cp
    import torch
    from triton.testing import do_bench

    ap = argparse.ArgumentParser()
    ap.add_argument("--warmups", default="10,200")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--rep", type=int, default=30)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    clock = ClockSampler()
    windows = []  # (warmup, shape, key, round, t0, t1, ms)
    try:
        for (m, n, k) in QUICK:
            A, B, sa, sb, xq, wq, xs, ws = _inputs(torch, cp, m, n, k)
            calls = {key: gemm.make_plan(xq, wq, xs, ws, use_fast_accum=fast,
                                         config=gemm.GemmConfig.from_label(lab))
                     for key, (lab, fast) in KERNELS.items()}
            for fast in (True, False):
                calls[f"torch_{'f' if fast else 's'}"] = (lambda f=fast: torch._scaled_mm(
                    A, B.t(), scale_a=sa, scale_b=sb, out_dtype=torch.bfloat16, use_fast_accum=f))
            for f in calls.values():
                f()
            torch.cuda.synchronize()
            for w in map(int, a.warmups.split(",")):
                order = list(calls)
                for r in range(a.rounds):
                    random.Random(f"{m},{n},{k},{w},{r}").shuffle(order)
                    for key in order:
                        t0 = time.time()
                        ms = do_bench(calls[key], warmup=w, rep=a.rep, return_mode="median")
                        windows.append((w, (m, n, k), key, r, t0, time.time(), ms))
            print(f"{m},{n},{k} done", flush=True)
            del A, B, xq, wq, calls
            torch.cuda.empty_cache()
            cp.get_default_memory_pool().free_all_blocks()
    finally:
        time.sleep(0.2)
        clock.close()
    rows = []
    for (w, shape, key, r, t0, t1, ms) in windows:
        # the timed reps are the window's last rep ms (do_bench: warm-up first)
        mhz, watt = clock.mean(t1 - a.rep * 1e-3 - 0.02, t1)
        rows.append({"warmup": w, "shape": shape, "key": key, "round": r, "ms": ms, "mhz": mhz, "w": watt})
    out = {}
    for w in map(int, a.warmups.split(",")):
        med = {}
        for shape in QUICK:
            for key in list(KERNELS) + ["torch_f", "torch_s"]:
                v = sorted(x["ms"] for x in rows if x["warmup"] == w and x["shape"] == shape and x["key"] == key)
                med[(shape, key)] = v[len(v) // 2]
        parts = []
        for key in KERNELS:
            t = "torch_f" if key.endswith("_f") else "torch_s"
            g = math.exp(np.mean([math.log(med[(sh, t)] / med[(sh, key)]) for sh in QUICK]))
            parts.append(f"{key} {g:.3f}")
            out[f"w{w}_{key}_over_torch"] = g
        g = math.exp(np.mean([math.log(med[(sh, "coop256_f")] / med[(sh, "ov256_f")]) for sh in QUICK]))
        out[f"w{w}_ov_over_coop"] = g
        clocks = []
        for key in list(KERNELS) + ["torch_f", "torch_s"]:
            xs = [x for x in rows if x["warmup"] == w and x["key"] == key]
            mhz, watt = np.nanmean([x["mhz"] for x in xs]), np.nanmean([x["w"] for x in xs])
            clocks.append(f"{key} {mhz:.0f} MHz {watt:.0f} W")
        # run-to-run spread: per shape and kernel, (max - min) / median of the rounds
        spread = np.median([(max(v) - min(v)) / sorted(v)[len(v) // 2] for v in (
            [x["ms"] for x in rows if x["warmup"] == w and x["shape"] == sh and x["key"] == key]
            for sh in QUICK for key in list(KERNELS) + ["torch_f", "torch_s"])])
        print(f"warmup {w} ms: over torch: " + ", ".join(parts) + f"; overlap / cooperative {g:.3f}; "
              f"median round spread {spread:.1%}")
        print("  mean clock, power in the timed reps: " + "; ".join(clocks), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"summary": out, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

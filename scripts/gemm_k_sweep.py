"""Split the GEMM's time into a per-K part and a fixed part, for ours and torch._scaled_mm (issue 4).

``python scripts/gemm_k_sweep.py [--slow] [--rounds R] [--rep MS] [--warmup MS] [--json PATH]``

For fixed (M, N), time fast (``--slow``: slow) accumulation over K in KS (ours: select_config's choice;
torch: cuBLAS) in the same rounds, then fit t(K) = t0 + s * K by least squares. 2 M N / s is the main
loop's asymptotic rate (TFLOP/s, what an infinitely long K would run at); t0 is what every tile costs regardless of K
(prologue, epilogue, tile switch), reported in microseconds and, for ours, per tile of one block in units
of one tile's K-block main-loop time: a block advances all its tiles by one K block in s * 128, so one
tile's K block takes s * 128 / tiles_per_block and t0 / tiles_per_block is t0 / (s * 128) of them.
Benchmarks are not tests.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import numpy as np

MN = ((8192, 8192), (4096, 28672), (16384, 4096))
KS = (1024, 2048, 4096, 8192, 16384)


def _fit(ks, ts):
    s, t0 = np.polyfit(np.asarray(ks, float), np.asarray(ts, float), 1)
    resid = np.asarray(ts) - (t0 + s * np.asarray(ks))
    return float(t0), float(s), float(np.abs(resid).max() / np.mean(ts))


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--rep", type=int, default=30)
    p.add_argument("--json", default=None)
    p.add_argument("--slow", action="store_true", help="slow accumulation (ours and torch)")
    p.add_argument("--warmup", type=int, default=200,
                   help="ms of the same kernel before its timed reps (at the power limit the clock settles "
                        "slowly: with 10 ms the longer K ran slower for everyone, notes-gemm.md v21)")
    args = p.parse_args(argv)
    fast = not args.slow

    import cupy as cp
    import torch
    from triton.testing import do_bench

    from fp8cuda import gemm
    from fp8cuda.bench_gemm import _inputs

    sms = torch.cuda.get_device_properties(0).multi_processor_count
    rows, fits = [], []
    for (m, n) in MN:
        per = {"ours": [], "torch": []}
        cfgs = set()
        for k in KS:
            a, b, sa, sb, xq, wq, xs, ws = _inputs(torch, cp, m, n, k)
            plan = gemm.make_plan(xq, wq, xs, ws, use_fast_accum=fast)
            cfg = gemm.select_config(m, n, k, use_fast_accum=fast, num_sms=sms)
            cfgs.add(cfg)
            fns = {"ours": plan, "torch": lambda: torch._scaled_mm(a, b.t(), scale_a=sa, scale_b=sb,
                                                                   out_dtype=torch.bfloat16, use_fast_accum=fast)}
            ts = {lb: [] for lb in fns}
            for _ in range(args.rounds):
                for lb, f in fns.items():
                    ts[lb].append(do_bench(f, warmup=args.warmup, rep=args.rep, return_mode="median"))
            row = {"M": m, "N": n, "K": k, "config": cfg.label(), "fast": fast}
            for lb in fns:
                row[lb + "_ms"] = sorted(ts[lb])[args.rounds // 2]
                per[lb].append(row[lb + "_ms"])
            rows.append(row)
            print(f"{m},{n},{k}: ours {row['ours_ms'] * 1e3:.1f} us ({2e-9 * m * n * k / row['ours_ms']:.0f} TFLOP/s) "
                  f"torch {row['torch_ms'] * 1e3:.1f} us ({2e-9 * m * n * k / row['torch_ms']:.0f})", flush=True)
            del a, b, xq, wq, plan, fns
            torch.cuda.empty_cache()
            cp.get_default_memory_pool().free_all_blocks()
        (cfg,) = cfgs  # select_config does not depend on K for these shapes
        tiles = math.ceil(m / (cfg.block_m * cfg.cluster_m)) * math.ceil(n / cfg.block_n)
        per_block = math.ceil(tiles / (sms // cfg.cluster_m))
        for lb in per:
            t0, s, worst = _fit(KS, per[lb])
            fit = {"M": m, "N": n, "who": lb, "t0_us": t0 * 1e3, "rate_tflops": 2e-9 * m * n / s, "worst_resid": worst}
            if lb == "ours":
                fit["tiles_per_block"] = per_block
                fit["t0_per_tile_kblocks"] = t0 / (s * 128)
            fits.append(fit)
            print(f"fit {lb:5s} {m}x{n}: t0 {fit['t0_us']:.1f} us, main loop {fit['rate_tflops']:.0f} TFLOP/s, "
                  f"worst residual {worst:.1%}"
                  + (f", {per_block} tiles per block: {fit['t0_per_tile_kblocks']:.2f} K blocks per tile"
                     if lb == "ours" else ""), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "fits": fits, "ks": KS}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Experiment driver (issue 4): time explicit large-M GEMM kernel instances against torch in the same rounds.

``python scripts/gemm_variants.py [--quick | --shapes M,N,K ...] [--rounds R] [--rep MS] [--json PATH] [--check]``

Each variant is a (GemmConfig, use_fast_accum) pair; to time an experiment knob, add it as a template
parameter of the kernel and a field of GemmConfig for the run (v8, v9 in docs/notes-gemm.md; the v9 knobs
are on branch exp/gemm-v9-v12). ``--check`` first runs
every variant against fp8ref's bound on shapes with M, N and K tails and with many tiles per block. Then,
for every shape (bench_gemm's 63, or its 9 ``--quick`` ones), the variants and torch._scaled_mm (fast and
slow accumulation) alternate, in a different order each round and shape, over ``--rounds`` rounds of ``do_bench``
(``--warmup`` ms of the same kernel first); each
keeps its median. Prints
TFLOP/s per variant and the geomean of each over torch. Benchmarks are not tests: this picks heuristics.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import ml_dtypes
import numpy as np

from fp8cuda import gemm
from fp8cuda.bench_gemm import QUICK, _inputs, all_shapes, alternate_medians

C = gemm.GemmConfig


def _stages(bm, bn, pp):
    return gemm._max_stages(bm, bn, pp)


# label -> (config, fast); labels end in _f (fast accumulation) or _s (slow), the torch column they are divided by
VARIANTS = {
    "coop256_f": (C(128, 256, 4, 2), True),
    "ov256_f": (C(128, 256, 4, 2, overlap=True), True),
    "coop192_s": (C(128, 192, 5, 2), False),
}
# instances the GPU tests build besides the variants (precompiled in parallel with them)
TEST_INSTANCES = [(C(128, 256, 4, cm, overlap=True), True) for cm in (1, 2, 4)]


def _plan(xq, wq, xs, ws, variant, bias=None, out=None, out_dtype=ml_dtypes.bfloat16):
    cfg, fast = variant
    return gemm.make_plan(xq, wq, xs, ws, bias, fast, out, out_dtype, config=cfg)


def precompile(workers=8):
    import concurrent.futures as cf
    import multiprocessing as mp

    from fp8cuda.bench_gemm import _compile_one

    exprs = [("gemm_sm90.cu", gemm.kernel_name_expression(c, f, dt))
             for c, f in list(VARIANTS.values()) + TEST_INSTANCES
             for dt in (ml_dtypes.bfloat16, np.float32, np.float16) if not (c.overlap and dt == np.float32)]
    exprs = list(dict.fromkeys(exprs))
    t0 = time.time()
    with cf.ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as ex:
        list(ex.map(_compile_one, exprs))
    print(f"precompiled {len(exprs)} instances in {time.time() - t0:.1f} s", flush=True)


def check():
    """Every variant within fp8ref's bound (fp32 output, bias) on tails and on many tiles per block."""
    import cupy as cp

    from fp8cuda.testing import poisoned, random_operands
    from fp8ref.testing import assert_gemm_within_bound

    rng = np.random.default_rng(0)
    for label, v in VARIANTS.items():
        cfg = v[0]
        rows = cfg.block_m * (2 if cfg.pingpong else 1)
        # N % 8 == 0 with an N tail (vector stores: the deferred epilogue), N % 8 != 0 (scalar stores), K of
        # 1 and 3 K blocks (fewer than the deferred chunks), many tiles per block
        for (m, n, k, dt) in [(3 * rows + 5, 2 * cfg.block_n + 8, 528, ml_dtypes.bfloat16),
                              (3 * rows + 5, 2 * cfg.block_n + 8, 528, np.float32),
                              (3 * rows + 5, 2 * cfg.block_n + 3, 528, ml_dtypes.bfloat16),
                              (1000, 2000, 16, ml_dtypes.bfloat16), (1000, 2000, 272, np.float16),
                              (64 * 30 + 7, 256 * 4 + 8, 784, ml_dtypes.bfloat16),
                              (128 * 40 + 1, 128 * 9 + 8, 400, ml_dtypes.bfloat16)]:
            if cfg.overlap and gemm.overlap_supported(cfg, v[1], n, k, dt, 0) is not None:
                continue  # make_plan refuses an explicit overlap config there
            xq, wq, xs, ws, bias = random_operands(rng, m, n, k, bias=True)
            out = poisoned(cp, (m, n), dt)
            _plan(*map(cp.asarray, (xq, wq, xs, ws)), v, bias=cp.asarray(bias), out=out, out_dtype=dt)()
            assert_gemm_within_bound(out.get(), xq, wq, xs, ws, bias=bias, use_fast_accum=v[1], output_dtype=dt)
        print(f"check {label}: ok", flush=True)


def local_bytes(plan) -> int:
    """Local memory per thread of the plan's kernel as compiled on this machine (spills show here even
    when the offline NVRTC build has none: a different ptxas)."""
    from cuda.bindings import driver as cu

    err, v = cu.cuFuncGetAttribute(cu.CUfunction_attribute.CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES,
                                   cu.CUfunction(plan.kern.kernel.ptr))
    return int(v) if int(err) == 0 else -1


def _geomean(v):
    return math.exp(sum(math.log(x) for x in v) / len(v)) if v else float("nan")


def bench(shapes, rounds, rep, warmup=200):
    import cupy as cp
    import torch
    from triton.testing import do_bench

    rows = []
    for (m, n, k) in shapes:
        a, b, sa, sb, xq, wq, xs, ws = _inputs(torch, cp, m, n, k)
        flops = 2.0 * m * n * k
        plans = {label: _plan(xq, wq, xs, ws, v) for label, v in VARIANTS.items()}
        if not rows:
            print("local bytes per thread: " + ", ".join(f"{lb} {local_bytes(plans[lb])}" for lb in VARIANTS), flush=True)
        for fast in (True, False):
            plans[f"torch_{'f' if fast else 's'}"] = (lambda f=fast: torch._scaled_mm(
                a, b.t(), scale_a=sa, scale_b=sb, out_dtype=torch.bfloat16, use_fast_accum=f))
        ref = plans["torch_f"]().float()
        for p in plans.values():
            p()
        torch.cuda.synchronize()
        rel = {}
        for label in VARIANTS:
            got = torch.from_dlpack(plans[label].out).view(torch.bfloat16).float()
            rel[label] = ((got - ref).abs().max() / ref.abs().max()).item()
        med = alternate_medians(plans, rounds, lambda f: do_bench(f, warmup=warmup, rep=rep, return_mode="median"),
                                seed=(m, n, k))
        row = {"M": m, "N": n, "K": k, "maxrel": max(rel.values()),
               "configs": {label: cfg.label() for label, (cfg, _) in VARIANTS.items()}}
        for label, t in med.items():
            row[label] = flops / (t * 1e-3) / 1e12
        rows.append(row)
        print(f"{m},{n},{k}: " + " ".join(f"{lb}={row[lb]:.0f}" for lb in plans) + f" maxrel={row['maxrel']:.1e}",
              flush=True)
        del a, b, xq, wq, plans, ref
        torch.cuda.empty_cache()
        cp.get_default_memory_pool().free_all_blocks()
    parts = []
    for label in VARIANTS:
        t = "torch_f" if label.endswith("_f") else "torch_s"
        parts.append(f"{label} {_geomean([r[label] / r[t] for r in rows]):.3f}")
    print("geomean vs torch: " + ", ".join(parts))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--check", action="store_true")
    p.add_argument("--precompile", action="store_true")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--rep", type=int, default=30)
    p.add_argument("--warmup", type=int, default=200, help="ms of the same kernel before its timed reps")
    p.add_argument("--json", default=None)
    p.add_argument("--shapes", nargs="+", default=None, help="M,N,K ... instead of the benchmark's shapes")
    args = p.parse_args(argv)
    if args.precompile:
        precompile()
    if args.check:
        check()
    if args.json or not (args.precompile or args.check):
        shapes = [tuple(map(int, a.split(","))) for a in args.shapes] if args.shapes else None
        rows = bench(shapes or (list(QUICK) if args.quick else all_shapes()), args.rounds, args.rep, args.warmup)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

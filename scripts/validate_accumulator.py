"""Validate fp8ref's Hopper accumulator model (B1/B2 of docs/spec.md) against a real GPU.

torch._scaled_mm with unit tensor-wise scales and float32 output exposes the tensor-core accumulator
(cuBLAS, fast or slow accumulation). For each data kind and K, report the largest measured error over
fp8ref's bound (must be <= 1), the median relative error, and the same for the model's literal
emulation. Needs a CUDA GPU and PyTorch. Usage: python scripts/validate_accumulator.py [--json FILE]
"""

import argparse
import json
import sys
import time

import numpy as np
import torch

from fp8ref import E4M3FN, accumulation_error_bound, emulate_accumulator, encode, exact_dot


def make(rng, shape, kind):
    if kind == "randn":
        v = rng.standard_normal(shape)
    elif kind == "positive":
        v = rng.uniform(0, 2, shape)
    elif kind == "wide":
        v = rng.standard_normal(shape) * np.exp(rng.uniform(-8, 4, shape))
    else:  # "ones+tiny": a large same-sign sum with small addends, the swamping case
        v = np.where(rng.uniform(size=shape) < 0.5, 1.0, 2.0**-6)
    return encode(v.astype(np.float32), E4M3FN, saturate=True)


def gpu_acc(xq, wq, fast):
    a = torch.from_numpy(xq).cuda().view(torch.float8_e4m3fn)
    b = torch.from_numpy(wq).cuda().view(torch.float8_e4m3fn)
    one = torch.ones((), device="cuda")
    y = torch._scaled_mm(a, b.t(), scale_a=one, scale_b=one, out_dtype=torch.float32, use_fast_accum=fast)
    return y.double().cpu().numpy()


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    ap.add_argument("--m", type=int, default=128)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    rows = []
    print(f"device: {torch.cuda.get_device_name()}  torch {torch.__version__}  {time.strftime('%Y-%m-%d')}")
    print(f"{'data':10s} {'K':>6s} {'accum':5s} {'max err/bound':>13s} {'med rel err':>11s} "
          f"{'model max err/bound':>19s} {'med bound/|acc|':>15s}")
    for kind in ("randn", "positive", "wide", "ones+tiny"):
        for k in (512, 4096, 16384):
            m = n = args.m if k <= 4096 else args.m // 2
            xq, wq = make(rng, (m, k), kind), make(rng, (n, k), kind)
            acc = exact_dot(xq, wq)
            for fast in (True, False):
                got = gpu_acc(xq, wq, fast)
                bound = accumulation_error_bound(xq, wq, use_fast_accum=fast)
                err = np.abs(got - acc)
                ratio = np.where(bound > 0, err / np.where(bound > 0, bound, 1), np.where(err > 0, np.inf, 0))
                small = slice(0, 16)  # the emulation is O(M N K): a corner
                emu = emulate_accumulator(xq[small], wq[small], use_fast_accum=fast).astype(np.float64)
                emu_ratio = np.abs(emu - acc[small, small]) / np.maximum(bound[small, small], 1e-300)
                nz = np.abs(acc) > 0
                row = dict(kind=kind, k=k, fast=fast, max_ratio=float(ratio.max()),
                           med_rel_err=float(np.median(err[nz] / np.abs(acc[nz]))),
                           model_max_ratio=float(emu_ratio.max()),
                           med_bound_rel=float(np.median(bound[nz] / np.abs(acc[nz]))))
                rows.append(row)
                print(f"{kind:10s} {k:6d} {'fast' if fast else 'slow':5s} {row['max_ratio']:13.4f} "
                      f"{row['med_rel_err']:11.2e} {row['model_max_ratio']:19.4f} {row['med_bound_rel']:15.2e}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(device=torch.cuda.get_device_name(), date=time.strftime("%Y-%m-%d"), rows=rows), f)
    worst = max(r["max_ratio"] for r in rows)
    print(f"worst measured error / bound: {worst:.4f} ({'within' if worst <= 1 else 'VIOLATES'} the model bound)")
    return 0 if worst <= 1 else 1


if __name__ == "__main__":
    sys.exit(main())

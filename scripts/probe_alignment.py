"""Raw FP8 tensor-core accumulators for short K (one or two k32 MMA steps), for fitting the alignment rule of
fp8ref's accumulator model (docs/spec.md B1) offline.

Unit scales and float32 output make the output the accumulator itself, for ours (f8f8bf16_rowwise, fast
accumulation) and cuBLAS (torch._scaled_mm, tensor-wise scales). Rows mix three kinds of data (uniform over
the finite codes; normal; normal times a wide log-uniform factor), so that the largest product and the
product of the largest |x| and |w| often differ. Writes OUT/probe_alignment.npz (xq, wq: [512, 64] codes;
ours_kK / cublas_kK for K in 16, 32, 64, over the first K columns). ``--repro FILE.npz`` (xq, wq, x_scale,
w_scale) also runs that case 20 times and reports whether the outputs are bitwise equal (2026-12-02: the
600 x 248 x 16 GPU failure, deterministic). Result: tests/data/h200_fp8_accumulator.npz (a 64 x 64 corner).
``--long`` adds 128 x 128 x 4096 in both accumulation modes (2026-12-02: emulate_accumulator equals
cuBLAS unsplit and ours with gemm.k_split_for's split, every output, both modes; a 16 x 16 corner is in the
same data file). Usage (GPU): python scripts/probe_alignment.py OUT [--repro FILE.npz] [--long] [--simple]
"""

import argparse
import os

import cupy as cp
import numpy as np
import torch

from fp8cuda import gemm
from fp8ref import E4M3FN, encode

N, K = 512, 64
N_LONG, K_LONG = 128, 4096


def operands(rng, n=N, k=K):
    kind = rng.integers(0, 3, size=(n, 1))
    uniform = rng.integers(0, 256, size=(n, k)).astype(np.uint8)
    uniform[(uniform & 0x7F) == 0x7F] = 0x38  # no NaN codes
    normal = encode(rng.standard_normal((n, k)).astype(np.float32), E4M3FN, saturate=True)
    wide = encode((rng.standard_normal((n, k)) * np.exp(rng.uniform(-8, 4, (n, k)))).astype(np.float32),
                  E4M3FN, saturate=True)
    return np.where(kind == 0, uniform, np.where(kind == 1, normal, wide)).astype(np.uint8)


def ours(xq, wq, fast=True, fn=None):
    one_m, one_n = cp.ones(xq.shape[0], cp.float32), cp.ones(wq.shape[0], cp.float32)
    y = (fn or gemm.f8f8bf16_rowwise)(cp.asarray(xq), cp.asarray(wq), one_m, one_n, use_fast_accum=fast,
                                      output_dtype=np.float32)
    return cp.asnumpy(y)


def cublas(xq, wq, fast=True):
    a = torch.from_numpy(np.ascontiguousarray(xq)).cuda().view(torch.float8_e4m3fn)
    b = torch.from_numpy(np.ascontiguousarray(wq)).cuda().view(torch.float8_e4m3fn)
    one = torch.ones((), device="cuda")
    y = torch._scaled_mm(a, b.t(), scale_a=one, scale_b=one, out_dtype=torch.float32, use_fast_accum=fast)
    return y.cpu().numpy()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--repro")
    ap.add_argument("--simple", action="store_true", help="also the level-1 kernel (simple_kK, long_simple_*)")
    ap.add_argument("--long", action="store_true", help=f"also {N_LONG} x {N_LONG} x {K_LONG}, fast and slow "
                    "(long_xq, long_wq, long_{ours,cublas}_{fast,slow}): the model over 128 steps / 32 promotions")
    args = ap.parse_args()
    rng = np.random.default_rng(2026_12_02)
    xq, wq = operands(rng), operands(rng)
    res = dict(xq=xq, wq=wq)
    for k in (16, 32, 64):
        res[f"ours_k{k}"] = ours(xq[:, :k], wq[:, :k])
        res[f"cublas_k{k}"] = cublas(xq[:, :k], wq[:, :k])
        same = np.array_equal(res[f"ours_k{k}"].view(np.uint32), res[f"cublas_k{k}"].view(np.uint32))
        print(f"K={k}: ours and cuBLAS bitwise equal: {same}")
    if args.long:
        lx, lw = operands(rng, N_LONG, K_LONG), operands(rng, N_LONG, K_LONG)
        res.update(long_xq=lx, long_wq=lw)
        for fast in (True, False):
            tag = "fast" if fast else "slow"
            res[f"long_ours_{tag}"], res[f"long_cublas_{tag}"] = ours(lx, lw, fast), cublas(lx, lw, fast)
            same = np.array_equal(res[f"long_ours_{tag}"].view(np.uint32), res[f"long_cublas_{tag}"].view(np.uint32))
            print(f"K={K_LONG} {tag}: ours and cuBLAS bitwise equal: {same}")
    if args.simple:  # the level-1 kernel (mma.sync m16n8k32): does its accumulator follow the same model?
        for k in (16, 32, 64):
            res[f"simple_k{k}"] = ours(xq[:, :k], wq[:, :k], True, gemm.f8f8bf16_rowwise_simple)
        if args.long:
            for fast in (True, False):
                res[f"long_simple_{'fast' if fast else 'slow'}"] = ours(lx, lw, fast, gemm.f8f8bf16_rowwise_simple)
    np.savez_compressed(os.path.join(args.out, "probe_alignment.npz"), **res)
    if args.repro:
        d = np.load(args.repro)
        outs = [cp.asnumpy(gemm.f8f8bf16_rowwise(*(cp.asarray(d[n]) for n in ("xq", "wq", "x_scale", "w_scale")),
                                                 use_fast_accum=True, output_dtype=np.float32)) for _ in range(20)]
        equal = all(np.array_equal(o.view(np.uint32), outs[0].view(np.uint32)) for o in outs)
        worst = np.unravel_index(int(np.argmax(np.abs(outs[0]))), outs[0].shape)
        print(f"repro: 20 runs bitwise equal: {equal}; largest output {worst}: {float(outs[0][worst])!r}")


if __name__ == "__main__":
    main()

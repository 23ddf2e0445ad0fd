"""Nsight Compute target for the large-M GEMM: ours (select_config's choice) and torch._scaled_mm, fast
accumulation, once each per ``M,N,K`` argument between cudaProfilerStart/Stop, after 3 warm-up calls.
Usage: ncu --profile-from-start off ... python scripts/ncu_gemm_target.py 4096,28672,4096 [M,N,K ...]
"""
import sys

import cupy as cp
import torch

from fp8cuda import gemm
from fp8cuda.bench_gemm import _inputs

for arg in sys.argv[1:]:
    m, n, k = map(int, arg.split(","))
    a, b, sa, sb, xq, wq, xs, ws = _inputs(torch, cp, m, n, k)
    plan = gemm.make_plan(xq, wq, xs, ws, use_fast_accum=True)

    def call():
        return torch._scaled_mm(a, b.t(), scale_a=sa, scale_b=sb, out_dtype=torch.bfloat16, use_fast_accum=True)

    for _ in range(3):
        plan()
        call()
    torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStart()
    plan()
    call()
    torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStop()
print("ncu target done")

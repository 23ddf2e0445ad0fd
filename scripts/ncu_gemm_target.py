"""Nsight Compute target for the large-M GEMM: ours (select_config's choice, or every ``--config LABEL``) and
torch._scaled_mm, fast accumulation (``--slow``: slow), once each per ``M,N,K`` argument between
cudaProfilerStart/Stop, after 3 warm-up calls.
Usage: ncu --profile-from-start off ... python scripts/ncu_gemm_target.py 4096,28672,4096 [M,N,K ...]
       [--config ov128x256x4c2 --config 128x128x6c2 --config ov128x256x4c2/g32 ...]   (/gN: group_m N)
"""
import argparse

import cupy as cp
import torch

from fp8cuda import gemm
from fp8cuda.bench_gemm import _inputs

ap = argparse.ArgumentParser()
ap.add_argument("shapes", nargs="+")
ap.add_argument("--config", action="append", default=None,
                help="kernel by label (GemmConfig.from_label), optionally /gN for group_m N; repeatable")
ap.add_argument("--slow", action="store_true", help="use_fast_accum=False for ours and torch")
args = ap.parse_args()
fast = not args.slow


def _config(label):
    if label is None:
        return None
    name, _, group = label.partition("/g")
    return gemm.GemmConfig.from_label(name, group_m=int(group) if group else 8)


for arg in args.shapes:
    m, n, k = map(int, arg.split(","))
    a, b, sa, sb, xq, wq, xs, ws = _inputs(torch, cp, m, n, k)
    plans = [gemm.make_plan(xq, wq, xs, ws, use_fast_accum=fast, config=_config(c)) for c in (args.config or [None])]

    def call():
        return torch._scaled_mm(a, b.t(), scale_a=sa, scale_b=sb, out_dtype=torch.bfloat16, use_fast_accum=fast)

    for _ in range(3):
        for plan in plans:
            plan()
        call()
    torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStart()
    for plan in plans:
        plan()
    call()
    torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStop()
print("ncu target done")

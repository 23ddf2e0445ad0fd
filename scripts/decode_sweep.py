"""Device experiment (not the benchmark): decode kernel configurations vs torch._scaled_mm, per shape.

Times by CUDA-graph replay of R back-to-back calls on R weight copies (R * N * K >= 4 x L2), so every call
reads its weight from HBM and launch overhead is excluded alike. Prints one line per (shape, M, config) and
writes JSON to argv[1]. Usage: PYTHONPATH=$PWD python scripts/decode_sweep.py OUT.json [quick]
"""
import json
import statistics
import sys

import cupy as cp
import torch

from fp8cuda import bench, gemm
from fp8cuda.bench_decode import MODELS

quick = len(sys.argv) > 2
L2 = cp.cuda.runtime.getDeviceProperties(0)["l2CacheSize"]
NSM = cp.cuda.runtime.getDeviceProperties(0)["multiProcessorCount"]


def on_torch_stream():
    return cp.cuda.ExternalStream(torch.cuda.current_stream().cuda_stream)


def graph_us(calls):
    def run():
        with on_torch_stream():
            for c in calls:
                c()
    return bench._time_graph(torch, bench._capture(torch, run)) / len(calls) * 1e6


copies = bench.copy_bandwidths(torch, cp, on_torch_stream)
copy_gbs = max(copies.values())
print("copy", {k: round(v) for k, v in copies.items()}, "L2", L2, "SMs", NSM, flush=True)
rows = []
shapes = [s for m in MODELS.values() for s in m]
ms = (1, 16, 32, 64, 128) if not quick else (1, 16)
for n, k in shapes:
    r = max(2, min(64, -(-4 * L2 // (n * k))))
    g = torch.Generator(device="cuda").manual_seed(n + k)
    w = [(torch.randn(n, k, device="cuda", generator=g) * 8).to(torch.float8_e4m3fn) for _ in range(r)]
    sw = [torch.rand(1, n, device="cuda", generator=g) * 1e-2 + 1e-3 for _ in range(r)]
    for m in ms:
        a = (torch.randn(m, k, device="cuda", generator=g) * 8).to(torch.float8_e4m3fn)
        sa = torch.rand(m, 1, device="cuda", generator=g) * 1e-2 + 1e-3
        xq, xs = cp.from_dlpack(a.view(torch.uint8)), cp.from_dlpack(sa.reshape(m))
        wq = [cp.from_dlpack(b.view(torch.uint8)) for b in w]
        ws = [cp.from_dlpack(s.reshape(n)) for s in sw]
        t_torch = graph_us([lambda b=b, s=s: torch._scaled_mm(a, b.t(), scale_a=sa, scale_b=s, out_dtype=torch.bfloat16,
                                                               use_fast_accum=True) for b, s in zip(w, sw)])
        ref = torch._scaled_mm(a, w[0].t(), scale_a=sa, scale_b=sw[0], out_dtype=torch.bfloat16, use_fast_accum=True).float()
        auto = gemm.select_kernel(m, n, k, use_fast_accum=True, num_sms=NSM)
        cfgs = [(auto, None)]
        if isinstance(auto, gemm.DecodeConfig):
            small = m <= 16
            for sp in (1, 2):
                for ch in (2, 4, 8) if small else (2, 4):
                    for st in (auto.num_stages, 16) if small else (auto.num_stages,):
                        c = gemm.DecodeConfig(auto.rows_w, auto.block_t, st, sp, ch)
                        try:
                            c.validate(True)
                        except ValueError:
                            continue
                        if c.smem_bytes() <= 227 * 1024 and (c, True) not in cfgs:
                            cfgs.append((c, True))
        if m >= 32:
            cfgs.append((gemm.select_config(m, n, k, use_fast_accum=True, num_sms=NSM), None))
        bits = {}
        for cfg, pdl in cfgs:
            row = dict(N=n, K=k, M=m, config=cfg.label() + {None: "", True: "+pdl", False: "-pdl"}[pdl],
                       auto=cfg == auto and pdl is None, torch_us=t_torch)
            try:
                plans = [gemm.make_plan(xq, wq[i], xs, ws[i], use_fast_accum=True, config=cfg, pdl=pdl)
                         for i in range(r)]
                plans[0]()
                got = torch.from_dlpack(plans[0].out).view(torch.bfloat16).float()
                row["maxrel"] = ((got - ref).abs().max() / ref.abs().max()).item()
                u16 = cp.asnumpy(plans[0].out.view(cp.uint16))
                if cfg in bits and not (bits[cfg] == u16).all():
                    row["error"] = "PDL changed the result bits"
                bits[cfg] = u16
                t = graph_us(plans)
                row.update(us=t, gbs=n * k / t / 1e3, pct=n * k / t / 1e3 / copy_gbs, ratio=t_torch / t)
            except Exception as e:  # noqa: BLE001
                row["error"] = f"{type(e).__name__}: {e}"[:200]
            rows.append(row)
            print(f"{n:6d}x{k:<6d} M={m:<4d} {row['config']:>20} {'*' if row['auto'] else ' '} "
                  + (f"{row['us']:8.2f} us {row['gbs']:6.0f} GB/s {row['pct']:5.0%}  torch {t_torch:8.2f} x{row['ratio']:.2f} "
                     f"maxrel {row['maxrel']:.2e}" if "us" in row else "") + row.get("error", ""), flush=True)
    del w, sw
    torch.cuda.empty_cache()
    cp.get_default_memory_pool().free_all_blocks()

json.dump(dict(copy=copies, copy_gbs=copy_gbs, rows=rows), open(sys.argv[1], "w"), indent=1)
auto = [r for r in rows if r["auto"] and "ratio" in r]
for lo, hi in ((1, 16), (32, 128)):
    sel = [r["ratio"] for r in auto if lo <= r["M"] <= hi]
    if sel:
        print(f"geomean auto/torch M in [{lo},{hi}]: {statistics.geometric_mean(sel):.3f} over {len(sel)}")
print("min pct auto M<=16:", min((r["pct"] for r in auto if r["M"] <= 16), default=None))

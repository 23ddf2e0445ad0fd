"""Benchmark: fp8cuda's WGMMA row-wise FP8 GEMM vs ``torch._scaled_mm`` (cuBLAS), same inputs, one run.

``python -m fp8cuda.bench_gemm [--quick] [--json PATH] [--shapes M,N,K ...]`` (also reached through
``python -m fp8cuda.bench gemm``). Needs a Hopper GPU, CuPy, PyTorch and Triton (``do_bench``).

For each (M, N, K): random e4m3fn codes (from normal data, no NaN) and positive row/column scales,
shared by both libraries through DLPack; bf16 output. Timed with ``triton.testing.do_bench`` (CUDA
events, warm-up, L2 flushed between runs, median). Ours is timed as a prepared launch
(``fp8cuda.gemm.make_plan``: checks and tensor maps done once), torch as the bare ``_scaled_mm`` call;
the two alternate over ``--rounds`` rounds and each keeps its median (the GPU's clock drifts).
Reports TFLOP/s (2 M N K / time) for fast and slow accumulation, the ratios ours / torch, ours slow /
ours fast, and max |ours - torch| / max |torch| as a sanity check. Benchmarks are not tests.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

SQUARES = (4096, 8192, 16384)
LLAMA_NK = ((6144, 4096), (4096, 4096), (28672, 4096), (4096, 14336), (10240, 8192), (8192, 8192),
            (57344, 8192), (8192, 28672), (18432, 16384), (16384, 16384), (106496, 16384), (16384, 53248))
LLAMA_M = (1024, 2048, 4096, 8192, 16384)
QUICK = ((8192, 8192, 8192), (4096, 4096, 4096), (16384, 16384, 16384), (2048, 6144, 4096), (4096, 28672, 4096),
         (8192, 4096, 14336), (4096, 57344, 8192), (1024, 8192, 8192), (16384, 8192, 28672))


def all_shapes():
    shapes = [(s, s, s) for s in SQUARES]
    shapes += [(m, n, k) for (n, k) in LLAMA_NK for m in LLAMA_M]
    return shapes


def _inputs(torch, cp, m, n, k, seed=0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    a = (torch.randn(m, k, device="cuda", generator=g) * 8).to(torch.float8_e4m3fn)
    b = (torch.randn(n, k, device="cuda", generator=g) * 8).to(torch.float8_e4m3fn)
    sa = torch.rand(m, 1, device="cuda", generator=g) * 1e-2 + 1e-3
    sb = torch.rand(1, n, device="cuda", generator=g) * 1e-2 + 1e-3
    xq = cp.from_dlpack(a.view(torch.uint8))
    wq = cp.from_dlpack(b.view(torch.uint8))
    xs = cp.from_dlpack(sa.reshape(m))
    ws = cp.from_dlpack(sb.reshape(n))
    return a, b, sa, sb, xq, wq, xs, ws


# (BLOCK_M, BLOCK_N, cluster_m, group_m, use_fast_accum): other tile configurations, to tune select_config
VARIANTS = ((128, 256, 1, 8, True), (128, 256, 2, 8, True), (128, 256, 1, 16, True), (128, 256, 2, 4, True),
            (128, 192, 2, 8, True), (128, 192, 1, 8, False), (128, 192, 2, 8, False), (128, 128, 1, 8, False))


def bench_shape(m, n, k, *, torch, cp, do_bench, warmup=25, rep=100, rounds=3, variants=False):
    from fp8cuda import gemm

    a, b, sa, sb, xq, wq, xs, ws = _inputs(torch, cp, m, n, k)
    flops = 2.0 * m * n * k
    row = {"M": m, "N": n, "K": k}
    outs = {}
    for fast in (True, False):
        tag = "fast" if fast else "slow"
        plan = gemm.make_plan(xq, wq, xs, ws, use_fast_accum=fast)
        plan()
        out_t = torch._scaled_mm(a, b.t(), scale_a=sa, scale_b=sb, out_dtype=torch.bfloat16, use_fast_accum=fast)
        torch.cuda.synchronize()
        torch_call = lambda: torch._scaled_mm(a, b.t(), scale_a=sa, scale_b=sb,  # noqa: E731
                                              out_dtype=torch.bfloat16, use_fast_accum=fast)
        # Alternate the two libraries over `rounds` rounds and keep each one's median: the clock of a
        # power-limited GPU drifts during a run (seen: the same kernel 1259 vs 1418 TFLOP/s minutes apart).
        ts_ours, ts_torch = [], []
        for _ in range(rounds):
            ts_ours.append(do_bench(plan, warmup=warmup, rep=rep, return_mode="median"))
            ts_torch.append(do_bench(torch_call, warmup=warmup, rep=rep, return_mode="median"))
        t_ours, t_torch = sorted(ts_ours)[rounds // 2], sorted(ts_torch)[rounds // 2]
        ours_t = torch.from_dlpack(plan.out).view(torch.bfloat16)
        ref = out_t.float()
        rel = ((ours_t.float() - ref).abs().max() / ref.abs().max().clamp_min(1e-30)).item()
        row[f"ours_{tag}_tflops"] = flops / (t_ours * 1e-3) / 1e12
        row[f"torch_{tag}_tflops"] = flops / (t_torch * 1e-3) / 1e12
        row[f"ratio_{tag}"] = t_torch / t_ours
        row[f"maxrel_{tag}"] = rel
        c = plan.config
        row[f"config_{tag}"] = f"{c.block_m}x{c.block_n}x{c.num_stages}c{c.cluster_m}"
        outs[tag] = plan.out
        del out_t
    row["slow_over_fast"] = row["ours_slow_tflops"] / row["ours_fast_tflops"]
    if variants:  # other tile configurations, fast accumulation, to tune select_config
        for bm, bn, cm, gm, fast in VARIANTS:
            cfg = gemm.GemmConfig(bm, bn, gemm._max_stages(bm, bn), cm, gm)
            plan = gemm.make_plan(xq, wq, xs, ws, use_fast_accum=fast, config=cfg)
            t = do_bench(plan, warmup=warmup, rep=rep, return_mode="median")
            row[f"v{bm}x{bn}c{cm}g{gm}{'f' if fast else 's'}"] = flops / (t * 1e-3) / 1e12
    del a, b, xq, wq, outs
    torch.cuda.empty_cache()
    cp.get_default_memory_pool().free_all_blocks()
    return row


def _geomean(v):
    v = [x for x in v if x > 0]
    return math.exp(sum(math.log(x) for x in v) / len(v)) if v else float("nan")


def format_table(rows) -> str:
    head = (f"{'M':>6} {'N':>6} {'K':>6} | {'ours_f':>7} {'torch_f':>7} {'x':>5} | {'ours_s':>7} {'torch_s':>7} "
            f"{'x':>5} | {'s/f':>5} | {'cfg_f':>10} {'cfg_s':>10} | {'maxrel':>7}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['M']:>6} {r['N']:>6} {r['K']:>6} | {r['ours_fast_tflops']:7.0f} {r['torch_fast_tflops']:7.0f} "
            f"{r['ratio_fast']:5.2f} | {r['ours_slow_tflops']:7.0f} {r['torch_slow_tflops']:7.0f} {r['ratio_slow']:5.2f} | "
            f"{r['slow_over_fast']:5.2f} | {r['config_fast']:>10} {r['config_slow']:>10} | "
            f"{max(r['maxrel_fast'], r['maxrel_slow']):7.1e}")
    lines.append(f"geomean ours/torch: fast {_geomean([r['ratio_fast'] for r in rows]):.3f}, "
                 f"slow {_geomean([r['ratio_slow'] for r in rows]):.3f}; ours slow/fast "
                 f"{_geomean([r['slow_over_fast'] for r in rows]):.3f}")
    return "\n".join(lines)


def precompile(workers: int = 8) -> None:
    """Build every kernel instance select_config can pick (and the level-1 ones) into the loader's disk
    cache, in parallel processes, so tests and timings do not wait on NVRTC."""
    import concurrent.futures as cf
    import multiprocessing as mp

    from fp8cuda import gemm

    exprs = [("gemm_sm90.cu", gemm.kernel_name_expression(cfg, fast, kind))
             for cfg, fast in gemm.candidate_configs() for kind in gemm._OUT_KIND]
    for fast in ("true", "false"):
        for kind in range(3):
            exprs.append(("gemm_simple.cu", f"fp8cuda::fp8_gemm_rowwise_simple<{fast}, {kind}>"))
    t0 = time.time()
    with cf.ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as ex:
        list(ex.map(_compile_one, exprs))
    print(f"precompiled {len(exprs)} kernel instances in {time.time() - t0:.1f} s", flush=True)


def _compile_one(item):
    from fp8cuda._loader import get_kernel

    get_kernel(*item)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m fp8cuda.bench gemm", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a 9-shape subset instead of all 63 shapes")
    p.add_argument("--shapes", nargs="*", default=None, help="explicit M,N,K triples")
    p.add_argument("--json", default=None, help="write the rows as JSON here")
    p.add_argument("--precompile", action="store_true", help="only build all kernel instances, then exit")
    p.add_argument("--rep", type=int, default=40, help="do_bench rep (ms) per round")
    p.add_argument("--rounds", type=int, default=3, help="alternating ours/torch rounds per measurement")
    p.add_argument("--variants", action="store_true", help="also time the VARIANTS tile configs (fast)")
    args = p.parse_args(argv)
    if args.precompile:
        precompile()
        return 0
    import cupy as cp
    import torch
    from triton.testing import do_bench

    if args.shapes:
        shapes = [tuple(int(x) for x in s.split(",")) for s in args.shapes]
    else:
        shapes = list(QUICK) if args.quick else all_shapes()
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, cupy {cp.__version__}", flush=True)
    rows = []
    for (m, n, k) in shapes:
        try:
            r = bench_shape(m, n, k, torch=torch, cp=cp, do_bench=do_bench, rep=args.rep, rounds=args.rounds,
                            variants=args.variants)
        except Exception as e:  # noqa: BLE001 - keep going; report the failure in the table
            print(f"{m},{n},{k}: FAILED {type(e).__name__}: {e}", flush=True)
            continue
        rows.append(r)
        print(f"{m},{n},{k}: ours fast {r['ours_fast_tflops']:.0f} TF/s vs torch {r['torch_fast_tflops']:.0f} "
              f"({r['ratio_fast']:.2f}x); slow {r['ours_slow_tflops']:.0f} vs {r['torch_slow_tflops']:.0f} "
              f"({r['ratio_slow']:.2f}x) [{r['config_fast']}, {r['config_slow']}]"
              + "".join(f" {key}={v:.0f}" for key, v in r.items() if key.startswith("v1")), flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(rows, f, indent=1)
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where the GEMM consumers wait for data and spend the tile switch (issue 4, docs/notes-gemm.md v11, v14, v21).

``python scripts/gemm_trace.py [M,N,K ...] [--config LABEL ...] [--slow] [--define NAME[=VALUE] ...] [--json PATH]``

Builds the kernel of select_config's fast-accumulation choice (``--slow``: slow accumulation), or the one
named by ``--config`` (``128x256x4c2`` cooperative, ``ov128x256x4c2`` overlap), with ``-DFP8CUDA_GEMM_TRACE``
and any ``--define`` macros (kernels/gemm_sm90_pipeline.cuh: the first consumer thread of every block
records, per ring position, whether the stage's data had landed before its wait, the cycles it waited on
the stage's full barrier and the clock after the wait; the overlap kernel also the clock after each step
of its tile switch), runs it once after a warm-up and reports, by K block index within the tile: the mean
wait, the share of waits over 1000 cycles, and the mean interval between consecutive K blocks (at K block
0: across the tile switch, the epilogue included); the wait percentiles and the waits on data that was
already there (the wait's own cost). The producer thread records its waits on empty barriers and when it
issued each position's loads: issue to use, the ring's "hold" (from a stage's use to its refill) and the
loads' latency where the consumer waited on them.
An experiment, not a test: the trace build is not the shipped kernel. Its per-K-block records cost the
traced warp (and, through wgmma's warpgroup-wide issue, its warpgroup) time: untraced, the slow kernel's
main loop runs ~12-17% faster than the trace shows (scripts/ring_vs_kernel.py, notes-gemm.md v21).
"""

from __future__ import annotations

import argparse
import json
import sys

import ml_dtypes
import numpy as np

STRIDE = 8192  # kTraceStride


def trace_shape(m, n, k, config=None, fast=True, defines=()):
    import cupy as cp

    from fp8cuda import gemm
    from fp8cuda._loader import get_kernel
    from fp8cuda.gemm import GemmPlan, kernel_name_expression

    rng = cp.random.default_rng(0)
    xq = rng.integers(0, 0x7E, (m, k), dtype=cp.uint8)
    wq = rng.integers(0, 0x7E, (n, k), dtype=cp.uint8)
    xs, ws = cp.ones(m, cp.float32), cp.ones(n, cp.float32)
    cfg = gemm.GemmConfig.from_label(config) if config else None
    plan = gemm.make_plan(xq, wq, xs, ws, use_fast_accum=fast, config=cfg)
    cfg = plan.config
    assert not cfg.pingpong, f"{cfg}: the trace covers the cooperative and overlap kernels"
    kern = get_kernel("gemm_sm90.cu", kernel_name_expression(cfg, fast, ml_dtypes.bfloat16),
                      options=("-DFP8CUDA_GEMM_TRACE",) + tuple(f"-D{d}" for d in defines))
    kern.max_dynamic_shared_size_bytes = plan.smem
    blocks = plan.grid[0]
    trace = cp.zeros((2 * blocks, STRIDE, 2), cp.uint32)  # consumers' records, then the producers'
    args = list(plan.args)
    args[4] = np.uint64(trace.data.ptr)  # bias slot carries the trace buffer in trace builds
    run = GemmPlan(kern, plan.grid, plan.block, tuple(args), plan.smem, plan.out, cfg)
    for _ in range(3):  # warm-up, then the traced launch overwrites the same positions
        run()
    cp.cuda.runtime.deviceSynchronize()
    full = trace.get()
    tr, ptr = full[:blocks], full[blocks:]  # consumers' records, producers'
    num_kb = -(-k // 128)
    tiles = -(-m // (cfg.block_m * cfg.cluster_m)) * -(-n // cfg.block_n)
    per_block = -(-tiles // (blocks // cfg.cluster_m))
    npos = min(per_block * num_kb, STRIDE)
    ready = (tr[:, :npos, 0] >> 31).astype(bool)  # the phase had completed before the wait began
    wait = (tr[:, :npos, 0] & 0x7FFFFFFF).astype(np.float64)
    clk = tr[:, :npos, 1].astype(np.int64)
    step = (clk[:, 1:] - clk[:, :-1]) % (1 << 32)
    valid = np.zeros_like(wait, bool)
    for b in range(blocks):  # positions this block ran (its last tile may be missing)
        c = b // cfg.cluster_m
        mine = len(range(c, tiles, blocks // cfg.cluster_m)) * num_kb
        valid[b, :min(mine, npos)] = True
    kb = np.arange(npos) % num_kb
    rows = []
    for q in range(num_kb):
        sel = valid[:, kb == q]
        w = wait[:, kb == q][sel]
        s_sel = valid[:, 1:][:, kb[1:] == q]
        s = step[:, kb[1:] == q][s_sel]
        rows.append({"kb": q, "wait_mean": float(w.mean()), "wait_gt1000": float((w > 1000).mean()),
                     "step_mean": float(s.mean()) if s.size else float("nan")})
    total_wait = float(wait[valid].sum())
    span = float(step[valid[:, 1:]].sum())
    res = {"M": m, "N": n, "K": k, "config": cfg.label(), "fast": fast, "blocks": blocks, "tiles_per_block": per_block,
           "wait_share": total_wait / span, "by_kb": rows,
           "wait_percentiles": {q: float(np.percentile(wait[valid], q)) for q in (10, 25, 50, 75, 90)}}
    rv = valid & ready
    res["ready_share"] = float(rv.sum() / valid.sum())
    res["wait_when_ready_mean"] = float(wait[rv].mean()) if rv.any() else float("nan")
    print("  full-barrier waits, percentiles 10/25/50/75/90: " +
          " / ".join(f"{v:.0f}" for v in res["wait_percentiles"].values()) +
          f"; data there before the wait {res['ready_share']:.1%}, "
          f"those waits {res['wait_when_ready_mean']:.0f} cycles")
    # Producer: its waits on empty barriers (share of its time), and per ring position the cycles from its
    # issuing the loads to the consumer's full-barrier wait returning ("issue to use"): an upper bound of the
    # loads' latency, and the lead the pipeline gives them (the consumer's own wait is reported above).
    pw = ptr[:, :npos, 0].astype(np.float64)
    pclk = ptr[:, :npos, 1].astype(np.int64)
    if pclk[valid].any():
        lead = ((clk - pclk) % (1 << 32)).astype(np.int64)
        lead[lead > (1 << 31)] -= 1 << 32
        pstep = (pclk[:, 1:] - pclk[:, :-1]) % (1 << 32)
        res["producer"] = {"empty_wait_share": float(pw[valid].sum() / pstep[valid[:, 1:]].sum()),
                           "empty_wait_mean": float(pw[valid].mean()),
                           "issue_to_use_median": float(np.median(lead[valid])),
                           "issue_to_use_p10": float(np.percentile(lead[valid], 10))}
        # The ring's round trip S T = hold + issue-to-use, per position p (stage reused by p + S): "hold" is
        # from the consumer's full wait returning for p to the producer issuing p + S into the same stage
        # (the consumers' use, their release, the producer's wake-up). Where the consumer waited > 300 cycles
        # its wait ended when the data landed, so issue-to-use there is the loads' latency itself.
        S = cfg.num_stages
        v2 = valid[:, S:] & valid[:, :-S]
        hold = ((pclk[:, S:] - clk[:, :-S]) % (1 << 32)).astype(np.int64)[v2]
        late = valid & (wait > 300)
        res["producer"]["hold_median"] = float(np.median(hold)) if hold.size else float("nan")
        res["producer"]["latency_when_late_median"] = float(np.median(lead[late])) if late.any() else float("nan")
        res["producer"]["late_share"] = float(late.sum() / valid.sum())
        print("  producer: " + ", ".join(f"{k} {v:.0f}" if not k.endswith("share") else f"{k} {v:.1%}"
                                         for k, v in res["producer"].items()))
    if cfg.overlap and cfg.block_n == 256:
        # the column-halves kernel's switch events (kernel: mark(it, e)), clocks relative to the last K block's
        # full-barrier wait; the switch from tile i ends at K block 1 of tile i + 1
        ev = tr[:, STRIDE // 2:, 1].astype(np.int64)
        deltas = {e: [] for e in range(9)}
        for b in range(blocks):
            c = b // cfg.cluster_m
            n_tiles = len(range(c, tiles, blocks // cfg.cluster_m))
            for i in range(n_tiles - 1):
                if (i + 2) * num_kb > npos:
                    break
                t_last = clk[b, (i + 1) * num_kb - 1]
                marks = [ev[b, 8 * i + e] for e in range(8)] + [clk[b, (i + 1) * num_kb + 1]]
                for e, t in enumerate(marks):
                    deltas[e].append((t - t_last) % (1 << 32))
        names = ["L(t) done", "pack L", "issue L'", "store L", "drain + R*xs + issue R'", "pack R", "issue kb 1",
                 "bookkeeping", "(kb 1 full wait)"]
        res["switch"] = {names[e]: float(np.mean(v)) for e, v in deltas.items() if v}
        print("  switch (cycles since the last K block's wait): " +
              ", ".join(f"{k} {v:.0f}" for k, v in res["switch"].items()))
    print(f"{m},{n},{k} {cfg.label()}{'' if fast else ' slow'}: waiting on full barriers "
          f"{res['wait_share']:.1%} of the traced thread's time",
          flush=True)
    print("  kb  wait_mean  >1000cyc  step_mean")
    for r in rows:
        if r["kb"] < 6 or r["kb"] >= num_kb - 2:
            print(f"  {r['kb']:2d}  {r['wait_mean']:9.0f}  {r['wait_gt1000']:8.1%}  {r['step_mean']:9.0f}")
    mid = [r for r in rows if 6 <= r["kb"] < num_kb - 2]
    if mid:
        print(f"  6..{num_kb - 3} (mean) {np.mean([r['wait_mean'] for r in mid]):6.0f}  "
              f"{np.mean([r['wait_gt1000'] for r in mid]):8.1%}  {np.mean([r['step_mean'] for r in mid]):9.0f}")
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("shapes", nargs="*", default=["4096,28672,4096", "8192,8192,8192"])
    p.add_argument("--json", default=None)
    p.add_argument("--slow", action="store_true", help="slow accumulation (select_config's or --config's kernel)")
    p.add_argument("--config", action="append", default=None,
                   help="kernel by label (128x256x4c2, ov128x256x4c2); repeatable; default: select_config's")
    p.add_argument("--define", action="append", default=[], help="extra NVRTC macro (NAME or NAME=VALUE)")
    a = p.parse_args(argv)
    out = [trace_shape(*map(int, s.split(",")), config=c, fast=not a.slow, defines=a.define)
           for c in (a.config or [None]) for s in a.shapes]
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

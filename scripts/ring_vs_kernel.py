"""The shipped GEMM kernel against the stage-ring probe on the same work (issue 4, notes-gemm.md v21).

``python scripts/ring_vs_kernel.py``  (needs an sm_90a GPU)

For three cooperative clusters-of-one configurations, a problem of exactly 132 tiles (12 x 11, one per
SM) with K = 65536 (512 K blocks, so tile switches and epilogues are ~0.2% of the time): the kernel
(select by label, untraced) and scripts/probes/wgmma_ring.cu (the same tiles through the same TMA maps,
no epilogue) alternate over 12 rounds of 10 launches (CUDA events). Prints both medians, their ratio and
the kernel's cycles per K block estimated as the probe's (measured with clock64) times that ratio, which
assumes both ran at the same clock. An experiment, not a test.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

K = 65536
CONFIGS = (("128x192x5c1", False), ("128x128x6c1", True), ("128x256x4c1", True))  # label, fast accumulation


def _median_ms(cp, fns, rounds=12, reps=10):
    """Median ms per launch of each function, alternating their order round by round."""
    times = {name: [] for name in fns}
    for r in range(rounds):
        for name in (list(fns) if r % 2 == 0 else list(fns)[::-1]):
            f = fns[name]
            for _ in range(3):
                f()
            e0, e1 = cp.cuda.Event(), cp.cuda.Event()
            e0.record()
            for _ in range(reps):
                f()
            e1.record()
            e1.synchronize()
            times[name].append(cp.cuda.get_elapsed_time(e0, e1) / reps)
    return {name: float(np.median(t)) for name, t in times.items()}


def main() -> int:
    import cupy as cp

    import wgmma_probe
    from fp8cuda import gemm

    rng = cp.random.default_rng(0)
    out = cp.zeros((132, 2), cp.int64)
    sink = cp.zeros(384, cp.float32)
    for lab, fast in CONFIGS:
        cfg = gemm.GemmConfig.from_label(lab)
        n = cfg.block_n
        M, N = 128 * 12, n * 11
        xq = rng.integers(0, 0x76, (M, K), dtype=cp.uint8)
        wq = rng.integers(0, 0x76, (N, K), dtype=cp.uint8)
        xs, ws = cp.ones(M, cp.float32), cp.ones(N, cp.float32)
        plan = gemm.make_plan(xq, wq, xs, ws, use_fast_accum=fast, config=cfg)
        kern, smem = wgmma_probe.ring_kernel(n, cfg.num_stages, not fast)
        ta, tb = gemm._tensor_map(xq.data.ptr, M, K, 128), gemm._tensor_map(wq.data.ptr, N, K, n)
        # block b keeps row tile b % 12 and column tile b / 12: the kernel's 132 tiles, one per block
        args = (out, np.int32(K // 128), xq, ta, tb, np.int32(K // 128), np.int32(12), np.int32(11), sink,
                np.int32(0))
        t = _median_ms(cp, {"kernel": plan, "probe": lambda: kern((132,), (384,), args, shared_mem=smem)})
        tk, tp = t["kernel"], t["probe"]
        cyc = float(np.median(out.get().max(axis=1) / (K // 128)))
        print(f"{lab} {'fast' if fast else 'slow'}: grid {plan.grid}, kernel {tk * 1e3:.1f} us, "
              f"probe {tp * 1e3:.1f} us, "
              f"kernel / probe {tk / tp:.3f}; probe {cyc:.0f} cycles per K block -> kernel ~{cyc * tk / tp:.0f}; "
              f"kernel {2 * M * N * K / tk / 1e9:.0f} TFLOP/s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The shipped GEMM kernel against the stage-ring probe on the same work (issue 4, notes-gemm.md v21).

``python scripts/ring_vs_kernel.py``  (needs an sm_90a GPU)

For three cooperative clusters-of-one configurations, a problem of exactly 132 tiles (12 x 11, one per
SM) with K = 65536 (512 K blocks, so tile switches and epilogues are ~0.2% of the time): the kernel
(select by label, untraced) and scripts/probes/wgmma_ring.cu (the same tiles through the same TMA maps,
no epilogue) alternate over 12 rounds of 10 launches (CUDA events). Prints both medians, their ratio and
the kernel's cycles per K block estimated as the probe's (measured with clock64) times that ratio, which
assumes both ran at the same clock. An experiment, not a test.
"""
import sys
import cupy as cp
import numpy as np
sys.path.insert(0, "scripts")
from fp8cuda import gemm
from fp8cuda._loader import get_kernel
import wgmma_probe as w

K = 65536
rng = cp.random.default_rng(0)
out_p = cp.zeros((132, 2), cp.int64)
sink = cp.zeros(384, cp.float32)
CONFIGS = (("128x192x5c1", 192, 5, False), ("128x128x6c1", 128, 6, True), ("128x256x4c1", 256, 4, True))
for lab, n, stages, fast in CONFIGS:
    M, N = 128 * 12, n * 11
    xq = rng.integers(0, 0x76, (M, K), dtype=cp.uint8)
    wq = rng.integers(0, 0x76, (N, K), dtype=cp.uint8)
    xs, ws = cp.ones(M, cp.float32), cp.ones(N, cp.float32)
    plan = gemm.make_plan(xq, wq, xs, ws, use_fast_accum=fast, config=gemm.GemmConfig.from_label(lab))
    kern = get_kernel(w.RING_SRC.read_text(),
                      f"fp8cuda::wgmma_ring_probe<{n}, {stages}, {'false' if fast else 'true'}, true, true>")
    smem = 1024 + stages * (128 + n) * 128 + 2 * stages * 8
    kern.max_dynamic_shared_size_bytes = smem
    ta, tb = gemm._tensor_map(xq.data.ptr, M, K, 128), gemm._tensor_map(wq.data.ptr, N, K, n)
    args = (out_p, np.int32(K // 128), xq, ta, tb, np.int32(K // 128), np.int32(12), np.int32(11), sink, np.int32(0))
    probe = lambda: kern((132,), (384,), args, shared_mem=smem)
    times = {"kernel": [], "probe": []}
    for r in range(12):
        for name, f in (("kernel", plan), ("probe", probe)) if r % 2 == 0 else (("probe", probe), ("kernel", plan)):
            for _ in range(3):
                f()
            e0, e1 = cp.cuda.Event(), cp.cuda.Event()
            e0.record()
            for _ in range(10):
                f()
            e1.record()
            e1.synchronize()
            times[name].append(cp.cuda.get_elapsed_time(e0, e1) / 10)
    tk, tp = np.median(times["kernel"]), np.median(times["probe"])
    cyc = out_p.get().max(axis=1) / (K // 128)
    print(f"{lab} {'fast' if fast else 'slow'}: grid {plan.grid}, kernel {tk * 1e3:.1f} us, probe {tp * 1e3:.1f} us, "
          f"kernel / probe {tk / tp:.3f}; probe {np.median(cyc):.0f} cycles per K block -> "
          f"kernel ~{np.median(cyc) * tk / tp:.0f}; "
          f"kernel {2 * M * N * K / tk / 1e9:.0f} TFLOP/s", flush=True)

"""A compute-sanitizer target for the GEMM kernels: shapes with M, N and K tails, both accumulation modes; the
large-M kernel's deferred epilogue (TMA stores) with several tiles per block and fewer K blocks than chunks; the
overlap kernel on a grid capped at 3 clusters (many tile switches per block; its consumers share the scales).
``SANITIZE_ONLY=overlap``: the overlap part only."""
import os

import cupy as cp
import numpy as np

from fp8cuda import gemm

rng = np.random.default_rng(1)
only_overlap = os.environ.get("SANITIZE_ONLY") == "overlap"
max_clusters = gemm._max_clusters
gemm._max_clusters = lambda kern, cfg, num_sms: 3
for cm in (1, 2, 4):
    for (m, n, k, bias) in [(128 * 9 + 3, 256 * 5 + 40, 400, True), (128 * 9 + 3, 256 * 5 + 40, 272, False)]:
        xq = cp.asarray(rng.integers(0, 0x7E, (m, k), dtype=np.uint8))
        wq = cp.asarray(rng.integers(0, 0x7E, (n, k), dtype=np.uint8))
        gemm.f8f8bf16_rowwise(xq, wq, cp.ones(m, cp.float32), cp.ones(n, cp.float32),
                              bias=cp.ones(n, cp.float32) if bias else None, use_fast_accum=True,
                              config=gemm.GemmConfig(128, 256, 4, cm, 3, overlap=True))
gemm._max_clusters = max_clusters
for fn in () if only_overlap else (gemm.f8f8bf16_rowwise, gemm.f8f8bf16_rowwise_simple):
    many_tiles = [(4480, 2056, 272, True), (4480, 2056, 144, False)] if fn is gemm.f8f8bf16_rowwise else []
    for (m, n, k, fast) in [(65, 130, 144, True), (129, 257, 528, False), (1, 1, 16, True), (300, 520, 4096, True)] + many_tiles:
        xq = cp.asarray(rng.integers(0, 0x7E, (m, k), dtype=np.uint8))
        wq = cp.asarray(rng.integers(0, 0x7E, (n, k), dtype=np.uint8))
        fn(xq, wq, cp.ones(m, cp.float32), cp.ones(n, cp.float32), bias=cp.ones(n, cp.float32), use_fast_accum=fast)
# the decode kernel's cluster split, several chains, empty chains, PDL launch (fp8cuda/gemm_decode.py)
for cfg, (m, n, k) in [] if only_overlap else [(gemm.DecodeConfig(64, 8, 4, 2, 3), (5, 130, 1040)), (gemm.DecodeConfig(64, 16, 16, 1, 2), (17, 70, 144)),
                       (gemm.DecodeConfig(64, 128, 4, 2, 2), (100, 200, 2064))]:
    for fast in (True, False) if cfg.block_t < 128 else (True,):
        xq = cp.asarray(rng.integers(0, 0x7E, (m, k), dtype=np.uint8))
        wq = cp.asarray(rng.integers(0, 0x7E, (n, k), dtype=np.uint8))
        gemm.f8f8bf16_rowwise(xq, wq, cp.ones(m, cp.float32), cp.ones(n, cp.float32), bias=cp.ones(n, cp.float32),
                              use_fast_accum=fast, config=cfg)
cp.cuda.runtime.deviceSynchronize()
print("sanitizer target done")

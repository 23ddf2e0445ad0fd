"""Device experiment: three launches (no PDL) per decode configuration, for `ncu` (docs/notes-decode.md,
session 3). Each extra argument is one DecodeConfig as comma-separated fields; none: the dispatcher's choice.
Usage: ncu --kernel-name regex:decode --launch-skip 2 --launch-count 1 ... \
           python scripts/ncu_decode.py N K M [rows_w=64,block_t=8,num_stages=16,split=1,chains=2 ...]
"""
import sys

import cupy as cp

from fp8cuda import gemm
from fp8cuda.gemm_decode import DecodeConfig


def main():
    n, k, m = (int(a) for a in sys.argv[1:4])
    rng = cp.random.default_rng(0)
    wq = rng.integers(0, 0x7E, (n, k), dtype=cp.uint8)
    xq = rng.integers(0, 0x7E, (m, k), dtype=cp.uint8)
    xs, ws = cp.ones(m, cp.float32), cp.ones(n, cp.float32)
    for spec in sys.argv[4:] or [""]:
        cfg = DecodeConfig(**{kv.split("=")[0]: int(kv.split("=")[1]) for kv in spec.split(",") if kv}) if spec else None
        plan = gemm.make_plan(xq, wq, xs, ws, config=cfg, pdl=False)
        for _ in range(3):
            plan()
        cp.cuda.Device().synchronize()
        print(plan.config.label(), flush=True)


if __name__ == "__main__":
    main()

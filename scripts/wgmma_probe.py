"""Probes (issue 4, notes-gemm.md v21): the tensor pipe's rate for our main loops' wgmma issue patterns.

``python scripts/wgmma_probe.py [--builds | --ring] [--groups G] [--json PATH]``  (needs an sm_90a GPU)

Default: scripts/probes/wgmma_chain.cu on one block per SM (no TMA, no mbarriers; operands fixed in shared
memory), for each of PATTERNS: the median cycles per K block (4 k32 steps of every chain of every
warpgroup) against the tensor pipe's work for it (m64nNk32 = N / 2 cycles at 8,192 dense FP8 FLOP per
cycle per SM), the bytes per cycle the wgmmas read from shared memory and, for the "+ copies" patterns,
what a warpgroup streaming 1D bulk copies into shared memory alongside achieved.
``--builds``: a few patterns under each of BUILDS (thread count, setmaxnreg, which warpgroups issue,
a polling side thread, per-K-block mbarrier operations).
``--ring``: scripts/probes/wgmma_ring.cu, the GEMM kernels' stage ring (producer thread, full / empty
mbarriers, two consumer warpgroups) without tiles, epilogue or clusters, for each of RING_PATTERNS;
``--groups`` is then the number of K blocks per block.
Experiments, not tests; scripts/ring_vs_kernel.py times the ring against the shipped kernel.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

SRC = Path(__file__).with_name("probes") / "wgmma_chain.cu"
RING_SRC = Path(__file__).with_name("probes") / "wgmma_ring.cu"
# --ring: (N, stages, slow, TMA 2D boxes of two 8192 x 8192 matrices (else 1D copies from 16 MB),
# [walk the tiles, split A / B rings], what)
RING_PATTERNS = [
    (192, 5, True, True, (1, 0), "ring 128x192 slow, TMA, tiles walked"),
    (192, 5, True, True, (0, 1), "ring 128x192 slow, TMA, A / B rings"),
    (192, 5, True, True, (1, 1), "ring 128x192 slow, TMA, walked, A / B rings"),
    (128, 6, False, True, (1, 1), "ring 128x128 fast, TMA, walked, A / B rings"),
    (256, 4, False, True, (1, 1), "ring 128x256 fast, TMA, walked, A / B rings"),
    (128, 6, False, False, (0, 0), "ring 128x128 fast, 6 stages, 1D copies"),
    (128, 6, False, True, (0, 0), "ring 128x128 fast, 6 stages, TMA"),
    (256, 4, False, False, (0, 0), "ring 128x256 fast, 4 stages, 1D copies"),
    (256, 4, False, True, (0, 0), "ring 128x256 fast, 4 stages, TMA"),
    (192, 5, True, False, (0, 0), "ring 128x192 slow, 5 stages, 1D copies"),
    (192, 5, True, True, (0, 0), "ring 128x192 slow, 5 stages, TMA"),
]
# (N, chains, slow, warpgroups, delay of warpgroup 1 in cycles, bulk copies alongside): what it stands for
PATTERNS = [
    (64, 1, False, 2, 0, 0, "two warpgroups, n64"),
    (32, 1, False, 2, 0, 0, "two warpgroups, n32"),
    (256, 1, False, 2, 0, 1, "coop 128x256 fast + copies"),
    (192, 1, False, 2, 0, 1, "coop 128x192 fast + copies"),
    (128, 1, False, 2, 0, 1, "coop 128x128 fast + copies"),
    (64, 1, False, 2, 0, 1, "two warpgroups, n64 + copies"),
    (192, 1, True, 2, 0, 1, "slow coop 128x192 + copies"),
    (256, 1, False, 2, 0, 0, "coop 128x256 fast"),
    (256, 1, False, 1, 0, 0, "one warpgroup, n256"),
    (192, 1, False, 2, 0, 0, "coop 128x192 fast"),
    (128, 1, False, 2, 0, 0, "coop 128x128 fast"),
    (128, 1, False, 1, 0, 0, "one warpgroup, n128"),
    (128, 2, False, 1, 0, 0, "one warpgroup, two n128 chains (pp 128x128)"),
    (128, 2, False, 2, 0, 0, "two warpgroups, two n128 chains each"),
    (192, 1, True, 2, 0, 0, "slow coop 128x192"),
    (192, 1, True, 2, 400, 0, "slow coop 128x192, wg 1 starts 400 cycles late"),
    (192, 1, True, 1, 0, 0, "slow, one warpgroup, n192"),
    (128, 1, True, 2, 0, 0, "slow coop 128x128"),
    (96, 2, True, 2, 0, 0, "slow, two n96 chains per warpgroup"),
    (64, 2, True, 2, 0, 0, "slow, two n64 chains per warpgroup"),
]


# name -> (threads, setmaxnreg, MMA warpgroups 1 and 2, side thread polls an mbarrier, per-K-block mbarrier ops)
BUILDS = {"384 threads, setmaxnreg": (384, 1, 0, 0, 0), "256 threads, setmaxnreg": (256, 1, 0, 0, 0),
          "384, MMA in warpgroups 1, 2": (384, 1, 1, 0, 0), "384, MMA in 1, 2, side polls": (384, 1, 1, 1, 0),
          "384, MMA in 1, 2, mbarrier ops": (384, 1, 1, 0, 1), "384, MMA in 1, 2, both": (384, 1, 1, 1, 1)}
BUILD_PATTERNS = [p for p in PATTERNS if p[6] in ("slow coop 128x192", "slow, one warpgroup, n192", "coop 128x128 fast",
                                                  "slow coop 128x128")]


def run(groups: int, build=(384, 1, 0, 0, 0), patterns=PATTERNS):
    import cupy as cp

    from fp8cuda._loader import get_kernel

    text = SRC.read_text()
    sms = cp.cuda.runtime.getDeviceProperties(0)["multiProcessorCount"]
    out = cp.zeros((sms, 4), cp.int64)
    sink = cp.zeros(384, cp.float32)
    src = cp.random.default_rng(0).integers(0, 0x76, 16 << 20, dtype=cp.uint8)
    rows = []
    threads, setmaxnreg, first, spin, barriers = build
    for n, chains, slow, nwg, delay, copy, what in patterns:
        if copy and threads < 384:
            continue
        kern = get_kernel(text, f"fp8cuda::wgmma_chain_probe<{n}, {chains}, {'true' if slow else 'false'}>",
                          (f"-DPROBE_THREADS={threads}", f"-DPROBE_SETMAXNREG={setmaxnreg}",
                           f"-DPROBE_MMA_FIRST={first}", f"-DPROBE_SPIN={spin}", f"-DPROBE_BARRIERS={barriers}"))
        smem = 1024 + 2 * 64 * 128 + chains * n * 128 + 4 * 16384 + 64
        kern.max_dynamic_shared_size_bytes = max(smem, 120 * 1024)  # one block per SM
        args = (out, np.int32(groups), np.int32(nwg), np.int32(delay), sink, src, np.int32(copy))
        for _ in range(2):  # warm-up, then the measured launch
            out.fill(0)
            kern((sms,), (threads,), args, shared_mem=max(smem, 120 * 1024))
        cp.cuda.runtime.deviceSynchronize()
        o = out.get()
        if o[0, 0] < 0:
            raise RuntimeError("the side thread's never-completing mbarrier completed")
        cyc = o[:, :nwg].astype(np.float64) / groups
        work = nwg * chains * 4 * n / 2
        med = float(np.median(cyc.max(axis=1)))
        o = out.get()
        copy_rate = float(np.median(o[:, 2] / np.maximum(o[:, 3], 1))) if copy else 0.0  # bytes per cycle per SM
        # shared-memory bytes per cycle the wgmmas read (A 64 x 128 per chain, B N x 128 per chain, per warpgroup)
        rd = nwg * chains * (64 + n) * 128 / med
        rows.append({"build": build, "N": n, "chains": chains, "slow": slow, "warpgroups": nwg, "delay": delay,
                     "copy": copy,
                     "what": what, "cycles_per_kblock": med, "work_cycles": work, "busy": work / med,
                     "wgmma_smem_read_per_cycle": rd, "copy_bytes_per_cycle": copy_rate})
        print(f"{what:50s} {med:7.0f} cycles per K block, work {work:5.0f}, busy {work / med:.2f}, "
              f"wgmma reads {rd:5.1f} B/cycle, copies {copy_rate:5.1f} B/cycle", flush=True)
    return rows


def ring_kernel(n: int, stages: int, slow: bool, tma: bool = True, split_ab: bool = True):
    """(kernel, dynamic shared-memory bytes) of one wgmma_ring_probe instance."""
    from fp8cuda._loader import get_kernel

    b = {True: "true", False: "false"}
    kern = get_kernel(RING_SRC.read_text(),
                      f"fp8cuda::wgmma_ring_probe<{n}, {stages}, {b[slow]}, {b[tma]}, {b[split_ab]}>")
    smem = 1024 + stages * (128 + n) * 128 + 2 * stages * 8  # alignment slack, stages, full / empty barriers
    kern.max_dynamic_shared_size_bytes = smem
    return kern, smem


def run_ring(kblocks: int):
    import cupy as cp

    from fp8cuda import gemm

    sms = cp.cuda.runtime.getDeviceProperties(0)["multiProcessorCount"]
    out = cp.zeros((sms, 2), cp.int64)
    sink = cp.zeros(384, cp.float32)
    rng = cp.random.default_rng(0)
    src = rng.integers(0, 0x76, (16 << 20) + (64 << 10), dtype=cp.uint8)
    a = rng.integers(0, 0x76, (8192, 8192), dtype=cp.uint8)
    b = rng.integers(0, 0x76, (8192, 8192), dtype=cp.uint8)
    rows = []
    for n, stages, slow, tma, (walk, split), what in RING_PATTERNS:
        kern, smem = ring_kernel(n, stages, slow, tma, bool(split))
        ta = gemm._tensor_map(a.data.ptr, 8192, 8192, 128)
        tb = gemm._tensor_map(b.data.ptr, 8192, 8192, n)
        # block b: row tile b % 8 of A, column tile b / 8 of B (about the grouped order's tiles in flight)
        args = (out, np.int32(kblocks), src, ta, tb, np.int32(64), np.int32(8), np.int32(8192 // n), sink,
                np.int32(walk))
        for _ in range(2):
            out.fill(0)
            kern((sms,), (384,), args, shared_mem=smem)
        cp.cuda.runtime.deviceSynchronize()
        cyc = out.get().astype(np.float64) / kblocks
        med = float(np.median(cyc.max(axis=1)))
        work = 2 * 4 * n / 2
        rows.append({"N": n, "stages": stages, "slow": slow, "tma": tma, "walk": walk, "split_ab": split,
                     "what": what, "cycles_per_kblock": med,
                     "work_cycles": work, "busy": work / med, "intake_bytes_per_cycle": (128 + n) * 128 / med})
        print(f"{what:50s} {med:7.0f} cycles per K block, work {work:5.0f}, busy {work / med:.2f}, "
              f"intake {(128 + n) * 128 / med:5.1f} B/cycle", flush=True)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--groups", type=int, default=4000)
    p.add_argument("--json", default=None)
    p.add_argument("--builds", action="store_true", help="a few patterns under each of BUILDS")
    p.add_argument("--ring", action="store_true", help="the stage ring probe (RING_PATTERNS) instead")
    a = p.parse_args(argv)
    if a.ring:
        rows = run_ring(a.groups)
    elif a.builds:
        rows = []
        for name, b in BUILDS.items():
            print(f"-- {name}")
            rows += run(a.groups, b, BUILD_PATTERNS)
    else:
        rows = run(a.groups)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

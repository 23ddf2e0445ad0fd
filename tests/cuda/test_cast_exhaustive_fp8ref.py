"""Every one of the 2**32 float32 inputs through the CUDA cast kernel, against fp8ref itself.

e4m3fn and e5m2, both overflow modes. fp8ref encodes each chunk of 2**24 inputs in worker processes (the
device machine has many cores; a chunk is encoded 2**18 at a time, see tests/test_format_exhaustive.py)
while the GPU casts the same chunk; the codes must be equal bit for bit.
"""

import multiprocessing
import os
import sys
import time

import numpy as np
import pytest

from fp8ref import encode

CHUNK = 2**24
SLICE = 2**18
COMBOS = [(fmt, saturate) for fmt in ("e4m3fn", "e5m2") for saturate in (False, True)]


def _fp8ref_chunk(c: int):
    bits = np.arange(c * CHUNK, (c + 1) * CHUNK, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    out = {combo: np.empty(CHUNK, np.uint8) for combo in COMBOS}
    for s in range(0, CHUNK, SLICE):
        for fmt, sat in COMBOS:
            out[(fmt, sat)][s:s + SLICE] = encode(x[s:s + SLICE], fmt, saturate=sat)
    return c, out


@pytest.mark.gpu
@pytest.mark.slow
def test_cast_every_float32_input_against_fp8ref():
    cp = pytest.importorskip("cupy")
    import fp8cuda

    start = time.perf_counter()
    mismatches = {combo: 0 for combo in COMBOS}
    first = {}
    workers = max(1, (os.cpu_count() or 2) - 1)
    # fork: the workers only run NumPy; none of them touches CUDA.
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for c, ref in pool.imap_unordered(_fp8ref_chunk, range(2**32 // CHUNK)):
            x = cp.arange(c * CHUNK, (c + 1) * CHUNK, dtype=cp.uint64).astype(cp.uint32).view(cp.float32)
            for fmt, sat in COMBOS:
                got = fp8cuda.cast_to_fp8(x, fmt, saturate=sat).get()
                bad = np.flatnonzero(got != ref[(fmt, sat)])
                if bad.size and (fmt, sat) not in first:
                    i = int(bad[0])
                    first[(fmt, sat)] = (f"input 0x{c * CHUNK + i:08x}: kernel 0x{int(got[i]):02x}, "
                                         f"fp8ref 0x{int(ref[(fmt, sat)][i]):02x}")
                mismatches[(fmt, sat)] += int(bad.size)
    wall = time.perf_counter() - start
    print(f"\nall 2**32 float32 inputs x {len(COMBOS)} (format, saturate) casts vs fp8ref: {wall:.1f} s",
          file=sys.stderr)
    assert not any(mismatches.values()), {k: (n, first.get(k)) for k, n in mismatches.items() if n}

"""Every one of the 2**32 float32 inputs, encoded to e4m3fn in both overflow modes, against ml_dtypes.

Non-saturating must equal ml_dtypes' cast bitwise; saturating must equal the rule derived from it
(``fp8ref.testing.encode_ml_dtypes``). The sweep runs in chunks of 2**24 inputs (encoded 2**18 at a
time) over os.cpu_count() worker processes and reports its wall time (printed to the terminal, to
stderr and as the test's ``exhaustive_wall_s`` user property). FP8REF_EXHAUSTIVE_FRACTION (default 1.0) checks a strided subset
for local iteration: every s-th bit pattern, s = the odd integer nearest 1 / fraction, so every exponent
and low mantissa bits are still covered.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time

import numpy as np
import pytest

from fp8ref.formats import E4M3FN, encode
from fp8ref.testing import encode_ml_dtypes

CHUNK = 2**24  # inputs per task
SLICE = 2**18  # inputs per encode call: small temporaries are reused from the heap instead of freshly
#                mmap'ed and page-faulted (2**24 at once spent 80% of the time in the kernel, 8x slower)
TOTAL = 2**32


def stride_from_env() -> int:
    fraction = float(os.environ.get("FP8REF_EXHAUSTIVE_FRACTION", "1.0"))
    if not 0 < fraction <= 1:
        raise ValueError(f"FP8REF_EXHAUSTIVE_FRACTION must be in (0, 1], got {fraction}")
    s = max(1, int(round(1 / fraction)))
    return s if s == 1 or s % 2 else s + 1


def check_chunk(task: tuple[int, int]) -> tuple[int, list[str]]:
    """Check inputs ``stride * j`` for j in chunk ``c``; returns (count checked, mismatch descriptions)."""
    c, stride = task
    j = np.arange(c * CHUNK, min((c + 1) * CHUNK, -(-TOTAL // stride)), dtype=np.uint64)
    bits = (j * np.uint64(stride)).astype(np.uint32)
    problems, count = [], {False: 0, True: 0}
    for s0 in range(0, bits.size, SLICE):
        x = bits[s0:s0 + SLICE].view(np.float32)
        for saturate in (False, True):
            got = encode(x, E4M3FN, saturate=saturate)
            want = encode_ml_dtypes(x, E4M3FN, saturate=saturate)
            bad = np.flatnonzero(got != want)
            if bad.size and not count[saturate]:
                i = bad[0]
                problems.append(f"saturate={saturate}: first mismatch in chunk {c} at input "
                                f"0x{int(x.view(np.uint32)[i]):08x} ({float(x[i])!r}): got 0x{int(got[i]):02x}, "
                                f"ml_dtypes 0x{int(want[i]):02x}")
            count[saturate] += bad.size
    problems += [f"saturate={s}: {n} mismatches in chunk {c}" for s, n in count.items() if n]
    return j.size, problems


@pytest.mark.slow
def test_every_float32_input_e4m3fn(request, capsys):
    stride = stride_from_env()
    n_inputs = -(-TOTAL // stride)
    tasks = [(c, stride) for c in range(-(-n_inputs // CHUNK))]
    workers = min(os.cpu_count() or 1, len(tasks))
    t0 = time.perf_counter()
    # fork: workers inherit the imported modules (no re-import of this test file by name)
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    with ctx.Pool(workers) as pool:
        results = list(pool.imap_unordered(check_chunk, tasks))
    wall = time.perf_counter() - t0
    checked = sum(n for n, _ in results)
    problems = [p for _, ps in results for p in ps]
    line = (f"exhaustive float32 -> e4m3fn: {checked} inputs (stride {stride}) x 2 overflow modes, "
            f"{workers} workers, {len(tasks)} chunks: {wall:.1f} s wall")
    request.node.user_properties.append(("exhaustive_wall_s", round(wall, 1)))
    request.node.user_properties.append(("exhaustive_inputs", checked))
    print(line, file=sys.stderr)
    with capsys.disabled():
        print(f"\n{line}")
    assert checked == n_inputs
    assert not problems, "\n".join(problems[:10])

"""CPU checks of the decode GEMM's configuration layer (fp8cuda/gemm_decode.py): the k_split it reports is
what fp8ref's split-K model accepts, and impossible configurations are refused before any launch."""

from __future__ import annotations

import numpy as np
import pytest

from fp8cuda.gemm_decode import DecodeConfig, decode_candidates, k_split_boundaries
from fp8ref.gemm import accumulation_error_bound


def _chain_ranges(k, split, chains):
    """The kernel's chain_range, literally: [(begin, end)] in K blocks, in (split, chain) order."""
    nkb = -(-k // 128)
    out = []
    for s in range(split):
        s0, s1 = s * nkb // split, (s + 1) * nkb // split
        out += [(s0 + c * (s1 - s0) // chains, s0 + (c + 1) * (s1 - s0) // chains) for c in range(chains)]
    return out


@pytest.mark.parametrize("k", [16, 128, 144, 1040, 4096, 14336])
@pytest.mark.parametrize("split,chains", [(1, 1), (1, 2), (2, 2), (3, 5), (8, 8)])
def test_k_split_is_the_kernels_ranges(k, split, chains):
    ranges = _chain_ranges(k, split, chains)
    assert ranges[0][0] == 0 and ranges[-1][1] == -(-k // 128)
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))  # contiguous, in K order
    cuts = tuple(sorted({128 * b for b, e in ranges if 0 < 128 * b < k}))
    assert k_split_boundaries(k, split, chains) == cuts
    xq = np.full((1, k), 0x38, np.uint8)
    for fast in (True, False):  # fp8ref accepts them (multiples of the promotion interval)
        accumulation_error_bound(xq, xq, use_fast_accum=fast, k_split=cuts)


def test_invalid_configs_are_refused():
    with pytest.raises(ValueError, match="chains"):
        DecodeConfig(64, 8, 4, 1, 8).validate(True)  # ring shorter than the chains in flight: would deadlock
    with pytest.raises(ValueError, match="registers"):
        DecodeConfig(64, 128, 4, 1, 2).validate(False)
    with pytest.raises(ValueError, match="unsupported"):
        DecodeConfig(64, 24, 4, 1, 1).validate(True)
    for cfg, fast in decode_candidates():
        cfg.validate(fast)

"""The Numba prototypes against fp8ref. Without a GPU they run in Numba's simulator (tests/conftest.py sets
NUMBA_ENABLE_CUDASIM=1), so inputs stay small; on a GPU the same tests run the kernels for real."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba.cuda")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from numba import cuda  # noqa: E402

from fp8cuda import numba_proto as proto  # noqa: E402
from fp8ref import formats, scale, stochastic  # noqa: E402
from fp8ref.strategies import activations, boundary_values  # noqa: E402


@cuda.jit
def _philox_kernel(ctr, key, out):
    i = cuda.grid(1)
    if i < ctr.shape[0]:
        w = proto.philox4x32_10(ctr[i, 0], ctr[i, 1], ctr[i, 2], ctr[i, 3], key[i, 0], key[i, 1])
        out[i, 0], out[i, 1], out[i, 2], out[i, 3] = w[0], w[1], w[2], w[3]


def test_philox_known_answers_and_fp8ref():
    # Random123 known-answer vectors: (counter, key) -> output.
    kat = [((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
           ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
           ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
            (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1))]
    rng = np.random.default_rng(1)
    ctr = np.concatenate([np.array([c for c, _, _ in kat]), rng.integers(0, 2**32, (13, 4))]).astype(np.int64)
    key = np.concatenate([np.array([k for _, k, _ in kat]), rng.integers(0, 2**32, (13, 2))]).astype(np.int64)
    out = np.zeros((len(ctr), 4), np.int64)
    _philox_kernel[1, 32](ctr, key, out)
    assert out[:3].tolist() == [list(w) for _, _, w in kat]
    np.testing.assert_array_equal(out, stochastic.philox4x32_10(ctr.astype(np.uint32), key.astype(np.uint32)))


@cuda.jit
def _encode_list_kernel(bits, codes, saturate, p):
    i = cuda.grid(1)
    if i < bits.shape[0]:
        codes[i] = proto._encode_bits(bits[i], 0, False, saturate, p)


@pytest.mark.parametrize("fmt", list(formats.FORMATS.values()), ids=str)
@pytest.mark.parametrize("saturate", [True, False])
def test_encode_matches_fp8ref_on_boundaries_and_specials(fmt, saturate):
    vals = np.concatenate([boundary_values(fmt, np.float32)[::2],
                           np.float32([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1e-40, -1e-40, 3.4e38])])
    codes = np.zeros(len(vals), np.uint8)
    _encode_list_kernel[(len(vals) + 127) // 128, 128](vals.view(np.uint32).astype(np.int64), codes, saturate,
                                                       proto.format_params(fmt))
    np.testing.assert_array_equal(codes, formats.encode(vals, fmt, saturate=saturate))


def test_encode_bits_kernel_sweeps_consecutive_patterns():
    first, n = 0x43E00000 - 100, 300  # around 448 = 0x43E00000
    codes = np.zeros(n, np.uint8)
    proto.encode_bits_kernel[(n + 127) // 128, 128](first, n, codes, False, proto.format_params(formats.E4M3FN))
    x = (np.arange(n, dtype=np.uint32) + np.uint32(first)).view(np.float32)
    np.testing.assert_array_equal(codes, formats.encode(x, formats.E4M3FN, saturate=False))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # simulator: NumPy warns on inf / inf and overflow
@settings(max_examples=12, deadline=None)
@given(x=activations(st.tuples(st.integers(1, 4), st.sampled_from([1, 3, 17, 33])), dtype=np.float32),
       ub=st.sampled_from([None, 1.0, 448.0, 1e-3]), nt=st.sampled_from([None, 0, 1, 3]),
       sr=st.booleans(), seed=st.integers(0, 2**64 - 1))
def test_quantize_per_row_matches_fp8ref(x, ub, nt, sr, seed):
    got_q, got_s = proto.quantize_fp8_per_row(x, ub, nt, stochastic_rounding=sr, seed=seed)
    ref_q, ref_s = scale.quantize_fp8_per_row(x, ub, nt, stochastic_rounding=sr, seed=seed)
    np.testing.assert_array_equal(got_s.view(np.uint32), ref_s.view(np.uint32))
    np.testing.assert_array_equal(got_q, ref_q)

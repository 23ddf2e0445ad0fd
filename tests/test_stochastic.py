"""fp8ref.stochastic (Philox4x32-10, random_bits) and fp8ref.formats.encode_stochastic.

encode_stochastic is a pure function of (x, r): with the magnitude between neighbouring values lo < hi,
``f = (|x| - lo) / (hi - lo)`` and ``F = floor(f * 2**32)``, it returns hi iff ``F + r >= 2**32``. So over
all 2**32 words r exactly F round up, and ``E[decode] = lo + (hi - lo) * F / 2**32``, which is x whenever
``f * 2**32`` is an integer. The tests compute lo, hi and F independently (ml_dtypes' table and exact
float64 arithmetic), then check the threshold by testing r on both sides of it and by bisecting r.
"""

from __future__ import annotations

import math
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from fp8ref.formats import FORMATS, decode, encode, encode_stochastic
from fp8ref.stochastic import philox4x32_10, random_bits
from fp8ref.strategies import formats
from fp8ref.testing import assert_fp8_equal

ALL = list(FORMATS.values())
IDS = [f.name for f in ALL]
BF16 = np.dtype(ml_dtypes.bfloat16)
TWO32 = 2**32
M32 = 0xFFFFFFFF

# ---------------------------------------------------------------------------------------------------------
# Philox4x32-10


def philox_reference(ctr: list[int], key: list[int]) -> list[int]:
    """Scalar Philox4x32-10 on Python ints, transcribed from Random123's philox.h."""
    c, k0, k1 = list(ctr), key[0], key[1]
    for rnd in range(10):
        if rnd:  # philox4x32bumpkey between rounds
            k0, k1 = (k0 + 0x9E3779B9) & M32, (k1 + 0xBB67AE85) & M32
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]  # mulhilo32
        c = [(p1 >> 32) ^ c[1] ^ k0, p1 & M32, (p0 >> 32) ^ c[3] ^ k1, p0 & M32]
    return c


# Random123 kat_vectors, philox4x32 10 rounds: (counter, key, output)
KAT = [
    ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    ([M32] * 4, [M32] * 2, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
    ([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0],
     [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]),
]


@pytest.mark.parametrize("ctr, key, want", KAT)
def test_philox_known_answers(ctr, key, want):
    got = philox4x32_10(np.array(ctr, np.uint32), np.array(key, np.uint32))
    assert got.dtype == np.uint32 and got.shape == (4,)
    assert [int(w) for w in got] == want
    assert philox_reference(ctr, key) == want


def test_philox_broadcasts_over_leading_dims():
    ctr = np.array([k[0] for k in KAT], np.uint32).reshape(3, 1, 4)
    key = np.array([k[1] for k in KAT], np.uint32).reshape(3, 1, 2)
    got = philox4x32_10(ctr, key)
    assert got.shape == (3, 1, 4)
    assert_array_equal(got.reshape(3, 4), np.array([k[2] for k in KAT], np.uint32))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, M32), min_size=4, max_size=4), st.lists(st.integers(0, M32), min_size=2, max_size=2))
def test_philox_matches_scalar_reference(ctr, key):
    got = philox4x32_10(np.array(ctr, np.uint32), np.array(key, np.uint32))
    assert [int(w) for w in got] == philox_reference(ctr, key)


# ---------------------------------------------------------------------------------------------------------
# random_bits: element i takes word i & 3 of philox(counter=(lo32(i >> 2), hi32(i >> 2), 0, 0), key=seed)


def random_bits_reference(seed: int, i: int) -> int:
    block = i >> 2
    return philox_reference([block & M32, block >> 32, 0, 0], [seed & M32, seed >> 32])[i & 3]


@settings(max_examples=40, deadline=None)
@given(seed=st.one_of(st.integers(0, 3), st.integers(0, 2**64 - 1)),
       offset=st.one_of(st.integers(0, 9), st.integers(0, 2**40), st.just(2**34 - 3)), n=st.integers(0, 11))
def test_random_bits_matches_contract(seed, offset, n):
    got = random_bits(seed, n, offset=offset)
    assert got.dtype == np.uint32 and got.shape == (n,)
    assert [int(w) for w in got] == [random_bits_reference(seed, offset + j) for j in range(n)]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**64 - 1), n=st.integers(0, 40), k=st.integers(0, 40))
def test_random_bits_offset_consistency(seed, n, k):
    assert_array_equal(random_bits(seed, n, offset=k), random_bits(seed, n + k)[k:])


def test_random_bits_uses_both_seed_halves_and_rejects_bad_seeds():
    a, b, c = (random_bits(s, 8) for s in (1, 1 + 2**32, 2**33 + 1))
    assert (a != b).any() and (b != c).any() and (a != c).any()
    for seed in (-1, 2**64):
        with pytest.raises(ValueError):
            random_bits(seed, 4)


# ---------------------------------------------------------------------------------------------------------
# encode_stochastic: neighbours and F computed independently.


def neighbours(x: np.ndarray, fmt):
    """(|x| as float64, lo, hi, lo's magnitude code, F) for finite x with |x| < max + ulp(max).

    lo/hi come from ml_dtypes' table of the codes 0..max_code (increasing) plus the virtual value above
    max. F = floor((|x| - lo) / (hi - lo) * 2**32) is exact in float64: |x| - lo is a multiple of the ulp
    of x below 2**q = hi - lo (so it has at most 53 significant bits for inputs up to float64's width),
    and division by 2**q and multiplication by 2**32 only shift the exponent.
    """
    table = np.arange(fmt.max_code + 1, dtype=np.uint8).view(fmt.ml_dtype).astype(np.float64)
    table = np.append(table, 2 * table[-1] - table[-2])
    a = np.abs(x.astype(np.float64))
    code = np.searchsorted(table, a, side="right") - 1  # lo = table[code] <= a < table[code + 1]
    lo, hi = table[code], table[code + 1]
    F = np.floor((a - lo) / (hi - lo) * TWO32)
    return a, lo, hi, code, F.astype(np.int64)


def signed(mag: np.ndarray, x: np.ndarray, fmt, saturate: bool) -> np.ndarray:
    """Codes from magnitude codes (max_code + 1 meaning overflow) and the signs of x."""
    over = mag > fmt.max_code
    if not saturate:
        mag = np.where(over, fmt.inf_code if fmt.inf_code is not None else fmt.nan_code, mag)
    else:
        mag = np.where(over, fmt.max_code, mag)
    code = mag | (np.signbit(x.astype(np.float64)).astype(np.int64) << 7)
    if fmt.single_nan:
        code = np.where((mag == 0) | (mag == 0x80), mag, code)
    return code.astype(np.uint8)


def inputs_16bit(dtype, fmt) -> np.ndarray:
    """All finite 16-bit inputs of ``dtype`` below max + ulp(max) in magnitude (both signs)."""
    x = np.arange(2**16, dtype=np.uint32).astype(np.uint16).view(dtype)
    with np.errstate(invalid="ignore"):  # NaN payloads
        a = np.abs(x.astype(np.float64))
    top = fmt.max + 2.0 ** (math.floor(math.log2(fmt.max)) - fmt.mbits)
    return x[np.isfinite(a) & (a < top)]


@pytest.mark.parametrize("saturate", [True, False])
@pytest.mark.parametrize("dtype", [np.dtype(np.float16), BF16], ids=str)
@pytest.mark.parametrize("fmt", ALL, ids=IDS)
def test_threshold_is_exactly_2_32_minus_F(fmt, dtype, saturate):
    """Every finite 16-bit input in range, r on both sides of the threshold and at both ends."""
    x = inputs_16bit(dtype, fmt)
    _, _, _, code, F = neighbours(x, fmt)
    down, up = signed(code, x, fmt, saturate), signed(code + 1, x, fmt, saturate)

    def enc(r):
        return encode_stochastic(x, fmt, np.asarray(r, np.int64).astype(np.uint32), saturate=saturate)

    assert_fp8_equal(enc(TWO32 - 1 - F), down, fmt, inputs=x)  # F + r = 2**32 - 1: stays
    has_up = F > 0
    assert_fp8_equal(enc(TWO32 - F)[has_up], up[has_up], fmt, inputs=x[has_up])  # F + r = 2**32: goes up
    assert_fp8_equal(enc(np.zeros_like(F)), down, fmt, inputs=x)
    assert_fp8_equal(enc(np.full_like(F, M32)), np.where(has_up, up, down), fmt, inputs=x)


def threshold_by_bisection(x: np.ndarray, fmt, down: np.ndarray) -> np.ndarray:
    """Smallest r in [0, 2**32] with encode_stochastic(x, r) != down (2**32: never), assuming monotone in r."""
    lo, hi = np.zeros(x.shape, np.int64), np.full(x.shape, TWO32, np.int64)
    while (active := hi > lo).any():
        mid = np.minimum((lo + hi) // 2, TWO32 - 1)  # < hi <= 2**32 where active
        moved = encode_stochastic(x, fmt, mid.astype(np.uint32)) != down
        hi, lo = np.where(active & moved, mid, hi), np.where(active & ~moved, mid + 1, lo)
    return lo


@pytest.mark.parametrize("dtype", [np.dtype(np.float16), BF16], ids=str)
@pytest.mark.parametrize("fmt", ALL, ids=IDS)
def test_unbiased_over_all_r_exact(fmt, dtype):
    """Count the words r that round up (by bisection) and compare with F; then E[decode] over all r = x."""
    x = inputs_16bit(dtype, fmt)
    x = x[np.abs(x.astype(np.float64)) <= fmt.max]  # in range: above max, rounding up saturates (tested below)
    a, lo, hi, code, F = neighbours(x, fmt)
    down = signed(code, x, fmt, True)
    count = TWO32 - threshold_by_bisection(x, fmt, down)
    assert_array_equal(count, F)
    # E = ((2**32 - count) * lo + count * hi) / 2**32 = x  <=>  (|x| - lo) * 2**32 == count * (hi - lo);
    # both sides exact in float64 (count < 2**32, hi - lo a power of two).
    exact = (a - lo) * TWO32 == count * (hi - lo)
    # f has at most 32 bits for every 16-bit input of magnitude >= fmt's smallest subnormal: exactly x.
    assert exact[a >= fmt.min_subnormal].all()
    # Below that the bias is F - f * 2**32 in (-1, 0] units of 2**-32 quanta.
    deficit = (a - lo) * TWO32 - count * (hi - lo)
    assert ((deficit >= 0) & (deficit < hi - lo)).all()


@settings(max_examples=25, deadline=None)
@given(fmt=formats(), seed=st.integers(0, 2**32 - 1), r=st.integers(0, M32))
def test_float32_threshold_and_unbiasedness(fmt, seed, r):
    """float32: F has up to 32 bits; exact unbiasedness down to |x| = 2**(emin - mbits - 9)."""
    rng = np.random.default_rng(seed)
    # random sign and significand, binades from 12 below the smallest subnormal's to max's
    e = rng.integers(fmt.emin - fmt.mbits - 12, math.floor(math.log2(fmt.max)) + 1, 64)
    bits = (rng.integers(0, 2, 64) << 31) | ((e + 127) << 23) | rng.integers(0, 2**23, 64)
    x = bits.astype(np.uint32).view(np.float32)
    x = x[np.abs(x) <= fmt.max]  # above max rounding up saturates: test_saturation_and_nan
    a, lo, hi, code, F = neighbours(x, fmt)
    # neighbours()' float64 F is exact: the same with fractions, floor(f * 2**32), f = (|x| - lo) / (hi - lo)
    exact_F = [math.floor((abs(Fraction(float(v))) - Fraction(lo_)) / (Fraction(hi_) - Fraction(lo_)) * TWO32)
               for v, lo_, hi_ in zip(x, lo.tolist(), hi.tolist())]
    assert F.tolist() == exact_F
    down, up = signed(code, x, fmt, True), signed(code + 1, x, fmt, True)
    got = encode_stochastic(x, fmt, np.full(x.shape, r, np.uint32))
    assert_fp8_equal(got, np.where(F + r >= TWO32, up, down), fmt, inputs=x)
    count = TWO32 - threshold_by_bisection(x, fmt, down)
    assert_array_equal(count, F)
    exact = (a - lo) * TWO32 == count * (hi - lo)
    assert exact[a >= 2.0 ** (fmt.emin - fmt.mbits - 9)].all()


@settings(max_examples=60, deadline=None)
@given(fmt=formats(), dtype=st.sampled_from([np.float32, np.float64]), r=st.integers(0, M32),
       v=st.floats(allow_nan=False, allow_infinity=False, width=64))
def test_result_is_a_neighbour_of_the_rne_result(fmt, dtype, r, v):
    with np.errstate(over="ignore"):  # float64 -> float32 may overflow to inf: that is an input too
        x = np.array([v, v / 2**100, v * 2.0**-60, v % 512, -(v % 64000)], np.float64).astype(dtype)
    got = encode_stochastic(x, fmt, np.uint32(r))
    rne = encode(x, fmt, saturate=True)
    a = np.abs(x.astype(np.float64))
    ok = a < fmt.max + 2.0 ** (math.floor(math.log2(fmt.max)) - fmt.mbits)
    _, _, _, code, F = neighbours(x[ok], fmt)
    lo, hi = signed(code, x[ok], fmt, True), signed(code + 1, x[ok], fmt, True)
    assert ((got[ok] == lo) | (got[ok] == hi)).all()
    assert ((rne[ok] == lo) | (rne[ok] == hi)).all()
    assert_fp8_equal(got[~ok], rne[~ok], fmt, inputs=x[~ok])  # beyond max + ulp: +-max either way


@pytest.mark.parametrize("fmt", ALL, ids=IDS)
def test_representable_inputs_never_change(fmt):
    values = decode(np.arange(256, dtype=np.uint8), fmt, np.float32)
    codes = np.arange(256, dtype=np.uint8)[np.isfinite(values)]
    x = values[np.isfinite(values)]
    for r in (0, 1, 2**31, M32, *random_bits(5, 4).tolist()):
        assert_fp8_equal(encode_stochastic(x, fmt, np.uint32(r)), codes, fmt, inputs=x)


@pytest.mark.parametrize("saturate", [True, False])
@pytest.mark.parametrize("fmt", ALL, ids=IDS)
def test_saturation_and_nan(fmt, saturate):
    over = fmt.inf_code if fmt.inf_code is not None else fmt.nan_code
    x = np.float32([np.nan, -np.nan, np.inf, -np.inf, 2 * fmt.max, -1e30])
    rne = encode(x, fmt, saturate=saturate)
    for r in (0, 2**31, M32):
        assert_fp8_equal(encode_stochastic(x, fmt, np.uint32(r), saturate=saturate), rne, fmt, inputs=x)
    # between max and the next virtual value: up is overflow
    top_ulp = 2.0 ** (math.floor(math.log2(fmt.max)) - fmt.mbits)
    x = np.float32([fmt.max + top_ulp / 4, -(fmt.max + top_ulp / 4)])
    r_up, r_down = np.uint32(3 * 2**30), np.uint32(3 * 2**30 - 1)  # F = 2**30
    want_down = np.uint8([fmt.max_code, fmt.max_code | 0x80])
    assert_fp8_equal(encode_stochastic(x, fmt, r_down, saturate=saturate), want_down, fmt)
    want_up = [fmt.max_code, fmt.max_code | 0x80] if saturate else [over, over if fmt.single_nan else over | 0x80]
    assert_fp8_equal(encode_stochastic(x, fmt, r_up, saturate=saturate), np.uint8(want_up), fmt)


def test_saturate_defaults_to_true_and_rbits_broadcast():
    x = np.float32([[1000.0, 1.0625], [-1000.0, 1.0625]])
    assert_fp8_equal(encode_stochastic(x, "e4m3fn", np.uint32(2**31)), np.uint8([[0x7E, 0x39], [0xFE, 0x39]]), "e4m3fn")
    r = np.uint32([0, 2**31])  # broadcast over rows
    assert_fp8_equal(encode_stochastic(x, "e4m3fn", r), np.uint8([[0x7E, 0x39], [0xFE, 0x39]]), "e4m3fn")
    got = encode_stochastic(x[:, 1:], "e4m3fn", np.uint32([[0], [2**31]]))
    assert_fp8_equal(got, np.uint8([[0x38], [0x39]]), "e4m3fn")


# ---------------------------------------------------------------------------------------------------------
# Statistics with Philox words.

# n draws of one x: the number k of round-ups is Binomial(n, p), p = F / 2**32, mean n p, standard deviation
# sigma = sqrt(n p (1 - p)). With n p (1 - p) >= 2**16 * 2**-8 * (1 - 2**-8) ~ 255 the normal approximation
# holds, and |k - n p| > 6 sigma has probability ~2e-9 for truly uniform words. The seed is fixed, so the
# test is deterministic: it fails only if the bits are not uniform or P(up) is not F / 2**32.
N_DRAWS = 2**16
STAT_X = [1.0 + 1 / 16, 1.0 + 1 / 32, 1.0 + 3 / 64, 1.0 + 1 / 8 - 2**-11, 3.0 + 2**-9, 0.001, 201.0]


@pytest.mark.parametrize("fmt", ALL, ids=IDS)
def test_statistics_with_random_bits(fmt):
    r = random_bits(1234, N_DRAWS * len(STAT_X)).reshape(len(STAT_X), N_DRAWS)
    x = np.repeat(np.float32(STAT_X)[:, None], N_DRAWS, axis=1)
    _, lo, hi, code, F = neighbours(x[:, 0], fmt)
    p = F / TWO32
    assert ((p >= 2**-8) & (p <= 1 - 2**-8)).all(), "pick inputs with n p (1 - p) large enough"
    up = encode_stochastic(x, fmt, r) == signed(code + 1, x[:, 0], fmt, True)[:, None]
    k = up.sum(axis=1)
    sigma = np.sqrt(N_DRAWS * p * (1 - p))
    assert (np.abs(k - N_DRAWS * p) <= 6 * sigma).all(), (k, N_DRAWS * p, sigma)
    # each of Philox's four output words on its own (n / 4 draws each): same derivation
    for lane in range(4):
        kl = up[:, lane::4].sum(axis=1)
        assert (np.abs(kl - N_DRAWS / 4 * p) <= 6 * np.sqrt(N_DRAWS / 4 * p * (1 - p))).all(), lane

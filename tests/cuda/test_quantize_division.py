"""The per-element division of the fast per-row quantizers (quantize.cu div_by_row), checked on the CPU.

Once per row y = RN(1 / s); per element q0 = RN(x * y), e0 = RN(s * q0 - x), q1 = RN(q0 - e0 * y),
e1 = RN(s * q1 - x), q2 = RN(q1 - e1 * y). The kernels use it on rows where s is finite and the row's
max |x| times y is <= 2**126 (row_divides_fast), and claim: q2 is float32 x / s (IEEE, as div.rn.f32)
whenever |x / s| >= 2**-11, and otherwise both quotients encode to the same e4m3fn code. Checked here bit
for bit, emulating mul.rn.f32 and fma.rn.f32 exactly with float64 (the product of two float32 values is
exact in float64; the sum is rounded to odd, then once to float32, which is then correctly rounded).
No GPU needed; the kernels' machine code for the sequence is checked in test_sass_quantize.py.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from fp8ref import formats

FLOOR = np.float32(1) / np.float32(448.0 * 512)  # fp8ref's scale floor for e4m3fn


@np.errstate(all="ignore")
def mul32(a, b):
    return (a.astype(np.float64) * b.astype(np.float64)).astype(np.float32)


@np.errstate(all="ignore")  # rows that the guard excludes overflow here; check() drops them
def fma32(a, b, c):
    """float32 RN(a * b + c) with one rounding: exact product, TwoSum, round to odd in float64, round to float32."""
    p = a.astype(np.float64) * b.astype(np.float64)
    c = np.broadcast_to(c, p.shape).astype(np.float64)
    s = p + c
    bp = s - p
    err = (p - (s - bp)) + (c - bp)  # s + err == p + c exactly
    odd = (s.view(np.uint64) & 1) == 1
    fix = (err != 0) & ~odd  # inexact and even: the odd neighbour on err's side
    s = np.where(fix, np.nextafter(s, np.where(err > 0, np.inf, -np.inf)), s)
    return s.astype(np.float32)


def div_by_row(x, s):
    s = np.float32(s)
    y = np.float32(1) / s
    sv = np.full(x.shape, s, np.float32)
    yv = np.full(x.shape, y, np.float32)
    q = mul32(x, yv)
    e = fma32(sv, q, -x)
    q = fma32(-e, yv, q)
    e = fma32(sv, q, -x)
    return fma32(-e, yv, q), y


def codes(q):
    """e4m3fn codes as the kernels produce them: satfinite RNE, every NaN quotient -> 0x7F."""
    c = formats.encode(q, "e4m3fn", saturate=True)
    return np.where(np.isnan(q), np.uint8(0x7F), c)


def check(x, s):
    x = x[np.isfinite(x)]
    got, y = div_by_row(x, s)
    keep = mul32(np.abs(x), np.full(x.shape, y, np.float32)) <= np.float32(2.0**126)  # row_divides_fast
    x, got = x[keep], got[keep]
    with np.errstate(all="ignore"):
        want = x / np.float32(s)
    big = np.abs(want) >= np.float32(2.0**-11)
    bad = big & (got.view(np.uint32) != want.view(np.uint32))
    assert not bad.any(), f"s={float(s)!r}: x={x[bad][:4]!r} got {got[bad][:4]!r} want {want[bad][:4]!r}"
    small = ~big
    assert (np.abs(got[small]) < np.float32(2.0**-10)).all()
    np.testing.assert_array_equal(codes(got), codes(want))


def scales():
    """Scales a row can have: the floor and its neighbours, amax / 448 over the whole exponent range,
    significands 1.0, 1.5 and all ones, the largest (FLT_MAX / 448)."""
    rng = np.random.default_rng(11)
    amax = np.concatenate([
        np.float32([1.0, 448.0, 3.0, 2.0**-9, 1e-3, 65504.0, 3.3895314e38]),
        (rng.standard_normal(24) * 2.0 ** rng.integers(-8, 120, 24)).astype(np.float32),
    ])
    out = [np.maximum(np.abs(a) / np.float32(448), FLOOR) for a in amax]
    out += [FLOOR, np.nextafter(FLOOR, np.float32(1)), np.float32(1.0), np.float32(1.5),
            np.uint32(0x3FFFFFFF).view(np.float32), np.uint32(0x3F7FFFFF).view(np.float32),
            np.float32(np.finfo(np.float32).max) / np.float32(448)]
    return sorted(set(np.float32(v) for v in out))


SCALES = scales()


@pytest.mark.parametrize("dtype", [np.dtype(ml_dtypes.bfloat16), np.dtype(np.float16)], ids=str)
def test_every_16_bit_numerator(dtype):
    x = np.arange(2**16, dtype=np.uint16).view(dtype).astype(np.float32)
    for s in SCALES:
        check(x, s)


def test_float32_numerators():
    """2**22 random float32 bit patterns per scale, plus every significand of one binade (2**23 values,
    both signs) for scales whose own significands are hard (all ones, 1.5, random)."""
    rng = np.random.default_rng(12)
    for s in SCALES:
        check(rng.integers(0, 2**32, 2**20, dtype=np.uint64).astype(np.uint32).view(np.float32), s)
    sig = np.arange(2**23, dtype=np.uint32)
    for s in (np.uint32(0x3FFFFFFF).view(np.float32), SCALES[len(SCALES) // 2]):
        for e in (127, 127 + 8):  # quotients near 1 and near 256 (the top binades of e4m3fn)
            x = ((np.uint32(e) << 23) | sig).view(np.float32)
            check(np.concatenate([x, -x]), s)


def test_signed_zero_and_tiny_numerators():
    for s in SCALES:
        x = np.float32([0.0, -0.0, 1e-45, -1e-45, 1e-40, -1e-40, 2.0**-126, -(2.0**-126)])
        got, _ = div_by_row(x, s)
        want = x / np.float32(s)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
        np.testing.assert_array_equal(codes(got), codes(want))

"""FP8 formats: codes, decoding, and encoding with round-to-nearest-even or stochastic rounding.

A code is a uint8 bit pattern ``S.E...E.M...M``. Every function here works on NumPy arrays of codes
(``np.uint8``) and is written with integer bit operations; ml_dtypes is only an independent oracle in
the tests.

Rounding is defined on the exact value of the input (float16, bfloat16, float32 or float64): the input
is unpacked to ``sign * sig * 2**exp2`` with an integer significand, the quantum (ulp) of the target
format at that magnitude is found, and the significand is rounded to a multiple of it. No intermediate
floating-point arithmetic takes place, so there is no double rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import numpy as np

__all__ = [
    "Format", "E4M3FN", "E4M3FNUZ", "E5M2", "FORMATS", "get_format",
    "decode", "encode", "round", "encode_stochastic", "all_codes",
]


@dataclass(frozen=True)
class Format:
    """An 8-bit floating-point format: 1 sign bit, ``ebits`` exponent bits, ``mbits`` mantissa bits."""

    name: str
    ebits: int
    mbits: int
    bias: int
    max_code: int  # largest finite magnitude code (sign bit clear)
    nan_code: int  # canonical NaN; the input's sign is OR'ed in unless ``single_nan``
    inf_code: int | None  # +inf code, or None when the format has no infinity
    single_nan: bool  # True for the "fnuz" formats: 0x80 is the only NaN and there is no -0
    ml_dtype: type  # the matching ml_dtypes scalar type (the tests' independent oracle)

    @property
    def emin(self) -> int:
        """Exponent of the smallest normal number: 1 - bias."""
        return 1 - self.bias

    @property
    def max(self) -> float:
        return float(decode(np.uint8(self.max_code), self, np.float64))

    @property
    def min_normal(self) -> float:
        return 2.0 ** self.emin

    @property
    def min_subnormal(self) -> float:
        return 2.0 ** (self.emin - self.mbits)

    def __repr__(self) -> str:
        return f"fp8ref.{self.name.upper()}"


# OCP E4M3 (NVIDIA "e4m3fn"): no infinity; S.1111.111 is NaN, so the top exponent still holds numbers.
# max: 0b0_1111_110 = 0x7E -> (1 + 0b110/8) * 2**(15 - 7) = 448
# min normal 2**(1 - 7) = 2**-6, min subnormal 2**-6 * 2**-3 = 2**-9
E4M3FN = Format("e4m3fn", 4, 3, 7, 0x7E, 0x7F, None, False, ml_dtypes.float8_e4m3fn)

# AMD MI300 "e4m3fnuz": bias 8, no infinity, no negative zero; 0x80 (would-be -0) is the only NaN.
# max: 0b0_1111_111 = 0x7F -> (1 + 0b111/8) * 2**(15 - 8) = 240
# min normal 2**(1 - 8) = 2**-7, min subnormal 2**-10
E4M3FNUZ = Format("e4m3fnuz", 4, 3, 8, 0x7F, 0x80, None, True, ml_dtypes.float8_e4m3fnuz)

# OCP E5M2: IEEE-like; S.11111.00 = inf, S.11111.{01,10,11} = NaN (canonical quiet NaN S.11111.10).
# max: 0b0_11110_11 = 0x7B -> (1 + 0b11/4) * 2**(30 - 15) = 57344
# min normal 2**-14, min subnormal 2**-16
E5M2 = Format("e5m2", 5, 2, 15, 0x7B, 0x7E, 0x7C, False, ml_dtypes.float8_e5m2)

FORMATS = {f.name: f for f in (E4M3FN, E4M3FNUZ, E5M2)}


def get_format(fmt: Format | str) -> Format:
    """Return the Format for ``fmt`` (a Format or one of "e4m3fn", "e4m3fnuz", "e5m2")."""
    if isinstance(fmt, Format):
        return fmt
    if isinstance(fmt, str) and fmt.lower() in FORMATS:
        return FORMATS[fmt.lower()]
    raise ValueError(f"fmt: expected one of {sorted(FORMATS)} or a Format, got {fmt!r}")


def all_codes() -> np.ndarray:
    """All 256 codes, 0x00..0xFF, as uint8."""
    return np.arange(256, dtype=np.uint8)


def _as_codes(codes, name: str = "codes") -> np.ndarray:
    codes = np.asarray(codes)
    if codes.dtype == np.uint8:
        return codes
    if codes.dtype in (np.dtype(t) for t in (ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e4m3fnuz, ml_dtypes.float8_e5m2)):
        return codes.view(np.uint8)
    raise TypeError(f"{name}: expected uint8 FP8 codes (or an ml_dtypes float8 array), got dtype {codes.dtype}")


def decode(codes, fmt: Format | str, dtype=np.float32) -> np.ndarray:
    """Decode FP8 codes to float32 or float64, exactly (every FP8 value is representable in both).

    ``codes``: uint8 array of any shape. NaN codes decode to NaN with the code's sign, e5m2's 0x7C/0xFC
    to +-inf, and 0x80 to -0.0 (except in e4m3fnuz, where 0x80 is NaN).

    >>> decode(np.array([0x7E, 0x01, 0x80, 0x7F], np.uint8), "e4m3fn")
    array([ 4.480000e+02,  1.953125e-03, -0.000000e+00,           nan], dtype=float32)
    """
    fmt = get_format(fmt)
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise TypeError(f"dtype: expected float32 or float64, got {np.dtype(dtype)}")
    c = _as_codes(codes).astype(np.int32)
    sign = c >> 7
    e = (c >> fmt.mbits) & ((1 << fmt.ebits) - 1)
    m = c & ((1 << fmt.mbits) - 1)
    # value = sig * 2**(max(e, 1) - bias - mbits), sig = m (subnormal, e == 0) or 2**mbits + m (normal)
    sig = np.where(e == 0, m, m + (1 << fmt.mbits))
    mag = np.ldexp(sig.astype(np.float64), np.maximum(e, 1) - fmt.bias - fmt.mbits)
    if fmt.single_nan:
        nan = c == 0x80
    elif fmt.inf_code is not None:
        top = e == (1 << fmt.ebits) - 1
        mag = np.where(top & (m == 0), np.inf, mag)
        nan = top & (m != 0)
    else:
        nan = (c & 0x7F) == fmt.nan_code
    mag = np.where(nan, np.nan, mag)
    return np.where(sign == 1, -mag, mag).astype(dtype)


# Source formats: (exponent bits, mantissa bits) of each input dtype that encode() accepts.
_SOURCES = {
    np.dtype(np.float16): (5, 10, np.uint16),
    np.dtype(ml_dtypes.bfloat16): (8, 7, np.uint16),
    np.dtype(np.float32): (8, 23, np.uint32),
    np.dtype(np.float64): (11, 52, np.uint64),
}


def _unpack(x: np.ndarray):
    """Split finite and non-finite inputs into ``sign``, integer ``sig`` and ``exp2``, value = sig * 2**exp2."""
    if x.dtype not in _SOURCES:
        raise TypeError(f"x: expected float16, bfloat16, float32 or float64, got dtype {x.dtype}")
    ebits, mbits, utype = _SOURCES[x.dtype]
    bits = x.view(utype)
    nbits = 1 + ebits + mbits
    sign = (bits >> np.array(nbits - 1, utype)).astype(np.int64)
    e = ((bits >> np.array(mbits, utype)) & np.array((1 << ebits) - 1, utype)).astype(np.int64)
    m = (bits & np.array((1 << mbits) - 1, utype)).astype(np.int64)
    top = e == (1 << ebits) - 1
    isnan = top & (m != 0)
    isinf = top & (m == 0)
    bias = (1 << (ebits - 1)) - 1
    sig = np.where(e == 0, m, m | (1 << mbits))
    exp2 = np.maximum(e, 1) - bias - mbits
    return sign, sig, exp2, isnan, isinf


def _encode(x, fmt: Format, saturate: bool, rbits=None) -> np.ndarray:
    """Shared steps of encode() and encode_stochastic(); ``rbits`` None means round-to-nearest-even."""
    x = np.asarray(x)
    # 1. Unpack the exact input: value = (-1)**sign * sig * 2**exp2, sig an integer < 2**53.
    sign, sig, exp2, isnan, isinf = _unpack(x)
    # 2. Binade: u = floor(log2 |value|). frexp is exact here because sig < 2**53.
    _, fe = np.frexp(sig.astype(np.float64))
    u = fe.astype(np.int64) - 1 + exp2
    # 3. Quantum of the target at this magnitude: 2**q, q = max(u, emin) - mbits (subnormals share emin's).
    q = np.maximum(u, fmt.emin) - fmt.mbits
    # 4. Round sig * 2**exp2 to an integer multiple n of 2**q; s = q - exp2 fraction bits are dropped.
    #    sig < 2**53, so any s > 54 drops everything; clamp to keep the shifts defined.
    s = q - exp2
    sc = np.clip(s, 0, 62)
    n = (sig >> sc) << np.clip(-s, 0, 62)
    rem = sig & ((np.int64(1) << sc) - 1)
    if rbits is None:
        half = (np.int64(1) << sc) >> 1
        up = (sc > 0) & ((rem > half) | ((rem == half) & ((n & 1) == 1)))
    else:
        # Stochastic: F = the first 32 dropped bits as a fraction of 2**32; round up iff F + r >= 2**32,
        # so P(up) = F / 2**32, exactly the dropped fraction whenever s <= 32.
        r = np.broadcast_to(np.asarray(rbits, dtype=np.uint32), x.shape).astype(np.int64)
        f32 = np.where(sc >= 32, rem >> np.clip(s - 32, 0, 63), rem << np.clip(32 - sc, 0, 32))
        f32 = np.where(s - 32 > 62, 0, f32)
        up = (f32 + r) >= (np.int64(1) << 32)
    n = n + up
    # 5. Assemble the magnitude code. In units of 2**q, a normal value is n = 2**mbits + mantissa and a
    #    subnormal one is n = mantissa, so code = ((max(u + bias, 1) - 1) << mbits) + n covers both,
    #    including a carry into the next binade (n == 2**(mbits+1)) or out of the subnormals (n == 2**mbits).
    mag = ((np.maximum(u + fmt.bias, 1) - 1) << fmt.mbits) + n
    mag = np.where(sig == 0, 0, mag)
    # 6. Overflow, infinities and NaN.
    over = isinf | (mag > fmt.max_code)
    if saturate:
        # satfinite (PTX cvt.rn.satfinite): finite overflow and +-inf -> +-max.
        mag = np.where(over, fmt.max_code, mag)
    else:
        # OCP non-saturating: rounded value beyond max (and +-inf) -> inf in e5m2, NaN in the e4m3 formats.
        mag = np.where(over, fmt.inf_code if fmt.inf_code is not None else fmt.nan_code, mag)
    mag = np.where(isnan, fmt.nan_code, mag)
    # 7. Apply the sign. fnuz formats have a single NaN (0x80) and no -0: a zero result is +0.
    code = mag | (sign << 7)
    if fmt.single_nan:
        code = np.where(mag == 0, 0, code)
        code = np.where(mag == 0x80, 0x80, code)
    return code.astype(np.uint8)


def encode(x, fmt: Format | str, *, saturate: bool) -> np.ndarray:
    """Encode ``x`` (float16, bfloat16, float32 or float64 array) as FP8 codes, rounding to nearest even.

    ``saturate=True`` is satfinite (PTX ``cvt.rn.satfinite``): values whose rounded magnitude exceeds
    max, and +-inf, become +-max; NaN stays NaN. ``saturate=False`` is the OCP non-saturating rule (what
    ml_dtypes does): round first, then a magnitude beyond max or an infinity becomes inf (e5m2) or NaN
    (e4m3fn, e4m3fnuz). NaN keeps the input's sign (e4m3fn S.1111.111, e5m2 S.11111.10); e4m3fnuz has the
    single NaN 0x80 and maps -0 and negative underflow to +0.

    >>> [hex(c) for c in encode(np.array([464.0, 465.0, -np.inf], np.float32), "e4m3fn", saturate=False)]
    ['0x7e', '0x7f', '0xff']
    >>> [hex(c) for c in encode(np.array([464.0, 465.0, -np.inf], np.float32), "e4m3fn", saturate=True)]
    ['0x7e', '0x7e', '0xfe']
    """
    return _encode(x, get_format(fmt), bool(saturate))


def round(x, fmt: Format | str, *, saturate: bool) -> np.ndarray:  # noqa: A001 (the spec's name)
    """``decode(encode(x))`` returned in x's own dtype (every FP8 value is exact in each source dtype).

    >>> round(np.array([0.3, 1000.0], np.float32), "e4m3fn", saturate=True).tolist()
    [0.3125, 448.0]
    """
    x = np.asarray(x)
    return decode(encode(x, fmt, saturate=saturate), fmt, np.float64).astype(x.dtype)


def encode_stochastic(x, fmt: Format | str, rbits, *, saturate: bool = True) -> np.ndarray:
    """Encode with stochastic rounding driven by explicit random bits: a pure function of ``x`` and ``rbits``.

    ``rbits``: uint32 array broadcastable to ``x``, one word per element. With the magnitude written as
    ``(n + f) * 2**q`` (``2**q`` the target quantum, ``0 <= f < 1``) and ``F = floor(f * 2**32)``, the
    result is ``n + 1`` if ``F + rbits >= 2**32`` else ``n``; so for uniform rbits ``P(up) = F / 2**32``.
    That equals ``f`` (the rounding is unbiased) whenever f has at most 32 bits: always for float16,
    bfloat16 and float32 inputs in the target's normal range, and for float32 down to 2**-18 in e4m3fn;
    otherwise the bias is below ``2**-32`` quantum. Overflow, infinities and NaN follow ``encode``.

    >>> [hex(c) for c in encode_stochastic(np.float32([1.0625, 1.0625]), "e4m3fn", np.uint32([0, 2**31]))]
    ['0x38', '0x39']
    """
    return _encode(x, get_format(fmt), bool(saturate), rbits=rbits)

"""Numba CUDA prototypes ("level 1"): the row-wise quantizer and the casts, written for reading.

Software rounding on integer codes, in the same numbered steps as fp8ref.formats._encode, one thread per
row (quantizer) or per element (cast). All integer work is in int64 (products split so they never
overflow), float work in float32 with IEEE division. CI runs these under ``NUMBA_ENABLE_CUDASIM=1``
against fp8ref; on a GPU the same tests run them for real, and the exhaustive float32 sweep compares the
CuPy cast kernels with ``encode_bits_kernel``.

Arguments are device arrays (Numba, CuPy or NumPy under the simulator). A format is passed as the tuple
``format_params(fmt) = (ebits, mbits, bias, max_code, nan_code, inf_code or -1, single_nan)``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

__all__ = ["format_params", "encode_bits_kernel", "quantize_per_row_kernel", "philox4x32_10", "quantize_fp8_per_row"]

_M32 = 0xFFFFFFFF


def format_params(fmt) -> tuple:
    """(ebits, mbits, bias, max_code, nan_code, inf_code or -1, single_nan) of an fp8ref Format."""
    return (fmt.ebits, fmt.mbits, fmt.bias, fmt.max_code, fmt.nan_code,
            -1 if fmt.inf_code is None else fmt.inf_code, 1 if fmt.single_nan else 0)


@cuda.jit(device=True)
def _mulhilo32(a, b):
    """(hi, lo) 32-bit halves of a * b for a, b < 2**32, in int64 without overflow (b split in 16-bit halves)."""
    p0 = a * (b & 0xFFFF)  # < 2**48
    p1 = a * (b >> 16)  # < 2**48
    t = (p0 >> 16) + p1  # a * b = t * 2**16 + (p0 & 0xFFFF)
    return t >> 16, ((t & 0xFFFF) << 16) | (p0 & 0xFFFF)


@cuda.jit(device=True)
def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 (Random123): ten rounds, key bumped by the Weyl constants before each round but the first."""
    for rnd in range(10):
        if rnd > 0:
            k0 = (k0 + 0x9E3779B9) & _M32
            k1 = (k1 + 0xBB67AE85) & _M32
        hi0, lo0 = _mulhilo32(0xD2511F53, c0)
        hi1, lo1 = _mulhilo32(0xCD9E8D57, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


@cuda.jit(device=True)
def _random_word(i, seed_lo, seed_hi):
    """fp8ref.stochastic.random_bits: word (i & 3) of philox(counter = (lo32(i >> 2), hi32(i >> 2), 0, 0),
    key = (lo32(seed), hi32(seed))). The seed comes as two 32-bit halves so every value stays an int64."""
    g = i >> 2
    w0, w1, w2, w3 = philox4x32_10(g & _M32, (g >> 32) & _M32, 0, 0, seed_lo, seed_hi)
    j = i & 3
    if j == 0:
        return w0
    if j == 1:
        return w1
    if j == 2:
        return w2
    return w3


@cuda.jit(device=True)
def _encode_parts(sign, sig, exp2, isnan, isinf, rbits, stochastic, saturate, p):
    """Steps 2-7 of fp8ref.formats._encode for value = (-1)**sign * sig * 2**exp2 (sig < 2**53 integer)."""
    ebits, mbits, bias, max_code, nan_code, inf_code, single_nan = p
    emin = 1 - bias
    # 2. Binade u = floor(log2 |value|): index of sig's top bit + exp2.
    top = 0
    while (sig >> (top + 1)) > 0:
        top += 1
    u = top + exp2
    # 3. Quantum 2**q of the target at this magnitude.
    q = max(u, emin) - mbits
    # 4. Round to an integer multiple n of 2**q; s bits are dropped (clamped to keep shifts defined).
    s = q - exp2
    sc = min(max(s, 0), 62)
    n = (sig >> sc) << min(max(-s, 0), 62)
    rem = sig & ((1 << sc) - 1)
    if not stochastic:
        half = (1 << sc) >> 1
        up = sc > 0 and (rem > half or (rem == half and (n & 1) == 1))
    else:
        if s - 32 > 62:
            f32 = 0
        elif sc >= 32:
            f32 = rem >> min(max(s - 32, 0), 63)
        else:
            f32 = rem << min(max(32 - sc, 0), 32)
        up = f32 + rbits >= (1 << 32)
    if up:
        n += 1
    # 5. Magnitude code: ((max(u + bias, 1) - 1) << mbits) + n.
    mag = ((max(u + bias, 1) - 1) << mbits) + n
    if sig == 0:
        mag = 0
    # 6. Overflow, infinities, NaN.
    if isinf or mag > max_code:
        if saturate:
            mag = max_code
        elif inf_code >= 0:
            mag = inf_code
        else:
            mag = nan_code
    if isnan:
        mag = nan_code
    # 7. Sign (NaN keeps it); fnuz formats: single NaN 0x80, no -0.
    code = mag | (sign << 7)
    if single_nan:
        if mag == 0:
            code = 0
        if mag == 0x80:
            code = 0x80
    return code


@cuda.jit(device=True)
def _encode_bits(bits, rbits, stochastic, saturate, p):
    """Encode the float32 with bit pattern ``bits``. 1. Unpack exactly as fp8ref.formats._unpack."""
    sign = (bits >> 31) & 1
    e = (bits >> 23) & 0xFF
    m = bits & 0x7FFFFF
    isnan = e == 0xFF and m != 0
    isinf = e == 0xFF and m == 0
    sig = m if e == 0 else (m | 0x800000)
    exp2 = max(e, 1) - 127 - 23
    return _encode_parts(sign, sig, exp2, isnan, isinf, rbits, stochastic, saturate, p)


@cuda.jit(device=True)
def _encode_f32(v, rbits, stochastic, saturate, p):
    """Encode a float32 value. 1. Unpack through frexp: |v| = sig * 2**exp2 with a 24-bit integer sig
    (exact for every float32); the steps after it depend only on the value."""
    sign = 1 if math.copysign(1.0, v) < 0 else 0  # the sign bit, also of -0.0 and of NaN
    if math.isnan(v):
        return _encode_parts(sign, 1, 0, True, False, rbits, stochastic, saturate, p)
    if math.isinf(v):
        return _encode_parts(sign, 1, 0, False, True, rbits, stochastic, saturate, p)
    fr, ex = math.frexp(abs(v))  # fr in [0.5, 1)
    sig = int(fr * 16777216.0)  # fr * 2**24: exact
    return _encode_parts(sign, sig, ex - 24, False, False, rbits, stochastic, saturate, p)


@cuda.jit
def encode_bits_kernel(first, n, codes, saturate, p):
    """codes[i] = encode(float32 with bits (first + i) mod 2**32), round to nearest even."""
    i = cuda.grid(1)
    if i < n:
        codes[i] = _encode_bits((first + i) & _M32, 0, False, saturate, p)


@cuda.jit
def quantize_per_row_kernel(x, xq, scale, ub, num_tokens, fmt_max, floor, stochastic, seed_lo, seed_hi, p):
    """One thread per row of x [R, K] float32 (fp8ref.scale.quantize_fp8_per_row's steps 1-5).
    ub: [1] float32, NaN for no bound; fmt_max, floor: [1] float32."""
    r = cuda.grid(1)
    R, K = x.shape
    if r >= R:
        return
    # 5. Rows past num_tokens are never read.
    if r >= num_tokens:
        for k in range(K):
            xq[r, k] = 0
        scale[r] = floor[0]
        return
    # 1. amax over the row, NaN ignored.
    amax = np.float32(0.0)
    for k in range(K):
        a = abs(x[r, k])
        if a > amax:  # False for NaN
            amax = a
    # 2. Optional bound.
    if not math.isnan(ub[0]) and ub[0] < amax:
        amax = ub[0]
    # 3. s = max(amax / MAX, floor) in float32.
    s = amax / fmt_max[0]
    if s < floor[0]:
        s = floor[0]
    scale[r] = s
    # 4. Encode x / s (float32 IEEE division), satfinite; a NaN quotient is pinned to +NaN.
    for k in range(K):
        rb = _random_word(r * K + k, seed_lo, seed_hi) if stochastic else 0
        q = x[r, k] / s
        if math.isnan(q):
            q = np.float32(math.nan)
        xq[r, k] = _encode_f32(q, rb, stochastic, True, p)


def quantize_fp8_per_row(x, scale_ub=None, num_tokens=None, *, stochastic_rounding=False, seed=0):
    """Host driver of quantize_per_row_kernel: x float32/float16/bfloat16 NumPy array of rank >= 2.
    Returns (xq uint8 x.shape, scale float32 x.shape[:-1]) as NumPy arrays."""
    from fp8ref.formats import E4M3FN

    x = np.asarray(x)
    x2 = np.ascontiguousarray(x.reshape(-1, x.shape[-1]).astype(np.float32))  # exact widening
    R, K = x2.shape
    xq = np.zeros((R, K), np.uint8)
    scale = np.zeros(R, np.float32)
    ub = np.array([np.nan if scale_ub is None else scale_ub], np.float32)
    fmt_max = np.array([E4M3FN.max], np.float32)
    floor = np.array([np.float32(1) / np.float32(E4M3FN.max * 512)], np.float32)
    nt = R if num_tokens is None else int(num_tokens)
    d_xq, d_scale = cuda.to_device(xq), cuda.to_device(scale)
    if R:
        threads = 32
        quantize_per_row_kernel[(R + threads - 1) // threads, threads](
            cuda.to_device(x2), d_xq, d_scale, cuda.to_device(ub), nt, cuda.to_device(fmt_max), cuda.to_device(floor),
            bool(stochastic_rounding), int(seed) & _M32, int(seed) >> 32, format_params(E4M3FN))
    return d_xq.copy_to_host().reshape(x.shape), d_scale.copy_to_host().reshape(x.shape[:-1])

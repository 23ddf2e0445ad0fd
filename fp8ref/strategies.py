"""Hypothesis strategies for FP8 test suites: formats, codes, float inputs, activations and GEMM operands.

Scalars come as 0-d NumPy arrays of the requested dtype (so bfloat16 stays bfloat16); arrays as NumPy
arrays. ``hypothesis.extra.numpy`` cannot make bfloat16, so bfloat16 values are drawn as uint16 bit
patterns (or float32 values) and viewed (or cast). Large arrays (activations, GEMM operands) are drawn as
a few Hypothesis choices (shape, row kinds, a seed) expanded by a seeded NumPy generator, which keeps
generation fast and examples reproducible.

Requires ``hypothesis`` (the ``test`` extra).
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
from hypothesis import strategies as st

from fp8ref.formats import FORMATS, Format, decode, get_format

__all__ = [
    "formats", "fp8_codes", "float_dtypes", "floats_for", "boundary_values", "boundary_floats",
    "ROW_KINDS", "rows", "activations", "gemm_shapes", "gemm_operands",
]

BF16 = np.dtype(ml_dtypes.bfloat16)
_UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def _dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float16), BF16, np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype: expected float16, bfloat16, float32 or float64, got {dtype}")
    return dtype


def _cast(values, dtype: np.dtype) -> np.ndarray:
    """float64 -> dtype with one rounding (bfloat16 via float32: fine for generated test data)."""
    values = np.asarray(values, np.float64)
    with np.errstate(over="ignore"):
        return values.astype(np.float32).astype(dtype) if dtype == BF16 else values.astype(dtype)


def _step(x: np.ndarray, direction: int) -> np.ndarray:
    """The next representable value of the same dtype toward +inf (direction 1) or -inf (-1); x > 0 finite."""
    bits = x.view(_UINT[x.dtype.itemsize])
    one = np.array(1, bits.dtype)
    return (bits + one if direction > 0 else bits - one).view(x.dtype)


def formats() -> st.SearchStrategy[Format]:
    """The three FP8 formats (E4M3FN, E4M3FNUZ, E5M2); shrinks toward E4M3FN."""
    return st.sampled_from(list(FORMATS.values()))


def float_dtypes(*, float64: bool = False) -> st.SearchStrategy[np.dtype]:
    """Input dtypes: bfloat16, float16, float32 (and float64 if asked)."""
    dtypes = [BF16, np.dtype(np.float16), np.dtype(np.float32)]
    return st.sampled_from(dtypes + ([np.dtype(np.float64)] if float64 else []))


def fp8_codes(fmt: Format | str, *, allow_nan: bool = True, allow_infinity: bool = True) -> st.SearchStrategy[np.uint8]:
    """One code (np.uint8) of ``fmt``; NaN codes (and e5m2's infinity codes) only if allowed."""
    fmt = get_format(fmt)
    v = decode(np.arange(256, dtype=np.uint8), fmt, np.float64)
    keep = (allow_nan | ~np.isnan(v)) & (allow_infinity | ~np.isinf(v))
    return st.sampled_from([np.uint8(c) for c in np.flatnonzero(keep)])


def boundary_values(fmt: Format | str, dtype=np.float32) -> np.ndarray:
    """Every rounding boundary of ``fmt`` in ``dtype``, both signs: a 1-D array of ``dtype``.

    For each pair of neighbouring non-negative values ``a < b`` of the format, including the pair
    (max, max + ulp(max)) whose midpoint is the overflow threshold (464 for e4m3fn): the midpoint
    ``(a + b) / 2`` and the representable values of ``dtype`` just below and above it (one ulp); plus max
    itself and max's neighbours. The midpoint below the smallest subnormal is half of it. Midpoints are
    exact in every input dtype (they need mbits + 2 significant bits). Order: midpoints, their lower and
    upper neighbours, max and its two neighbours; then all of that negated.

    >>> v = boundary_values("e4m3fn", np.float32)  # 127 midpoints: 0x00|0x01 .. 0x7E|(virtual 0x7F)
    >>> v.dtype, v.size
    (dtype('float32'), 768)
    >>> [float(t) for t in v[[126, 126 + 127, 126 + 254]]]  # the overflow threshold and its neighbours
    [464.0, 463.9999694824219, 464.0000305175781]
    """
    fmt, dtype = get_format(fmt), _dtype(dtype)
    pos = decode(np.arange(fmt.max_code + 1, dtype=np.uint8), fmt, np.float64)  # 0 < ... < max, increasing
    ulp_max = 2.0 ** (np.floor(np.log2(fmt.max)) - fmt.mbits)
    pts = np.append(pos, fmt.max + ulp_max)
    mids = (pts[:-1] + pts[1:]) / 2
    m = _cast(mids, dtype)
    assert (m.astype(np.float64) == mids).all(), "a midpoint is not exact in dtype"
    mx = _cast([fmt.max], dtype)
    out = np.concatenate([m, _step(m, -1), _step(m, 1), mx, _step(mx, -1), _step(mx, 1)])
    return np.concatenate([out, -out])


def boundary_floats(fmt: Format | str, dtype=np.float32) -> st.SearchStrategy[np.ndarray]:
    """A 0-d array of ``dtype`` drawn from ``boundary_values(fmt, dtype)``."""
    return st.sampled_from(list(boundary_values(fmt, dtype))).map(lambda v: np.asarray(v))


def _special_values(fmt: Format, dtype: np.dtype) -> list[float]:
    info = ml_dtypes.finfo(dtype) if dtype == BF16 else np.finfo(dtype)
    vals = [0.0, fmt.min_subnormal, fmt.min_subnormal / 2, fmt.min_normal, fmt.max, 1.0,
            float(info.max), float(info.smallest_subnormal), float(info.smallest_normal), np.inf]
    return vals + [-v for v in vals] + [np.nan, -np.nan]


def floats_for(fmt: Format | str, dtype=np.float32, *, allow_nan: bool = True,
               allow_infinity: bool = True) -> st.SearchStrategy[np.ndarray]:
    """A 0-d array of ``dtype`` aimed at ``fmt``: special values (+-0, +-inf, NaN of both signs, fmt's max,
    min normal, min subnormal and half of it, dtype's max and subnormals), rounding boundaries, exactly
    representable FP8 values, values in fmt's range, and arbitrary bit patterns (any exponent, NaN payloads).
    """
    fmt, dtype = get_format(fmt), _dtype(dtype)
    utype = _UINT[dtype.itemsize]
    exact = decode(np.arange(256, dtype=np.uint8), fmt, np.float64)
    exact = exact[np.isfinite(exact)]
    lim = 2 * fmt.max
    in_range = st.floats(-lim, lim, width=64 if dtype == np.float64 else 32)  # _cast rounds into dtype
    strategy = st.one_of(
        st.sampled_from(_special_values(fmt, dtype)).map(lambda v: _cast(v, dtype)),
        boundary_floats(fmt, dtype),
        st.sampled_from(list(exact)).map(lambda v: _cast(v, dtype)),
        in_range.map(lambda v: _cast(v, dtype)),
        st.integers(0, 2 ** (8 * dtype.itemsize) - 1).map(lambda b: np.asarray(b, utype).view(dtype)),
    )
    if not allow_nan:
        strategy = strategy.filter(lambda v: not np.isnan(v))
    if not allow_infinity:
        strategy = strategy.filter(lambda v: not np.isinf(v))
    return strategy


# Row kinds of activations(): what each row of a generated activation looks like.
ROW_KINDS = ("normal", "zeros", "outlier", "wide", "tiny", "subnormal", "huge", "nan", "inf")


def _row(kind: str, k: int, dtype: np.dtype, rng: np.random.Generator) -> np.ndarray:
    info = ml_dtypes.finfo(dtype) if dtype == BF16 else np.finfo(dtype)
    x = rng.standard_normal(k) * 2.0 ** int(rng.integers(-6, 7))
    if kind == "zeros":
        x = np.where(rng.random(k) < 0.5, -0.0, 0.0)
    elif kind == "outlier":  # one element 2**8..2**12 times the others: the rest lose precision
        x[rng.integers(k)] *= 2.0 ** int(rng.integers(8, 13))
    elif kind == "wide":  # log-uniform magnitudes over 2**-30..2**10: FP8 subnormals and underflow after scaling
        x = np.sign(x) * 2.0 ** rng.uniform(-30, 10, k)
    elif kind == "tiny":  # amax < 2**-12: the quantizer's scale floor decides. |x| * 2**-20 reaches
        # |z| 2**-14, over 2**-12 when a standard-normal draw |z| >= 4: clip to 2**-13 (exact in every dtype)
        x = np.clip(x * 2.0 ** -20, -2.0 ** -13, 2.0 ** -13)
    elif kind == "subnormal":  # subnormals of the input dtype
        x = rng.integers(-(2 ** 6), 2 ** 6, k) * float(info.smallest_subnormal)
    elif kind == "huge":  # close to the input dtype's max
        x = np.sign(x) * float(info.max) * rng.uniform(0.5, 1.0, k)
    elif kind in ("nan", "inf"):
        hit = rng.random(k) < 0.25
        hit[rng.integers(k)] = True
        special = np.nan if kind == "nan" else np.where(rng.random(k) < 0.5, -np.inf, np.inf)
        x = np.where(hit, special, x)
    elif kind != "normal":
        raise ValueError(f"unknown row kind {kind!r}")
    if kind != "inf":  # only "inf" rows hold infinities: keep the others finite in narrow dtypes
        x = np.clip(x, -float(info.max), float(info.max))
    return _cast(x, dtype)


def rows(k: int, dtype=BF16, *, kinds=ROW_KINDS) -> st.SearchStrategy[np.ndarray]:
    """One row: a [k] array of ``dtype`` of one of ``kinds`` (see ROW_KINDS: zeros of both signs, an
    outlier, FP8-subnormal-producing spreads, input-dtype subnormals, values near dtype max, NaN, +-inf)."""
    dtype = _dtype(dtype)
    return st.builds(lambda kind, seed: _row(kind, k, dtype, np.random.default_rng(seed)),
                     st.sampled_from(kinds), st.integers(0, 2 ** 32 - 1))


def activations(shape, dtype=BF16, *, kinds=ROW_KINDS) -> st.SearchStrategy[np.ndarray]:
    """An array of ``dtype`` and ``shape`` (a tuple, or a strategy of tuples, rank >= 1), built row by row
    over the last dimension: each row is one of ``kinds`` (default: all of ROW_KINDS; pass e.g.
    ``("normal", "outlier")`` for finite inputs)."""
    dtype = _dtype(dtype)
    shapes = shape if isinstance(shape, st.SearchStrategy) else st.just(tuple(shape))

    @st.composite
    def build(draw):
        shp = draw(shapes)
        r, k = int(np.prod(shp[:-1], dtype=np.int64)), shp[-1]
        row_kinds = draw(st.lists(st.sampled_from(kinds), min_size=r, max_size=r)) if r <= 64 else None
        rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
        if row_kinds is None:  # many rows: let the generator pick kinds
            row_kinds = [kinds[i] for i in rng.integers(len(kinds), size=r)]
        out = np.empty((r, k), dtype)
        for i, kind in enumerate(row_kinds):
            out[i] = _row(kind, k, dtype, rng)
        return out.reshape(shp)

    return build()


def _edge_sizes(limit: int, multiple: int) -> st.SearchStrategy[int]:
    """Sizes 1..limit in steps of ``multiple``, emphasising tile edges (64*j - 1, 64*j, 64*j + 1)."""
    edges = sorted({e for j in (1, 2, 4) for e in (64 * j - multiple, 64 * j, 64 * j + multiple)
                    if multiple <= e <= limit and e % multiple == 0})
    anywhere = st.integers(1, limit // multiple).map(lambda i: i * multiple)
    return st.one_of(anywhere, st.sampled_from(edges)) if edges else anywhere


def gemm_shapes(max_m: int = 160, max_n: int = 160, max_k: int = 320,
                k_multiple: int = 16) -> st.SearchStrategy[tuple[int, int, int]]:
    """``(M, N, K)``: 1 <= M <= max_m, 1 <= N <= max_n, K a multiple of ``k_multiple`` up to max_k.
    M and N need not be multiples of anything; sizes next to tile edges (63, 64, 65, 127, 128, 129)
    are drawn often."""
    return st.tuples(_edge_sizes(max_m, 1), _edge_sizes(max_n, 1), _edge_sizes(max_k, k_multiple))


def gemm_operands(shapes=None, *, fmt: Format | str = "e4m3fn", allow_nan: bool = False, bias=None,
                  batch: bool = False) -> st.SearchStrategy[tuple]:
    """``(xq, wq, x_scale, w_scale, bias)`` for ``f8f8bf16_rowwise``.

    xq: [M, K] uint8 codes of ``fmt`` ([B, M, K] if ``batch``), wq: [N, K] uint8 codes, x_scale: [M]
    ([B, M]) float32 > 0, w_scale: [N] float32 > 0, bias: [N] float32 or bfloat16, or None. ``shapes``:
    a strategy of (M, N, K) (default ``gemm_shapes()``); ``bias``: None to draw all three choices, or
    False / True. Rows of codes are random, all zero, all max-magnitude, or subnormal-only; NaN codes only
    if ``allow_nan``. Scales are float32 values 2**-24..2**4 with a random significand, or the quantizer
    floor ``1 / (max * 512)``.
    """
    fmt = get_format(fmt)
    shapes = gemm_shapes() if shapes is None else shapes
    values = decode(np.arange(256, dtype=np.uint8), fmt, np.float64)
    finite = np.flatnonzero(np.isfinite(values)).astype(np.uint8)
    nan_codes = np.flatnonzero(np.isnan(values)).astype(np.uint8)
    subnormal = np.array([c | s for c in range(1, 1 << fmt.mbits) for s in (0, 0x80)], np.uint8)
    floor = np.float32(1) / np.float32(fmt.max * 512)

    def codes(rng, r, k):
        out = rng.choice(finite, size=(r, k))
        kind = rng.integers(0, 8, size=r)  # 0: zeros, 1: +-max, 2: subnormals, else random
        out[kind == 0] = 0
        out[kind == 1] = fmt.max_code | (rng.integers(0, 2, size=(int((kind == 1).sum()), k)) << 7).astype(np.uint8)
        out[kind == 2] = rng.choice(subnormal, size=(int((kind == 2).sum()), k))
        if allow_nan and rng.random() < 0.5:
            out[rng.random((r, k)) < 0.02] = rng.choice(nan_codes)
        return out

    def scales(rng, n):
        s = np.ldexp(rng.uniform(1, 2, n), rng.integers(-24, 4, n)).astype(np.float32)
        return np.where(rng.random(n) < 0.1, floor, s).astype(np.float32)

    @st.composite
    def build(draw):
        m, n, k = draw(shapes)
        b = draw(st.integers(1, 3)) if batch else None
        with_bias = draw(st.booleans()) if bias is None else bias
        bias_dtype = draw(st.sampled_from([np.dtype(np.float32), BF16]))
        rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
        lead = (b,) if batch else ()
        xq = codes(rng, (b or 1) * m, k).reshape(lead + (m, k))
        wq = codes(rng, n, k)
        x_scale = scales(rng, (b or 1) * m).reshape(lead + (m,))
        w_scale = scales(rng, n)
        bias_arr = None
        if with_bias:
            bias_arr = (rng.standard_normal(n) * 2.0 ** int(rng.integers(-8, 8))).astype(np.float32).astype(bias_dtype)
        return xq, wq, x_scale, w_scale, bias_arr

    return build()

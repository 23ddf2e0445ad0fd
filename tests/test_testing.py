"""fp8ref.testing: the assertions pass on correct results and fail, informatively, on planted wrong values."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fp8ref.formats import encode
from fp8ref.gemm import emulate_accumulator, f8f8bf16_rowwise, gemm_error_bound
from fp8ref.strategies import gemm_operands, gemm_shapes
from fp8ref.testing import assert_fp8_equal, assert_gemm_within_bound, encode_ml_dtypes

BF16 = np.dtype(ml_dtypes.bfloat16)


class FakeCupyArray:
    """Stands in for a CuPy array: only ``.get()`` gives the host copy."""

    def __init__(self, a):
        self._a = np.asarray(a)

    def get(self):
        return self._a.copy()


class ArrayLike:
    def __init__(self, a):
        self._a = np.asarray(a)

    def __array__(self, dtype=None, copy=None):
        return self._a if dtype is None else self._a.astype(dtype)


# ---------------------------------------------------------------------------------------------------------
# assert_fp8_equal


def test_fp8_equal_passes_on_equal_codes_of_any_container():
    x = np.float32([[0.3, -448.0], [np.nan, 1e-9]])
    codes = encode(x, "e4m3fn", saturate=True)
    for wrap in (np.asarray, FakeCupyArray, ArrayLike, lambda c: c.view(ml_dtypes.float8_e4m3fn)):
        assert_fp8_equal(wrap(codes), codes, "e4m3fn", inputs=x)


def test_fp8_equal_reports_planted_mismatch():
    x = np.float32([[0.3, -448.0, 2.0], [np.nan, 1e-9, 5.0]])
    expected = encode(x, "e4m3fn", saturate=True)
    actual = expected.copy()
    actual[1, 2] ^= 0x01  # 5.0 = 0x4A -> 0x4B (5.5)
    actual[1, 0] = 0x00  # and a second, later mismatch
    with pytest.raises(AssertionError) as info:
        assert_fp8_equal(FakeCupyArray(actual), expected, "e4m3fn", inputs=x)
    msg = str(info.value)
    assert "2 of 6" in msg and "(1, 0)" in msg  # count, first index in row-major order
    assert "0x00 (0.0)" in msg and "0x7f (nan)" in msg  # both codes in hex with decoded values
    assert "input nan (float32 0x7fc00000)" in msg
    actual[1, 0] = expected[1, 0]
    with pytest.raises(AssertionError, match=r"1 of 6.*\(1, 2\).*input 5\.0.*0x4b \(5\.5\).*0x4a \(5\.0\)"):
        assert_fp8_equal(actual, expected, "e4m3fn", inputs=x)


def test_fp8_equal_without_inputs_and_bfloat16_inputs():
    msg = r"e5m2 codes differ at 1 of 1.*index \(0,\): actual 0x7c \(inf\), expected 0x7b \(57344\.0\)$"
    with pytest.raises(AssertionError, match=msg):
        assert_fp8_equal(np.uint8([0x7C]), np.uint8([0x7B]), "e5m2")
    x = np.float32([-0.0]).astype(BF16)
    with pytest.raises(AssertionError, match=r"input -0\.0 \(bfloat16 0x8000\)"):
        assert_fp8_equal(np.uint8([0x00]), np.uint8([0x80]), "e4m3fn", inputs=x)


def test_fp8_equal_rejects_shape_and_dtype():
    with pytest.raises(AssertionError, match="shape"):
        assert_fp8_equal(np.uint8([1, 2]), np.uint8([[1, 2]]), "e4m3fn")
    with pytest.raises(TypeError):
        assert_fp8_equal(np.int32([1]), np.uint8([1]), "e4m3fn")


def test_encode_ml_dtypes_refuses_float64():
    with pytest.raises(TypeError):
        encode_ml_dtypes(np.float64([1.0]), "e4m3fn", saturate=True)


# ---------------------------------------------------------------------------------------------------------
# assert_gemm_within_bound


def _implementation(xq, wq, x_scale, w_scale, bias, *, use_fast_accum, output_dtype):
    """A plausible Hopper implementation: the model accumulator (the H200's where measured), then a float32
    epilogue in a different association from the reference's, one rounding."""
    acc = emulate_accumulator(xq, wq, use_fast_accum=use_fast_accum)
    b = np.zeros(wq.shape[0], np.float32) if bias is None else bias.astype(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        z = acc * (x_scale[:, None] * w_scale[None, :]) + b
        return z.astype(output_dtype)


@settings(max_examples=15, deadline=None)
@given(ops=gemm_operands(gemm_shapes(40, 40, 256), allow_nan=True), fast=st.booleans(),
       out=st.sampled_from([BF16, np.dtype(np.float16), np.dtype(np.float32)]))
def test_gemm_reference_and_model_implementation_pass(ops, fast, out):
    xq, wq, x_scale, w_scale, bias = ops
    ref = f8f8bf16_rowwise(xq, wq, x_scale, w_scale, bias, use_fast_accum=fast, output_dtype=out)
    assert_gemm_within_bound(ref, *ops, use_fast_accum=fast, output_dtype=out)
    assert_gemm_within_bound(FakeCupyArray(ref), *ops, use_fast_accum=fast, output_dtype=out)
    if out == BF16:  # bfloat16 held as uint16 bits, as CuPy without bfloat16 support returns it
        assert_gemm_within_bound(FakeCupyArray(ref.view(np.uint16)), *ops, use_fast_accum=fast, output_dtype=out)
    impl = _implementation(*ops, use_fast_accum=fast, output_dtype=out)
    assert_gemm_within_bound(impl, *ops, use_fast_accum=fast, output_dtype=out)


def _operands(seed=0, m=6, n=5, k=64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((n, k)).astype(np.float32)
    return (encode(x, "e4m3fn", saturate=True), encode(w, "e4m3fn", saturate=True),
            np.float32(rng.uniform(0.5, 2, m)), np.float32(rng.uniform(0.5, 2, n)), None)


@pytest.mark.parametrize("fast", [True, False])
def test_gemm_planted_error_is_reported(fast):
    ops = _operands()
    ref = f8f8bf16_rowwise(*ops, use_fast_accum=fast).astype(np.float64)
    bound = gemm_error_bound(*ops, use_fast_accum=fast)
    assert np.isfinite(bound).all() and (bound > 0).any()
    actual = ref.copy()
    actual[2, 3] += 3 * bound[2, 3] + 1e-3  # well outside the bound; bfloat16-exactness is not needed
    actual[4, 1] += 2 * bound[4, 1] + 1e-3  # a second, smaller violation
    with pytest.raises(AssertionError) as info:
        assert_gemm_within_bound(actual, *ops, use_fast_accum=fast)
    msg = str(info.value)
    assert "at 2 of 30 elements" in msg and "worst at index (2, 3)" in msg
    assert f"reference {float(ref[2, 3])!r}" in msg and f"bound {float(bound[2, 3])!r}" in msg
    # inside the bound passes
    actual = ref.copy()
    actual[2, 3] += bound[2, 3] / 2
    assert_gemm_within_bound(actual, *ops, use_fast_accum=fast)


def test_gemm_nan_positions_must_match():
    xq, wq, x_scale, w_scale, _ = _operands()
    xq[1, 7] = 0x7F  # NaN code: row 1 of the output is NaN
    ref = f8f8bf16_rowwise(xq, wq, x_scale, w_scale, use_fast_accum=True).astype(np.float64)
    assert np.isnan(ref[1]).all() and not np.isnan(np.delete(ref, 1, axis=0)).any()
    assert_gemm_within_bound(ref, xq, wq, x_scale, w_scale, use_fast_accum=True)
    missing = ref.copy()
    missing[1, 2] = 0.0
    with pytest.raises(AssertionError, match=r"NaN positions differ at 1 of 30.*\(1, 2\)"):
        assert_gemm_within_bound(missing, xq, wq, x_scale, w_scale, use_fast_accum=True)
    extra = ref.copy()
    extra[0, 0] = np.nan
    with pytest.raises(AssertionError, match=r"NaN positions differ.*\(0, 0\)"):
        assert_gemm_within_bound(extra, xq, wq, x_scale, w_scale, use_fast_accum=True)


def test_gemm_shape_and_infinity():
    ops = _operands()
    ref = f8f8bf16_rowwise(*ops, use_fast_accum=True)
    with pytest.raises(AssertionError, match="shape"):
        assert_gemm_within_bound(ref[:, :4], *ops, use_fast_accum=True)
    inf = np.asarray(ref, np.float64).copy()
    inf[0, 0] = np.inf  # finite reference with a finite bound: an infinity is outside it
    with pytest.raises(AssertionError, match=r"worst at index \(0, 0\).*actual inf"):
        assert_gemm_within_bound(inf, *ops, use_fast_accum=True)
    # a reference that overflows bfloat16: the implementation's matching infinity passes
    xq, wq = np.full((1, 32), 0x7E, np.uint8), np.full((1, 32), 0x7E, np.uint8)  # 32 * 448**2 ~ 6.4e6
    big = np.float32([2.0**60]), np.float32([2.0**60])
    ref = f8f8bf16_rowwise(xq, wq, *big, use_fast_accum=True)
    assert np.isposinf(ref.astype(np.float64)).all()
    assert_gemm_within_bound(ref, xq, wq, *big, use_fast_accum=True)


def test_gemm_bound_takes_the_split():
    """``k_split`` reaches the bound: a result between the split and the unsplit bound passes only unsplit."""
    rng = np.random.default_rng(3)
    xq = encode(rng.uniform(0, 2, (3, 2048)).astype(np.float32), "e4m3fn", saturate=True)
    wq = encode(rng.uniform(0, 2, (4, 2048)).astype(np.float32), "e4m3fn", saturate=True)
    ops = (xq, wq, np.float32([1, 0.5, 2]), np.float32([1, 0.25, 4, 1]), None)
    k_split = (512, 1024, 1536)
    kw = dict(use_fast_accum=True, output_dtype=np.float32)
    ref = f8f8bf16_rowwise(*ops, **kw).astype(np.float64)
    split, whole = gemm_error_bound(*ops, **kw, k_split=k_split), gemm_error_bound(*ops, **kw)
    assert (split < whole).all()  # four short fast-accumulation chains lose less than one long one
    actual = ref + (split + whole) / 2
    assert_gemm_within_bound(actual, *ops, **kw)
    with pytest.raises(AssertionError, match="outside the error bound at 12 of 12"):
        assert_gemm_within_bound(actual, *ops, **kw, k_split=k_split)
    with pytest.raises(ValueError, match="k_split"):
        assert_gemm_within_bound(ref, *ops, **kw, k_split=(100,))

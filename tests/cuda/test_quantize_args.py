"""Argument checks of fp8cuda's quantize/cast functions: bad input is rejected before any launch, with a
TypeError/ValueError naming the argument, and caller buffers are left untouched (skipped without a GPU)."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.gpu
cupy = pytest.importorskip("cupy")

import ml_dtypes  # noqa: E402

import fp8cuda  # noqa: E402
from fp8ref import scale  # noqa: E402

BF16 = np.dtype(ml_dtypes.bfloat16)


def x_dev(shape=(4, 64), dtype=np.float32):
    return cupy.asarray(np.random.default_rng(0).standard_normal(shape).astype(np.float32)).astype(dtype)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: fp8cuda.quantize_fp8_per_row(np.zeros((2, 8), np.float32)), TypeError, "x: .*NumPy"),
    (lambda: fp8cuda.quantize_fp8_per_row(x_dev().astype(np.float64)), TypeError, "x: expected dtype"),
    (lambda: fp8cuda.quantize_fp8_per_row(x_dev((64,))), ValueError, "x: expected rank >= 2"),
    (lambda: fp8cuda.quantize_fp8_per_row(x_dev((64, 8)).T), ValueError, "x: expected a C-contiguous"),
    (lambda: fp8cuda.quantize_fp8_per_row(x_dev(), scale_ub=-1.0), ValueError, "scale_ub"),
    (lambda: fp8cuda.quantize_fp8_per_row(x_dev(), scale_ub=float("nan")), ValueError, "scale_ub"),
    (lambda: fp8cuda.quantize_fp8_per_row(x_dev(), scale_ub="big"), TypeError, "scale_ub"),
    (lambda: fp8cuda.quantize_fp8_per_row(x_dev(), num_tokens=-1), ValueError, "num_tokens"),
    (lambda: fp8cuda.quantize_fp8_per_row(x_dev(), num_tokens=2.5), TypeError, "num_tokens"),
    (lambda: fp8cuda.quantize_fp8_per_row(x_dev(), num_tokens=cupy.zeros(2, np.int32)), ValueError, "num_tokens"),
    (lambda: fp8cuda.quantize_fp8_per_row(x_dev(), seed=-1), ValueError, "seed"),
    (lambda: fp8cuda.quantize_fp8_per_row(x_dev(), fmt="e5m2"), ValueError, "fmt"),
    (lambda: fp8cuda.quantize_fp8_per_block(x_dev(), (0, 128)), ValueError, "block_shape"),
    (lambda: fp8cuda.cast_to_fp8(x_dev(), "e4m3fn", saturate=None), TypeError, "saturate"),
    (lambda: fp8cuda.cast_to_fp8(x_dev(), "e3m4", saturate=True), ValueError, "fmt"),
    (lambda: fp8cuda.cast_from_fp8(x_dev(), "e4m3fn"), TypeError, "codes: expected dtype"),
    (lambda: fp8cuda.dequantize_fp8_per_row(cupy.zeros((4, 8), np.uint8), cupy.zeros(3, np.float32)), ValueError, "x_scale"),
    (lambda: fp8cuda.dequantize_fp8_per_row(cupy.zeros((4, 8), np.uint8), cupy.zeros(4, np.float32), output_dtype=np.int8),
     TypeError, "output_dtype"),
])
def test_bad_arguments_are_rejected(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_bad_output_buffers_are_rejected_and_left_untouched():
    x = x_dev()
    out = cupy.full((4, 64), 0xA5, np.uint8)
    bad_scale = cupy.full((3,), np.nan, np.float32)
    with pytest.raises(ValueError, match="scale_out: expected shape"):
        fp8cuda.quantize_fp8_per_row(x, out=out, scale_out=bad_scale)
    assert (out == 0xA5).all() and cupy.isnan(bad_scale).all()
    with pytest.raises(TypeError, match="out: expected dtype uint8"):
        fp8cuda.quantize_fp8_per_row(x, out=cupy.zeros((4, 64), np.int8))


@pytest.mark.parametrize("shape", [(0, 16), (4, 0), (2, 0, 8)])
def test_empty_dimensions(shape):
    x_np = np.zeros(shape, np.float32)
    xq, s = fp8cuda.quantize_fp8_per_row(cupy.asarray(x_np))
    rq, rs = scale.quantize_fp8_per_row(x_np)
    assert xq.shape == rq.shape and s.shape == rs.shape
    np.testing.assert_array_equal(s.get(), rs)
    assert fp8cuda.cast_to_fp8(cupy.asarray(x_np), "e4m3fn", saturate=True).shape == shape

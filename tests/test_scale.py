"""Quantizers: the scale rule, pinned edge cases, num_tokens, stochastic rounding, block and tensor scaling."""

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fp8ref import (E4M3FN, decode, dequantize_fp8_per_block, dequantize_fp8_per_row, dequantize_fp8_per_tensor,
                    encode, encode_stochastic, quantize_fp8_per_block, quantize_fp8_per_row,
                    quantize_fp8_per_tensor, random_bits, scale_floor)

F32 = np.float32
MAX = F32(448)
FLOOR = F32(1) / F32(448 * 512)


def scalar_quantize_row(row, scale_ub=None):
    """Obviously-correct scalar version of the per-row rule, element by element with float32 scalars."""
    amax = F32(0)
    for v in row:
        v = F32(v)
        if not np.isnan(v) and abs(v) > amax:
            amax = abs(v)
    if scale_ub is not None:
        amax = min(amax, F32(scale_ub))
    with np.errstate(over="ignore"):
        s = max(amax / MAX, FLOOR)
    codes = []
    for v in row:
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            q = F32(v) / s
        q = F32(np.nan) if np.isnan(q) else q  # pinned: NaN quotients are +NaN
        codes.append(int(encode(np.array([q], F32), E4M3FN, saturate=True)[0]))
    return np.array(codes, np.uint8), s


finite_or_special = st.one_of(
    st.floats(width=32, allow_nan=False, allow_infinity=False),
    st.floats(width=32, min_value=-2.0**-126, max_value=2.0**-126),  # subnormal-heavy rows
    st.sampled_from([0.0, -0.0, np.inf, -np.inf, np.nan, 448.0, 464.0, 1e30]),
)


@settings(max_examples=150, deadline=None)
@given(hnp.arrays(F32, hnp.array_shapes(min_dims=2, max_dims=3, max_side=9), elements=finite_or_special),
       st.one_of(st.none(), st.floats(1e-3, 1e6)))
def test_per_row_matches_scalar_rule(x, scale_ub):
    xq, s = quantize_fp8_per_row(x, scale_ub=scale_ub)
    assert xq.shape == x.shape and s.shape == x.shape[:-1] and s.dtype == F32
    rows = x.reshape(-1, x.shape[-1])
    for r, row in enumerate(rows):
        codes, s_r = scalar_quantize_row(row, scale_ub)
        assert s.reshape(-1)[r].tobytes() == F32(s_r).tobytes(), (row, s.reshape(-1)[r], s_r)
        np.testing.assert_array_equal(xq.reshape(-1, x.shape[-1])[r], codes, err_msg=f"row {row}")


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16])
def test_low_precision_inputs_are_widened_exactly(dtype):
    x = np.random.default_rng(1).standard_normal((7, 33)).astype(dtype)
    a = quantize_fp8_per_row(x)
    b = quantize_fp8_per_row(x.astype(F32))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_pinned_edge_cases():
    x = np.array([[0.0, -0.0, 0.0],            # all-zero row
                  [np.inf, -1.0, 2.0],         # inf without scale_ub
                  [-np.nan, np.nan, 1.0],      # NaNs of both signs
                  [1e-40, -1e-39, 0.0]], F32)  # float32 subnormals
    xq, s = quantize_fp8_per_row(x)
    assert s[0] == FLOOR and s[0] == scale_floor() and list(xq[0]) == [0x00, 0x80, 0x00]
    assert np.isposinf(s[1]) and list(xq[1]) == [0x7F, 0x80, 0x00]  # inf/inf = +NaN; finite/inf = +-0
    assert s[2] == F32(1) / F32(448) and list(xq[2]) == [0x7F, 0x7F, 0x7E]  # NaN ignored by amax
    assert s[3] == FLOOR
    np.testing.assert_array_equal(xq[3], encode(x[3] / FLOOR, E4M3FN, saturate=True))
    xq_ub, s_ub = quantize_fp8_per_row(x, scale_ub=896.0)
    assert s_ub[1] == 2 and list(xq_ub[1]) == [0x7E, 0xB0, 0x38]  # inf saturates to +MAX


def test_scale_ub_clamps_outlier_rows():
    x = np.array([[1000.0, 1.0], [1.0, 0.5]], F32)
    xq, s = quantize_fp8_per_row(x, scale_ub=448.0)
    assert s.tolist() == [1.0, F32(1) / F32(448)]
    assert xq[0, 0] == 0x7E  # 1000 / 1 saturates to 448


def test_num_tokens_rows_are_not_read():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 5, 16)).astype(F32)
    poisoned = x.copy()
    poisoned.reshape(10, 16)[6:] = np.nan
    xq, s = quantize_fp8_per_row(poisoned, num_tokens=6)
    ref_q, ref_s = quantize_fp8_per_row(x.reshape(10, 16)[:6])
    np.testing.assert_array_equal(xq.reshape(10, 16)[:6], ref_q)
    np.testing.assert_array_equal(s.reshape(10)[:6], ref_s)
    assert (xq.reshape(10, 16)[6:] == 0).all() and (s.reshape(10)[6:] == FLOOR).all()
    assert quantize_fp8_per_row(x, num_tokens=99)[1].shape == (2, 5)


def test_round_trip_error_within_derived_bound():
    # q = fl(x / s) = (x / s)(1 + d1), code c = RN(q) with |c - q| <= ulp8(q) / 2, y = fl(c s) = c s (1 + d2),
    # |d| <= 2**-24: so |y - x| <= s ulp8(q) / 2 + 2**-24 (|x| + |c s|).
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((64, 257)) * np.exp(rng.uniform(-20, 20, (64, 1)))).astype(F32)
    xq, s = quantize_fp8_per_row(x)
    y = dequantize_fp8_per_row(xq, s).astype(np.float64)
    q = np.abs(x.astype(np.float64) / s[:, None])
    binade = np.maximum(np.floor(np.log2(np.maximum(q, 2.0**-9))), -6)
    ulp8 = 2.0 ** (binade - 3)
    bound = s[:, None] * ulp8 / 2 + 2.0**-24 * (np.abs(x) + np.abs(y))
    assert (np.abs(y - x) <= bound).all()


def test_stochastic_rounding_is_the_pure_function_of_the_philox_bits():
    x = np.random.default_rng(4).standard_normal((3, 4, 37)).astype(F32)
    xq, s = quantize_fp8_per_row(x, stochastic_rounding=True, seed=123)
    q = x / s[..., None]
    expect = encode_stochastic(q, E4M3FN, random_bits(123, x.size).reshape(x.shape))
    np.testing.assert_array_equal(xq, expect)
    assert not np.array_equal(xq, quantize_fp8_per_row(x, stochastic_rounding=True, seed=124)[0])
    np.testing.assert_array_equal(xq, quantize_fp8_per_row(x, stochastic_rounding=True, seed=123)[0])


def test_per_tensor_is_per_row_of_the_flattened_tensor():
    x = np.random.default_rng(5).standard_normal((6, 10)).astype(F32)
    xq, s = quantize_fp8_per_tensor(x, scale_ub=2.0)
    rq, rs = quantize_fp8_per_row(x.reshape(1, -1), scale_ub=2.0)
    assert s.shape == () and s == rs[0]
    np.testing.assert_array_equal(xq.reshape(1, -1), rq)
    np.testing.assert_array_equal(dequantize_fp8_per_tensor(xq, s), decode(xq, E4M3FN) * s)


@pytest.mark.parametrize("shape,block", [((5, 300), (1, 128)), ((130, 260), (128, 128)), ((2, 3, 7), (2, 4))])
def test_per_block_matches_blockwise_loops(shape, block):
    x = np.random.default_rng(6).standard_normal(shape).astype(F32)
    x[..., 0, 0] = 1e4  # an outlier in one block only
    xq, s = quantize_fp8_per_block(x, block)
    bm, bk = block
    mb, kb = -(-shape[-2] // bm), -(-shape[-1] // bk)
    assert s.shape == shape[:-2] + (mb, kb)
    flat_x, flat_q, flat_s = x.reshape(-1, *shape[-2:]), xq.reshape(-1, *shape[-2:]), s.reshape(-1, mb, kb)
    for b in range(flat_x.shape[0]):
        for i in range(mb):
            for j in range(kb):
                blk = flat_x[b, i * bm:(i + 1) * bm, j * bk:(j + 1) * bk]
                codes, s_ij = quantize_fp8_per_row(blk.reshape(1, -1))
                assert flat_s[b, i, j] == s_ij[0]
                np.testing.assert_array_equal(flat_q[b, i * bm:(i + 1) * bm, j * bk:(j + 1) * bk].ravel(), codes[0])
    back = dequantize_fp8_per_block(xq, s, block)
    assert back.shape == shape and back.dtype == F32


def test_dequantize_rounds_once_to_the_output_dtype():
    xq = np.array([[0x7E, 0x01]], np.uint8)
    s = F32([1.0 / 3.0])
    y32 = dequantize_fp8_per_row(xq, s)
    ybf = dequantize_fp8_per_row(xq, s, output_dtype=ml_dtypes.bfloat16)
    assert y32.tolist() == (decode(xq, E4M3FN) * s[:, None]).tolist()
    np.testing.assert_array_equal(ybf, y32.astype(ml_dtypes.bfloat16))


@pytest.mark.parametrize("call,exc,match", [
    (lambda: quantize_fp8_per_row(np.zeros(4, F32)), ValueError, "rank"),
    (lambda: quantize_fp8_per_row(np.zeros((2, 2), np.int32)), TypeError, "dtype"),
    (lambda: quantize_fp8_per_row(np.zeros((2, 2), F32), scale_ub=0.0), ValueError, "scale_ub"),
    (lambda: quantize_fp8_per_row(np.zeros((2, 2), F32), scale_ub=float("nan")), ValueError, "scale_ub"),
    (lambda: quantize_fp8_per_row(np.zeros((2, 2), F32), num_tokens=-1), ValueError, "num_tokens"),
    (lambda: quantize_fp8_per_block(np.zeros((2, 2), F32), (0, 1)), ValueError, "block_shape"),
    (lambda: dequantize_fp8_per_row(np.zeros((2, 2), np.uint8), np.zeros(3, F32)), ValueError, "x_scale"),
    (lambda: dequantize_fp8_per_row(np.zeros((2, 2), np.uint8), np.zeros(2, F32), output_dtype=np.int8),
     TypeError, "output_dtype"),
])
def test_bad_input_is_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call()

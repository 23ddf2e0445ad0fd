"""GEMM semantics (exactness, pinned epilogue, NaN rows, batching) and the accumulator error bound."""

from fractions import Fraction
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fp8ref import (E4M3FN, MAX_K, AccumulatorModel, accumulation_error_bound, decode, emulate_accumulator,
                    encode, exact_dot, f8f8bf16, f8f8bf16_blockwise, f8f8bf16_rowwise, gemm_error_bound,
                    gemm_error_bound_tensorwise)

F32 = np.float32
BF16 = ml_dtypes.bfloat16
NAN_CODES = {0x7F, 0xFF}


def codes(rng, shape, nan=False):
    c = rng.integers(0, 256, shape, dtype=np.uint8)
    if not nan:
        c[np.isin(c, list(NAN_CODES))] = 0x38
    return c


def quantized(rng, shape, kind):
    """e4m3fn codes of typical data: 'randn' (mixed signs), 'positive' (same sign), 'wide' (spread scales)."""
    if kind == "randn":
        v = rng.standard_normal(shape)
    elif kind == "positive":
        v = rng.uniform(0, 2, shape)
    else:
        v = rng.standard_normal(shape) * np.exp(rng.uniform(-8, 4, shape))
    return encode(v.astype(F32), E4M3FN, saturate=True)


def fraction_dot(xrow, wrow):
    return sum(Fraction(float(a)) * Fraction(float(b)) for a, b in zip(xrow, wrow))


def test_exact_dot_is_exact_against_fractions():
    rng = np.random.default_rng(0)
    xq, wq = codes(rng, (3, 300)), codes(rng, (4, 300))
    acc = exact_dot(xq, wq)
    x, w = decode(xq, E4M3FN, np.float64), decode(wq, E4M3FN, np.float64)
    for m in range(3):
        for n in range(4):
            assert Fraction(float(acc[m, n])) == fraction_dot(x[m], w[n])


def test_worst_case_magnitudes_stay_exact_at_max_k():
    # all products +-448**2 and the last one 2**-18: the sum needs every one of the 53 bits at K = 2**17
    k = MAX_K
    x = np.full((1, k), 0x7E, np.uint8)
    w = np.full((1, k), 0x7E, np.uint8)
    x[0, -1], w[0, -1] = 0x01, 0x01  # 2**-9 * 2**-9
    assert Fraction(float(exact_dot(x, w)[0, 0])) == (k - 1) * Fraction(448) ** 2 + Fraction(1, 2**18)
    with pytest.raises(ValueError, match="MAX_K"):
        exact_dot(np.zeros((1, k + 16), np.uint8), np.zeros((1, k + 16), np.uint8))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 40), st.integers(0, 2**32 - 1),
       st.sampled_from([None, "f32", "bf16"]), st.sampled_from([BF16, np.float16, F32]))
def test_rowwise_epilogue_order_is_pinned(m, n, k, seed, bias_kind, out_dtype):
    rng = np.random.default_rng(seed)
    xq, wq = codes(rng, (m, k)), codes(rng, (n, k))
    xs = rng.uniform(1e-3, 10, m).astype(F32)
    ws = rng.uniform(1e-3, 10, n).astype(F32)
    bias = None if bias_kind is None else rng.standard_normal(n).astype(F32 if bias_kind == "f32" else BF16)
    y = f8f8bf16_rowwise(xq, wq, xs, ws, bias, output_dtype=out_dtype)
    assert y.shape == (m, n) and y.dtype == np.dtype(out_dtype)
    x, w = decode(xq, E4M3FN, np.float64), decode(wq, E4M3FN, np.float64)
    for i in range(m):
        for j in range(n):
            acc = F32(float(fraction_dot(x[i], w[j])))  # exact, then one rounding to float32
            with np.errstate(over="ignore"):
                z = (acc * xs[i]) * ws[j] + (F32(0) if bias is None else F32(bias[j]))
                expect = np.array([z]).astype(out_dtype)
            assert y[i, j].tobytes() == expect.tobytes()


def test_nan_code_poisons_exactly_its_row_and_column():
    rng = np.random.default_rng(1)
    xq, wq = codes(rng, (5, 64)), codes(rng, (6, 64))
    xq[2, 17] = 0xFF
    wq[4, 3] = 0x7F
    y = f8f8bf16_rowwise(xq, wq, np.ones(5, F32), np.ones(6, F32)).astype(F32)
    nan = np.isnan(y)
    assert nan[2].all() and nan[:, 4].all() and nan.sum() == 6 + 5 - 1


def test_batched_is_per_batch():
    rng = np.random.default_rng(2)
    xq, wq = codes(rng, (3, 4, 48)), codes(rng, (5, 48))
    xs, ws = rng.uniform(0.1, 1, (3, 4)).astype(F32), rng.uniform(0.1, 1, 5).astype(F32)
    y = f8f8bf16_rowwise(xq, wq, xs, ws)
    for b in range(3):
        np.testing.assert_array_equal(y[b], f8f8bf16_rowwise(xq[b], wq, xs[b], ws))


def test_tensorwise_and_blockwise_semantics():
    rng = np.random.default_rng(3)
    xq, wq = codes(rng, (3, 256)), codes(rng, (130, 256))
    y = f8f8bf16(xq, wq, F32(0.25))
    np.testing.assert_array_equal(y, (exact_dot(xq, wq).astype(F32) * F32(0.25)).astype(BF16))
    xs = rng.uniform(0.1, 1, (3, 2)).astype(F32)
    ws = rng.uniform(0.1, 1, (2, 2)).astype(F32)
    yb = f8f8bf16_blockwise(xq, wq, xs, ws, output_dtype=F32)
    for i in range(3):
        for j in (0, 127, 128, 129):
            acc = F32(0)
            for b in range(2):
                s_b = F32(exact_dot(xq[i:i + 1, b * 128:(b + 1) * 128], wq[j:j + 1, b * 128:(b + 1) * 128])[0, 0])
                acc = acc + (s_b * xs[i, b]) * ws[j // 128, b]
            assert yb[i, j] == acc


@pytest.mark.parametrize("call,exc,match", [
    (lambda: f8f8bf16_rowwise(np.zeros((2, 16), np.int8), np.zeros((2, 16), np.uint8), np.ones(2, F32),
                              np.ones(2, F32)), TypeError, "xq"),
    (lambda: f8f8bf16_rowwise(np.zeros((2, 16), np.uint8), np.zeros((2, 32), np.uint8), np.ones(2, F32),
                              np.ones(2, F32)), ValueError, "K mismatch"),
    (lambda: f8f8bf16_rowwise(np.zeros((2, 16), np.uint8), np.zeros((2, 16), np.uint8), np.ones(3, F32),
                              np.ones(2, F32)), ValueError, "x_scale"),
    (lambda: f8f8bf16_rowwise(np.zeros((2, 16), np.uint8), np.zeros((2, 16), np.uint8), np.ones(2, np.float64),
                              np.ones(2, F32)), TypeError, "x_scale"),
    (lambda: f8f8bf16_rowwise(np.zeros((2, 16), np.uint8), np.zeros((2, 16), np.uint8), np.ones(2, F32),
                              np.ones(2, F32), np.ones(3, F32)), ValueError, "bias"),
    (lambda: f8f8bf16_rowwise(np.zeros((2, 16), np.uint8), np.zeros((2, 16), np.uint8), np.ones(2, F32),
                              np.ones(2, F32), output_dtype=np.int32), TypeError, "output_dtype"),
])
def test_bad_input_is_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ---- the accumulator model and its bound -------------------------------------------------------------

@pytest.mark.parametrize("kind", ["randn", "positive", "wide"])
@pytest.mark.parametrize("k", [32, 48, 1024, 4096])
@pytest.mark.parametrize("fast", [True, False])
def test_model_accumulator_stays_within_its_bound(kind, k, fast):
    rng = np.random.default_rng(k)
    xq, wq = quantized(rng, (8, k), kind), quantized(rng, (8, k), kind)
    err = np.abs(emulate_accumulator(xq, wq, use_fast_accum=fast).astype(np.float64) - exact_dot(xq, wq))
    bound = accumulation_error_bound(xq, wq, use_fast_accum=fast)
    assert (err <= bound).all(), np.max(err / bound)


@pytest.mark.parametrize("model", [AccumulatorModel(group=16, fraction_bits=10, promote_every=64),
                                   AccumulatorModel(group=32, fraction_bits=13, promote_every=256)])
def test_bound_follows_other_models(model):
    rng = np.random.default_rng(7)
    xq, wq = quantized(rng, (6, 2048), "positive"), quantized(rng, (6, 2048), "wide")
    for fast in (True, False):
        err = np.abs(emulate_accumulator(xq, wq, use_fast_accum=fast, model=model).astype(np.float64)
                     - exact_dot(xq, wq))
        assert (err <= accumulation_error_bound(xq, wq, use_fast_accum=fast, model=model)).all()


def test_exactness_lemma_gives_zero_bound_and_exact_model():
    rng = np.random.default_rng(8)
    small = np.array([0x00, 0x38, 0xB8, 0x40, 0xC0], np.uint8)  # 0, +-1, +-2: |sum| <= 4 * 1024 < 2**13
    xq, wq = rng.choice(small, (16, 1024)), rng.choice(small, (16, 1024))
    assert (accumulation_error_bound(xq, wq, use_fast_accum=True) == 0).all()
    np.testing.assert_array_equal(emulate_accumulator(xq, wq, use_fast_accum=True), exact_dot(xq, wq))


_H200_ACCUMULATORS = Path(__file__).parent / "data" / "h200_fp8_accumulator.npz"


def test_model_reproduces_the_h200_accumulator_bit_for_bit():
    """Fast-accumulation accumulators measured on an H200 (``scripts/probe_alignment.py``, 2026-12-02: unit
    scales, float32 output; fp8cuda's kernel and cuBLAS bitwise equal): 64 x 64 outputs for K = 16, 32 and 64
    (one and two MMA steps) of rows mixing normal and subnormal operands, one of which the bound before
    2026-12-02 declared exact and was not. The emulation gives every output bit for bit; the bound covers each."""
    d = np.load(_H200_ACCUMULATORS)
    for k in (16, 32, 64):
        xq, wq, acc = d["xq"][:, :k], d["wq"][:, :k], d[f"acc_k{k}"]
        np.testing.assert_array_equal(emulate_accumulator(xq, wq, use_fast_accum=True).view(np.uint32),
                                      acc.view(np.uint32))
        err = np.abs(acc.astype(np.float64) - exact_dot(xq, wq))
        assert (err <= accumulation_error_bound(xq, wq, use_fast_accum=True)).all()


# fp8cuda's split-K decode kernel on the probe's 128 x 128 x 4096 (132 SMs): gemm.k_split_for(...).
_PROBE_K_SPLIT = {True: (1024, 2048, 3072), False: (2048,)}


@pytest.mark.parametrize("fast", [True, False])
def test_model_reproduces_the_h200_over_long_k(fast):
    """K = 4096 (128 MMA steps, 32 promotions), measured on an H200 (``probe_alignment.py --long``,
    2026-12-02): a 16 x 16 corner of cuBLAS's unsplit accumulation and of fp8cuda's split-K one (partial
    sums added in float32; 100% of 16,384 outputs of each matched the model in the run). Fast: the model's
    truncating 13-bit accumulator over 128 steps; slow: promotion into float32 every 128 K."""
    d = np.load(_H200_ACCUMULATORS)
    xq, wq = d["long_xq"], d["long_wq"]
    tag = "fast" if fast else "slow"
    for split, acc in ((None, d[f"long_acc_{tag}"]), (_PROBE_K_SPLIT[fast], d[f"long_split_acc_{tag}"])):
        got = emulate_accumulator(xq, wq, use_fast_accum=fast, k_split=split)
        np.testing.assert_array_equal(got.view(np.uint32), acc.view(np.uint32))
        err = np.abs(acc.astype(np.float64) - exact_dot(xq, wq))
        assert (err <= accumulation_error_bound(xq, wq, use_fast_accum=fast, k_split=split)).all()


def test_a_subnormal_operand_aligns_by_its_exponent_field():
    # The GPU failure of 2026-12-02 (test_hypothesis_shapes, 600 x 248 x 16, fast, float32 output, element
    # (50, 131)): products on the grid 2**-13 summing to 0.536 < 2**0 looked exact, but 176 * 2**-9 has
    # exponent 7 + (-6) = 1 (the subnormal's field), so the step cuts to 2**(1 - 13): the H200 lost 2**-12.
    xq = np.frombuffer(bytes.fromhex("d537b198e6b139cdc148ac3bd373baac"), np.uint8)[None]
    wq = np.frombuffer(bytes.fromhex("86058681018287868403078783010685"), np.uint8)[None]
    xs, ws = np.array([1038098549], np.uint32).view(F32), np.array([1092331910], np.uint32).view(F32)
    measured = np.array([1058148414], np.uint32).view(F32)  # the kernel's float32 output, 20 runs alike
    assert float(exact_dot(xq, wq)[0, 0]) == 4392 * 2.0**-13
    assert float(emulate_accumulator(xq, wq, use_fast_accum=True)[0, 0]) == 4390 * 2.0**-13
    assert accumulation_error_bound(xq, wq, use_fast_accum=True)[0, 0] >= 2.0**-12
    ref = f8f8bf16_rowwise(xq, wq, xs, ws, output_dtype=F32).astype(np.float64)
    bound = gemm_error_bound(xq, wq, xs, ws, use_fast_accum=True, output_dtype=F32)
    assert abs(float(measured[0]) - float(ref[0, 0])) <= bound[0, 0]


def test_bound_detects_a_dropped_k_block():
    # A kernel that skips one 128-wide K block on same-sign data must fail the slow-accumulation bound.
    rng = np.random.default_rng(9)
    xq, wq = quantized(rng, (16, 2048), "positive"), quantized(rng, (16, 2048), "positive")
    broken = exact_dot(xq[:, 128:], wq[:, 128:])
    assert (np.abs(broken - exact_dot(xq, wq)) > accumulation_error_bound(xq, wq, use_fast_accum=False)).all()


def test_gemm_bound_covers_model_accumulator_and_reassociated_epilogue():
    rng = np.random.default_rng(10)
    m, n, k = 12, 10, 1024
    xq, wq = quantized(rng, (m, k), "randn"), quantized(rng, (n, k), "wide")
    xs, ws = rng.uniform(1e-3, 1, m).astype(F32), rng.uniform(1e-3, 1, n).astype(F32)
    bias = rng.standard_normal(n).astype(BF16)
    for fast in (True, False):
        for out in (BF16, np.float16, F32):
            ref = f8f8bf16_rowwise(xq, wq, xs, ws, bias, output_dtype=out).astype(np.float64)
            acc = emulate_accumulator(xq, wq, use_fast_accum=fast)
            impl = (acc * (xs[:, None] * ws[None, :]) + bias.astype(F32)).astype(out).astype(np.float64)
            bound = gemm_error_bound(xq, wq, xs, ws, bias, use_fast_accum=fast, output_dtype=out)
            assert (np.abs(impl - ref) <= bound).all()
    t_ref = f8f8bf16(xq, wq, F32(0.5), output_dtype=F32).astype(np.float64)
    t_impl = (emulate_accumulator(xq, wq, use_fast_accum=True) * F32(0.5)).astype(np.float64)
    assert (np.abs(t_impl - t_ref) <= gemm_error_bound_tensorwise(xq, wq, F32(0.5), use_fast_accum=True,
                                                                   output_dtype=F32)).all()


def test_bound_is_nan_exactly_where_the_reference_is():
    rng = np.random.default_rng(11)
    xq, wq = quantized(rng, (4, 64), "randn"), quantized(rng, (3, 64), "randn")
    xq[1, 5] = 0x7F
    ref = f8f8bf16_rowwise(xq, wq, np.ones(4, F32), np.ones(3, F32)).astype(F32)
    bound = gemm_error_bound(xq, wq, np.ones(4, F32), np.ones(3, F32), use_fast_accum=True)
    np.testing.assert_array_equal(np.isnan(bound), np.isnan(ref))


# ---- split-K accumulation (B4) --------------------------------------------------------------------------

def _swamping(rng, shape):
    """Half ones, half 2**-6: a large same-sign sum with small addends (scripts/validate_accumulator.py)."""
    return encode(np.where(rng.uniform(size=shape) < 0.5, 1.0, 2.0**-6).astype(F32), E4M3FN, saturate=True)


def _uneven_split(rng, k, n_splits, step):
    """``n_splits - 1`` distinct interior boundaries on the grid of ``step``, drawn at random (uneven splits)."""
    return tuple(int(b) for b in np.sort(rng.choice(np.arange(step, k, step), n_splits - 1, replace=False)))


@pytest.mark.parametrize("kind", ["randn", "positive", "wide", "swamping"])
@pytest.mark.parametrize("fast", [True, False])
def test_split_accumulator_stays_within_its_split_bound(kind, fast):
    rng = np.random.default_rng(12)
    k = 1056  # not a multiple of 128: the last split ends in a partial promotion chunk
    make = _swamping if kind == "swamping" else lambda r, s: quantized(r, s, kind)
    xq, wq = make(rng, (5, k)), make(rng, (4, k))
    acc = exact_dot(xq, wq)
    step = 32 if fast else 128
    for n_splits in range(2, 9):
        k_split = _uneven_split(rng, k, n_splits, step)
        err = np.abs(emulate_accumulator(xq, wq, use_fast_accum=fast, k_split=k_split).astype(np.float64) - acc)
        bound = accumulation_error_bound(xq, wq, use_fast_accum=fast, k_split=k_split)
        assert (err <= bound).all(), (k_split, np.max(err / bound))


def _unsplit_emulation(xq, wq, fast, model):
    """``emulate_accumulator`` without ``k_split`` (frozen copy, with the alignment exponents measured on the
    H200 on 2026-12-02): the no-split behaviour to keep."""
    from fp8ref.gemm import _binade, _exponent_weight, _truncate
    x, w = decode(xq, E4M3FN, np.float64), decode(wq, E4M3FN, np.float64)
    xe, we = _exponent_weight(x), _exponent_weight(w)
    g, f, k = model.group, model.fraction_bits, x.shape[1]
    per_chunk = k if fast else model.promote_every
    reg = np.zeros((x.shape[0], w.shape[0]), np.float32)
    for c0 in range(0, k, per_chunk):
        c = np.zeros(reg.shape)
        for j in range(c0, min(c0 + per_chunk, k), g):
            terms = np.concatenate([c[..., None], x[:, None, j:j + g] * w[None, :, j:j + g]], axis=-1)
            top = np.maximum(np.max(xe[:, None, j:j + g] * we[None, :, j:j + g], axis=-1),
                             np.where(c == 0, 0.0, np.ldexp(1.0, _binade(c))))
            s = np.sum(_truncate(terms, _binade(top)[..., None], f), axis=-1)
            c = _truncate(s, _binade(s), f)
        reg = reg + c.astype(np.float32)
    return reg


def _unsplit_bound(xq, wq, fast, model):
    """``accumulation_error_bound`` without ``k_split`` (frozen copy, with B(v) = max(|v|, 2**ex) since
    2026-12-02)."""
    from fp8ref.gemm import _U32, _exact_under_model, _exponent_weight, _step_maxima
    x, w = decode(xq, E4M3FN, np.float64), decode(wq, E4M3FN, np.float64)
    g, f, k = model.group, 2.0 ** -model.fraction_bits, x.shape[-1]
    steps = -(-k // g)
    with np.errstate(invalid="ignore"):
        xmax = _step_maxima(np.maximum(np.abs(x), _exponent_weight(x)), g, steps)
        wmax = _step_maxima(np.maximum(np.abs(w), _exponent_weight(w)), g, steps)
    per_chunk = steps if fast else max(1, model.promote_every // g)
    shape = x.shape[:-1] + (w.shape[0],)
    total, err, chunk_sum, chunk_err = (np.zeros(shape) for _ in range(4))
    with np.errstate(invalid="ignore", over="ignore"):
        for j in range(steps):
            ks = slice(j * g, (j + 1) * g)
            m_j = np.maximum(np.abs(chunk_sum) + chunk_err, xmax[..., j, None] * wmax[:, j])
            t_j = (g + 1) * f * m_j
            chunk_sum = chunk_sum + x[..., ks] @ w[:, ks].T
            chunk_err = chunk_err + t_j + f * (np.abs(chunk_sum) + chunk_err + t_j)
            if not fast and ((j + 1) % per_chunk == 0 or j == steps - 1):
                total = total + chunk_sum
                err = err + chunk_err + _U32 * (np.abs(total) + err + chunk_err)
                chunk_sum, chunk_err = np.zeros(shape), np.zeros(shape)
    return np.where(_exact_under_model(xq, wq, model), 0.0, chunk_err if fast else err)


@pytest.mark.parametrize("model", [AccumulatorModel(), AccumulatorModel(group=16, fraction_bits=10, promote_every=64)])
def test_no_split_is_bit_identical_to_the_unsplit_accumulator(model):
    rng = np.random.default_rng(13)
    xq, wq = quantized(rng, (2, 3, 1000), "wide"), quantized(rng, (4, 1000), "positive")
    xq[0, 1, 7] = 0x7F  # a NaN row
    for fast in (True, False):
        old_bound = _unsplit_bound(xq, wq, fast, model)
        for k_split in (None, (), [], np.array([], np.int64)):
            new = emulate_accumulator(xq[1], wq, use_fast_accum=fast, model=model, k_split=k_split)
            assert new.tobytes() == _unsplit_emulation(xq[1], wq, fast, model).tobytes()
            new = accumulation_error_bound(xq, wq, use_fast_accum=fast, model=model, k_split=k_split)
            assert new.tobytes() == old_bound.tobytes()


def test_split_changes_the_emulation_and_the_bound():
    # products: 128 x 448**2 = 25690112 (exact in the chain: 128 * 49 < 2**13 units of 2**12), then 1, then 1.
    # One split: each 1 is lost (truncated in the FP8 chain; a float32 tie to even in the register, ulp 2).
    # Split at 128: the second split sums 1 + 1 = 2 exactly and 25690112 + 2 is a float32.
    x = np.zeros((1, 384), np.uint8)
    x[0, :128], x[0, 128], x[0, 256] = 0x7E, 0x38, 0x38
    for fast in (True, False):
        assert float(emulate_accumulator(x, x, use_fast_accum=fast)[0, 0]) == 128 * 448**2
        assert float(emulate_accumulator(x, x, use_fast_accum=fast, k_split=(128,))[0, 0]) == 128 * 448**2 + 2
    # fast accumulation: four chains of 1024 lose far less than one of 4096, and the bound says so
    rng = np.random.default_rng(14)
    xq, wq = quantized(rng, (6, 4096), "positive"), quantized(rng, (6, 4096), "positive")
    k_split = (1024, 2048, 3072)
    split_bound = accumulation_error_bound(xq, wq, use_fast_accum=True, k_split=k_split)
    assert (split_bound < accumulation_error_bound(xq, wq, use_fast_accum=True) / 2).all()


def test_split_bound_detects_a_lost_split():
    # A split-K reduction that loses its first split (128 K) on same-sign data must fail the split bound.
    rng = np.random.default_rng(15)
    xq, wq = quantized(rng, (16, 2048), "positive"), quantized(rng, (16, 2048), "positive")
    k_split = (128, 1024, 1536)
    broken = exact_dot(xq[:, 128:], wq[:, 128:])
    for fast in (True, False):
        bound = accumulation_error_bound(xq, wq, use_fast_accum=fast, k_split=k_split)
        assert (np.abs(broken - exact_dot(xq, wq)) > bound).all()


def test_exactness_lemma_covers_splits():
    rng = np.random.default_rng(16)
    small = np.array([0x00, 0x38, 0xB8, 0x40, 0xC0], np.uint8)
    xq, wq = rng.choice(small, (8, 1024)), rng.choice(small, (8, 1024))
    for fast in (True, False):
        k_split = (128, 384, 896)
        assert (accumulation_error_bound(xq, wq, use_fast_accum=fast, k_split=k_split) == 0).all()
        np.testing.assert_array_equal(emulate_accumulator(xq, wq, use_fast_accum=fast, k_split=k_split),
                                      exact_dot(xq, wq))


def test_gemm_bounds_take_the_split():
    rng = np.random.default_rng(17)
    m, n, k = 6, 5, 640
    xq, wq = quantized(rng, (m, k), "randn"), quantized(rng, (n, k), "wide")
    xs, ws = rng.uniform(1e-3, 1, m).astype(F32), rng.uniform(1e-3, 1, n).astype(F32)
    for fast, k_split in ((True, (96, 320, 352)), (False, (256, 384))):
        acc = emulate_accumulator(xq, wq, use_fast_accum=fast, k_split=k_split)
        ref = f8f8bf16_rowwise(xq, wq, xs, ws, output_dtype=F32).astype(np.float64)
        impl = (acc * (xs[:, None] * ws[None, :])).astype(np.float64)
        bound = gemm_error_bound(xq, wq, xs, ws, use_fast_accum=fast, output_dtype=F32, k_split=k_split)
        assert (np.abs(impl - ref) <= bound).all()
        t_ref = f8f8bf16(xq, wq, F32(0.5), output_dtype=F32).astype(np.float64)
        t_bound = gemm_error_bound_tensorwise(xq, wq, F32(0.5), use_fast_accum=fast, output_dtype=F32,
                                              k_split=k_split)
        assert (np.abs((acc * F32(0.5)).astype(np.float64) - t_ref) <= t_bound).all()
        with pytest.raises(ValueError, match="k_split"):
            gemm_error_bound_tensorwise(xq, wq, F32(0.5), use_fast_accum=fast, k_split=(k,))


@pytest.mark.parametrize("k_split,fast,why", [
    (4, True, "not a number of splits"),  # S given instead of the boundaries
    ("128", True, "sequence"),
    ([[128]], True, "sequence"),
    ([128.0], True, "integers"),
    ([True], True, "integers"),
    ([256, 128], True, "boundary 128"),  # not increasing
    ([128, 128], True, "boundary 128"),
    ([0], True, "boundary 0"),
    ([512], True, "boundary 512"),  # = K
    ([48], True, "multiple of model.group = 32"),
    ([64], False, "promote_every = 128"),  # slow: promotion chunks must stay aligned
])
def test_bad_k_split_is_named(k_split, fast, why):
    xq = np.zeros((2, 512), np.uint8)
    for fn in (emulate_accumulator, accumulation_error_bound):
        with pytest.raises(ValueError, match="k_split") as info:
            fn(xq, xq, use_fast_accum=fast, k_split=k_split)
        assert why in str(info.value)
    with pytest.raises(ValueError, match="k_split"):
        gemm_error_bound(xq, xq, np.ones(2, F32), np.ones(2, F32), use_fast_accum=fast, k_split=k_split)

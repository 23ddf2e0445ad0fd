"""fp8cuda quantizers, dequantizers and casts on the GPU, bit-exact against fp8ref (skipped without a GPU).

Outputs are poisoned (codes 0xA5, scales NaN) before every launch, so an element the kernel forgets to
write shows up as a mismatch. Rows past num_tokens are filled with NaN: if the kernel read them the
codes of those rows would not be 0.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.gpu
cupy = pytest.importorskip("cupy")

import ml_dtypes  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import fp8cuda  # noqa: E402
from fp8cuda import quantize as Q  # noqa: E402
from fp8ref import formats, scale  # noqa: E402
from fp8ref.strategies import activations  # noqa: E402
from fp8ref.testing import assert_fp8_equal  # noqa: E402

BF16 = np.dtype(ml_dtypes.bfloat16)
DTYPES = [np.dtype(np.float32), np.dtype(np.float16), BF16]
POISON = 0xA5


def to_device(a: np.ndarray, offset_elems: int = 0):
    """Copy to the device; with offset_elems > 0 the array starts that many elements into its buffer, so
    its data pointer is not 16-byte aligned."""
    a = np.ascontiguousarray(a)
    u = a.view({2: np.uint16, 4: np.uint32}[a.dtype.itemsize])
    buf = cupy.empty(a.size + offset_elems, u.dtype)
    buf[offset_elems:] = cupy.asarray(u.ravel())
    return buf[offset_elems:].view(a.dtype).reshape(a.shape)


def poisoned(shape, dtype):
    if np.dtype(dtype) == np.uint8:
        return cupy.full(shape, POISON, np.uint8)
    return cupy.full(shape, np.nan, dtype)


def assert_float_equal(actual, expected):
    """Bitwise equal, except that any NaN matches any NaN (the payload of a computed NaN is unspecified)."""
    a, e = np.asarray(actual), np.asarray(expected)
    assert a.shape == e.shape and a.dtype == e.dtype, (a.shape, a.dtype, e.shape, e.dtype)
    u = {2: np.uint16, 4: np.uint32}[a.dtype.itemsize]
    an, en = np.isnan(a.astype(np.float32)), np.isnan(e.astype(np.float32))
    np.testing.assert_array_equal(an, en)
    bad = (a.view(u) != e.view(u)) & ~an
    assert not bad.any(), f"{int(bad.sum())} differ; first at {np.argwhere(bad)[0]}: {a[bad][0]!r} vs {e[bad][0]!r}"


# ------------------------------------------------------------------------------------------------ casts

def test_hardware_nan_and_special_behaviour_is_recorded():
    """What cvt.rn.satfinite gives raw (no fix-up) for NaN of both signs and other specials; printed for the
    record. The package's encode rewrites NaN codes, so only the fixed-up result is asserted."""
    x = np.float32([np.nan, -np.nan, np.inf, -np.inf, -0.0, -1e-30, 464.0, 465.0, -1e30])
    x[1] = np.uint32(0xFFC00000).view(np.float32)
    for fmt, ctype in (("e4m3fn", "fp8cuda::E4M3FN"), ("e5m2", "fp8cuda::E5M2")):
        out = cupy.zeros(x.size, np.uint8)
        k = fp8cuda._loader.get_kernel("cast.cu", f"fp8cuda::cvt_probe_raw<{ctype}>")
        k((1,), (32,), (cupy.asarray(x), out, np.int64(x.size)))
        raw = [hex(c) for c in out.get()]
        print(f"\nHW cvt.rn.satfinite.{fmt}x2.f32 raw codes for {x.view(np.uint32).tolist()}: {raw}")
        fixed = Q.cast_to_fp8(cupy.asarray(x), fmt, saturate=True).get()
        assert_fp8_equal(fixed, formats.encode(x, fmt, saturate=True), fmt, inputs=x)


@pytest.mark.parametrize("fmt", ["e4m3fn", "e5m2"])
@pytest.mark.parametrize("saturate", [True, False])
@pytest.mark.parametrize("dtype", [BF16, np.dtype(np.float16)], ids=str)
def test_cast_every_16_bit_input(fmt, saturate, dtype):
    x = np.arange(2**16, dtype=np.uint16).view(dtype)
    got = Q.cast_to_fp8(to_device(x), fmt, saturate=saturate).get()
    assert_fp8_equal(got, formats.encode(x, fmt, saturate=saturate), fmt, inputs=x)


@pytest.mark.parametrize("fmt", ["e4m3fn", "e5m2"])
@pytest.mark.parametrize("saturate", [True, False])
def test_cast_float32_random_sample(fmt, saturate):
    rng = np.random.default_rng(3)
    x = rng.integers(0, 2**32, 2**22, dtype=np.uint64).astype(np.uint32).view(np.float32)
    got = Q.cast_to_fp8(to_device(x), fmt, saturate=saturate).get()
    assert_fp8_equal(got, formats.encode(x, fmt, saturate=saturate), fmt, inputs=x)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["e4m3fn", "e5m2"])
@pytest.mark.parametrize("saturate", [True, False])
def test_cast_every_float32_input(fmt, saturate):
    """All 2**32 float32 inputs: the CUDA kernel (hardware cvt for saturate, software otherwise) against the
    Numba prototype running on the GPU (itself checked against fp8ref in CI), compared on the device; plus
    fp8ref itself on 2**16 inputs of every chunk. For saturate=True the software encoder is swept too."""
    numba_cuda = pytest.importorskip("numba.cuda")
    from fp8cuda import numba_proto

    ctype = {"e4m3fn": "fp8cuda::E4M3FN", "e5m2": "fp8cuda::E5M2"}[fmt]
    sat = "true" if saturate else "false"
    kernels = [fp8cuda._loader.get_kernel("cast.cu", f"fp8cuda::cast_sweep_f32<{ctype}, {sat}, {sat}>")]
    if saturate:
        kernels.append(fp8cuda._loader.get_kernel("cast.cu", f"fp8cuda::cast_sweep_f32<{ctype}, true, false>"))
    params = numba_proto.format_params(formats.get_format(fmt))
    chunk = 2**28
    got = cupy.empty(chunk, np.uint8)
    want = cupy.empty(chunk, np.uint8)
    rng = np.random.default_rng(5)
    for first in range(0, 2**32, chunk):
        numba_proto.encode_bits_kernel[chunk // 256, 256](first, chunk, numba_cuda.as_cuda_array(want), saturate, params)
        for k in kernels:
            got.fill(POISON)
            k((chunk // 256,), (256,), (np.uint32(first), got, np.int64(chunk)))
            bad = cupy.flatnonzero(got != want)
            if bad.size:
                i = int(bad[0])
                raise AssertionError(f"float32 bits {first + i:#010x}: kernel {int(got[i]):#04x}, prototype {int(want[i]):#04x}")
        idx = rng.integers(0, chunk, 2**16)
        x = (np.uint32(first) + idx.astype(np.uint32)).view(np.float32)
        assert_fp8_equal(want[cupy.asarray(idx)].get(), formats.encode(x, fmt, saturate=saturate), fmt, inputs=x)


@pytest.mark.parametrize("fmt", ["e4m3fn", "e5m2"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_cast_from_fp8_every_code(fmt, dtype):
    codes = np.arange(256, dtype=np.uint8)
    got = Q.cast_from_fp8(cupy.asarray(codes), fmt, dtype).get()
    want = formats.decode(codes, fmt, np.float32).astype(dtype)
    np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))


# ------------------------------------------------------------------------------------------- quantizers

ROW_K = [1, 3, 8, 17, 64, 256, 1024, 4097, 8192, 16385, 32768, 65536, 65544]


def _check_per_row(x_np, ub=None, nt=None, sr=False, seed=0, offset=0, device_args=False):
    R = int(np.prod(x_np.shape[:-1]))
    x_in = x_np.copy()
    if nt is not None and nt < R:  # rows past num_tokens must never be read: make them NaN
        x_in.reshape(R, -1)[nt:] = np.nan
    x = to_device(x_in, offset)
    out, sout = poisoned(x_np.shape, np.uint8), poisoned(x_np.shape[:-1], np.float32)
    ub_arg = cupy.asarray([ub], np.float32) if (device_args and ub is not None) else ub
    nt_arg = cupy.asarray([nt], np.int64) if (device_args and nt is not None) else nt
    xq, s = fp8cuda.quantize_fp8_per_row(x, ub_arg, nt_arg, stochastic_rounding=sr, seed=seed, out=out, scale_out=sout)
    assert xq is out and s is sout
    rq, rs = scale.quantize_fp8_per_row(x_np, ub, nt, stochastic_rounding=sr, seed=seed)
    np.testing.assert_array_equal(s.get().view(np.uint32), rs.view(np.uint32))
    assert_fp8_equal(xq.get(), rq, "e4m3fn", inputs=x_np)


def _negative_nan(dtype):
    return np.array(0xFFC1 if np.dtype(dtype).itemsize == 2 else 0xFFC00001, {2: np.uint16, 4: np.uint32}[np.dtype(dtype).itemsize]).view(dtype)


@pytest.mark.parametrize("K", ROW_K)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("policy", ["auto", "cluster", "deep", "pipe"])
def test_per_row_every_kernel_configuration(K, dtype, policy, monkeypatch):
    """3 and 17 rows: the one-block-per-row kernel, with the configurations for few rows ("auto") or for
    many ("deep", forced); 3 rows, "cluster" (forced): the cluster kernel where the row is long enough; 17
    rows, "pipe" (forced, default stages, 2 blocks: each loops over 8-9 rows, through every stage): the
    persistent pipelined kernel; offset start: the level-1 kernel. NaN of both signs (code 0x7F), a zero row, a row with -0 and
    an inf (s = inf: the division fallback; with scale_ub too), and scale_ub / num_tokens in "pipe"."""
    rng = np.random.default_rng(K)
    if policy == "deep":
        monkeypatch.setattr(Q, "DEEP_MIN_ROWS_PER_SM", 0)
    if policy == "pipe":
        monkeypatch.setattr(Q, "PIPE_MIN_ROWS_PER_SM", 0)
        monkeypatch.setattr(Q, "PIPE_GRID_LIMIT", 2)
        monkeypatch.setattr(Q, "pipe_stages", Q.default_pipe_stages)
    if policy == "cluster":
        monkeypatch.setattr(Q, "CLUSTER_MAX_ROWS", 16)
    for R in {"auto": (3, 17), "cluster": (3,)}.get(policy, (17,)):
        if R == 17 and K > 16385 and dtype != BF16:
            continue  # keep the host reference cheap
        x = (rng.standard_normal((R, K)) * 2.0 ** rng.integers(-10, 10, (R, 1))).astype(dtype)
        x[0, K // 2] = np.nan
        x[0, K // 3] = _negative_nan(dtype)
        x[0, K - 1] = -0.0
        x[2, :] = 0
        if R == 17:
            x[5, K // 4] = -np.inf
            x[6, :] = -0.0
        for sr in (False, True):
            _check_per_row(x, sr=sr, seed=K)
            if R == 3 and policy == "auto":
                _check_per_row(x, sr=sr, seed=K, offset=1)  # unaligned start: level-1 kernel
        if policy == "pipe":
            _check_per_row(x, ub=1e-3, nt=11)
            _check_per_row(x, ub=1.0, nt=0, device_args=True)


@settings(max_examples=60, deadline=None)
@given(x=st.one_of(activations(st.tuples(st.integers(1, 9), st.sampled_from(ROW_K[:9])), dtype=BF16),
                   activations(st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 300)), dtype=np.float32),
                   activations(st.tuples(st.integers(1, 5), st.integers(1, 2000)), dtype=np.float16)),
       ub=st.sampled_from([None, 1e-3, 1.0, 448.0, 1e6]), nt=st.sampled_from([None, 0, 1, 2, 5, 100]),
       sr=st.booleans(), seed=st.integers(0, 2**64 - 1), offset=st.sampled_from([0, 0, 1, 3]),
       device_args=st.booleans())
def test_per_row_matches_fp8ref(x, ub, nt, sr, seed, offset, device_args):
    _check_per_row(x, ub, nt, sr, seed, offset, device_args)


def test_per_row_under_cuda_graph_capture_with_device_num_tokens():
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((8, 4096)).astype(BF16)
    x = to_device(x_np)
    nt = cupy.asarray([8], np.int64)
    ub = cupy.asarray([2.0], np.float32)
    out, sout = cupy.empty(x.shape, np.uint8), cupy.empty(8, np.float32)
    fp8cuda.quantize_fp8_per_row(x, ub, nt, out=out, scale_out=sout)  # compile outside the capture
    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        stream.begin_capture()
        fp8cuda.quantize_fp8_per_row(x, ub, nt, out=out, scale_out=sout)
        graph = stream.end_capture()
    for n in (8, 3, 0):
        with stream:  # on the replay's stream: a non-blocking stream is not ordered after the null stream
            nt.fill(n)
            out.fill(POISON)
            graph.launch(stream)
        stream.synchronize()
        rq, rs = scale.quantize_fp8_per_row(x_np, 2.0, n)
        assert_fp8_equal(out.get(), rq, "e4m3fn")
        np.testing.assert_array_equal(sout.get(), rs)


@settings(max_examples=30, deadline=None)
@given(x=st.one_of([activations(st.tuples(st.integers(1, 4), st.integers(1, 3000)), dtype=d) for d in DTYPES]),
       ub=st.sampled_from([None, 1.0, 448.0]), sr=st.booleans(), seed=st.integers(0, 2**64 - 1),
       offset=st.sampled_from([0, 1]))
def test_per_tensor_matches_fp8ref(x, ub, sr, seed, offset):
    out, sout = poisoned(x.shape, np.uint8), poisoned((), np.float32)
    xq, s = fp8cuda.quantize_fp8_per_tensor(to_device(x, offset), ub, stochastic_rounding=sr, seed=seed, out=out, scale_out=sout)
    rq, rs = scale.quantize_fp8_per_tensor(x, ub, stochastic_rounding=sr, seed=seed)
    np.testing.assert_array_equal(s.get().view(np.uint32), rs.view(np.uint32))
    assert_fp8_equal(xq.get(), rq, "e4m3fn", inputs=x)


@settings(max_examples=30, deadline=None)
@given(x=activations(st.tuples(st.integers(1, 2), st.integers(1, 300), st.integers(1, 300)), dtype=BF16),
       block=st.sampled_from([(128, 128), (1, 128), (7, 33)]), ub=st.sampled_from([None, 1.0]),
       sr=st.booleans(), seed=st.integers(0, 2**64 - 1))
def test_per_block_matches_fp8ref(x, block, ub, sr, seed):
    xq, s = fp8cuda.quantize_fp8_per_block(to_device(x), block, ub, stochastic_rounding=sr, seed=seed,
                                           out=poisoned(x.shape, np.uint8))
    rq, rs = scale.quantize_fp8_per_block(x, block, ub, stochastic_rounding=sr, seed=seed)
    np.testing.assert_array_equal(s.get().view(np.uint32), rs.view(np.uint32))
    assert_fp8_equal(xq.get(), rq, "e4m3fn", inputs=x)


# ------------------------------------------------------------------------------------------ dequantize

@pytest.mark.parametrize("out_dtype", DTYPES, ids=str)
@pytest.mark.parametrize("fmt", ["e4m3fn", "e5m2"])
def test_dequantize_matches_fp8ref(out_dtype, fmt):
    rng = np.random.default_rng(1)
    xq = rng.integers(0, 256, (2, 5, 300), dtype=np.uint8)
    s_row = (2.0 ** rng.uniform(-140, 120, (2, 5))).astype(np.float32)  # products reach subnormals and overflow
    assert_float_equal(Q.dequantize_fp8_per_row(cupy.asarray(xq), cupy.asarray(s_row), fmt=fmt, output_dtype=out_dtype).get(),
                       scale.dequantize_fp8_per_row(xq, s_row, fmt=fmt, output_dtype=out_dtype))
    s_t = np.float32(3.0e-3)
    assert_float_equal(Q.dequantize_fp8_per_tensor(cupy.asarray(xq), cupy.asarray(s_t), fmt=fmt, output_dtype=out_dtype).get(),
                       scale.dequantize_fp8_per_tensor(xq, s_t, fmt=fmt, output_dtype=out_dtype))
    s_b = (2.0 ** rng.uniform(-20, 20, (2, 1, 3))).astype(np.float32)
    assert_float_equal(Q.dequantize_fp8_per_block(cupy.asarray(xq), cupy.asarray(s_b), (5, 128), fmt=fmt, output_dtype=out_dtype).get(),
                       scale.dequantize_fp8_per_block(xq, s_b, (5, 128), fmt=fmt, output_dtype=out_dtype))


# ------------------------------------------------------------------------------------------- interop

def test_torch_tensors_in_and_float8_view_out():
    torch = pytest.importorskip("torch")
    from fp8cuda import interop

    t = torch.randn(4, 256, device="cuda", dtype=torch.bfloat16)
    xq, s = fp8cuda.quantize_fp8_per_row(t)
    rq, rs = scale.quantize_fp8_per_row(t.float().cpu().numpy().astype(BF16))
    assert_fp8_equal(xq.get(), rq, "e4m3fn")
    f8 = interop.to_torch_fp8(xq)
    assert f8.dtype == torch.float8_e4m3fn and f8.data_ptr() == xq.data.ptr
    np.testing.assert_array_equal(f8.view(torch.uint8).cpu().numpy(), rq)

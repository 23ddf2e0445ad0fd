"""Helpers for GPU tests of fp8cuda's GEMMs against fp8ref (used by tests/cuda; CuPy imported lazily).

``run_and_check(fn, ops, use_fast_accum=...)``: copy host operands to the GPU, launch ``fn`` into an output
poisoned with all-ones bytes (NaN in bf16, fp16 and fp32, so an element the kernel did not write fails
the NaN-position check), and assert the result lies within ``fp8ref.gemm.gemm_error_bound`` of
``fp8ref.gemm.f8f8bf16_rowwise`` for the accumulation the launch performed (its plan's ``k_split``).
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

from fp8ref.testing import assert_gemm_within_bound

__all__ = ["BF16", "OUT_DTYPES", "skip_unless_hopper", "to_device", "to_host", "poisoned", "random_operands",
           "run_and_check"]

BF16 = np.dtype(ml_dtypes.bfloat16)
OUT_DTYPES = (BF16, np.dtype(np.float16), np.dtype(np.float32))


def skip_unless_hopper():
    """CuPy, if a CUDA device of compute capability >= 9.0 is present; else ``pytest.skip``."""
    import pytest

    cp = pytest.importorskip("cupy")
    try:
        if cp.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no CUDA device")
        major = int(cp.cuda.Device().compute_capability[:-1])
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"no usable CUDA device: {e}")
    if major < 9:
        pytest.skip("the WGMMA kernels need sm_90a")
    return cp


def to_device(cp, a):
    """Host array -> CuPy array (bfloat16 through its uint16 bits when CuPy lacks the dtype); None stays None."""
    if a is None:
        return None
    if a.dtype == BF16:
        from fp8cuda.gemm import bf16_cupy_dtype

        return cp.asarray(a.view(np.uint16)).view(bf16_cupy_dtype())
    return cp.asarray(a)


def to_host(out, out_dtype) -> np.ndarray:
    """CuPy output -> NumPy array of ``out_dtype`` (uint16 bfloat16 bits are viewed as bfloat16)."""
    a = out.get()
    if np.dtype(out_dtype) == BF16 and a.dtype == np.uint16:
        a = a.view(ml_dtypes.bfloat16)
    return a


def poisoned(cp, shape, out_dtype):
    """An output array of ``shape`` filled with all-ones bytes (NaN in bf16, fp16 and fp32)."""
    from fp8cuda.gemm import bf16_cupy_dtype

    dt = bf16_cupy_dtype() if np.dtype(out_dtype) == BF16 else np.dtype(out_dtype)
    out = cp.empty(shape, dtype=dt)
    out.view(cp.uint8).fill(0xFF)
    return out


def random_operands(rng, m, n, k, *, batch=None, bias=False, bias_dtype=np.float32):
    """Random finite e4m3fn codes (no NaN: 0x7F/0xFF excluded) and positive float32 scales (host arrays):
    (xq [M, K] or [batch, M, K], wq [N, K], x_scale, w_scale [N], bias [N] or None)."""
    finite = np.array([c for c in range(256) if c & 0x7F != 0x7F], np.uint8)
    lead = (batch,) if batch else ()
    xq = rng.choice(finite, size=lead + (m, k))
    wq = rng.choice(finite, size=(n, k))
    xs = np.ldexp(rng.uniform(1, 2, lead + (m,)), rng.integers(-10, -4, lead + (m,))).astype(np.float32)
    ws = np.ldexp(rng.uniform(1, 2, n), rng.integers(-10, -4, n)).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32).astype(bias_dtype) if bias else None
    return xq, wq, xs, ws, b


def run_and_check(fn, ops, *, use_fast_accum, out_dtype=BF16, **kw):
    """Launch ``fn`` on ``ops`` (host arrays) into a poisoned output and check it against fp8ref, with the
    k_split of the accumulation the launch performs: ``fp8cuda.gemm.f8f8bf16_rowwise`` runs through its
    plan (``GemmPlan.k_split``; the dispatcher sends M <= 128 to the split-K decode kernel); any other
    ``fn`` is checked against the unsplit bound. Returns the host result."""
    import cupy as cp

    from fp8cuda import gemm

    xq, wq, xs, ws, bias = ops
    dev = [to_device(cp, a) for a in (xq, wq, xs, ws, bias)]
    out = poisoned(cp, xq.shape[:-1] + (wq.shape[0],), out_dtype)
    k_split = None
    if fn is gemm.f8f8bf16_rowwise:
        plan = gemm.make_plan(*dev, use_fast_accum=use_fast_accum, out=out, output_dtype=out_dtype, **kw)
        res, k_split = plan(), plan.k_split
    else:
        res = fn(*dev, use_fast_accum=use_fast_accum, out=out, output_dtype=out_dtype, **kw)
    assert res is out
    cp.cuda.runtime.deviceSynchronize()
    got = to_host(out, out_dtype)
    assert_gemm_within_bound(got, xq, wq, xs, ws, bias, use_fast_accum=use_fast_accum, output_dtype=out_dtype,
                             k_split=k_split)
    return got

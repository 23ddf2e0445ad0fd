"""Adapters of this repository's CUDA code: the Numba prototypes (``numba``; Numba's simulator without a
GPU) and the CuPy kernels (``fp8cuda``; needs a GPU and CuPy). Imported lazily by ``load_adapter``."""

from __future__ import annotations

import ctypes
import importlib.util
import os
import sys

import numpy as np

from fp8ref.formats import get_format

from .adapters import Adapter, BackendUnavailable


def gpu_count() -> int:
    """NVIDIA GPUs visible through the driver, without importing Numba or CuPy (0 without a driver)."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
        n = ctypes.c_int(0)
        if cuda.cuInit(0) != 0 or cuda.cuDeviceGetCount(ctypes.byref(n)) != 0:
            return 0
        return n.value
    except OSError:
        return 0


cuda = proto = None  # numba.cuda and fp8cuda.numba_proto, imported by NumbaAdapter (after the simulator choice)


def _encode_list(bits, codes, saturate, p):
    """The prototype's cast over float32 bit patterns, one thread each (compiled by NumbaAdapter; the
    simulator patches the module global ``cuda`` while it runs)."""
    i = cuda.grid(1)
    if i < bits.shape[0]:
        codes[i] = proto._encode_bits(bits[i], 0, False, saturate, p)


class NumbaAdapter(Adapter):
    """fp8cuda.numba_proto: the software cast (``_encode_bits``, every format, float32 bits; float16 and
    bfloat16 inputs widen exactly) and ``quantize_fp8_per_row``. No GEMM, no tensor-wise quantizer."""

    name = "numba"

    def __init__(self):
        self.simulator = gpu_count() == 0
        if self.simulator:  # read by numba.core.config when numba is first imported
            if "numba" in sys.modules and os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
                raise BackendUnavailable("no GPU, and Numba was imported before NUMBA_ENABLE_CUDASIM=1 could be set")
            os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
        if importlib.util.find_spec("numba") is None:  # (a submodule's find_spec would import numba)
            raise BackendUnavailable("the numba backend needs numba and numba-cuda (pip install numba numba-cuda)")
        if not self.simulator and not hasattr(np, "row_stack"):
            # numba-cuda 0.30 overloads np.row_stack, which NumPy 2.5 removed (tests/conftest.py does the same)
            np.row_stack = np.vstack
        global cuda, proto
        try:
            from numba import cuda
        except ImportError as e:
            raise BackendUnavailable(f"the numba backend needs numba-cuda: {e}") from None

        from fp8cuda import numba_proto as proto

        self.proto, self.kernel = proto, cuda.jit(_encode_list)
        self.description = ("fp8cuda.numba_proto in Numba's CUDA simulator (no GPU)" if self.simulator
                            else "fp8cuda.numba_proto on the GPU")

    def cast_to_fp8(self, x, fmt, saturate):
        bits = np.ascontiguousarray(np.asarray(x).astype(np.float32)).reshape(-1).view(np.uint32).astype(np.int64)
        codes = np.zeros(bits.size, np.uint8)
        if bits.size:
            threads = min(bits.size, 128)  # the simulator runs every thread of a block, used or not
            self.kernel[(bits.size + threads - 1) // threads, threads](
                bits, codes, bool(saturate), self.proto.format_params(get_format(fmt)))
        return codes.reshape(np.shape(x))

    def quantize_fp8_per_row(self, x, scale_ub, num_tokens):
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):  # the simulator runs NumPy scalars
            return self.proto.quantize_fp8_per_row(x, scale_ub, num_tokens)


class Fp8cudaAdapter(Adapter):
    """fp8cuda's CuPy kernels: casts (e4m3fn, e5m2), the three quantizers and the row-wise GEMM (WGMMA)."""

    name = "fp8cuda"
    formats = ("e4m3fn", "e5m2")

    def __init__(self, gemm: str = "wgmma"):
        """``gemm``: "wgmma" (``f8f8bf16_rowwise``) or "simple" (the level-1 ``f8f8bf16_rowwise_simple``)."""
        if importlib.util.find_spec("cupy") is None:
            raise BackendUnavailable("the fp8cuda backend needs CuPy (pip install cupy-cuda13x)")
        if gpu_count() == 0:
            raise BackendUnavailable("the fp8cuda backend needs an NVIDIA GPU; none is visible here")
        import cupy

        import fp8cuda
        from fp8cuda.gemm import bf16_cupy_dtype

        self.cp, self.fp8cuda, self.bf16 = cupy, fp8cuda, bf16_cupy_dtype()
        self.gemm = fp8cuda.f8f8bf16_rowwise if gemm == "wgmma" else fp8cuda.f8f8bf16_rowwise_simple
        self._dispatching_gemm = gemm == "wgmma"  # f8f8bf16_rowwise dispatches small M to the split-K kernel
        dev = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        self.name = "fp8cuda" if gemm == "wgmma" else "fp8cuda-simple"
        self.description = f"fp8cuda ({gemm} GEMM) on {dev['name'].decode()}, CuPy {cupy.__version__}"

    def _dev(self, a):
        a = np.ascontiguousarray(a)
        if a.dtype.name == "bfloat16":
            return self.cp.asarray(a.view(np.uint16)).view(self.bf16)
        return self.cp.asarray(a)

    def _host(self, a):
        a = self.cp.asnumpy(a)
        return a.view(np.uint16) if a.dtype.name == "bfloat16" else a

    def gemm_k_split(self, m, n, k, use_fast_accum):
        """The split-K of the accumulation the dispatcher picks (decode kernel, M <= 128); the level-1 kernel
        does not split K."""
        if not getattr(self, "_dispatching_gemm", False):
            return None
        from fp8cuda.gemm import k_split_for

        return k_split_for(m, n, k, use_fast_accum=use_fast_accum) or None

    def cast_to_fp8(self, x, fmt, saturate):
        return self._host(self.fp8cuda.cast_to_fp8(self._dev(x), fmt, saturate=bool(saturate)))

    def cast_from_fp8(self, codes, fmt):
        return self._host(self.fp8cuda.cast_from_fp8(self._dev(codes), fmt, np.float32))

    def quantize_fp8_per_row(self, x, scale_ub, num_tokens):
        return tuple(map(self._host, self.fp8cuda.quantize_fp8_per_row(self._dev(x), scale_ub, num_tokens)))

    def quantize_fp8_per_tensor(self, x, scale_ub):
        return tuple(map(self._host, self.fp8cuda.quantize_fp8_per_tensor(self._dev(x), scale_ub)))

    def quantize_fp8_per_block(self, x, block_shape, scale_ub):
        return tuple(map(self._host, self.fp8cuda.quantize_fp8_per_block(self._dev(x), block_shape, scale_ub)))

    def f8f8bf16_rowwise(self, xq, wq, x_scale, w_scale, bias, use_fast_accum):
        args = [self._dev(a) for a in (xq, wq, x_scale, w_scale)]
        b = None if bias is None else self._dev(bias)
        return self._host(self.gemm(*args, b, bool(use_fast_accum)))

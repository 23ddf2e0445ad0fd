"""The PyTorch adapter: ``Tensor.to(torch.float8_*)`` casts (CPU or CUDA) and ``torch._scaled_mm``
row-wise / tensor-wise GEMMs (CUDA only) in both accumulation modes. Importing this module does not import
torch; constructing the adapter does.

``Tensor.to`` has a single overflow mode, so ``saturate`` is not passed on: the report names the variant
the installed torch matches. ``_scaled_mm`` takes ``mat2`` column-major and wants N and K multiples of 16:
operands are padded with zero codes (zero products change no sum) and the result sliced back. A float32
bias that bfloat16 cannot hold exactly is refused for the row-wise GEMM (its bias is bfloat16), so such
examples are skipped rather than failed.
"""

from __future__ import annotations

import importlib.util

import ml_dtypes
import numpy as np

from .adapters import Adapter, BackendUnavailable
from .rules import Unsupported

_TORCH_FP8 = {"e4m3fn": "float8_e4m3fn", "e4m3fnuz": "float8_e4m3fnuz", "e5m2": "float8_e5m2"}
BF16 = np.dtype(ml_dtypes.bfloat16)


def pad_to(a: np.ndarray, axis: int, multiple: int, value=0) -> np.ndarray:
    """``a`` extended along ``axis`` to a multiple of ``multiple`` with ``value`` (unchanged if it is one)."""
    extra = -a.shape[axis] % multiple
    if not extra:
        return a
    width = [(0, 0)] * a.ndim
    width[axis] = (0, extra)
    return np.pad(a, width, constant_values=value)


def bias_as_bf16(bias):
    """The bias as bfloat16 for ``_scaled_mm`` (None stays None); Unsupported when that would round it."""
    if bias is None:
        return None
    b = np.asarray(bias)
    b16 = b.astype(BF16)
    if not np.array_equal(b16.astype(np.float32), b.astype(np.float32), equal_nan=True):
        raise Unsupported("a float32 bias that bfloat16 does not hold exactly")
    return b16


def padded_gemm_operands(xq, wq, x_scale, w_scale, bias, multiple: int = 16):
    """Operands padded for ``_scaled_mm``: M, N and K to multiples of ``multiple`` (codes 0, scales 1, bias 0)."""
    xq = pad_to(pad_to(xq, 0, multiple), 1, multiple)
    wq = pad_to(pad_to(wq, 0, multiple), 1, multiple)
    x_scale = pad_to(np.asarray(x_scale, np.float32), 0, multiple, 1)
    w_scale = pad_to(np.asarray(w_scale, np.float32), 0, multiple, 1)
    bias = None if bias is None else pad_to(bias, 0, multiple)
    return xq, wq, x_scale, w_scale, bias


class TorchAdapter(Adapter):
    name = "torch"

    def __init__(self, device=None):
        if importlib.util.find_spec("torch") is None:
            raise BackendUnavailable("the torch backend needs PyTorch (pip install torch)")
        import torch

        self.torch = torch
        cuda = torch.cuda.is_available()
        self.device = device or ("cuda" if cuda else "cpu")
        if self.device == "cuda" and not cuda:
            raise BackendUnavailable("the torch-cuda backend needs a CUDA device; torch sees none")
        self.formats = tuple(f for f, t in _TORCH_FP8.items() if hasattr(torch, t))
        self.name = f"torch-{self.device}"
        self.description = f"torch {torch.__version__}, Tensor.to(float8_*) on {self.device}"
        if self.device == "cuda" and hasattr(torch, "_scaled_mm"):
            self.description += f" and torch._scaled_mm on {torch.cuda.get_device_name()}"
        else:  # no GEMM rules: n/a
            self.f8f8bf16_rowwise = self.f8f8bf16 = None
            why = "the torch adapter runs torch._scaled_mm on CUDA only"
            self.na_reasons = {"f8f8bf16_rowwise": why, "f8f8bf16": why}

    def _tensor(self, a: np.ndarray):
        a = np.ascontiguousarray(a)
        if a.dtype == BF16:
            return self.torch.from_numpy(a.view(np.int16)).view(self.torch.bfloat16).to(self.device)
        return self.torch.from_numpy(a).to(self.device)

    def _fp8(self, codes: np.ndarray, fmt: str = "e4m3fn"):
        return self._tensor(np.asarray(codes, np.uint8)).view(getattr(self.torch, _TORCH_FP8[fmt]))

    def cast_to_fp8(self, x, fmt, saturate):
        y = self._tensor(x).to(getattr(self.torch, _TORCH_FP8[fmt]))
        return y.view(self.torch.uint8).cpu().numpy()

    def cast_from_fp8(self, codes, fmt):
        return self._fp8(codes, fmt).to(self.torch.float32).cpu().numpy()

    def _bf16_out(self, y, m: int, n: int) -> np.ndarray:
        return y[:m, :n].contiguous().view(self.torch.int16).cpu().numpy().view(np.uint16)

    def f8f8bf16_rowwise(self, xq, wq, x_scale, w_scale, bias, use_fast_accum):
        m, n = xq.shape[0], wq.shape[0]
        xq, wq, xs, ws, b = padded_gemm_operands(xq, wq, x_scale, w_scale, bias_as_bf16(bias))
        y = self.torch._scaled_mm(self._fp8(xq), self._fp8(wq).t(), self._tensor(xs).reshape(-1, 1),
                                  self._tensor(ws).reshape(1, -1), bias=None if b is None else self._tensor(b),
                                  out_dtype=self.torch.bfloat16, use_fast_accum=bool(use_fast_accum))
        return self._bf16_out(y, m, n)

    def f8f8bf16(self, xq, wq, scale, use_fast_accum):
        m, n = xq.shape[0], wq.shape[0]
        xq, wq, _, _, _ = padded_gemm_operands(xq, wq, np.ones(xq.shape[0]), np.ones(wq.shape[0]), None)
        one = self._tensor(np.float32(1.0).reshape(()))
        y = self.torch._scaled_mm(self._fp8(xq), self._fp8(wq).t(), self._tensor(np.float32(scale).reshape(())),
                                  one, out_dtype=self.torch.bfloat16, use_fast_accum=bool(use_fast_accum))
        return self._bf16_out(y, m, n)

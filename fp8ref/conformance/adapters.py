"""The adapter protocol, the shipped CPU adapters and ``load_adapter``.

An adapter is any object with a ``name`` and some of these methods (NumPy in, NumPy out; the adapter
converts to and from its backend's arrays). A rule whose method is missing is reported n/a.

- ``cast_to_fp8(x, fmt, saturate) -> uint8 codes``: x a float32, bfloat16 or float16 array, fmt one of
  "e4m3fn", "e4m3fnuz", "e5m2";
- ``cast_from_fp8(codes, fmt) -> float32 values``;
- ``quantize_fp8_per_row(x, scale_ub, num_tokens) -> (codes, scales)`` (e4m3fn; scale_ub a float or None,
  num_tokens an int or None), ``quantize_fp8_per_tensor(x, scale_ub)``,
  ``quantize_fp8_per_block(x, block_shape, scale_ub)``; scales float32;
- ``f8f8bf16_rowwise(xq, wq, x_scale, w_scale, bias, use_fast_accum) -> [M, N] bfloat16`` (or its uint16
  bits), ``f8f8bf16(xq, wq, scale, use_fast_accum)``.

Optional attributes: ``formats`` (the FP8 formats it takes; default all three), ``input_dtypes`` (default
float32, bfloat16, float16), ``description`` (shown in the report), ``na_reasons`` ({method: why it is
missing}, shown beside n/a), and the method ``gemm_k_split(m, n, k, use_fast_accum) -> k_split or None``
for a GEMM that splits K: the interior K boundaries its kernel uses for that shape and mode (strictly
increasing, multiples of ``HOPPER_FP8.group`` = 32 and, with slow accumulation, of ``promote_every`` = 128;
None or () for no split), each split accumulated on its own and the float32 results added in split order.
The GEMM rules then hold the result to the split-K bound (``gemm_error_bound(..., k_split=...)``,
docs/spec.md B4). A method may raise ``Unsupported`` for one example (a shape it does not take): that
example is skipped.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import ml_dtypes
import numpy as np

from fp8ref import formats, gemm, scale

from .rules import Unsupported

__all__ = ["Adapter", "BackendUnavailable", "Unsupported", "RefAdapter", "MlDtypesAdapter", "BACKENDS",
           "load_adapter"]


class BackendUnavailable(RuntimeError):
    """The backend cannot run here (a missing package or GPU); the CLI prints it and exits with status 2."""


class Adapter:
    """Base class for adapters (optional: any object with the same attributes works)."""

    name = "adapter"
    description = ""
    formats = ("e4m3fn", "e4m3fnuz", "e5m2")
    input_dtypes = ("float32", "bfloat16", "float16")


class RefAdapter(Adapter):
    """fp8ref itself: every rule must pass (a sanity run of the rules and the runner)."""

    name = "ref"
    description = "fp8ref (NumPy executable specification)"

    def cast_to_fp8(self, x, fmt, saturate):
        return formats.encode(x, fmt, saturate=saturate)

    def cast_from_fp8(self, codes, fmt):
        return formats.decode(codes, fmt, np.float32)

    def quantize_fp8_per_row(self, x, scale_ub, num_tokens):
        return scale.quantize_fp8_per_row(x, scale_ub, num_tokens)

    def quantize_fp8_per_tensor(self, x, scale_ub):
        return scale.quantize_fp8_per_tensor(x, scale_ub)

    def quantize_fp8_per_block(self, x, block_shape, scale_ub):
        return scale.quantize_fp8_per_block(x, block_shape, scale_ub)

    def f8f8bf16_rowwise(self, xq, wq, x_scale, w_scale, bias, use_fast_accum):
        return gemm.f8f8bf16_rowwise(xq, wq, x_scale, w_scale, bias, use_fast_accum)

    def f8f8bf16(self, xq, wq, scale_, use_fast_accum):
        return gemm.f8f8bf16(xq, wq, scale_, use_fast_accum=use_fast_accum)


class MlDtypesAdapter(Adapter):
    """ml_dtypes' ``astype`` casts. ml_dtypes has one overflow mode, OCP non-saturating, so ``saturate`` is
    ignored: the saturating rule reports the variant it matches."""

    name = "ml_dtypes"
    description = f"ml_dtypes {ml_dtypes.__version__} astype (casts only)"

    def cast_to_fp8(self, x, fmt, saturate):
        with np.errstate(invalid="ignore", over="ignore"):
            return np.asarray(x).astype(formats.get_format(fmt).ml_dtype).view(np.uint8)

    def cast_from_fp8(self, codes, fmt):
        return np.asarray(codes, np.uint8).view(formats.get_format(fmt).ml_dtype).astype(np.float32)


def _numba():
    from .adapters_gpu import NumbaAdapter
    return NumbaAdapter()


def _fp8cuda(gemm="wgmma"):
    def make():
        from .adapters_gpu import Fp8cudaAdapter
        return Fp8cudaAdapter(gemm)
    return make


def _torch(device=None):
    def make():
        from .adapter_torch import TorchAdapter
        return TorchAdapter(device)
    return make


BACKENDS = {"ref": RefAdapter, "ml_dtypes": MlDtypesAdapter, "numba": _numba,
            "fp8cuda": _fp8cuda(), "fp8cuda-simple": _fp8cuda("simple"),
            "torch": _torch(), "torch-cpu": _torch("cpu"), "torch-cuda": _torch("cuda")}


def load_adapter(spec: str):
    """An adapter from a backend name (``BACKENDS``), ``package.module:Attr`` or ``path/to/file.py:Attr``.

    ``Attr`` is a class (instantiated without arguments), a factory function or an adapter instance.
    Raises BackendUnavailable when the backend cannot run here, ValueError for an unknown name.
    """
    if spec in BACKENDS:
        return BACKENDS[spec]()
    if ":" not in spec:
        raise ValueError(f"unknown backend {spec!r}: expected one of {', '.join(BACKENDS)}, "
                         f"or module:Attr / file.py:Attr for a plugin")
    where, attr = spec.rsplit(":", 1)
    if where.endswith(".py") or "/" in where or "\\" in where:
        path = Path(where).resolve()
        if not path.is_file():
            raise ValueError(f"backend {spec!r}: no file {path}")
        mod_name = f"fp8ref_plugin_{path.stem}"
        loader = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(loader)
        sys.modules[mod_name] = module
        loader.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise ValueError(f"backend {spec!r}: {module.__name__} has no attribute {attr!r}") from None
    adapter = obj() if isinstance(obj, type) or (callable(obj) and not hasattr(obj, "name")) else obj
    if not getattr(adapter, "name", None):
        adapter.name = attr
    return adapter

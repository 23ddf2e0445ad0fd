"""Interop: accept torch tensors (or anything exposing ``__cuda_array_interface__`` / DLPack) and hand FP8
results back as torch float8 views.

Everything in fp8cuda works on CuPy arrays on the current CuPy stream. ``as_cupy`` wraps foreign device
memory without a copy (bfloat16 and float8 tensors through a same-width integer view, since DLPack and
``cupy.from_dlpack`` do not carry them everywhere); ``to_torch_fp8`` views uint8 codes as a torch float8
tensor, again without a copy. Mixing streams: wrap the call in ``with cupy.cuda.ExternalStream(
torch.cuda.current_stream().cuda_stream):`` so the kernels run on torch's stream. On the host,
``to_ml_dtypes`` / ``from_ml_dtypes`` view uint8 codes as ml_dtypes float8 arrays and back (no copy).
docs/interop.md has the round trips between CuPy, NumPy and PyTorch.
"""

from __future__ import annotations

import numpy as np

__all__ = ["as_cupy", "to_torch_fp8", "to_torch", "to_ml_dtypes", "from_ml_dtypes"]

_TORCH_FP8 = {"e4m3fn": "float8_e4m3fn", "e5m2": "float8_e5m2", "e4m3fnuz": "float8_e4m3fnuz"}
_ML_DTYPES_FP8 = {"e4m3fn": "float8_e4m3fn", "e5m2": "float8_e5m2", "e4m3fnuz": "float8_e4m3fnuz"}


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "data_ptr")


def as_cupy(x, name: str = "x"):
    """``x`` as a CuPy array sharing its memory: CuPy arrays pass through; torch tensors (bfloat16 via a
    uint16 view re-typed as ``ml_dtypes.bfloat16``; float8 as uint8 codes) and other objects through
    ``__cuda_array_interface__`` or DLPack. NumPy arrays are rejected: they live in host memory."""
    import cupy

    if isinstance(x, cupy.ndarray):
        return x
    if isinstance(x, np.ndarray):
        raise TypeError(f"{name}: expected a CuPy array or CUDA tensor, got a NumPy array (host memory); "
                        f"copy it to the device with cupy.asarray({name})")
    if _is_torch(x):
        import torch

        if not x.is_cuda:
            raise TypeError(f"{name}: expected a CUDA tensor, got a tensor on {x.device}")
        if x.dtype == torch.bfloat16:
            import ml_dtypes

            return cupy.from_dlpack(x.view(torch.int16)).view(np.dtype(ml_dtypes.bfloat16))
        if x.dtype in tuple(getattr(torch, n) for n in _TORCH_FP8.values() if hasattr(torch, n)):
            return cupy.from_dlpack(x.view(torch.uint8))
        return cupy.from_dlpack(x)
    if hasattr(x, "__cuda_array_interface__"):
        return cupy.asarray(x)
    if hasattr(x, "__dlpack__"):
        return cupy.from_dlpack(x)
    raise TypeError(f"{name}: expected a CuPy array or an object with __cuda_array_interface__ / __dlpack__, "
                    f"got {type(x).__name__}")


def to_torch(a):
    """A torch tensor sharing the memory of CuPy array ``a`` (bfloat16 through an int16 view)."""
    import torch

    if a.dtype.name == "bfloat16":
        return torch.from_dlpack(a.view(np.int16)).view(torch.bfloat16)
    return torch.from_dlpack(a)


def to_torch_fp8(codes, fmt: str = "e4m3fn"):
    """View uint8 FP8 ``codes`` (CuPy) as a torch float8 tensor of format ``fmt`` (no copy)."""
    import torch

    if codes.dtype != np.uint8:
        raise TypeError(f"codes: expected uint8 FP8 codes, got dtype {codes.dtype}")
    if fmt not in _TORCH_FP8:
        raise ValueError(f"fmt: expected one of {sorted(_TORCH_FP8)}, got {fmt!r}")
    return torch.from_dlpack(codes).view(getattr(torch, _TORCH_FP8[fmt]))


def to_ml_dtypes(codes, fmt: str = "e4m3fn") -> np.ndarray:
    """View uint8 FP8 ``codes`` (a NumPy array, host memory) as the ml_dtypes float8 type of ``fmt``, no copy.

    Every code keeps its bit pattern, NaN codes included; arithmetic and ``astype`` then follow ml_dtypes.
    Device arrays: copy to the host first (``cupy.asnumpy(codes)``, ``tensor.view(torch.uint8).cpu().numpy()``).

    >>> import numpy as np
    >>> v = to_ml_dtypes(np.array([0x38, 0x7E, 0xFF], np.uint8), "e4m3fn")
    >>> v.dtype.name, v.astype(np.float32).tolist()
    ('float8_e4m3fn', [1.0, 448.0, nan])
    """
    if not isinstance(codes, np.ndarray):
        raise TypeError(f"codes: expected a NumPy uint8 array (host memory), got {type(codes).__name__}; "
                        f"copy device arrays to the host first")
    if codes.dtype != np.uint8:
        raise TypeError(f"codes: expected uint8 FP8 codes, got dtype {codes.dtype}")
    if fmt not in _ML_DTYPES_FP8:
        raise ValueError(f"fmt: expected one of {sorted(_ML_DTYPES_FP8)}, got {fmt!r}")
    import ml_dtypes

    return codes.view(getattr(ml_dtypes, _ML_DTYPES_FP8[fmt]))


def from_ml_dtypes(x: np.ndarray) -> tuple[np.ndarray, str]:
    """``(codes, fmt)``: an ml_dtypes float8 array viewed as its uint8 codes (no copy) and its format name,
    the inverse of ``to_ml_dtypes``.

    >>> import ml_dtypes, numpy as np
    >>> codes, fmt = from_ml_dtypes(np.array([1.0, -2.0], ml_dtypes.float8_e5m2))
    >>> [hex(c) for c in codes], fmt
    (['0x3c', '0xc0'], 'e5m2')
    """
    import ml_dtypes

    names = {np.dtype(getattr(ml_dtypes, t)): f for f, t in _ML_DTYPES_FP8.items()}
    dt = getattr(x, "dtype", None)
    if not isinstance(x, np.ndarray) or dt not in names:
        raise TypeError(f"x: expected a NumPy array of an ml_dtypes float8 type ({', '.join(_ML_DTYPES_FP8.values())}), "
                        f"got {type(x).__name__} of dtype {dt}")
    return x.view(np.uint8), names[dt]

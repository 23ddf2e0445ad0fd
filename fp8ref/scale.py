"""Scaling and quantization: row-wise, tensor-wise and block-wise, with FBGEMM's conventions.

Every quantizer returns ``(xq, scale)`` where ``scale`` is the *dequantization* scale (float32):
``x ~= decode(xq) * scale``. One rule gives every scale, from the amax of its group of elements:

1. ``amax = max |x|`` over the group, NaN ignored (0 for a group with no non-NaN element);
2. with an upper bound: ``amax = min(amax, float32(scale_ub))``;
3. ``s = max(amax / MAX, 1 / (MAX * 512))``, float32 IEEE divisions (MAX = the format's max);
4. ``xq = encode(float32(x) / s, saturate=True)``, one float32 IEEE division per element, then
   round-to-nearest-even or, with ``stochastic_rounding=True``, stochastic rounding whose random word
   for the element of row-major linear index ``i`` is ``random_bits(seed, x.size)[i]``.

Consequences pinned by the tests: an all-zero group gets the floor scale and +0 codes; a group holding
+-inf without ``scale_ub`` gets ``s = inf``, so its finite elements become +-0 and its infinities NaN
(inf / inf); with ``scale_ub`` its infinities saturate to +-MAX. NaN elements (and inf / inf) encode
as the *positive* NaN code: IEEE 754 leaves the sign of a NaN made by the division unspecified, so it
is pinned (see ``_round_scaled``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import ml_dtypes
import numpy as np

from .formats import Format, decode, encode, encode_stochastic, get_format
from .stochastic import random_bits

__all__ = [
    "scale_floor", "compute_scale",
    "quantize_fp8_per_row", "quantize_fp8_per_tensor", "quantize_fp8_per_block",
    "dequantize_fp8_per_row", "dequantize_fp8_per_tensor", "dequantize_fp8_per_block",
]

_FLOAT_INPUTS = (np.dtype(np.float32), np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16))
OUTPUT_DTYPES = (np.dtype(np.float32), np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16))


def scale_floor(fmt: Format | str = "e4m3fn") -> np.float32:
    """The smallest scale, ``float32(1) / float32(MAX * 512)`` (MAX * 512 is exact in float32).

    >>> float(scale_floor("e4m3fn")) == float(np.float32(1) / np.float32(229376))
    True
    """
    fmt = get_format(fmt)
    return np.float32(1) / np.float32(fmt.max * 512)


def compute_scale(amax, scale_ub=None, fmt: Format | str = "e4m3fn") -> np.ndarray:
    """Steps 2-3 of the scale rule: float32 ``max(min(amax, scale_ub) / MAX, floor)``.

    >>> compute_scale(np.float32([0.0, 448.0, np.inf]), None).tolist()[1:]
    [1.0, inf]
    >>> compute_scale(np.float32([np.inf]), 896.0).tolist()
    [2.0]
    """
    fmt = get_format(fmt)
    amax = np.asarray(amax, dtype=np.float32)
    if scale_ub is not None:
        amax = np.minimum(amax, np.float32(scale_ub))
    with np.errstate(over="ignore"):
        return np.maximum(amax / np.float32(fmt.max), scale_floor(fmt))


def _check_input(x, name: str = "x", min_rank: int = 2) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        if hasattr(x, "__cuda_array_interface__") or type(x).__module__.startswith("cupy"):
            raise TypeError(f"{name}: fp8ref works on NumPy arrays; got a device array (use fp8cuda or .get())")
        x = np.asarray(x)
    if x.dtype not in _FLOAT_INPUTS:
        raise TypeError(f"{name}: expected float32, float16 or bfloat16, got dtype {x.dtype}")
    if x.ndim < min_rank:
        raise ValueError(f"{name}: expected rank >= {min_rank}, got shape {x.shape}")
    return x


def _check_scale_ub(scale_ub):
    if scale_ub is None:
        return None
    ub = np.float32(np.asarray(scale_ub, dtype=np.float64).reshape(()))
    if not ub > 0:  # also rejects NaN
        raise ValueError(f"scale_ub: expected a positive float (or None), got {scale_ub!r}")
    return ub


def _amax(x32: np.ndarray, axis) -> np.ndarray:
    """max |x| over ``axis`` with NaN ignored; 0 for empty or all-NaN groups."""
    return np.max(np.where(np.isnan(x32), np.float32(0), np.abs(x32)), axis=axis, initial=np.float32(0))


def _round_scaled(x32: np.ndarray, s_full: np.ndarray, fmt: Format, stochastic_rounding: bool, seed: int):
    """Step 4: divide by the (broadcast) scale in float32 and encode, saturating."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        q = x32 / s_full
    # IEEE 754 leaves the sign of a NaN produced by an operation unspecified (x86 makes inf/inf negative,
    # NVIDIA GPUs return the canonical +NaN). Pinned: every NaN quotient is +NaN, so NaN elements
    # quantize to the positive NaN code whatever their sign.
    q = np.where(np.isnan(q), np.float32(np.nan), q)
    if stochastic_rounding:
        return encode_stochastic(q, fmt, random_bits(seed, q.size).reshape(q.shape), saturate=True)
    return encode(q, fmt, saturate=True)


def quantize_fp8_per_row(x, scale_ub=None, num_tokens=None, *, fmt: Format | str = "e4m3fn",
                         stochastic_rounding: bool = False, seed: int = 0):
    """Row-wise quantization. ``x``: [..., K] float32/float16/bfloat16, rank >= 2.

    Returns ``(xq, x_scale)``: ``xq`` uint8 codes of ``x.shape``, ``x_scale`` float32 ``x.shape[:-1]``,
    one scale per row by the module's rule. ``num_tokens`` (int): rows of the flattened ``[R, K]`` view
    at or beyond it are not read; they get codes 0x00 and the floor scale.

    >>> x = np.array([[1.0, -2.0, 448.0], [0.0, 0.0, 0.0], [np.inf, 1.0, np.nan]], np.float32)
    >>> xq, s = quantize_fp8_per_row(x)
    >>> [hex(c) for c in xq[0]], s.tolist()[0]
    (['0x38', '0xc0', '0x7e'], 1.0)
    >>> [hex(c) for c in xq[2]], bool(np.isinf(s[2]))
    (['0x7f', '0x0', '0x7f'], True)
    >>> [hex(c) for c in quantize_fp8_per_row(x, scale_ub=448.0)[0][2]]
    ['0x7e', '0x38', '0x7f']
    """
    fmt = get_format(fmt)
    x = _check_input(x)
    ub = _check_scale_ub(scale_ub)
    rows = int(np.prod(x.shape[:-1]))
    if num_tokens is None:
        n_valid = rows
    else:
        n_valid = int(np.asarray(num_tokens).reshape(()))
        if n_valid < 0:
            raise ValueError(f"num_tokens: expected >= 0, got {n_valid}")
        n_valid = min(n_valid, rows)
    x32 = x.astype(np.float32).reshape(rows, x.shape[-1])
    s = np.full(rows, scale_floor(fmt), np.float32)
    s[:n_valid] = compute_scale(_amax(x32[:n_valid], axis=-1), ub, fmt)
    xq = np.zeros(x32.shape, np.uint8)
    s_full = np.broadcast_to(s[:n_valid, None], (n_valid, x32.shape[1]))
    # The valid rows are a prefix, so their random words are the prefix random_bits(seed, n_valid * K).
    xq[:n_valid] = _round_scaled(x32[:n_valid], s_full, fmt, stochastic_rounding, seed)
    return xq.reshape(x.shape), s.reshape(x.shape[:-1])


def quantize_fp8_per_tensor(x, scale_ub=None, *, fmt: Format | str = "e4m3fn",
                            stochastic_rounding: bool = False, seed: int = 0):
    """Tensor-wise quantization: one scale (float32, shape ``()``) from the amax of the whole tensor.

    >>> xq, s = quantize_fp8_per_tensor(np.array([[1.0, 2.0], [-896.0, 0.5]], np.float32))
    >>> float(s), [hex(c) for c in xq.ravel()]
    (2.0, ['0x30', '0x38', '0xfe', '0x28'])
    """
    fmt = get_format(fmt)
    x = _check_input(x, min_rank=1)
    x32 = x.astype(np.float32)
    s = compute_scale(_amax(x32, axis=None), _check_scale_ub(scale_ub), fmt)
    return _round_scaled(x32, s, fmt, stochastic_rounding, seed), np.float32(s).reshape(())


def _block_view(shape: Sequence[int], block_shape) -> tuple[int, int, int, int]:
    bm, bk = (int(b) for b in block_shape)
    if bm < 1 or bk < 1:
        raise ValueError(f"block_shape: expected two positive ints, got {tuple(block_shape)}")
    m, k = shape[-2], shape[-1]
    return bm, bk, math.ceil(m / bm), math.ceil(k / bk)


def _expand_blocks(s: np.ndarray, shape, bm: int, bk: int) -> np.ndarray:
    """Broadcast a [..., Mb, Kb] block scale to the element shape [..., M, K]."""
    return np.repeat(np.repeat(s, bm, axis=-2), bk, axis=-1)[..., : shape[-2], : shape[-1]]


def quantize_fp8_per_block(x, block_shape=(128, 128), scale_ub=None, *, fmt: Format | str = "e4m3fn",
                           stochastic_rounding: bool = False, seed: int = 0):
    """Block-wise quantization over the last two dims ``[M, K]`` in ``block_shape = (bm, bk)`` blocks.

    Returns ``(xq, scale)`` with ``scale`` float32 of shape ``x.shape[:-2] + (ceil(M/bm), ceil(K/bk))``;
    edge blocks take the amax of their valid elements. ``(128, 128)`` is the weight layout of block-wise
    GEMMs, ``(1, 128)`` the activations' 1x128 groups.

    >>> x = np.arange(12, dtype=np.float32).reshape(2, 6)
    >>> s = quantize_fp8_per_block(x, (1, 4))[1]  # amax: 3 | 5 ; 9 | 11
    >>> bool((s == np.float32([[3, 5], [9, 11]]) / np.float32(448)).all())
    True
    """
    fmt = get_format(fmt)
    x = _check_input(x)
    bm, bk, mb, kb = _block_view(x.shape, block_shape)
    x32 = x.astype(np.float32)
    pad = [(0, 0)] * (x.ndim - 2) + [(0, mb * bm - x.shape[-2]), (0, kb * bk - x.shape[-1])]
    a = np.abs(np.where(np.isnan(x32), np.float32(0), x32))
    a = np.pad(a, pad).reshape(x.shape[:-2] + (mb, bm, kb, bk))
    s = compute_scale(np.max(a, axis=(-3, -1), initial=np.float32(0)), _check_scale_ub(scale_ub), fmt)
    xq = _round_scaled(x32, _expand_blocks(s, x.shape, bm, bk), fmt, stochastic_rounding, seed)
    return xq, s


def _check_output_dtype(output_dtype) -> np.dtype:
    dt = np.dtype(output_dtype)
    if dt not in OUTPUT_DTYPES:
        raise TypeError(f"output_dtype: expected float32, float16 or bfloat16, got {dt}")
    return dt


def _dequantize(xq, s_full, fmt, output_dtype):
    """float32 product decode(xq) * scale, then one round-to-nearest-even to the output dtype."""
    with np.errstate(invalid="ignore", over="ignore"):
        y = decode(xq, fmt, np.float32) * s_full
    return y.astype(_check_output_dtype(output_dtype))


def dequantize_fp8_per_row(xq, x_scale, *, fmt: Format | str = "e4m3fn", output_dtype=np.float32):
    """``decode(xq) * x_scale[..., None]`` in float32, rounded once to ``output_dtype``.

    >>> dequantize_fp8_per_row(np.array([[0x38, 0xC0]], np.uint8), np.float32([0.5])).tolist()
    [[0.5, -1.0]]
    """
    x_scale = np.asarray(x_scale, dtype=np.float32)
    if x_scale.shape != np.shape(xq)[:-1]:
        raise ValueError(f"x_scale: expected shape {np.shape(xq)[:-1]}, got {x_scale.shape}")
    return _dequantize(xq, x_scale[..., None], get_format(fmt), output_dtype)


def dequantize_fp8_per_tensor(xq, scale, *, fmt: Format | str = "e4m3fn", output_dtype=np.float32):
    """``decode(xq) * scale`` in float32 (scale a float32 scalar), rounded once to ``output_dtype``."""
    scale = np.asarray(scale, dtype=np.float32)
    if scale.size != 1:
        raise ValueError(f"scale: expected a single value, got shape {scale.shape}")
    return _dequantize(xq, scale.reshape(()), get_format(fmt), output_dtype)


def dequantize_fp8_per_block(xq, scale, block_shape=(128, 128), *, fmt: Format | str = "e4m3fn",
                             output_dtype=np.float32):
    """Inverse of ``quantize_fp8_per_block``: each element times its block's scale, in float32."""
    xq = np.asarray(xq)
    bm, bk, mb, kb = _block_view(xq.shape, block_shape)
    scale = np.asarray(scale, dtype=np.float32)
    if scale.shape != xq.shape[:-2] + (mb, kb):
        raise ValueError(f"scale: expected shape {xq.shape[:-2] + (mb, kb)}, got {scale.shape}")
    return _dequantize(xq, _expand_blocks(scale, xq.shape, bm, bk), get_format(fmt), output_dtype)

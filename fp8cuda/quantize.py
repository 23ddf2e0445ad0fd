"""FP8 quantizers, dequantizers and casts on the GPU, bit-exact with fp8ref (docs/spec.md S1-S6).

Inputs are CuPy arrays (torch tensors and other CUDA arrays are accepted through fp8cuda.interop) of
float32, float16 or bfloat16 (``ml_dtypes.bfloat16``), C-contiguous, on the current device; FP8 results
are uint8 codes. Every function follows three steps: check the arguments (raising TypeError/ValueError
that names the argument, before anything is launched or written), allocate the outputs, launch on the
current CuPy stream. Nothing synchronises with the host: ``scale_ub`` and ``num_tokens`` may be device
scalars, so the calls can be captured in a CUDA graph.

Quantizers support e4m3fn (the format the kernels hard-wire); casts support e4m3fn and e5m2.
"""

from __future__ import annotations

import math
import operator

import ml_dtypes
import numpy as np

from . import _loader
from .interop import as_cupy

__all__ = [
    "quantize_fp8_per_row", "quantize_fp8_per_tensor", "quantize_fp8_per_block",
    "dequantize_fp8_per_row", "dequantize_fp8_per_tensor", "dequantize_fp8_per_block",
    "cast_to_fp8", "cast_from_fp8",
]

_BF16 = np.dtype(ml_dtypes.bfloat16)
_CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float16): "fp8cuda::f16", _BF16: "fp8cuda::bf16"}
_FMT_CTYPES = {"e4m3fn": "fp8cuda::E4M3FN", "e5m2": "fp8cuda::E5M2"}
E4M3FN_MAX = 448.0  # (1 + 0b110/8) * 2**(15 - 7)
# Step 3's floor, computed as fp8ref does: float32(1) / float32(MAX * 512)
SCALE_FLOOR = np.float32(1) / np.float32(E4M3FN_MAX * 512)
_MAX_GRID = 2**31 - 1
# (threads, 16-byte vectors per thread) of quantize_row_regs, smallest first; rows longer than the last
# one's capacity, or unaligned, go to quantize_row_scalar. Measured on H200 (docs/notes-quantize.md):
# - many rows (rows >= DEEP_MIN_ROWS_PER_SM * SMs): four vectors per thread (ROW_CONFIGS_DEEP), more loads in
#   flight per thread and fewer blocks: 16384 x 8192 bf16 in 95.4 us with 256 x 4 against 103.9 us with 512 x 2;
# - fewer rows: two vectors per thread (ROW_CONFIGS_WIDE) and <= 32 registers (a full SM of threads): equal
#   since the division got cheaper (128 x 8192: 3.05 us with 512 x 2 and with 256 x 4).
ROW_CONFIGS_WIDE = ((32, 1), (64, 2), (128, 2), (256, 2), (512, 2), (1024, 2), (1024, 4), (1024, 8))
ROW_CONFIGS_DEEP = ((32, 4), (64, 4), (128, 4), (256, 4), (512, 4), (1024, 4), (1024, 8))
DEEP_MIN_ROWS_PER_SM = 4
ROW_SCALAR_THREADS = 256
# Many rows (rows >= PIPE_MIN_ROWS_PER_SM * SMs): quantize_row_pipe, persistent blocks that keep the next
# rows' loads in flight through shared-memory stages while they reduce and encode the current one, where
# PIPE_STAGES says so: {bytes per row (threads * vectors * 16): stages}, 0 or absent meaning the register
# kernel. (threads, vectors) as for the register kernel; (1024, 7) fits two stages of a 53248-element bf16
# row (2 * 112 KiB) in one SM. PIPE_STAGES is written by `python -m fp8cuda.bench quantize --tune` (the
# fastest of the register kernel and 2-8 stages on the benchmark's shapes). On H200 (2026-11-22) the register
# kernel won at every size, by 2-15% (16384 x 8192: 95.8 us against 112.0 us at best), so no row uses it.
PIPE_CONFIGS = ((32, 4), (64, 4), (128, 4), (256, 4), (512, 4), (1024, 4), (1024, 7))
PIPE_STAGES = {8192: 0, 16384: 0, 32768: 0, 114688: 0}
PIPE_MIN_ROWS_PER_SM = 16  # fewer rows: too few per block to pipeline (1024 x 8192: 2.6 per block); register kernel
PIPE_GRID_LIMIT = None  # tests set a small cap, so that each block loops over many rows
# Thread block clusters for few rows (quantize_row_cluster) only up to this many rows: 0, since one block per
# row measured faster on H200 (2026-11-22: 1 x 8192 in 2.65 us against 4.45 us, 16 x 8192 2.67 against 3.15).
CLUSTER_MAX_ROWS = 0
# Few rows (rows * CLUSTER <= multiprocessors) of 32 * CLUSTER .. 2048 * CLUSTER vectors: one thread block
# cluster of CLUSTER CTAs per row (quantize_row_cluster), so the row's latency-bound work spreads over
# CLUSTER SMs. Per CTA: (threads, 1) with threads = the next power of two >= vectors / CLUSTER, or (1024, 2).
CLUSTER = 8
CLUSTER_CONFIGS = tuple((t, 1) for t in (32, 64, 128, 256, 512, 1024)) + ((1024, 2),)


# ------------------------------------------------------------------------------------------ argument checks

def _device_array(x, name: str, dtypes=None, min_rank: int = 0):
    import cupy

    x = as_cupy(x, name)
    if dtypes is not None and x.dtype not in dtypes:
        raise TypeError(f"{name}: expected dtype {' or '.join(str(d) for d in dtypes)}, got {x.dtype}")
    if x.ndim < min_rank:
        raise ValueError(f"{name}: expected rank >= {min_rank}, got shape {x.shape}")
    if x.size and not x.flags.c_contiguous:
        raise ValueError(f"{name}: expected a C-contiguous array (last dimension contiguous, rows packed), got "
                         f"strides {x.strides} for shape {x.shape}; use cupy.ascontiguousarray({name})")
    if x.size and x.data.ptr % x.dtype.itemsize:
        raise ValueError(f"{name}: data pointer {x.data.ptr:#x} is not aligned to its {x.dtype.itemsize}-byte elements")
    if x.device.id != cupy.cuda.Device().id:
        raise ValueError(f"{name}: array is on device {x.device.id}, the current device is {cupy.cuda.Device().id}")
    return x


def _out_array(buf, name: str, shape, dtype):
    """Check a caller-provided output buffer (or allocate one); it is written only after every check passed."""
    import cupy

    if buf is None:
        return cupy.empty(shape, dtype)
    buf = _device_array(buf, name, (np.dtype(dtype),))
    if buf.shape != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {buf.shape}")
    return buf


def _check_fmt(fmt, allowed) -> str:
    name = getattr(fmt, "name", fmt)
    if not isinstance(name, str) or name.lower() not in allowed:
        raise ValueError(f"fmt: expected one of {list(allowed)}, got {fmt!r}")
    return name.lower()


def _int(v, name: str) -> int:
    try:
        if isinstance(v, bool):
            raise TypeError
        return operator.index(v)
    except TypeError:
        raise TypeError(f"{name}: expected an int, got {type(v).__name__}") from None


class _Dummies:
    """One tiny device array per kind, passed where a pointer argument is unused (never dereferenced)."""

    _cache: dict = {}

    @classmethod
    def get(cls, dtype):
        import cupy

        key = (cupy.cuda.Device().id, np.dtype(dtype))
        if key not in cls._cache:
            cls._cache[key] = cupy.zeros(1, dtype)
        return cls._cache[key]


def _scale_params(scale_ub, num_tokens, rows: int, seed):
    """The kernels' FP8CUDA_SCALE_PARAMS tuple: (ub_ptr, ub_value, ub_mode, nt_ptr, nt_value, nt_mode,
    fmt_max, scale_floor, seed)."""
    import cupy

    ub_ptr, ub_value, ub_mode = _Dummies.get(np.float32), np.float32(0), 0
    if scale_ub is not None:
        if isinstance(scale_ub, cupy.ndarray) or hasattr(scale_ub, "__cuda_array_interface__") or hasattr(scale_ub, "data_ptr"):
            ub = as_cupy(scale_ub, "scale_ub")
            if ub.size != 1 or ub.dtype.kind != "f":
                raise ValueError(f"scale_ub: expected a float scalar (host, or a 1-element device array), got "
                                 f"dtype {ub.dtype} shape {ub.shape}")
            ub_ptr, ub_mode = ub.reshape(1).astype(np.float32, copy=False), 2
        else:
            if isinstance(scale_ub, np.ndarray) and scale_ub.size != 1:
                raise ValueError(f"scale_ub: expected a scalar, got shape {scale_ub.shape}")
            try:
                ub_value = np.float32(scale_ub)
            except (TypeError, ValueError):
                raise TypeError(f"scale_ub: expected a float or a device scalar, got {type(scale_ub).__name__}") from None
            if not ub_value > 0:  # fp8ref rejects NaN and non-positive bounds too
                raise ValueError(f"scale_ub: expected a positive float (or None), got {scale_ub!r}")
            ub_mode = 1
    nt_ptr, nt_value, nt_mode = _Dummies.get(np.int64), np.int64(rows), 0
    if num_tokens is not None:
        if isinstance(num_tokens, cupy.ndarray) or hasattr(num_tokens, "__cuda_array_interface__") or hasattr(num_tokens, "data_ptr"):
            nt = as_cupy(num_tokens, "num_tokens")
            if nt.size != 1 or nt.dtype.kind not in "iu":
                raise ValueError(f"num_tokens: expected an integer scalar (host, or a 1-element device array), got "
                                 f"dtype {nt.dtype} shape {nt.shape}")
            nt_ptr, nt_mode = nt.reshape(1).astype(np.int64, copy=False), 1
        else:
            nt_value = np.int64(_int(num_tokens, "num_tokens"))
            if nt_value < 0:
                raise ValueError(f"num_tokens: expected >= 0, got {int(nt_value)}")
    seed = _int(seed, "seed")
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed: expected 0 <= seed < 2**64, got {seed}")
    return (ub_ptr, ub_value, np.int32(ub_mode), nt_ptr, nt_value, np.int32(nt_mode),
            np.float32(E4M3FN_MAX), SCALE_FLOOR, np.uint64(seed))


_SM_COUNTS: dict = {}


def _sm_count() -> int:
    import cupy

    dev = cupy.cuda.Device().id
    if dev not in _SM_COUNTS:
        _SM_COUNTS[dev] = cupy.cuda.Device().attributes["MultiProcessorCount"]
    return _SM_COUNTS[dev]


def _grid_1d(work: int, per_block: int = 256) -> int:
    return max(1, min(-(-work // per_block), _sm_count() * 16))


def _kernel(file: str, expr: str):
    return _loader.get_kernel(file, expr)


# -------------------------------------------------------------------------------- kernel instance choice

def _cluster_config(nvec: int):
    """(threads, vectors) per CTA of quantize_row_cluster for a row of nvec 16-byte vectors."""
    per_cta = -(-nvec // CLUSTER)
    threads = min(1024, max(32, 1 << (per_cta - 1).bit_length()))
    return threads, (1 if threads >= per_cta else 2)


def pipe_stages(threads: int, vecs: int) -> int:
    """Shared-memory stages of quantize_row_pipe for rows of threads * vecs 16-byte vectors (0: use the
    register kernel)."""
    return PIPE_STAGES.get(threads * vecs * 16, 0)


def default_pipe_stages(threads: int, vecs: int) -> int:
    """Stages that fit with room for several blocks per SM: 4 up to 16 KiB rows, 3 up to 32 KiB, else 2
    (tests force quantize_row_pipe with these)."""
    row_bytes = threads * vecs * 16
    return 4 if row_bytes <= 16384 else 3 if row_bytes <= 32768 else 2


def pipe_expression(ctype: str, threads: int, vecs: int, stochastic: bool, stages: int | None = None) -> tuple[str, int]:
    """(name expression, dynamic shared memory bytes) of one quantize_row_pipe instance."""
    stages = stages or pipe_stages(threads, vecs)
    sr = "true" if stochastic else "false"
    return f"fp8cuda::quantize_row_pipe<{ctype}, {threads}, {vecs}, {stages}, {sr}>", stages * threads * vecs * 16


def row_kernel_expression(dtype, K: int, x_ptr: int, xq_ptr: int, stochastic: bool, rows: int = 1 << 30,
                          sm_count: int = 0) -> tuple[str, int, int, int]:
    """(name expression, threads per CTA, CTAs per row, dynamic shared memory bytes) of the per-row kernel
    for ``rows`` rows of K elements at these addresses, on a GPU with ``sm_count`` multiprocessors.
    Dynamic shared memory > 0 means the persistent quantize_row_pipe (grid: see _pipe_grid)."""
    ctype, itemsize = _CTYPES[np.dtype(dtype)], np.dtype(dtype).itemsize
    kE = 16 // itemsize
    sr = "true" if stochastic else "false"
    if K % kE == 0 and x_ptr % 16 == 0 and xq_ptr % kE == 0:
        nvec = K // kE
        if rows <= CLUSTER_MAX_ROWS and rows * CLUSTER <= sm_count and CLUSTER * 32 <= nvec <= CLUSTER * 2048:
            threads, vecs = _cluster_config(nvec)
            return f"fp8cuda::quantize_row_cluster<{ctype}, {threads}, {vecs}, {CLUSTER}, {sr}>", threads, CLUSTER, 0
        if rows >= PIPE_MIN_ROWS_PER_SM * sm_count:
            threads, vecs = next(((t, v) for t, v in PIPE_CONFIGS if t * v * kE >= K), (0, 0))
            if threads and pipe_stages(threads, vecs):
                expr, smem = pipe_expression(ctype, threads, vecs, stochastic)
                return expr, threads, 1, smem
        configs = ROW_CONFIGS_DEEP if rows >= DEEP_MIN_ROWS_PER_SM * sm_count else ROW_CONFIGS_WIDE
        for threads, vecs in configs:
            if threads * vecs * kE >= K:
                return f"fp8cuda::quantize_row_regs<{ctype}, {threads}, {vecs}, {sr}>", threads, 1, 0
    return f"fp8cuda::quantize_row_scalar<{ctype}, {ROW_SCALAR_THREADS}, {sr}>", ROW_SCALAR_THREADS, 1, 0


_PIPE_BLOCKS: dict = {}


def _pipe_grid(kern, expr: str, threads: int, smem: int, rows: int) -> int:
    """Grid of a quantize_row_pipe launch: as many blocks as fit on the GPU at once (registers, threads,
    shared memory), at most one per row. Raises the kernel's dynamic shared memory limit once."""
    import cupy

    dev = cupy.cuda.Device()
    key = (dev.id, expr)
    if key not in _PIPE_BLOCKS:
        kern.max_dynamic_shared_size_bytes = smem  # above 48 KiB (static included) only after this
        regs = -(-max(kern.num_regs, 1) // 8) * 8
        by_regs = 65536 // (regs * 32 * -(-threads // 32))
        by_smem = dev.attributes["MaxSharedMemoryPerMultiprocessor"] // (smem + kern.shared_size_bytes + 1024)
        _PIPE_BLOCKS[key] = max(1, min(by_regs, 2048 // threads, by_smem, 32))
    grid = min(rows, _PIPE_BLOCKS[key] * _sm_count())
    return min(grid, PIPE_GRID_LIMIT) if PIPE_GRID_LIMIT else grid


def all_kernel_expressions() -> dict[str, list[str]]:
    """Every kernel instance this module can launch, by kernel file (the offline SASS tests compile them all)."""
    q, c = [], []
    for ctype in _CTYPES.values():
        for sr in ("false", "true"):
            q += [f"fp8cuda::quantize_row_regs<{ctype}, {t}, {v}, {sr}>"
                  for t, v in dict.fromkeys(ROW_CONFIGS_WIDE + ROW_CONFIGS_DEEP)]
            q += [f"fp8cuda::quantize_row_cluster<{ctype}, {t}, {v}, {CLUSTER}, {sr}>" for t, v in CLUSTER_CONFIGS]
            q += [pipe_expression(ctype, t, v, sr == "true", st)[0] for t, v in PIPE_CONFIGS
                  for st in sorted({default_pipe_stages(t, v)} | ({pipe_stages(t, v)} - {0}))]
            q.append(f"fp8cuda::quantize_row_scalar<{ctype}, {ROW_SCALAR_THREADS}, {sr}>")
            q += [f"fp8cuda::quantize_tensor<{ctype}, {vec}, {sr}>" for vec in ("true", "false")]
            q.append(f"fp8cuda::quantize_block<{ctype}, {sr}>")
        q += [f"fp8cuda::amax_tensor<{ctype}, {vec}>" for vec in ("true", "false")]
        for fmt in _FMT_CTYPES.values():
            c += [f"fp8cuda::cast_to_fp8<{ctype}, {fmt}, true, true>", f"fp8cuda::cast_to_fp8<{ctype}, {fmt}, false, false>",
                  f"fp8cuda::cast_from_fp8<{ctype}, {fmt}>", f"fp8cuda::dequantize_rows<{ctype}, {fmt}>",
                  f"fp8cuda::dequantize_block<{ctype}, {fmt}>"]
    return {"quantize.cu": q, "cast.cu": c}


# ------------------------------------------------------------------------------------------------ quantize

def quantize_fp8_per_row(x, scale_ub=None, num_tokens=None, *, fmt="e4m3fn", stochastic_rounding=False, seed=0,
                         out=None, scale_out=None):
    """Row-wise FP8 quantization: ``x`` [..., K] float32/float16/bfloat16 (rank >= 2) ->
    ``(xq uint8 x.shape, x_scale float32 x.shape[:-1])``, exactly fp8ref.scale.quantize_fp8_per_row.

    Per row: amax = max |x| (NaN ignored), optionally min(amax, scale_ub), s = max(amax / 448, floor),
    xq = satfinite RNE (or stochastic, Philox4x32-10 with ``seed`` and the element's linear index) encode of
    x / s with IEEE float32 division. Rows r >= ``num_tokens`` are not read: codes 0, scale = floor.
    ``scale_ub``: host float or 1-element device array; ``num_tokens``: host int or 1-element device array.
    """
    _check_fmt(fmt, ("e4m3fn",))
    x = _device_array(x, "x", tuple(_CTYPES), min_rank=2)
    K = x.shape[-1]
    R = math.prod(x.shape[:-1])
    if R > _MAX_GRID:
        raise ValueError(f"x: at most {_MAX_GRID} rows are supported, got {R}")
    params = _scale_params(scale_ub, num_tokens, R, seed)
    xq = _out_array(out, "out", x.shape, np.uint8)
    scale = _out_array(scale_out, "scale_out", x.shape[:-1], np.float32)
    if R == 0:
        return xq, scale
    if K == 0:  # an empty row has amax 0: s = floor
        scale.fill(SCALE_FLOOR)
        return xq, scale
    expr, threads, ctas, smem = row_kernel_expression(x.dtype, K, x.data.ptr, xq.data.ptr, stochastic_rounding, R, _sm_count())
    kern = _kernel("quantize.cu", expr)
    if smem:
        grid = _pipe_grid(kern, expr, threads, smem, R)
        kern((grid,), (threads,), (x, xq, scale, np.int64(K), np.int64(R), *params), shared_mem=smem)
    else:
        kern((R * ctas,), (threads,), (x, xq, scale, np.int64(K), *params))
    return xq, scale


def quantize_fp8_per_tensor(x, scale_ub=None, *, fmt="e4m3fn", stochastic_rounding=False, seed=0, out=None,
                            scale_out=None):
    """Tensor-wise FP8 quantization: one scale for all of ``x`` (any shape) -> (xq uint8 x.shape, scale
    float32 shape ()). The amax is reduced on the device (atomicMax on float32 bits); no host sync."""
    import cupy

    _check_fmt(fmt, ("e4m3fn",))
    x = _device_array(x, "x", tuple(_CTYPES), min_rank=1)
    params = _scale_params(scale_ub, None, 1, seed)
    xq = _out_array(out, "out", x.shape, np.uint8)
    scale = _out_array(scale_out, "scale_out", (), np.float32)
    n = x.size
    ctype, kE = _CTYPES[x.dtype], 16 // x.dtype.itemsize
    vec = "true" if n and x.data.ptr % 16 == 0 and xq.data.ptr % kE == 0 else "false"
    sr = "true" if stochastic_rounding else "false"
    amax_bits = cupy.zeros(1, np.uint32)
    grid = _grid_1d(n // kE if vec == "true" else n)
    _kernel("quantize.cu", f"fp8cuda::amax_tensor<{ctype}, {vec}>")((grid,), (256,), (x, np.int64(n), amax_bits))
    _kernel("quantize.cu", f"fp8cuda::quantize_tensor<{ctype}, {vec}, {sr}>")(
        (grid,), (256,), (x, xq, np.int64(n), amax_bits, scale, *params))
    return xq, scale


def _block_shape(block_shape):
    try:
        bm, bk = (_int(b, "block_shape") for b in block_shape)
    except (TypeError, ValueError):
        raise TypeError(f"block_shape: expected two positive ints, got {block_shape!r}") from None
    if bm <= 0 or bk <= 0:
        raise ValueError(f"block_shape: expected two positive ints, got {block_shape!r}")
    return bm, bk


def quantize_fp8_per_block(x, block_shape=(128, 128), scale_ub=None, *, fmt="e4m3fn", stochastic_rounding=False,
                           seed=0, out=None, scale_out=None):
    """Block-wise FP8 quantization over the last two dims: ``x`` [..., M, K] -> (xq uint8 x.shape, scale
    float32 x.shape[:-2] + (ceil(M / bm), ceil(K / bk))). Edge blocks use their valid elements."""
    _check_fmt(fmt, ("e4m3fn",))
    x = _device_array(x, "x", tuple(_CTYPES), min_rank=2)
    bm, bk = _block_shape(block_shape)
    M, K = x.shape[-2:]
    nbm, nbk = -(-M // bm), -(-K // bk)
    tiles = math.prod(x.shape[:-2]) * nbm * nbk
    if tiles > _MAX_GRID:
        raise ValueError(f"x: at most {_MAX_GRID} blocks are supported, got {tiles}")
    params = _scale_params(scale_ub, None, 1, seed)
    xq = _out_array(out, "out", x.shape, np.uint8)
    scale = _out_array(scale_out, "scale_out", x.shape[:-2] + (nbm, nbk), np.float32)
    if tiles == 0:
        return xq, scale
    expr = f"fp8cuda::quantize_block<{_CTYPES[x.dtype]}, {'true' if stochastic_rounding else 'false'}>"
    _kernel("quantize.cu", expr)((tiles,), (256,), (x, xq, scale, np.int64(M), np.int64(K), np.int64(bm), np.int64(bk), *params))
    return xq, scale


# ---------------------------------------------------------------------------------------------- dequantize

def _output_dtype(output_dtype):
    try:
        dt = np.dtype(output_dtype)
    except TypeError:
        dt = None
    if dt not in _CTYPES:
        raise TypeError(f"output_dtype: expected float32, float16 or bfloat16, got {output_dtype!r}")
    return dt


def _dequantize(xq, scale, scale_shape, K, fmt, output_dtype, out, block=None):
    dt = _output_dtype(output_dtype)
    fmt = _check_fmt(fmt, tuple(_FMT_CTYPES))
    if scale.shape != tuple(scale_shape):
        raise ValueError(f"x_scale: expected shape {tuple(scale_shape)}, got {scale.shape}")
    y = _out_array(out, "out", xq.shape, dt)
    n = xq.size
    if n == 0:
        return y
    if block is None:
        expr = f"fp8cuda::dequantize_rows<{_CTYPES[dt]}, {_FMT_CTYPES[fmt]}>"
        args = (xq, scale, y, np.int64(n), np.int64(K))
    else:
        expr = f"fp8cuda::dequantize_block<{_CTYPES[dt]}, {_FMT_CTYPES[fmt]}>"
        args = (xq, scale, y, np.int64(n), np.int64(xq.shape[-2]), np.int64(xq.shape[-1]), np.int64(block[0]), np.int64(block[1]))
    _kernel("cast.cu", expr)((_grid_1d(n),), (256,), args)
    return y


def dequantize_fp8_per_row(xq, x_scale, *, fmt="e4m3fn", output_dtype=np.float32, out=None):
    """y = round_to_output(float32(decode(xq)) * x_scale[..., None]): xq [..., K] uint8, x_scale [...] float32."""
    xq = _device_array(xq, "xq", (np.dtype(np.uint8),), min_rank=2)
    x_scale = _device_array(x_scale, "x_scale", (np.dtype(np.float32),))
    return _dequantize(xq, x_scale, xq.shape[:-1], max(xq.shape[-1], 1), fmt, output_dtype, out)


def dequantize_fp8_per_tensor(xq, scale, *, fmt="e4m3fn", output_dtype=np.float32, out=None):
    """y = round_to_output(float32(decode(xq)) * scale), scale a float32 device scalar (shape ())."""
    xq = _device_array(xq, "xq", (np.dtype(np.uint8),))
    scale = _device_array(scale, "x_scale", (np.dtype(np.float32),))
    return _dequantize(xq, scale.reshape(()) if scale.size == 1 else scale, (), max(xq.size, 1), fmt, output_dtype, out)


def dequantize_fp8_per_block(xq, scale, block_shape=(128, 128), *, fmt="e4m3fn", output_dtype=np.float32, out=None):
    """Inverse of quantize_fp8_per_block: each (bm, bk) block of [..., M, K] times its scale."""
    xq = _device_array(xq, "xq", (np.dtype(np.uint8),), min_rank=2)
    scale = _device_array(scale, "x_scale", (np.dtype(np.float32),))
    bm, bk = _block_shape(block_shape)
    M, K = xq.shape[-2:]
    return _dequantize(xq, scale, xq.shape[:-2] + (-(-M // bm), -(-K // bk)), K, fmt, output_dtype, out, (bm, bk))


# --------------------------------------------------------------------------------------------------- casts

def cast_to_fp8(x, fmt, *, saturate: bool, out=None):
    """FP8 codes of ``x`` (float32/float16/bfloat16, any shape), round to nearest even: fp8ref.formats.encode.
    ``saturate=True``: overflow and +-inf -> +-max (hardware cvt.rn.satfinite); ``saturate=False``: OCP
    non-saturating (inf in e5m2, NaN in e4m3fn; software encoder). NaN keeps its sign."""
    fmt = _check_fmt(fmt, tuple(_FMT_CTYPES))
    if not isinstance(saturate, (bool, np.bool_)):
        raise TypeError(f"saturate: expected a bool, got {type(saturate).__name__}")
    x = _device_array(x, "x", tuple(_CTYPES))
    codes = _out_array(out, "out", x.shape, np.uint8)
    if x.size:
        hw = "true" if saturate else "false"
        expr = f"fp8cuda::cast_to_fp8<{_CTYPES[x.dtype]}, {_FMT_CTYPES[fmt]}, {hw}, {hw}>"
        _kernel("cast.cu", expr)((_grid_1d(x.size),), (256,), (x, codes, np.int64(x.size)))
    return codes


def cast_from_fp8(codes, fmt, dtype=np.float32, *, out=None):
    """Exact values of FP8 ``codes`` (uint8, any shape) as float32/float16/bfloat16: fp8ref.formats.decode."""
    fmt = _check_fmt(fmt, tuple(_FMT_CTYPES))
    dt = _output_dtype(dtype)
    codes = _device_array(codes, "codes", (np.dtype(np.uint8),))
    y = _out_array(out, "out", codes.shape, dt)
    if codes.size:
        expr = f"fp8cuda::cast_from_fp8<{_CTYPES[dt]}, {_FMT_CTYPES[fmt]}>"
        _kernel("cast.cu", expr)((_grid_1d(codes.size),), (256,), (codes, y, np.int64(codes.size)))
    return y

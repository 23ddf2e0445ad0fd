"""Representative launches of every quantize/cast kernel family, for compute-sanitizer (memcheck, racecheck).

    compute-sanitizer --tool memcheck python scripts/sanitize_quantize.py
Shapes cover the register kernel (aligned rows), the level-1 kernel (odd K, unaligned start), stochastic
rounding, device num_tokens / scale_ub, per-tensor (vector body + tail), per-block edge tiles, casts and
dequantization. Prints OK when every launch finished.
"""

import cupy
import ml_dtypes
import numpy as np

import fp8cuda

BF16 = np.dtype(ml_dtypes.bfloat16)
rng = np.random.default_rng(0)


def dev(shape, dtype, offset=0):
    a = rng.standard_normal(shape).astype(np.float32).astype(dtype)
    buf = cupy.empty(a.size + offset, dtype)
    buf[offset:] = cupy.asarray(a.ravel())
    return buf[offset:].reshape(shape)


for dtype in (BF16, np.float16, np.float32):
    for shape, off in (((5, 8192), 0), ((3, 4097), 0), ((4, 64), 1), ((2, 70000), 0)):
        x = dev(shape, dtype, off)
        for sr in (False, True):
            fp8cuda.quantize_fp8_per_row(x, stochastic_rounding=sr, seed=7)
        fp8cuda.quantize_fp8_per_row(x, cupy.asarray([1.0], np.float32), cupy.asarray([2], np.int64))
        fp8cuda.quantize_fp8_per_tensor(x.reshape(-1)[: x.size - 3], stochastic_rounding=True)
        fp8cuda.quantize_fp8_per_tensor(x)
        fp8cuda.cast_to_fp8(x, "e4m3fn", saturate=True)
        fp8cuda.cast_to_fp8(x, "e5m2", saturate=False)
    xb = dev((2, 130, 260), dtype)
    xq, s = fp8cuda.quantize_fp8_per_block(xb, (128, 128))
    fp8cuda.dequantize_fp8_per_block(xq, s, (128, 128), output_dtype=dtype)
    xq, s = fp8cuda.quantize_fp8_per_row(xb)
    fp8cuda.dequantize_fp8_per_row(xq, s, output_dtype=dtype)
    fp8cuda.cast_from_fp8(xq, "e4m3fn", dtype)
cupy.cuda.Device().synchronize()
print("sanitizer target done")

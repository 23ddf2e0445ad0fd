"""fp8cuda: Hopper (sm_90a) CUDA kernels for FP8 quantization and GEMM, loaded through CuPy.

Importing needs no GPU and no CuPy; the functions need both. Kernels live in fp8cuda/kernels/ and are
compiled by fp8cuda._loader (NVRTC). Quantizers match the executable specification fp8ref bit for bit;
the GEMM stays within fp8ref.gemm_error_bound.
"""

from .gemm import f8f8bf16_rowwise, f8f8bf16_rowwise_simple, make_plan, select_config
from .quantize import (
    cast_from_fp8,
    cast_to_fp8,
    dequantize_fp8_per_block,
    dequantize_fp8_per_row,
    dequantize_fp8_per_tensor,
    quantize_fp8_per_block,
    quantize_fp8_per_row,
    quantize_fp8_per_tensor,
)

__all__ = [
    "quantize_fp8_per_row", "quantize_fp8_per_tensor", "quantize_fp8_per_block",
    "dequantize_fp8_per_row", "dequantize_fp8_per_tensor", "dequantize_fp8_per_block",
    "cast_to_fp8", "cast_from_fp8",
    "f8f8bf16_rowwise", "f8f8bf16_rowwise_simple", "make_plan", "select_config",
]

"""fp8ref: the executable specification of FP8 formats, scaling and the row-wise scaled GEMM (NumPy only).

Three nouns, one module each: ``formats`` (codes, rounding), ``scale`` (quantizers, scale bounds) and
``gemm`` (GEMM semantics, error bounds); ``stochastic`` holds the counter-based random bits. Codes are
``np.uint8`` bit patterns throughout. ``fp8ref.strategies`` (Hypothesis) and ``fp8ref.testing``
(assertions) serve other backends' test suites. The normative text is docs/spec.md.
"""

from .formats import (E4M3FN, E4M3FNUZ, E5M2, FORMATS, Format, all_codes, decode, encode, encode_stochastic,
                      get_format, round)
from .gemm import (HOPPER_FP8, MAX_K, AccumulatorModel, accumulation_error_bound, emulate_accumulator,
                   exact_dot, f8f8bf16, f8f8bf16_blockwise, f8f8bf16_rowwise, gemm_error_bound,
                   gemm_error_bound_tensorwise)
from .scale import (compute_scale, dequantize_fp8_per_block, dequantize_fp8_per_row, dequantize_fp8_per_tensor,
                    quantize_fp8_per_block, quantize_fp8_per_row, quantize_fp8_per_tensor, scale_floor)
from .stochastic import philox4x32_10, random_bits

__version__ = "0.1.0"

// cast.cu: plain casts float <-> FP8 codes, dequantization, and the exhaustive-sweep / NaN-probe kernels
// used by the GPU tests. Elementwise, grid-stride, one element per thread per step.
#include "fp8_format.cuh"

namespace fp8cuda {

// Exact conversion of a decoded FP8 value to the output type (every FP8 value is exact in each): bf16 is
// the top half of the float32; NaN keeps its sign (as NumPy/ml_dtypes convert float32 NaN).
template <class T> __device__ __forceinline__ T from_f32_exact(float x);
template <> __device__ __forceinline__ float from_f32_exact<float>(float x) { return x; }
template <> __device__ __forceinline__ bf16 from_f32_exact<bf16>(float x) { return bf16{u16(__float_as_uint(x) >> 16)}; }
template <> __device__ __forceinline__ f16 from_f32_exact<f16>(float x) {
  if (is_nan(x)) return f16{u16(0x7E00u | ((__float_as_uint(x) >> 31) << 15))};
  return from_f32<f16>(x);
}

// One element: hardware cvt (satfinite, RNE) when kHardware, else the software steps of encode_sw.
template <class F, bool kSaturate, bool kHardware>
__device__ __forceinline__ u32 encode_one(float x) {
  static_assert(!kHardware || kSaturate, "the hardware cvt exists only with .satfinite");
  if (kHardware) return encode_hw_x2<F>(x, 0.0f) & 0xFFu;
  return encode_sw<F, kSaturate, false>(x, 0u);
}

#define FP8CUDA_GRID_STRIDE(i, n) \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)

// codes[i] = encode(x[i], F, saturate)
template <class T, class F, bool kSaturate, bool kHardware>
__global__ void cast_to_fp8(const T* __restrict__ x, u8* __restrict__ codes, long long n) {
  FP8CUDA_GRID_STRIDE(i, n) codes[i] = u8(encode_one<F, kSaturate, kHardware>(to_f32(x[i])));
}

// y[i] = decode(codes[i], F) in the output type, exact.
template <class T, class F>
__global__ void cast_from_fp8(const u8* __restrict__ codes, T* __restrict__ y, long long n) {
  FP8CUDA_GRID_STRIDE(i, n) y[i] = from_f32_exact<T>(decode<F>(codes[i]));
}

// Dequantize with one scale per run of K consecutive elements (per row: K = row length; per tensor: K = n):
// y = round_to_output(float32(decode(xq)) * scale), one float32 product, one RNE rounding.
template <class T, class F>
__global__ void dequantize_rows(const u8* __restrict__ xq, const float* __restrict__ scale, T* __restrict__ y,
                                long long n, long long K) {
  FP8CUDA_GRID_STRIDE(i, n) y[i] = from_f32<T>(mul_rn(decode<F>(xq[i]), scale[i / K]));
}

// Dequantize per (bm, bk) block of [B, M, K]; scale is [B, ceil(M / bm), ceil(K / bk)].
template <class T, class F>
__global__ void dequantize_block(const u8* __restrict__ xq, const float* __restrict__ scale, T* __restrict__ y,
                                 long long n, long long M, long long K, long long bm, long long bk) {
  const long long nbm = (M + bm - 1) / bm, nbk = (K + bk - 1) / bk;
  FP8CUDA_GRID_STRIDE(i, n) {
    const long long b = i / (M * K), r = (i / K) % M, c = i % K;
    y[i] = from_f32<T>(mul_rn(decode<F>(xq[i]), scale[(b * nbm + r / bm) * nbk + c / bk]));
  }
}

// Exhaustive sweep: codes[i] = encode(float32 with bit pattern first + i). No input array needed.
template <class F, bool kSaturate, bool kHardware>
__global__ void cast_sweep_f32(u32 first, u8* __restrict__ codes, long long n) {
  FP8CUDA_GRID_STRIDE(i, n) codes[i] = u8(encode_one<F, kSaturate, kHardware>(__uint_as_float(first + u32(i))));
}

// What the hardware cvt gives, with no NaN fix-up: out[i] = raw satfinite codes of x[i] (the probe that
// decides whether encode_hw_x2's NaN rewrite is needed; the tests record what it shows).
template <class F>
__global__ void cvt_probe_raw(const float* __restrict__ x, u8* __restrict__ out, long long n) {
  FP8CUDA_GRID_STRIDE(i, n) out[i] = u8(cvt_x2_satfinite_raw<F>(x[i], 0.0f) & 0xFFu);
}

}  // namespace fp8cuda

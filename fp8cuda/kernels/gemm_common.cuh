// Epilogue shared by the FP8 row-wise GEMM kernels (level 1 and WGMMA): one definition of the
// output value and its single rounding, so both kernels compute the same function as fp8ref.gemm.
#pragma once
#include "ptx_sm90.cuh"

namespace fp8cuda {

// Output element types, selected by a template argument (kOut) of the kernels.
enum OutKind { kOutBF16 = 0, kOutF16 = 1, kOutF32 = 2 };

// fp8ref.gemm epilogue, in float32, pinned order, no FMA contraction (explicit _rn intrinsics):
//   1. v = acc * x_scale[m]      (one float32 rounding)
//   2. v = v * w_scale[n]        (one float32 rounding)
//   3. v = v + bias[n]           (one float32 rounding; skipped without bias, so -0 stays -0)
//   4. one RNE rounding to the output type (store_one / store_pair below)
__device__ __forceinline__ float epilogue_value(float acc, float xs, float ws, bool has_bias, float bias) {
  float v = __fmul_rn(__fmul_rn(acc, xs), ws);
  if (has_bias) v = __fadd_rn(v, bias);
  return v;
}

template <int kOut>
struct OutTraits;

template <>
struct OutTraits<kOutBF16> {
  static constexpr int kBytes = 2;
  __device__ __forceinline__ static void store_pair(void* p, float a, float b) {
    *reinterpret_cast<u32*>(p) = cvt_rn_bf16x2_f32(a, b);
  }
  __device__ __forceinline__ static void store_one(void* p, float a) {
    *reinterpret_cast<unsigned short*>(p) = static_cast<unsigned short>(cvt_rn_bf16x2_f32(a, 0.0f) & 0xFFFFu);
  }
};

template <>
struct OutTraits<kOutF16> {
  static constexpr int kBytes = 2;
  __device__ __forceinline__ static void store_pair(void* p, float a, float b) {
    *reinterpret_cast<u32*>(p) = cvt_rn_f16x2_f32(a, b);
  }
  __device__ __forceinline__ static void store_one(void* p, float a) {
    *reinterpret_cast<unsigned short*>(p) = static_cast<unsigned short>(cvt_rn_f16x2_f32(a, 0.0f) & 0xFFFFu);
  }
};

template <>
struct OutTraits<kOutF32> {
  static constexpr int kBytes = 4;
  __device__ __forceinline__ static void store_pair(void* p, float a, float b) {
    *reinterpret_cast<float2*>(p) = make_float2(a, b);
  }
  __device__ __forceinline__ static void store_one(void* p, float a) { *reinterpret_cast<float*>(p) = a; }
};

}  // namespace fp8cuda

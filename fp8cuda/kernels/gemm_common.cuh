// Epilogue shared by the FP8 row-wise GEMM kernels (level 1 and WGMMA): one definition of the
// output value and its single rounding, so both kernels compute the same function as fp8ref.gemm.
#pragma once
#include "ptx_sm90.cuh"

namespace fp8cuda {

// Kernel-parameter image of a CUtensorMap (128 bytes, 64-byte aligned), filled on the host by
// cuTensorMapEncodeTiled and passed by value as a __grid_constant__ parameter (WGMMA kernels).
struct alignas(64) TmaDesc {
  u64 opaque[16];
};

constexpr int BLOCK_K = 128;  // K per pipeline stage: one 128-byte swizzle row of e4m3 values

// Output element types, selected by a template argument (kOut) of the kernels.
enum OutKind { kOutBF16 = 0, kOutF16 = 1, kOutF32 = 2 };

// fp8ref.gemm epilogue, in float32, pinned order, no FMA contraction (explicit _rn intrinsics):
//   1. v = acc * x_scale[m]      (one float32 rounding)
//   2. v = v * w_scale[n]        (one float32 rounding)
//   3. v = v + bias[n]           (one float32 rounding; skipped without bias, so -0 stays -0)
//   4. one RNE rounding to the output type (store_one / store_pair below)
// epilogue_rest: steps 2 and 3 of a value whose step 1 is done (row_scaled = acc * x_scale[m], rounded).
__device__ __forceinline__ float epilogue_rest(float row_scaled, float ws, bool has_bias, float bias) {
  float v = __fmul_rn(row_scaled, ws);
  if (has_bias) v = __fadd_rn(v, bias);
  return v;
}
__device__ __forceinline__ float epilogue_value(float acc, float xs, float ws, bool has_bias, float bias) {
  return epilogue_rest(__fmul_rn(acc, xs), ws, has_bias, bias);
}

template <int kOut>
struct OutTraits;

template <>
struct OutTraits<kOutBF16> {
  static constexpr int kBytes = 2;
  // two values rounded (RNE) and packed into one 32-bit word, the first in the low half
  __device__ __forceinline__ static u32 pack2(float a, float b) { return cvt_rn_bf16x2_f32(a, b); }
  __device__ __forceinline__ static void store_pair(void* p, float a, float b) {
    *reinterpret_cast<u32*>(p) = cvt_rn_bf16x2_f32(a, b);
  }
  __device__ __forceinline__ static void store_one(void* p, float a) {
    *reinterpret_cast<unsigned short*>(p) = static_cast<unsigned short>(cvt_rn_bf16x2_f32(a, 0.0f) & 0xFFFFu);
  }
  // 8 values as one 16-byte store (p 16-byte aligned)
  __device__ __forceinline__ static void store8(void* p, const float (&v)[8]) {
    *reinterpret_cast<uint4*>(p) = make_uint4(cvt_rn_bf16x2_f32(v[0], v[1]), cvt_rn_bf16x2_f32(v[2], v[3]),
                                              cvt_rn_bf16x2_f32(v[4], v[5]), cvt_rn_bf16x2_f32(v[6], v[7]));
  }
};

template <>
struct OutTraits<kOutF16> {
  static constexpr int kBytes = 2;
  // two values rounded (RNE) and packed into one 32-bit word, the first in the low half
  __device__ __forceinline__ static u32 pack2(float a, float b) { return cvt_rn_f16x2_f32(a, b); }
  __device__ __forceinline__ static void store_pair(void* p, float a, float b) {
    *reinterpret_cast<u32*>(p) = cvt_rn_f16x2_f32(a, b);
  }
  __device__ __forceinline__ static void store_one(void* p, float a) {
    *reinterpret_cast<unsigned short*>(p) = static_cast<unsigned short>(cvt_rn_f16x2_f32(a, 0.0f) & 0xFFFFu);
  }
  __device__ __forceinline__ static void store8(void* p, const float (&v)[8]) {
    *reinterpret_cast<uint4*>(p) = make_uint4(cvt_rn_f16x2_f32(v[0], v[1]), cvt_rn_f16x2_f32(v[2], v[3]),
                                              cvt_rn_f16x2_f32(v[4], v[5]), cvt_rn_f16x2_f32(v[6], v[7]));
  }
};

template <>
struct OutTraits<kOutF32> {
  static constexpr int kBytes = 4;
  __device__ __forceinline__ static void store_pair(void* p, float a, float b) {
    *reinterpret_cast<float2*>(p) = make_float2(a, b);
  }
  __device__ __forceinline__ static void store_one(void* p, float a) { *reinterpret_cast<float*>(p) = a; }
  __device__ __forceinline__ static void store8(void* p, const float (&v)[8]) {
    reinterpret_cast<float4*>(p)[0] = make_float4(v[0], v[1], v[2], v[3]);
    reinterpret_cast<float4*>(p)[1] = make_float4(v[4], v[5], v[6], v[7]);
  }
};

}  // namespace fp8cuda

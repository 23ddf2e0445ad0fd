// fp8_format.cuh: FP8 formats, exact float32 conversions of the input types, and encode/decode.
// Mirrors fp8ref/formats.py: encode_sw repeats _encode's numbered steps 1-7 so the two read side by side.
//
// Float arithmetic goes through PTX wrappers (div.rn.f32, mul.rn.f32, fma.rn.f32, max.f32, min.f32, all without .ftz):
// IEEE float32 with subnormals whatever -ftz the compile used (CuPy appends -ftz=true to its own compiles),
// and mul.rn is never contracted into an FMA.
#pragma once

namespace fp8cuda {

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

// Input/output storage types that are not C++ built-ins: raw 16-bit patterns.
struct bf16 { u16 bits; };
struct f16 { u16 bits; };

// ------------------------------------------------------------------------------------------- IEEE float32
__device__ __forceinline__ float div_rn(float a, float b) { float r; asm("div.rn.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b)); return r; }
__device__ __forceinline__ float mul_rn(float a, float b) { float r; asm("mul.rn.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b)); return r; }
__device__ __forceinline__ float fma_rn(float a, float b, float c) { float r; asm("fma.rn.f32 %0, %1, %2, %3;" : "=f"(r) : "f"(a), "f"(b), "f"(c)); return r; }
// Two bfloat16 / float16 maxima at once (lanes: bits 0-15, 16-31); like max.f32, the non-NaN operand of a
// pair; no .ftz, so subnormals are kept.
__device__ __forceinline__ u32 max_bf16x2(u32 a, u32 b) { u32 r; asm("max.bf16x2 %0, %1, %2;" : "=r"(r) : "r"(a), "r"(b)); return r; }
__device__ __forceinline__ u32 max_f16x2(u32 a, u32 b) { u32 r; asm("max.f16x2 %0, %1, %2;" : "=r"(r) : "r"(a), "r"(b)); return r; }
// max/min.f32 return the non-NaN operand when exactly one is NaN (IEEE maxNum/minNum).
__device__ __forceinline__ float max_f32(float a, float b) { float r; asm("max.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b)); return r; }
__device__ __forceinline__ float min_f32(float a, float b) { float r; asm("min.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b)); return r; }
__device__ __forceinline__ float abs_f32(float a) { return __uint_as_float(__float_as_uint(a) & 0x7FFFFFFFu); }
__device__ __forceinline__ bool is_nan(float a) { return (__float_as_uint(a) & 0x7FFFFFFFu) > 0x7F800000u; }

// Exact widening of each input type to float32 (every bf16/f16 value is a float32 value).
__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(bf16 x) { return __uint_as_float(u32(x.bits) << 16); }
// float16: cvt.f32.f16 returns the canonical +NaN for every NaN (seen on H200), so NaN is rebuilt with its sign.
__device__ __forceinline__ float to_f32(f16 x) {
  if ((x.bits & 0x7FFFu) > 0x7C00u) return __uint_as_float(0x7FC00000u | (u32(x.bits >> 15) << 31));
  float r; asm("cvt.f32.f16 %0, %1;" : "=f"(r) : "h"(x.bits)); return r;
}

// One round-to-nearest-even from float32 to the output type (overflow -> inf, as NumPy/ml_dtypes).
template <class T> __device__ __forceinline__ T from_f32(float x);
template <> __device__ __forceinline__ float from_f32<float>(float x) { return x; }
template <> __device__ __forceinline__ bf16 from_f32<bf16>(float x) { bf16 r; asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(r.bits) : "f"(x)); return r; }
template <> __device__ __forceinline__ f16 from_f32<f16>(float x) { f16 r; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(r.bits) : "f"(x)); return r; }

// ------------------------------------------------------------------------------------------------ formats
// OCP E4M3 ("e4m3fn"): no infinity, S.1111.111 is NaN.
// max 0b0_1111_110 = 0x7E -> (1 + 0b110/8) * 2**(15 - 7) = 448; emin = 1 - 7 = -6.
struct E4M3FN {
  static constexpr int kEbits = 4, kMbits = 3, kBias = 7, kEmin = 1 - kBias;
  static constexpr u32 kMaxCode = 0x7E, kNanCode = 0x7F;
  static constexpr bool kHasInf = false;
  static constexpr u32 kInfCode = kNanCode;  // non-saturating overflow goes to NaN
};
// OCP E5M2: IEEE-like. max 0b0_11110_11 = 0x7B -> (1 + 0b11/4) * 2**(30 - 15) = 57344; inf 0x7C; NaN 0x7E.
struct E5M2 {
  static constexpr int kEbits = 5, kMbits = 2, kBias = 15, kEmin = 1 - kBias;
  static constexpr u32 kMaxCode = 0x7B, kNanCode = 0x7E;
  static constexpr bool kHasInf = true;
  static constexpr u32 kInfCode = 0x7C;
};

// Software encoder of a float32 value; mirrors fp8ref.formats._encode step by step.
// kStochastic: round up iff F + rbits >= 2**32, F = the first 32 dropped bits (fp8ref encode_stochastic).
template <class F, bool kSaturate, bool kStochastic>
__device__ __forceinline__ u32 encode_sw(float x, u32 rbits) {
  // 1. Unpack the exact input: value = (-1)**sign * sig * 2**exp2, sig an integer < 2**24.
  const u32 bits = __float_as_uint(x);
  const u32 sign = bits >> 31;
  const int e = int((bits >> 23) & 0xFFu);
  const u32 m = bits & 0x7FFFFFu;
  const bool isnan = e == 0xFF && m != 0, isinf = e == 0xFF && m == 0;
  const u32 sig = e == 0 ? m : (m | 0x800000u);
  const int exp2 = max(e, 1) - 127 - 23;
  // 2. Binade: u = floor(log2 |value|) = index of sig's top bit + exp2 (sig == 0 is handled at step 5).
  const int u = (31 - __clz(sig)) + exp2;
  // 3. Quantum of the target at this magnitude: 2**q, q = max(u, emin) - mbits.
  const int q = max(u, F::kEmin) - F::kMbits;
  // 4. Round sig * 2**exp2 to an integer multiple n of 2**q; s = q - exp2 >= 20 bits are dropped for any
  //    float32 input (normal: s >= 23 - mbits; subnormal: exp2 = -149), so only right shifts occur.
  const int s = q - exp2;
  const int sc = min(s, 62);
  u64 n = u64(sig) >> sc;
  const u64 rem = u64(sig) & ((1ull << sc) - 1);
  bool up;
  if (!kStochastic) {
    const u64 half = (1ull << sc) >> 1;
    up = rem > half || (rem == half && (n & 1));
  } else {
    const u64 f32 = sc >= 32 ? (s - 32 > 62 ? 0ull : rem >> (s - 32)) : rem << (32 - sc);
    up = f32 + u64(rbits) >= (1ull << 32);
  }
  n += up;
  // 5. Assemble the magnitude code: ((max(u + bias, 1) - 1) << mbits) + n covers normals, subnormals and
  //    a carry into the next binade.
  int mag = ((max(u + F::kBias, 1) - 1) << F::kMbits) + int(n);
  if (sig == 0) mag = 0;
  // 6. Overflow, infinities and NaN.
  if (isinf || mag > int(F::kMaxCode)) mag = kSaturate ? F::kMaxCode : F::kInfCode;
  if (isnan) mag = F::kNanCode;
  // 7. Apply the sign (NaN keeps the input's sign too).
  return u32(mag) | (sign << 7);
}

// Hardware encoder, round to nearest even, satfinite: two float32 -> two codes (lo in bits 0-7, hi in 8-15).
// cvt puts its first source in the upper byte. NaN: seen on H200 (2026-11-22), the raw cvt gives 0x7F for
// NaN of either sign in both e4m3 and e5m2 (sign dropped; 0x7F is not e5m2's canonical 0x7E), so the code
// is rewritten to nan_code | input sign, which is fp8ref's. (+-inf -> +-max, -0 and negative underflow ->
// 0x80 agree with fp8ref without help.)
template <class F> __device__ __forceinline__ u32 cvt_x2_satfinite_raw(float lo, float hi);
template <> __device__ __forceinline__ u32 cvt_x2_satfinite_raw<E4M3FN>(float lo, float hi) {
  u16 r; asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(r) : "f"(hi), "f"(lo)); return r;
}
template <> __device__ __forceinline__ u32 cvt_x2_satfinite_raw<E5M2>(float lo, float hi) {
  u16 r; asm("cvt.rn.satfinite.e5m2x2.f32 %0, %1, %2;" : "=h"(r) : "f"(hi), "f"(lo)); return r;
}
template <class F> __device__ __forceinline__ u32 nan_code(float x) { return F::kNanCode | ((__float_as_uint(x) >> 31) << 7); }
template <class F> __device__ __forceinline__ u32 encode_hw_x2(float lo, float hi) {
  u32 r = cvt_x2_satfinite_raw<F>(lo, hi);
  if (is_nan(lo)) r = (r & 0xFF00u) | nan_code<F>(lo);
  if (is_nan(hi)) r = (r & 0x00FFu) | (nan_code<F>(hi) << 8);
  return r;
}

// Round-to-nearest-even satfinite encode of one value (hardware), or stochastic (software, satfinite).
template <class F, bool kStochastic>
__device__ __forceinline__ u32 encode_sat(float x, u32 rbits) {
  if (kStochastic) return encode_sw<F, true, true>(x, rbits);
  return encode_hw_x2<F>(x, 0.0f) & 0xFFu;
}

// Exact decode of a code to float32; NaN codes give a quiet NaN with the code's sign (fp8ref.decode).
template <class F>
__device__ __forceinline__ float decode(u32 c) {
  const u32 sign = (c >> 7) & 1u;
  const u32 e = (c >> F::kMbits) & ((1u << F::kEbits) - 1);
  const u32 m = c & ((1u << F::kMbits) - 1);
  // value = sig * 2**(max(e, 1) - bias - mbits); the power of two is a normal float32, the product exact.
  const u32 sig = e == 0 ? m : m + (1u << F::kMbits);
  const int ex = int(max(e, 1u)) - F::kBias - F::kMbits;
  float mag = mul_rn(float(sig), __uint_as_float(u32(ex + 127) << 23));
  const bool top = e == (1u << F::kEbits) - 1;
  if (F::kHasInf && top && m == 0) mag = __uint_as_float(0x7F800000u);
  if ((F::kHasInf && top && m != 0) || (!F::kHasInf && (c & 0x7Fu) == F::kNanCode)) mag = __uint_as_float(0x7FC00000u);
  return __uint_as_float(__float_as_uint(mag) | (sign << 31));
}

}  // namespace fp8cuda

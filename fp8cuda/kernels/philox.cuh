// philox.cuh: Philox4x32-10 (Salmon et al., Random123) and the element -> random word map of
// fp8ref.stochastic.random_bits: element i takes word (i & 3) of
// philox4x32_10(counter = (lo32(i >> 2), hi32(i >> 2), 0, 0), key = (lo32(seed), hi32(seed))).
#pragma once

#include "fp8_format.cuh"

namespace fp8cuda {

struct Philox4 { u32 w[4]; };

// Ten rounds; the key is bumped by the Weyl constants before every round but the first.
__device__ __forceinline__ Philox4 philox4x32_10(u32 c0, u32 c1, u32 c2, u32 c3, u32 k0, u32 k1) {
  constexpr u32 kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;  // multipliers
  constexpr u32 kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;  // Weyl key increments (golden ratio, sqrt(3) - 1)
#pragma unroll
  for (int round = 0; round < 10; ++round) {
    if (round > 0) { k0 += kW0; k1 += kW1; }
    const u32 hi0 = __umulhi(kM0, c0), lo0 = kM0 * c0;
    const u32 hi1 = __umulhi(kM1, c2), lo1 = kM1 * c2;
    const u32 n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// The four random words of elements 4g .. 4g+3.
__device__ __forceinline__ Philox4 random_group(u64 g, u64 seed) {
  return philox4x32_10(u32(g), u32(g >> 32), 0u, 0u, u32(seed), u32(seed >> 32));
}

// Word j (0..3) of a group with a constant-time select, so no register array is indexed at run time.
__device__ __forceinline__ u32 pick_word(const Philox4& p, u32 j) {
  const u32 a = (j & 1) ? p.w[1] : p.w[0];
  const u32 b = (j & 1) ? p.w[3] : p.w[2];
  return (j & 2) ? b : a;
}

// The random word of element i (the level-1 kernels' path: one Philox call per element).
__device__ __forceinline__ u32 random_word(u64 i, u64 seed) { return pick_word(random_group(i >> 2, seed), u32(i & 3)); }

}  // namespace fp8cuda

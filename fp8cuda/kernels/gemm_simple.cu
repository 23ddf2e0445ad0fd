// Level-1 FP8 row-wise GEMM: readable reference kernel and fallback (sm_89+).
//
//   y[m, n] = round_out(((acc[m, n] * x_scale[m]) * w_scale[n]) + bias[n]),
//   acc[m, n] = sum_k decode(xq[m, k]) * decode(wq[n, k])
//
// xq: [M, K] e4m3fn codes, wq: [N, K] e4m3fn codes, both K-major (row-major, K contiguous).
// One warp computes one 16x8 output tile with mma.sync.m16n8k32 (FP8 tensor-core instruction),
// reading its fragments straight from global memory: no shared memory, no pipelining. A block of 4
// warps covers 32 rows x 16 columns. Out-of-range rows, columns and K are read as zero codes.
// kFastAccum: accumulate all of K in the instruction's accumulator; otherwise add the partial sum of
// every 128 K to a separate float32 accumulator (the promotion the WGMMA kernel also does).
#include "gemm_common.cuh"

namespace fp8cuda {

// Four consecutive codes (one 32-bit register) of row `row`, columns k..k+3, or 0 when out of range.
// K % 16 == 0 makes the group either fully inside or fully outside, and rows 4-byte aligned.
__device__ __forceinline__ u32 load_codes4(const unsigned char* __restrict__ p, int row, int rows, int k, int K) {
  if (row >= rows || k >= K) return 0u;
  return *reinterpret_cast<const u32*>(p + static_cast<size_t>(row) * K + k);
}

template <bool kFastAccum, int kOut>
__global__ void __launch_bounds__(128) fp8_gemm_rowwise_simple(const unsigned char* __restrict__ xq,
                                                               const unsigned char* __restrict__ wq,
                                                               const float* __restrict__ x_scale,
                                                               const float* __restrict__ w_scale,
                                                               const float* __restrict__ bias, void* __restrict__ out,
                                                               int M, int N, int K) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, q = lane % 4;  // fragment row group and column quad
  const int m0 = blockIdx.y * 32 + (warp / 2) * 16;
  const int n0 = blockIdx.x * 16 + (warp % 2) * 8;

  float acc[4] = {0.f, 0.f, 0.f, 0.f};    // tensor-core accumulator
  float total[4] = {0.f, 0.f, 0.f, 0.f};  // float32 promotion target (slow accumulation)
  for (int k0 = 0; k0 < K; k0 += 32) {
    // 1. load fragments (layout in ptx_sm90.cuh, mma_m16n8k32_e4m3)
    const u32 a[4] = {load_codes4(xq, m0 + g, M, k0 + 4 * q, K), load_codes4(xq, m0 + g + 8, M, k0 + 4 * q, K),
                      load_codes4(xq, m0 + g, M, k0 + 16 + 4 * q, K),
                      load_codes4(xq, m0 + g + 8, M, k0 + 16 + 4 * q, K)};
    const u32 b[2] = {load_codes4(wq, n0 + g, N, k0 + 4 * q, K), load_codes4(wq, n0 + g, N, k0 + 16 + 4 * q, K)};
    // 2. D = A * B + D
    mma_m16n8k32_e4m3(acc, a, b, acc);
    // 3. slow accumulation: promote every 128 K (and at the end) to float32 registers
    if (!kFastAccum && ((k0 % 128) == 96 || k0 + 32 >= K)) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        total[i] += acc[i];
        acc[i] = 0.f;
      }
    }
  }
  const float* result = kFastAccum ? acc : total;

  // 4. epilogue: scale, bias, one rounding, masked stores
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int m = m0 + g + 8 * h;
    if (m >= M) continue;
    const float xs = x_scale[m];
#pragma unroll
    for (int c = 0; c < 2; ++c) {
      const int n = n0 + 2 * q + c;
      if (n >= N) continue;
      const float v = epilogue_value(result[2 * h + c], xs, w_scale[n], bias != nullptr, bias != nullptr ? bias[n] : 0.f);
      OutTraits<kOut>::store_one(static_cast<unsigned char*>(out) + (static_cast<size_t>(m) * N + n) * OutTraits<kOut>::kBytes, v);
    }
  }
}

}  // namespace fp8cuda

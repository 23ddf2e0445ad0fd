// Probe (issue 4, notes-gemm.md v21): the GEMM kernels' stage ring without their tiles, epilogue or
// clusters. Warpgroup 0's thread 0 fills a ring of kStages stages (A: 128 rows x 128 bytes, B: N rows x
// 128 bytes) for `kblocks` K blocks: kTma: 2D TMA boxes of tmap_a / tmap_b (this block's fixed row tile,
// K blocks cycling over num_kb); else 1D bulk copies from an L2-resident buffer. Warpgroups 1 and 2 each
// read their 64 rows of A and all of B per K block, as the cooperative kernel does: fast: 4 wgmma
// m64nNk32, one group left in flight, the stage released once its group is done; slow: the group is
// drained, its stage released and the accumulators added to float32 totals.
// walk != 0 (TMA only): the block moves to its next tile every num_kb K blocks, tiles in the kernels'
// grouped order (8 row tiles at a time, persistent stride gridDim.x), so the loads stream through both
// matrices as the GEMM's do. kSplitAB: A and B stages in two separate rings (the kernels' layout) instead
// of [A | B] per stage.
// out[block][c] = consumer c's cycles from its first wait to its last release.
#include "gemm_common.cuh"

namespace fp8cuda {

template <int N, int kStages, bool kSlow, bool kTma, bool kSplitAB = false>
__global__ void __launch_bounds__(384, 1)
    wgmma_ring_probe(long long* out, int kblocks, const unsigned char* src, const __grid_constant__ TmaDesc tmap_a,
                     const __grid_constant__ TmaDesc tmap_b, int num_kb, int num_m, int num_n, float* sink,
                     int walk) {
  using Mma = WgmmaM64K32E4M3<N>;
  constexpr int kBytesA = 128 * BLOCK_K, kBytesB = N * BLOCK_K, kStage = kBytesA + kBytesB;
  extern __shared__ unsigned char smem_raw[];
  unsigned char* smem = smem_raw + ((1024 - (smem_u32(smem_raw) & 1023)) & 1023);
  // stage s: A at a_of(s), B at b_of(s)
  auto a_of = [&](int s) { return smem + (kSplitAB ? s * kBytesA : s * kStage); };
  auto b_of = [&](int s) { return smem + (kSplitAB ? kStages * kBytesA + s * kBytesB : s * kStage + kBytesA); };
  u64* full = reinterpret_cast<u64*>(smem + kStages * kStage);
  u64* empty = full + kStages;
  if (threadIdx.x == 0) {
    if (kTma) {
      prefetch_tensormap(&tmap_a);
      prefetch_tensormap(&tmap_b);
    }
    for (int s = 0; s < kStages; ++s) {
      mbarrier_init(&full[s], 1);
      mbarrier_init(&empty[s], 8);  // lane 0 of the 8 consumer warps
    }
    fence_mbarrier_init();
  }
  __syncthreads();
  const int wg = threadIdx.x / 128;
  if (wg == 0) {
    setmaxnreg_dec<40>();
    if (threadIdx.x == 0) {
      int mb = blockIdx.x % num_m, nb = (blockIdx.x / num_m) % num_n;
      for (int it = 0; it < kblocks; ++it) {
        if (walk && it % num_kb == 0) {  // grouped order over 64 row tiles x num_n column tiles
          const int tile = (blockIdx.x + (it / num_kb) * gridDim.x) % (64 * num_n);
          mb = (tile / (8 * num_n)) * 8 + tile % 8;
          nb = (tile / 8) % num_n;
        }
        const int s = it % kStages;
        mbarrier_wait_parity(&empty[s], (static_cast<u32>(it / kStages) & 1u) ^ 1u);
        mbarrier_arrive_expect_tx(&full[s], kStage);
        unsigned char* sa = a_of(s);
        if (kTma) {
          const int kb = it % num_kb;
          tma_load_2d(sa, &tmap_a, &full[s], kb * BLOCK_K, mb * 128);
          tma_load_2d(b_of(s), &tmap_b, &full[s], kb * BLOCK_K, nb * N);
        } else {
          const unsigned char* from = src + static_cast<long long>((blockIdx.x * 64 + it) % 512) * 32768;
          asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %3, [%2];\n"
                       ::"r"(smem_u32(sa)), "l"(from), "r"(smem_u32(&full[s])), "n"(kBytesA) : "memory");
          asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %3, [%2];\n"
                       ::"r"(smem_u32(b_of(s))), "l"(from + kBytesA), "r"(smem_u32(&full[s])), "n"(kBytesB)
                       : "memory");
        }
      }
    }
    return;
  }
  setmaxnreg_inc<232>();
  const int c = wg - 1;
  const int lane = threadIdx.x % 32;
  float acc[Mma::kNumAcc];
  float total[kSlow ? Mma::kNumAcc : 1];
#pragma unroll
  for (int j = 0; j < Mma::kNumAcc; ++j) acc[j] = 0.f;
#pragma unroll
  for (int j = 0; j < (kSlow ? Mma::kNumAcc : 1); ++j) total[j] = 0.f;
  const long long t0 = clock64();
  for (int it = 0; it < kblocks; ++it) {
    const int s = it % kStages;
    mbarrier_wait_parity(&full[s], static_cast<u32>(it / kStages) & 1u);
    const u64 da = make_smem_desc_sw128(a_of(s) + c * 64 * BLOCK_K);
    const u64 db = make_smem_desc_sw128(b_of(s));
#pragma unroll
    for (int j = 0; j < Mma::kNumAcc; ++j) wgmma_fence_operand(acc[j]);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) Mma::mma(acc, da + 2 * kk, db + 2 * kk, kSlow ? kk > 0 : 1);
    wgmma_commit_group();
    if constexpr (kSlow) {
      wgmma_wait_group<0>();
#pragma unroll
      for (int j = 0; j < Mma::kNumAcc; ++j) wgmma_fence_operand(acc[j]);
      if (lane == 0) mbarrier_arrive(&empty[s]);
#pragma unroll
      for (int j = 0; j < Mma::kNumAcc; ++j) total[j] += acc[j];
    } else {
      wgmma_wait_group<1>();
#pragma unroll
      for (int j = 0; j < Mma::kNumAcc; ++j) wgmma_fence_operand(acc[j]);
      if (it > 0 && lane == 0) mbarrier_arrive(&empty[(it - 1) % kStages]);
    }
  }
  wgmma_wait_group<0>();
#pragma unroll
  for (int j = 0; j < Mma::kNumAcc; ++j) wgmma_fence_operand(acc[j]);
  if (!kSlow && lane == 0) mbarrier_arrive(&empty[(kblocks - 1) % kStages]);
  const long long t1 = clock64();
  float sum = 0.f;
#pragma unroll
  for (int j = 0; j < Mma::kNumAcc; ++j) sum += kSlow ? total[j] : acc[j];
  if (sum == 12345.f) sink[threadIdx.x] = sum;  // keep the arithmetic
  if (threadIdx.x % 128 == 0) out[blockIdx.x * 2 + c] = t1 - t0;
}

}  // namespace fp8cuda

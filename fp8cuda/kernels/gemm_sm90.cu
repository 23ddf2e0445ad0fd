// FP8 (e4m3fn) row-wise scaled GEMM for sm_90a: TMA + mbarrier pipeline + WGMMA, persistent grid.
//
//   y[m, n] = round_out(((acc[m, n] * x_scale[m]) * w_scale[n]) + bias[n]),
//   acc[m, n] = sum_k decode(xq[m, k]) * decode(wq[n, k])          (fp8ref.gemm.f8f8bf16_rowwise)
//
// xq: [M, K] codes, wq: [N, K] codes, both K-major; K % 16 == 0 (TMA: 16-byte row strides).
//
// Block = 1 producer warpgroup + kNumConsumers (= BLOCK_M / 64) consumer warpgroups.
//   producer (one thread): for each tile, for each 128-wide K block: wait until stage s is empty,
//     announce the stage's bytes on full[s], TMA-load A[BLOCK_M x 128] and B[BLOCK_N x 128] into it
//     (128-byte swizzle; out-of-range rows and K are zero-filled by the copy engine).
//   consumer c: rows [64c, 64c + 64) of the tile. For each K block: wait full[s], issue 4 wgmma
//     m64nBLOCK_Nk32 (A and B from shared memory), release the stage on empty[s] once the wgmma that
//     read it has completed. Fast accumulation keeps one wgmma group in flight across K blocks and
//     accumulates all of K in the wgmma accumulators; slow accumulation restarts the wgmma
//     accumulators every K block (128 K) and adds them to float32 registers.
//   epilogue (each consumer for its 64 rows): scale, bias, one rounding, staged through shared
//     memory in 128-byte-wide column chunks, written with 16-byte coalesced stores, masked at the
//     M and N edges. Meanwhile the producer is already loading the next tile.
// Tiles are visited in a grouped order (group_m tile rows at a time) for L2 reuse; a persistent grid
// of at most one block per SM strides over them.
//
// kClusterM = 2: blocks run in clusters of two that take vertically adjacent tiles (same N block).
// Each block loads its own A tile and half of the shared B tile, multicast into both blocks' shared
// memory: 2/3 of the L2->SM traffic of kClusterM = 1 for 128x256 tiles. A stage is refilled only when
// the consumers of both blocks have released it (they arrive on both blocks' empty barriers).
#include "gemm_common.cuh"

namespace fp8cuda {

// Kernel-parameter image of a CUtensorMap (128 bytes, 64-byte aligned), filled on the host by
// cuTensorMapEncodeTiled and passed by value as a __grid_constant__ parameter.
struct alignas(64) TmaDesc {
  u64 opaque[16];
};

constexpr int BLOCK_K = 128;              // one 128-byte swizzle row of e4m3 values
constexpr int kEpiChunkBytes = 128;       // epilogue column chunk width in bytes
constexpr int kEpiRowBytes = 128 + 16;    // + 16 bytes padding: conflict-free fragment writes
constexpr int kProducerRegs = 40;
constexpr int kConsumerRegs = 232;        // 128 * 40 + 256 * 232 = 64512 <= 65536

// Dynamic shared memory of one block; gemm.py's _smem_bytes repeats this formula.
template <int BLOCK_M, int BLOCK_N, int kNumStages>
struct SmemLayout {
  static constexpr int kNumConsumers = BLOCK_M / 64;
  static constexpr int kBytesA = BLOCK_M * BLOCK_K;
  static constexpr int kBytesB = BLOCK_N * BLOCK_K;
  static constexpr int kOffB = kNumStages * kBytesA;
  static constexpr int kOffEpi = kOffB + kNumStages * kBytesB;
  static constexpr int kOffScale = kOffEpi + kNumConsumers * 64 * kEpiRowBytes;  // w_scale, bias per consumer
  static constexpr int kOffBar = kOffScale + kNumConsumers * 2 * BLOCK_N * 4;
  static constexpr int kTotal = kOffBar + 2 * kNumStages * 8 + 1024;  // + 1024: alignment slack
};

// Grouped (L2-friendly) tile order: kGroupM consecutive tile rows sweep all tile columns together.
__device__ __forceinline__ void tile_coords(int tile, int num_m, int num_n, int group_m, int& mb, int& nb) {
  const int per_group = group_m * num_n;
  const int first_m = (tile / per_group) * group_m;
  const int size_m = min(num_m - first_m, group_m);
  const int r = tile % per_group;
  mb = first_m + r % size_m;
  nb = r / size_m;
}

// Consumer warp releases a stage: lane 0 arrives on the empty barrier of every block of the cluster
// (the stage's B half of each block was multicast into both).
template <int kClusterM>
__device__ __forceinline__ void release_stage(u64* empty, int lane) {
  if (lane == 0) {
    if (kClusterM == 1) {
      mbarrier_arrive(empty);
    } else {
#pragma unroll
      for (u32 r = 0; r < kClusterM; ++r) mbarrier_arrive_cluster(empty, r);
    }
  }
}

template <int BLOCK_M, int BLOCK_N, int kNumStages, int kClusterM, bool kFastAccum, int kOut>
__global__ void __launch_bounds__(128 * (1 + BLOCK_M / 64), 1) __cluster_dims__(kClusterM, 1, 1)
    sm90_fp8_gemm_rowwise(const __grid_constant__ TmaDesc tmap_a, const __grid_constant__ TmaDesc tmap_b,
                          const float* __restrict__ x_scale, const float* __restrict__ w_scale,
                          const float* __restrict__ bias, void* __restrict__ out, int M, int N, int K, int group_m,
                          int vec_store) {
  static_assert(BLOCK_M == 64 || BLOCK_M == 128, "one or two consumer warpgroups of 64 rows");
  static_assert(BLOCK_N % 64 == 0 && BLOCK_N <= 256, "wgmma N and whole epilogue chunks");
  static_assert(kClusterM == 1 || kClusterM == 2, "clusters of one or two blocks along M");
  using L = SmemLayout<BLOCK_M, BLOCK_N, kNumStages>;
  using Mma = WgmmaM64K32E4M3<BLOCK_N>;
  using Out = OutTraits<kOut>;
  constexpr int kNumConsumers = L::kNumConsumers;
  constexpr int kNumAcc = Mma::kNumAcc;
  constexpr int kChunkCols = kEpiChunkBytes / Out::kBytes;

  extern __shared__ unsigned char smem_raw[];
  // 128-byte swizzle atoms must start at 1024-byte aligned shared addresses.
  unsigned char* smem = smem_raw + ((1024 - (smem_u32(smem_raw) & 1023)) & 1023);
  unsigned char* smem_a = smem;
  unsigned char* smem_b = smem + L::kOffB;
  unsigned char* smem_epi = smem + L::kOffEpi;
  float* smem_scale = reinterpret_cast<float*>(smem + L::kOffScale);
  u64* full_bar = reinterpret_cast<u64*>(smem + L::kOffBar);
  u64* empty_bar = full_bar + kNumStages;

  const int wg = threadIdx.x / 128;
  const int tid = threadIdx.x % 128;
  // Work is scheduled per cluster: a cluster tile is kClusterM vertically adjacent block tiles.
  const u32 cta_rank = kClusterM == 1 ? 0u : cluster_ctarank();
  const int cluster_id = kClusterM == 1 ? blockIdx.x : static_cast<int>(cluster_id_x());
  const int num_clusters = kClusterM == 1 ? gridDim.x : static_cast<int>(nclusterid_x());
  const int num_m = (M + BLOCK_M * kClusterM - 1) / (BLOCK_M * kClusterM);  // cluster tile rows
  const int num_n = (N + BLOCK_N - 1) / BLOCK_N;
  const int num_tiles = num_m * num_n;
  const int num_kb = (K + BLOCK_K - 1) / BLOCK_K;

  if (threadIdx.x == 0) {
    prefetch_tensormap(&tmap_a);
    prefetch_tensormap(&tmap_b);
#pragma unroll
    for (int s = 0; s < kNumStages; ++s) {
      mbarrier_init(&full_bar[s], 1);                       // the producer's arrive (+ TMA bytes)
      mbarrier_init(&empty_bar[s], kClusterM * kNumConsumers * 4);  // lane 0 of every consumer warp
    }                                                                 // of every block of the cluster
    fence_mbarrier_init();
    fence_proxy_async_shared_cta();
  }
  if (kClusterM == 1) {
    __syncthreads();
  } else {
    cluster_sync();  // the peer's multicast and remote arrivals need our barriers initialised
  }

  if (wg == 0) {
    // ---------------- producer warpgroup ----------------
    if (kNumConsumers == 2) setmaxnreg_dec<kProducerRegs>();
    if (tid == 0) {
      int it = 0;
      for (int tile = cluster_id; tile < num_tiles; tile += num_clusters) {
        int cm, nb;
        tile_coords(tile, num_m, num_n, group_m, cm, nb);
        const int mb = cm * kClusterM + static_cast<int>(cta_rank);
        for (int kb = 0; kb < num_kb; ++kb, ++it) {
          const int s = it % kNumStages;
          const u32 round = static_cast<u32>(it / kNumStages);
          mbarrier_wait_parity(&empty_bar[s], (round & 1u) ^ 1u);
          mbarrier_arrive_expect_tx(&full_bar[s], L::kBytesA + L::kBytesB);
          tma_load_2d(smem_a + s * L::kBytesA, &tmap_a, &full_bar[s], kb * BLOCK_K, mb * BLOCK_M);
          if (kClusterM == 1) {
            tma_load_2d(smem_b + s * L::kBytesB, &tmap_b, &full_bar[s], kb * BLOCK_K, nb * BLOCK_N);
          } else {
            // our half of B (tmap_b's box is BLOCK_N / 2 rows), into both blocks
            constexpr int kHalf = BLOCK_N / 2;
            tma_load_2d_multicast(smem_b + s * L::kBytesB + cta_rank * kHalf * BLOCK_K, &tmap_b, &full_bar[s],
                                  kb * BLOCK_K, nb * BLOCK_N + cta_rank * kHalf, 0x3);
          }
        }
      }
    }
  } else {
    // ---------------- consumer warpgroups ----------------
    if (kNumConsumers == 2) setmaxnreg_inc<kConsumerRegs>();
    const int c = wg - 1;
    const int warp = tid / 32, lane = tid % 32;
    unsigned char* epi = smem_epi + c * 64 * kEpiRowBytes;
    float acc[kNumAcc];
    float total[kFastAccum ? 1 : kNumAcc];
    int it = 0;
    float* ws_smem = smem_scale + c * 2 * BLOCK_N;  // this consumer's w_scale[col0..], then bias[col0..]
    float* bias_smem = ws_smem + BLOCK_N;
    for (int tile = cluster_id; tile < num_tiles; tile += num_clusters) {
      int cm, nb;
      tile_coords(tile, num_m, num_n, group_m, cm, nb);
      const int mb = cm * kClusterM + static_cast<int>(cta_rank);
      const int row0 = mb * BLOCK_M + c * 64;
      const int col0 = nb * BLOCK_N;
      // Epilogue operands loaded now, consumed after the main loop (their latency hides behind it):
      // x_scale of this thread's two fragment rows, and w_scale / bias of columns col0 + 2 tid + {0, 1}.
      float xs[2], ws_pre[2], bias_pre[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int m = row0 + warp * 16 + lane / 4 + 8 * h;
        xs[h] = m < M ? x_scale[m] : 0.f;
        const int n = col0 + 2 * tid + h;
        ws_pre[h] = (2 * tid + h < BLOCK_N && n < N) ? w_scale[n] : 0.f;
        bias_pre[h] = (bias != nullptr && 2 * tid + h < BLOCK_N && n < N) ? bias[n] : 0.f;
      }
      if (!kFastAccum) {
#pragma unroll
        for (int i = 0; i < kNumAcc; ++i) total[i] = 0.f;
      }
      // ---- main loop over K blocks ----
      for (int kb = 0; kb < num_kb; ++kb, ++it) {
        const int s = it % kNumStages;
        const u32 round = static_cast<u32>(it / kNumStages);
        mbarrier_wait_parity(&full_bar[s], round & 1u);
        const u64 desc_a = make_smem_desc_sw128(smem_a + s * L::kBytesA + c * 64 * BLOCK_K);
        const u64 desc_b = make_smem_desc_sw128(smem_b + s * L::kBytesB);
#pragma unroll
        for (int i = 0; i < kNumAcc; ++i) wgmma_fence_operand(acc[i]);
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < BLOCK_K / 32; ++kk) {
          // +32 bytes of K per step = +2 in the descriptor's (address >> 4) field
          const int scale_d = kFastAccum ? (kb > 0 || kk > 0) : (kk > 0);
          Mma::mma(acc, desc_a + 2 * kk, desc_b + 2 * kk, scale_d);
        }
        wgmma_commit_group();
        if (kFastAccum) {
          // keep this K block's group in flight; the previous one has finished reading its stage
          wgmma_wait_group<1>();
#pragma unroll
          for (int i = 0; i < kNumAcc; ++i) wgmma_fence_operand(acc[i]);
          if (kb > 0) release_stage<kClusterM>(&empty_bar[(it + kNumStages - 1) % kNumStages], lane);
        } else {
          wgmma_wait_group<0>();
#pragma unroll
          for (int i = 0; i < kNumAcc; ++i) wgmma_fence_operand(acc[i]);
          release_stage<kClusterM>(&empty_bar[s], lane);
#pragma unroll
          for (int i = 0; i < kNumAcc; ++i) total[i] += acc[i];  // promotion to float32, every 128 K
        }
      }
      if (kFastAccum) {
        wgmma_wait_group<0>();
#pragma unroll
        for (int i = 0; i < kNumAcc; ++i) wgmma_fence_operand(acc[i]);
        release_stage<kClusterM>(&empty_bar[(it + kNumStages - 1) % kNumStages], lane);
      }
      const float* result = kFastAccum ? acc : total;

      // ---- epilogue: rows [row0, row0 + 64) of this consumer, columns [col0, col0 + BLOCK_N) ----
      if (row0 >= M) continue;  // uniform in the warpgroup
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        if (2 * tid + h < BLOCK_N) {
          ws_smem[2 * tid + h] = ws_pre[h];
          bias_smem[2 * tid + h] = bias_pre[h];
        }
      }
      bar_sync(1 + c, 128);
#pragma unroll
      for (int chunk = 0; chunk < BLOCK_N / kChunkCols; ++chunk) {
        const int chunk_col0 = col0 + chunk * kChunkCols;
        if (chunk_col0 >= N) break;  // uniform in the warpgroup
        // 1. fragments -> shared memory (row-major 64 x kChunkCols, rows padded to kEpiRowBytes)
#pragma unroll
        for (int j = 0; j < kChunkCols / 8; ++j) {
          const int jj = chunk * (kChunkCols / 8) + j;  // n8 block index within the tile
          const int cl = 8 * j + 2 * (lane % 4);         // column within the chunk
          const int n = chunk_col0 + cl;
          const float2 ws = *reinterpret_cast<const float2*>(ws_smem + chunk * kChunkCols + cl);
          const float2 bs = *reinterpret_cast<const float2*>(bias_smem + chunk * kChunkCols + cl);
          const bool has_bias = bias != nullptr;
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            const int r = warp * 16 + lane / 4 + 8 * h;
            const float v0 = n < N ? epilogue_value(result[4 * jj + 2 * h], xs[h], ws.x, has_bias, bs.x) : 0.f;
            const float v1 = n + 1 < N ? epilogue_value(result[4 * jj + 2 * h + 1], xs[h], ws.y, has_bias, bs.y) : 0.f;
            Out::store_pair(epi + r * kEpiRowBytes + cl * Out::kBytes, v0, v1);
          }
        }
        bar_sync(1 + c, 128);
        // 2. shared memory -> global: 64 rows x 8 vectors of 16 bytes, coalesced along rows
#pragma unroll
        for (int i = 0; i < (64 * 8) / 128; ++i) {
          const int idx = tid + 128 * i;
          const int r = idx / 8, v = idx % 8;
          const int m = row0 + r;
          const int n = chunk_col0 + v * (16 / Out::kBytes);
          if (m < M && n < N) {
            const unsigned char* src = epi + r * kEpiRowBytes + v * 16;
            unsigned char* dst = static_cast<unsigned char*>(out) + (static_cast<size_t>(m) * N + n) * Out::kBytes;
            if (vec_store) {
              // host guarantees: N * kBytes % 16 == 0 and a 16-byte aligned output, so the vector is
              // entirely inside the row
              *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
            } else {
              for (int e = 0; e < 16 / Out::kBytes && n + e < N; ++e) {
                if (Out::kBytes == 2)
                  reinterpret_cast<unsigned short*>(dst)[e] = reinterpret_cast<const unsigned short*>(src)[e];
                else
                  reinterpret_cast<float*>(dst)[e] = reinterpret_cast<const float*>(src)[e];
              }
            }
          }
        }
        bar_sync(1 + c, 128);
      }
    }
  }
  // A block may not exit while its cluster peer can still arrive on its barriers.
  if (kClusterM == 2) cluster_sync();
}

}  // namespace fp8cuda

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
// kClusterM = 2 (or 4): blocks run in clusters of two (four) that take vertically adjacent tiles (same
// N block). Each block loads its own A tile and 1/kClusterM of the shared B tile, multicast into every
// block's shared memory: for 128x256 tiles and clusters of two, 2/3 of the L2->SM traffic of
// kClusterM = 1. A stage is refilled only when the consumers of every block of the cluster have
// released it (they arrive on every block's empty barrier).
#include "gemm_common.cuh"

namespace fp8cuda {

constexpr int kEpiChunkBytes = 128;       // epilogue column chunk width in bytes
constexpr int kEpiRowBytes = 128 + 16;    // + 16 bytes padding: conflict-free fragment writes
constexpr int kProducerRegs = 40;
constexpr int kConsumerRegs = 232;        // 128 * 40 + 256 * 232 = 64512 <= 65536

// Dynamic shared memory of one block; gemm.py's _smem_bytes repeats this formula.
// BLOCK_M: rows of the A tile of one stage; kNumConsumers: consumer warpgroups (each with its own
// epilogue staging and scale rows). Cooperative: BLOCK_M = 64 * kNumConsumers; ping-pong: 64 and 2.
template <int BLOCK_M, int BLOCK_N, int kNumStages, int kNumConsumers_ = BLOCK_M / 64>
struct SmemLayout {
  static constexpr int kNumConsumers = kNumConsumers_;
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
// (each block's share of the stage's B tile was multicast into all of them).
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

// Epilogue operands of one consumer's 64 x BLOCK_N tile, loaded at the start of the tile and consumed
// after its main loop (their latency hides behind it): x_scale of this thread's two fragment rows, and
// w_scale / bias of columns col0 + 2 tid + {0, 1} (staged in shared memory by store_tile_rows64).
template <int BLOCK_N>
__device__ __forceinline__ void load_epilogue_operands(float (&xs)[2], float (&ws_pre)[2], float (&bias_pre)[2],
                                                       const float* __restrict__ x_scale,
                                                       const float* __restrict__ w_scale,
                                                       const float* __restrict__ bias, int row0, int col0, int M,
                                                       int N, int tid) {
  const int warp = tid / 32, lane = tid % 32;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int m = row0 + warp * 16 + lane / 4 + 8 * h;
    xs[h] = m < M ? x_scale[m] : 0.f;
    const int n = col0 + 2 * tid + h;
    ws_pre[h] = (2 * tid + h < BLOCK_N && n < N) ? w_scale[n] : 0.f;
    bias_pre[h] = (bias != nullptr && 2 * tid + h < BLOCK_N && n < N) ? bias[n] : 0.f;
  }
}

// Epilogue of one consumer warpgroup: rows [row0, row0 + 64), columns [col0, col0 + BLOCK_N) of the
// output from its wgmma fragments `result` (kNumAcc floats, the m64nBLOCK_N fragment layout). Scales and
// bias were loaded by the caller (xs: this thread's two fragment rows; ws_pre / bias_pre: columns
// col0 + 2 tid + {0, 1}); they are staged in shared memory, then each 128-byte column chunk goes
// fragments -> epilogue_value -> padded shared rows -> 16-byte coalesced global stores (masked at M, N).
// `bar_id`: a named barrier of this warpgroup's 128 threads.
template <int BLOCK_N, int kOut>
__device__ __forceinline__ void store_tile_rows64(const float* result, const float (&xs)[2], const float (&ws_pre)[2],
                                                  const float (&bias_pre)[2], float* ws_smem, float* bias_smem,
                                                  unsigned char* epi, u32 bar_id, int row0, int col0, int M, int N,
                                                  bool has_bias, void* __restrict__ out, int vec_store, int tid) {
  using Out = OutTraits<kOut>;
  constexpr int kChunkCols = kEpiChunkBytes / Out::kBytes;
  const int warp = tid / 32, lane = tid % 32;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    if (2 * tid + h < BLOCK_N) {
      ws_smem[2 * tid + h] = ws_pre[h];
      bias_smem[2 * tid + h] = bias_pre[h];
    }
  }
  bar_sync(bar_id, 128);
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
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int r = warp * 16 + lane / 4 + 8 * h;
        const float v0 = n < N ? epilogue_value(result[4 * jj + 2 * h], xs[h], ws.x, has_bias, bs.x) : 0.f;
        const float v1 = n + 1 < N ? epilogue_value(result[4 * jj + 2 * h + 1], xs[h], ws.y, has_bias, bs.y) : 0.f;
        Out::store_pair(epi + r * kEpiRowBytes + cl * Out::kBytes, v0, v1);
      }
    }
    bar_sync(bar_id, 128);
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
    bar_sync(bar_id, 128);
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
  static_assert(kClusterM == 1 || kClusterM == 2 || kClusterM == 4, "clusters of 1, 2 or 4 blocks along M");
  using L = SmemLayout<BLOCK_M, BLOCK_N, kNumStages>;
  using Mma = WgmmaM64K32E4M3<BLOCK_N>;
  constexpr int kNumConsumers = L::kNumConsumers;
  constexpr int kNumAcc = Mma::kNumAcc;

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
            // our share of B (tmap_b's box is BLOCK_N / kClusterM rows), into every block of the cluster
            constexpr int kShare = BLOCK_N / kClusterM;  // rows of B this block loads for the cluster
            tma_load_2d_multicast(smem_b + s * L::kBytesB + cta_rank * kShare * BLOCK_K, &tmap_b, &full_bar[s],
                                  kb * BLOCK_K, nb * BLOCK_N + cta_rank * kShare, (1u << kClusterM) - 1);
          }
        }
      }
    }
  } else {
    // ---------------- consumer warpgroups ----------------
    if (kNumConsumers == 2) setmaxnreg_inc<kConsumerRegs>();
    const int c = wg - 1;
    const int lane = tid % 32;
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
      load_epilogue_operands<BLOCK_N>(xs, ws_pre, bias_pre, x_scale, w_scale, bias, row0, col0, M, N, tid);
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
      store_tile_rows64<BLOCK_N, kOut>(result, xs, ws_pre, bias_pre, ws_smem, bias_smem, epi, 1 + c, row0, col0, M,
                                       N, bias != nullptr, out, vec_store, tid);
    }
  }
  // A block may not exit while its cluster peer can still arrive on its barriers.
  if (kClusterM > 1) cluster_sync();
}

// ------------------------------------------------------------------------------------------------
// Ping-pong schedule: the same producer and stage ring, but each consumer warpgroup owns whole
// 64 x BLOCK_N tiles with its own accumulators. Tiles of a block (persistent order as above) alternate
// between the consumers: local tile i belongs to consumer i % 2; the producer fills the ring in tile
// order, so consumer c finds tile i's K blocks at ring positions i * num_kb .. (i + 1) * num_kb - 1.
// Two named barriers order the main loops (kOrderBar + c: "consumer c may issue its MMAs"): consumer c
// waits on its own before each tile but its first, and after issuing its tile's last wgmma it arrives on
// the other's, then runs its epilogue while the other consumer's wgmmas keep the tensor cores busy.
// Arrivals and waits pair up exactly: the consumer of local tile i waits iff i > 0 and arrives iff
// tile i + 1 exists, so no arrival is left pending at exit.
//   consumer 0: [MMA t0] arrive(1) [epilogue t0] wait(0) [MMA t2] arrive(1) [epilogue t2] ...
//   consumer 1:          wait(1)   [MMA t1]  arrive(0)   [epilogue t1] wait(1) [MMA t3] ...
// Fast accumulation: one m64nBLOCK_N chain per K block (BLOCK_N / 2 accumulator registers).
// Slow accumulation: the tile's columns are split into two m64n(BLOCK_N / 2) chains, issued one after
// the other per K block; while one chain runs, the other's finished 128-K partial sum is added into the
// float32 totals, so a wgmma group is always in flight (BLOCK_N / 2 accumulators + BLOCK_N / 2 totals).
// kClusterM = 2 or 4: the blocks of a cluster take vertically adjacent 64-row tiles and share B as in
// the cooperative kernel; in every block ring position p belongs to the same consumer index, so each
// stage is released by 4 warps of each block.
constexpr u32 kOrderBar = 3;  // named barriers 3 and 4 (0: __syncthreads, 1 and 2: epilogue staging)
constexpr int kSlowUnroll = 4;  // slow accumulation: K blocks per pipeline drain (see the main loop)

template <int BLOCK_N, int kNumStages, int kClusterM, bool kFastAccum, int kOut>
__global__ void __launch_bounds__(384, 1) __cluster_dims__(kClusterM, 1, 1)
    sm90_fp8_gemm_rowwise_pingpong(const __grid_constant__ TmaDesc tmap_a, const __grid_constant__ TmaDesc tmap_b,
                                   const float* __restrict__ x_scale, const float* __restrict__ w_scale,
                                   const float* __restrict__ bias, void* __restrict__ out, int M, int N, int K,
                                   int group_m, int vec_store) {
  constexpr int BLOCK_M = 64;  // rows of one consumer's tile
  static_assert(BLOCK_N % 64 == 0 && BLOCK_N <= 256, "wgmma N and whole epilogue chunks");
  static_assert(kFastAccum || BLOCK_N % 16 == 0, "slow accumulation: two chains of BLOCK_N / 2 (8-row atoms)");
  static_assert(kClusterM == 1 || kClusterM == 2 || kClusterM == 4, "clusters of 1, 2 or 4 blocks along M");
  using L = SmemLayout<BLOCK_M, BLOCK_N, kNumStages, 2>;
  using Mma = WgmmaM64K32E4M3<BLOCK_N>;               // fast: one chain over the whole tile
  using Half = WgmmaM64K32E4M3<BLOCK_N / 2>;          // slow: two chains of half the columns
  constexpr int kNumAcc = Mma::kNumAcc;               // fragments of the 64 x BLOCK_N tile
  constexpr int kHalfAcc = Half::kNumAcc;             // = kNumAcc / 2
  constexpr u32 kHalfB = (BLOCK_N / 2) * BLOCK_K;     // byte offset of the second column half of B

  extern __shared__ unsigned char smem_raw[];
  unsigned char* smem = smem_raw + ((1024 - (smem_u32(smem_raw) & 1023)) & 1023);
  unsigned char* smem_a = smem;
  unsigned char* smem_b = smem + L::kOffB;
  unsigned char* smem_epi = smem + L::kOffEpi;
  float* smem_scale = reinterpret_cast<float*>(smem + L::kOffScale);
  u64* full_bar = reinterpret_cast<u64*>(smem + L::kOffBar);
  u64* empty_bar = full_bar + kNumStages;

  const int wg = threadIdx.x / 128;
  const int tid = threadIdx.x % 128;
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
      mbarrier_init(&full_bar[s], 1);
      mbarrier_init(&empty_bar[s], kClusterM * 4);  // lane 0 of the 4 warps of the stage's consumer, per block
    }
    fence_mbarrier_init();
    fence_proxy_async_shared_cta();
  }
  if (kClusterM == 1) {
    __syncthreads();
  } else {
    cluster_sync();
  }

  if (wg == 0) {
    // ---------------- producer warpgroup: the cooperative kernel's loop with 64-row A boxes ----------------
    setmaxnreg_dec<kProducerRegs>();
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
            constexpr int kShare = BLOCK_N / kClusterM;  // rows of B this block loads for the cluster
            tma_load_2d_multicast(smem_b + s * L::kBytesB + cta_rank * kShare * BLOCK_K, &tmap_b, &full_bar[s],
                                  kb * BLOCK_K, nb * BLOCK_N + cta_rank * kShare, (1u << kClusterM) - 1);
          }
        }
      }
    }
  } else {
    // ---------------- consumer warpgroups: alternate tiles ----------------
    setmaxnreg_inc<kConsumerRegs>();
    const int c = wg - 1;
    const int lane = tid % 32;
    unsigned char* epi = smem_epi + c * 64 * kEpiRowBytes;
    float* ws_smem = smem_scale + c * 2 * BLOCK_N;
    float* bias_smem = ws_smem + BLOCK_N;
    float acc[kFastAccum ? kNumAcc : 1];
    float acc0[kFastAccum ? 1 : kHalfAcc], acc1[kFastAccum ? 1 : kHalfAcc];
    float total[kFastAccum ? 1 : kNumAcc];
    for (int i = c; cluster_id + i * num_clusters < num_tiles; i += 2) {
      const int tile = cluster_id + i * num_clusters;
      const bool has_next = tile + num_clusters < num_tiles;  // the other consumer's next tile exists
      int cm, nb;
      tile_coords(tile, num_m, num_n, group_m, cm, nb);
      const int mb = cm * kClusterM + static_cast<int>(cta_rank);
      const int row0 = mb * BLOCK_M;
      const int col0 = nb * BLOCK_N;
      float xs[2], ws_pre[2], bias_pre[2];
      load_epilogue_operands<BLOCK_N>(xs, ws_pre, bias_pre, x_scale, w_scale, bias, row0, col0, M, N, tid);
      int it = i * num_kb;  // ring position of this tile's first K block
      if (i > 0) bar_sync(kOrderBar + c, 256);  // the other consumer has issued its previous tile's MMAs
      if constexpr (kFastAccum) {
        for (int kb = 0; kb < num_kb; ++kb, ++it) {
          const int s = it % kNumStages;
          mbarrier_wait_parity(&full_bar[s], static_cast<u32>(it / kNumStages) & 1u);
          const u64 desc_a = make_smem_desc_sw128(smem_a + s * L::kBytesA);
          const u64 desc_b = make_smem_desc_sw128(smem_b + s * L::kBytesB);
#pragma unroll
          for (int j = 0; j < kNumAcc; ++j) wgmma_fence_operand(acc[j]);
          wgmma_fence();
#pragma unroll
          for (int kk = 0; kk < BLOCK_K / 32; ++kk) Mma::mma(acc, desc_a + 2 * kk, desc_b + 2 * kk, kb > 0 || kk > 0);
          wgmma_commit_group();
          wgmma_wait_group<1>();  // the previous K block's group has finished reading its stage
#pragma unroll
          for (int j = 0; j < kNumAcc; ++j) wgmma_fence_operand(acc[j]);
          if (kb > 0) release_stage<kClusterM>(&empty_bar[(it + kNumStages - 1) % kNumStages], lane);
        }
        if (has_next) bar_arrive(kOrderBar + (1 - c), 256);  // the last group is still in flight
        wgmma_wait_group<0>();
#pragma unroll
        for (int j = 0; j < kNumAcc; ++j) wgmma_fence_operand(acc[j]);
        release_stage<kClusterM>(&empty_bar[(it + kNumStages - 1) % kNumStages], lane);
      } else {
#pragma unroll
        for (int j = 0; j < kNumAcc; ++j) total[j] = 0.f;
        // chain h of the K block at ring position p: columns [h * BLOCK_N / 2, (h + 1) * BLOCK_N / 2)
        auto issue = [&](float (&d)[kHalfAcc], int p, u32 b_off) {
          const int s = p % kNumStages;
          const u64 desc_a = make_smem_desc_sw128(smem_a + s * L::kBytesA);
          const u64 desc_b = make_smem_desc_sw128(smem_b + s * L::kBytesB + b_off);
#pragma unroll
          for (int j = 0; j < kHalfAcc; ++j) wgmma_fence_operand(d[j]);
          wgmma_fence();
#pragma unroll
          for (int kk = 0; kk < BLOCK_K / 32; ++kk) Half::mma(d, desc_a + 2 * kk, desc_b + 2 * kk, kk > 0);
          wgmma_commit_group();
        };
        auto promote = [&](float (&d)[kHalfAcc], int off) {
#pragma unroll
          for (int j = 0; j < kHalfAcc; ++j) wgmma_fence_operand(d[j]);
#pragma unroll
          for (int j = 0; j < kHalfAcc; ++j) total[off + j] += d[j];  // one float32 promotion per 128 K
        };
        // ptxas tracks which wgmma groups may be pending only within straight-line code: reading a
        // chain's accumulators after a loop back-edge while a group is in flight makes it serialize
        // every wgmma (C7514). So the pipeline drains once per kSlowUnroll K blocks, at the back-edge:
        //   first(p):  chain 0(p), chain 1(p); wait 1; promote chain 0           (chain 1 in flight)
        //   next(p):   chain 0(p); wait 1; release p - 1; promote chain 1 (p - 1); chain 1(p); wait 1;
        //              promote chain 0                                             (chain 1 in flight)
        //   finish(p): wait 0; release p; promote chain 1
        auto first = [&](int p) {
          mbarrier_wait_parity(&full_bar[p % kNumStages], static_cast<u32>(p / kNumStages) & 1u);
          issue(acc0, p, 0);
          issue(acc1, p, kHalfB);
          wgmma_wait_group<1>();
          promote(acc0, 0);
        };
        auto next = [&](int p) {
          mbarrier_wait_parity(&full_bar[p % kNumStages], static_cast<u32>(p / kNumStages) & 1u);
          issue(acc0, p, 0);
          wgmma_wait_group<1>();
          release_stage<kClusterM>(&empty_bar[(p + kNumStages - 1) % kNumStages], lane);
          promote(acc1, kHalfAcc);
          issue(acc1, p, kHalfB);
          wgmma_wait_group<1>();
          promote(acc0, 0);
        };
        auto finish = [&](int p, bool last) {
          if (last && has_next) bar_arrive(kOrderBar + (1 - c), 256);  // chain 1 of the last K block in flight
          wgmma_wait_group<0>();
          release_stage<kClusterM>(&empty_bar[p % kNumStages], lane);
          promote(acc1, kHalfAcc);
        };
        int kb = 0;
        for (; kb + kSlowUnroll <= num_kb; kb += kSlowUnroll, it += kSlowUnroll) {
          first(it);
#pragma unroll
          for (int u = 1; u < kSlowUnroll; ++u) next(it + u);
          finish(it + kSlowUnroll - 1, kb + kSlowUnroll == num_kb);
        }
        for (; kb < num_kb; ++kb, ++it) {  // K blocks left over (num_kb % kSlowUnroll)
          first(it);
          finish(it, kb + 1 == num_kb);
        }
      }
      // ---- epilogue (overlaps the other consumer's main loop) ----
      if (row0 >= M) continue;  // uniform in the warpgroup
      // fast: acc is the m64nBLOCK_N fragment; slow: total is [chain 0 fragments | chain 1 fragments],
      // and chain 1's n8 block j is the tile's n8 block BLOCK_N / 16 + j, i.e. fragment index
      // 4 * (BLOCK_N / 16 + j) + r = kHalfAcc + 4 j + r: the same layout as one m64nBLOCK_N fragment.
      store_tile_rows64<BLOCK_N, kOut>(kFastAccum ? acc : total, xs, ws_pre, bias_pre, ws_smem, bias_smem, epi,
                                       1 + c, row0, col0, M, N, bias != nullptr, out, vec_store, tid);
    }
  }
  if (kClusterM > 1) cluster_sync();
}

}  // namespace fp8cuda

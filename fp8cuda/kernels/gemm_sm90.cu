// FP8 (e4m3fn) row-wise scaled GEMM for sm_90a: TMA + mbarrier pipeline + WGMMA, persistent grid.
//
//   y[m, n] = round_out(((acc[m, n] * x_scale[m]) * w_scale[n]) + bias[n]),
//   acc[m, n] = sum_k decode(xq[m, k]) * decode(wq[n, k])          (fp8ref.gemm.f8f8bf16_rowwise)
//
// xq: [M, K] codes, wq: [N, K] codes, both K-major; K % 16 == 0 (TMA: 16-byte row strides).
//
// Block = 1 producer warpgroup + 1 or 2 consumer warpgroups (gemm_sm90_pipeline.cuh: ring and main loops;
// gemm_sm90_epilogue.cuh: the epilogue).
//   producer (one thread): for each tile, for each 128-wide K block: wait until stage s is empty,
//     announce the stage's bytes on full[s], TMA-load A[BLOCK_M x 128] and B[BLOCK_N x 128] into it
//     (128-byte swizzle; out-of-range rows and K are zero-filled by the copy engine).
//   consumers, cooperative schedule: consumer c owns rows [64c, 64c + 64) of every tile. For each K block:
//     wait full[s], issue 4 wgmma m64nBLOCK_Nk32 (A and B from shared memory), release the stage on
//     empty[s] once the wgmma that read it has completed. Fast accumulation keeps one wgmma group in
//     flight across K blocks and accumulates all of K in the wgmma accumulators; slow accumulation
//     restarts the wgmma accumulators every K block (128 K) and adds them to float32 registers.
//   epilogue (each consumer for its 64 rows): scale, bias, one rounding, staged through shared memory in
//     128-byte column chunks, written with 16-byte coalesced stores, masked at the M and N edges. With fast
//     accumulation and a 16-bit output, each chunk leaves shared memory through a TMA store and the last
//     chunks wait in registers until the next tile's first K blocks (deferred epilogue), so the tensor cores
//     idle less between tiles.
//   consumers, ping-pong schedule: each consumer owns whole tiles, alternating with the other, and runs its
//     epilogue while the other's wgmmas run (see sm90_fp8_gemm_rowwise_pingpong).
//   consumers, overlapped cooperative schedule (gemm_sm90_halves.cuh): the cooperative split of 128 x 256
//     tiles as two m64n128 column halves, finished one after the other at the tile switch so the next
//     tile's wgmmas start under the epilogue (fast accumulation, 16-bit output, K > 256).
// Tiles are visited in a grouped order (group_m tile rows at a time) for L2 reuse; a persistent grid
// of at most one block per SM strides over them.
//
// kClusterM = 2 (or 4): blocks run in clusters of two (four) that take vertically adjacent tiles (same
// N block). Each block loads its own A tile and 1/kClusterM of the shared B tile, multicast into every
// block's shared memory: for 128x256 tiles and clusters of two, 2/3 of the L2->SM traffic of
// kClusterM = 1. A stage is refilled only when the consumers of every block of the cluster have
// released it (they arrive on every block's empty barrier).
#include "gemm_sm90_block.cuh"
#include "gemm_sm90_halves.cuh"

namespace fp8cuda {

// ------------------------------------------------------------------------------------------------
// Cooperative schedule: both consumer warpgroups work on the same BLOCK_M x BLOCK_N tile, 64 rows each,
// one m64nBLOCK_N accumulator chain per consumer.
// tmap_out: TMA store map of a 16-bit output (gemm.py _out_tensor_map), used by the deferred epilogue;
// any bytes when the launch does not defer (vec_store == 0, float32 output, slow accumulation, one consumer).
template <int BLOCK_M, int BLOCK_N, int kNumStages, int kClusterM, bool kFastAccum, int kOut>
__global__ void __launch_bounds__(128 * (1 + BLOCK_M / 64), 1) __cluster_dims__(kClusterM, 1, 1)
    sm90_fp8_gemm_rowwise(const __grid_constant__ TmaDesc tmap_a, const __grid_constant__ TmaDesc tmap_b,
                          const float* __restrict__ x_scale, const float* __restrict__ w_scale,
                          const float* __restrict__ bias, void* __restrict__ out, int M, int N, int K, int group_m,
                          int vec_store, const __grid_constant__ TmaDesc tmap_out) {
  static_assert(BLOCK_M == 64 || BLOCK_M == 128, "one or two consumer warpgroups of 64 rows");
  static_assert(BLOCK_N % 64 == 0 && BLOCK_N <= 256, "wgmma N and whole epilogue chunks");
  static_assert(kFastAccum || BLOCK_N <= 192, "slow accumulation: BLOCK_N / 2 accumulators + BLOCK_N / 2 totals");
  static_assert(kClusterM == 1 || kClusterM == 2 || kClusterM == 4, "clusters of 1, 2 or 4 blocks along M");
  using L = SmemLayout<BLOCK_M, BLOCK_N, kNumStages>;
  using Mma = WgmmaM64K32E4M3<BLOCK_N>;
  constexpr int kNumConsumers = L::kNumConsumers;
  // Deferred epilogue: fast accumulation, 16-bit output, two consumers (setmaxnreg's 232 registers).
  // Registers bound the deferred chunks: 3 x 16 on top of 128 accumulators (4 spill and gain nothing, v8, v12).
  constexpr bool kDeferEpilogue = kFastAccum && OutTraits<kOut>::kBytes == 2 && kNumConsumers == 2;
  constexpr int kChunks = BLOCK_N * 2 / kEpiChunkBytes;  // 128-byte column chunks of a 16-bit output tile row
  constexpr int kDeferChunks = kChunks < 3 ? kChunks : 3;
  constexpr int kFirst = kChunks - kDeferChunks;          // chunks stored at the end of the tile
  // TMA stores stage a chunk in the first 8 KB of the consumer's staging rows, 1024-byte aligned
  static_assert(L::kOffEpi % 1024 == 0 && 64 * kEpiRowBytes % 1024 == 0, "128-byte swizzle atoms");

#ifdef FP8CUDA_GEMM_TRACE
  unsigned* const trace = reinterpret_cast<unsigned*>(const_cast<float*>(bias));  // experiment: bias carries it
  bias = nullptr;
#endif
  extern __shared__ unsigned char smem_raw[];
  GemmBlock<L, BLOCK_M, BLOCK_N, kClusterM> blk(smem_raw, M, N, K);
  blk.init(&tmap_a, &tmap_b, kClusterM * kNumConsumers * 4);
  const int wg = warpgroup_index();
  const int tid = threadIdx.x % 128;

  if (wg == 0) {
    if (kNumConsumers == 2) setmaxnreg_dec<kProducerRegs>();
#ifdef FP8CUDA_GEMM_TRACE
    if (tid == 0) blk.produce(&tmap_a, &tmap_b, group_m, trace);
#else
    if (tid == 0) blk.produce(&tmap_a, &tmap_b, group_m);
#endif
  } else {
    if (kNumConsumers == 2) setmaxnreg_inc<kConsumerRegs>();
    const int c = wg - 1;
    const StageRing<L, kClusterM> ring{blk.smem_a, blk.smem_b, blk.full_bar, blk.empty_bar, tid % 32
#ifdef FP8CUDA_GEMM_TRACE
                                       , trace
#endif
    };
    unsigned char* epi = blk.smem_epi + c * 64 * kEpiRowBytes;
    float* ws_smem = blk.smem_scale + c * L::kScaleFloats;  // this consumer's w_scale[col0..], bias[col0..],
    float* bias_smem = ws_smem + BLOCK_N;                       // x_scale[row0..]
    float* xs_smem = bias_smem + BLOCK_N;
    const u32 rows = c * 64 * BLOCK_K;  // this consumer's rows of the A tile
    float acc[1][Mma::kNumAcc];
    float total[kFastAccum ? 1 : Mma::kNumAcc];
    // Deferred epilogue (fast accumulation, 16-bit output, vec_store: 16-byte row stride and alignment, as
    // TMA needs): of the finished tile's output, rounded and packed, the first kChunks - kDeferChunks 128-byte
    // column chunks are stored at once and the last kDeferChunks stay in registers; K block q < kDeferChunks
    // of the next tile stores deferred chunk q while its wgmma group runs (pend_row0 < 0: nothing pending).
    // Each chunk leaves through a TMA store (store_packed_chunk_tma), so no consumer thread waits for global
    // writes. Registers bound kDeferChunks: 16 per chunk on top of the accumulators.
    const bool defer = kDeferEpilogue && vec_store;
    u32 packed[kDeferEpilogue ? 16 * kDeferChunks : 1];
    int pend_row0 = -1, pend_col0 = 0;
    auto store_pending = [&](int from, int to) {  // deferred chunks [from, to)
      if constexpr (kDeferEpilogue) {
#pragma unroll
        for (int q = 0; q < kDeferChunks; ++q) {
          if (q >= from && q < to)
            store_packed_chunk_tma(packed + 16 * q, pend_col0 + (kFirst + q) * 64, epi, 1 + c, &tmap_out, pend_row0, N,
                                   tid);
        }
      }
    };
    int it = 0;
    for (int tile = blk.cluster_id; tile < blk.num_tiles; tile += blk.num_clusters, it += blk.num_kb) {
      int nb;
      const int row0 = blk.block_row(tile, group_m, nb) * BLOCK_M + c * 64;
      const int col0 = nb * BLOCK_N;
      // The scales and bias go to shared memory once nobody reads the previous tile's: after its epilogue
      // (which ends in a warpgroup barrier), or after the first deferred chunk store (its barriers follow
      // every thread's pack_tile_rows64).
      auto fetch = [&] {
        fetch_epilogue_operands<BLOCK_N>(ws_smem, bias_smem, xs_smem, x_scale, w_scale, bias, row0, col0, M, N, tid);
      };
      if constexpr (kFastAccum) {
        const u32 a_off[1] = {rows}, b_off[1] = {0u};
        auto after_issue = [&](int kb) {
          if (pend_row0 >= 0 && kb < kDeferChunks) store_pending(kb, kb + 1);
          if (kb == 0) fetch();
        };
        mainloop_fast<Mma, 1>(acc, ring, a_off, b_off, it, blk.num_kb, after_issue, [] {});
      } else {
        // Slow accumulation: each K block's group restarts the accumulators and is drained before its
        // promotion into the float32 totals; the other consumer's wgmmas keep the tensor cores busy meanwhile
        // (measured faster here than mainloop_slow's two half-width chains, v7 in notes-gemm.md).
        fetch();
        mainloop_slow_drained<Mma>(total, acc[0], ring, rows, it, blk.num_kb);
      }
      // ---- epilogue: rows [row0, row0 + 64) of this consumer, columns [col0, col0 + BLOCK_N) ----
      if (pend_row0 >= 0) store_pending(blk.num_kb, kDeferChunks);  // fewer K blocks than deferred chunks
      pend_row0 = -1;
      if (row0 >= M) continue;  // uniform in the warpgroup
      cp_async_wait_all();
      bar_sync(1 + c, 128);  // every thread's operand copies have landed
      const int r = (tid / 32) * 16 + (tid % 32) / 4;  // this thread's fragment rows: r, r + 8
      const float xs[2] = {xs_smem[r], xs_smem[r + 8]};
      if (defer) {
        if constexpr (kDeferEpilogue) {
          u32 all[BLOCK_N / 4];
          pack_tile_rows64<BLOCK_N, kOut>(all, acc[0], xs, ws_smem, bias_smem, col0, N, bias != nullptr, tid);
#pragma unroll
          for (int q = 0; q < kFirst; ++q)
            store_packed_chunk_tma(all + 16 * q, col0 + 64 * q, epi, 1 + c, &tmap_out, row0, N, tid);
#pragma unroll
          for (int j = 0; j < 16 * kDeferChunks; ++j) packed[j] = all[16 * kFirst + j];
        }
        pend_row0 = row0;
        pend_col0 = col0;
      } else {
        store_staged_rows64<BLOCK_N, kOut>(kFastAccum ? acc[0] : total, xs, ws_smem, bias_smem, epi, 1 + c, row0,
                                           col0, M, N, bias != nullptr, out, vec_store, tid);
      }
    }
    if (pend_row0 >= 0) store_pending(0, kDeferChunks);
    if (kDeferEpilogue && defer && tid == 0) bulk_wait_group<0>();  // the staging buffer outlives its reads
  }
  blk.finish();
}

// ------------------------------------------------------------------------------------------------
// Ping-pong schedule: the same producer and stage ring, but each consumer warpgroup owns whole
// BLOCK_M x BLOCK_N tiles (BLOCK_M = 64 or 128) with its own accumulators. Tiles of a block (persistent
// order as above) alternate between the consumers: local tile i belongs to consumer i % 2; the producer
// fills the ring in tile order, so consumer c finds tile i's K blocks at ring positions
// i * num_kb .. (i + 1) * num_kb - 1.
// Two named barriers order the main loops (kOrderBar + c: "consumer c may issue its MMAs"): consumer c
// waits on its own before each tile but its first, and after issuing its tile's last wgmma it arrives on
// the other's, then runs its epilogue while the other consumer's wgmmas keep the tensor cores busy.
// Arrivals and waits pair up exactly: the consumer of local tile i waits iff i > 0 and arrives iff
// tile i + 1 exists, so no arrival is left pending at exit.
//   consumer 0: [MMA t0] arrive(1) [epilogue t0] wait(0) [MMA t2] arrive(1) [epilogue t2] ...
//   consumer 1:          wait(1)   [MMA t1]  arrive(0)   [epilogue t1] wait(1) [MMA t3] ...
// Chains (see gemm_sm90_pipeline.cuh): BLOCK_M = 64: fast one m64nBLOCK_N chain, slow two column halves;
// BLOCK_M = 128: two m64nBLOCK_N chains (row halves) in both modes, so consecutive wgmmas are independent.
// kClusterM = 2 or 4: the blocks of a cluster take vertically adjacent tiles and share B as in the
// cooperative kernel; in every block ring position p belongs to the same consumer index, so each stage
// is released by 4 warps of each block.
constexpr u32 kOrderBar = 3;  // named barriers 3 and 4 (0: __syncthreads, 1 and 2: epilogue staging)

template <int BLOCK_M, int BLOCK_N, int kNumStages, int kClusterM, bool kFastAccum, int kOut>
__global__ void __launch_bounds__(384, 1) __cluster_dims__(kClusterM, 1, 1)
    sm90_fp8_gemm_rowwise_pingpong(const __grid_constant__ TmaDesc tmap_a, const __grid_constant__ TmaDesc tmap_b,
                                   const float* __restrict__ x_scale, const float* __restrict__ w_scale,
                                   const float* __restrict__ bias, void* __restrict__ out, int M, int N, int K,
                                   int group_m, int vec_store) {
  static_assert(BLOCK_M == 64 || BLOCK_M == 128, "rows of one consumer's tile");
  static_assert(BLOCK_N % 64 == 0 && BLOCK_N <= 256, "wgmma N and whole epilogue chunks");
  static_assert(kClusterM == 1 || kClusterM == 2 || kClusterM == 4, "clusters of 1, 2 or 4 blocks along M");
  constexpr bool kRowChains = BLOCK_M == 128;
  constexpr int kChains = (kFastAccum && !kRowChains) ? 1 : 2;
  using Chain = WgmmaM64K32E4M3<(kRowChains || kFastAccum) ? BLOCK_N : BLOCK_N / 2>;
  constexpr int kChainAcc = Chain::kNumAcc;
  static_assert(kChains * kChainAcc * (kFastAccum ? 1 : 2) <= 192, "accumulators (+ float32 totals) <= 192 registers");
  static_assert(!kRowChains || BLOCK_N <= 128, "two m64nBLOCK_N chains: 128 x 192 spills (gemm.py rejects it)");
  using L = SmemLayout<BLOCK_M, BLOCK_N, kNumStages, 2>;

  extern __shared__ unsigned char smem_raw[];
  GemmBlock<L, BLOCK_M, BLOCK_N, kClusterM> blk(smem_raw, M, N, K);
  blk.init(&tmap_a, &tmap_b, kClusterM * 4);  // lane 0 of the 4 warps of the stage's consumer, per block
  const int wg = warpgroup_index();
  const int tid = threadIdx.x % 128;

  if (wg == 0) {
    setmaxnreg_dec<kProducerRegs>();
    if (tid == 0) blk.produce(&tmap_a, &tmap_b, group_m);
  } else {
    setmaxnreg_inc<kConsumerRegs>();
    const int c = wg - 1;
    const StageRing<L, kClusterM> ring{blk.smem_a, blk.smem_b, blk.full_bar, blk.empty_bar, tid % 32};
    unsigned char* epi = blk.smem_epi + c * 64 * kEpiRowBytes;
    float* ws_smem = blk.smem_scale + c * L::kScaleFloats;
    float* bias_smem = ws_smem + BLOCK_N;
    u32 a_off[kChains], b_off[kChains];
#pragma unroll
    for (int h = 0; h < kChains; ++h) {
      a_off[h] = kRowChains ? h * 64 * BLOCK_K : 0u;
      b_off[h] = kRowChains ? 0u : h * (BLOCK_N / 2) * BLOCK_K;
    }
    float acc[kFastAccum ? kChains : 1][kFastAccum ? kChainAcc : 1];
    float acc0[kFastAccum ? 1 : kChainAcc], acc1[kFastAccum ? 1 : kChainAcc];
    float total[kFastAccum ? 1 : 2 * kChainAcc];
    for (int i = c; blk.cluster_id + i * blk.num_clusters < blk.num_tiles; i += 2) {
      const int tile = blk.cluster_id + i * blk.num_clusters;
      const bool has_next = tile + blk.num_clusters < blk.num_tiles;  // the other consumer's next tile exists
      int nb;
      const int row0 = blk.block_row(tile, group_m, nb) * BLOCK_M;
      const int col0 = nb * BLOCK_N;
      float xs[BLOCK_M / 64][2], ws_pre[2], bias_pre[2];
      load_epilogue_operands<BLOCK_N, BLOCK_M / 64>(xs, ws_pre, bias_pre, x_scale, w_scale, bias, row0, col0, M, N,
                                                    tid);
      if (i > 0) bar_sync(kOrderBar + c, 256);  // the other consumer has issued its previous tile's MMAs
      auto hand_over = [&] {
        if (has_next) bar_arrive(kOrderBar + (1 - c), 256);  // our last group is still in flight
      };
      if constexpr (kFastAccum) {
        mainloop_fast<Chain, kChains>(acc, ring, a_off, b_off, i * blk.num_kb, blk.num_kb, [](int) {}, hand_over);
      } else {
        mainloop_slow<Chain>(total, acc0, acc1, ring, a_off, b_off, i * blk.num_kb, blk.num_kb, hand_over);
      }
      // ---- epilogue, per 64-row half (overlaps the other consumer's main loop) ----
      // fast: chain r (row chains) or chain 0; slow: total = [chain 0 | chain 1], i.e. the row halves'
      // fragments (row chains) or one m64nBLOCK_N fragment (column halves).
#pragma unroll
      for (int r = 0; r < BLOCK_M / 64; ++r) {
        if (row0 + 64 * r < M) {  // uniform in the warpgroup
          const float* result = kFastAccum ? acc[kRowChains ? r : 0] : total + (kRowChains ? r * kChainAcc : 0);
          store_tile_rows64<BLOCK_N, kOut>(result, xs[r], ws_pre, bias_pre, ws_smem, bias_smem, epi, 1 + c,
                                           row0 + 64 * r, col0, M, N, bias != nullptr, out, vec_store, tid);
        }
      }
    }
  }
  blk.finish();
}

}  // namespace fp8cuda

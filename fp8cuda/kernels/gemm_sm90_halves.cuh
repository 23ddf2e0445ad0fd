// The overlapped cooperative GEMM kernel (128 x 256 tiles switched by column halves), one of the schedules of
// gemm_sm90.cu (that file's header describes the pipeline it shares).
#pragma once
#include "gemm_sm90_block.cuh"

namespace fp8cuda {

// ------------------------------------------------------------------------------------------------
// Overlapped cooperative schedule, 128 x 256 tiles switched by column halves (fast accumulation, 16-bit output
// through TMA stores, K > 256): consumer c owns rows 64c .. 64c + 63 of every tile as two m64n128 accumulator
// chains, L (columns 0 .. 127) and R (128 .. 255); a K block is one wgmma group of both. At the tile switch the
// halves are finished one after the other, so the next tile's wgmmas start before the whole epilogue is done
// (registers hold one set of accumulators):
//   last K block of tile t: group L(t), group R(t); wait for L(t); pack L(t)                  (under R(t))
//   issue L(t+1, K block 0); store L(t) (chunks 0, 1)                                 (under R(t), L(t+1))
//   wait for all; R(t) * x_scale into other registers                             (the tensor cores idle)
//   issue R(t+1, K block 0); finish and pack R(t); issue t+1's K block 1             (under R(t+1), ...)
//   K blocks 2 and 3 of t+1: store R(t) (chunks 2, 3); after the first, both consumers fetch t+1's scales
// ptxas proves reads of accumulators safe while other wgmma groups run only in some program shapes, and
// otherwise serializes every wgmma of the kernel (C7514, C7518; scripts/ptxas_wgmma_rule_probe.py, notes
// v14, v17). Here: the last K block is peeled; L(t) is read right after the wait that retires it; R(t)
// only after a full drain (with L(t+1) pending, in this loop shape, ptxas cannot tell); accumulators are read
// in uniform, branch-free code (bias or not is a template argument of the consumer loop; columns past N are
// packed like the others, from zero-filled w_scale, and clipped by the TMA store); and the tile loop is left
// only through the last tile's drain.
template <bool B>
struct BoolConst {
  static constexpr bool value = B;
};

template <int kNumStages, int kClusterM, int kOut>
__global__ void __launch_bounds__(384, 1) __cluster_dims__(kClusterM, 1, 1)
    sm90_fp8_gemm_rowwise_halves(const __grid_constant__ TmaDesc tmap_a, const __grid_constant__ TmaDesc tmap_b,
                                 const float* __restrict__ x_scale, const float* __restrict__ w_scale,
                                 const float* __restrict__ bias, int M, int N, int K, int group_m,
                                 const __grid_constant__ TmaDesc tmap_out) {
  constexpr int BLOCK_N = 256, kHalf = 128;
  static_assert(kClusterM == 1 || kClusterM == 2 || kClusterM == 4, "clusters of 1, 2 or 4 blocks along M");
  static_assert(OutTraits<kOut>::kBytes == 2, "16-bit output (TMA stores of 64 x 64 boxes)");
  // two 8 KB staging chunks per consumer; w_scale / bias shared by the consumers (this fits 4 stages)
  using L = SmemLayout<128, BLOCK_N, kNumStages, 2, 2 * 64 * kEpiChunkBytes, true>;
  using Half = WgmmaM64K32E4M3<kHalf>;
  constexpr int kAcc = Half::kNumAcc;
  constexpr u32 kBothBar = 3;  // named barrier of both consumers (256 threads): the shared column scales
  static_assert(L::kOffEpi % 1024 == 0 && L::kEpiBytes % 1024 == 0, "128-byte swizzle atoms");

#ifdef FP8CUDA_GEMM_TRACE
  unsigned* const trace = reinterpret_cast<unsigned*>(const_cast<float*>(bias));  // experiment: bias carries it
  bias = nullptr;
#endif
  extern __shared__ __align__(1024) unsigned char smem_aligned[];
  // the layout has no alignment slack: the launch must give an aligned base and the layout's bytes (gemm.py)
  if (smem_u32(smem_aligned) % 1024 != 0 || dynamic_smem_size() < L::kTotal) __trap();
  GemmBlock<L, 128, BLOCK_N, kClusterM> blk(smem_aligned, M, N, K);
  blk.init(&tmap_a, &tmap_b, kClusterM * 2 * 4);
  const int wg = warpgroup_index();
  const int tid = threadIdx.x % 128;

  if (wg == 0) {
    setmaxnreg_dec<kProducerRegs>();
#ifdef FP8CUDA_GEMM_TRACE
    if (tid == 0) blk.produce(&tmap_a, &tmap_b, group_m, trace);
#else
    if (tid == 0) blk.produce(&tmap_a, &tmap_b, group_m);
#endif
    blk.finish();
    return;
  }
  setmaxnreg_inc<kConsumerRegs>();
  const int c = wg - 1;
  const StageRing<L, kClusterM> ring{blk.smem_a, blk.smem_b, blk.full_bar, blk.empty_bar, tid % 32
#ifdef FP8CUDA_GEMM_TRACE
                                     , trace
#endif
  };
  unsigned char* epi = blk.smem_epi + c * L::kEpiBytes;  // chunk buffers: epi, epi + 8 KB
  float* ws_smem = blk.smem_scale;                        // w_scale[col0..], bias[col0..]: both consumers
  float* bias_smem = ws_smem + BLOCK_N;
  float* xs_smem = bias_smem + BLOCK_N + 64 * c;          // x_scale[row0..] of this consumer's rows
  const u32 rows = c * 64 * BLOCK_K;    // this consumer's rows of the A tile
  const u32 right = kHalf * BLOCK_K;    // B rows of the R half
  const int num_kb = blk.num_kb;        // >= 3
  const int r = (tid / 32) * 16 + (tid % 32) / 4;  // this thread's fragment rows: r, r + 8
  float acc[2 * kAcc];                  // [L | R]: the m64n256 fragment's layout
  float (&accL)[kAcc] = *reinterpret_cast<float (*)[kAcc]>(acc);
  float (&accR)[kAcc] = *reinterpret_cast<float (*)[kAcc]>(acc + kAcc);
  u32 packL[kHalf / 4], packR[kHalf / 4];  // a half of the tile row, rounded and packed (2 chunks each)

  auto settle = [](float* d, int n) {
#pragma unroll
    for (int j = 0; j < n; ++j) wgmma_fence_operand(d[j]);
  };
  // Experiment builds (scripts/gemm_trace.py): clocks of the tile switch's steps, event e of the block's i-th tile
  // switch in the trace's upper half (positions kTraceStride / 2 + 8 i + e).
  auto mark = [&](int it, int e) {
#ifdef FP8CUDA_GEMM_TRACE
    const int i = it / num_kb;
    if (trace != nullptr && threadIdx.x == 128 && i < kTraceStride / 16) {
      const long long t = clock64();
      trace[2 * (static_cast<size_t>(blockIdx.x) * kTraceStride + kTraceStride / 2 + 8 * i + e) + 1] =
          static_cast<unsigned>(t);
    }
#endif
  };
  auto issue_half = [&](float (&d)[kAcc], int p, u32 b_off, bool first, bool wait) {  // one group
    if (wait) ring.wait_full(p);
    const u64 da = ring.desc_a(p, rows), db = ring.desc_b(p, b_off);
    settle(d, kAcc);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < BLOCK_K / 32; ++kk) Half::mma(d, da + 2 * kk, db + 2 * kk, !first || kk > 0);
    wgmma_commit_group();
  };
  // K block p, both halves, as one group. (m64n256 wgmmas on [L | R] here and m64n128 ones on L and R at the
  // switch make ptxas serialize every wgmma for lack of registers, C7511; so the halves are two chains throughout.)
  auto issue_block = [&](int p, bool first) {
    ring.wait_full(p);
    const u64 da = ring.desc_a(p, rows), dl = ring.desc_b(p, 0), dr = ring.desc_b(p, right);
    settle(acc, 2 * kAcc);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < BLOCK_K / 32; ++kk) {
      Half::mma(accL, da + 2 * kk, dl + 2 * kk, !first || kk > 0);
      Half::mma(accR, da + 2 * kk, dr + 2 * kk, !first || kk > 0);
    }
    wgmma_commit_group();
  };
  // The same for the main loop, with stage st and parity given (advanced without dividing) and 32-bit
  // descriptors: 115 -> 83 instructions per K block with warpgroup_index (NVRTC 13.0, notes-gemm.md v24).
  const u32 a0 = smem_u32(ring.smem_a) + rows, b0 = smem_u32(ring.smem_b);
  auto issue_block_at = [&](int p, int st, u32 parity) {
    ring.wait_full(p, st, parity);
    const u32 da = sw128_desc_lo(a0 + st * L::kBytesA), dl = sw128_desc_lo(b0 + st * L::kBytesB);
    const u32 dr = sw128_desc_lo(b0 + st * L::kBytesB + right);
    settle(acc, 2 * kAcc);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < BLOCK_K / 32; ++kk) {
      Half::mma(accL, sw128_desc(da + 2u * kk), sw128_desc(dl + 2u * kk), true);
      Half::mma(accR, sw128_desc(da + 2u * kk), sw128_desc(dr + 2u * kk), true);
    }
    wgmma_commit_group();
  };
  auto coords = [&](int tile, int& row0, int& col0) {
    int nb;
    row0 = blk.block_row(tile, group_m, nb) * 128 + c * 64;
    col0 = nb * BLOCK_N;
  };
  // each consumer copies x_scale of its rows and half of the tile's w_scale / bias (columns 128c ..)
  auto fetch = [&](int row0, int col0) {
    fetch_epilogue_operands<BLOCK_N, 2>(ws_smem, bias_smem, xs_smem, x_scale, w_scale, bias, row0, col0, M, N, tid, c);
  };
  // Chunks 0 and 1 (packL) in one staging pass, one chunk each in buffers 0 and 1; chunk 2 (3) from packR's
  // first (second) 16 words into buffer 0 (1). Constant offsets keep the packed words in registers.
  auto store_left = [&](int row0, int col0) {
    store_packed_chunks_tma<2>(packL, col0, epi, 1 + c, &tmap_out, row0, N, tid);
  };
  auto store_chunk2 = [&](int row0, int col0) {
    store_packed_chunk_tma(packR, col0 + kHalf, epi, 1 + c, &tmap_out, row0, N, tid);
  };
  auto store_chunk3 = [&](int row0, int col0) {
    store_packed_chunk_tma(packR + 16, col0 + kHalf + 64, epi + 64 * kEpiChunkBytes, 1 + c, &tmap_out, row0, N, tid);
  };

  auto consume = [&](auto bias_c) {
    constexpr bool kBias = decltype(bias_c)::value;
    auto pack = [&](u32 (&out)[kHalf / 4], const float (&d)[kAcc], int h, int col0) {  // epilogue of half h
      const float xs[2] = {xs_smem[r], xs_smem[r + 8]};
      pack_tile_rows64_impl<kHalf, kOut, true, kBias>(out, d, xs, ws_smem + h * kHalf, bias_smem + h * kHalf,
                                                     col0 + h * kHalf, N, tid);
    };
    auto pack_scaled = [&](u32 (&out)[kHalf / 4], const float (&t)[kAcc], int h, int col0) {  // t = d * x_scale
      const float unused[2] = {0.f, 0.f};
      pack_tile_rows64_impl<kHalf, kOut, true, kBias, true>(out, t, unused, ws_smem + h * kHalf,
                                                           bias_smem + h * kHalf, col0 + h * kHalf, N, tid);
    };
    int tile = blk.cluster_id, it = 0;  // it: ring position of the tile's K block 0
    if (tile >= blk.num_tiles) return;
    int row0, col0;
    coords(tile, row0, col0);
    fetch(row0, col0);
    issue_block(0, true);
    issue_block(1, false);
    bool chunks_pending = false;  // the previous tile's chunks 2, 3 wait in packR (rows pend_row0 ..)
    bool fetch_pending = false;   // this tile's scales are still to be fetched (after the previous tile's reads)
    int pend_row0 = 0, pend_col0 = 0;
    for (;;) {
      // At the top: K blocks 0 and 1 issued (two groups in flight). K blocks 2 .. last - 1; the first wait
      // also retires K block 0, whose stage is released with K block 1's.
      auto after_issue = [&](int kb) {
        if (kb == 2) {
          if (chunks_pending) store_chunk2(pend_row0, pend_col0);
          if (fetch_pending) {
            bar_sync(kBothBar, 256);  // both consumers have packed the previous tile: its scales are dead
            fetch(row0, col0);
          }
        }
        if (kb == 3 && chunks_pending) store_chunk3(pend_row0, pend_col0);
      };
      int kb = 2;
      {
        int st = (it + 2) % L::kStages, prev = (it + 1) % L::kStages;
        u32 parity = static_cast<u32>((it + 2) / L::kStages) & 1u;
        for (; kb < num_kb - 1; ++kb) {
          issue_block_at(it + kb, st, parity);
          after_issue(kb);
          wgmma_wait_group<1>();
          settle(acc, 2 * kAcc);
          if (kb == 2) ring.release(it);
          ring.release_stage_index(prev);
          prev = st;
          if (++st == L::kStages) {
            st = 0;
            parity ^= 1u;
          }
        }
      }
      for (int q = kb; q <= 3; ++q) after_issue(q);  // what K blocks 2 and 3 did not do (short K)
      chunks_pending = fetch_pending = false;
      const int next = tile + blk.num_clusters;
      int next_row0 = 0, next_col0 = 0;
      if (next < blk.num_tiles) coords(next, next_row0, next_col0);  // off the tile switch's path
      cp_async_wait_all();
      bar_sync(kBothBar, 256);  // both consumers' epilogue operand copies have landed
      // the last K block, as two groups
      const int p = it + num_kb - 1;
      ring.wait_full(p);
      issue_half(accL, p, 0, false, false);
      issue_half(accR, p, right, false, false);
      wgmma_wait_group<1>();  // L(t) and every earlier group have completed
      settle(accL, kAcc);
      if (num_kb == 3) ring.release(it);
      ring.release(p - 1);
      mark(it, 0);
      // Rows past M (a consumer's half of the last tile row) are packed too (x_scale reads 0 there), not stored.
      const bool live = row0 < M;
      if (next < blk.num_tiles) {
        pack(packL, accL, 0, col0);
        mark(it, 1);
        issue_half(accL, p + 1, 0, true, true);  // L(t+1, K block 0)
        mark(it, 2);
        if (live) store_left(row0, col0);
        mark(it, 3);
        wgmma_wait_group<0>();  // R(t) (and L(t+1)) have completed
        settle(acc, 2 * kAcc);
        ring.release(p);
        float t[kAcc];  // R(t) * x_scale (epilogue step 1) in other registers, so that R(t+1) may start
        const float xs[2] = {xs_smem[r], xs_smem[r + 8]};
#pragma unroll
        for (int j = 0; j < kAcc; ++j) t[j] = __fmul_rn(accR[j], xs[(j / 2) % 2]);  // element j: row r + 8 ((j / 2) % 2)
        issue_half(accR, p + 1, right, true, false);  // R(t+1, K block 0)
        mark(it, 4);
        pack_scaled(packR, t, 1, col0);
        mark(it, 5);
        issue_block(p + 2, false);  // t+1's K block 1, both halves
        mark(it, 6);
        chunks_pending = live;
        fetch_pending = true;
        pend_row0 = row0;
        pend_col0 = col0;
        tile = next;
        it += num_kb;
        row0 = next_row0;
        col0 = next_col0;
        mark(it - num_kb, 7);
        continue;
      }
      wgmma_wait_group<0>();
      settle(acc, 2 * kAcc);
      ring.release(p);
      pack(packL, accL, 0, col0);
      if (live) store_left(row0, col0);
      pack(packR, accR, 1, col0);
      if (live) {
        store_chunk2(row0, col0);
        store_chunk3(row0, col0);
      }
      return;
    }
  };
  if (bias != nullptr) {
    consume(BoolConst<true>{});
  } else {
    consume(BoolConst<false>{});
  }
  if (tid == 0) bulk_wait_group<0>();  // the staging buffers outlive the stores' reads
  blk.finish();
}

}  // namespace fp8cuda

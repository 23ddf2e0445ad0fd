// Decode (small-M) FP8 row-wise scaled GEMM for sm_90a: swap-AB WGMMA, split-K across a cluster.
//
//   y[m, n] = round_out(((acc[m, n] * x_scale[m]) * w_scale[n]) + bias[n])   (fp8ref.gemm.f8f8bf16_rowwise)
//
// With few tokens (M <= 128) the GEMM is a read of the N x K weight, so the kernel is built to keep HBM
// busy: TMA streams weight tiles through a deep mbarrier ring, every block of the grid is resident at
// once, and K is split over the kSplit blocks of a cluster when N alone gives too few blocks.
//
// Swap AB: wgmma's A side must have 64 rows, so the weight tile is A (kRowsW = 64 or 128 rows of wq)
// and the tokens are B (wgmma N = BLOCK_T = 8 .. 128 rows of xq; rows past M are zero-filled by TMA):
//   D[n, t] = sum_k wq[n0 + n, k] * xq[m0 + t, k],   i.e. the transposed output tile.
// Grid: x = (N tiles of kRowsW) * kSplit, y = token tiles of BLOCK_T. Cluster (kSplit, 1, 1): the blocks of
// a cluster own the same output tile; block (cluster rank) s takes K blocks [s * nkb / kSplit,
// (s + 1) * nkb / kSplit) (nkb = ceil(K / 128)), i.e. fp8ref's k_split boundaries 128 * that.
// Block: warps 0-3 = the consumer warpgroup, warp 4 = the producer (lane 0 issues the TMA loads).
//
// Accumulation of one split = the large-M kernel's: fast, one wgmma chain over the split's K; slow,
// the chain restarts every K block (128 K) and is added into float32 registers. Reduction, in this
// fixed order whoever finishes first (deterministic, fp8ref k_split model):
//   1. each block writes its float32 partial tile to its own shared memory, token-major: red[t][n];
//   2. cluster barrier;
//   3. the output tile's 8-column chunks are dealt round-robin to the blocks; for its chunks a thread
//      reads the kSplit partials over DSMEM (ld.shared::cluster) and adds them in split order,
//      ((p0 + p1) + p2) + ..., one float32 rounding each; then the epilogue and 16-byte stores;
//   4. cluster barrier: no block leaves while another may still read its partial tile.
// No global workspace, nothing to reset: the kernel is CUDA-graph safe as it stands.
#include "gemm_common.cuh"

namespace fp8cuda {

constexpr int kRedPad = 4;  // red rows of kRowsW + 4 floats: fragment writes hit 32 distinct banks
                            // (tokens 2 apart are 2 * (kRowsW + 4) = 8 mod 32 words apart)

// Dynamic shared memory; gemm_decode.py's DecodeConfig.smem_bytes repeats this formula.
// The reduction tile aliases the stage ring: it is written only after the last stage was consumed.
template <int kRowsW, int BLOCK_T, int kNumStages, int kChains>
struct DecodeSmem {
  static constexpr int kBytesA = kRowsW * BLOCK_K;   // weight tile of one stage
  static constexpr int kBytesB = BLOCK_T * BLOCK_K;  // token tile of one stage
  static constexpr int kRing = kNumStages * (kBytesA + kBytesB);
  static constexpr int kRedStride = kRowsW + kRedPad;  // floats per token row of a partial tile
  static constexpr int kRedTile = BLOCK_T * kRedStride;  // floats of one chain's partial tile
  static constexpr int kRed = kChains * kRedTile * 4;
  static constexpr int kOffBar = kRing > kRed ? kRing : kRed;
  static constexpr int kTotal = kOffBar + 2 * kNumStages * 8 + 1024;  // + 1024: alignment slack
};

// K blocks [begin, end) of chain c of this block: the block's split (cluster rank) takes
// [s * nkb / kSplit, (s + 1) * nkb / kSplit), cut into kChains contiguous ranges the same way.
// gemm_decode.py's k_split_boundaries computes the same cuts.
template <int kSplit, int kChains>
__device__ __forceinline__ void chain_range(int nkb, int split, int c, int& begin, int& end) {
  const int s0 = static_cast<int>((static_cast<long long>(split) * nkb) / kSplit);
  const int s1 = static_cast<int>((static_cast<long long>(split + 1) * nkb) / kSplit);
  begin = s0 + (c * (s1 - s0)) / kChains;
  end = s0 + ((c + 1) * (s1 - s0)) / kChains;
}

template <int kRowsW, int BLOCK_T, int kNumStages, int kSplit, int kChains, bool kFastAccum, int kOut>
__global__ void __launch_bounds__(160) __cluster_dims__(kSplit, 1, 1)
    sm90_fp8_gemm_rowwise_decode(const __grid_constant__ TmaDesc tmap_w, const __grid_constant__ TmaDesc tmap_x,
                                 const float* __restrict__ x_scale, const float* __restrict__ w_scale,
                                 const float* __restrict__ bias, void* __restrict__ out, int M, int N, int K,
                                 int vec_store) {
  static_assert(kRowsW == 64 || kRowsW == 128, "one or two m64 wgmmas per K step");
  static_assert(BLOCK_T % 8 == 0 && BLOCK_T <= 128, "wgmma N: a multiple of 8");
  static_assert(kSplit >= 1 && kSplit <= 8, "portable cluster sizes");
  static_assert(kChains >= 1 && kChains <= 8, "independent accumulator chains per block");
  // The consumer releases item it - (kChains - 1) after issuing item it, and the producer needs item
  // p - kNumStages released to fill item p: progress needs kChains - 1 < kNumStages.
  static_assert(kChains <= kNumStages, "a ring shorter than the chains in flight deadlocks");
  using L = DecodeSmem<kRowsW, BLOCK_T, kNumStages, kChains>;
  using Mma = WgmmaM64K32E4M3<BLOCK_T>;
  constexpr int kMmaRows = kRowsW / 64;       // m64 wgmmas per K step
  constexpr int kNumAcc = Mma::kNumAcc;       // per m64 wgmma, per thread
  static_assert(kChains * kMmaRows * kNumAcc * (kFastAccum ? 1 : 2) <= 128, "accumulators in registers");

  extern __shared__ unsigned char smem_raw[];
  // 128-byte swizzle atoms must start at 1024-byte aligned shared addresses.
  unsigned char* smem = smem_raw + ((1024 - (smem_u32(smem_raw) & 1023)) & 1023);
  unsigned char* smem_w = smem;
  unsigned char* smem_x = smem + kNumStages * L::kBytesA;
  float* red = reinterpret_cast<float*>(smem);  // aliases the ring (used after the main loop)
  u64* full_bar = reinterpret_cast<u64*>(smem + L::kOffBar);
  u64* empty_bar = full_bar + kNumStages;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int split = kSplit == 1 ? 0 : static_cast<int>(cluster_ctarank());
  const int n0 = (blockIdx.x / kSplit) * kRowsW;
  const int m0 = blockIdx.y * BLOCK_T;
  const int nkb = (K + BLOCK_K - 1) / BLOCK_K;
  // The ring takes the chains' K blocks interleaved: step j of chain 0, of chain 1, ..., then step j + 1
  // (chains whose range is exhausted are skipped); producer and consumer walk the same sequence.
  int cb[kChains], ce[kChains], steps = 0;
#pragma unroll
  for (int c = 0; c < kChains; ++c) {
    chain_range<kSplit, kChains>(nkb, split, c, cb[c], ce[c]);
    steps = max(steps, ce[c] - cb[c]);
  }

  if (threadIdx.x == 0) {
    prefetch_tensormap(&tmap_w);
    prefetch_tensormap(&tmap_x);
#pragma unroll
    for (int s = 0; s < kNumStages; ++s) {
      mbarrier_init(&full_bar[s], 1);   // the producer's arrive (+ TMA bytes)
      mbarrier_init(&empty_bar[s], 4);  // lane 0 of each consumer warp
    }
    fence_mbarrier_init();
    fence_proxy_async_shared_cta();
  }
  if (threadIdx.x == 128) {
    // The ring's first weight boxes into L2 (HBM busy while an earlier kernel still runs; see below)
    for (int j = 0, it = 0; j < steps && it < kNumStages; ++j) {
#pragma unroll
      for (int c = 0; c < kChains; ++c) {
        if (cb[c] + j < ce[c] && it < kNumStages) {
          tma_prefetch_l2_2d(&tmap_w, (cb[c] + j) * BLOCK_K, n0);
          ++it;
        }
      }
    }
  }
  __syncthreads();  // barriers are block-local (no multicast): a block barrier publishes them
  // Programmatic dependent launch (no-ops without the launch attribute, gemm.py sets it): the next
  // kernel in the stream may launch its blocks now; they get this far (barrier set-up, their own L2
  // prefetches) while we run. No global memory is read or written before griddepcontrol.wait, which
  // returns once every earlier kernel in the stream has completed: results are those of a plain launch.
  griddepcontrol_launch_dependents();
  griddepcontrol_wait();

  float acc[kChains][kMmaRows][kNumAcc];
  float total[kFastAccum ? 1 : kChains][kFastAccum ? 1 : kMmaRows][kFastAccum ? 1 : kNumAcc];
#pragma unroll
  for (int c = 0; c < kChains; ++c) {
#pragma unroll
    for (int r = 0; r < kMmaRows; ++r) {
#pragma unroll
      for (int i = 0; i < kNumAcc; ++i) {
        acc[c][r][i] = 0.f;  // an empty chain (nkb < kSplit * kChains) contributes exact zeros
        if (!kFastAccum) total[c][r][i] = 0.f;
      }
    }
  }

  if (warp == 4) {
    // ---------------- producer: one thread streams the chains' K blocks ----------------
    if (lane == 0) {
      int it = 0;
      for (int j = 0; j < steps; ++j) {
#pragma unroll
        for (int c = 0; c < kChains; ++c) {
          if (cb[c] + j >= ce[c]) continue;
          const int s = it % kNumStages;
          mbarrier_wait_parity(&empty_bar[s], ((it / kNumStages) & 1) ^ 1);
          mbarrier_arrive_expect_tx(&full_bar[s], L::kBytesA + L::kBytesB);
          tma_load_2d(smem_w + s * L::kBytesA, &tmap_w, &full_bar[s], (cb[c] + j) * BLOCK_K, n0);
          tma_load_2d(smem_x + s * L::kBytesB, &tmap_x, &full_bar[s], (cb[c] + j) * BLOCK_K, m0);
          ++it;
        }
      }
    }
  } else {
    // ---------------- consumer warpgroup ----------------
    // Fast accumulation: the chains' wgmma groups are independent, so up to kChains groups stay in
    // flight (a single chain is bound by the latency of its dependent wgmmas, ~30 GB/s per block);
    // after committing group `it`, group it - (kChains - 1) has completed and its stage is released.
    // Slow accumulation: every group is waited for and added into the chain's float32 totals.
    int it = 0;
    for (int j = 0; j < steps; ++j) {
#pragma unroll
      for (int c = 0; c < kChains; ++c) {
        if (cb[c] + j >= ce[c]) continue;
        const int s = it % kNumStages;
        mbarrier_wait_parity(&full_bar[s], (it / kNumStages) & 1);
        const u64 desc_x = make_smem_desc_sw128(smem_x + s * L::kBytesB);
#pragma unroll
        for (int r = 0; r < kMmaRows; ++r) {
#pragma unroll
          for (int i = 0; i < kNumAcc; ++i) wgmma_fence_operand(acc[c][r][i]);
        }
        wgmma_fence();
#pragma unroll
        for (int r = 0; r < kMmaRows; ++r) {
          const u64 desc_w = make_smem_desc_sw128(smem_w + s * L::kBytesA + r * 64 * BLOCK_K);
#pragma unroll
          for (int kk = 0; kk < BLOCK_K / 32; ++kk) {
            // +32 bytes of K per step = +2 in the descriptor's (address >> 4) field
            const int scale_d = kFastAccum ? (j > 0 || kk > 0) : (kk > 0);
            Mma::mma(acc[c][r], desc_w + 2 * kk, desc_x + 2 * kk, scale_d);
          }
        }
        wgmma_commit_group();
        if (kFastAccum) {
          wgmma_wait_group<kChains - 1>();
          if (it >= kChains - 1 && lane == 0) mbarrier_arrive(&empty_bar[(it - (kChains - 1)) % kNumStages]);
        } else {
          wgmma_wait_group<0>();
          if (lane == 0) mbarrier_arrive(&empty_bar[s]);
#pragma unroll
          for (int r = 0; r < kMmaRows; ++r) {
#pragma unroll
            for (int i = 0; i < kNumAcc; ++i) {
              wgmma_fence_operand(acc[c][r][i]);
              total[c][r][i] += acc[c][r][i];  // promotion to float32, every 128 K
            }
          }
        }
        ++it;
      }
    }
    wgmma_wait_group<0>();
    // 1. partial tiles -> red[c][t][n]: fragment d[4j + 2h + c'] of m64 wgmma r is
    //    D[64r + 16w + l/4 + 8h][8j + 2(l%4) + c']
#pragma unroll
    for (int c = 0; c < kChains; ++c) {
#pragma unroll
      for (int r = 0; r < kMmaRows; ++r) {
#pragma unroll
        for (int jj = 0; jj < BLOCK_T / 8; ++jj) {
#pragma unroll
          for (int h = 0; h < 2; ++h) {
#pragma unroll
            for (int e = 0; e < 2; ++e) {
              const int i = 4 * jj + 2 * h + e;
              wgmma_fence_operand(acc[c][r][i]);
              const int t = 8 * jj + 2 * (lane % 4) + e;
              const int n = 64 * r + 16 * warp + lane / 4 + 8 * h;
              red[c * L::kRedTile + t * L::kRedStride + n] = kFastAccum ? acc[c][r][i] : total[c][r][i];
            }
          }
        }
      }
    }
  }
  // 2. every partial tile of the cluster is complete
  if (kSplit > 1) {
    cluster_sync();
  } else {
    __syncthreads();
  }
  // 3. reduce (split order) + epilogue: chunk q = (token t, 8 weight rows n8) of the tile, dealt to
  //    block q % kSplit, thread (q / kSplit) % 128 of it.
  if (warp < 4) {
    using Out = OutTraits<kOut>;
    const int rows_t = min(BLOCK_T, M - m0);  // valid tokens of this tile
    const int cols_n = min(kRowsW, N - n0);   // valid weight rows
    const int chunks_per_t = kRowsW / 8;
    const int num_chunks = rows_t * chunks_per_t;
    const bool has_bias = bias != nullptr;
    for (int q = split + kSplit * static_cast<int>(threadIdx.x); q < num_chunks;
         q += kSplit * 128) {
      const int t = q / chunks_per_t;
      const int nl = (q % chunks_per_t) * 8;
      if (nl >= cols_n) continue;
      const u32 local = smem_u32(red + t * L::kRedStride + nl);
      float v[8];
#pragma unroll
      for (int s = 0; s < kSplit; ++s) {
#pragma unroll
        for (int c = 0; c < kChains; ++c) {
          float4 a, b;
          if (kSplit == 1) {
            a = *reinterpret_cast<const float4*>(red + c * L::kRedTile + t * L::kRedStride + nl);
            b = *reinterpret_cast<const float4*>(red + c * L::kRedTile + t * L::kRedStride + nl + 4);
          } else {
            const u32 remote = mapa_shared_cluster(local + c * L::kRedTile * 4, static_cast<u32>(s));
            a = ld_shared_cluster_v4_f32(remote);
            b = ld_shared_cluster_v4_f32(remote + 16);
          }
          const float p[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
#pragma unroll
          for (int e = 0; e < 8; ++e) v[e] = (s == 0 && c == 0) ? p[e] : __fadd_rn(v[e], p[e]);
        }
      }
      const int m = m0 + t;
      const int n = n0 + nl;
      const float xs = x_scale[m];
      unsigned char* dst = static_cast<unsigned char*>(out) + (static_cast<size_t>(m) * N + n) * Out::kBytes;
      float y[8];
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        const bool in = n + e < N;
        y[e] = epilogue_value(v[e], xs, in ? w_scale[n + e] : 0.f, has_bias, in && has_bias ? bias[n + e] : 0.f);
      }
      if (vec_store) {
        // host guarantees N % 8 == 0 and a 16-byte aligned output: the 8 values are inside the row
        Out::store8(dst, y);
      } else {
#pragma unroll
        for (int e = 0; e < 8; ++e) {
          if (n + e < N) Out::store_one(dst + e * Out::kBytes, y[e]);
        }
      }
    }
  }
  // 4. the partial tiles stay alive until every block of the cluster has read them
  if (kSplit > 1) cluster_sync();
}

}  // namespace fp8cuda

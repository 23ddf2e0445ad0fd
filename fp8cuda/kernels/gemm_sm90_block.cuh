// The per-block skeleton of the WGMMA GEMM kernels (gemm_sm90.cu, gemm_sm90_halves.cuh): shared-memory
// carve-up, cluster tile counts, barrier set-up and the TMA producer loop.
#pragma once
#include "gemm_sm90_epilogue.cuh"

namespace fp8cuda {

// Per-block state shared by every schedule: the shared-memory carve-up, the cluster-tile counts, the
// barrier initialisation and the producer loop.
template <class L, int BLOCK_M, int BLOCK_N, int kClusterM>
struct GemmBlock {
  unsigned char* smem_a;
  unsigned char* smem_b;
  unsigned char* smem_epi;
  float* smem_scale;
  u64* full_bar;
  u64* empty_bar;
  u32 cta_rank;      // rank of this block in its cluster
  int cluster_id;    // work is scheduled per cluster: a cluster tile is kClusterM vertically adjacent block tiles
  int num_clusters;
  int num_m, num_n, num_tiles, num_kb;  // cluster tile rows, tile columns, cluster tiles, K blocks

  __device__ __forceinline__ GemmBlock(unsigned char* smem_raw, int M, int N, int K) {
    // 128-byte swizzle atoms must start at 1024-byte aligned shared addresses.
    unsigned char* smem = smem_raw + ((1024 - (smem_u32(smem_raw) & 1023)) & 1023);
    smem_a = smem;
    smem_b = smem + L::kOffB;
    smem_epi = smem + L::kOffEpi;
    smem_scale = reinterpret_cast<float*>(smem + L::kOffScale);
    full_bar = reinterpret_cast<u64*>(smem + L::kOffBar);
    empty_bar = full_bar + L::kStages;
    cta_rank = kClusterM == 1 ? 0u : cluster_ctarank();
    cluster_id = kClusterM == 1 ? blockIdx.x : static_cast<int>(cluster_id_x());
    num_clusters = kClusterM == 1 ? gridDim.x : static_cast<int>(nclusterid_x());
    num_m = (M + BLOCK_M * kClusterM - 1) / (BLOCK_M * kClusterM);
    num_n = (N + BLOCK_N - 1) / BLOCK_N;
    num_tiles = num_m * num_n;
    num_kb = (K + BLOCK_K - 1) / BLOCK_K;
  }

  // full[s]: the producer's arrive (+ TMA bytes); empty[s]: `releases` warp arrivals (lane 0 of every
  // consumer warp that reads the stage, from every block of the cluster). Then a block (cluster) barrier:
  // the peer's multicast and remote arrivals need our barriers initialised.
  __device__ __forceinline__ void init(const TmaDesc* tmap_a, const TmaDesc* tmap_b, u32 releases) {
    if (threadIdx.x == 0) {
      prefetch_tensormap(tmap_a);
      prefetch_tensormap(tmap_b);
#pragma unroll
      for (int s = 0; s < L::kStages; ++s) {
        mbarrier_init(&full_bar[s], 1);
        mbarrier_init(&empty_bar[s], releases);
      }
      fence_mbarrier_init();
      fence_proxy_async_shared_cta();
    }
    if (kClusterM == 1) {
      __syncthreads();
    } else {
      cluster_sync();
    }
  }

  __device__ __forceinline__ int block_row(int tile, int group_m, int& nb) const {
    int cm;
    tile_coords(tile, num_m, num_n, group_m, cm, nb);
    return cm * kClusterM + static_cast<int>(cta_rank);
  }

  // Producer (one thread): for each tile of this cluster, for each K block: wait until the stage is
  // empty, announce its bytes on full[s], TMA-load A [BLOCK_M x 128] and this block's share of
  // B [BLOCK_N x 128] (BLOCK_N / kClusterM rows, multicast into every block of the cluster; tmap_b's box
  // has that many rows). Out-of-range rows and K are zero-filled by the copy engine.
  // trace (experiment builds, FP8CUDA_GEMM_TRACE; scripts/gemm_trace.py): for ring positions p < kTraceStride,
  // the cycles this thread waited on empty[p] and the low 32 bits of clock64 after the wait (when it issued
  // p's loads), at trace[2 ((gridDim.x + block) kTraceStride + p) + {0, 1}], after the consumers' records.
  __device__ __forceinline__ void produce(const TmaDesc* tmap_a, const TmaDesc* tmap_b, int group_m,
                                          unsigned* trace = nullptr) const {
    int it = 0;
    for (int tile = cluster_id; tile < num_tiles; tile += num_clusters) {
      int nb;
      const int mb = block_row(tile, group_m, nb);
      for (int kb = 0; kb < num_kb; ++kb, ++it) {
        const int s = it % L::kStages;
        const u32 round = static_cast<u32>(it / L::kStages);
#ifdef FP8CUDA_GEMM_TRACE
        const long long t0 = clock64();
#endif
        mbarrier_wait_parity(&empty_bar[s], (round & 1u) ^ 1u);
#ifdef FP8CUDA_GEMM_TRACE
        if (trace != nullptr && it < kTraceStride) {
          const long long t1 = clock64();
          unsigned* t = trace + 2 * (static_cast<size_t>(gridDim.x + blockIdx.x) * kTraceStride + it);
          t[0] = static_cast<unsigned>(t1 - t0);
          t[1] = static_cast<unsigned>(t1);
        }
#endif
        mbarrier_arrive_expect_tx(&full_bar[s], L::kBytesA + L::kBytesB);
        tma_load_2d(smem_a + s * L::kBytesA, tmap_a, &full_bar[s], kb * BLOCK_K, mb * BLOCK_M);
        if (kClusterM == 1) {
          tma_load_2d(smem_b + s * L::kBytesB, tmap_b, &full_bar[s], kb * BLOCK_K, nb * BLOCK_N);
        } else {
          constexpr int kShare = BLOCK_N / kClusterM;  // rows of B this block loads for the cluster
          tma_load_2d_multicast(smem_b + s * L::kBytesB + cta_rank * kShare * BLOCK_K, tmap_b, &full_bar[s],
                                kb * BLOCK_K, nb * BLOCK_N + cta_rank * kShare, (1u << kClusterM) - 1);
        }
      }
    }
  }

  // A block may not exit while its cluster peer can still arrive on its barriers.
  __device__ __forceinline__ void finish() const {
    if (kClusterM > 1) cluster_sync();
  }
};

}  // namespace fp8cuda

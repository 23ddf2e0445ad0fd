// The stage ring and the consumer main loops of the WGMMA GEMM kernels (gemm_sm90.cu): shared-memory
// layout, tile order, stage release, and the fast / slow accumulation loops over one tile's K blocks.
#pragma once
#include "gemm_common.cuh"

namespace fp8cuda {

constexpr int kEpiChunkBytes = 128;       // epilogue column chunk width in bytes
constexpr int kEpiRowBytes = 128 + 16;    // + 16 bytes padding: conflict-free fragment writes
constexpr int kProducerRegs = 40;
constexpr int kConsumerRegs = 232;        // 128 * 40 + 256 * 232 = 64512 <= 65536
constexpr int kSlowUnroll = 4;            // slow accumulation: K blocks per pipeline drain (mainloop_slow)

// Dynamic shared memory of one block; gemm.py's GemmConfig.smem_bytes repeats this formula.
// BLOCK_M: rows of the A tile of one stage; kNumConsumers: consumer warpgroups (each with its own
// epilogue staging and scale rows). Cooperative: BLOCK_M = 64 * kNumConsumers; ping-pong: 64 or 128, and 2.
// kEpiBytes: staging bytes per consumer (64 padded rows of one chunk; overlap kernels: two 8 KB chunks).
// kSharedColumns: the consumers share one copy of the tile's w_scale / bias (the overlap kernel with column
// halves) and the layout has no alignment slack (that kernel's dynamic shared memory is 1024-byte aligned,
// which it checks).
template <int BLOCK_M, int BLOCK_N, int kNumStages, int kNumConsumers_ = BLOCK_M / 64,
          int kEpiBytes_ = 64 * kEpiRowBytes, bool kSharedColumns = false>
struct SmemLayout {
  static constexpr int kStages = kNumStages;
  static constexpr int kNumConsumers = kNumConsumers_;
  static constexpr int kEpiBytes = kEpiBytes_;
  static constexpr int kBytesA = BLOCK_M * BLOCK_K;
  static constexpr int kBytesB = BLOCK_N * BLOCK_K;
  static constexpr int kOffB = kNumStages * kBytesA;
  static constexpr int kOffEpi = kOffB + kNumStages * kBytesB;
  // per consumer: w_scale and bias of the tile's columns, x_scale of its 64 rows (float32); kSharedColumns:
  // w_scale and bias once, then x_scale of each consumer's rows
  static constexpr int kScaleFloats = 2 * BLOCK_N + 64;
  static constexpr int kScaleBytes = (kSharedColumns ? 2 * BLOCK_N + 64 * kNumConsumers : kNumConsumers * kScaleFloats) * 4;
  static constexpr int kOffScale = kOffEpi + kNumConsumers * kEpiBytes;
  static constexpr int kOffBar = kOffScale + kScaleBytes;
  static constexpr int kTotal = kOffBar + 2 * kNumStages * 8 + (kSharedColumns ? 0 : 1024);  // + alignment slack
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

// The stage ring as one consumer warp sees it. Ring position p (a running K-block count) lives in
// stage p % kStages; its full barrier completes for the (p / kStages)-th time, parity (p / kStages) & 1.
#ifdef FP8CUDA_GEMM_TRACE
// Experiment builds only (scripts/gemm_trace.py): thread 128 (the first consumer's thread 0) of every block
// records, for ring positions p < kTraceStride, the cycles it waited on full[p] and the low 32 bits of
// clock64 after the wait: trace[2 (block * kTraceStride + p) + {0, 1}].
constexpr int kTraceStride = 8192;
#endif

template <class L, int kClusterM>
struct StageRing {
  using Layout = L;
  unsigned char* smem_a;
  unsigned char* smem_b;
  u64* full;
  u64* empty;
  int lane;
#ifdef FP8CUDA_GEMM_TRACE
  unsigned* trace;  // nullptr: no trace
#endif
  __device__ __forceinline__ void wait_full(int p) const {
    wait_full(p, p % L::kStages, static_cast<u32>(p / L::kStages) & 1u);
  }
  // The same with position p's stage s and parity given (loops that advance them without dividing).
  __device__ __forceinline__ void wait_full(int p, int s, u32 parity) const {
#ifdef FP8CUDA_GEMM_TRACE
    // bit 31 of the recorded wait: the phase had already completed before the wait began
    const u32 ready = mbarrier_test_parity(&full[s], parity) ? 1u : 0u;
    const long long t0 = clock64();
#endif
    mbarrier_wait_parity(&full[s], parity);
#ifdef FP8CUDA_GEMM_TRACE
    if (trace != nullptr && threadIdx.x == 128 && p < kTraceStride) {
      const long long t1 = clock64();
      unsigned* t = trace + 2 * (static_cast<size_t>(blockIdx.x) * kTraceStride + p);
      t[0] = (static_cast<unsigned>(t1 - t0) & 0x7fffffffu) | (ready << 31);
      t[1] = static_cast<unsigned>(t1);
    }
#endif
  }
  // wgmma descriptors of the A / B rows at byte offset `off` of position p's stage (off % 1024 == 0)
  __device__ __forceinline__ u64 desc_a(int p, u32 off) const {
    return make_smem_desc_sw128(smem_a + (p % L::kStages) * L::kBytesA + off);
  }
  __device__ __forceinline__ u64 desc_b(int p, u32 off) const {
    return make_smem_desc_sw128(smem_b + (p % L::kStages) * L::kBytesB + off);
  }
  __device__ __forceinline__ void release(int p) const { release_stage<kClusterM>(&empty[p % L::kStages], lane); }
  __device__ __forceinline__ void release_stage_index(int s) const { release_stage<kClusterM>(&empty[s], lane); }
};

// A consumer warpgroup's share of a tile is one or two accumulator chains. Chain h is an m64nN wgmma
// fragment that reads the A rows at byte offset a_off[h] and the B rows at b_off[h] of every stage:
//   cooperative / ping-pong 64, fast:  1 chain, the warpgroup's 64 rows x BLOCK_N
//   cooperative / ping-pong 64, slow:  2 chains, column halves of the 64 rows (b_off = h * BLOCK_N / 2 rows);
//                                      [chain 0 | chain 1] is laid out as one m64nBLOCK_N fragment
//   ping-pong 128, fast and slow:      2 chains, row halves 64 h .. 64 h + 63 (a_off = h * 64 rows)
// Consecutive wgmmas alternate between the chains where there are two, so neither waits on its own
// previous result.

// Fast accumulation over ring positions it .. it + num_kb - 1: each chain accumulates all of K in its
// wgmma accumulators; one K block's group stays in flight while the next one is issued, and a stage is
// released once the group after it has been issued and its own group has completed.
// after_issue(kb) runs right after K block kb's group is issued, while it and the previous one are in
// flight (cooperative: stores of the previous tile's output); on_last_issued() right after the tile's last
// group is issued (ping-pong: hand over the tensor cores).
template <class Chain, int kChains, class Ring, class G, class F>
__device__ __forceinline__ void mainloop_fast(float (&acc)[kChains][Chain::kNumAcc], const Ring& ring,
                                              const u32 (&a_off)[kChains], const u32 (&b_off)[kChains], int it,
                                              int num_kb, G&& after_issue, F&& on_last_issued) {
  auto fence_acc = [&] {
#pragma unroll
    for (int h = 0; h < kChains; ++h)
#pragma unroll
      for (int i = 0; i < Chain::kNumAcc; ++i) wgmma_fence_operand(acc[h][i]);
  };
  // The stage s and parity advance without dividing by kStages, and the descriptors are 32-bit low words
  // (+ 2 per 32 bytes of K) on the constant high word, as in the slow loop (v23): 128 x 128 94 -> 61 and
  // ping-pong 64 x 256 176 -> 108 instructions per K block with warpgroup_index (NVRTC 13.0, notes v24).
  using L = typename Ring::Layout;
  u32 a0[kChains], b0[kChains];
#pragma unroll
  for (int h = 0; h < kChains; ++h) {
    a0[h] = smem_u32(ring.smem_a) + a_off[h];
    b0[h] = smem_u32(ring.smem_b) + b_off[h];
  }
  int s = it % L::kStages, prev_s = s;
  u32 parity = static_cast<u32>(it / L::kStages) & 1u;
  for (int kb = 0; kb < num_kb; ++kb) {
    ring.wait_full(it + kb, s, parity);
    u32 da[kChains], db[kChains];
#pragma unroll
    for (int h = 0; h < kChains; ++h) {
      da[h] = sw128_desc_lo(a0[h] + s * L::kBytesA);
      db[h] = sw128_desc_lo(b0[h] + s * L::kBytesB);
    }
    fence_acc();
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < BLOCK_K / 32; ++kk)
#pragma unroll
      for (int h = 0; h < kChains; ++h)
        Chain::mma(acc[h], sw128_desc(da[h] + 2u * kk), sw128_desc(db[h] + 2u * kk), kb > 0 || kk > 0);
    wgmma_commit_group();
    after_issue(kb);
    wgmma_wait_group<1>();  // the previous K block's group has finished reading its stage
    fence_acc();
    if (kb > 0) ring.release_stage_index(prev_s);
    prev_s = s;
    if (++s == L::kStages) {
      s = 0;
      parity ^= 1u;
    }
  }
  on_last_issued();
  wgmma_wait_group<0>();
  fence_acc();
  ring.release_stage_index(prev_s);
}

// Slow accumulation over ring positions it .. it + num_kb - 1, one m64nN chain per consumer (the cooperative
// kernel): each K block's group restarts the accumulators, is drained, its stage released and the
// accumulators added to the float32 totals; the other consumer's group keeps the tensor cores busy meanwhile.
// All of that, and the next K block's wait and descriptors, is the consumer's serial path between two of its
// groups; when it is longer than the other consumer's group the tensor cores idle. So the stage and parity
// advance without dividing by kStages, and the descriptors are 32-bit low words (+ 2 per 32 K) on the constant
// high word: 157 instead of 178 instructions per K block, and 816 instead of 963 cycles per K block for
// 128 x 192 at 8192^3 (notes-gemm.md v23). a_off: this consumer's rows of each A stage.
template <class Chain, class Ring>
__device__ __forceinline__ void mainloop_slow_drained(float (&total)[Chain::kNumAcc], float (&acc)[Chain::kNumAcc],
                                                      const Ring& ring, u32 a_off, int it, int num_kb) {
  using L = typename Ring::Layout;
  const u32 a0 = smem_u32(ring.smem_a) + a_off, b0 = smem_u32(ring.smem_b);
  int s = it % L::kStages;
  u32 parity = static_cast<u32>(it / L::kStages) & 1u;
#pragma unroll
  for (int j = 0; j < Chain::kNumAcc; ++j) total[j] = 0.f;
  for (int kb = 0; kb < num_kb; ++kb) {
    ring.wait_full(it + kb, s, parity);
    const u32 da = sw128_desc_lo(a0 + s * L::kBytesA), db = sw128_desc_lo(b0 + s * L::kBytesB);
#pragma unroll
    for (int j = 0; j < Chain::kNumAcc; ++j) wgmma_fence_operand(acc[j]);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < BLOCK_K / 32; ++kk)  // +32 bytes of K per step = +2 in the address field
      Chain::mma(acc, sw128_desc(da + 2u * kk), sw128_desc(db + 2u * kk), kk > 0);
    wgmma_commit_group();
    wgmma_wait_group<0>();
#pragma unroll
    for (int j = 0; j < Chain::kNumAcc; ++j) wgmma_fence_operand(acc[j]);
    ring.release_stage_index(s);
#pragma unroll
    for (int j = 0; j < Chain::kNumAcc; ++j) total[j] += acc[j];  // one float32 promotion per 128 K
    if (++s == L::kStages) {
      s = 0;
      parity ^= 1u;
    }
  }
}

// Slow accumulation over ring positions it .. it + num_kb - 1 with two chains: each chain's wgmma
// accumulators restart every K block (128 K) and are then added into float32 totals
// (total = [chain 0 | chain 1]). While one chain's wgmmas run, the other's finished partial sum is
// promoted, so a group is always in flight:
//   first(p):  chain 0(p), chain 1(p); wait 1; promote chain 0                  (chain 1 in flight)
//   next(p):   chain 0(p); wait 1; release p - 1; promote chain 1 (p - 1); chain 1(p); wait 1;
//              promote chain 0                                                    (chain 1 in flight)
//   finish(p): wait 0; release p; promote chain 1
// ptxas tracks which wgmma groups may be pending only within straight-line code: reading a chain's
// accumulators after a loop back-edge while a group is in flight makes it serialize every wgmma
// (C7514). So the pipeline drains once per kSlowUnroll K blocks, at the back-edge.
template <class Chain, class Ring, class F>
__device__ __forceinline__ void mainloop_slow(float (&total)[2 * Chain::kNumAcc], float (&acc0)[Chain::kNumAcc],
                                              float (&acc1)[Chain::kNumAcc], const Ring& ring,
                                              const u32 (&a_off)[2], const u32 (&b_off)[2], int it, int num_kb,
                                              F&& on_last_issued) {
  constexpr int kAcc = Chain::kNumAcc;
#pragma unroll
  for (int j = 0; j < 2 * kAcc; ++j) total[j] = 0.f;
  auto issue = [&](float (&d)[kAcc], int p, u32 a, u32 b) {
    const u64 da = ring.desc_a(p, a), db = ring.desc_b(p, b);
#pragma unroll
    for (int j = 0; j < kAcc; ++j) wgmma_fence_operand(d[j]);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < BLOCK_K / 32; ++kk) Chain::mma(d, da + 2 * kk, db + 2 * kk, kk > 0);
    wgmma_commit_group();
  };
  auto promote = [&](float (&d)[kAcc], int off) {
#pragma unroll
    for (int j = 0; j < kAcc; ++j) wgmma_fence_operand(d[j]);
#pragma unroll
    for (int j = 0; j < kAcc; ++j) total[off + j] += d[j];  // one float32 promotion per 128 K
  };
  auto first = [&](int p) {
    ring.wait_full(p);
    issue(acc0, p, a_off[0], b_off[0]);
    issue(acc1, p, a_off[1], b_off[1]);
    wgmma_wait_group<1>();
    promote(acc0, 0);
  };
  auto next = [&](int p) {
    ring.wait_full(p);
    issue(acc0, p, a_off[0], b_off[0]);
    wgmma_wait_group<1>();
    ring.release(p - 1);
    promote(acc1, kAcc);
    issue(acc1, p, a_off[1], b_off[1]);
    wgmma_wait_group<1>();
    promote(acc0, 0);
  };
  auto finish = [&](int p, bool last) {
    if (last) on_last_issued();  // chain 1 of the last K block in flight
    wgmma_wait_group<0>();
    ring.release(p);
    promote(acc1, kAcc);
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

}  // namespace fp8cuda

// Probe (issue 4, notes-gemm.md v21; scripts/wgmma_probe.py): the tensor pipe's rate for the wgmma issue
// patterns of our main loops, with no TMA: operands sit in shared memory (fixed, finite e4m3 codes).
// MMA warpgroups 0 .. nwg - 1 (nwg <= 2) each run `groups` K blocks; a K block is 4 k32 steps over kChains
// chains of m64nNk32 (chain h reads B rows [h N, h N + N)). Fast (kSlow = false): one group stays in flight
// (wait_group 1), the accumulators carry all of K. Slow: every group restarts its accumulators, is drained
// (wait_group 0) and added to float32 totals. MMA warpgroup 1 starts `delay` cycles late.
// out[block][wg] = cycles from the warpgroup's first issue to its last wait returning.
// With PROBE_THREADS = 384 a third, "side" warpgroup gives its registers to the MMA warpgroups (setmaxnreg,
// as the producer does in the GEMM kernels); copy != 0: its first thread streams `src` (16 MB, L2-resident)
// into a 4 x 16 KB shared ring with 1D bulk copies until the MMA warpgroups are done (out[block][2] = bytes
// copied, out[block][3] = its cycles). Build macros (wgmma_probe.py BUILDS): PROBE_MMA_FIRST = 1 puts the
// MMA warpgroups at 1 and 2 and the side one at 0; PROBE_SPIN = 1 makes the side thread poll an mbarrier
// that never completes; PROBE_BARRIERS = 1 adds a wait on a completed mbarrier and an arrive per K block.
#include "ptx_sm90.cuh"

#ifndef PROBE_THREADS
#define PROBE_THREADS 384  // 256: no copier warpgroup
#endif
#ifndef PROBE_SETMAXNREG
#define PROBE_SETMAXNREG 1
#endif
#ifndef PROBE_MMA_FIRST  // 1: the MMA warpgroups are 1 and 2 and the side warpgroup is 0 (as in the GEMM kernels)
#define PROBE_MMA_FIRST 0
#endif
#ifndef PROBE_SPIN  // 1: the side warpgroup's thread 0 polls an mbarrier that never completes, as an idle producer
#define PROBE_SPIN 0
#endif
#ifndef PROBE_BARRIERS  // 1: every K block also waits on a completed mbarrier and arrives on another one
#define PROBE_BARRIERS 0
#endif

namespace fp8cuda {

template <int N, int kChains, bool kSlow>
__global__ void __launch_bounds__(PROBE_THREADS, 1)
    wgmma_chain_probe(long long* out, int groups, int nwg, int delay, float* sink, const unsigned char* src, int copy) {
  using Mma = WgmmaM64K32E4M3<N>;
  extern __shared__ unsigned char smem_raw[];
  unsigned char* smem = smem_raw + ((1024 - (smem_u32(smem_raw) & 1023)) & 1023);
  unsigned char* a = smem;                  // 2 x 64 rows x 128 bytes (one A tile per warpgroup)
  unsigned char* b = smem + 2 * 64 * 128;   // kChains x N rows x 128 bytes
  const int bytes = 2 * 64 * 128 + kChains * N * 128;
  unsigned char* ring = smem + bytes;                        // 4 x 16 KB copy destinations
  u64* bars = reinterpret_cast<u64*>(ring + 4 * 16384);      // 4 ring barriers, never, full, empty
  volatile int* done = reinterpret_cast<volatile int*>(bars + 7);
  for (int i = threadIdx.x; i < bytes; i += blockDim.x)
    smem[i] = static_cast<unsigned char>(((i * 2654435761u) >> 24) & 0x76u);  // finite codes, both signs
  if (threadIdx.x == 0) {
    for (int r = 0; r < 4; ++r) mbarrier_init(&bars[r], 1);
    mbarrier_init(&bars[4], 1);   // never completes
    mbarrier_init(&bars[5], 1);   // completed below: phase 0 done
    mbarrier_init(&bars[6], 8);   // 8 MMA warps arrive per phase
    *done = 0;
    fence_mbarrier_init();
  }
  fence_proxy_async_shared_cta();
  __syncthreads();
  if (threadIdx.x == 0) mbarrier_arrive(&bars[5]);
  __syncthreads();
  const int wg = (threadIdx.x / 128 + 3 - PROBE_MMA_FIRST) % 3;  // 0, 1: MMA; 2: side
  if (wg == 2) {  // the side warpgroup (registers moved to the MMA warpgroups, as in the GEMM kernels)
    if (PROBE_SETMAXNREG) setmaxnreg_dec<40>();
    if (PROBE_SPIN && !copy && threadIdx.x % 128 == 0) {
      u32 ok = 0;
      while (*done < nwg) {
        asm volatile(
            "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], 0;\nselp.u32 %0, 1, 0, p;\n}\n"
                     : "=r"(ok) : "r"(smem_u32(&bars[4])) : "memory");
      }
      if (ok) out[0] = -1;
    }
    if (copy && threadIdx.x % 128 == 0) {
      const long long c0 = clock64();
      long long moved = 0;
      int i = 0;
      for (;; ++i) {
        const int r = i % 4;
        if (i >= 4) mbarrier_wait_parity(&bars[r], static_cast<u32>((i / 4 - 1) & 1));
        if (*done >= nwg) break;
        const unsigned char* from = src + ((static_cast<long long>(blockIdx.x) * 131072 + i * 16384LL) % (16 << 20));
        mbarrier_arrive_expect_tx(&bars[r], 16384);
        asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], 16384, [%2];\n"
                     ::"r"(smem_u32(ring + r * 16384)), "l"(from), "r"(smem_u32(&bars[r])) : "memory");
        moved += 16384;
      }
      for (int j = (i > 3 ? i - 3 : 0); j < i; ++j)  // copies still in flight (i - 4 was waited for)
        mbarrier_wait_parity(&bars[j % 4], static_cast<u32>((j / 4) & 1));
      out[blockIdx.x * 4 + 2] = moved;
      out[blockIdx.x * 4 + 3] = clock64() - c0;
    }
    return;
  }
  if (PROBE_SETMAXNREG) setmaxnreg_inc<232>();
  if (wg >= nwg) return;
  if (wg == 1 && delay > 0) {
    const long long t = clock64();
    while (clock64() - t < delay) {
    }
  }
  float acc[kChains][Mma::kNumAcc];
  float total[kSlow ? kChains * Mma::kNumAcc : 1];
#pragma unroll
  for (int h = 0; h < kChains; ++h)
#pragma unroll
    for (int j = 0; j < Mma::kNumAcc; ++j) acc[h][j] = 0.f;
#pragma unroll
  for (int j = 0; j < (kSlow ? kChains * Mma::kNumAcc : 1); ++j) total[j] = 0.f;
  const u64 da = make_smem_desc_sw128(a + wg * 64 * 128);
  u64 db[kChains];
#pragma unroll
  for (int h = 0; h < kChains; ++h) db[h] = make_smem_desc_sw128(b + h * N * 128);
  const long long t0 = clock64();
  for (int g = 0; g < groups; ++g) {
    if (PROBE_BARRIERS) mbarrier_wait_parity(&bars[5], 0);
#pragma unroll
    for (int h = 0; h < kChains; ++h)
#pragma unroll
      for (int j = 0; j < Mma::kNumAcc; ++j) wgmma_fence_operand(acc[h][j]);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < 4; ++kk)
#pragma unroll
      for (int h = 0; h < kChains; ++h) Mma::mma(acc[h], da + 2 * kk, db[h] + 2 * kk, kSlow ? kk > 0 : 1);
    wgmma_commit_group();
    if constexpr (kSlow) {
      wgmma_wait_group<0>();
      if (PROBE_BARRIERS && threadIdx.x % 32 == 0) mbarrier_arrive(&bars[6]);
#pragma unroll
      for (int h = 0; h < kChains; ++h)
#pragma unroll
        for (int j = 0; j < Mma::kNumAcc; ++j) {
          wgmma_fence_operand(acc[h][j]);
          total[h * Mma::kNumAcc + j] += acc[h][j];
        }
    } else {
      wgmma_wait_group<1>();
      if (PROBE_BARRIERS && threadIdx.x % 32 == 0) mbarrier_arrive(&bars[6]);
    }
  }
  wgmma_wait_group<0>();
#pragma unroll
  for (int h = 0; h < kChains; ++h)
#pragma unroll
    for (int j = 0; j < Mma::kNumAcc; ++j) wgmma_fence_operand(acc[h][j]);
  const long long t1 = clock64();
  float s = 0.f;
#pragma unroll
  for (int h = 0; h < kChains; ++h)
#pragma unroll
    for (int j = 0; j < Mma::kNumAcc; ++j) s += kSlow ? total[h * Mma::kNumAcc + j] : acc[h][j];
  if (s == 12345.f) sink[threadIdx.x] = s;  // keep the arithmetic
  if (threadIdx.x % 128 == 0) {
    out[blockIdx.x * 4 + wg] = t1 - t0;
    atomicAdd(const_cast<int*>(done), 1);
  }
}

}  // namespace fp8cuda

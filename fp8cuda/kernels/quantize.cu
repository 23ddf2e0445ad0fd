// quantize.cu: FP8 quantizers with fp8ref.scale's semantics (docs/spec.md S1-S6), bit for bit.
//
// Per row (the input viewed as [R, K], row-major, contiguous):
//   1. amax = max |x| over the row, NaN ignored (max.f32 returns the non-NaN operand)
//   2. if scale_ub: amax = min(amax, ub)
//   3. s = max(amax / MAX, floor)                  float32 IEEE division (div.rn.f32)
//   4. xq = encode_satfinite(x / s)                 per element, IEEE division: div.rn.f32, or (fast rows, see
//      div_by_row) a reciprocal-and-FMA sequence that returns the same float32 quotient; never x * (1 / s);
//      a NaN quotient is +NaN (fp8ref pins it: NaN inputs and inf / inf give code 0x7F)
//   5. rows r >= num_tokens are never read: xq = 0, scale = floor
// Kernels:
//   quantize_row_regs    one block per row, the row held in registers as 16-byte vectors (fast path)
//   quantize_row_pipe    persistent blocks, rows staged through shared memory by cp.async, kStages rows in
//                        flight per block; measured slower than quantize_row_regs on H200, so only used
//                        where fp8cuda.quantize.PIPE_STAGES (written by the bench's --tune) says so
//   quantize_row_cluster one cluster of CTAs per row, for few short rows (latency)
//   quantize_row_scalar  one block per row, two passes with scalar loads (any K, any alignment; level 1)
//   amax_tensor + quantize_tensor   per-tensor: atomicMax on float bits, then quantize; no host sync
//   quantize_block       per-(bm, bk)-block scales over the last two dims, two passes per tile
#include "fp8_format.cuh"
#include "philox.cuh"

namespace fp8cuda {

// Scale-bound and token-count arguments: a host value or a device scalar, so the device variant can be
// captured in a CUDA graph. ub_mode: 0 none, 1 ub_value, 2 *ub_ptr. nt_mode: 0 nt_value, 1 *nt_ptr.
#define FP8CUDA_SCALE_PARAMS                                                                  \
  const float* __restrict__ ub_ptr, float ub_value, int ub_mode, const long long* __restrict__ nt_ptr, \
      long long nt_value, int nt_mode, float fmt_max, float scale_floor, u64 seed

// Steps 2 and 3.
__device__ __forceinline__ float scale_from_amax(float amax, const float* ub_ptr, float ub_value, int ub_mode,
                                                 float fmt_max, float scale_floor) {
  if (ub_mode == 1) amax = min_f32(amax, ub_value);
  if (ub_mode == 2) amax = min_f32(amax, *ub_ptr);
  return max_f32(div_rn(amax, fmt_max), scale_floor);
}

// Step 4's quotient x / s (IEEE div.rn.f32), with a NaN quotient pinned to +NaN (fp8ref.scale._round_scaled).
// Used by stochastic rounding, the per-tensor/per-block/level-1 kernels and rows that fail row_divides_fast;
// the round-to-nearest row kernels divide with div_by_row below (one reciprocal per row, range checked once
// per row rather than per element): 25 -> 7 instructions per element, 135.8 -> 95.4 us at 16384 x 8192.
__device__ __forceinline__ float scaled(float x, float s) {
  const float q = div_rn(x, s);
  return is_nan(q) ? __uint_as_float(0x7FC00000u) : q;
}

// Step 4's x / s on "fast" rows, without a division per element. Once per row y = RN(1 / s) (div.rn), then
//   q0 = RN(x * y), e0 = RN(s * q0 - x), q1 = RN(q0 - e0 * y), e1 = RN(s * q1 - x), q2 = RN(q1 - e1 * y)
// (one mul.rn and four fma.rn). Claim: q2 = div.rn(x, s) whenever |x / s| >= 2**-11, and otherwise both have
// magnitude < 2**-10 and the sign of x, so both encode to the same code (0x00 or 0x80). Argument:
//  - |y - 1/s| <= ulp(1/s) / 2, so q0 is within 1.5 ulp of x / s; q0 - e0 * y = x / s + O(2**-46 * |x / s|)
//    (e0 is exact or within half an ulp of a remainder of <= 3 ulp), so q1 is within one ulp of x / s;
//  - Markstein's theorem (y within half an ulp of 1/s, q1 within one ulp of x/s, then the remainder s * q1 - x
//    is exact and RN(q1 + (x - s * q1) * y) = RN(x / s); Cornea, Harrison and Tang, "Scientific Computing on
//    Itanium-based Systems", 2002, Thm 8.10) gives q2 = RN(x / s) when nothing overflows or underflows.
//    No overflow: the row qualifies only if s is finite and A * y <= 2**126, A = the row's largest |x|.
//    No underflow where it matters: s >= floor = 2**-17.8, so |x / s| >= 2**-11 puts x, q1 and y above
//    2**-120 and the remainder on a grid of 2**-76 or coarser: all normal or exact.
//  - e = s * q - x is the *negated* remainder so that x = -0 gives -0 (x - s * q would give +0 + -0 = +0).
// tests/cuda/test_quantize_division.py checks it bit for bit against float32 division (NumPy, exact FMA
// emulation) on every bfloat16 and float16 x and on 2**24 float32 significands, for many s.
// Rows that do not qualify (an inf in the row, or a huge x against a scale_ub-bounded s) use div.rn.
__device__ __forceinline__ float div_by_row(float x, float s, float y) {
  float q = mul_rn(x, y);
  float e = fma_rn(s, q, -x);
  q = fma_rn(-e, y, q);
  e = fma_rn(s, q, -x);
  return fma_rn(-e, y, q);
}
__device__ __forceinline__ bool row_divides_fast(float raw_amax, float y) {
  return mul_rn(raw_amax, y) <= 0x1p126f;  // false for A = inf or s = inf (y = 0: inf * 0 = NaN)
}

// Max over the block; every thread gets the result. smem: 32 floats. Values are >= 0 and never NaN.
template <int kThreads>
__device__ __forceinline__ float block_max(float v, float* smem) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = max_f32(v, __shfl_xor_sync(0xFFFFFFFFu, v, o));
  if (kThreads == 32) return v;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  v = lane < kThreads / 32 ? smem[lane] : 0.0f;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = max_f32(v, __shfl_xor_sync(0xFFFFFFFFu, v, o));
  return v;
}

// Element j (compile-time) of a 16-byte vector holding 16 / sizeof(T) inputs.
template <class T> __device__ __forceinline__ float vec_elem(const uint4& v, int j);
template <> __device__ __forceinline__ float vec_elem<float>(const uint4& v, int j) {
  const u32 w = j == 0 ? v.x : j == 1 ? v.y : j == 2 ? v.z : v.w;
  return __uint_as_float(w);
}
template <class T> __device__ __forceinline__ float vec_elem16(const uint4& v, int j) {
  const u32 w = (j >> 1) == 0 ? v.x : (j >> 1) == 1 ? v.y : (j >> 1) == 2 ? v.z : v.w;
  T t; t.bits = u16((j & 1) ? (w >> 16) : (w & 0xFFFFu));
  return to_f32(t);
}
template <> __device__ __forceinline__ float vec_elem<bf16>(const uint4& v, int j) { return vec_elem16<bf16>(v, j); }
template <> __device__ __forceinline__ float vec_elem<f16>(const uint4& v, int j) { return vec_elem16<f16>(v, j); }

// Codes of one 16-byte input vector: kE = 16 / sizeof(T) codes, two per cvt; random words from Philox
// groups starting at element e0 (a multiple of 4 on this path).
template <class T, bool kStochastic>
__device__ __forceinline__ void encode_vec(const uint4& v, float s, u64 e0, u64 seed, u32 (&out)[16 / sizeof(T) / 4]) {
  constexpr int kE = 16 / sizeof(T);
#pragma unroll
  for (int w = 0; w < kE / 4; ++w) {
    u32 word = 0;
    if (kStochastic) {
      const Philox4 r = random_group((e0 >> 2) + w, seed);
#pragma unroll
      for (int j = 0; j < 4; ++j)
        word |= encode_sw<E4M3FN, true, true>(scaled(vec_elem<T>(v, 4 * w + j), s), r.w[j]) << (8 * j);
    } else {
#pragma unroll
      for (int p = 0; p < 2; ++p) {
        const float lo = scaled(vec_elem<T>(v, 4 * w + 2 * p), s), hi = scaled(vec_elem<T>(v, 4 * w + 2 * p + 1), s);
        word |= encode_hw_x2<E4M3FN>(lo, hi) << (16 * p);
      }
    }
    out[w] = word;
  }
}

// Codes of one 16-byte input vector on a fast row (round to nearest even): div_by_row, then the raw
// hardware cvt. No NaN rewrite is needed here: a NaN quotient must give the +NaN code 0x7F, which is what
// cvt.rn.satfinite.e4m3x2 returns for a NaN of either sign (seen on H200; test_quantize_gpu pins it with
// NaNs of both signs in every kernel configuration).
template <class T>
__device__ __forceinline__ void encode_vec_fast(const uint4& v, float s, float y, u32 (&out)[16 / sizeof(T) / 4]) {
  constexpr int kE = 16 / sizeof(T);
#pragma unroll
  for (int w = 0; w < kE / 4; ++w) {
    u32 word = 0;
#pragma unroll
    for (int p = 0; p < 2; ++p) {
      const float lo = div_by_row(vec_elem<T>(v, 4 * w + 2 * p), s, y);
      const float hi = div_by_row(vec_elem<T>(v, 4 * w + 2 * p + 1), s, y);
      word |= cvt_x2_satfinite_raw<E4M3FN>(lo, hi) << (16 * p);
    }
    out[w] = word;
  }
}

// Step 1 over a thread's vectors: max |x|, NaN ignored. bfloat16: two lanes per max.bf16x2 on the raw
// words (|x| by clearing the sign bits), widened once at the end; exact, since a max selects an input.
template <class T, int kVecs>
__device__ __forceinline__ float vecs_amax(const uint4 (&buf)[kVecs]) {
  float amax = 0.0f;
#pragma unroll
  for (int v = 0; v < kVecs; ++v)
#pragma unroll
    for (int j = 0; j < 16 / (int)sizeof(T); ++j) amax = max_f32(amax, abs_f32(vec_elem<T>(buf[v], j)));
  return amax;
}
// bfloat16 / float16: two lanes per max.bf16x2 / max.f16x2 (NaN-ignoring like max.f32) on the raw words, |x|
// by clearing the sign bits, widened once at the end; exact, since a max selects one of its inputs.
__device__ __forceinline__ u32 max_x2(bf16, u32 a, u32 b) { return max_bf16x2(a, b); }
__device__ __forceinline__ u32 max_x2(f16, u32 a, u32 b) { return max_f16x2(a, b); }
template <class T, int kVecs>
__device__ __forceinline__ float vecs_amax_x2(const uint4 (&buf)[kVecs]) {
  constexpr u32 kAbs = 0x7FFF7FFFu;
  auto mx = [](u32 a, u32 b) { return max_x2(T{}, a, b); };
  u32 m = 0;
#pragma unroll
  for (int v = 0; v < kVecs; ++v)
    m = mx(m, mx(mx(buf[v].x & kAbs, buf[v].y & kAbs), mx(buf[v].z & kAbs, buf[v].w & kAbs)));
  T lo, hi;
  lo.bits = u16(m & 0xFFFFu);
  hi.bits = u16(m >> 16);
  return max_f32(to_f32(lo), to_f32(hi));
}
#define FP8CUDA_AMAX_X2(T, V) \
  template <> __device__ __forceinline__ float vecs_amax<T, V>(const uint4 (&buf)[V]) { return vecs_amax_x2<T, V>(buf); }
FP8CUDA_AMAX_X2(bf16, 1) FP8CUDA_AMAX_X2(bf16, 2) FP8CUDA_AMAX_X2(bf16, 4) FP8CUDA_AMAX_X2(bf16, 7) FP8CUDA_AMAX_X2(bf16, 8)
FP8CUDA_AMAX_X2(f16, 1) FP8CUDA_AMAX_X2(f16, 2) FP8CUDA_AMAX_X2(f16, 4) FP8CUDA_AMAX_X2(f16, 7) FP8CUDA_AMAX_X2(f16, 8)
#undef FP8CUDA_AMAX_X2

// Steps 2-4 for a thread's vectors of one row, given the row's raw amax (step 1, before scale_ub): the
// scale (written by the caller), then codes of vectors i = first + v * stride (i < nvec) stored to xq_row.
template <class T, int kVecs, bool kStochastic, bool kFastDivision = true>
__device__ __forceinline__ void encode_store_vecs(const uint4 (&buf)[kVecs], float raw_amax, float s, u8* __restrict__ xq_row,
                                                  long long first, long long stride, long long nvec, u64 e_row, u64 seed) {
  constexpr int kE = 16 / sizeof(T), kWords = kE / 4;
  const float y = div_rn(1.0f, s);
  if (!kStochastic && kFastDivision && row_divides_fast(raw_amax, y)) {  // uniform over the row
#pragma unroll
    for (int v = 0; v < kVecs; ++v) {
      const long long i = first + v * stride;
      if (i < nvec) {
        u32 out[kWords];
        encode_vec_fast<T>(buf[v], s, y, out);
        if (kWords == 2) reinterpret_cast<uint2*>(xq_row)[i] = make_uint2(out[0], out[kWords - 1]);
        else reinterpret_cast<u32*>(xq_row)[i] = out[0];
      }
    }
    return;
  }
#pragma unroll
  for (int v = 0; v < kVecs; ++v) {
    const long long i = first + v * stride;
    if (i < nvec) {
      u32 out[kWords];
      encode_vec<T, kStochastic>(buf[v], s, e_row + u64(i * kE), seed, out);
      if (kWords == 2) reinterpret_cast<uint2*>(xq_row)[i] = make_uint2(out[0], out[kWords - 1]);
      else reinterpret_cast<u32*>(xq_row)[i] = out[0];
    }
  }
}

// Blocks per SM that ptxas must fit: round to nearest with up to 2 vectors per thread, a full SM (2048
// threads, so <= 32 registers); otherwise (long rows, or Philox's extra registers) one block, no cap below
// 64 registers, so nothing spills.
template <int kThreads, int kVecs, bool kStochastic>
constexpr int kMinBlocks = (kVecs <= 2 && !kStochastic) ? (2048 / kThreads < 32 ? 2048 / kThreads : 32) : 1;

// Fast path. Requires K % (16 / sizeof(T)) == 0, x 16-byte aligned, xq (16 / sizeof(T))-byte aligned and
// K <= kThreads * kVecs * (16 / sizeof(T)). Thread t holds vectors t, t + kThreads, ... of its row.
// kFastDivision = false: div.rn on every row (for measurements only: fp8cuda.bench --variants).
template <class T, int kThreads, int kVecs, bool kStochastic, bool kFastDivision = true>
__global__ void __launch_bounds__(kThreads, kMinBlocks<kThreads, kVecs, kStochastic>) quantize_row_regs(const T* __restrict__ x, u8* __restrict__ xq,
                                                              float* __restrict__ scale, long long K,
                                                              FP8CUDA_SCALE_PARAMS) {
  constexpr int kE = 16 / sizeof(T);
  __shared__ float smem[32];
  const long long row = blockIdx.x;
  const long long nvec = K / kE;
  const long long num_tokens = nt_mode == 1 ? *nt_ptr : nt_value;
  constexpr int kWords = kE / 4;  // 32-bit words of codes per vector
  if (row >= num_tokens) {  // 5. never read
#pragma unroll
    for (int v = 0; v < kVecs; ++v) {
      const long long i = (long long)v * kThreads + threadIdx.x;
      if (i < nvec) {
        if (kWords == 2) reinterpret_cast<uint2*>(xq + row * K)[i] = make_uint2(0u, 0u);
        else reinterpret_cast<u32*>(xq + row * K)[i] = 0u;
      }
    }
    if (threadIdx.x == 0) scale[row] = scale_floor;
    return;
  }
  // 1. Load the whole row (every load issued before the first use), amax over it.
  const uint4* xv = reinterpret_cast<const uint4*>(x + row * K);
  uint4 buf[kVecs];
#pragma unroll
  for (int v = 0; v < kVecs; ++v) {
    const long long i = (long long)v * kThreads + threadIdx.x;
    buf[v] = i < nvec ? xv[i] : make_uint4(0u, 0u, 0u, 0u);
  }
  const float amax = block_max<kThreads>(vecs_amax<T, kVecs>(buf), smem);
  // 2, 3.
  const float s = scale_from_amax(amax, ub_ptr, ub_value, ub_mode, fmt_max, scale_floor);
  if (threadIdx.x == 0) scale[row] = s;
  // 4. Encode and store kE codes per vector.
  encode_store_vecs<T, kVecs, kStochastic, kFastDivision>(buf, amax, s, xq + row * K, threadIdx.x, kThreads, nvec, u64(row * K), seed);
}

// Thread block clusters (sm_90): the CTAs of a cluster can read each other's shared memory.
__device__ __forceinline__ u32 cluster_ctarank() { u32 r; asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(r)); return r; }
__device__ __forceinline__ void cluster_arrive() { asm volatile("barrier.cluster.arrive.release.aligned;" ::: "memory"); }
__device__ __forceinline__ void cluster_arrive_relaxed() { asm volatile("barrier.cluster.arrive.relaxed.aligned;" ::: "memory"); }
__device__ __forceinline__ void cluster_wait() { asm volatile("barrier.cluster.wait.acquire.aligned;" ::: "memory"); }
// Read a float from the shared memory of CTA `rank` of this cluster, at the address of `p` in ours.
__device__ __forceinline__ float ld_shared_cluster(const float* p, u32 rank) {
  u32 local, remote;
  float v;
  asm volatile("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(local) : "l"(p));
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(remote) : "r"(local), "r"(rank));
  asm volatile("ld.shared::cluster.f32 %0, [%1];" : "=f"(v) : "r"(remote) : "memory");
  return v;
}

// Short rows, few of them: one row per cluster of kCluster CTAs, so kCluster SMs share a row's latency-bound
// work. Same requirements as quantize_row_regs, with K <= kCluster * kThreads * kVecs * (16 / sizeof(T)).
// CTA c holds vectors (v * kCluster + c) * kThreads + t; the row's amax is the max of the CTAs' amaxes,
// exchanged through distributed shared memory between two cluster barriers. A third arrive/wait pair
// keeps every CTA (and its shared memory) alive until all have read the others'.
template <class T, int kThreads, int kVecs, int kCluster, bool kStochastic>
__global__ void __cluster_dims__(kCluster, 1, 1) __launch_bounds__(kThreads)
    quantize_row_cluster(const T* __restrict__ x, u8* __restrict__ xq, float* __restrict__ scale, long long K,
                         FP8CUDA_SCALE_PARAMS) {
  constexpr int kE = 16 / sizeof(T), kWords = kE / 4;
  __shared__ float smem[32];
  __shared__ float cta_amax;
  const u32 rank = cluster_ctarank();
  const long long row = blockIdx.x / kCluster;
  const long long nvec = K / kE;
  const long long num_tokens = nt_mode == 1 ? *nt_ptr : nt_value;
  if (row >= num_tokens) {  // 5. never read; the whole cluster takes this branch
#pragma unroll
    for (int v = 0; v < kVecs; ++v) {
      const long long i = ((long long)v * kCluster + rank) * kThreads + threadIdx.x;
      if (i < nvec) {
        if (kWords == 2) reinterpret_cast<uint2*>(xq + row * K)[i] = make_uint2(0u, 0u);
        else reinterpret_cast<u32*>(xq + row * K)[i] = 0u;
      }
    }
    if (threadIdx.x == 0 && rank == 0) scale[row] = scale_floor;
    return;
  }
  const uint4* xv = reinterpret_cast<const uint4*>(x + row * K);
  uint4 buf[kVecs];
#pragma unroll
  for (int v = 0; v < kVecs; ++v) {
    const long long i = ((long long)v * kCluster + rank) * kThreads + threadIdx.x;
    buf[v] = i < nvec ? xv[i] : make_uint4(0u, 0u, 0u, 0u);
  }
  float amax = block_max<kThreads>(vecs_amax<T, kVecs>(buf), smem);  // 1.
  if (threadIdx.x == 0) cta_amax = amax;
  cluster_arrive();  // release cta_amax to the cluster
  cluster_wait();
  const int lane = threadIdx.x % 32;
  amax = lane < kCluster ? ld_shared_cluster(&cta_amax, u32(lane)) : 0.0f;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) amax = max_f32(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, o));
  cluster_arrive_relaxed();  // done reading the others' shared memory (nothing to publish)
  const float s = scale_from_amax(amax, ub_ptr, ub_value, ub_mode, fmt_max, scale_floor);  // 2, 3.
  if (threadIdx.x == 0 && rank == 0) scale[row] = s;
  encode_store_vecs<T, kVecs, kStochastic>(buf, amax, s, xq + row * K, (long long)rank * kThreads + threadIdx.x,  // 4.
                                           (long long)kCluster * kThreads, nvec, u64(row * K), seed);
  cluster_wait();  // no CTA exits while another may still read its cta_amax
}

// cp.async (sm_80+): 16 bytes from global to shared memory without passing through registers (.cg: not
// cached in L1). A thread's copies complete in commit groups, and wait_group N makes all but its newest N
// groups visible to that thread.
__device__ __forceinline__ void cp_async_16(const uint4* smem_dst, const uint4* gmem_src) {
  u32 dst;
  asm volatile("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(dst) : "l"(smem_dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(dst), "l"(gmem_src) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int kPending> __device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(kPending) : "memory");
}

// Many rows: persistent blocks; block b handles rows b, b + gridDim.x, ... Each row passes through one of
// kStages shared-memory stages: the loads of the next kStages - 1 rows are in flight (cp.async, no
// registers held) while the block reduces and encodes the current one. Thread t copies, and later reads
// back, exactly the vectors t, t + kThreads, ... of each row, so the stages need no barrier of their own
// (wait_group orders a thread's copies before its reads; a stage is re-filled only after the thread
// consumed it). The block reduction alternates between two scratch arrays, so one __syncthreads per row
// suffices. Same requirements as quantize_row_regs. Dynamic shared memory: kStages * kVecs * kThreads * 16 B.
template <class T, int kThreads, int kVecs, int kStages, bool kStochastic>
__global__ void __launch_bounds__(kThreads, 1) quantize_row_pipe(const T* __restrict__ x, u8* __restrict__ xq,
                                                               float* __restrict__ scale, long long K, long long R,
                                                               FP8CUDA_SCALE_PARAMS) {
  constexpr int kE = 16 / sizeof(T), kWords = kE / 4;
  static_assert(kStages >= 2, "at least one row in flight while another is processed");
  extern __shared__ uint4 stages[];  // [kStages][kVecs][kThreads]
  __shared__ float smem[2][32];
  const long long nvec = K / kE;
  const long long num_tokens = nt_mode == 1 ? *nt_ptr : nt_value;
  const long long G = gridDim.x;
  const int t = threadIdx.x;
  auto issue = [&](long long row, int st) {  // loads of one row into stage st (rows that are read only)
    if (row < R && row < num_tokens) {
      const uint4* xv = reinterpret_cast<const uint4*>(x + row * K);
#pragma unroll
      for (int v = 0; v < kVecs; ++v) {
        const long long i = (long long)v * kThreads + t;
        if (i < nvec) cp_async_16(&stages[(st * kVecs + v) * kThreads + t], xv + i);
      }
    }
    cp_async_commit();  // one group per row, empty or not, so that wait_group counts rows
  };
#pragma unroll
  for (int j = 0; j < kStages - 1; ++j) issue(blockIdx.x + j * G, j);
  int st = 0, par = 0;
  for (long long row = blockIdx.x; row < R; row += G) {
    issue(row + (kStages - 1) * G, st == 0 ? kStages - 1 : st - 1);  // the stage consumed last iteration
    cp_async_wait<kStages - 1>();  // this row's group is complete
    if (row >= num_tokens) {  // 5. never read (and every later row of this block is past num_tokens too)
#pragma unroll
      for (int v = 0; v < kVecs; ++v) {
        const long long i = (long long)v * kThreads + t;
        if (i < nvec) {
          if (kWords == 2) reinterpret_cast<uint2*>(xq + row * K)[i] = make_uint2(0u, 0u);
          else reinterpret_cast<u32*>(xq + row * K)[i] = 0u;
        }
      }
      if (t == 0) scale[row] = scale_floor;
    } else {
      uint4 buf[kVecs];
#pragma unroll
      for (int v = 0; v < kVecs; ++v) {
        const long long i = (long long)v * kThreads + t;
        buf[v] = i < nvec ? stages[(st * kVecs + v) * kThreads + t] : make_uint4(0u, 0u, 0u, 0u);
      }
      const float amax = block_max<kThreads>(vecs_amax<T, kVecs>(buf), smem[par]);  // 1.
      par ^= 1;
      const float s = scale_from_amax(amax, ub_ptr, ub_value, ub_mode, fmt_max, scale_floor);  // 2, 3.
      if (t == 0) scale[row] = s;
      encode_store_vecs<T, kVecs, kStochastic>(buf, amax, s, xq + row * K, t, kThreads, nvec, u64(row * K), seed);  // 4.
    }
    st = st == kStages - 1 ? 0 : st + 1;
  }
  cp_async_wait<0>();
}

// Level 1: any K and alignment. Pass 1 reads the row for amax, pass 2 reads it again (mostly from L2).
template <class T, int kThreads, bool kStochastic>
__global__ void __launch_bounds__(kThreads) quantize_row_scalar(const T* __restrict__ x, u8* __restrict__ xq,
                                                                float* __restrict__ scale, long long K,
                                                                FP8CUDA_SCALE_PARAMS) {
  __shared__ float smem[32];
  const long long row = blockIdx.x;
  const long long num_tokens = nt_mode == 1 ? *nt_ptr : nt_value;
  const T* xr = x + row * K;
  u8* qr = xq + row * K;
  if (row >= num_tokens) {  // 5.
    for (long long k = threadIdx.x; k < K; k += kThreads) qr[k] = 0;
    if (threadIdx.x == 0) scale[row] = scale_floor;
    return;
  }
  float amax = 0.0f;  // 1.
  for (long long k = threadIdx.x; k < K; k += kThreads) amax = max_f32(amax, abs_f32(to_f32(xr[k])));
  amax = block_max<kThreads>(amax, smem);
  const float s = scale_from_amax(amax, ub_ptr, ub_value, ub_mode, fmt_max, scale_floor);  // 2, 3.
  if (threadIdx.x == 0) scale[row] = s;
  for (long long k = threadIdx.x; k < K; k += kThreads) {  // 4.
    const u32 r = kStochastic ? random_word(u64(row * K + k), seed) : 0u;
    qr[k] = u8(encode_sat<E4M3FN, kStochastic>(scaled(to_f32(xr[k]), s), r));
  }
}

// Per-tensor pass 1: amax over all n elements into *amax_bits (zeroed by the caller). Non-negative float32
// values order like their bit patterns as unsigned integers, so atomicMax on the bits is a float max.
// kVec: x is 16-byte aligned; vectors first, then the n % kE tail.
template <class T, bool kVec>
__global__ void __launch_bounds__(256) amax_tensor(const T* __restrict__ x, long long n, u32* __restrict__ amax_bits) {
  constexpr int kE = 16 / sizeof(T);
  __shared__ float smem[32];
  const long long stride = (long long)gridDim.x * 256, tid = (long long)blockIdx.x * 256 + threadIdx.x;
  float amax = 0.0f;
  long long done = 0;
  if (kVec) {
    const long long nvec = n / kE;
    const uint4* xv = reinterpret_cast<const uint4*>(x);
    for (long long i = tid; i < nvec; i += stride) {
      const uint4 v = xv[i];
#pragma unroll
      for (int j = 0; j < kE; ++j) amax = max_f32(amax, abs_f32(vec_elem<T>(v, j)));
    }
    done = nvec * kE;
  }
  for (long long i = done + tid; i < n; i += stride) amax = max_f32(amax, abs_f32(to_f32(x[i])));
  amax = block_max<256>(amax, smem);
  if (threadIdx.x == 0) atomicMax(amax_bits, __float_as_uint(amax));
}

// Per-tensor pass 2. kVec: x 16-byte aligned and xq (16 / sizeof(T))-byte aligned.
template <class T, bool kVec, bool kStochastic>
__global__ void __launch_bounds__(256) quantize_tensor(const T* __restrict__ x, u8* __restrict__ xq, long long n,
                                                       const u32* __restrict__ amax_bits, float* __restrict__ scale,
                                                       FP8CUDA_SCALE_PARAMS) {
  constexpr int kE = 16 / sizeof(T), kWords = kE / 4;
  const float s = scale_from_amax(__uint_as_float(*amax_bits), ub_ptr, ub_value, ub_mode, fmt_max, scale_floor);
  const long long stride = (long long)gridDim.x * 256, tid = (long long)blockIdx.x * 256 + threadIdx.x;
  if (tid == 0) scale[0] = s;
  long long done = 0;
  if (kVec) {
    const long long nvec = n / kE;
    const uint4* xv = reinterpret_cast<const uint4*>(x);
    for (long long i = tid; i < nvec; i += stride) {
      u32 out[kWords];
      encode_vec<T, kStochastic>(xv[i], s, u64(i * kE), seed, out);
      if (kWords == 2) reinterpret_cast<uint2*>(xq)[i] = make_uint2(out[0], out[kWords - 1]);
      else reinterpret_cast<u32*>(xq)[i] = out[0];
    }
    done = nvec * kE;
  }
  for (long long i = done + tid; i < n; i += stride) {
    const u32 r = kStochastic ? random_word(u64(i), seed) : 0u;
    xq[i] = u8(encode_sat<E4M3FN, kStochastic>(scaled(to_f32(x[i]), s), r));
  }
}

// Per-block: x viewed as [B, M, K]; one CUDA block per (bm, bk) tile, tiles numbered row-major over
// [B, ceil(M / bm), ceil(K / bk)] (the scale's layout). Edge tiles use their valid elements only.
template <class T, bool kStochastic>
__global__ void __launch_bounds__(256) quantize_block(const T* __restrict__ x, u8* __restrict__ xq,
                                                      float* __restrict__ scale, long long M, long long K,
                                                      long long bm, long long bk, FP8CUDA_SCALE_PARAMS) {
  __shared__ float smem[32];
  const long long nbm = (M + bm - 1) / bm, nbk = (K + bk - 1) / bk;
  const long long tile = blockIdx.x;
  const long long b = tile / (nbm * nbk), bi = (tile / nbk) % nbm, bj = tile % nbk;
  const long long r0 = bi * bm, c0 = bj * bk;
  const long long tm = min(bm, M - r0), tk = min(bk, K - c0);
  const long long base = b * M * K + r0 * K + c0;
  float amax = 0.0f;
  for (long long t = threadIdx.x; t < tm * tk; t += 256) amax = max_f32(amax, abs_f32(to_f32(x[base + (t / tk) * K + t % tk])));
  amax = block_max<256>(amax, smem);
  const float s = scale_from_amax(amax, ub_ptr, ub_value, ub_mode, fmt_max, scale_floor);
  if (threadIdx.x == 0) scale[tile] = s;
  for (long long t = threadIdx.x; t < tm * tk; t += 256) {
    const long long i = base + (t / tk) * K + t % tk;
    const u32 r = kStochastic ? random_word(u64(i), seed) : 0u;
    xq[i] = u8(encode_sat<E4M3FN, kStochastic>(scaled(to_f32(x[i]), s), r));
  }
}

}  // namespace fp8cuda

// quantize.cu: FP8 quantizers with fp8ref.scale's semantics (docs/CONTRACT.md), bit for bit.
//
// Per row (the input viewed as [R, K], row-major, contiguous):
//   1. amax = max |x| over the row, NaN ignored (max.f32 returns the non-NaN operand)
//   2. if scale_ub: amax = min(amax, ub)
//   3. s = max(amax / MAX, floor)                  float32 IEEE division (div.rn.f32)
//   4. xq = encode_satfinite(x / s)                 per element, IEEE division (div.rn.f32), never x * (1 / s);
//      a NaN quotient is +NaN (fp8ref pins it: NaN inputs and inf / inf give code 0x7F)
//   5. rows r >= num_tokens are never read: xq = 0, scale = floor
// Kernels:
//   quantize_row_regs    one block per row, the row held in registers as 16-byte vectors (fast path)
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
// (An FMA-corrected division with one reciprocal per row, exact by Markstein's theorem and checked equal
// to div.rn on every float32 x, measured slower on H200 at large shapes: its per-element range guards
// cost more than div.rn's own out-of-line slow path.)
__device__ __forceinline__ float scaled(float x, float s) {
  const float q = div_rn(x, s);
  return is_nan(q) ? __uint_as_float(0x7FC00000u) : q;
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

// Blocks per SM that ptxas must fit: round to nearest with up to 2 vectors per thread, a full SM (2048
// threads, so <= 32 registers); otherwise (long rows, or Philox's extra registers) one block, no cap below
// 64 registers, so nothing spills.
template <int kThreads, int kVecs, bool kStochastic>
constexpr int kMinBlocks = (kVecs <= 2 && !kStochastic) ? (2048 / kThreads < 32 ? 2048 / kThreads : 32) : 1;

// Fast path. Requires K % (16 / sizeof(T)) == 0, x 16-byte aligned, xq (16 / sizeof(T))-byte aligned and
// K <= kThreads * kVecs * (16 / sizeof(T)). Thread t holds vectors t, t + kThreads, ... of its row.
template <class T, int kThreads, int kVecs, bool kStochastic>
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
  float amax = 0.0f;
#pragma unroll
  for (int v = 0; v < kVecs; ++v)
#pragma unroll
    for (int j = 0; j < kE; ++j) amax = max_f32(amax, abs_f32(vec_elem<T>(buf[v], j)));
  amax = block_max<kThreads>(amax, smem);
  // 2, 3.
  const float s = scale_from_amax(amax, ub_ptr, ub_value, ub_mode, fmt_max, scale_floor);
  if (threadIdx.x == 0) scale[row] = s;
  // 4. Encode and store kE codes per vector.
#pragma unroll
  for (int v = 0; v < kVecs; ++v) {
    const long long i = (long long)v * kThreads + threadIdx.x;
    if (i < nvec) {
      u32 out[kWords];
      encode_vec<T, kStochastic>(buf[v], s, u64(row * K + i * kE), seed, out);
      if (kWords == 2) reinterpret_cast<uint2*>(xq + row * K)[i] = make_uint2(out[0], out[kWords - 1]);
      else reinterpret_cast<u32*>(xq + row * K)[i] = out[0];
    }
  }
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
  float amax = 0.0f;  // 1.
#pragma unroll
  for (int v = 0; v < kVecs; ++v)
#pragma unroll
    for (int j = 0; j < kE; ++j) amax = max_f32(amax, abs_f32(vec_elem<T>(buf[v], j)));
  amax = block_max<kThreads>(amax, smem);
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
#pragma unroll
  for (int v = 0; v < kVecs; ++v) {  // 4.
    const long long i = ((long long)v * kCluster + rank) * kThreads + threadIdx.x;
    if (i < nvec) {
      u32 out[kWords];
      encode_vec<T, kStochastic>(buf[v], s, u64(row * K + i * kE), seed, out);
      if (kWords == 2) reinterpret_cast<uint2*>(xq + row * K)[i] = make_uint2(out[0], out[kWords - 1]);
      else reinterpret_cast<u32*>(xq + row * K)[i] = out[0];
    }
  }
  cluster_wait();  // no CTA exits while another may still read its cta_amax
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

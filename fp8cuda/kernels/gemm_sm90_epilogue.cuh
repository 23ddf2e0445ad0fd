// Epilogue of the WGMMA GEMM kernels (gemm_sm90.cu): the row-wise scales and bias of a consumer's tile,
// fetched early, and the staged, coalesced store of one 64-row fragment through shared memory.
#pragma once
#include "gemm_sm90_pipeline.cuh"

namespace fp8cuda {

// Epilogue operands of one consumer's kHalves * 64 x BLOCK_N tile, loaded at the start of the tile and
// consumed after its main loop (their latency hides behind it): x_scale of this thread's two fragment rows
// of every 64-row half (xs[r][h]: row row0 + 64 r + 16 warp + lane / 4 + 8 h), and w_scale / bias of
// columns col0 + 2 tid + {0, 1} (staged in shared memory by store_tile_rows64).
template <int BLOCK_N, int kHalves>
__device__ __forceinline__ void load_epilogue_operands(float (&xs)[kHalves][2], float (&ws_pre)[2],
                                                       float (&bias_pre)[2], const float* __restrict__ x_scale,
                                                       const float* __restrict__ w_scale,
                                                       const float* __restrict__ bias, int row0, int col0, int M,
                                                       int N, int tid) {
  const int warp = tid / 32, lane = tid % 32;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
#pragma unroll
    for (int r = 0; r < kHalves; ++r) {
      const int m = row0 + 64 * r + warp * 16 + lane / 4 + 8 * h;
      xs[r][h] = m < M ? x_scale[m] : 0.f;
    }
    const int n = col0 + 2 * tid + h;
    ws_pre[h] = (2 * tid + h < BLOCK_N && n < N) ? w_scale[n] : 0.f;
    bias_pre[h] = (bias != nullptr && 2 * tid + h < BLOCK_N && n < N) ? bias[n] : 0.f;
  }
}

// The same operands for one consumer's 64 x BLOCK_N tile copied straight into shared memory with cp.async,
// so no registers are held across the main loop: w_scale / bias of columns col0 + i (i < BLOCK_N) and
// x_scale of rows row0 + r (r < 64), 0 outside the matrix (bias: 0 without bias). Visible to the
// warpgroup after cp_async_wait_all() and a warpgroup barrier; the caller makes sure nobody still reads
// the previous tile's values.
// kParts > 1: the columns are shared by kParts warpgroups, and this one (`part`) copies the columns
// [part, part + 1) * BLOCK_N / kParts of them (visible to the others after their barrier).
template <int BLOCK_N, int kParts = 1>
__device__ __forceinline__ void fetch_epilogue_operands(float* ws_smem, float* bias_smem, float* xs_smem,
                                                        const float* __restrict__ x_scale,
                                                        const float* __restrict__ w_scale,
                                                        const float* __restrict__ bias, int row0, int col0, int M,
                                                        int N, int tid, int part = 0) {
  static_assert(BLOCK_N % kParts == 0, "whole column parts");
  cp_async_wait_all();  // an earlier tile's copies into the same words have landed (no reordering)
#pragma unroll
  for (int i = part * (BLOCK_N / kParts) + tid; i < (part + 1) * (BLOCK_N / kParts); i += 128) {
    const int n = col0 + i;
    const bool in = n < N, in_bias = in && bias != nullptr;
    cp_async_4(ws_smem + i, in ? w_scale + n : w_scale, in ? 4u : 0u);
    cp_async_4(bias_smem + i, in_bias ? bias + n : w_scale, in_bias ? 4u : 0u);
  }
  if (tid < 64) {
    const int m = row0 + tid;
    cp_async_4(xs_smem + tid, m < M ? x_scale + m : x_scale, m < M ? 4u : 0u);
  }
}

// Epilogue of one consumer warpgroup: rows [row0, row0 + 64), columns [col0, col0 + BLOCK_N) of the
// output from its wgmma fragments (the m64nBLOCK_N layout). Scales and bias were loaded by the caller
// (xs: this thread's two fragment rows; ws_pre / bias_pre: columns col0 + 2 tid + {0, 1}) and are staged
// in shared memory (stage_column_operands); then each 128-byte column chunk goes fragments ->
// epilogue_value -> padded shared rows -> 16-byte coalesced global stores (copy_chunk_to_global, masked at
// M and N). `bar_id`: a named barrier of this warpgroup's 128 threads.

template <int BLOCK_N>
__device__ __forceinline__ void stage_column_operands(const float (&ws_pre)[2], const float (&bias_pre)[2],
                                                      float* ws_smem, float* bias_smem, u32 bar_id, int tid) {
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    if (2 * tid + h < BLOCK_N) {
      ws_smem[2 * tid + h] = ws_pre[h];
      bias_smem[2 * tid + h] = bias_pre[h];
    }
  }
  bar_sync(bar_id, 128);
}

// Shared memory (64 rows x 128 bytes, rows kEpiRowBytes apart) -> global rows [row0, row0 + 64), columns
// from chunk_col0: 64 rows x 8 vectors of 16 bytes, coalesced along rows, masked at M and N. Ends with a
// warpgroup barrier, so the staging rows may be rewritten.
template <int kOut>
__device__ __forceinline__ void copy_chunk_to_global(const unsigned char* epi, u32 bar_id, int row0, int chunk_col0,
                                                     int M, int N, void* __restrict__ out, int vec_store, int tid) {
  using Out = OutTraits<kOut>;
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

// store_staged_rows64: with w_scale / bias already in shared memory.
template <int BLOCK_N, int kOut>
__device__ __forceinline__ void store_staged_rows64(const float* result, const float (&xs)[2], const float* ws_smem,
                                                    const float* bias_smem, unsigned char* epi, u32 bar_id, int row0,
                                                    int col0, int M, int N, bool has_bias, void* __restrict__ out,
                                                    int vec_store, int tid) {
  using Out = OutTraits<kOut>;
  constexpr int kChunkCols = kEpiChunkBytes / Out::kBytes;
  const int warp = tid / 32, lane = tid % 32;
#pragma unroll
  for (int chunk = 0; chunk < BLOCK_N / kChunkCols; ++chunk) {
    const int chunk_col0 = col0 + chunk * kChunkCols;
    if (chunk_col0 >= N) break;  // uniform in the warpgroup
    // fragments -> shared memory (row-major 64 x kChunkCols, rows padded to kEpiRowBytes)
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
    copy_chunk_to_global<kOut>(epi, bar_id, row0, chunk_col0, M, N, out, vec_store, tid);
  }
}

template <int BLOCK_N, int kOut>
__device__ __forceinline__ void store_tile_rows64(const float* result, const float (&xs)[2], const float (&ws_pre)[2],
                                                  const float (&bias_pre)[2], float* ws_smem, float* bias_smem,
                                                  unsigned char* epi, u32 bar_id, int row0, int col0, int M, int N,
                                                  bool has_bias, void* __restrict__ out, int vec_store, int tid) {
  stage_column_operands<BLOCK_N>(ws_pre, bias_pre, ws_smem, bias_smem, bar_id, tid);
  store_staged_rows64<BLOCK_N, kOut>(result, xs, ws_smem, bias_smem, epi, bar_id, row0, col0, M, N, has_bias, out,
                                     vec_store, tid);
}

// Deferred epilogue (2-byte outputs): the same values in two steps, so the second can overlap the next
// tile's wgmmas. pack_tile_rows64: fragments -> epilogue_value -> one rounding -> packed pairs
// (packed[2 jj + h]: n8 block jj, fragment row h; w_scale / bias in shared memory).
// kRowScaled: `result` already holds acc * x_scale (epilogue step 1, scale_rows64) and xs is not used.
template <int BLOCK_N, int kOut, bool kFullTile, bool kBias, bool kRowScaled = false>
__device__ __forceinline__ void pack_tile_rows64_impl(u32 (&packed)[BLOCK_N / 4], const float* result,
                                                      const float (&xs)[2], const float* ws_smem,
                                                      const float* bias_smem, int col0, int N, int tid) {
  const int lane = tid % 32;
#pragma unroll
  for (int jj = 0; jj < BLOCK_N / 8; ++jj) {
    const int cl = 8 * jj + 2 * (lane % 4);  // column within the tile
    const int n = col0 + cl;
    const float2 ws = *reinterpret_cast<const float2*>(ws_smem + cl);
    const float2 bs = kBias ? *reinterpret_cast<const float2*>(bias_smem + cl) : float2{0.f, 0.f};
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      auto value = [&](float r, float w, float b) {
        return kRowScaled ? epilogue_rest(r, w, kBias, b) : epilogue_value(r, xs[h], w, kBias, b);
      };
      const float v0 = (kFullTile || n < N) ? value(result[4 * jj + 2 * h], ws.x, bs.x) : 0.f;
      const float v1 = (kFullTile || n + 1 < N) ? value(result[4 * jj + 2 * h + 1], ws.y, bs.y) : 0.f;
      packed[2 * jj + h] = OutTraits<kOut>::pack2(v0, v1);
    }
  }
}

// Tiles wholly inside N, the common case, skip the per-element column predicates, and the bias decision is
// made once per tile rather than per element (+3.1% over the 9 quick shapes, v12 in notes-gemm.md).
template <int BLOCK_N, int kOut>
__device__ __forceinline__ void pack_tile_rows64(u32 (&packed)[BLOCK_N / 4], const float* result,
                                                 const float (&xs)[2], const float* ws_smem,
                                                 const float* bias_smem, int col0, int N, bool has_bias, int tid) {
  static_assert(OutTraits<kOut>::kBytes == 2, "packed pairs of 16-bit outputs");
  if (col0 + BLOCK_N <= N) {
    if (has_bias)
      pack_tile_rows64_impl<BLOCK_N, kOut, true, true>(packed, result, xs, ws_smem, bias_smem, col0, N, tid);
    else
      pack_tile_rows64_impl<BLOCK_N, kOut, true, false>(packed, result, xs, ws_smem, bias_smem, col0, N, tid);
  } else if (has_bias) {
    pack_tile_rows64_impl<BLOCK_N, kOut, false, true>(packed, result, xs, ws_smem, bias_smem, col0, N, tid);
  } else {
    pack_tile_rows64_impl<BLOCK_N, kOut, false, false>(packed, result, xs, ws_smem, bias_smem, col0, N, tid);
  }
}

// store_packed_chunks_tma: kChunks 128-byte column chunks of the packed tile -> this consumer's staging
// buffers (chunk q: 64 rows x 128 bytes at epi + 8 KB q, 1024-byte aligned, in the 128-byte swizzle of
// tmap_out, gemm.py _out_tensor_map: 16-byte unit u of row r sits at unit u ^ (r % 8), so the fragment
// writes hit 32 distinct banks) -> one TMA store per 64 x 64 box at (chunk_col0 + 64 q, row0), issued by
// thread 0; the copy engine clips the boxes at M and N, and no consumer thread waits for the global writes.
// Thread 0 waits until the previous stores have read the buffers before anyone rewrites them; before the
// block exits, thread 0 waits for all its stores (bulk_wait_group<0>).
// `words`: the chunks' 16 packed words each (words[16 q + 2 j + h]: n8 block j of chunk q, fragment row h),
// i.e. &packed[16 * first chunk] of pack_tile_rows64's array; call it with a compile-time pointer offset.
template <int kChunks>
__device__ __forceinline__ void store_packed_chunks_tma(const u32* words, int chunk_col0, unsigned char* epi,
                                                        u32 bar_id, const void* tmap_out, int row0, int N, int tid) {
  constexpr int kChunkCols = kEpiChunkBytes / 2;
  constexpr int kChunkBytes = 64 * kEpiChunkBytes;
  if (chunk_col0 >= N) return;  // uniform in the warpgroup
  const int warp = tid / 32, lane = tid % 32;
  if (tid == 0) bulk_wait_group_read<0>();
  bar_sync(bar_id, 128);  // the buffers are free
#pragma unroll
  for (int q = 0; q < kChunks; ++q) {
#pragma unroll
    for (int j = 0; j < kChunkCols / 8; ++j) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int r = warp * 16 + lane / 4 + 8 * h;  // r % 8 == lane / 4
        *reinterpret_cast<u32*>(epi + q * kChunkBytes + r * kEpiChunkBytes + ((j ^ (lane / 4)) * 16) +
                                4 * (lane % 4)) = words[16 * q + 2 * j + h];
      }
    }
  }
  fence_proxy_async_shared_cta();  // this thread's st.shared -> visible to the copy engine
  bar_sync(bar_id, 128);
  if (tid == 0) {
#pragma unroll
    for (int q = 0; q < kChunks; ++q)
      if (chunk_col0 + q * kChunkCols < N) tma_store_2d(tmap_out, epi + q * kChunkBytes, chunk_col0 + q * kChunkCols, row0);
    bulk_commit_group();
  }
}

// One chunk (the cooperative kernel's deferred epilogue stores its chunks one at a time).
__device__ __forceinline__ void store_packed_chunk_tma(const u32* words, int chunk_col0, unsigned char* epi,
                                                       u32 bar_id, const void* tmap_out, int row0, int N, int tid) {
  store_packed_chunks_tma<1>(words, chunk_col0, epi, bar_id, tmap_out, row0, N, tid);
}

}  // namespace fp8cuda

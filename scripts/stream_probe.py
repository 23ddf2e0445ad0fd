"""Device experiment (docs/notes-decode.md, v4): how fast can a kernel stream a decode-sized weight
(16-117 MB) from HBM when timed like the decode benchmark (CUDA-graph replay of R back-to-back calls on R
buffers, R x bytes >= 4 x L2)? A plain LDG.128 read kernel (XOR of every word, one word out per thread),
grid-stride, for several grid sizes and loads in flight per thread. The TMA decode kernel streams the
same bytes in docs/notes-decode.md; this is the ceiling it is compared with.
Usage: PYTHONPATH=$PWD python scripts/stream_probe.py OUT.json
"""
import json
import sys

import cupy as cp
import torch

from fp8cuda import bench

SRC = r"""
template <int U>
__global__ void __launch_bounds__(512) stream_read(const uint4* __restrict__ p, long long n16, unsigned* out) {
  unsigned acc = 0;
  const long long stride = (long long)gridDim.x * blockDim.x * U;
  for (long long base = (long long)blockIdx.x * blockDim.x * U + threadIdx.x; base < n16; base += stride) {
    uint4 v[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const long long i = base + (long long)u * blockDim.x;
      v[u] = i < n16 ? __ldg(p + i) : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int u = 0; u < U; ++u) acc ^= v[u].x ^ v[u].y ^ v[u].z ^ v[u].w;
  }
  out[(long long)blockIdx.x * blockDim.x + threadIdx.x] = acc;
}
"""


def main():
    L2 = cp.cuda.runtime.getDeviceProperties(0)["l2CacheSize"]
    nsm = cp.cuda.runtime.getDeviceProperties(0)["multiProcessorCount"]
    us = [4, 8, 16]
    mod = cp.RawModule(code=SRC, options=("-std=c++17",), name_expressions=[f"stream_read<{u}>" for u in us])
    stream = lambda: cp.cuda.ExternalStream(torch.cuda.current_stream().cuda_stream)  # noqa: E731
    rows = []
    for mb in (16, 24, 56, 112):
        nbytes = mb << 20
        r = max(2, -(-4 * L2 // nbytes))
        bufs = [cp.random.randint(0, 2**31, nbytes // 4, dtype=cp.uint32) for _ in range(r)]
        for u in us:
            kern = mod.get_function(f"stream_read<{u}>")
            for per_sm in (1, 2, 4):
                for threads in (256, 512):
                    grid = nsm * per_sm * (512 // threads if threads == 256 else 1)
                    out = cp.empty(grid * threads, dtype=cp.uint32)

                    def run():
                        with stream():
                            for b in bufs:
                                kern((grid,), (threads,), (b, cp.int64(nbytes // 16), out))

                    t = bench._time_graph(torch, bench._capture(torch, run)) / r * 1e6
                    row = dict(MB=mb, unroll=u, blocks=grid, threads=threads, us=t, gbs=nbytes / t / 1e3)
                    rows.append(row)
                    print(f"{mb:4d} MB U={u:2d} grid={grid:4d}x{threads}: {t:8.2f} us {row['gbs']:6.0f} GB/s", flush=True)
        del bufs
        cp.get_default_memory_pool().free_all_blocks()
    json.dump(rows, open(sys.argv[1], "w"), indent=1)


if __name__ == "__main__":
    main()

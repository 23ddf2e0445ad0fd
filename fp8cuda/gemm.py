"""Row-wise scaled FP8 GEMM on Hopper: ``fp8ref.gemm.f8f8bf16_rowwise`` as CUDA kernels (CuPy).

``y[m, n] = rn(((acc[m, n] * x_scale[m]) * w_scale[n]) + bias[n])`` with ``acc`` the dot product of
row ``m`` of ``xq`` and row ``n`` of ``wq`` (e4m3fn codes, both K-major), the epilogue in float32 in
that order and one round-to-nearest-even to the output type. Accuracy: within
``fp8ref.gemm.gemm_error_bound`` for the chosen accumulation mode.

Two implementations, same signature, same semantics:

* ``f8f8bf16_rowwise``: ``kernels/gemm_sm90.cu`` (sm_90a): TMA loads into a multi-stage mbarrier
  pipeline, one producer and one or two consumer warpgroups issuing ``wgmma ... m64nNk32 .e4m3``,
  clusters of two blocks sharing the B tile through TMA multicast, persistent grid with a grouped
  tile order, scales/bias/rounding in the epilogue. Three schedules: cooperative (both consumers share
  each tile), overlapped cooperative (the same split of 128 x 256 tiles, whose column halves are finished
  one after the other so the next tile's MMAs start under the epilogue; ``kernels/gemm_sm90_halves.cuh``)
  and ping-pong (each consumer owns alternate tiles; one's epilogue overlaps the other's MMAs). Tile
  shape, stage count, cluster size and schedule are template parameters / kernel choices made per
  problem by ``select_config`` (docs/kernels.md).
* the decode kernel ``kernels/gemm_decode_sm90.cu`` (fp8cuda.gemm_decode): swap-AB wgmma, K split over
  a cluster and over accumulator chains, deterministic DSMEM reduction, programmatic dependent launch;
  ``select_kernel`` (the dispatcher) sends small M to it. Its accumulation is fp8ref's split-K model:
  the bound is ``gemm_error_bound(..., k_split=plan.k_split)`` (``k_split_for`` without a plan).
* ``f8f8bf16_rowwise_simple``: ``kernels/gemm_simple.cu``, the level-1 kernel (one warp per 16x8 tile,
  ``mma.sync.m16n8k32 .e4m3``): documentation and fallback.

Each wrapper: 1. checks the arguments (TypeError / ValueError naming the argument), 2. allocates the
output, 3. launches. No host-side padding or copies of the operands: M and N tails are handled in the
kernels (the TMA engine zero-fills out-of-range rows; stores are masked).

bfloat16 on CuPy: if this CuPy accepts ``ml_dtypes.bfloat16`` as a dtype (CuPy 14 does), bfloat16
outputs have that dtype; otherwise they are ``uint16`` arrays holding bfloat16 bit patterns
(``.get().view(ml_dtypes.bfloat16)`` on the host). ``out=`` and ``bias`` accept either form.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import ml_dtypes
import numpy as np

from .gemm_decode import DecodeConfig, decode_kernel_name, k_split_boundaries, select_decode_config, use_decode_kernel

__all__ = [
    "GemmConfig", "DecodeConfig", "GemmPlan", "make_plan", "candidate_configs", "candidate_instances",
    "overlap_supported", "select_config", "select_kernel",
    "k_split_for", "f8f8bf16_rowwise", "f8f8bf16_rowwise_simple", "bf16_cupy_dtype", "kernel_name_expression",
]

_KERNEL_FILE = "gemm_sm90.cu"
_DECODE_FILE = "gemm_decode_sm90.cu"
_SIMPLE_FILE = "gemm_simple.cu"
BLOCK_K = 128                       # one 128-byte swizzle row of e4m3 codes (kernels/gemm_sm90.cu)
_EPI_ROW_BYTES = 128 + 16           # epilogue staging row (kernels/gemm_sm90.cu, kEpiRowBytes)
_MAX_SMEM = 227 * 1024              # sm_90 opt-in dynamic shared memory per block
_OUT_KIND = {np.dtype(ml_dtypes.bfloat16): 0, np.dtype(np.float16): 1, np.dtype(np.float32): 2}
_NUM_SMS_DEFAULT = 132              # H100 SXM / H200; the real count is read from the device


def _cupy():
    import cupy  # lazy: fp8cuda imports without CuPy (CI, offline SASS tests)

    return cupy


@functools.lru_cache(maxsize=None)
def bf16_cupy_dtype():
    """The CuPy dtype used for bfloat16 arrays: ``ml_dtypes.bfloat16`` if this CuPy supports it, else ``uint16``."""
    cp = _cupy()
    try:
        cp.empty(1, dtype=ml_dtypes.bfloat16)
        return np.dtype(ml_dtypes.bfloat16)
    except Exception:  # noqa: BLE001 - any refusal means: not supported
        return np.dtype(np.uint16)


# ---------------------------------------------------------------------------------------------- configs

@dataclass(frozen=True)
class GemmConfig:
    """Template parameters of the WGMMA kernel instance plus the run-time tile-group size.

    Cooperative schedule (``pingpong=False``, ``sm90_fp8_gemm_rowwise``): block_m 64 (one consumer
    warpgroup) or 128 (two consumer warpgroups sharing each tile, 64 rows each).
    Ping-pong schedule (``pingpong=True``, ``sm90_fp8_gemm_rowwise_pingpong``): block_m 64 or 128, the
    rows of one consumer's own tile; the two consumer warpgroups alternate tiles, one's epilogue runs
    during the other's main loop.
    block_n: wgmma N, a multiple of 64 up to 256, such that a consumer's accumulators (slow accumulation:
    plus float32 totals) fit in 192 registers (``accumulator_registers``); num_stages:
    shared-memory pipeline depth; cluster_m: 1, or 2 (4) for clusters of two (four) blocks on vertically
    adjacent tiles sharing (multicasting) the B tile; group_m: cluster-tile rows visited together (L2 reuse).
    Overlapped cooperative schedule (``overlap=True``, ``sm90_fp8_gemm_rowwise_halves``): 128 x 256 tiles
    split between two consumers as in the cooperative one, each consumer's 64 x 256 as two m64n128 column
    halves that are finished one after the other at the tile switch, so the next tile's wgmmas start under
    the epilogue; fast accumulation, 16-bit output through TMA stores (N % 8 == 0, 16-byte aligned output)
    and K > 256 only (``overlap_supported``).
    """

    block_m: int = 128
    block_n: int = 256
    num_stages: int = 4
    cluster_m: int = 1          # 1, 2 or 4 blocks per cluster along M (B multicast)
    group_m: int = 8
    pingpong: bool = False
    overlap: bool = False

    @property
    def num_consumers(self) -> int:
        return 2 if self.pingpong or self.overlap else self.block_m // 64

    @property
    def epi_bytes(self) -> int:
        """Epilogue staging bytes per consumer (kernel: ``SmemLayout::kEpiBytes``): 64 padded rows of one
        128-byte chunk; the overlap kernel: two unpadded 64 x 128-byte chunk buffers (TMA-store boxes)."""
        return 2 * 64 * 128 if self.overlap else 64 * _EPI_ROW_BYTES

    @property
    def threads(self) -> int:
        return 128 * (1 + self.num_consumers)

    def smem_bytes(self) -> int:
        """Dynamic shared memory: the kernel's ``SmemLayout<...>::kTotal``."""
        stages = self.num_stages * (self.block_m + self.block_n) * BLOCK_K
        epi = self.num_consumers * self.epi_bytes
        if self.overlap:
            # one w_scale / bias copy for both consumers, no alignment slack (SmemLayout kSharedColumns)
            return stages + epi + (2 * self.block_n + 64 * self.num_consumers) * 4 + 2 * self.num_stages * 8
        scales = self.num_consumers * (2 * self.block_n + 64) * 4  # w_scale, bias of the columns; x_scale of 64 rows
        return stages + epi + scales + 2 * self.num_stages * 8 + 1024

    def accumulator_registers(self, use_fast_accum: bool) -> int:
        """Float32 accumulator (+ slow accumulation's totals) registers per consumer thread: the tile a
        consumer warpgroup owns (cooperative: 64 rows; ping-pong: block_m rows) x block_n / 128 threads,
        doubled by the float32 totals of slow accumulation. The kernels assert <= 192."""
        rows = self.block_m if self.pingpong else 64
        return rows * self.block_n // 128 * (1 if use_fast_accum else 2)

    def label(self) -> str:
        """Short name for tables: ``128x256x4c2`` (cooperative), ``pp64x256x5c2`` (ping-pong),
        ``ov128x256x4c2`` (overlapped cooperative)."""
        prefix = "pp" if self.pingpong else "ov" if self.overlap else ""
        return f"{prefix}{self.block_m}x{self.block_n}x{self.num_stages}c{self.cluster_m}"

    @classmethod
    def from_label(cls, label: str, group_m: int = 8) -> GemmConfig:
        """The config a ``label`` names (scripts take kernels by label).

        >>> GemmConfig.from_label("pp64x256x5c2") == GemmConfig(64, 256, 5, 2, pingpong=True)
        True
        >>> GemmConfig.from_label(GemmConfig(128, 256, 4, 2, overlap=True).label()).overlap
        True
        """
        m = re.fullmatch(r"(pp|ov)?(\d+)x(\d+)x(\d+)c(\d+)", label)
        if m is None:
            raise ValueError(f"label: expected [pp|ov]BMxBNxSTAGEScCLUSTER, e.g. ov128x256x4c2, got {label!r}")
        kind, bm, bn, stages, cm = m.groups()
        return cls(int(bm), int(bn), int(stages), int(cm), group_m, pingpong=kind == "pp", overlap=kind == "ov")


def kernel_name_expression(config: GemmConfig, use_fast_accum: bool, out_dtype) -> str:
    """NVRTC name expression of the kernel instance, e.g. ``fp8cuda::sm90_fp8_gemm_rowwise<128, 256, 4, 2, true, 0>``
    (BLOCK_M, BLOCK_N, kNumStages, kClusterM, kFastAccum, kOut) or
    ``fp8cuda::sm90_fp8_gemm_rowwise_pingpong<64, 256, 5, 2, true, 0>`` (same parameters; BLOCK_M: rows of one
    consumer's tile)."""
    kind = _OUT_KIND[np.dtype(out_dtype)]
    fast = "true" if use_fast_accum else "false"
    if config.overlap:  # 128 x 256 only (overlap_supported)
        return f"fp8cuda::sm90_fp8_gemm_rowwise_halves<{config.num_stages}, {config.cluster_m}, {kind}>"
    if config.pingpong:
        return (f"fp8cuda::sm90_fp8_gemm_rowwise_pingpong<{config.block_m}, {config.block_n}, {config.num_stages}, "
                f"{config.cluster_m}, {fast}, {kind}>")
    return (f"fp8cuda::sm90_fp8_gemm_rowwise<{config.block_m}, {config.block_n}, {config.num_stages}, "
            f"{config.cluster_m}, {fast}, {kind}>")


def _max_stages(block_m: int, block_n: int, pingpong: bool = False, overlap: bool = False) -> int:
    s = 1
    while GemmConfig(block_m, block_n, s + 1, pingpong=pingpong, overlap=overlap).smem_bytes() <= _MAX_SMEM and s < 8:
        s += 1
    return s


# Ping-pong instances, (block_m, block_n) per consumer: fast accumulation 128 x 128 (two m64n128 chains, 128
# registers per thread; v26: per FLOP 0.939 of the overlap kernel against 64 x 256's 0.919 over the 63 benchmark
# shapes), slow accumulation 64 x 192 (two 96-wide chains plus float32 totals: 192 registers; 256 would need 256
# of the 232 a consumer gets). Both with clusters of two (clusters of one and four measured slower).
_PINGPONG_TILE = {True: (128, 128), False: (64, 192)}
# Per-FLOP speed of the tile widths, (use_fast_accum, BLOCK_M) -> {BLOCK_N: efficiency}, relative to 128 x 256
# (cooperative or overlapped, clusters of two) with the waves factored out (measured TFLOP/s / (tiles / (SMs *
# waves))). 128-row fast: geomeans of two H200 runs on 9 + 13 shapes after v24 (docs/notes-gemm.md v25: 192
# 0.977 / 0.99, 128 0.924 / 0.904), confirmed over the 63 benchmark shapes (v26: 0.976, 0.911). 128-row
# slow: 128 / 192 = 0.889 (v3; measured 0.885 over 22 shapes in v25, 0.887 over 63 in v26); 256 does not fit
# its registers. 64-row tiles (M <= 64) keep v3's values: not re-measured.
_V3_EFFICIENCY = {256: 1.0, 192: 0.90, 128: 0.80}
_V3_SLOW = {192: 0.90, 128: 0.80}
_WIDTH_EFFICIENCY = {(True, 128): {256: 1.0, 192: 0.98, 128: 0.91}, (True, 64): _V3_EFFICIENCY,
                     (False, 128): _V3_SLOW, (False, 64): _V3_SLOW}
# Ping-pong 128 x 128 c2 over 128 x 256 c2 per FLOP, the same way (v26, 63 shapes, 2 rounds: 0.939; 64 x 256
# had 0.919 there, v25 0.927 / 0.912); its gain is only the finer wave quantization of its 128 x 128 tiles.
_PINGPONG_EFFICIENCY = 0.94


# Overlapped cooperative 128 x 256 c2 over cooperative 128 x 256 c2 per FLOP, fast accumulation, bf16 output:
# geomean over the 63 benchmark shapes on H200, both timed in the same shuffled rounds (`bench_gemm
# --schedules`, docs/notes-gemm.md "The schedules", "The harness"): 1.003 (25 ms warm-up), 0.999 (200 ms
# warm-up, orders per shape); 1.001 pooled, i.e. no measurable gain (no choice on the 63 shapes depends on
# it). Earlier fixed-order A/B runs on 9 shapes gave 1.03-1.04: an effect of the kernels' order.
_OVERLAP_GAIN = 1.001


def _pingpong_config(use_fast_accum: bool) -> GemmConfig:
    bm, bn = _PINGPONG_TILE[use_fast_accum]
    return GemmConfig(bm, bn, _max_stages(bm, bn, True), 2, 8, pingpong=True)


def _overlap_config(cluster_m: int) -> GemmConfig:
    return GemmConfig(128, 256, _max_stages(128, 256, overlap=True), cluster_m, 8, overlap=True)


def candidate_configs():
    """Every (GemmConfig, use_fast_accum) ``select_config`` can return (tests build and run each one)."""
    out = []
    for bm, cm in ((64, 1), (128, 1), (128, 2)):
        for bn in (256, 192, 128):
            for fast in (True, False):
                if fast or bn <= 192:
                    out.append((GemmConfig(bm, bn, _max_stages(bm, bn), cm, 8), fast))
    out += [(_pingpong_config(fast), fast) for fast in (True, False)]
    out += [(_overlap_config(2), True), (_overlap_config(1), True)]
    return out


def candidate_instances():
    """Every (GemmConfig, use_fast_accum, output dtype) kernel instance of ``candidate_configs``: the overlap
    kernel has 16-bit outputs only."""
    return [(cfg, fast, dt) for cfg, fast in candidate_configs() for dt in _OUT_KIND
            if not (cfg.overlap and np.dtype(dt).itemsize != 2)]


def _best_width(m: int, n: int, rows: int, widths, efficiency, num_sms: int) -> tuple[float, int]:
    """(cost, block_n) minimising waves * per-tile cost for tiles of ``rows`` x block_n."""
    best = None
    for bn in widths:
        tiles = -(-m // rows) * -(-n // bn)
        waves = -(-tiles // num_sms)
        cost = waves * bn / efficiency[bn]
        if best is None or cost < best[0] - 1e-9:
            best = (cost, bn)
    return best


def overlap_supported(cfg: GemmConfig, use_fast_accum: bool, n: int, k: int, out_dtype, out_ptr: int) -> str | None:
    """Why the overlap kernel cannot run this problem with ``cfg`` (None: it can): fast accumulation, a
    16-bit output written by TMA (16-byte aligned, N % 8 == 0), a 128 x 256 tile, K > 256."""
    if not use_fast_accum:
        return "needs use_fast_accum=True"
    if np.dtype(out_dtype).itemsize != 2:
        return f"needs a 16-bit output, got {np.dtype(out_dtype)}"
    if out_ptr % 16 or n % 8:
        return f"needs a 16-byte aligned output with N % 8 == 0 (TMA stores), got N={n}, address {out_ptr:#x}"
    if cfg.block_m != 128 or cfg.block_n != 256:
        return f"needs a 128 x 256 tile, got {cfg.block_m} x {cfg.block_n}"
    if k <= 2 * BLOCK_K:  # the kernel peels K blocks 0, 1 and the last one of every tile
        return f"needs K > {2 * BLOCK_K} (at least 3 K blocks per tile), got K={k}"
    return None


def select_config(m: int, n: int, k: int, *, use_fast_accum: bool, num_sms: int = _NUM_SMS_DEFAULT,
                  schedule: str | None = None, allow_overlap: bool = True) -> GemmConfig:
    """Tile heuristic. schedule: "cooperative", "overlap", "pingpong", or None (choose).

    Cooperative (the default): block_m 128 (64 when M <= 64), block_n 256/192/128 for fast
    accumulation and 192/128 for slow (its float32 promotion registers double the accumulators). Cost
    of a candidate = waves * per-tile cost, waves = ceil(tiles / SMs) (a persistent grid runs
    ``num_sms`` tiles at a time), per-tile cost ~ block_n / efficiency(block_n): wider wgmma reuses A
    more and reads B from shared memory less often per FLOP. Stages: as many as shared memory holds.
    Clusters of two (B multicast) whenever there are at least two tile rows.
    Overlapped cooperative (fast accumulation): instead of cooperative 128 x 256 with clusters of two when
    K > 256 and some cluster has two tiles or more (only then is there a tile switch to overlap); it runs at
    ``_OVERLAP_GAIN`` of the cooperative kernel. It assumes the common output (16-bit, 16-byte aligned,
    N % 8 == 0): for other outputs make_plan chooses again with ``allow_overlap=False``.
    Ping-pong: 128 x 128 (fast) or 64 x 192 (slow) per consumer, clusters of two. Without ``schedule``,
    chosen for fast accumulation when the cooperative choice has more tiles than SMs and ping-pong's
    finer waves beat it at the measured per-FLOP efficiency ``_PINGPONG_EFFICIENCY`` (e.g. M = 1024, N = 10240).

    >>> select_config(1024, 10240, 8192, use_fast_accum=True).pingpong
    True

    >>> select_config(8192, 8192, 8192, use_fast_accum=True)
    GemmConfig(block_m=128, block_n=256, num_stages=4, cluster_m=2, group_m=8, pingpong=False, overlap=True)
    >>> select_config(8192, 8192, 8192, use_fast_accum=True, schedule="cooperative").overlap
    False
    >>> select_config(8192, 8192, 8192, use_fast_accum=False).block_n
    192
    >>> select_config(16, 4096, 4096, use_fast_accum=True).block_m
    64
    """
    if schedule not in (None, "cooperative", "overlap", "pingpong"):
        raise ValueError(f"schedule: expected None, 'cooperative', 'overlap' or 'pingpong', got {schedule!r}")
    if schedule == "pingpong":
        return _pingpong_config(use_fast_accum)
    if schedule == "overlap":
        if not use_fast_accum:
            raise ValueError("schedule: 'overlap' needs use_fast_accum=True")
        return _overlap_config(2 if m > 128 else 1)
    block_m = 64 if m <= 64 else 128
    efficiency = _WIDTH_EFFICIENCY[use_fast_accum, block_m]
    cost, bn = _best_width(m, n, block_m, tuple(efficiency), efficiency, num_sms)
    # Clusters of two (B multicast) pay off once there are at least two waves of tile pairs.
    cluster_m = 2 if block_m == 128 and -(-m // block_m) >= 2 else 1
    overlap = (schedule is None and allow_overlap and use_fast_accum and bn == 256 and cluster_m == 2
               and k > 2 * BLOCK_K and -(-m // 256) * -(-n // 256) > num_sms // 2)
    if overlap:
        cost /= _OVERLAP_GAIN
    if schedule is None and use_fast_accum and block_m == 128 and -(-m // 128) * -(-n // bn) > num_sms:
        # Ping-pong's 128 x 128 tiles quantize waves twice as finely as 128 x 256 and run at
        # _PINGPONG_EFFICIENCY of it per FLOP (a tile costs 128 / efficiency in these units), faster than the
        # cooperative 128 x 128 (0.91). Taken only in the measured regime: more cooperative tiles than SMs
        # (v6: +12% to +39% where it was picked then; of the 63 benchmark shapes it picks 1024 x 10240 x 8192
        # and leaves 1024 x 6144 x 4096 and 1024 x 18432 x 16384 to 128 x 192, v25: +6.7% and +4.8% over
        # ping-pong 64 x 256). Slow accumulation: never (0.73 vs 0.88 of torch).
        pm, pn = _PINGPONG_TILE[True]
        tiles_pp = -(-m // pm) * -(-n // pn)
        if -(-tiles_pp // num_sms) * pm * pn / 128 / _PINGPONG_EFFICIENCY < cost - 1e-9:
            return select_config(m, n, k, use_fast_accum=True, num_sms=num_sms, schedule="pingpong")
    if overlap:
        return _overlap_config(2)
    return GemmConfig(block_m, bn, _max_stages(block_m, bn), cluster_m, 8)


# ---------------------------------------------------------------------------------------------- checks

def _is_bf16(dt) -> bool:
    return np.dtype(dt) == np.dtype(ml_dtypes.bfloat16)


def _resolve_output_dtype(output_dtype) -> np.dtype:
    try:
        dt = np.dtype(ml_dtypes.bfloat16 if output_dtype in ("bfloat16", "bf16") else output_dtype)
    except TypeError as e:
        raise TypeError(f"output_dtype: expected bfloat16, float16 or float32, got {output_dtype!r}") from e
    if dt not in _OUT_KIND:
        raise TypeError(f"output_dtype: expected bfloat16, float16 or float32, got {dt}")
    return dt


def _storage_dtype(dt: np.dtype) -> np.dtype:
    """CuPy dtype that stores values of output type ``dt``."""
    return bf16_cupy_dtype() if _is_bf16(dt) else dt


def _check_device_array(cp, a, name: str, device_id: int):
    if not isinstance(a, cp.ndarray):
        raise TypeError(f"{name}: expected a cupy.ndarray on the GPU, got {type(a).__name__}")
    if a.device.id != device_id:
        raise ValueError(f"{name}: on device {a.device.id}, expected the current device {device_id}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name}: must be C-contiguous (strides {a.strides} for shape {a.shape})")


def _check_codes(cp, a, name: str, ndims, device_id: int):
    _check_device_array(cp, a, name, device_id)
    if a.dtype != np.uint8:
        raise TypeError(f"{name}: expected uint8 e4m3fn codes, got dtype {a.dtype}")
    if a.ndim not in ndims:
        raise ValueError(f"{name}: expected rank in {tuple(ndims)}, got shape {a.shape}")


def _check_args(xq, wq, x_scale, w_scale, bias, out, output_dtype, *, need_tma: bool):
    """Validate; return (M_total, N, K, out_dtype, bias32 or None, out2d, result)."""
    cp = _cupy()
    dev = cp.cuda.Device().id
    _check_codes(cp, xq, "xq", (2, 3), dev)
    _check_codes(cp, wq, "wq", (2,), dev)
    k = xq.shape[-1]
    n = wq.shape[0]
    if wq.shape[1] != k:
        raise ValueError(f"xq and wq: K mismatch, xq.shape={xq.shape}, wq.shape={wq.shape}")
    m_total = int(np.prod(xq.shape[:-1]))
    if m_total < 1 or n < 1:
        raise ValueError(f"xq, wq: need M >= 1 and N >= 1, got xq.shape={xq.shape}, wq.shape={wq.shape}")
    if k < 16 or k % 16:
        raise ValueError(f"xq, wq: K must be a positive multiple of 16 (16-byte TMA rows), got K={k}")
    if need_tma:
        for name, a in (("xq", xq), ("wq", wq)):
            if a.data.ptr % 16:
                raise ValueError(f"{name}: base address must be 16-byte aligned for TMA, got {a.data.ptr:#x}")
    if m_total >= 2**31 or n >= 2**31 or k >= 2**31:
        raise ValueError(f"xq, wq: dimensions must be < 2**31, got M={m_total}, N={n}, K={k}")
    for name, s, shape in (("x_scale", x_scale, xq.shape[:-1]), ("w_scale", w_scale, (n,))):
        _check_device_array(cp, s, name, dev)
        if s.dtype != np.float32:
            raise TypeError(f"{name}: expected float32, got dtype {s.dtype}")
        if s.shape != tuple(shape):
            raise ValueError(f"{name}: expected shape {tuple(shape)}, got {s.shape}")
    bias32 = None
    if bias is not None:
        _check_device_array(cp, bias, "bias", dev)
        if bias.shape != (n,):
            raise ValueError(f"bias: expected shape {(n,)}, got {bias.shape}")
        if bias.dtype == np.float32:
            bias32 = bias
        elif _is_bf16(bias.dtype) or bias.dtype == np.uint16:
            # bfloat16 -> float32 is exact: the 16 bits become the high half of the float32 word
            bias32 = (bias.view(cp.uint16).astype(cp.uint32) << 16).view(cp.float32)
        else:
            raise TypeError(f"bias: expected float32 or bfloat16 (or uint16 bfloat16 bits), got dtype {bias.dtype}")
    out_dt = _resolve_output_dtype(output_dtype)
    store_dt = _storage_dtype(out_dt)
    out_shape = tuple(xq.shape[:-1]) + (n,)
    if out is None:
        out = cp.empty(out_shape, dtype=store_dt)
    else:
        _check_device_array(cp, out, "out", dev)
        ok_dtypes = {store_dt} | ({np.dtype(np.uint16)} if _is_bf16(out_dt) else set())
        if out.dtype not in ok_dtypes:
            raise TypeError(f"out: expected dtype {store_dt} for output_dtype {out_dt}, got {out.dtype}")
        if out.shape != out_shape:
            raise ValueError(f"out: expected shape {out_shape}, got {out.shape}")
    return m_total, n, k, out_dt, bias32, out


# ---------------------------------------------------------------------------------------------- TMA

def _driver():
    try:
        from cuda.bindings import driver
    except ImportError as e:  # pragma: no cover - environment dependent
        raise ImportError("fp8cuda.gemm needs cuda-bindings (cuTensorMapEncodeTiled): pip install cuda-bindings") from e
    return driver


def _encode_2d(dtype: str, ptr: int, rows: int, cols: int, elem_bytes: int, box_cols: int, box_rows: int,
               l2_promotion: str, what: str) -> np.void:
    """128-byte CUtensorMap of a row-major [rows, cols] matrix (cols * elem_bytes % 16 == 0), boxes of
    [box_rows, box_cols], 128-byte swizzle, zero fill out of bounds; returned as a 128-byte ``numpy.void``
    (a by-value kernel argument)."""
    cu = _driver()
    err, tmap = cu.cuTensorMapEncodeTiled(
        getattr(cu.CUtensorMapDataType, f"CU_TENSOR_MAP_DATA_TYPE_{dtype}"),
        2,
        ptr,
        [cu.cuuint64_t(cols), cu.cuuint64_t(rows)],          # dims, innermost first
        [cu.cuuint64_t(cols * elem_bytes)],                   # byte stride of dim 1 (rows)
        [cu.cuuint32_t(box_cols), cu.cuuint32_t(box_rows)],
        [cu.cuuint32_t(1), cu.cuuint32_t(1)],
        cu.CUtensorMapInterleave.CU_TENSOR_MAP_INTERLEAVE_NONE,
        cu.CUtensorMapSwizzle.CU_TENSOR_MAP_SWIZZLE_128B,
        getattr(cu.CUtensorMapL2promotion, f"CU_TENSOR_MAP_L2_PROMOTION_{l2_promotion}"),
        cu.CUtensorMapFloatOOBfill.CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE,
    )
    if int(err) != 0:
        raise RuntimeError(f"cuTensorMapEncodeTiled failed ({err}) for {what}: rows={rows}, cols={cols}, "
                           f"box {box_rows} x {box_cols}")
    words = np.array([int(w) for w in tmap.opaque], dtype=np.uint64)
    return words.view(np.dtype((np.void, 128)))[0]


@functools.lru_cache(maxsize=256)  # the key determines the map completely
def _tensor_map(ptr: int, rows: int, k: int, box_rows: int) -> np.void:
    """TMA load map of a row-major [rows, k] e4m3 code matrix (K % 16 == 0): boxes of [box_rows, 128 codes]."""
    return _encode_2d("UINT8", ptr, rows, k, 1, BLOCK_K, box_rows, "L2_256B", "an operand")


@functools.lru_cache(maxsize=256)
def _out_tensor_map(ptr: int, rows: int, n: int) -> np.void:
    """TMA store map of a row-major [rows, n] 16-bit output: boxes of 64 rows x 64 columns (128 bytes, the
    epilogue's column chunk; kernels/gemm_sm90_epilogue.cuh, store_packed_chunk_tma). Needs ptr % 16 == 0
    and n % 8 == 0."""
    return _encode_2d("UINT16", ptr, rows, n, 2, 64, 64, "NONE", "the output")


_NO_TENSOR_MAP = np.zeros(16, np.uint64).view(np.dtype((np.void, 128)))[0]  # for launches that store no TMA


@functools.lru_cache(maxsize=None)
def _num_sms(device_id: int) -> int:
    cp = _cupy()
    return int(cp.cuda.runtime.getDeviceProperties(device_id)["multiProcessorCount"])


def _max_clusters(kern, cfg: GemmConfig, num_sms: int) -> int:
    """How many clusters can be resident at once (cuOccupancyMaxActiveClusters), else #SMs / cluster size."""
    if cfg.cluster_m == 1:
        return num_sms
    return _max_clusters_cached(kern.kernel.ptr, cfg.cluster_m, cfg.threads, cfg.smem_bytes(), num_sms)


@functools.lru_cache(maxsize=None)
def _max_clusters_cached(func_ptr: int, cluster_m: int, threads: int, smem: int, num_sms: int) -> int:
    fallback = num_sms // cluster_m
    try:
        cu = _driver()
        conf = cu.CUlaunchConfig()
        conf.gridDimX, conf.gridDimY, conf.gridDimZ = fallback * cluster_m, 1, 1
        conf.blockDimX, conf.blockDimY, conf.blockDimZ = threads, 1, 1
        conf.sharedMemBytes = smem
        err, n = cu.cuOccupancyMaxActiveClusters(cu.CUfunction(func_ptr), conf)
        if int(err) == 0 and n > 0:
            return int(n)
    except Exception:  # noqa: BLE001 - the query is an optimisation; the fallback is correct too
        pass
    return fallback


@functools.lru_cache(maxsize=None)
def _kernel(expr: str, smem: int, file: str = _KERNEL_FILE):
    from ._loader import get_kernel

    kern = get_kernel(file, expr)
    kern.max_dynamic_shared_size_bytes = smem
    return kern


# "cupy": CuPy RawKernel call with the tensor maps as 128-byte numpy.void scalars.
# "driver": cuLaunchKernel (cuda-bindings) on the same CUfunction with a hand-built argument array.
# The first call tries "cupy" and falls back to "driver" if CuPy rejects the struct arguments.
_launch_mode = "cupy"


def _pack_args(args):
    """Host buffers holding each kernel parameter's bytes, and the ``void*[]`` of their addresses."""
    import ctypes

    cp = _cupy()
    holders = []
    for a in args:
        if isinstance(a, np.void):
            holders.append(np.frombuffer(a.tobytes(), np.uint8).copy())
        elif isinstance(a, cp.ndarray):
            holders.append(np.array([a.data.ptr], np.uint64))
        else:
            holders.append(np.array([a], dtype=np.asarray(a).dtype))
    return holders, (ctypes.c_void_p * len(holders))(*[h.ctypes.data for h in holders])


def _launch_driver(kern, grid, block, args, smem):
    import ctypes

    cu = _driver()
    holders, ptrs = _pack_args(args)
    stream = _cupy().cuda.get_current_stream().ptr
    (err,) = cu.cuLaunchKernel(cu.CUfunction(kern.kernel.ptr), grid[0], grid[1], 1, block, 1, 1, smem,
                               cu.CUstream(stream), ctypes.addressof(ptrs), 0)
    if int(err) != 0:
        raise RuntimeError(f"cuLaunchKernel failed ({err})")


class _PdlLauncher:
    """``cuLaunchKernelEx`` with programmatic stream serialization (programmatic dependent launch): the
    kernel's blocks may start while the previous kernel in the stream finishes; the kernel itself waits
    (griddepcontrol.wait) before touching global memory. Parameters are packed once, at plan time."""

    def __init__(self, kern, grid, block, args, smem):
        import ctypes

        cu = _driver()
        self._holders, self._ptrs = _pack_args(args)
        self._params = ctypes.addressof(self._ptrs)
        conf = cu.CUlaunchConfig()
        conf.gridDimX, conf.gridDimY, conf.gridDimZ = grid[0], grid[1], 1
        conf.blockDimX, conf.blockDimY, conf.blockDimZ = block, 1, 1
        conf.sharedMemBytes = smem
        attr = cu.CUlaunchAttribute()
        attr.id = cu.CUlaunchAttributeID.CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION
        attr.value.programmaticStreamSerializationAllowed = 1
        conf.attrs = [attr]
        conf.numAttrs = 1
        self._conf, self._func, self._cu = conf, cu.CUfunction(kern.kernel.ptr), cu

    def __call__(self):
        self._conf.hStream = self._cu.CUstream(_cupy().cuda.get_current_stream().ptr)
        (err,) = self._cu.cuLaunchKernelEx(self._conf, self._func, self._params, 0)
        if int(err) != 0:
            raise RuntimeError(f"cuLaunchKernelEx failed ({err})")


def _launch(kern, grid, block, args, smem):
    global _launch_mode
    if _launch_mode == "cupy":
        try:
            kern(grid, (block,), args, shared_mem=smem)
            return
        except TypeError:
            _launch_mode = "driver"
    _launch_driver(kern, grid, block, args, smem)


# ---------------------------------------------------------------------------------------------- API

class GemmPlan:
    """A checked, ready-to-launch WGMMA GEMM: ``plan()`` launches and returns ``plan.out``.

    Everything that does not depend on the data (argument checks, kernel choice, tensor maps, kernel
    lookup, output allocation) is done once in ``make_plan``; calling the plan only launches on CuPy's
    current stream: no allocation, no host synchronisation, so it can be captured in a CUDA graph.
    ``config``: the GemmConfig or DecodeConfig launched; ``k_split``: fp8ref's ``k_split`` of the
    accumulation (``()`` when K is not split), for ``fp8ref.gemm.gemm_error_bound(..., k_split=...)``."""

    def __init__(self, kern, grid, block, args, smem, out, config, k_split=(), pdl=False):
        self.kern, self.grid, self.block, self.args, self.smem = kern, grid, block, args, smem
        self.out, self.config, self.k_split = out, config, tuple(k_split)
        self._pdl = _PdlLauncher(kern, grid, block, args, smem) if pdl else None
        self.pdl = bool(pdl)

    def __call__(self):
        if self._pdl is not None:
            self._pdl()
        else:
            _launch(self.kern, self.grid, self.block, self.args, self.smem)
        return self.out


def make_plan(xq, wq, x_scale, w_scale, bias=None, use_fast_accum: bool = True, out=None,
              output_dtype=ml_dtypes.bfloat16, *, config: GemmConfig | DecodeConfig | None = None,
              pdl: bool | None = None) -> GemmPlan:
    """Check the arguments of ``f8f8bf16_rowwise`` and prepare its launch (see there). pdl: launch the decode
    kernel with programmatic dependent launch (None: yes for the decode kernel; the large-M kernels do not
    support it). The result never depends on it: the kernel waits for earlier kernels before any global
    memory access; only its set-up and L2 prefetches of weights overlap the previous kernel."""
    m, n, k, out_dt, bias32, out = _check_args(xq, wq, x_scale, w_scale, bias, out, output_dtype, need_tma=True)
    cp = _cupy()
    num_sms = _num_sms(cp.cuda.Device().id)
    cfg = config or select_kernel(m, n, k, use_fast_accum=use_fast_accum, num_sms=num_sms)
    if isinstance(cfg, DecodeConfig):
        return _make_decode_plan(xq, wq, x_scale, w_scale, bias32, out, m, n, k, out_dt, cfg, use_fast_accum,
                                 pdl=True if pdl is None else pdl)
    if pdl:
        raise ValueError(f"pdl: only the decode kernel supports programmatic dependent launch, not {cfg}")
    if not isinstance(cfg, GemmConfig):
        raise TypeError(f"config: expected a GemmConfig or DecodeConfig, got {type(cfg).__name__}")
    if cfg.block_m not in (64, 128) or cfg.block_n % 64 or not 64 <= cfg.block_n <= 256 or cfg.cluster_m not in (1, 2, 4):
        raise ValueError(f"config: unsupported tile {cfg.block_m}x{cfg.block_n} / cluster {cfg.cluster_m}")
    if cfg.pingpong and cfg.overlap:
        raise ValueError(f"config: pingpong and overlap are two different schedules, got {cfg}")
    if cfg.overlap:
        why = overlap_supported(cfg, use_fast_accum, n, k, out_dt, out.data.ptr)
        if why is not None:
            if config is not None:
                raise ValueError(f"config: the overlap kernel {why}")
            cfg = select_config(m, n, k, use_fast_accum=use_fast_accum, num_sms=num_sms, allow_overlap=False)
    if cfg.pingpong and cfg.block_m == 128 and cfg.block_n > 128:
        raise ValueError(f"config: ping-pong with block_m 128 needs block_n <= 128 (two m64nN accumulator chains "
                         f"of 192 registers spill), got {cfg}")
    if cfg.accumulator_registers(use_fast_accum) > 192:
        raise ValueError(f"config: {cfg} needs {cfg.accumulator_registers(use_fast_accum)} accumulator registers per "
                         f"thread with use_fast_accum={use_fast_accum}, more than the 192 a consumer can hold")
    if cfg.smem_bytes() > _MAX_SMEM:
        raise ValueError(f"config: {cfg} needs {cfg.smem_bytes()} bytes of shared memory > {_MAX_SMEM}")
    kern = _kernel(kernel_name_expression(cfg, use_fast_accum, out_dt), cfg.smem_bytes())
    cluster_tiles = -(-m // (cfg.block_m * cfg.cluster_m)) * -(-n // cfg.block_n)
    # persistent: each cluster strides over the cluster tiles; at most one block per SM
    grid = (cfg.cluster_m * min(cluster_tiles, _max_clusters(kern, cfg, num_sms)), 1)
    # vec_store: 16-byte vector stores (N * bytes % 16 == 0, aligned output); then the cooperative kernel
    # with two consumers defers its epilogue for fast accumulation and 16-bit outputs, through TMA stores
    vec_store = int(out.data.ptr % 16 == 0 and (n * out_dt.itemsize) % 16 == 0)
    tma = vec_store and out_dt.itemsize == 2 and use_fast_accum and not cfg.pingpong and cfg.block_m == 128
    maps = (_tensor_map(xq.data.ptr, m, k, cfg.block_m),
            _tensor_map(wq.data.ptr, n, k, cfg.block_n // cfg.cluster_m))  # each block of a cluster loads its share
    bias_arg = bias32 if bias32 is not None else np.uint64(0)
    if cfg.overlap:
        args = maps + (x_scale, w_scale, bias_arg, np.int32(m), np.int32(n), np.int32(k), np.int32(cfg.group_m),
                       _out_tensor_map(out.data.ptr, m, n))
        return GemmPlan(kern, grid, cfg.threads, args, cfg.smem_bytes(), out, cfg)
    args = maps + (
        x_scale, w_scale, bias_arg, out,
        np.int32(m), np.int32(n), np.int32(k), np.int32(cfg.group_m), np.int32(vec_store),
    ) + (() if cfg.pingpong else (_out_tensor_map(out.data.ptr, m, n) if tma else _NO_TENSOR_MAP,))
    return GemmPlan(kern, grid, cfg.threads, args, cfg.smem_bytes(), out, cfg)


def _make_decode_plan(xq, wq, x_scale, w_scale, bias32, out, m, n, k, out_dt, cfg: DecodeConfig,
                      use_fast_accum: bool, pdl: bool) -> GemmPlan:
    """The swap-AB split-K kernel (kernels/gemm_decode_sm90.cu) for the checked arguments."""
    cfg.validate(use_fast_accum)
    num_t = -(-m // cfg.block_t)
    if num_t > 65535:
        raise ValueError(f"config: {cfg} covers at most {65535 * cfg.block_t} rows of xq, got M={m}")
    kern = _kernel(decode_kernel_name(cfg, use_fast_accum, _OUT_KIND[out_dt]), cfg.smem_bytes(), _DECODE_FILE)
    vec_store = int(out.data.ptr % 16 == 0 and n % 8 == 0)
    args = (
        _tensor_map(wq.data.ptr, n, k, cfg.rows_w),
        _tensor_map(xq.data.ptr, m, k, cfg.block_t),
        x_scale, w_scale, bias32 if bias32 is not None else np.uint64(0), out,
        np.int32(m), np.int32(n), np.int32(k), np.int32(vec_store),
    )
    grid = (-(-n // cfg.rows_w) * cfg.split, num_t)
    return GemmPlan(kern, grid, cfg.threads, args, cfg.smem_bytes(), out, cfg, k_split_boundaries(k, cfg.split, cfg.chains),
                    pdl=pdl)


def select_kernel(m: int, n: int, k: int, *, use_fast_accum: bool, num_sms: int = _NUM_SMS_DEFAULT):
    """The dispatcher: ``gemm_decode.use_decode_kernel`` decides between the decode kernel
    (``select_decode_config``) and the large-M kernel (``select_config``), per (M, N, K) and device (SM
    count). ``m`` counts all rows of xq (batched inputs are flattened).

    >>> type(select_kernel(16, 4096, 4096, use_fast_accum=True)).__name__
    'DecodeConfig'
    >>> type(select_kernel(4096, 4096, 4096, use_fast_accum=True)).__name__
    'GemmConfig'
    """
    if use_decode_kernel(m, n, k):
        return select_decode_config(m, n, k, use_fast_accum=use_fast_accum, num_sms=num_sms)
    return select_config(m, n, k, use_fast_accum=use_fast_accum, num_sms=num_sms)


def k_split_for(m: int, n: int, k: int, *, use_fast_accum: bool, num_sms: int | None = None) -> tuple[int, ...]:
    """fp8ref ``k_split`` of the accumulation ``f8f8bf16_rowwise`` performs for this shape on this device
    (``()``: K not split): the bound is ``fp8ref.gemm.gemm_error_bound(..., k_split=k_split_for(...))``."""
    if num_sms is None:
        num_sms = _num_sms(_cupy().cuda.Device().id)
    cfg = select_kernel(m, n, k, use_fast_accum=use_fast_accum, num_sms=num_sms)
    return k_split_boundaries(k, cfg.split, cfg.chains) if isinstance(cfg, DecodeConfig) else ()


def f8f8bf16_rowwise(xq, wq, x_scale, w_scale, bias=None, use_fast_accum: bool = True, out=None,
                     output_dtype=ml_dtypes.bfloat16, *, config: GemmConfig | DecodeConfig | None = None):
    """Row-wise scaled FP8 GEMM (WGMMA kernel, sm_90a): ``fp8ref.gemm.f8f8bf16_rowwise`` on the GPU.

    xq: [M, K] or [B, M, K] cupy uint8 e4m3fn codes; wq: [N, K] codes; both C-contiguous (K-major),
    16-byte aligned, K a multiple of 16. x_scale: float32 [M] ([B, M]); w_scale: float32 [N];
    bias: [N] float32 or bfloat16, or None. use_fast_accum: True accumulates all of K in the tensor
    cores' FP8 accumulator; False adds every 128-K partial sum into float32 registers. out: optional
    preallocated [.., M, N] output. output_dtype: bfloat16 (default), float16 or float32.
    Returns [M, N] ([B, M, N]). A NaN code in row m of xq makes row m of the output NaN.
    config: override ``select_config``'s choice (benchmarks, tests).
    """
    return make_plan(xq, wq, x_scale, w_scale, bias, use_fast_accum, out, output_dtype, config=config)()


def f8f8bf16_rowwise_simple(xq, wq, x_scale, w_scale, bias=None, use_fast_accum: bool = True, out=None,
                            output_dtype=ml_dtypes.bfloat16):
    """Same function as ``f8f8bf16_rowwise`` through the level-1 kernel (``kernels/gemm_simple.cu``,
    ``mma.sync.m16n8k32`` from global memory, sm_89+). Same arguments and checks (no alignment need)."""
    m, n, k, out_dt, bias32, out = _check_args(xq, wq, x_scale, w_scale, bias, out, output_dtype, need_tma=False)
    if -(-m // 32) > 65535:
        raise ValueError(f"xq: the level-1 kernel handles at most 32 * 65535 rows, got M={m}")
    from ._loader import get_kernel

    fast = "true" if use_fast_accum else "false"
    kern = get_kernel(_SIMPLE_FILE, f"fp8cuda::fp8_gemm_rowwise_simple<{fast}, {_OUT_KIND[out_dt]}>")
    args = (xq, wq, x_scale, w_scale, bias32 if bias32 is not None else np.uint64(0), out,
            np.int32(m), np.int32(n), np.int32(k))
    kern((-(-n // 16), -(-m // 32)), (128,), args)
    return out

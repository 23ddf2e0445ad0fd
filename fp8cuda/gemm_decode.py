"""Decode (small-M) configurations of the row-wise FP8 GEMM: ``kernels/gemm_decode_sm90.cu``.

With M <= 128 tokens the GEMM reads the N x K weight once and does little else, so the kernel is built
for HBM bandwidth: swap AB (64 or 128 weight rows per wgmma on the A side, the tokens on the N side),
a deep TMA ring, every block resident at once, and K split over the blocks of a cluster when N gives
too few blocks; the cluster adds its partial tiles over DSMEM in split order (deterministic, no
workspace). Users do not call this module: ``fp8cuda.gemm.make_plan`` / ``f8f8bf16_rowwise`` dispatch
here through ``select_decode_config``.

Accumulation: fp8ref's split-K model (``fp8ref.gemm.accumulation_error_bound(..., k_split=...)``) with
the boundaries of ``k_split_boundaries``; ``split == 1`` is the unsplit model.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DecodeConfig", "DECODE_MAX_M", "TOKEN_TILES", "use_decode_kernel", "select_decode_config", "decode_candidates",
           "k_split_boundaries", "decode_kernel_name"]

BLOCK_K = 128            # K per stage (kernels/gemm_common.cuh)
RED_PAD = 4              # kRedPad in the kernel
TOKEN_TILES = (8, 16, 32, 64, 128)   # wgmma N instances (ptx_sm90.cuh)
DECODE_MAX_M = 128       # largest M the dispatcher sends here
MAX_SPLIT = 8            # portable cluster size
MAX_CHAINS = 8
_RING_BUDGET = 100 * 1024  # bytes of stage ring per block: two blocks per SM, ~200 KB in flight per SM
_MAX_STAGES = 16


@dataclass(frozen=True)
class DecodeConfig:
    """Template parameters of ``sm90_fp8_gemm_rowwise_decode``.

    rows_w: weight rows per block (64 or 128: one or two m64 wgmmas per K step); block_t: tokens per
    block (wgmma N, one of TOKEN_TILES); num_stages: TMA ring depth; split: blocks per cluster, each
    taking a contiguous share of the K blocks; chains: independent accumulator chains per block, each
    taking a contiguous share of its block's K blocks (one chain of dependent wgmmas streams only
    ~30 GB/s: docs/notes-decode.md).
    """

    rows_w: int = 64
    block_t: int = 8
    num_stages: int = 8
    split: int = 1
    chains: int = 1

    threads = 160  # one consumer warpgroup + one producer warp

    def smem_bytes(self) -> int:
        """Dynamic shared memory: the kernel's ``DecodeSmem<...>::kTotal``."""
        ring = self.num_stages * (self.rows_w + self.block_t) * BLOCK_K
        red = self.chains * self.block_t * (self.rows_w + RED_PAD) * 4
        return max(ring, red) + 2 * self.num_stages * 8 + 1024

    def label(self) -> str:
        """Short name for tables: ``d64x8x12s2c4`` (rows_w x block_t x stages, split 2, 4 chains)."""
        return f"d{self.rows_w}x{self.block_t}x{self.num_stages}s{self.split}c{self.chains}"

    def validate(self, use_fast_accum: bool) -> None:
        if (self.rows_w not in (64, 128) or self.block_t not in TOKEN_TILES or not 1 <= self.split <= MAX_SPLIT
                or not 1 <= self.chains <= MAX_CHAINS):
            raise ValueError(f"config: unsupported decode tile {self}")
        if self.chains > self.num_stages:  # the kernel's static_assert: the ring must cover the chains in flight
            raise ValueError(f"config: chains ({self.chains}) must not exceed num_stages ({self.num_stages})")
        if not 2 <= self.num_stages <= _MAX_STAGES:
            raise ValueError(f"config: num_stages must be in 2..{_MAX_STAGES}, got {self.num_stages}")
        if self.chains * (self.rows_w // 64) * (self.block_t // 2) * (1 if use_fast_accum else 2) > 128:
            raise ValueError(f"config: accumulators exceed 128 registers per thread: {self}")
        if self.smem_bytes() > 227 * 1024:
            raise ValueError(f"config: {self} needs {self.smem_bytes()} bytes of shared memory")


def decode_kernel_name(cfg: DecodeConfig, use_fast_accum: bool, out_kind: int) -> str:
    """NVRTC name expression, e.g. ``fp8cuda::sm90_fp8_gemm_rowwise_decode<64, 8, 12, 2, 4, true, 0>``
    (kRowsW, BLOCK_T, kNumStages, kSplit, kChains, kFastAccum, kOut)."""
    fast = "true" if use_fast_accum else "false"
    return (f"fp8cuda::sm90_fp8_gemm_rowwise_decode<{cfg.rows_w}, {cfg.block_t}, {cfg.num_stages}, "
            f"{cfg.split}, {cfg.chains}, {fast}, {out_kind}>")


def k_split_boundaries(k: int, split: int, chains: int = 1) -> tuple[int, ...]:
    """fp8ref ``k_split`` of the kernel (``chain_range`` in the kernel): block s of a cluster takes K blocks
    [s0, s1) = [s * nkb // split, (s + 1) * nkb // split) (nkb = ceil(K / 128)), its chain c the blocks
    [s0 + c (s1 - s0) // chains, s0 + (c + 1) (s1 - s0) // chains); the partial sums are added in
    (s, c) order, which is K order. Interior boundaries in K; empty ranges dropped (exact zeros).

    >>> k_split_boundaries(4096, 4)
    (1024, 2048, 3072)
    >>> k_split_boundaries(4096, 2, 2), k_split_boundaries(4096, 1), k_split_boundaries(256, 4)
    ((1024, 2048, 3072), (), (128,))
    """
    nkb = -(-k // BLOCK_K)
    cuts = set()
    for s in range(split):
        s0, s1 = s * nkb // split, (s + 1) * nkb // split
        cuts.update(BLOCK_K * (s0 + c * (s1 - s0) // chains) for c in range(chains))
    return tuple(sorted(c for c in cuts if 0 < c < k))


def _token_tile(m: int) -> int:
    return next(t for t in TOKEN_TILES if t >= min(m, DECODE_MAX_M))


def _stages(rows_w: int, block_t: int) -> int:
    """As many stages as the ring budget holds (2 .. 16)."""
    return max(2, min(_MAX_STAGES, _RING_BUDGET // ((rows_w + block_t) * BLOCK_K)))


def _chains(block_t: int, use_fast_accum: bool) -> int:
    """Two accumulator chains where the registers allow (measured: 2 is as good as 4 or 8)."""
    return 2 if 2 * (block_t // 2) * (1 if use_fast_accum else 2) <= 128 else 1


def _deep_stages(block_t: int) -> int | None:
    """16 stages (one block per SM, the deepest ring) where shared memory holds them."""
    cfg = DecodeConfig(64, block_t, _MAX_STAGES)
    return _MAX_STAGES if cfg.smem_bytes() <= 227 * 1024 else None


def use_decode_kernel(m: int, n: int, k: int) -> bool:
    """The dispatcher's choice between this kernel and the large-M kernel (fast accumulation, H200,
    graph-replay timings of docs/notes-decode.md, sweep 3): M <= 16 always; M <= 32 unless N > 16384
    (there the large-M kernel's wider tiles balance better); 32 < M <= 128 only for narrow weights
    (N <= 4096, or N <= 8192 with K >= 2N), where the large-M kernel has too few tiles for the SMs.

    >>> use_decode_kernel(1, 106496, 16384), use_decode_kernel(32, 28672, 4096), use_decode_kernel(128, 4096, 14336)
    (True, False, True)
    """
    if m > DECODE_MAX_M:
        return False
    if m <= 16:
        return True
    if m <= 32:
        return n <= 16384
    return n <= 4096 or (n <= 8192 and k >= 2 * n)


def select_decode_config(m: int, n: int, k: int, *, use_fast_accum: bool, num_sms: int) -> DecodeConfig:
    """Decode configuration (M <= DECODE_MAX_M), from the H200 sweeps in docs/notes-decode.md.

    block_t: the smallest token tile >= M; rows_w 64. split: 2 (a cluster of two blocks on one tile)
    when N gives fewer than 96 tiles and K has >= 64 blocks (Llama-3-8B down projection), or, for
    M > 32, when N gives at most 128 tiles; else 1 (clusters add more fixed cost than they win).
    chains: 2. Stages: 16 (one block per SM) when every block fits in one wave of one block per SM,
    else as many as keep two blocks per SM (the ring budget).

    >>> select_decode_config(1, 4096, 14336, use_fast_accum=True, num_sms=132)
    DecodeConfig(rows_w=64, block_t=8, num_stages=16, split=2, chains=2)
    >>> select_decode_config(16, 16384, 16384, use_fast_accum=True, num_sms=132)
    DecodeConfig(rows_w=64, block_t=16, num_stages=10, split=1, chains=2)
    """
    block_t = _token_tile(m)
    rows_w = 64
    tiles = -(-n // rows_w) * -(-m // block_t)
    nkb = -(-k // BLOCK_K)
    split = 2 if (tiles < 96 and nkb >= 64) or (m > 32 and tiles <= 128 and nkb >= 8) else 1
    deep = _deep_stages(block_t)
    stages = deep if deep and tiles * split <= num_sms else _stages(rows_w, block_t)
    return DecodeConfig(rows_w, block_t, stages, split, _chains(block_t, use_fast_accum))


def decode_candidates():
    """Every (DecodeConfig, use_fast_accum) ``select_decode_config`` can return (the offline SASS test
    compiles each, the GPU tests run each)."""
    out = []
    for block_t in TOKEN_TILES:
        for stages in sorted({_stages(64, block_t), _deep_stages(block_t) or _stages(64, block_t)}):
            for split in (1, 2):
                for fast in (True, False):
                    out.append((DecodeConfig(64, block_t, stages, split, _chains(block_t, fast)), fast))
    return out

"""GPU tests of fp8cuda's row-wise FP8 GEMM against fp8ref (skipped without a Hopper GPU and CuPy).

One test body runs against every implementation (``impl`` fixture: the WGMMA kernel and the level-1
kernel). Tolerances come only from ``fp8ref.gemm.gemm_error_bound`` (through
``fp8ref.testing.assert_gemm_within_bound``); outputs are poisoned (all-ones bytes: NaN) before each
launch, so an unwritten element fails the NaN-position check.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fp8cuda.testing import BF16, OUT_DTYPES, poisoned, random_operands, run_and_check, skip_unless_hopper, to_host
from fp8ref.strategies import gemm_operands, gemm_shapes
from fp8ref.testing import assert_gemm_within_bound

pytestmark = pytest.mark.gpu


@pytest.fixture(params=["wgmma", "simple"])
def impl(request):
    skip_unless_hopper()
    from fp8cuda import gemm

    return {"wgmma": gemm.f8f8bf16_rowwise, "simple": gemm.f8f8bf16_rowwise_simple}[request.param]


# ------------------------------------------------------------------------------------------ properties

@pytest.mark.parametrize("use_fast_accum", [True, False])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow, HealthCheck.data_too_large])
@given(ops=gemm_operands(gemm_shapes(max_m=600, max_n=600, max_k=4096)), out_dtype=st.sampled_from(OUT_DTYPES))
def test_hypothesis_shapes(impl, use_fast_accum, ops, out_dtype):
    run_and_check(impl, ops, use_fast_accum=use_fast_accum, out_dtype=out_dtype)


@pytest.mark.parametrize("use_fast_accum", [True, False])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow, HealthCheck.data_too_large])
@given(ops=gemm_operands(gemm_shapes(max_m=300, max_n=300, max_k=512), allow_nan=True, batch=True))
def test_hypothesis_batched_nan_bias(impl, use_fast_accum, ops):
    run_and_check(impl, ops, use_fast_accum=use_fast_accum)


# ------------------------------------------------------------------------------------------ fixed cases

@pytest.mark.parametrize("use_fast_accum", [True, False])
@pytest.mark.parametrize("m,n,k", [(1, 1, 16), (1, 7, 48), (129, 257, 144), (2049, 1031, 2048), (256, 4100, 4096)])
def test_shapes_with_tails(impl, use_fast_accum, m, n, k):
    rng = np.random.default_rng(m * 7919 + n * 31 + k)
    run_and_check(impl, random_operands(rng, m, n, k, bias=True), use_fast_accum=use_fast_accum)


@pytest.mark.parametrize("use_fast_accum", [True, False])
def test_large(impl, use_fast_accum):
    rng = np.random.default_rng(1)
    run_and_check(impl, random_operands(rng, 1024, 2048, 8192), use_fast_accum=use_fast_accum)


@pytest.mark.parametrize("use_fast_accum", [True, False])
def test_nan_row_only(impl, use_fast_accum):
    """A NaN code in row m of xq makes exactly row m of the output NaN (and a NaN in row n of wq, column n)."""
    rng = np.random.default_rng(2)
    xq, wq, xs, ws, _ = random_operands(rng, 200, 300, 256)
    xq[17, 5] = 0x7F
    xq[150, 255] = 0xFF
    wq[33, 100] = 0x7F
    got = run_and_check(impl, (xq, wq, xs, ws, None), use_fast_accum=use_fast_accum, out_dtype=np.float32)
    nan_rows = sorted(set(np.nonzero(np.isnan(got).all(axis=1))[0]))
    assert nan_rows == [17, 150]
    assert np.isnan(got[:, 33]).all()


@pytest.mark.parametrize("use_fast_accum", [True, False])
@pytest.mark.parametrize("bias_dtype", [np.float32, BF16])
def test_batched_bias(impl, use_fast_accum, bias_dtype):
    rng = np.random.default_rng(3)
    ops = random_operands(rng, 77, 130, 320, batch=3, bias=True, bias_dtype=bias_dtype)
    run_and_check(impl, ops, use_fast_accum=use_fast_accum)


def test_default_output_allocated():
    cp = skip_unless_hopper()
    from fp8cuda import gemm
    from fp8cuda.gemm import f8f8bf16_rowwise

    rng = np.random.default_rng(4)
    xq, wq, xs, ws, _ = random_operands(rng, 65, 70, 128)
    out = f8f8bf16_rowwise(*[cp.asarray(a) for a in (xq, wq, xs, ws)])
    assert out.shape == (65, 70)
    assert_gemm_within_bound(to_host(out, BF16), xq, wq, xs, ws, use_fast_accum=True,
                             k_split=gemm.k_split_for(65, 70, 128, use_fast_accum=True))


@pytest.mark.parametrize("use_fast_accum", [True, False])
@pytest.mark.parametrize("m,n,k", [(1, 8, 16), (77, 130, 32), (129, 257, 48), (600, 248, 16), (300, 520, 64),
                                   (1, 72, 4096), (128, 128, 4096), (200, 264, 4096), (389, 300, 1040)])
def test_accumulator_is_the_model_bit_for_bit(use_fast_accum, m, n, k):
    """Unit scales and float32 output make the output the accumulator (the epilogue multiplies by 1.0).
    fp8ref's accumulator model reproduced an H200's tensor cores bit for bit at K = 16, 32, 64 and 4096, both
    accumulations, for cuBLAS unsplit and for this kernel split (tests/test_gemm.py::test_model_reproduces_*),
    so the kernel must equal ``emulate_accumulator`` (with the plan's K split) exactly, large-M and decode
    (M <= 128) kernels alike: a lost or repeated K slice, a wrong swizzle, a promotion at the wrong K or stale
    shared memory shows as a bit difference the bound may hide. 1040 = 8 * 128 + 16: a partial last K block."""
    skip_unless_hopper()
    xq, wq, _, _, _ = random_operands(np.random.default_rng(m * 1009 + n * 31 + k), m, n, k)
    assert_output_is_the_model(xq, wq, use_fast_accum, np.float32)


def assert_output_is_the_model(xq, wq, use_fast_accum, out_dtype, config=None):
    """Launch with unit scales and no bias: the output is the accumulator rounded once to out_dtype, so it
    must equal fp8ref's measured model (with the plan's K split) rounded the same way, bit for bit."""
    import cupy as cp

    from fp8cuda import gemm
    from fp8ref import emulate_accumulator

    (m, _), n = xq.shape, wq.shape[0]
    out = poisoned(cp, (m, n), out_dtype)
    plan = gemm.make_plan(cp.asarray(xq), cp.asarray(wq), cp.ones(m, cp.float32), cp.ones(n, cp.float32),
                          use_fast_accum=use_fast_accum, out=out, output_dtype=out_dtype, config=config)
    plan()
    cp.cuda.runtime.deviceSynchronize()
    with np.errstate(over="ignore"):  # float16: |acc| > 65504 rounds to inf, as cvt.rn.f16.f32 does
        want = emulate_accumulator(xq, wq, use_fast_accum=use_fast_accum,
                                   k_split=plan.k_split or None).astype(out_dtype)
    bits = np.uint16 if np.dtype(out_dtype).itemsize == 2 else np.uint32
    np.testing.assert_array_equal(to_host(out, out_dtype).view(bits), want.view(bits))


# ------------------------------------------------------------------------------------------ every tile config

def _candidates():
    from fp8cuda.gemm import candidate_configs

    return candidate_configs()


def _instances():
    from fp8cuda.gemm import candidate_instances

    return candidate_instances()


@pytest.mark.parametrize("index", range(len(_instances())))
def test_every_config(index):
    """Every instance select_config may pick (cooperative, overlapped cooperative and ping-pong), on a shape
    with tails in M, N and a partial last K block (3 * BLOCK_M + 5 rows: with clusters of two, the last
    cluster's second block is out of range; N % 8 == 0 for the overlap kernel's TMA stores, else odd)."""
    skip_unless_hopper()
    from fp8cuda import gemm

    cfg, fast, out_dtype = _instances()[index]
    rng = np.random.default_rng(index)
    n = 2 * cfg.block_n + (8 if cfg.overlap else 3)
    ops = random_operands(rng, 3 * cfg.block_m + 5, n, 528, bias=True)  # 528 = 4 * 128 + 16
    run_and_check(gemm.f8f8bf16_rowwise, ops, use_fast_accum=fast, out_dtype=out_dtype, config=cfg)
    assert_output_is_the_model(ops[0], ops[1], fast, out_dtype, config=cfg)  # bit for bit, not just bounded


def test_persistent_many_tiles():
    """More tiles than SMs: each block loops over several tiles (pipeline phases carry across tiles)."""
    skip_unless_hopper()
    from fp8cuda import gemm

    rng = np.random.default_rng(5)
    ops = random_operands(rng, 128 * 40 + 1, 128 * 9 + 7, 400)
    for fast in (True, False):
        for cluster_m in (1, 2, 4):
            run_and_check(gemm.f8f8bf16_rowwise, ops, use_fast_accum=fast,
                          config=gemm.GemmConfig(128, 128, 4, cluster_m, group_m=3))
            run_and_check(gemm.f8f8bf16_rowwise, ops, use_fast_accum=fast,
                          config=gemm.GemmConfig(64, 128, 4, cluster_m, group_m=3, pingpong=True))
            # ping-pong with 128-row tiles: two row-half accumulator chains (not picked by select_config)
            run_and_check(gemm.f8f8bf16_rowwise, ops, use_fast_accum=fast,
                          config=gemm.GemmConfig(128, 128 if fast else 64, 4, cluster_m, group_m=3, pingpong=True))


@pytest.mark.parametrize("k,out_dtype", [(16, BF16), (144, BF16), (144, np.float16), (400, BF16)])
def test_deferred_epilogue(k, out_dtype):
    """Cooperative kernel, fast accumulation, 16-bit output with N % 8 == 0 (vector stores): the column
    chunks of a tile leave through TMA stores, the last ones during the next tile's first K blocks. More
    tiles than resident blocks for every config (the chunks must land in the right tile), an M tail, an N
    tail inside a 128-byte chunk (the copy engine clips the box; whole tiles and the tail tile are packed by
    different code), with and without bias, and K of 1, 2 and 4 K blocks (fewer K blocks than deferred
    chunks: the rest is stored after the main loop)."""
    skip_unless_hopper()
    from fp8cuda import gemm

    rng = np.random.default_rng(k)
    ops = random_operands(rng, 128 * 32 + 3, 256 * 5 + 40, k, bias=True)
    for cfg in (gemm.GemmConfig(128, 256, 4, 2, group_m=3), gemm.GemmConfig(128, 192, 5, 1),
                gemm.GemmConfig(128, 128, 6, 2, group_m=5)):
        run_and_check(gemm.f8f8bf16_rowwise, ops, use_fast_accum=True, out_dtype=out_dtype, config=cfg)
    # without bias: the packing of whole tiles and of the N-tail tile each have a no-bias form
    ops = random_operands(rng, 128 * 32 + 3, 256 * 5 + 40, k, bias=False)
    run_and_check(gemm.f8f8bf16_rowwise, ops, use_fast_accum=True, out_dtype=out_dtype,
                  config=gemm.GemmConfig(128, 256, 4, 2, group_m=3))


@pytest.mark.parametrize("k,out_dtype", [(272, BF16), (400, np.float16), (784, BF16), (1040, BF16)])
def test_overlap_tile_switch(monkeypatch, k, out_dtype):
    """Overlap kernel: the column halves of a tile are finished one after the other while the next tile's
    first K blocks are in flight, the right half's chunks stored under the next tile's K blocks 2 and 3 (or
    before its last K block when K is short), the scales fetched by both consumers once both have packed.
    Many tiles per block (several switches, odd and even counts), an M tail, an N tail inside a chunk
    (N % 8 == 0: the copy engine clips the box), with and without bias, clusters of 1, 2 and 4, and K of 3
    K blocks (the fewest the kernel takes: its K loop does not run), 4, 7 (the last one partial) and 9. The
    grid is capped at 3 clusters, so every block switches tiles 5 to 19 times on a shape small enough for the
    host reference."""
    block_n = 256
    skip_unless_hopper()
    from fp8cuda import gemm

    monkeypatch.setattr(gemm, "_max_clusters", lambda kern, cfg, num_sms: 3)
    rng = np.random.default_rng(200 + k + block_n)
    for bias, clusters in ((True, (1, 2, 4)), (False, (2,))):
        ops = random_operands(rng, 128 * 9 + 3, block_n * 5 + 40, k, bias=bias)
        for cluster_m in clusters:
            run_and_check(gemm.f8f8bf16_rowwise, ops, use_fast_accum=True, out_dtype=out_dtype,
                          config=gemm.GemmConfig(128, block_n, 4, cluster_m, group_m=3, overlap=True))


def test_overlap_nan_rows_and_columns(monkeypatch):
    """Overlap kernel (the default for most large problems): a NaN code in row m of xq makes exactly row m of
    the output NaN, one in row n of wq exactly column n, in tiles of different blocks, in both column halves
    and in the M tail, with many tile switches per block (grid capped at 3 clusters); bf16 output."""
    skip_unless_hopper()
    from fp8cuda import gemm

    monkeypatch.setattr(gemm, "_max_clusters", lambda kern, cfg, num_sms: 3)
    rng = np.random.default_rng(9)
    m, n = 128 * 9 + 3, 256 * 5 + 40
    xq, wq, xs, ws, bias = random_operands(rng, m, n, 400, bias=True)
    rows, cols = [5, 300, 700, m - 1], [17, 130, 1000]  # col 17: L half of tile 0, 130: R half, 1000: tile 3
    for r_, k_ in zip(rows, (0, 133, 399, 256)):
        xq[r_, k_] = 0x7F
    for c_, k_ in zip(cols, (1, 200, 398)):
        wq[c_, k_] = 0xFF
    got = run_and_check(gemm.f8f8bf16_rowwise, (xq, wq, xs, ws, bias), use_fast_accum=True,
                        config=gemm.GemmConfig(128, 256, 4, 2, group_m=3, overlap=True))
    nan = np.isnan(np.asarray(got, dtype=np.float32))
    assert sorted(np.nonzero(nan.all(axis=1))[0]) == rows
    assert sorted(np.nonzero(nan.all(axis=0))[0]) == cols
    assert nan.sum() == len(rows) * n + len(cols) * m - len(rows) * len(cols)


def test_overlap_refuses_what_it_cannot_run():
    """An explicit overlap config on a problem it cannot run is a ValueError before any launch (the output
    is left untouched); where the heuristic picks it for a problem it cannot run, make_plan chooses again
    without it, and the result is right."""
    cp = skip_unless_hopper()
    from fp8cuda import gemm

    rng = np.random.default_rng(7)
    ov = gemm.GemmConfig(128, 256, 4, 2, overlap=True)
    for cfg, m, n, k, fast, dt, why in [(ov, 300, 264, 512, True, np.float32, "16-bit output"),
                                        (ov, 300, 264, 512, False, BF16, "use_fast_accum"),
                                        (ov, 300, 264, 256, True, BF16, "K > 256"),
                                        (ov, 300, 260, 512, True, BF16, "N % 8"),
                                        (gemm.GemmConfig(128, 128, 4, 2, overlap=True), 300, 264, 512, True, BF16,
                                         "128 x 256 tile")]:
        xq, wq, xs, ws, _ = random_operands(rng, m, n, k)
        out = poisoned(cp, (m, n), dt)
        with pytest.raises(ValueError, match=why):
            gemm.f8f8bf16_rowwise(*[cp.asarray(a) for a in (xq, wq, xs, ws)], use_fast_accum=fast, out=out,
                                  output_dtype=dt, config=cfg)
        assert (out.view(cp.uint8) == 0xFF).all()
    m, n, k = 2048, 4096, 384  # select_config picks the overlap kernel here
    assert gemm.select_config(m, n, k, use_fast_accum=True).overlap
    for n_, dt, overlap in [(n, BF16, True), (n, np.float32, False), (n - 4, BF16, False)]:
        ops = random_operands(rng, m, n_, k)
        dev = [cp.asarray(a) for a in ops[:4]]
        out = poisoned(cp, (m, n_), dt)
        plan = gemm.make_plan(*dev, use_fast_accum=True, out=out, output_dtype=dt)
        assert plan.config.overlap == overlap, (n_, dt, plan.config)
        run_and_check(gemm.f8f8bf16_rowwise, ops, use_fast_accum=True, out_dtype=dt)


def _pingpong_candidates():
    return [(cfg, fast) for cfg, fast in _candidates() if cfg.pingpong]


@pytest.mark.parametrize("index", range(len(_pingpong_candidates())))
def test_pingpong_alternating_tiles(index):
    """Ping-pong: more tiles than SMs, so the two consumers of a block take tiles in turn (ordering
    barriers, ring positions shared between consumers, an odd number of tiles in some blocks); K = 784
    is 7 K blocks, the last one partial: slow accumulation's unrolled body (4) plus its leftover loop (3)."""
    skip_unless_hopper()
    from fp8cuda import gemm

    cfg, fast = _pingpong_candidates()[index]
    rng = np.random.default_rng(100 + index)
    ops = random_operands(rng, 64 * 30 + 7, 256 * 4 + 5, 784, bias=True)
    run_and_check(gemm.f8f8bf16_rowwise, ops, use_fast_accum=fast, config=cfg)


def test_driver_launch_path(monkeypatch):
    """The cuLaunchKernel fallback (used when CuPy rejects the struct arguments) computes the same."""
    skip_unless_hopper()
    from fp8cuda import gemm

    monkeypatch.setattr(gemm, "_launch_mode", "driver")
    rng = np.random.default_rng(6)
    run_and_check(gemm.f8f8bf16_rowwise, random_operands(rng, 300, 200, 256, bias=True), use_fast_accum=True)


# ------------------------------------------------------------------------------------------ vs torch

@pytest.mark.parametrize("use_fast_accum", [True, False])
def test_matches_torch_scaled_mm(use_fast_accum):
    """Same codes and scales through torch._scaled_mm (cuBLAS): both within the bound, so they differ by
    at most twice the bound."""
    cp = skip_unless_hopper()
    torch = pytest.importorskip("torch")
    from fp8cuda.gemm import f8f8bf16_rowwise
    from fp8ref.gemm import gemm_error_bound

    rng = np.random.default_rng(7)
    m, n, k = 512, 768, 4096
    xq, wq, xs, ws, _ = random_operands(rng, m, n, k)
    got = run_and_check(f8f8bf16_rowwise, (xq, wq, xs, ws, None), use_fast_accum=use_fast_accum,
                        out_dtype=np.float32)
    a = torch.from_dlpack(cp.asarray(xq)).view(torch.float8_e4m3fn)
    b = torch.from_dlpack(cp.asarray(wq)).view(torch.float8_e4m3fn)
    sa = torch.from_dlpack(cp.asarray(xs))[:, None]
    sb = torch.from_dlpack(cp.asarray(ws))[None, :]
    ref_t = torch._scaled_mm(a, b.t(), scale_a=sa, scale_b=sb, out_dtype=torch.float32,
                             use_fast_accum=use_fast_accum).cpu().numpy()
    bound = gemm_error_bound(xq, wq, xs, ws, use_fast_accum=use_fast_accum, output_dtype=np.float32)
    diff = np.abs(got.astype(np.float64) - ref_t)
    assert (diff <= 2 * bound).all(), f"max |ours - torch| / bound = {np.max(diff / bound):.3g}"


# ------------------------------------------------------------------------------------------ argument checks

def test_argument_errors():
    cp = skip_unless_hopper()
    from fp8cuda.gemm import f8f8bf16_rowwise

    rng = np.random.default_rng(8)
    xq, wq, xs, ws, _ = [cp.asarray(a) for a in random_operands(rng, 32, 48, 64)[:4]] + [None]
    with pytest.raises(TypeError, match="xq"):
        f8f8bf16_rowwise(xq.astype(cp.int8), wq, xs, ws)
    with pytest.raises(TypeError, match="xq"):
        f8f8bf16_rowwise(xq.get(), wq, xs, ws)
    with pytest.raises(ValueError, match="K mismatch"):
        f8f8bf16_rowwise(xq, wq[:, :48].copy(), xs, ws)
    with pytest.raises(ValueError, match="multiple of 16"):
        f8f8bf16_rowwise(xq[:, :40].copy(), wq[:, :40].copy(), xs, ws)
    with pytest.raises(ValueError, match="contiguous"):
        f8f8bf16_rowwise(xq[:, :32], wq[:, :32].copy(), xs, ws)
    flat = cp.zeros(32 * 64 + 1, cp.uint8)
    with pytest.raises(ValueError, match="aligned"):
        f8f8bf16_rowwise(flat[1:].reshape(32, 64), wq, xs, ws)
    with pytest.raises(TypeError, match="x_scale"):
        f8f8bf16_rowwise(xq, wq, xs.astype(cp.float64), ws)
    with pytest.raises(ValueError, match="w_scale"):
        f8f8bf16_rowwise(xq, wq, xs, ws[:10])
    with pytest.raises(ValueError, match="bias"):
        f8f8bf16_rowwise(xq, wq, xs, ws, bias=cp.zeros(3, cp.float32))
    with pytest.raises(TypeError, match="bias"):
        f8f8bf16_rowwise(xq, wq, xs, ws, bias=cp.zeros(48, cp.float64))
    with pytest.raises(TypeError, match="output_dtype"):
        f8f8bf16_rowwise(xq, wq, xs, ws, output_dtype=np.int32)
    with pytest.raises(ValueError, match="out"):
        f8f8bf16_rowwise(xq, wq, xs, ws, out=cp.empty((32, 47), cp.float32), output_dtype=np.float32)
    with pytest.raises(TypeError, match="out"):
        f8f8bf16_rowwise(xq, wq, xs, ws, out=cp.empty((32, 48), cp.float16), output_dtype=np.float32)

"""GPU tests of the decode (M <= 128) path of fp8cuda.f8f8bf16_rowwise: the swap-AB split-K kernel.

Every instance the dispatcher can pick (``gemm_decode.decode_candidates``) against fp8ref within
``gemm_error_bound(..., k_split=plan.k_split)`` (the split-K accumulation model), on shapes with tails in
M, N and K and with empty splits; NaN rows; batched input and bias; bitwise determinism over repeated
runs; CUDA-graph capture and replay with new inputs. Outputs are poisoned before each launch
(``test_gemm.run_and_check``).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fp8ref.strategies import gemm_operands, gemm_shapes
from fp8cuda.testing import BF16, OUT_DTYPES, poisoned, random_operands, run_and_check, skip_unless_hopper, to_device, to_host

pytestmark = pytest.mark.gpu


def _candidates():
    from fp8cuda.gemm_decode import decode_candidates

    return decode_candidates()


@pytest.mark.parametrize("index", range(len(_candidates())))
@pytest.mark.parametrize("out_dtype", OUT_DTYPES)
def test_every_decode_config(index, out_dtype):
    """Each instance on two token tiles (the second partial), 2 weight tiles + 5 rows, and K = 1040 (8 full
    K blocks + 16: splits of 1..8 blocks, the last one partial) with bias."""
    skip_unless_hopper()
    from fp8cuda import gemm

    cfg, fast = _candidates()[index]
    rng = np.random.default_rng(1000 + index)
    ops = random_operands(rng, cfg.block_t + 3, 2 * cfg.rows_w + 5, 1040, bias=True)
    run_and_check(gemm.f8f8bf16_rowwise, ops, use_fast_accum=fast, out_dtype=out_dtype, config=cfg)


@pytest.mark.parametrize("use_fast_accum", [True, False])
@pytest.mark.parametrize("split,chains", [(2, 1), (3, 2), (5, 3), (8, 1), (1, 8), (4, 4)])
def test_empty_and_uneven_splits(use_fast_accum, split, chains):
    """nkb < split * chains (some chains get no K block: their partial tile is exact zeros) and nkb not a
    multiple of either; the partial tiles are added in K order across blocks and chains."""
    skip_unless_hopper()
    from fp8cuda import gemm

    rng = np.random.default_rng(split * 10 + chains)
    for k in (16, 272, 1424):  # 1, 3 and 12 K blocks
        cfg = gemm.DecodeConfig(64, 8, max(4, chains), split, chains)
        run_and_check(gemm.f8f8bf16_rowwise, random_operands(rng, 5, 70, k, bias=True), use_fast_accum=use_fast_accum,
                      config=cfg)


@pytest.mark.parametrize("use_fast_accum", [True, False])
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow, HealthCheck.data_too_large])
@given(ops=gemm_operands(gemm_shapes(max_m=128, max_n=600, max_k=4096)), out_dtype=st.sampled_from(OUT_DTYPES))
def test_hypothesis_dispatch(use_fast_accum, ops, out_dtype):
    """Hypothesis shapes with M <= 128 through the dispatcher (whatever it picks)."""
    skip_unless_hopper()
    from fp8cuda import gemm

    run_and_check(gemm.f8f8bf16_rowwise, ops, use_fast_accum=use_fast_accum, out_dtype=out_dtype)


@pytest.mark.parametrize("use_fast_accum", [True, False])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow, HealthCheck.data_too_large])
@given(ops=gemm_operands(gemm_shapes(max_m=40, max_n=300, max_k=2048), allow_nan=True, batch=True))
def test_hypothesis_batched_nan_bias(use_fast_accum, ops):
    skip_unless_hopper()
    from fp8cuda import gemm

    run_and_check(gemm.f8f8bf16_rowwise, ops, use_fast_accum=use_fast_accum)


@pytest.mark.parametrize("use_fast_accum", [True, False])
@pytest.mark.parametrize("split", [1, 4])
def test_nan_row_only(use_fast_accum, split):
    """A NaN code in token row m makes exactly output row m NaN, whichever split holds it."""
    skip_unless_hopper()
    from fp8cuda import gemm

    rng = np.random.default_rng(20 + split)
    xq, wq, xs, ws, _ = random_operands(rng, 9, 200, 1024)
    xq[2, 5] = 0x7F      # first split
    xq[7, 1000] = 0xFF   # last split
    got = run_and_check(gemm.f8f8bf16_rowwise, (xq, wq, xs, ws, None), use_fast_accum=use_fast_accum,
                        out_dtype=np.float32, config=gemm.DecodeConfig(64, 16, 4, split, 2))
    assert sorted(set(np.nonzero(np.isnan(got).all(axis=1))[0])) == [2, 7]
    assert not np.isnan(np.delete(got, [2, 7], axis=0)).any()


@pytest.mark.parametrize("use_fast_accum", [True, False])
def test_large_decode_shapes(use_fast_accum):
    """Llama-3-8B down projection at M = 1 and 16 (the dispatcher's real picks, K = 14336: long splits)."""
    skip_unless_hopper()
    from fp8cuda import gemm

    rng = np.random.default_rng(30)
    for m in (1, 16):
        run_and_check(gemm.f8f8bf16_rowwise, random_operands(rng, m, 4096, 14336), use_fast_accum=use_fast_accum)


def test_deterministic():
    """Split-K partial sums are added in a fixed order: identical bits over repeated runs."""
    cp = skip_unless_hopper()
    from fp8cuda import gemm

    rng = np.random.default_rng(40)
    dev = [cp.asarray(a) for a in random_operands(rng, 16, 4096, 14336, bias=True)]
    for cfg in (None, gemm.DecodeConfig(64, 16, 8, 8, 4)):
        for fast in (True, False):
            plan = gemm.make_plan(*dev, use_fast_accum=fast, output_dtype=np.float32, config=cfg)
            first = plan().copy()
            for _ in range(20):
                assert bool((plan().view(cp.uint32) == first.view(cp.uint32)).all())


def test_cuda_graph_capture_replay():
    """A plan captured in a CUDA graph (no allocation or host sync in the captured call) replays with
    the inputs' current contents."""
    cp = skip_unless_hopper()
    from fp8cuda import gemm
    from fp8ref.testing import assert_gemm_within_bound

    rng = np.random.default_rng(50)
    xq, wq, xs, ws, bias = random_operands(rng, 3, 1000, 4096, bias=True)
    dev = [to_device(cp, a) for a in (xq, wq, xs, ws, bias)]
    out = poisoned(cp, (3, 1000), BF16)
    plan = gemm.make_plan(*dev, use_fast_accum=True, out=out)
    stream = cp.cuda.Stream(non_blocking=True)
    with stream:
        stream.begin_capture()
        plan()
        graph = stream.end_capture()
    xq2 = random_operands(rng, 3, 1000, 4096)[0]
    with stream:  # on the replay's stream: a non-blocking stream is not ordered after the null stream
        dev[0].set(xq2)  # new tokens, same buffers
        out.view(cp.uint8).fill(0xFF)
        graph.launch(stream)
    stream.synchronize()
    assert_gemm_within_bound(to_host(out, BF16), xq2, wq, xs, ws, bias, use_fast_accum=True, k_split=plan.k_split)

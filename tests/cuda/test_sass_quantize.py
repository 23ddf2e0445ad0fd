"""Offline checks of the quantize/cast kernels' machine code (no GPU: NVRTC for sm_90a + cuobjdump).

Every instance fp8cuda.quantize can launch is compiled. Asserted: no local memory (no spills, no stack,
no LDL/STL); the round-to-nearest quantizers and the saturating casts use the hardware converter
(F2FP.SATFINITE.E4M3 / .E5M2); the per-element x / s is the IEEE division sequence (FCHK guards the
slow path; an x * (1 / s) rewrite would have none); the fast per-row kernel loads 16-byte vectors.
Register and shared-memory use is printed (pytest -s).
"""

from __future__ import annotations

import re

import pytest

pytest.importorskip("cuda.bindings.nvrtc")

from fp8cuda import _loader, quantize  # noqa: E402

try:
    _loader.find_cuobjdump()
except FileNotFoundError:  # pragma: no cover - CI installs the wheels
    pytest.skip("cuobjdump not available", allow_module_level=True)

_EXPRS = quantize.all_kernel_expressions()


@pytest.fixture(scope="module")
def builds():
    out = {f: _loader.compile_offline(f, exprs) for f, exprs in _EXPRS.items()}
    for res in out.values():
        print("\n" + res.summary())
    return out


def _all():
    return [(f, e) for f, exprs in _EXPRS.items() for e in exprs]


def test_every_instance_has_no_local_memory(builds):
    for f, e in _all():
        res = builds[f]
        assert res.spills[e] == (0, 0), f"{e}: spills {res.spills[e]}"
        assert res.stack[e] == 0, f"{e}: stack frame {res.stack[e]} bytes"
        assert not re.search(r"\b(LDL|STL)\b", res.sass[e]), f"{e}: local-memory access in SASS"


def test_round_to_nearest_quantizers_use_the_hardware_converter_and_ieee_division(builds):
    res = builds["quantize.cu"]
    rne = [e for e in _EXPRS["quantize.cu"] if "quantize_" in e and not e.endswith("true>")]
    assert len(rne) >= 3 * 18
    for e in rne:
        assert "F2FP.SATFINITE.E4M3" in res.sass[e], e
        assert "FCHK" in res.sass[e], f"{e}: no IEEE division sequence"


def test_stochastic_quantizers_divide_exactly(builds):
    res = builds["quantize.cu"]
    for e in [e for e in _EXPRS["quantize.cu"] if "quantize_" in e and e.endswith("true>")]:
        assert "FCHK" in res.sass[e], e
        assert "IMAD.HI" in res.sass[e] or "IMAD.WIDE" in res.sass[e], f"{e}: no Philox multiply"


def test_fast_row_kernel_uses_16_byte_loads(builds):
    res = builds["quantize.cu"]
    for e in [e for e in _EXPRS["quantize.cu"] if "quantize_row_regs" in e or "quantize_row_cluster" in e]:
        assert "LDG.E.128" in res.sass[e], e
    for e in [e for e in _EXPRS["quantize.cu"] if "quantize_row_pipe" in e]:  # cp.async 16 B, then LDS.128
        assert "LDGSTS.E.BYPASS.128" in res.sass[e] and "LDS.128" in res.sass[e], e


def _elements_per_thread(e: str) -> int:
    """16-byte vectors per thread times elements per vector, from a quantize_row_{regs,pipe,cluster} name."""
    args = [a.strip() for a in e.split("<", 1)[1].rstrip(">").split(",")]
    kE = {"float": 4, "fp8cuda::f16": 8, "fp8cuda::bf16": 8}[args[0]]
    return int(args[2]) * kE


def test_fast_rows_divide_with_one_mul_and_four_fmas(builds):
    """The round-to-nearest row kernels' fast path (div_by_row): per element one FMUL and four FFMA, no
    MUFU.RCP (a reciprocal per element would mean the division was not hoisted), bfloat16 amax packed."""
    res = builds["quantize.cu"]
    for e in [e for e in _EXPRS["quantize.cu"] if re.search(r"quantize_row_(regs|pipe|cluster)<.*false>$", e)]:
        n = _elements_per_thread(e)
        sass = res.sass[e]
        assert len(re.findall(r"\bFMUL\b", sass)) >= n, e
        assert len(re.findall(r"\bFFMA\b", sass)) >= 4 * n, e
        if "bf16" in e:
            assert re.search(r"\bV?HMNMX2?\.BF16_V2\b", sass), f"{e}: bfloat16 amax not packed"


def test_saturating_casts_use_the_hardware_converter(builds):
    res = builds["cast.cu"]
    for e in _EXPRS["cast.cu"]:
        if "cast_to_fp8" in e and e.endswith("true, true>"):
            fmt = "E4M3" if "E4M3FN" in e else "E5M2"
            assert f"F2FP.SATFINITE.{fmt}" in res.sass[e], e

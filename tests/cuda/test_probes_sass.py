"""Offline check of the experiment probes in scripts/probes/ (no GPU: NVRTC for sm_90a + cuobjdump).

The probes (scripts/wgmma_probe.py, scripts/ring_vs_kernel.py) are measuring instruments, so what they
measure must be what their names say: the chain probe issues its FP8 warpgroup MMAs (``QGMMA``) and the
ring probe also its TMA loads (``UTMALDG``), neither spills, and ptxas did not serialize the wgmma
pipeline (C7510-C7520 warnings), which would time something else.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("cuda.bindings.nvrtc")

from fp8cuda import _loader  # noqa: E402

try:
    _loader.find_cuobjdump()
except FileNotFoundError:  # pragma: no cover - CI installs the wheel
    pytest.skip("cuobjdump not available", allow_module_level=True)

PROBES = Path(__file__).resolve().parents[2] / "scripts" / "probes"

CASES = [
    ("wgmma_chain.cu", "fp8cuda::wgmma_chain_probe<192, 1, true>", False),   # slow, drained per K block
    ("wgmma_chain.cu", "fp8cuda::wgmma_chain_probe<128, 2, false>", False),  # fast, two chains
    ("wgmma_ring.cu", "fp8cuda::wgmma_ring_probe<192, 5, true, true, true>", True),
    ("wgmma_ring.cu", "fp8cuda::wgmma_ring_probe<256, 4, false, true, true>", True),
]


@pytest.mark.parametrize("src, expr, tma", CASES, ids=[c[1].split("::")[1] for c in CASES])
def test_probe_machine_code(src, expr, tma):
    res = _loader.compile_offline((PROBES / src).read_text(), [expr])
    sass = res.sass[expr]
    assert "QGMMA" in sass, f"{expr}: no FP8 warpgroup MMA in the SASS"
    assert ("UTMALDG" in sass) == tma, f"{expr}: TMA loads {'missing' if tma else 'unexpected'}"
    assert res.spills[expr] == (0, 0), f"{expr}: spills {res.spills[expr]}"
    assert not re.search(r"C75(1\d|20)", res.log), f"{expr}: ptxas serialized wgmma:\n{res.log}"

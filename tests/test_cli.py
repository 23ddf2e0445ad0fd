"""``python -m fp8ref``: runs without a GPU and prints the numbers it claims."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from fp8ref.__main__ import main
from fp8ref.gemm import f8f8bf16_rowwise, gemm_error_bound
from fp8ref.scale import quantize_fp8_per_row

ROOT = Path(__file__).resolve().parents[1]


def test_module_entry_point_runs_both_parts():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-m", "fp8ref"], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert "e4m3fn" in out and "448" in out and "relative Frobenius error" in out


@pytest.mark.parametrize("name, dtype", [("e4m3fn", ml_dtypes.float8_e4m3fn), ("e4m3fnuz", ml_dtypes.float8_e4m3fnuz),
                                         ("e5m2", ml_dtypes.float8_e5m2)])
def test_formats_table(capsys, name, dtype):
    assert main(["formats"]) == 0
    out = capsys.readouterr().out
    assert "example" not in out
    row = next(line for line in out.splitlines() if line.startswith(name + " "))
    info = ml_dtypes.finfo(dtype)
    values = np.arange(256, dtype=np.uint8).view(dtype).astype(np.float64)
    nan_codes = " ".join(f"0x{c:02x}" for c in np.flatnonzero(np.isnan(values)))
    pow2 = [f"2**{int(np.log2(v))} = {v:.10g}" for v in (float(info.smallest_normal), float(info.smallest_subnormal))]
    expected = [f" {float(info.max):g} ", *pow2, nan_codes]
    for text in expected:
        assert text in row, (text, row)
    bias = {"e4m3fn": 7, "e4m3fnuz": 8, "e5m2": 15}[name]
    assert re.search(rf"\s{bias}\s", row)
    # the representative-code table: 0x7e is max in e4m3fn, 0x7b in e5m2, 0x7f in e4m3fnuz
    table = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith("0x")}
    col = list(("e4m3fn", "e4m3fnuz", "e5m2")).index(name)
    max_code = {"e4m3fn": "0x7e", "e4m3fnuz": "0x7f", "e5m2": "0x7b"}[name]
    assert float(table[max_code][col]) == float(info.max)
    assert float(table["0x38"][col]) == float(np.uint8(0x38).view(dtype))


def test_example_numbers(capsys):
    assert main(["example", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "FP8 formats" not in out
    # recompute the example from the public API and compare with the printed numbers
    bf16 = np.dtype(ml_dtypes.bfloat16)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 512)).astype(np.float32).astype(bf16)
    w = (rng.standard_normal((48, 512)) / np.sqrt(512)).astype(np.float32).astype(bf16)
    (xq, xs), (wq, ws) = quantize_fp8_per_row(x), quantize_fp8_per_row(w)
    y = f8f8bf16_rowwise(xq, wq, xs, ws).astype(np.float64)
    exact = x.astype(np.float64) @ w.astype(np.float64).T
    rel = np.linalg.norm(y - exact) / np.linalg.norm(exact)
    assert f"relative Frobenius error of y vs the exact product: {rel:.3e}" in out
    for fast in (True, False):
        b = gemm_error_bound(xq, wq, xs, ws, use_fast_accum=fast)
        assert f"use_fast_accum={fast}): a Hopper kernel may differ from y by at most {b.max():.3e}" in out
    assert f"x_scale[:3] = {xs[:3].tolist()}" in out


def test_bad_subcommand_exits_2():
    with pytest.raises(SystemExit) as info:
        main(["gemm"])
    assert info.value.code == 2


def test_readme_cpu_example_runs():
    """The README's Python example up to its GPU half runs as written (keeps the README honest)."""
    text = (ROOT / "README.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    cpu = code.split("# the same on a Hopper GPU", 1)[0]
    assert "quantize_fp8_per_row" in cpu and "f8f8bf16_rowwise" in cpu
    scope: dict = {}
    exec(compile(cpu, "README.md", "exec"), scope)  # noqa: S102 - our own README
    assert scope["y"].shape == (64, 32) and scope["y"].dtype == np.dtype(ml_dtypes.bfloat16)

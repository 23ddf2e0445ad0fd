"""fp8cuda._loader without a GPU: options, the header-hash cache key, NVRTC errors, SASS and ptxas parsing."""

from __future__ import annotations

import pytest

pytest.importorskip("cuda.bindings.nvrtc")

from fp8cuda import _loader  # noqa: E402

_TINY = """
#include "fp8_format.cuh"
namespace fp8cuda {
template <int kScale>
__global__ void scale_by(float* x, long long n) {
  for (long long i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
    x[i] = mul_rn(x[i], float(kScale));
}
}  // namespace fp8cuda
"""


def test_options_fold_in_the_kernels_hash_and_arch():
    opts = _loader.kernel_options("sm_90a", ("-DEXTRA=1",))
    assert "--gpu-architecture=sm_90a" in opts
    assert f"-DFP8CUDA_KERNELS_HASH=0x{_loader.kernels_hash()[:16]}" in opts
    assert opts[-1] == "-DEXTRA=1"
    assert not any("fast-math" in o or o == "-ftz=true" for o in opts)


def test_arch_can_be_overridden(monkeypatch):
    monkeypatch.setenv("FP8CUDA_ARCH", "sm_100a")
    assert "--gpu-architecture=sm_100a" in _loader.kernel_options()
    with pytest.raises(ValueError, match="arch"):
        _loader.kernel_options("compute_90")


def test_kernels_hash_changes_when_a_header_changes(tmp_path, monkeypatch):
    for p in _loader.KERNEL_DIR.iterdir():
        (tmp_path / p.name).write_bytes(p.read_bytes())
    monkeypatch.setattr(_loader, "KERNEL_DIR", tmp_path)
    _loader.kernels_hash.cache_clear()
    try:
        before = _loader.kernels_hash()
        header = tmp_path / "fp8_format.cuh"
        header.write_text(header.read_text() + "\n// edited\n")
        _loader.kernels_hash.cache_clear()
        assert _loader.kernels_hash() != before
    finally:
        _loader.kernels_hash.cache_clear()


def test_compile_offline_reports_sass_registers_and_spills():
    exprs = ["fp8cuda::scale_by<3>", "fp8cuda::scale_by<5>"]
    res = _loader.compile_offline(_TINY, exprs)
    assert res.cubin[:4] == b"\x7fELF"
    for e in exprs:
        assert res.lowered[e].startswith("_ZN7fp8cuda8scale_by")
        assert "FMUL" in res.sass[e]
        assert res.registers[e] > 0
        assert res.spills[e] == (0, 0)
    print(res.summary())


def test_kernel_file_names_resolve_and_errors_are_clear():
    with pytest.raises(FileNotFoundError, match="no kernel file"):
        _loader.compile_offline("does_not_exist.cu", [])
    with pytest.raises(_loader.CompileError, match="error"):
        _loader.compile_offline("__global__ void k() { undefined_thing(); }\n", [])


def test_cuobjdump_is_found():
    assert _loader.find_cuobjdump().endswith("cuobjdump")

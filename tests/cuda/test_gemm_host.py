"""Host side of fp8cuda's large-M GEMM that needs no GPU: the TMA tensor maps handed to the kernels."""

import numpy as np
import pytest


def test_tensor_map_arguments(monkeypatch):
    """The TMA maps the kernels are built around (no GPU: a stand-in for cuTensorMapEncodeTiled records the
    call): operands uint8 [rows, K] with 128-code x box_rows boxes and 256-byte L2 promotion; the output
    uint16 [rows, N] with 64 x 64 boxes (the epilogue's 128-byte chunk); both 2-D, 128-byte swizzle."""
    import types

    cu = pytest.importorskip("cuda.bindings.driver")
    from fp8cuda import gemm

    calls = []

    def encode(*args):
        calls.append(args)
        return 0, types.SimpleNamespace(opaque=list(range(16)))

    fake = types.SimpleNamespace(cuTensorMapEncodeTiled=encode, **{
        name: getattr(cu, name) for name in ("CUtensorMapDataType", "CUtensorMapInterleave", "CUtensorMapSwizzle",
                                             "CUtensorMapL2promotion", "CUtensorMapFloatOOBfill", "cuuint64_t",
                                             "cuuint32_t")})
    monkeypatch.setattr(gemm, "_driver", lambda: fake)
    ptr = 0x7F00_0000_1000  # not a cached key of another test
    for fn, args, want in [
        (gemm._tensor_map, (ptr, 300, 528, 64),
         ("UINT8", [528, 300], [528], [128, 64], "L2_256B")),
        (gemm._out_tensor_map, (ptr + 16, 300, 520),
         ("UINT16", [520, 300], [1040], [64, 64], "NONE")),
    ]:
        got = fn(*args)
        assert bytes(got) == np.arange(16, dtype=np.uint64).tobytes()
        dtype, rank, p, dims, strides, box, elem_strides, interleave, swizzle, l2, oob = calls[-1]
        assert dtype == getattr(cu.CUtensorMapDataType, f"CU_TENSOR_MAP_DATA_TYPE_{want[0]}")
        assert (rank, p) == (2, args[0])
        assert [int(d) for d in dims] == want[1] and [int(s) for s in strides] == want[2]
        assert [int(b) for b in box] == want[3] and [int(e) for e in elem_strides] == [1, 1]
        assert swizzle == cu.CUtensorMapSwizzle.CU_TENSOR_MAP_SWIZZLE_128B
        assert l2 == getattr(cu.CUtensorMapL2promotion, f"CU_TENSOR_MAP_L2_PROMOTION_{want[4]}")
        assert oob == cu.CUtensorMapFloatOOBfill.CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE
    gemm._tensor_map.cache_clear()
    gemm._out_tensor_map.cache_clear()

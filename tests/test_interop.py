"""fp8cuda.interop on the host (no GPU): uint8 codes <-> ml_dtypes float8 views, all 256 codes per format."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from fp8cuda.interop import from_ml_dtypes, to_ml_dtypes
from fp8ref.formats import FORMATS, all_codes, decode

ML = {"e4m3fn": ml_dtypes.float8_e4m3fn, "e4m3fnuz": ml_dtypes.float8_e4m3fnuz, "e5m2": ml_dtypes.float8_e5m2}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_round_trip_every_code_without_copy(fmt):
    codes = all_codes().reshape(16, 16)
    v = to_ml_dtypes(codes, fmt)
    assert v.dtype == np.dtype(ML[fmt]) and v.shape == codes.shape and np.shares_memory(v, codes)
    # the view decodes as the specification does, NaN codes and signed zeros included
    np.testing.assert_array_equal(v.astype(np.float32).view(np.uint32), decode(codes, fmt).view(np.uint32))
    back, name = from_ml_dtypes(v)
    assert name == fmt and back.dtype == np.uint8 and np.shares_memory(back, codes)
    np.testing.assert_array_equal(back, codes)


def test_to_ml_dtypes_rejects():
    with pytest.raises(TypeError, match="uint8"):
        to_ml_dtypes(np.zeros(4, np.int8))
    with pytest.raises(ValueError, match="fmt"):
        to_ml_dtypes(np.zeros(4, np.uint8), "e3m4")
    with pytest.raises(TypeError, match="NumPy"):
        to_ml_dtypes([0, 1, 2])


def test_from_ml_dtypes_rejects():
    with pytest.raises(TypeError, match="float8"):
        from_ml_dtypes(np.zeros(4, np.uint8))
    with pytest.raises(TypeError, match="float8"):
        from_ml_dtypes(np.zeros(4, ml_dtypes.bfloat16))

"""Test-wide setup: GPU detection without importing Numba or CuPy, and the ``gpu`` marker's skip.

No usable NVIDIA GPU (libcuda.so.1 missing, cuInit failing or zero devices) => NUMBA_ENABLE_CUDASIM=1 is set
before anything imports Numba, so the Numba prototypes run in the simulator. Tests marked
``@pytest.mark.gpu`` are skipped unless a GPU and CuPy are both present.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os

import pytest


def _gpu_count() -> int:
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
        if cuda.cuInit(0) != 0:
            return 0
        n = ctypes.c_int(0)
        if cuda.cuDeviceGetCount(ctypes.byref(n)) != 0:
            return 0
        return n.value
    except OSError:
        return 0


HAVE_GPU = _gpu_count() > 0
HAVE_CUPY = importlib.util.find_spec("cupy") is not None

if not HAVE_GPU:
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
else:
    # numba-cuda 0.30 registers an overload for np.row_stack, which NumPy 2.5 removed (seen on the GPU
    # machine: every real Numba kernel compile failed with AttributeError). Same function as np.vstack.
    import numpy as _np

    if not hasattr(_np, "row_stack"):
        _np.row_stack = _np.vstack


def pytest_collection_modifyitems(config, items):
    if HAVE_GPU and HAVE_CUPY:
        return
    reason = "needs an NVIDIA GPU" if not HAVE_GPU else "needs CuPy (pip install cupy-cuda13x)"
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


# FP8CUDA_HYPOTHESIS_PROFILE=device: no shrinking (a failing example is reported as found), for runs on a
# rented GPU where time is short.
try:
    from hypothesis import Phase, settings

    settings.register_profile("device", phases=[Phase.explicit, Phase.reuse, Phase.generate], print_blob=True)
    if os.environ.get("FP8CUDA_HYPOTHESIS_PROFILE"):
        settings.load_profile(os.environ["FP8CUDA_HYPOTHESIS_PROFILE"])
except ImportError:  # pragma: no cover
    pass

"""GEMM rules (docs/spec.md G2, G3, B3): results within the error bound for each accumulation mode.

The reference is fp8ref's exact-accumulation GEMM; a backend may differ from it by at most
``gemm_error_bound`` (row-wise) or ``gemm_error_bound_tensorwise``, with NaN exactly where the reference
has NaN (a NaN code poisons its row and column). Output bfloat16. An adapter whose kernel splits K
says how through the optional ``gemm_k_split(m, n, k, use_fast_accum)`` (interior K boundaries or None):
the bound is then the split-K one (docs/spec.md B4).
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
from hypothesis import strategies as st

from fp8ref.gemm import f8f8bf16, f8f8bf16_rowwise, gemm_error_bound, gemm_error_bound_tensorwise
from fp8ref.strategies import gemm_operands, gemm_shapes

from .rules import Mismatch, Rule

BF16 = np.dtype(ml_dtypes.bfloat16)


def _examples(adapter):
    return gemm_operands(gemm_shapes(max_m=80, max_n=80, max_k=256), allow_nan=True)


def _codes_text(row: np.ndarray) -> str:
    if row.size <= 16:
        return "[" + " ".join(f"{int(c):02x}" for c in row) + "]"
    nz = np.flatnonzero(row)
    return f"[{row.size} codes, {nz.size} nonzero: " + " ".join(f"{int(c):02x}" for c in row[:8]) + " ...]"


def _result(got, shape) -> np.ndarray:
    got = np.asarray(got)
    if got.dtype == np.uint16:  # bfloat16 held as its bits
        got = got.view(BF16)
    if got.shape != shape:
        raise Mismatch(f"shape {shape}", f"output of shape {shape}", f"shape {got.shape}, dtype {got.dtype}")
    return got.astype(np.float64)


def compare_within_bound(got, ref, bound, describe) -> None:
    """NaN positions exact, elsewhere ``|got - ref| <= bound``; ``describe(m, n)`` names an element's inputs."""
    ref = ref.astype(np.float64)
    got = _result(got, ref.shape)
    nan_g, nan_r = np.isnan(got), np.isnan(ref)
    with np.errstate(invalid="ignore"):
        err = np.where((got == ref) | nan_r | nan_g, 0.0, np.abs(got - ref))
        ok = (nan_g == nan_r) & ((err <= bound) | nan_r)
        ratio = np.where(ok, -1.0, np.where(nan_g != nan_r, np.inf, err / bound))
    if ok.all():
        return
    m, n = np.unravel_index(int(np.argmax(ratio)), ref.shape)
    raise Mismatch(describe(m, n), f"{float(ref[m, n])!r} +- {float(bound[m, n]):.6g}",
                   f"{float(got[m, n])!r}"
                   + ("" if nan_g[m, n] != nan_r[m, n] else f" (|error| / bound = {ratio[m, n]:.4g})"),
                   f"{int((~ok).sum())} of {ok.size} outputs outside the bound; worst at [{m}, {n}]")


def _describe(xq, wq, scales: str, bias):
    def text(m, n):
        b = "" if bias is None else f", bias[{n}]={float(np.float32(bias[n]))!r} ({np.dtype(bias.dtype).name})"
        return (f"M={xq.shape[0]} N={wq.shape[0]} K={xq.shape[1]}; xq[{m}]={_codes_text(xq[m])}, "
                f"wq[{n}]={_codes_text(wq[n])}, {scales(m, n)}{b}")
    return text


def adapter_k_split(adapter, m: int, n: int, k: int, fast: bool):
    """The adapter's split-K boundaries for this GEMM (its optional ``gemm_k_split``), None without the hook."""
    hook = getattr(adapter, "gemm_k_split", None)
    return None if hook is None else hook(m, n, k, fast)


def _check_rowwise(fast: bool):
    def check(adapter, example, expected=None):
        xq, wq, xs, ws, bias = example
        ref = f8f8bf16_rowwise(xq, wq, xs, ws, bias, use_fast_accum=fast)
        k_split = adapter_k_split(adapter, xq.shape[0], wq.shape[0], xq.shape[1], fast)
        bound = gemm_error_bound(xq, wq, xs, ws, bias, use_fast_accum=fast, k_split=k_split)
        got = adapter.f8f8bf16_rowwise(xq, wq, xs, ws, bias, fast)
        scales = lambda m, n: f"x_scale[{m}]={float(xs[m])!r}, w_scale[{n}]={float(ws[n])!r}"  # noqa: E731
        compare_within_bound(got, ref, bound, _describe(xq, wq, scales, bias))
    return check


def _tensorwise_examples(adapter):
    scale = st.sampled_from([1.0, 2.0 ** -12, 0.37, 3.0]).map(np.float32)
    return st.tuples(gemm_operands(gemm_shapes(max_m=80, max_n=80, max_k=256), allow_nan=True, bias=False), scale)


def _check_tensorwise(fast: bool):
    def check(adapter, example, expected=None):
        (xq, wq, _, _, _), s = example
        ref = f8f8bf16(xq, wq, s, use_fast_accum=fast)
        k_split = adapter_k_split(adapter, xq.shape[0], wq.shape[0], xq.shape[1], fast)
        bound = gemm_error_bound_tensorwise(xq, wq, s, use_fast_accum=fast, k_split=k_split)
        got = adapter.f8f8bf16(xq, wq, s, fast)
        compare_within_bound(got, ref, bound, _describe(xq, wq, lambda m, n: f"scale={float(s)!r}", None))
    return check


GEMM_RULES = tuple(
    Rule(f"gemm_{kind}_{'fast' if fast else 'slow'}_accum", spec, method,
         f"{kind} scaled GEMM, use_fast_accum={fast}: NaN rows/columns exact, else within the B3 bound",
         examples, check(fast))
    for kind, spec, method, examples, check in (
        ("rowwise", "G2 B3", "f8f8bf16_rowwise", _examples, _check_rowwise),
        ("tensorwise", "G3 B3", "f8f8bf16", _tensorwise_examples, _check_tensorwise))
    for fast in (True, False)
)

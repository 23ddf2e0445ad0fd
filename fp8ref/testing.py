"""Assertions for test suites that check an FP8 implementation against this reference.

``assert_fp8_equal`` compares codes bitwise; ``assert_gemm_within_bound`` compares a GEMM result with
``fp8ref.gemm.f8f8bf16_rowwise`` within ``fp8ref.gemm.gemm_error_bound``. Both accept NumPy arrays,
CuPy arrays (anything with ``.get()``) or anything with ``__array__``, and on failure say where and why.
``encode_ml_dtypes`` is the independent oracle the format tests use: ml_dtypes' conversion plus the
saturating rule derived from it.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

from fp8ref.formats import Format, decode, get_format

__all__ = ["assert_fp8_equal", "assert_gemm_within_bound", "encode_ml_dtypes", "check_rule", "RULES"]

_FP8_DTYPES = tuple(np.dtype(t) for t in (ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e4m3fnuz, ml_dtypes.float8_e5m2))


def _to_numpy(a) -> np.ndarray:
    """A host NumPy array from a NumPy array, a CuPy array (``.get()``) or anything with ``__array__``."""
    if not isinstance(a, np.ndarray) and hasattr(a, "get") and callable(a.get):
        a = a.get()
    return np.asarray(a)


def _codes(a, name: str) -> np.ndarray:
    a = _to_numpy(a)
    if a.dtype in _FP8_DTYPES:
        a = a.view(np.uint8)
    if a.dtype != np.uint8:
        raise TypeError(f"{name}: expected uint8 FP8 codes, got dtype {a.dtype}")
    return a


def _describe_float(v) -> str:
    """``repr`` of a float scalar with its bit pattern, e.g. ``1.0 (float32 0x3f800000)``."""
    v = np.asarray(v)
    if v.dtype.kind == "f" or v.dtype == np.dtype(ml_dtypes.bfloat16):
        bits = v.view(f"u{v.dtype.itemsize}")
        return f"{float(v)!r} ({v.dtype} 0x{int(bits):0{2 * v.dtype.itemsize}x})"
    return repr(v.item())


def assert_fp8_equal(actual, expected, fmt: Format | str, *, inputs=None) -> None:
    """Assert two arrays of FP8 codes are bitwise equal (same shape, same uint8 at every index).

    ``actual``, ``expected``: uint8 codes (or ml_dtypes float8 arrays) of one shape; ``inputs``: the
    values they were encoded from (same shape), shown in the message. On mismatch the AssertionError
    gives the number of mismatches, the first mismatching index, the input there, and both codes in hex
    with their decoded values.

    >>> assert_fp8_equal(np.uint8([0x38, 0x7E]), np.uint8([0x38, 0x7E]), "e4m3fn")
    >>> assert_fp8_equal(np.uint8([0x38, 0x7E]), np.uint8([0x38, 0x7F]), "e4m3fn",
    ...                  inputs=np.float32([1.0, 465.0]))
    Traceback (most recent call last):
    AssertionError: e4m3fn codes differ at 1 of 2 elements; first at index (1,): input 465.0
    (float32 0x43e88000): actual 0x7e (448.0), expected 0x7f (nan)
    """
    fmt = get_format(fmt)
    a = _codes(actual, "actual")
    e = _codes(expected, "expected")
    if a.shape != e.shape:
        raise AssertionError(f"shape mismatch: actual {a.shape}, expected {e.shape}")
    bad = a != e
    if not bad.any():
        return
    idx = np.unravel_index(int(np.flatnonzero(bad)[0]), a.shape)
    ca, ce = int(a[idx]), int(e[idx])
    va, ve = (float(decode(np.uint8(c), fmt, np.float64)) for c in (ca, ce))
    where = f"first at index {tuple(int(i) for i in idx)}"
    if inputs is not None:
        x = _to_numpy(inputs)
        where += f": input {_describe_float(x[idx]) if x.shape == a.shape else '(shape ' + str(x.shape) + ')'}"
    raise AssertionError(
        f"{fmt.name} codes differ at {int(bad.sum())} of {a.size} elements; {where}: "
        f"actual 0x{ca:02x} ({va!r}), expected 0x{ce:02x} ({ve!r})"
    )


def assert_gemm_within_bound(actual, xq, wq, x_scale, w_scale, bias=None, *, use_fast_accum: bool,
                             output_dtype=ml_dtypes.bfloat16, k_split=None) -> None:
    """Assert a row-wise scaled FP8 GEMM result lies within ``gemm_error_bound`` of the reference.

    ``actual``: [M, N] (or [B, M, N]) result of an implementation; the other arguments as for
    ``fp8ref.gemm.f8f8bf16_rowwise`` (xq [M, K] codes, wq [N, K] codes, x_scale [M], w_scale [N],
    bias [N] or None); a uint16 ``actual`` is read as bfloat16 bits when ``output_dtype`` is bfloat16
    (how CuPy without bfloat16 support holds it). Checks: same shape; NaN exactly where the reference is
    NaN; elsewhere ``|actual - ref| <= bound`` elementwise (an infinity must match the reference's
    exactly unless the bound there is infinite). On failure reports the count and the worst element (largest
    ``|actual - ref| / bound``): index, actual, ref, bound and ratio. ``k_split``: the implementation's
    split-K boundaries (interior K offsets; see ``fp8ref.gemm.accumulation_error_bound``), None for none.
    """
    from fp8ref.gemm import f8f8bf16_rowwise, gemm_error_bound

    args = (xq, wq, x_scale, w_scale, bias)
    ref = np.asarray(f8f8bf16_rowwise(*args, use_fast_accum=use_fast_accum, output_dtype=output_dtype))
    bound = np.asarray(gemm_error_bound(*args, use_fast_accum=use_fast_accum, output_dtype=output_dtype,
                                        k_split=k_split), dtype=np.float64)
    act = _to_numpy(actual)
    if act.dtype == np.uint16 and np.dtype(output_dtype) == np.dtype(ml_dtypes.bfloat16):
        act = act.view(ml_dtypes.bfloat16)  # bfloat16 stored as uint16 (CuPy builds without bfloat16)
    if act.shape != ref.shape:
        raise AssertionError(f"shape mismatch: actual {act.shape}, reference {ref.shape}")
    act = act.astype(np.float64)
    ref = ref.astype(np.float64)
    nan_a, nan_r = np.isnan(act), np.isnan(ref)
    if (nan_a != nan_r).any():
        idx = np.unravel_index(int(np.flatnonzero(nan_a != nan_r)[0]), act.shape)
        raise AssertionError(
            f"NaN positions differ at {int((nan_a != nan_r).sum())} of {act.size} elements; first at index "
            f"{tuple(int(i) for i in idx)}: actual {float(act[idx])!r}, reference {float(ref[idx])!r}"
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        err = np.where((act == ref) | nan_r, 0.0, np.abs(act - ref))  # inf == inf: error 0, not NaN
        ok = (err <= bound) | nan_r  # the bound is NaN where the reference is NaN
        ratio = np.where(err == 0, 0.0, err / bound)
    if ok.all():
        return
    ratio = np.where(ok, -np.inf, np.nan_to_num(ratio, nan=np.inf))
    idx = np.unravel_index(int(np.argmax(ratio)), act.shape)
    raise AssertionError(
        f"GEMM result outside the error bound at {int((~ok).sum())} of {act.size} elements; worst at index "
        f"{tuple(int(i) for i in idx)}: actual {float(act[idx])!r}, reference {float(ref[idx])!r}, "
        f"bound {float(bound[idx])!r}, "
        f"|actual - reference| / bound = {ratio[idx]:.4g}"
    )


def encode_ml_dtypes(x, fmt: Format | str, *, saturate: bool) -> np.ndarray:
    """The tests' oracle for ``fp8ref.formats.encode``: ml_dtypes' cast, plus the documented saturating rule.

    ``x``: float16, bfloat16 or float32 array. ``saturate=False`` is ml_dtypes' cast itself (OCP
    non-saturating, NaN keeps its sign). ``saturate=True`` derives satfinite from it: NaN stays the cast's
    NaN; a non-NaN input whose cast is inf or NaN becomes the max code with the input's sign; everything
    else is the cast. float64 is refused: ml_dtypes before 0.7 casts float64 through float32 (double
    rounding, e.g. 1.0625 + 2**-50 -> 1.0 in e4m3fn instead of 1.125), so the oracle would depend on the
    installed release.

    >>> [hex(c) for c in encode_ml_dtypes(np.float32([464, 465, -np.inf, np.nan]), "e4m3fn", saturate=True)]
    ['0x7e', '0x7e', '0xfe', '0x7f']
    """
    fmt = get_format(fmt)
    x = _to_numpy(x)
    if x.dtype not in (np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16), np.dtype(np.float32)):
        raise TypeError(f"x: expected float16, bfloat16 or float32, got dtype {x.dtype}")
    with np.errstate(invalid="ignore", over="ignore"):
        codes = x.astype(fmt.ml_dtype).view(np.uint8)
    if not saturate:
        return codes
    x32 = x.astype(np.float32)  # exact for all three input dtypes
    over = ~np.isfinite(codes.view(fmt.ml_dtype).astype(np.float32)) & ~np.isnan(x32)
    sat = np.uint8(fmt.max_code) | (np.signbit(x32).astype(np.uint8) << np.uint8(7))
    return np.where(over, sat, codes).astype(np.uint8)


# ------------------------------------------------------------------------------------------- conformance
# The conformance runner's rules (fp8ref.conformance; docs/testing-your-backend.md) as pytest-ready functions.
# Imported lazily: the rules need Hypothesis, the assertions above do not.

def __getattr__(name):
    if name == "RULES":  # the rule names, in report order
        from fp8ref.conformance.rules import all_rules

        return tuple(r.name for r in all_rules())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def check_rule(adapter, rule_name: str, examples: int = 100, *, seed=None, accept_variants=()) -> str:
    """Run one conformance rule (a name of ``RULES``) against ``adapter`` (an object following the adapter
    protocol of ``fp8ref.conformance.adapters``, or a backend name such as ``"ml_dtypes"``).

    Returns the verdict: ``"pass"``, ``"n/a"`` (the adapter lacks the rule's method) or ``"variant: NAME"``
    when NAME is in ``accept_variants`` (a per-format verdict ``"variant: e5m2 NAME; ..."`` when every
    NAME is). Raises AssertionError with Hypothesis' smallest counterexample
    (input, expected, actual) when the rule fails, or when the backend matches a variant not accepted.

    >>> check_rule("ref", "cast_satfinite", examples=20)
    'pass'
    >>> check_rule("ml_dtypes", "cast_satfinite", examples=20, accept_variants=("non-saturating",))
    'variant: non-saturating'
    """
    from fp8ref.conformance import load_adapter, run_rule
    from fp8ref.conformance.runner import select_rules

    if isinstance(adapter, str):
        adapter = load_adapter(adapter)
    res = run_rule(adapter, select_rules([rule_name])[0], examples, seed)
    if res.verdict in ("pass", "n/a"):
        return res.verdict
    if res.verdict.startswith("variant: "):
        # "variant: NAME", or per format "variant: e4m3fnuz NAME; e5m2 NAME2": every NAME must be accepted
        from fp8ref.formats import FORMATS

        names = [p.partition(" ")[2] if p.partition(" ")[0] in FORMATS else p
                 for p in res.verdict.removeprefix("variant: ").split("; ")]
        if all(n in accept_variants for n in names):
            return res.verdict
    c = res.counterexample or {}
    text = "; ".join(f"{k} {c[k]}" for k in ("input", "expected", "actual", "detail") if c.get(k))
    raise AssertionError(f"{getattr(adapter, 'name', adapter)}: rule {res.rule} [{res.spec}] {res.verdict} "
                         f"after {res.examples} examples; smallest counterexample: {text}"
                         + (f" ({res.note})" if res.note else ""))

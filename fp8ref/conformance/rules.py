"""The specification's rules as checks a backend can be run against (docs/spec.md names the rules).

A ``Rule`` is: a name, the spec rules it enforces (``"F3"``, ``"S4"``, ``"B3"``), the adapter method it
needs, a Hypothesis strategy of examples (built for the adapter: only its formats and input dtypes), and
``check(adapter, example)``, which calls the backend and compares with fp8ref. A mismatch raises
``Mismatch`` (an AssertionError) carrying the input, the expected and the actual result as text. Some rules
list ``variants``: other documented behaviours (e.g. the OCP non-saturating cast) with their own expected
function; the runner names the variant a failing backend matches. This module holds the format rules;
``rules_scale`` and ``rules_gemm`` the others; ``RULES`` all of them, in report order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import ml_dtypes
import numpy as np
from hypothesis import strategies as st

from fp8ref.formats import FORMATS, decode, encode, get_format
from fp8ref.strategies import floats_for

BF16 = np.dtype(ml_dtypes.bfloat16)
INPUT_DTYPES = (np.dtype(np.float32), BF16, np.dtype(np.float16))


class Mismatch(AssertionError):
    """A backend result that differs from the rule: ``input``, ``expected`` and ``actual`` as text."""

    def __init__(self, input: str, expected: str, actual: str, detail: str = ""):
        self.input, self.expected, self.actual, self.detail = input, expected, actual, detail
        super().__init__(f"input {input}: expected {expected}, actual {actual}" + (f" ({detail})" if detail else ""))

    def as_dict(self) -> dict:
        return {"input": self.input, "expected": self.expected, "actual": self.actual, "detail": self.detail}


class Unsupported(Exception):
    """Raised by an adapter for an example it cannot run (a shape or format it does not take): the example
    is skipped, not failed. A rule none of whose examples run is reported n/a."""


@dataclass(frozen=True)
class Rule:
    name: str
    spec: str  # rules of docs/spec.md, e.g. "F2 F3"
    method: str  # the adapter method the rule calls
    summary: str
    strategy: Callable[[Any], st.SearchStrategy]  # adapter -> examples
    check: Callable[..., None]  # (adapter, example, expected=None) -> None or raise Mismatch
    variants: tuple = field(default=())  # ((name, expected function), ...) for check(..., expected=fn)


def describe_float(v) -> str:
    """``1.0 (float32 0x3f800000)``: a float scalar with its dtype and bit pattern."""
    v = np.asarray(v)
    bits = int(v.view(f"u{v.dtype.itemsize}"))
    return f"{float(v)!r} ({v.dtype} 0x{bits:0{2 * v.dtype.itemsize}x})"


def describe_code(c: int, fmt) -> str:
    return f"0x{int(c):02x} ({float(decode(np.uint8(c), fmt, np.float64))!r})"


def adapter_formats(adapter) -> list:
    return [FORMATS[f] for f in getattr(adapter, "formats", tuple(FORMATS)) if f in FORMATS]


def adapter_dtypes(adapter) -> list:
    names = getattr(adapter, "input_dtypes", None)
    return list(INPUT_DTYPES) if names is None else [np.dtype(d) for d in names]


def as_codes(a, shape, what: str) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype != np.uint8 and a.dtype.itemsize == 1:
        a = a.view(np.uint8)  # ml_dtypes / torch-style float8 arrays
    if a.dtype != np.uint8 or a.shape != tuple(shape):
        raise Mismatch("(shape " + str(tuple(shape)) + ")", f"uint8 codes of shape {tuple(shape)}",
                       f"{what}: dtype {a.dtype}, shape {a.shape}")
    return a


# ------------------------------------------------------------------------------------------------ casts

def _cast_examples(adapter):
    """(fmt, x): a 1-D array of 1..16 inputs of one dtype aimed at fmt (shrinks to one element)."""
    @st.composite
    def build(draw):
        fmt = draw(st.sampled_from(adapter_formats(adapter)))
        dtype = draw(st.sampled_from(adapter_dtypes(adapter)))
        vals = draw(st.lists(floats_for(fmt, dtype), min_size=1, max_size=16))
        return fmt.name, np.stack(vals).astype(dtype)
    return build()


def _cast_expected(saturate: bool, nan: str = "sign kept"):
    """Expected codes ``fn(x, fmt, got)`` of a cast: ``encode(x, fmt, saturate=saturate)`` with NaN inputs
    per ``nan``: "sign kept" (F4), "canonical +NaN" (the positive NaN code whatever the sign) or "other NaN
    code" (any NaN code of the format with the input's sign: ``got`` is accepted there if it is one)."""
    def fn(x, fmt, got=None):
        f = get_format(fmt)
        want = encode(x, f, saturate=saturate)
        isnan = np.isnan(x.astype(np.float32))
        if nan == "canonical +NaN":
            want = np.where(isnan, np.uint8(f.nan_code), want).astype(np.uint8)
        elif nan == "other NaN code" and got is not None:
            got = np.asarray(got).astype(np.uint8)
            same_sign = f.single_nan | ((got >> 7) == (want >> 7))
            ok = isnan & np.isnan(decode(got, f, np.float32)) & same_sign
            want = np.where(ok, got, want).astype(np.uint8)
        return want
    return fn


def _check_cast(saturate: bool):
    def check(adapter, example, expected=None):
        fmt, x = example
        got = as_codes(adapter.cast_to_fp8(x, fmt, saturate), x.shape, "cast_to_fp8")
        want = (expected or _cast_expected(saturate))(x, fmt, got)
        bad = np.flatnonzero(got != want)
        if bad.size:
            i = int(bad[0])
            raise Mismatch(f"{describe_float(x[i])} -> {fmt}, saturate={saturate}", describe_code(want[i], fmt),
                           describe_code(got[i], fmt), f"{bad.size} of {x.size} elements differ")
    return check


def _decode_examples(adapter):
    return st.sampled_from(adapter_formats(adapter)).map(lambda f: f.name)


def _check_decode(adapter, fmt, expected=None):
    """All 256 codes at once: decode exactly to float32 (NaN anywhere a NaN code is)."""
    codes = np.arange(256, dtype=np.uint8)
    want = decode(codes, fmt, np.float32)
    got = np.asarray(adapter.cast_from_fp8(codes, fmt), np.float32)
    if got.shape != want.shape:
        raise Mismatch(f"all 256 {fmt} codes", f"shape {want.shape}", f"shape {got.shape}")
    same = (got.view(np.uint32) == want.view(np.uint32)) | (np.isnan(got) & np.isnan(want))
    bad = np.flatnonzero(~same)
    if bad.size:
        i = int(bad[0])
        raise Mismatch(f"code 0x{i:02x} ({fmt})", describe_float(want[i]), describe_float(got[i]),
                       f"{bad.size} of 256 codes differ")


def _cast_variants(saturate: bool) -> tuple:
    """The documented cast behaviours other than the rule's: each overflow mode times each NaN convention."""
    modes = ((saturate, ""), (not saturate, "saturating" if not saturate else "non-saturating"))
    return tuple((", ".join(p for p in (mode, "" if nan == "sign kept" else nan) if p), _cast_expected(sat, nan))
                 for sat, mode in modes for nan in ("sign kept", "canonical +NaN", "other NaN code")
                 if mode or nan != "sign kept")


FORMAT_RULES = (
    Rule("decode", "F1", "cast_from_fp8", "every code decodes exactly to float32",
         _decode_examples, _check_decode),
    Rule("cast_satfinite", "F2 F3 F4", "cast_to_fp8",
         "RNE cast, saturate=True: overflow and +-inf give +-max, NaN keeps its sign",
         _cast_examples, _check_cast(True), _cast_variants(True)),
    Rule("cast_nonsaturating", "F2 F3 F4", "cast_to_fp8",
         "RNE cast, saturate=False: overflow gives inf (e5m2) or NaN (e4m3), NaN keeps its sign",
         _cast_examples, _check_cast(False), _cast_variants(False)),
)


def all_rules() -> tuple:
    from .rules_gemm import GEMM_RULES
    from .rules_scale import SCALE_RULES

    return FORMAT_RULES + SCALE_RULES + GEMM_RULES

"""Quantizer rules (docs/spec.md S1-S5): scales and codes bit for bit against fp8ref.scale."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from fp8ref.formats import E4M3FN
from fp8ref.scale import quantize_fp8_per_block, quantize_fp8_per_row, quantize_fp8_per_tensor, scale_floor
from fp8ref.strategies import activations, boundary_values

from .rules import Mismatch, Rule, adapter_dtypes, as_codes, describe_code, describe_float

_UBS = (None, 1.0, 448.0, 1e-3)
_FINITE = ("normal", "zeros", "outlier", "wide", "tiny", "subnormal", "huge")


def _row_text(x: np.ndarray, r: int, k: int | None = None) -> str:
    """Row r of the [R, K] view: all of it when short, else its shape and element k."""
    row = x.reshape(-1, x.shape[-1])[r]
    if row.size <= 8:
        vals = ", ".join(repr(float(v)) for v in row.astype(np.float32))
        return f"x {x.dtype} {tuple(x.shape)}, row {r} = [{vals}]"
    at = f", x[{r}, {k}] = {describe_float(row[k])}" if k is not None else ""
    return f"x {x.dtype} {tuple(x.shape)}, row {r} (K={row.size}){at}"


def compare_quantized(got, want, x, args: str, scale_rows, scale_index=lambda r, k: r) -> None:
    """Scales bitwise (float32), then codes bitwise; ``scale_rows(i)`` maps a scale index to an input row,
    ``scale_index(r, k)`` an element of the [R, K] view to its scale's flat index."""
    (gq, gs), (wq, ws) = got, want
    gs = np.asarray(gs)
    if gs.dtype != np.float32 or gs.shape != ws.shape:
        raise Mismatch(f"x {x.dtype} {x.shape}{args}", f"float32 scales of shape {ws.shape}",
                       f"dtype {gs.dtype}, shape {gs.shape}")
    bad = np.flatnonzero(gs.reshape(-1).view(np.uint32) != ws.reshape(-1).view(np.uint32))
    if bad.size:
        i = int(bad[0])
        raise Mismatch(_row_text(x, scale_rows(i)) + args, f"scale[{i}] = {describe_float(ws.reshape(-1)[i])}",
                       f"scale[{i}] = {describe_float(gs.reshape(-1)[i])}", f"{bad.size} scale(s) differ")
    gq = as_codes(gq, x.shape, "codes")
    bad = np.flatnonzero(gq.reshape(-1) != wq.reshape(-1))
    if bad.size:
        r, k = divmod(int(bad[0]), x.shape[-1])
        s = describe_float(ws.reshape(-1)[scale_index(r, k)])
        raise Mismatch(_row_text(x, r, k) + args,
                       f"code at [{r}, {k}] = {describe_code(wq.reshape(-1)[bad[0]], E4M3FN)}",
                       describe_code(gq.reshape(-1)[bad[0]], E4M3FN),
                       f"{bad.size} code(s) differ; the scales agree: {s}")


def _shapes():
    return st.tuples(st.integers(1, 4), st.sampled_from([1, 3, 17, 33, 64]))


def _per_row_examples(adapter):
    return st.tuples(st.sampled_from(adapter_dtypes(adapter)).flatmap(lambda d: activations(_shapes(), d)),
                     st.sampled_from(_UBS))


def _check_per_row(adapter, example, expected=None):
    x, ub = example
    compare_quantized(adapter.quantize_fp8_per_row(x, ub, None), quantize_fp8_per_row(x, ub), x,
                      f", scale_ub={ub}", lambda i: i)


def _num_tokens_examples(adapter):
    @st.composite
    def build(draw):
        dtype = draw(st.sampled_from(adapter_dtypes(adapter)))
        x = draw(activations(_shapes(), dtype, kinds=_FINITE)).copy()
        nt = draw(st.integers(0, x.shape[0]))
        x[nt:] = np.nan  # rows at or beyond num_tokens must not be read
        return x, nt
    return build()


def _check_num_tokens(adapter, example, expected=None):
    x, nt = example
    compare_quantized(adapter.quantize_fp8_per_row(x, None, nt), quantize_fp8_per_row(x, None, nt), x,
                      f", num_tokens={nt} (rows from {nt} on are NaN and must not be read)", lambda i: i)


def _edge_cases():
    """S3's pinned cases: (name, x [rows, 4] float32, scale_ub)."""
    tiny = np.float32(2.0 ** -140)  # float32 subnormal
    cases = {
        "all-zero row (+-0)": (np.float32([[0.0, -0.0, 0.0, -0.0]]), None),
        "+-inf row, no scale_ub: s = inf": (np.float32([[np.inf, -1.0, 2.0, -np.inf]]), None),
        "+-inf row, scale_ub=448: infinities saturate": (np.float32([[np.inf, -1.0, 2.0, -np.inf]]), 448.0),
        "float32 subnormal row: floor scale": (np.float32([[tiny, -tiny, 3 * tiny, 0.0]]), None),
        "NaN elements: +NaN code 0x7f": (np.float32([[np.nan, -np.nan, 1.0, -2.0]]), None),
        "all-NaN row: amax 0": (np.float32([[np.nan, -np.nan, np.nan, np.nan]]), None),
        "amax above scale_ub": (np.float32([[1000.0, -3.0, 0.5, 7.0]]), 1.0),
        "float32 max row": (np.float32([[3.4028235e38, -3.4028235e38, 1.0, 0.0]]), None),
    }
    return [(name, x, ub) for name, (x, ub) in cases.items()]


def _check_edge_case(adapter, example, expected=None):
    name, x, ub = example
    dtype = np.dtype(adapter_dtypes(adapter)[0])
    x = x if dtype == np.float32 else x.astype(dtype)
    compare_quantized(adapter.quantize_fp8_per_row(x, ub, None), quantize_fp8_per_row(x, ub), x,
                      f", scale_ub={ub} [{name}]", lambda i: i)


def _division_examples(adapter):
    """Rows whose quotients x / s land on or next to e4m3fn rounding boundaries: x = float32(b * s) and its
    float32 neighbours for midpoints b, so that anything but one IEEE division (e.g. x * (1 / s)) shows."""
    mids = boundary_values(E4M3FN, np.float32)[:E4M3FN.max_code]  # the positive midpoints, below 464

    def build(amax, seed):
        rng = np.random.default_rng(seed)
        s = np.float32(amax) / np.float32(E4M3FN.max)
        b = rng.choice(mids, 21) * rng.choice(np.float32([1, -1]), 21)
        x = (b.astype(np.float64) * np.float64(s)).astype(np.float32)
        up, down = np.nextafter(x, np.float32(np.inf)), np.nextafter(x, np.float32(-np.inf))
        x = np.concatenate([[np.float32(amax)], x, up, down])
        return np.clip(x, -amax, amax).astype(np.float32).reshape(1, -1)

    amax = st.floats(2.0 ** -20, 2.0 ** 20, width=32).filter(lambda a: a > 0)
    return st.builds(build, amax, st.integers(0, 2 ** 32 - 1))


def _check_division(adapter, x, expected=None):
    compare_quantized(adapter.quantize_fp8_per_row(x, None, None), quantize_fp8_per_row(x), x, "", lambda i: i)


def _per_tensor_examples(adapter):
    shapes = st.tuples(st.integers(1, 3), st.sampled_from([1, 5, 16, 33]))
    return st.tuples(st.sampled_from(adapter_dtypes(adapter)).flatmap(lambda d: activations(shapes, d)),
                     st.sampled_from(_UBS))


def _check_per_tensor(adapter, example, expected=None):
    x, ub = example
    compare_quantized(adapter.quantize_fp8_per_tensor(x, ub), quantize_fp8_per_tensor(x, ub), x,
                      f", scale_ub={ub}", lambda i: 0, lambda r, k: 0)


def _per_block_examples(adapter):
    shapes = st.tuples(st.integers(1, 9), st.integers(1, 40))
    blocks = st.sampled_from([(1, 128), (128, 128), (1, 4), (2, 8), (3, 5)])
    return st.tuples(st.sampled_from(adapter_dtypes(adapter)).flatmap(lambda d: activations(shapes, d)),
                     blocks, st.sampled_from(_UBS))


def _check_per_block(adapter, example, expected=None):
    x, block, ub = example
    want = quantize_fp8_per_block(x, block, ub)
    nbm, nbk = want[1].shape[-2:]
    compare_quantized(adapter.quantize_fp8_per_block(x, block, ub), want, x,
                      f", block_shape={block}, scale_ub={ub}",
                      lambda i: (i // nbk // nbm) * x.shape[-2] + (i // nbk % nbm) * block[0],
                      lambda r, k: ((r // x.shape[-2]) * nbm + (r % x.shape[-2]) // block[0]) * nbk
                      + k // block[1])


SCALE_RULES = (
    Rule("quantize_per_row", "S1 S2 S4", "quantize_fp8_per_row",
         "row-wise e4m3fn quantizer: scales and codes bitwise, NaN elements +NaN", _per_row_examples, _check_per_row),
    Rule("quantize_per_row_edge_cases", "S3", "quantize_fp8_per_row",
         "pinned rows: zeros, +-inf with and without scale_ub, subnormals, NaN",
         lambda adapter: st.sampled_from(_edge_cases()), _check_edge_case),
    Rule("quantize_per_row_num_tokens", "S4", "quantize_fp8_per_row",
         f"rows at or past num_tokens are not read: codes 0, scale {float(scale_floor()):.6g}",
         _num_tokens_examples, _check_num_tokens),
    Rule("quantize_per_row_division", "S2", "quantize_fp8_per_row",
         "one IEEE float32 division per element: quotients on and next to rounding boundaries",
         _division_examples, _check_division),
    Rule("quantize_per_tensor", "S1 S2 S5", "quantize_fp8_per_tensor",
         "tensor-wise quantizer: one scale, codes bitwise", _per_tensor_examples, _check_per_tensor),
    Rule("quantize_per_block", "S1 S2 S5", "quantize_fp8_per_block",
         "block-wise quantizer: scale per block (edge blocks partial), codes bitwise",
         _per_block_examples, _check_per_block),
)

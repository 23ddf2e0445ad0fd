"""FP8 GEMM semantics (row-wise, tensor-wise, block-wise scaling) and error bounds for real accumulators.

Layout "NT": ``xq [M, K]`` (or ``[B, M, K]``) and ``wq [N, K]`` e4m3fn codes, both K-major.

Exactness of the reference accumulator. Every e4m3fn value is ``n * 2**e`` with ``|n| <= 15`` and
``e >= -9``, and ``|v| <= 448``. A product is therefore an integer multiple of ``2**-18`` with magnitude
``<= 448**2 = 200704 < 2**18``, i.e. at most ``2**36`` units of ``2**-18``. Any partial sum of ``K``
products is a multiple of ``2**-18`` of at most ``K * 2**36`` units, which float64 (53-bit significand)
holds exactly while ``K <= 2**17``. So for ``K <= MAX_K = 2**17`` every addition in float64 is exact in
any order (BLAS blocking and FMA included) and ``acc`` is the exact dot product; larger K is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import numpy as np

from .formats import E4M3FN, decode
from .scale import OUTPUT_DTYPES

__all__ = [
    "MAX_K", "AccumulatorModel", "HOPPER_FP8", "exact_dot",
    "f8f8bf16_rowwise", "f8f8bf16", "f8f8bf16_blockwise",
    "emulate_accumulator", "accumulation_error_bound", "gemm_error_bound", "gemm_error_bound_tensorwise",
]

MAX_K = 2**17  # K * 2**36 units of 2**-18 must fit float64's 2**53: K <= 2**17 (see module docstring)
_U32 = 2.0**-24  # unit roundoff of float32


@dataclass(frozen=True)
class AccumulatorModel:
    """How a tensor-core FP8 MMA adds its products into the float32 accumulator (a model, validated on GPUs).

    Each MMA step adds ``group`` exact products to the accumulator ``c``. Every term gets an exponent: a
    product ``x w`` the sum of its operands' exponent fields, ``ex + ew`` (a subnormal operand counts as the
    format's smallest normal exponent, -6 for e4m3; zero operands give no term), and ``c`` its binade. The
    ``group + 1`` terms are aligned to the largest such exponent ``E`` and each cut toward zero to a multiple of
    ``2**(E - fraction_bits)`` before an exact fixed-point sum; the sum is then stored with ``fraction_bits``
    bits after its leading one, again cut toward zero. A product's exponent ``ex + ew`` lies at or below its
    binade for normal operands (the significand product is in [1, 4)) but can lie up to 3 binades above it per
    subnormal operand, so with subnormals the step cuts more than the products' magnitudes suggest. The
    exponent of a step is at most ``log2 max(|c|, X W)``, X and W the largest operand exponent weights
    ``2**ex``, ``2**ew`` of the step, so one step errs by less than
    ``(group + 1) * 2**-F * max(|c|, X W) + 2**-F * |result|`` (F = fraction_bits).
    With ``promote_every`` (K elements) set, the slow-accumulation mode restarts the MMA accumulator from
    zero every ``promote_every`` K and adds it into a true float32 register (one float32 rounding each).

    Hopper (sm_90) e4m3 ``wgmma ... k32``: group 32, fraction_bits 13. Measured on an H200 (2026-12-02,
    ``scripts/probe_alignment.py``): ``emulate_accumulator`` reproduces the tensor cores bit for bit on all
    786,432 fast-accumulation outputs of K = 16, 32 and 64 (one and two steps; our kernel and cuBLAS agree
    bitwise) on data mixing normal and subnormal operands, and on 128 x 128 x 4096 in both modes (cuBLAS
    unsplit, our split-K kernel with its ``k_split``). Earlier sources: SageAttention2 (the
    accumulator behaves as e8m13), DeepSeek-V3 (14 bits kept after alignment: the products' [1, 4)
    significands); CUTLASS and DeepGEMM promote every 4 k32 MMAs = 128 K.
    """

    group: int = 32
    fraction_bits: int = 13
    promote_every: int = 128


HOPPER_FP8 = AccumulatorModel()


def _check_codes(a, name: str, ndims: tuple[int, ...]) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        if hasattr(a, "__cuda_array_interface__"):
            raise TypeError(f"{name}: fp8ref works on NumPy arrays; got a device array (use .get())")
        a = np.asarray(a)
    if a.dtype == np.dtype(ml_dtypes.float8_e4m3fn):
        a = a.view(np.uint8)
    if a.dtype != np.uint8:
        raise TypeError(f"{name}: expected uint8 e4m3fn codes, got dtype {a.dtype}")
    if a.ndim not in ndims:
        raise ValueError(f"{name}: expected rank in {ndims}, got shape {a.shape}")
    return a


def _check_vector(v, name: str, shape: tuple[int, ...], dtypes=(np.float32,)) -> np.ndarray:
    v = np.asarray(v)
    if v.dtype not in tuple(np.dtype(d) for d in dtypes):
        raise TypeError(f"{name}: expected dtype in {[np.dtype(d).name for d in dtypes]}, got {v.dtype}")
    if v.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {v.shape}")
    return v


def _check_gemm_args(xq, wq):
    xq = _check_codes(xq, "xq", (2, 3))
    wq = _check_codes(wq, "wq", (2,))
    if xq.shape[-1] != wq.shape[-1]:
        raise ValueError(f"xq and wq: K mismatch, xq.shape={xq.shape}, wq.shape={wq.shape}")
    if xq.shape[-1] > MAX_K:
        raise ValueError(f"K = {xq.shape[-1]} exceeds MAX_K = {MAX_K}, beyond which float64 is not exact")
    return xq, wq


def _bias32(bias, n: int):
    if bias is None:
        return np.zeros(n, np.float32)
    return _check_vector(bias, "bias", (n,), (np.float32, ml_dtypes.bfloat16)).astype(np.float32)


def _output(z32: np.ndarray, output_dtype) -> np.ndarray:
    dt = np.dtype(output_dtype)
    if dt not in OUTPUT_DTYPES:
        raise TypeError(f"output_dtype: expected bfloat16, float16 or float32, got {dt}")
    with np.errstate(over="ignore", invalid="ignore"):
        return z32.astype(dt)  # one round-to-nearest-even


def exact_dot(xq, wq) -> np.ndarray:
    """``acc = decode(xq) @ decode(wq).T`` in float64: the exact dot products (K <= MAX_K). [..., M, N].

    >>> exact_dot(np.array([[0x38, 0x40]], np.uint8), np.array([[0x38, 0x38]], np.uint8)).tolist()
    [[3.0]]
    """
    xq, wq = _check_gemm_args(xq, wq)
    with np.errstate(invalid="ignore", over="ignore"):
        return decode(xq, E4M3FN, np.float64) @ decode(wq, E4M3FN, np.float64).T


def f8f8bf16_rowwise(xq, wq, x_scale, w_scale, bias=None, use_fast_accum: bool = True,
                     output_dtype=ml_dtypes.bfloat16) -> np.ndarray:
    """Row-wise scaled FP8 GEMM: ``y[m, n] = rn(((fl32(acc[m, n]) * x_scale[m]) * w_scale[n]) + bias[n])``.

    ``xq``: [M, K] or [B, M, K] e4m3fn codes; ``wq``: [N, K] codes; ``x_scale``: float32 [M] (or [B, M]);
    ``w_scale``: float32 [N]; ``bias``: [N] float32 or bfloat16 (converted exactly to float32).
    ``acc`` is exact (module docstring), rounded once to float32; the two products and the bias add are
    float32 operations in that order; ``rn`` is one round-to-nearest-even to ``output_dtype`` (bfloat16,
    float16 or float32). ``use_fast_accum`` does not change the semantics (it only selects which error
    bound a real implementation is held to). A NaN code makes its whole output row (or column) NaN.

    >>> x = np.array([[0x38, 0x40], [0x7F, 0x38]], np.uint8)  # [1, 2], [NaN, 1]
    >>> w = np.array([[0x38, 0x38]], np.uint8)                # [1, 1]
    >>> f8f8bf16_rowwise(x, w, np.float32([0.5, 1]), np.float32([3])).astype(np.float32).tolist()
    [[4.5], [nan]]
    """
    xq, wq = _check_gemm_args(xq, wq)
    n = wq.shape[0]
    x_scale = _check_vector(x_scale, "x_scale", xq.shape[:-1])
    w_scale = _check_vector(w_scale, "w_scale", (n,))
    acc32 = exact_dot(xq, wq).astype(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        z = (acc32 * x_scale[..., None]) * w_scale + _bias32(bias, n)
    return _output(z, output_dtype)


def f8f8bf16(xq, wq, scale, bias=None, use_fast_accum: bool = True, output_dtype=ml_dtypes.bfloat16):
    """Tensor-wise scaled FP8 GEMM: ``y = rn((fl32(acc) * scale) + bias)``, ``scale`` one float32.

    >>> f8f8bf16(np.array([[0x38, 0x40]], np.uint8), np.array([[0x38, 0x38]], np.uint8), np.float32(2)).tolist()
    [[6.0]]
    """
    xq, wq = _check_gemm_args(xq, wq)
    scale = np.asarray(scale, np.float32)
    if scale.size != 1:
        raise ValueError(f"scale: expected a single float32 value, got shape {scale.shape}")
    acc32 = exact_dot(xq, wq).astype(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        z = acc32 * scale.reshape(()) + _bias32(bias, wq.shape[0])
    return _output(z, output_dtype)


def f8f8bf16_blockwise(xq, wq, x_scale, w_scale, bias=None, block_k: int = 128, block_n: int = 128,
                       output_dtype=ml_dtypes.bfloat16) -> np.ndarray:
    """Block-wise scaled FP8 GEMM (1 x block_k activation groups, block_n x block_k weight blocks).

    ``x_scale``: float32 [M, Kb]; ``w_scale``: float32 [Nb, Kb] with Kb = ceil(K / block_k), Nb =
    ceil(N / block_n). With ``S_b`` the exact partial sum over K block ``b``, in float32 and in increasing
    ``b``: ``acc = acc + (fl32(S_b) * x_scale[m, b]) * w_scale[n // block_n, b]`` from ``acc = 0``, then
    ``y = rn(acc + bias[n])``. 2-D ``xq`` only.

    >>> x = np.array([[0x38, 0x40]], np.uint8); w = np.array([[0x38, 0x38]], np.uint8)
    >>> f8f8bf16_blockwise(x, w, np.float32([[2]]), np.float32([[0.5]]), block_k=2).tolist()
    [[3.0]]
    """
    xq, wq = _check_gemm_args(xq, wq)
    if xq.ndim != 2:
        raise ValueError(f"xq: block-wise GEMM takes [M, K], got shape {xq.shape}")
    (m, k), n = xq.shape, wq.shape[0]
    kb, nb = -(-k // block_k), -(-n // block_n)
    x_scale = _check_vector(x_scale, "x_scale", (m, kb))
    w_scale = _check_vector(w_scale, "w_scale", (nb, kb))
    ws_n = np.repeat(w_scale, block_n, axis=0)[:n]  # [N, Kb]
    acc = np.zeros((m, n), np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        for b in range(kb):
            ks = slice(b * block_k, (b + 1) * block_k)
            s_b = exact_dot(xq[:, ks], wq[:, ks]).astype(np.float32)
            acc = acc + (s_b * x_scale[:, b, None]) * ws_n[None, :, b]
        z = acc + _bias32(bias, n)
    return _output(z, output_dtype)


def _step_maxima(v: np.ndarray, group: int, steps: int) -> np.ndarray:
    """max |v| over each K group of ``group`` elements: [..., R, K] -> [..., R, steps]."""
    pad = steps * group - v.shape[-1]
    a = np.pad(np.abs(v), [(0, 0)] * (v.ndim - 1) + [(0, pad)])
    return a.reshape(v.shape[:-1] + (steps, group)).max(axis=-1)


def _truncate(v: np.ndarray, e: np.ndarray, f: int) -> np.ndarray:
    """Cut v toward zero to a multiple of 2**(e - f) (a sign-magnitude right shift). Exact in float64."""
    q = np.ldexp(1.0, e - f)
    return np.trunc(v / q) * q


def _binade(v: np.ndarray) -> np.ndarray:
    """floor(log2 |v|) (-1 for v == 0)."""
    return np.frexp(v)[1] - 1


def _exponent_weight(v: np.ndarray) -> np.ndarray:
    """2**(exponent field) of decoded e4m3 values, as the MMA aligns them (``AccumulatorModel``): 2**floor(log2
    |v|) for normal values, 2**emin = 2**-6 for subnormal ones (up to 8x their magnitude), 0 for zero, NaN for NaN."""
    with np.errstate(invalid="ignore"):
        weight = np.ldexp(1.0, np.maximum(_binade(v), E4M3FN.emin))
    return np.where(v == 0, 0.0, np.where(np.isnan(v), np.nan, weight))


def _split_ranges(k: int, k_split, model: AccumulatorModel, use_fast_accum: bool) -> list:
    """The K ranges ``[(0, b_1), (b_1, b_2), ..., (b_{S-1}, K)]`` of ``k_split`` (None or empty: ``[(0, K)]``).

    ``k_split``: strictly increasing interior boundaries ``0 < b_i < K``, each a multiple of ``model.group``
    (MMA steps stay aligned) and, with slow accumulation, of ``model.promote_every`` (promotion chunks stay
    aligned). Anything else is a ValueError naming ``k_split``.
    """
    if k_split is None:
        return [(0, k)]
    rule = (f"strictly increasing interior K boundaries 0 < b < K = {k}, each a multiple of model.group = "
            f"{model.group}" + ("" if use_fast_accum else
                                f" and (slow accumulation) of model.promote_every = {model.promote_every}"))
    try:
        ndim = None if isinstance(k_split, (str, bytes)) else np.ndim(k_split)
    except ValueError:  # a ragged nesting
        ndim = None
    if ndim != 1:
        raise ValueError(f"k_split: expected None or a sequence of {rule} (not a number of splits); "
                         f"got {k_split!r}")
    bounds = list(k_split)
    if not all(isinstance(b, (int, np.integer)) and not isinstance(b, (bool, np.bool_)) for b in bounds):
        raise ValueError(f"k_split: expected integers ({rule}); got {k_split!r}")
    bounds = [int(b) for b in bounds]
    step = model.group if use_fast_accum else int(np.lcm(model.group, model.promote_every))
    for prev, b in zip([0] + bounds, bounds):
        if not prev < b < k or b % step:
            raise ValueError(f"k_split: expected {rule}; got {k_split!r} (boundary {b})")
    return list(zip([0] + bounds, bounds + [k]))


def emulate_accumulator(xq, wq, *, use_fast_accum: bool, model: AccumulatorModel = HOPPER_FP8, k_split=None):
    """Run the accumulator of ``model`` literally (2-D xq): for ``HOPPER_FP8`` bit for bit what the H200's
    tensor cores computed wherever measured (``AccumulatorModel``).

    Per step: the accumulator and the ``group`` exact products are cut toward zero to multiples of
    ``2**(E - F)`` (E the largest term exponent: ``ex + ew`` for a product, the binade for the accumulator),
    summed exactly, and the sum cut toward zero to F bits after its leading one. Slow accumulation adds each
    ``promote_every`` chunk into a float32 register. For tests of ``accumulation_error_bound``, for testing
    a kernel bit-exactly, and for studying the model; memory is M * N * group float64 per step.

    Split-K: ``k_split = (b_1, ..., b_{S-1})``, strictly increasing interior K boundaries ``0 < b_i < K``,
    multiples of ``model.group`` and, with slow accumulation, of ``model.promote_every`` (else ValueError).
    Each K range ``[b_{s-1}, b_s)`` runs the above from zero on its own (chunks counted from the range's
    start), giving a float32 ``p_s``, and the results are added in float32 in split order,
    ``((p_0 + p_1) + p_2) + ...``, one round-to-nearest-even each. None or ``()`` is one split: exactly the
    unsplit accumulator.

    >>> x = np.full((1, 8192), 0x38, np.uint8)  # 8192 ones: the partial sums leave 13 bits at 2**13
    >>> float(emulate_accumulator(x, x, use_fast_accum=True)[0, 0]), float(emulate_accumulator(x, x, use_fast_accum=False)[0, 0])
    (8192.0, 8192.0)
    >>> x = np.full((1, 32768), 0x38, np.uint8)  # past 2**14 one chain keeps multiples of 2: each 1 is cut
    >>> float(emulate_accumulator(x, x, use_fast_accum=True)[0, 0])
    16384.0
    >>> float(emulate_accumulator(x, x, use_fast_accum=True, k_split=[16384])[0, 0])  # two chains of 2**14
    32768.0
    """
    xq, wq = _check_gemm_args(xq, wq)
    if xq.ndim != 2:
        raise ValueError(f"xq: expected [M, K], got shape {xq.shape}")
    ranges = _split_ranges(xq.shape[1], k_split, model, use_fast_accum)
    x = decode(xq, E4M3FN, np.float64)
    w = decode(wq, E4M3FN, np.float64)
    xe, we = _exponent_weight(x), _exponent_weight(w)
    total = None
    for k0, k1 in ranges:
        p = _emulate_chain(x[:, k0:k1], w[:, k0:k1], xe[:, k0:k1], we[:, k0:k1], use_fast_accum, model)
        total = p if total is None else total + p  # float32 + float32: one rounding, in split order
    return total


def _emulate_chain(x: np.ndarray, w: np.ndarray, xe: np.ndarray, we: np.ndarray, use_fast_accum: bool,
                   model: AccumulatorModel) -> np.ndarray:
    """One split of ``emulate_accumulator``: decoded x [M, K'], w [N, K'] and their exponent weights -> the
    float32 register [M, N]."""
    g, f = model.group, model.fraction_bits
    k = x.shape[1]
    per_chunk = k if use_fast_accum else model.promote_every
    reg = np.zeros((x.shape[0], w.shape[0]), np.float32)
    for c0 in range(0, k, per_chunk):
        c = np.zeros(reg.shape)
        for j in range(c0, min(c0 + per_chunk, k), g):
            prods = x[:, None, j:j + g] * w[None, :, j:j + g]  # exact: [M, N, g]
            top = np.maximum(np.max(xe[:, None, j:j + g] * we[None, :, j:j + g], axis=-1),  # 2**(ex + ew)
                             np.where(c == 0, 0.0, np.ldexp(1.0, _binade(c))))  # 2**E (0: no nonzero term)
            terms = np.concatenate([c[..., None], prods], axis=-1)
            s = np.sum(_truncate(terms, _binade(top)[..., None], f), axis=-1)  # exact: multiples of 2**(E - f)
            c = _truncate(s, _binade(s), f)
        reg = reg + c.astype(np.float32)  # promotion: one float32 rounding (fast: the only chunk)
    return reg


def _lowbit_exponents(codes: np.ndarray) -> np.ndarray:
    """Exponent of the lowest set bit of each code's value (v = odd * 2**t -> t); +inf for zero and NaN."""
    v = decode(np.arange(256, dtype=np.uint8), E4M3FN, np.float64)
    f, e = np.frexp(v)  # v = f * 2**e, f has at most 4 significant bits
    m = np.abs(np.nan_to_num(f, nan=0.0, posinf=0.0) * 16).astype(np.int64)  # integer significand of v * 2**(4 - e)
    tz = np.zeros(256, np.int64)
    for _ in range(4):
        tz += (m != 0) & (m % 2 == 0)
        m = np.where((m != 0) & (m % 2 == 0), m // 2, m)
    table = np.where(np.isfinite(v) & (v != 0), (e - 4 + tz).astype(np.float64), np.inf)
    return table[codes]


def _exact_under_model(xq, wq, model: AccumulatorModel) -> np.ndarray:
    """Where the model's accumulator is provably exact: [..., M, N] bool.

    Lemma: let every product of a row pair be a multiple of ``2**q`` (q = lowest-bit exponent of the
    row's x values plus that of w's), ``A = sum |x_k w_k| < 2**(q + F)`` and ``X W <= 2**(q + F)`` (X, W the
    largest exponent weights ``2**ex``, ``2**ew`` of the rows). Every term and partial sum is then a multiple
    of ``2**q`` below ``2**(q + F)``, so an accumulator's binade is at most ``q + F - 1``, a product's exponent
    ``ex + ew`` at most ``q + F``: the alignment exponent E satisfies ``E - F <= q``, and cutting to multiples
    of ``2**(E - F)`` and storing with F bits lose nothing, nor does a float32 promotion. (Without the second
    condition a subnormal operand breaks it: 176 * 2**-9 has ``ex + ew = 7 - 6``, 3 binades above its value;
    H200, 2026-12-02.)
    """
    q = np.min(_lowbit_exponents(xq), axis=-1)[..., None] + np.min(_lowbit_exponents(wq), axis=-1)
    x, w = decode(xq, E4M3FN, np.float64), decode(wq, E4M3FN, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        a = np.abs(x) @ np.abs(w).T
        top = np.max(_exponent_weight(x), axis=-1)[..., None] * np.max(_exponent_weight(w), axis=-1)
        limit = np.ldexp(1.0, np.minimum(q + model.fraction_bits, 1000).astype(np.int64))
        return (a < limit) & (top <= limit)


def accumulation_error_bound(xq, wq, *, use_fast_accum: bool, model: AccumulatorModel = HOPPER_FP8,
                             k_split=None):
    """Bound ``E[..., m, n] >= |acc_impl - acc|`` for an accumulator that follows ``model``.

    Derivation (one output element; ``S_j`` the exact partial sum after j MMA steps, ``e_j`` the bound
    on the accumulator's error then, ``P_j >= max(|x_k w_k|, 2**(ex_k + ew_k))`` over step j's products,
    F = model.fraction_bits): the step's alignment exponent E has ``2**E <= m_j = max(|S_j| + e_j, P_j)``
    (the accumulator's binade, or a product's ``ex + ew``: ``AccumulatorModel``), so it adds at most
    ``t_j = (group + 1) * 2**-F * m_j`` of alignment error, and storing the result (magnitude at most
    ``|S_{j+1}| + e_j + t_j``) at most ``2**-F`` of that: ``e_{j+1} = e_j + t_j + 2**-F (|S_{j+1}| + e_j + t_j)``.
    Slow accumulation restarts this recursion from zero every ``promote_every`` K (partial sums taken
    within the chunk) and adds each chunk into float32: ``E <- E + e_chunk + 2**-24 (|S| + E + e_chunk)``.
    ``P_j`` is bounded by (max B(x) over the step) * (max B(w) over the step), ``B(v) = max(|v|, 2**ex)``:
    ``|v|`` for normal values, ``2**-6`` for subnormal ones (whose exponent field overstates them; before
    2026-12-02 the bound used ``|v|`` and failed on such data on the GPU). All sums are exact (K <=
    MAX_K), so the bound is rigorous under the model. Where ``_exact_under_model`` proves the
    accumulation exact (small-integer-like data) the bound is 0. NaN inputs give NaN bounds.

    Split-K (``k_split``, as in ``emulate_accumulator``): split s runs the above from zero over its K
    range (fast: one chain; slow: its own float32 register), so its float32 result ``p_s`` lies within
    ``e_s`` of its exact sum ``T_s``. The results are added in float32 in split order. Let ``R`` be the
    running float32 sum, ``T`` the exact sum of the same splits and ``|R - T| <= E`` (``R = p_0``,
    ``E = e_0`` after the first split: no add rounds it). Adding split s gives
    ``fl(R + p_s) = (R + p_s)(1 + d)``, ``|d| <= 2**-24``, with ``|R + p_s| <= |T + T_s| + E + e_s``; so with
    ``T <- T + T_s``: ``E <- E + e_s + 2**-24 (|T| + E + e_s)``, the promotion recursion again. One split
    is the bound above.
    """
    xq, wq = _check_gemm_args(xq, wq)
    x = decode(xq, E4M3FN, np.float64)
    w = decode(wq, E4M3FN, np.float64)
    g = model.group
    k = x.shape[-1]
    ranges = _split_ranges(k, k_split, model, use_fast_accum)
    steps = -(-k // g)
    with np.errstate(invalid="ignore"):
        xmax = _step_maxima(np.maximum(np.abs(x), _exponent_weight(x)), g, steps)
        wmax = _step_maxima(np.maximum(np.abs(w), _exponent_weight(w)), g, steps)
    total = err = None  # exact sum of the splits so far; bound on their float32 sum
    with np.errstate(invalid="ignore", over="ignore"):
        for k0, k1 in ranges:  # boundaries are multiples of g: split s covers steps k0 // g .. ceil(k1 / g) - 1
            t_s, e_s = _split_bound(x, w, xmax, wmax, range(k0 // g, -(-k1 // g)), use_fast_accum, model)
            if total is None:
                total, err = t_s, e_s
            else:
                total = total + t_s
                err = err + e_s + _U32 * (np.abs(total) + err + e_s)
    # The zero bound stays valid for any k_split: the lemma of _exact_under_model bounds every partial sum
    # of any subset of the products (every chain, chunk, split and sum of splits) by A < 2**(q + F) on the
    # grid of 2**q, so every float32 add (promotion, or adding split results) is exact too: at most F <= 24
    # significant bits, which the unsplit promotion already needs.
    return np.where(_exact_under_model(xq, wq, model), 0.0, err)


def _split_bound(x, w, xmax, wmax, steps: range, use_fast_accum: bool, model: AccumulatorModel):
    """(exact sum, error bound) of one split of ``accumulation_error_bound`` over MMA steps ``steps``."""
    g, f = model.group, 2.0 ** -model.fraction_bits
    per_chunk = len(steps) if use_fast_accum else max(1, model.promote_every // g)
    out_shape = x.shape[:-1] + (w.shape[0],)
    total = np.zeros(out_shape)  # exact partial sum over the split so far
    err = np.zeros(out_shape)  # bound on the split's float32 register (slow accumulation)
    chunk_sum, chunk_err = np.zeros(out_shape), np.zeros(out_shape)
    for i, j in enumerate(steps):
        ks = slice(j * g, (j + 1) * g)
        step = x[..., ks] @ w[:, ks].T
        p_j = xmax[..., j, None] * wmax[:, j]
        m_j = np.maximum(np.abs(chunk_sum) + chunk_err, p_j)
        t_j = (g + 1) * f * m_j
        chunk_sum = chunk_sum + step
        chunk_err = chunk_err + t_j + f * (np.abs(chunk_sum) + chunk_err + t_j)
        if use_fast_accum:
            continue
        if (i + 1) % per_chunk == 0 or i == len(steps) - 1:  # promote the chunk into the float32 register
            total = total + chunk_sum
            err = err + chunk_err + _U32 * (np.abs(total) + err + chunk_err)
            chunk_sum, chunk_err = np.zeros(out_shape), np.zeros(out_shape)
    return (chunk_sum, chunk_err) if use_fast_accum else (total, err)


def _ulp(v: np.ndarray, dtype) -> np.ndarray:
    """One unit in the last place of ``dtype`` at magnitude ``v`` (the ulp of v's binade, subnormals flat)."""
    dt = np.dtype(dtype)
    p, emin = {np.dtype(ml_dtypes.bfloat16): (8, -126), np.dtype(np.float16): (11, -14),
               np.dtype(np.float32): (24, -126)}[dt]
    _, e = np.frexp(v)  # v = f * 2**e, f in [0.5, 1): binade exponent e - 1
    return np.ldexp(1.0, np.maximum(e - 1, emin) - (p - 1))


def _epilogue_bound(acc, e_acc, scale, bias32, output_dtype):
    """Bound |y_impl - y_ref| given |acc_impl - acc| <= e_acc and |scale| = |x_scale * w_scale|.

    Each side computes ``acc * scale + bias`` with at most four float32 roundings (acc to float32, two
    products, the add), so it lies within ``g4 * (|acc * scale| + |bias|)`` of its exact value, with
    g4 = 4u / (1 - 4u), u = 2**-24; the exact values differ by ``|scale| e_acc``. Hence the pre-rounding
    results differ by at most ``D = |scale| e_acc + g4 (2 |acc scale| + |scale| e_acc + 2 |bias|)``, and
    two round-to-nearest results by at most ``D + ulp(V)``, V >= both magnitudes. Infinite where V
    reaches the output's largest finite value (overflow cannot be bounded).
    """
    g4 = 4 * _U32 / (1 - 4 * _U32)
    a = np.abs(acc * scale)
    d = np.abs(scale) * e_acc + g4 * (2 * a + np.abs(scale) * e_acc + 2 * np.abs(bias32))
    v = a + np.abs(bias32) + d
    bound = d + _ulp(v, output_dtype)
    return np.where(np.isnan(v) | (v < float(ml_dtypes.finfo(np.dtype(output_dtype)).max)), bound, np.inf)


def gemm_error_bound(xq, wq, x_scale, w_scale, bias=None, *, use_fast_accum: bool,
                     output_dtype=ml_dtypes.bfloat16, model: AccumulatorModel = HOPPER_FP8,
                     k_split=None) -> np.ndarray:
    """Per-element bound on ``|y_impl - f8f8bf16_rowwise(...)|`` (float64, shape of the output).

    ``y_impl`` is any implementation whose accumulator follows ``model`` (Hopper's FP8 tensor cores by
    default), fast accumulation (``use_fast_accum=True``: one accumulator through all K) or float32
    promotion every ``model.promote_every`` K (``use_fast_accum=False``), and whose epilogue computes
    ``acc * x_scale * w_scale + bias`` in float32 in any association, rounding once to ``output_dtype``.
    ``k_split``: the implementation's split-K boundaries (``accumulation_error_bound``; None: no split).
    Sum of ``accumulation_error_bound`` carried through the epilogue (``_epilogue_bound``).
    NaN where the reference is NaN.

    >>> x = np.full((1, 4096), 0x39, np.uint8); w = np.full((1, 4096), 0x38, np.uint8)  # 1.125s, ones
    >>> one = np.float32([1])
    >>> fast = gemm_error_bound(x, w, one, one, use_fast_accum=True, output_dtype=np.float32)
    >>> slow = gemm_error_bound(x, w, one, one, use_fast_accum=False, output_dtype=np.float32)
    >>> bool(slow[0, 0] < fast[0, 0] / 10)  # same-sign data at large K: promotion matters
    True
    >>> ones = np.full((1, 4096), 0x38, np.uint8)  # all partial sums are integers < 2**13: exact
    >>> float(accumulation_error_bound(ones, ones, use_fast_accum=True)[0, 0])
    0.0
    """
    xq, wq = _check_gemm_args(xq, wq)
    n = wq.shape[0]
    x_scale = _check_vector(x_scale, "x_scale", xq.shape[:-1]).astype(np.float64)
    w_scale = _check_vector(w_scale, "w_scale", (n,)).astype(np.float64)
    e_acc = accumulation_error_bound(xq, wq, use_fast_accum=use_fast_accum, model=model, k_split=k_split)
    with np.errstate(invalid="ignore", over="ignore"):
        scale = x_scale[..., None] * w_scale  # exact in float64
        return _epilogue_bound(exact_dot(xq, wq), e_acc, scale, _bias32(bias, n).astype(np.float64),
                               output_dtype)


def gemm_error_bound_tensorwise(xq, wq, scale, bias=None, *, use_fast_accum: bool,
                                output_dtype=ml_dtypes.bfloat16, model: AccumulatorModel = HOPPER_FP8,
                                k_split=None):
    """``gemm_error_bound`` for ``f8f8bf16`` (one float32 scale)."""
    xq, wq = _check_gemm_args(xq, wq)
    s = float(np.asarray(scale, np.float32).reshape(()))
    e_acc = accumulation_error_bound(xq, wq, use_fast_accum=use_fast_accum, model=model, k_split=k_split)
    with np.errstate(invalid="ignore", over="ignore"):
        return _epilogue_bound(exact_dot(xq, wq), e_acc, np.float64(s),
                               _bias32(bias, wq.shape[0]).astype(np.float64), output_dtype)

"""``python -m fp8ref [formats|example]``: the FP8 format tables and a worked row-wise FP8 GEMM (no GPU).
``python -m fp8ref check --backend NAME``: the conformance runner (``fp8ref.conformance``; see
docs/testing-your-backend.md and ``python -m fp8ref check --help``).

``formats``: per format its bias, max, min normal, min subnormal, NaN and infinity codes, and the values of
a few representative codes. ``example``: a random bfloat16 activation and weight, both quantized with
``quantize_fp8_per_row``, multiplied with ``f8f8bf16_rowwise``, compared with the exact float64 product of
the unquantized inputs and with the bound a Hopper kernel is held to. No argument: both.
"""

from __future__ import annotations

import argparse
import sys

import ml_dtypes
import numpy as np

from fp8ref.formats import FORMATS, all_codes, decode
from fp8ref.gemm import f8f8bf16_rowwise, gemm_error_bound
from fp8ref.scale import quantize_fp8_per_row

REPRESENTATIVE = (0x00, 0x01, 0x07, 0x08, 0x38, 0x40, 0x7B, 0x7C, 0x7E, 0x7F, 0x80, 0xFE, 0xFF)


def _pow2(v: float) -> str:
    return f"2**{int(np.log2(v))} = {v:.10g}"


def _codes(mask: np.ndarray) -> str:
    return " ".join(f"0x{c:02x}" for c in np.flatnonzero(mask)) or "none"


def print_formats(out=None) -> None:
    out = out or sys.stdout
    print("FP8 formats (1 sign, E exponent, M mantissa bits)", file=out)
    print(f"{'format':9} {'E M':4} {'bias':>4} {'max':>6}  {'min normal':25} {'min subnormal':25} "
          f"{'NaN codes':30} inf codes", file=out)
    for f in FORMATS.values():
        v = decode(all_codes(), f, np.float64)
        print(f"{f.name:9} {f.ebits} {f.mbits:<2} {f.bias:>4} {f.max:>6g}  {_pow2(f.min_normal):25} "
              f"{_pow2(f.min_subnormal):25} {_codes(np.isnan(v)):30} {_codes(np.isinf(v))}", file=out)
    print("\nvalues of representative codes", file=out)
    print("code  " + "".join(f"{name:>16}" for name in FORMATS), file=out)
    for c in REPRESENTATIVE:
        vals = [float(decode(np.uint8(c), f, np.float64)) for f in FORMATS.values()]
        print(f"0x{c:02x}  " + "".join(f"{v:>16.10g}" for v in vals), file=out)


def print_example(seed: int = 0, out=None) -> None:
    out = out or sys.stdout
    bf16 = np.dtype(ml_dtypes.bfloat16)
    m, n, k = 64, 48, 512
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, k)).astype(np.float32).astype(bf16)  # activation [M, K]
    w = (rng.standard_normal((n, k)) / np.sqrt(k)).astype(np.float32).astype(bf16)  # weight [N, K]
    xq, x_scale = quantize_fp8_per_row(x)  # e4m3fn codes [M, K], float32 [M]
    wq, w_scale = quantize_fp8_per_row(w)
    y = f8f8bf16_rowwise(xq, wq, x_scale, w_scale, use_fast_accum=True)  # bfloat16 [M, N]
    exact = x.astype(np.float64) @ w.astype(np.float64).T
    y64 = y.astype(np.float64)
    rel = np.linalg.norm(y64 - exact) / np.linalg.norm(exact)
    print(f"example: x [{m}, {k}] and w [{n}, {k}] bfloat16 (seed {seed}), quantize_fp8_per_row (e4m3fn) both,",
          file=out)
    print(f"         y = f8f8bf16_rowwise(xq, wq, x_scale, w_scale) -> [{m}, {n}] bfloat16", file=out)
    print(f"x_scale[:3] = {x_scale[:3].tolist()}, w_scale[:3] = {w_scale[:3].tolist()}", file=out)
    print(f"y[0, :3] = {y64[0, :3].tolist()}, exact float64 x @ w.T: {exact[0, :3].round(6).tolist()}", file=out)
    print(f"relative Frobenius error of y vs the exact product: {rel:.3e}", file=out)
    for fast in (True, False):
        bound = gemm_error_bound(xq, wq, x_scale, w_scale, use_fast_accum=fast)
        print(f"gemm_error_bound (use_fast_accum={fast}): a Hopper kernel may differ from y by at most "
              f"{bound.max():.3e} (relative Frobenius {np.linalg.norm(bound) / np.linalg.norm(y64):.3e})", file=out)


def check(argv) -> int:
    """``python -m fp8ref check ...``: imported lazily (it needs Hypothesis; the other commands do not)."""
    from fp8ref.conformance.report import add_arguments, check_main

    parser = argparse.ArgumentParser(prog="python -m fp8ref check",
                                     description="Run the specification's rules against a backend.")
    add_arguments(parser)
    return check_main(parser.parse_args(argv))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["check"]:
        return check(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m fp8ref", description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=("formats", "example"), help="default: both; "
                        "'check --backend NAME' runs the conformance check (see check --help)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the example's random inputs")
    args = parser.parse_args(argv)
    if args.command in (None, "formats"):
        print_formats()
    if args.command is None:
        print()
    if args.command in (None, "example"):
        print_example(args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())

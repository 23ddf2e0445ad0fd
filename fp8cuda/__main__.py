"""``python -m fp8cuda bench {quantize,gemm,decode,all}`` and ``python -m fp8cuda plot RESULTS.json --out PNG``.

``bench``: runs a sweep on this machine's GPU (Hopper, CuPy and PyTorch needed) with a progress bar, prints a
table, and with ``--json PATH`` writes the results (``kind``, ``meta``, ``ceilings``, ``rows``; for ``all`` one
such object per sweep under ``results``), with ``--plot PNG`` draws them (``fp8cuda.plot``). The device's
ceilings are measured in the same run: copy bandwidth (``fp8cuda.bench.copy_bandwidths``) and the matmul peak
(``fp8cuda.bench_decode.measure_ceilings``).

  quantize  row-wise e4m3fn quantization vs torch eager and torch.compile (``fp8cuda.bench``)
  gemm      row-wise FP8 GEMM vs torch._scaled_mm, square and Llama-3 shapes (``fp8cuda.bench_gemm``)
  decode    the same GEMM at M = 1..128 on Llama-3 8B/70B/405B weights, CUDA-graph replays with rotated
            weights, then a 32-layer Llama-3-8B decode step's 128 GEMMs in one graph (``fp8cuda.bench_decode``)
  all       the three, ceilings measured once

``plot``: redraws a figure from a ``--json`` file, offline (matplotlib, no GPU). Without CuPy, a GPU or
PyTorch, ``bench`` prints one line saying which is missing and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SCHEMA = 1
EXIT_UNAVAILABLE = 2


class Unavailable(RuntimeError):
    """Something the benchmarks need (CuPy, a GPU, PyTorch, matplotlib) is missing: one line, exit status 2."""


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:200]


def check_environment():
    """Return ``(cupy, torch)`` if a CUDA GPU of compute capability 9.0 is usable from both, else raise
    ``Unavailable`` naming the first thing missing."""
    try:
        import cupy
    except ImportError as e:
        raise Unavailable(f"CuPy is not installed or does not load ({_first_line(e)}); "
                          f"install the cuda extra: pip install -e '.[cuda]'") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # noqa: BLE001 - CUDARuntimeError, missing driver library, ...
        raise Unavailable(f"no CUDA GPU: CuPy cannot reach a device ({_first_line(e)})") from None
    if count == 0:
        raise Unavailable("no CUDA GPU: CuPy sees 0 devices")
    try:
        import torch
    except ImportError as e:
        raise Unavailable(f"PyTorch is not installed ({_first_line(e)}); the benchmarks compare against "
                          f"torch: pip install torch") from None
    if not torch.cuda.is_available():
        raise Unavailable("PyTorch sees no CUDA GPU (torch.cuda.is_available() is False)")
    cc = torch.cuda.get_device_capability()
    if tuple(cc) < (9, 0):
        raise Unavailable(f"fp8cuda needs a Hopper GPU (sm_90); {torch.cuda.get_device_name()} is "
                          f"sm_{cc[0]}{cc[1]}")
    return cupy, torch


def check_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise Unavailable("--plot needs matplotlib: pip install -e '.[bench]'") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m fp8cuda", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Benchmarks of the fp8cuda kernels against PyTorch (bench) and their figures (plot).",
        epilog="sweeps (python -m fp8cuda bench WHAT):\n" + __doc__.split("\n\n")[2].replace("``", "")
        + "\n\nexit status 2: bad arguments, or CuPy / a GPU / PyTorch / matplotlib missing (one line on stderr)")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("bench", help="run a benchmark sweep on the GPU",
                       description="Run a benchmark sweep on this machine's Hopper GPU against PyTorch.")
    b.add_argument("what", choices=["quantize", "gemm", "decode", "all"])
    b.add_argument("--quick", action="store_true",
                   help="a subset: gemm 9 shapes instead of 63; decode M in {1, 8, 32, 128} instead of 1..128")
    b.add_argument("--json", metavar="PATH", help="write the results here (rewritten after every case)")
    b.add_argument("--plot", metavar="PNG", help="draw the results into this image (needs matplotlib)")
    b.add_argument("--markdown", metavar="PATH",
                   help="write the tables into this markdown file (between <!-- bench:KIND --> markers)")
    b.add_argument("--models", nargs="+", choices=["8B", "70B", "405B"], help="decode: only these Llama-3 sizes")
    b.add_argument("--shapes", nargs="+", metavar="M,N,K", help="gemm: explicit shapes instead of the sweep")
    b.add_argument("--rep", type=float, default=None,
                   help="milliseconds measured per timing (default: gemm 40; decode 20 ms of graph replays, "
                        "at least 20 replays)")
    b.add_argument("--rounds", type=int, default=3, help="alternating ours/torch rounds per case (median)")
    b.add_argument("--no-ceilings", action="store_true", help="skip measuring copy bandwidth and matmul peak")
    b.add_argument("--m", nargs="+", type=_positive_int, metavar="M",
                   help="decode: only these M (default 1 2 4 8 16 32 64 128; --quick 1 8 32 128)")
    step = b.add_mutually_exclusive_group()
    step.add_argument("--no-step", action="store_true",
                      help="decode: skip the decode-step measurement (32-layer Llama-3-8B, M = 1, one graph)")
    step.add_argument("--step-only", action="store_true", help="decode: only the decode step, no M sweep")
    pl = sub.add_parser("plot", help="draw a figure from a --json results file (no GPU)",
                        description="Draw TFLOP/s or GB/s against M from a `bench --json` file.")
    pl.add_argument("results", help="JSON written by `python -m fp8cuda bench ... --json`")
    pl.add_argument("--out", required=True, metavar="PNG", help="image to write (.png, .svg, .pdf)")
    return p


def _positive_int(text: str) -> int:
    """argparse type: a positive integer."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def parse_shapes(values) -> list[tuple[int, int, int]]:
    """``["1024,8192,8192"]`` -> ``[(1024, 8192, 8192)]``; a malformed entry is an argparse-style error."""
    out = []
    for v in values:
        parts = v.split(",")
        if len(parts) != 3 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
            raise ValueError(f"--shapes: expected M,N,K with positive integers, got {v!r}")
        out.append(tuple(int(p) for p in parts))
    return out


class _Doc:
    """The JSON document of a run, rewritten to ``path`` whenever it changes (a cut-off run keeps its rows)."""

    def __init__(self, path):
        self.path = Path(path) if path else None
        self.doc = None

    def set(self, doc):
        self.doc = doc
        self.write()

    def write(self):
        if self.path is not None and self.doc is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(self.doc, indent=1, default=_jsonable))


def _jsonable(o):
    if isinstance(o, tuple):
        return list(o)
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _result(kind, meta, ceilings, rows, **extra):
    return dict(schema=SCHEMA, kind=kind, meta=meta, ceilings=ceilings, rows=rows, **extra)


def run_quantize(args, cp, torch):
    from . import bench

    meta, rows, geo = bench.quantize_bench()  # prints one line per shape; measures the copy bandwidth itself
    section = bench.markdown(meta, rows, geo)
    print(section)
    if args.markdown:
        bench.splice_markdown(args.markdown, section)
    ceil = dict(copy_gbs=meta["copy_gbs"], copies=meta["copies"])
    return _result("quantize", meta, ceil, [dict(r, M=r["shape"][0], K=r["shape"][1]) for r in rows], geo=geo)


def run_gemm(args, cp, torch, doc, publish, ceilings, do_bench, timer):
    from . import bench_decode, bench_gemm
    from .progress import Progress

    if args.shapes:
        shapes = parse_shapes(args.shapes)
    else:
        shapes = list(bench_gemm.QUICK) if args.quick else bench_gemm.all_shapes()
    warmup = 200  # ms of the same kernel before its timed reps (bench_gemm.bench_shape)
    meta = dict(bench_decode.meta(torch, cp, timer), rounds=args.rounds, warmup=warmup,
                args=" ".join(sys.argv[1:]) or "gemm")
    rows = []
    res = _result("gemm", meta, ceilings, rows)
    clock = bench_gemm.ClockSampler()
    publish(res)
    bar = Progress(len(shapes), "gemm")
    for (m, n, k) in shapes:
        try:
            r = bench_gemm.bench_shape(m, n, k, torch=torch, cp=cp, do_bench=do_bench, warmup=warmup,
                                       rep=args.rep or 40, rounds=args.rounds, clock=clock)
            rows.append(r)
            bar.step(f"{m}x{n}x{k}: ours {r['ours_fast_tflops']:.0f} TFLOP/s, torch {r['torch_fast_tflops']:.0f} "
                     f"(x{r['ratio_fast']:.2f})")
        except Exception as e:  # noqa: BLE001 - keep going; report the failure
            bar.step(f"{m}x{n}x{k}: FAILED {_first_line(e)}")
        doc.write()
    bar.close()
    clock.close()
    if rows:
        print(bench_gemm.format_table(rows))
        if args.markdown:
            bench_gemm.splice_markdown(args.markdown, bench_gemm.markdown(meta, rows))
    return res


def run_decode(args, cp, torch, doc, publish, ceilings, do_bench, timer):
    from . import bench_decode
    from .progress import Progress

    cases = [] if args.step_only else bench_decode.decode_cases(quick=args.quick, models=args.models, ms=args.m)
    rep = args.rep or 20
    l2_bytes, l2_source = bench_decode.l2_cache_bytes(torch, cp)
    meta = dict(bench_decode.meta(torch, cp), rep=rep, rounds=args.rounds, l2_bytes=l2_bytes, l2_source=l2_source,
                rotate_l2=bench_decode.ROTATE_L2, min_replays=bench_decode.MIN_REPLAYS,
                args=" ".join(sys.argv[1:]) or "decode")
    rows = []
    res = _result("decode", meta, ceilings, rows)
    publish(res)
    if cases:
        bar = Progress(len(cases), "decode")

        def keep(new_rows):
            rows[:] = new_rows
            doc.write()

        bench_decode.bench_decode(cases, torch=torch, cp=cp, rep=rep, rounds=args.rounds, l2_bytes=l2_bytes,
                                  progress=bar, on_row=keep)
        bar.close()
    if not args.no_step:
        print(f"decode step: {bench_decode.STEP_LAYERS} layers of Llama-3 {bench_decode.STEP_MODEL} at "
              f"M={bench_decode.STEP_M} in one graph", flush=True)
        res["step"] = bench_decode.decode_step(torch=torch, cp=cp, rep=rep, rounds=args.rounds)
        doc.write()
    if args.no_ceilings:  # otherwise printed once the ceilings are known (% of copy bandwidth)
        _print_decode(res, ceilings)
    return res


def _print_decode(res, ceilings):
    from . import bench_decode

    if res["rows"]:
        print(bench_decode.format_table(res["rows"], ceilings))
    if "step" in res:
        print(bench_decode.format_step(res["step"], ceilings))


def cmd_bench(args) -> int:
    if args.plot:
        check_matplotlib()
    cp, torch = check_environment()
    from . import bench_decode

    do_bench, timer = bench_decode.get_do_bench(torch)
    doc = _Doc(args.json)
    ceilings = {}
    kinds = ["quantize", "gemm", "decode"] if args.what == "all" else [args.what]
    results = {}
    if args.what == "all":
        doc.set(dict(schema=SCHEMA, kind="all", results=results))

    def publish(res):  # the result object of a sweep in progress: its rows list fills in place
        results[res["kind"]] = res
        if args.what == "all":
            doc.write()
        else:
            doc.set(res)

    for kind in kinds:
        if kind == "quantize":
            res = run_quantize(args, cp, torch)
            ceilings.update(copy_gbs=res["ceilings"]["copy_gbs"], copies=res["ceilings"]["copies"])
            publish(res)
        elif kind == "gemm":
            run_gemm(args, cp, torch, doc, publish, ceilings, do_bench, timer)
        else:
            run_decode(args, cp, torch, doc, publish, ceilings, do_bench, timer)
    if not args.no_ceilings:  # measured once, after the sweeps (their buffers do not precede the first case)
        need_copy = "copy_gbs" not in ceilings
        print("measuring ceilings: " + ("copy bandwidth, " if need_copy else "") + "matmul peak", flush=True)
        ceilings.update(bench_decode.measure_ceilings(torch=torch, cp=cp, do_bench=do_bench, copy=need_copy))
        for res in results.values():
            res["ceilings"].update(ceilings)
        print("ceilings: " + ", ".join(f"{k} {v:.0f} GB/s" for k, v in ceilings.get("copies", {}).items())
              + "; " + ", ".join(f"{k} {v:.0f} TFLOP/s" for k, v in ceilings.get("matmuls", {}).items()))
        if "decode" in results:
            _print_decode(results["decode"], ceilings)
        doc.write()
    if args.markdown and "decode" in results and (results["decode"]["rows"] or "step" in results["decode"]):
        dec = results["decode"]
        bench_decode.splice_markdown(args.markdown, bench_decode.markdown(
            dec["meta"], dec["ceilings"], dec["rows"], step=dec.get("step"),
            args=" ".join(sys.argv[1:]).removeprefix("bench ") or "decode"))
    if args.json:
        print(f"wrote {args.json}")
    if args.plot:
        from .plot import plot_results

        plot_results(doc.doc, args.plot)
        print(f"wrote {args.plot}")
    return 0


def cmd_plot(args) -> int:
    check_matplotlib()
    from .plot import load_results, plot_results

    try:
        results = load_results(args.results)
    except (OSError, ValueError) as e:
        print(f"python -m fp8cuda plot: {args.results}: {_first_line(e)}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    plot_results(results, args.out)
    print(f"wrote {args.out}")
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "bench" and args.shapes:
        try:
            parse_shapes(args.shapes)  # fail before touching the GPU
        except ValueError as e:
            parser.error(str(e))
    try:
        if args.command == "bench":
            return cmd_bench(args)
        return cmd_plot(args)
    except Unavailable as e:
        print(f"python -m fp8cuda {args.command}: {e}", file=sys.stderr)
        return EXIT_UNAVAILABLE


if __name__ == "__main__":
    sys.exit(main())

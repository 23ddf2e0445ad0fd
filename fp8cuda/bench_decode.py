"""Benchmark: decode-sized row-wise FP8 GEMMs (few tokens, Llama-3 weights), fp8cuda vs ``torch._scaled_mm``.

``python -m fp8cuda bench decode [--quick] [--json PATH] [--plot PNG] [--markdown PATH]`` (also ``python -m fp8cuda.bench decode``).
Needs a Hopper GPU, CuPy and PyTorch; Triton's ``do_bench`` when installed (else ``event_bench``, the same
method). Benchmarks are not tests.

For M in ``DECODE_M`` (tokens in flight) and every Llama-3 linear layer's weight ``[N, K]`` in ``MODELS``
(QKV, attention output, gate+up, down projections): e4m3fn codes from normal data, positive row/column scales,
bf16 output; ours = the existing ``fp8cuda.f8f8bf16_rowwise`` (a ``make_plan`` launch, select_config's tile),
torch = ``torch._scaled_mm`` row-wise with fast accumulation (cuBLAS) on the same codes and scales.
Times: medians with the L2 cache flushed before every call (a decode step reads its weights from HBM), the
two alternating over ``rounds`` rounds. At these M the GEMM is a weight read: weight-read GB/s = N * K bytes /
time, compared with the device copy bandwidth (bytes read + written by a copy kernel,
``fp8cuda.bench.copy_bandwidths``, measured in the same run); TFLOP/s = 2 M N K / time, compared with the
matmul peak (``torch._scaled_mm`` row-wise fast accumulation at 8192^3, measured in the same run).
``ratio`` = torch time / our time (> 1: ours is faster).
"""

from __future__ import annotations

import datetime
import math
import statistics

__all__ = ["MODELS", "DECODE_M", "QUICK_M", "decode_cases", "bench_decode", "measure_ceilings", "event_bench",
           "format_table", "markdown", "splice_markdown"]

# Llama-3 linear layers, weight [N, K] (K-major): fused QKV, attention output, fused gate+up, down.
MODELS = {
    "8B": ((6144, 4096), (4096, 4096), (28672, 4096), (4096, 14336)),
    "70B": ((10240, 8192), (8192, 8192), (57344, 8192), (8192, 28672)),
    "405B": ((18432, 16384), (16384, 16384), (106496, 16384), (16384, 53248)),
}
DECODE_M = (1, 2, 4, 8, 16, 32, 64, 128)
QUICK_M = (1, 8, 32, 128)
PEAK_SHAPE = (8192, 8192, 8192)


def decode_cases(quick: bool = False, models=None):
    """[(model, M, N, K)] in sweep order (weight outermost, so each weight is generated once).

    >>> len(decode_cases()), len(decode_cases(quick=True))
    (96, 48)
    >>> decode_cases(quick=True, models=["8B"])[:2]
    [('8B', 1, 6144, 4096), ('8B', 8, 6144, 4096)]
    """
    names = list(MODELS) if models is None else list(models)
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        raise ValueError(f"models: unknown {unknown}, expected some of {list(MODELS)}")
    ms = QUICK_M if quick else DECODE_M
    return [(name, m, n, k) for name in names for (n, k) in MODELS[name] for m in ms]


def event_bench(fn, *, torch, warmup: float = 25, rep: float = 100, flush_bytes: int = 256 * 2**20):
    """Median milliseconds of ``fn()`` with the L2 cache flushed (a ``flush_bytes`` zero fill) before every
    call, each call between its own CUDA events: the method of ``triton.testing.do_bench``, for machines
    without Triton. ``warmup`` / ``rep``: milliseconds spent warming up / measuring."""
    cache = torch.empty(flush_bytes, dtype=torch.int8, device="cuda")
    fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(5):
        cache.zero_()
        fn()
    end.record()
    torch.cuda.synchronize()
    est = max(start.elapsed_time(end) / 5, 1e-3)
    n_warm, n_rep = max(1, int(warmup / est)), max(1, int(rep / est))
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(n_rep)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(n_rep)]
    for _ in range(n_warm):
        fn()
    for s, e in zip(starts, ends):
        cache.zero_()
        s.record()
        fn()
        e.record()
    torch.cuda.synchronize()
    return statistics.median(s.elapsed_time(e) for s, e in zip(starts, ends))


def get_do_bench(torch):
    """``triton.testing.do_bench`` if Triton is installed, else ``event_bench``; both ``(fn, warmup=, rep=,
    return_mode="median") -> ms``. Returns (function, name)."""
    try:
        from triton.testing import do_bench

        return do_bench, "triton.testing.do_bench"
    except ImportError:
        def do_bench(fn, warmup=25, rep=100, return_mode="median"):
            return event_bench(fn, torch=torch, warmup=warmup, rep=rep)

        return do_bench, "fp8cuda.bench_decode.event_bench"


def _fp8(torch, rows, cols, g):
    t = torch.randn(rows, cols, device="cuda", dtype=torch.bfloat16, generator=g)
    return t.mul_(8).to(torch.float8_e4m3fn)


def bench_decode(cases, *, torch, cp, do_bench, rep: float = 20, warmup: float = 10, rounds: int = 3,
                 progress=None, on_row=None):
    """Time ours and torch on every (model, M, N, K) of ``cases``; a list of row dicts (see the module
    docstring). A case that fails is reported in its row (``error``) and the sweep goes on. ``progress``: a
    ``fp8cuda.progress.Progress``; ``on_row(rows)``: called after each case (partial JSON)."""
    from fp8cuda import gemm

    rows = []
    weights = {}
    for (model, m, n, k) in cases:
        row = {"model": model, "M": m, "N": n, "K": k}
        try:
            if (n, k) not in weights:
                weights.clear()
                torch.cuda.empty_cache()
                g = torch.Generator(device="cuda").manual_seed(n * 7 + k)
                weights[(n, k)] = (_fp8(torch, n, k, g), torch.rand(1, n, device="cuda", generator=g) * 1e-2 + 1e-3)
            b, sb = weights[(n, k)]
            g = torch.Generator(device="cuda").manual_seed(m)
            a = _fp8(torch, m, k, g)
            sa = torch.rand(m, 1, device="cuda", generator=g) * 1e-2 + 1e-3
            xq, wq = cp.from_dlpack(a.view(torch.uint8)), cp.from_dlpack(b.view(torch.uint8))
            xs, ws = cp.from_dlpack(sa.reshape(m)), cp.from_dlpack(sb.reshape(n))
            plan = gemm.make_plan(xq, wq, xs, ws, use_fast_accum=True)
            plan()

            def torch_call():
                return torch._scaled_mm(a, b.t(), scale_a=sa, scale_b=sb, out_dtype=torch.bfloat16,
                                        use_fast_accum=True)

            ref = torch_call().float()
            torch.cuda.synchronize()
            got = torch.from_dlpack(plan.out).view(torch.bfloat16).float()
            row["maxrel"] = ((got - ref).abs().max() / ref.abs().max().clamp_min(1e-30)).item()
            ts = {"ours": [], "torch": []}
            for _ in range(rounds):  # alternate: the clock of a power-limited GPU drifts during a run
                ts["ours"].append(do_bench(plan, warmup=warmup, rep=rep, return_mode="median"))
                ts["torch"].append(do_bench(torch_call, warmup=warmup, rep=rep, return_mode="median"))
            t_ours, t_torch = (statistics.median(ts[key]) * 1e-3 for key in ("ours", "torch"))
            row.update(ours_us=t_ours * 1e6, torch_us=t_torch * 1e6,
                       ours_gbs=n * k / t_ours / 1e9, torch_gbs=n * k / t_torch / 1e9,
                       ours_tflops=2.0 * m * n * k / t_ours / 1e12, torch_tflops=2.0 * m * n * k / t_torch / 1e12,
                       ratio=t_torch / t_ours, config=plan.config.label())
        except Exception as e:  # noqa: BLE001 - keep going; the failure is in the row and the table
            row["error"] = f"{type(e).__name__}: {e}".splitlines()[0][:200]
        rows.append(row)
        if progress is not None:
            progress.step(_row_label(row))
        if on_row is not None:
            on_row(rows)
    weights.clear()
    torch.cuda.empty_cache()
    cp.get_default_memory_pool().free_all_blocks()
    return rows


def _row_label(r) -> str:
    head = f"{r['model']} M={r['M']} {r['N']}x{r['K']}"
    if "error" in r:
        return f"{head}: FAILED {r['error']}"
    return (f"{head}: ours {r['ours_us']:.1f} us {r['ours_gbs']:.0f} GB/s, torch {r['torch_us']:.1f} us "
            f"{r['torch_gbs']:.0f} GB/s, x{r['ratio']:.2f}")


def measure_ceilings(*, torch, cp, do_bench, copy: bool = True, matmul: bool = True) -> dict:
    """The device's ceilings, measured once: ``copy_gbs`` (largest of ``fp8cuda.bench.copy_bandwidths``, bytes
    read + written, all in ``copies``) and ``matmul_tflops`` (``torch._scaled_mm`` e4m3fn row-wise, fast
    accumulation, bf16 out, at ``PEAK_SHAPE``; a bf16 ``torch.matmul`` of the same shape in ``matmuls``)."""
    out = {}
    if copy:
        from .bench import copy_bandwidths

        def on_torch_stream():
            return cp.cuda.ExternalStream(torch.cuda.current_stream().cuda_stream)

        copies = copy_bandwidths(torch, cp, on_torch_stream)
        out.update(copy_gbs=max(copies.values()), copies=copies)
    if matmul:
        m, n, k = PEAK_SHAPE
        g = torch.Generator(device="cuda").manual_seed(0)
        a, b = _fp8(torch, m, k, g), _fp8(torch, n, k, g)
        sa = torch.rand(m, 1, device="cuda", generator=g) * 1e-2 + 1e-3
        sb = torch.rand(1, n, device="cuda", generator=g) * 1e-2 + 1e-3
        flops = 2.0 * m * n * k
        t8 = do_bench(lambda: torch._scaled_mm(a, b.t(), scale_a=sa, scale_b=sb, out_dtype=torch.bfloat16,
                                               use_fast_accum=True), warmup=25, rep=200, return_mode="median")
        ab, bb = a.to(torch.bfloat16), b.to(torch.bfloat16)
        t16 = do_bench(lambda: torch.matmul(ab, bb.t()), warmup=25, rep=200, return_mode="median")
        matmuls = {f"torch._scaled_mm e4m3fn row-wise fast {m}x{n}x{k}": flops / (t8 * 1e-3) / 1e12,
                   f"torch.matmul bf16 {m}x{n}x{k}": flops / (t16 * 1e-3) / 1e12}
        out.update(matmul_tflops=next(iter(matmuls.values())), matmuls=matmuls)
        del a, b, ab, bb
        torch.cuda.empty_cache()
    return out


def meta(torch, cp, timer: str) -> dict:
    """Date, device and versions of this run."""
    return dict(date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                device=torch.cuda.get_device_name(), torch=torch.__version__, cupy=cp.__version__, timer=timer)


def _geomean(v):
    v = [x for x in v if x > 0 and math.isfinite(x)]
    return math.exp(statistics.fmean(math.log(x) for x in v)) if v else float("nan")


def format_table(rows, ceilings=None) -> str:
    """A plain-text table of decode rows; ``% copy`` when ``ceilings`` has ``copy_gbs``.

    >>> print(format_table([dict(model="8B", M=1, N=4096, K=4096, ours_us=10.0, torch_us=12.0, ours_gbs=1677.7,
    ...       torch_gbs=1398.1, ours_tflops=0.0034, torch_tflops=0.0028, ratio=1.2, maxrel=0.0,
    ...       config="64x256x6c1")], {"copy_gbs": 3355.4}))  # doctest: +NORMALIZE_WHITESPACE
    model     M      N      K |  ours us torch us | ours GB/s torch GB/s  % copy | ours/torch | config
    -------------------------------------------------------------------------------------------------
    8B        1   4096   4096 |    10.00    12.00 |      1678       1398     50% |       1.20 | 64x256x6c1
    geomean ours/torch over 1 cases: 1.200
    """
    copy = (ceilings or {}).get("copy_gbs")
    head = (f"{'model':5} {'M':>4} {'N':>6} {'K':>6} | {'ours us':>8} {'torch us':>8} | {'ours GB/s':>9} "
            f"{'torch GB/s':>10} {'% copy':>7} | {'ours/torch':>10} | config")
    lines = [head, "-" * len(head)]
    for r in rows:
        lead = f"{r['model']:5} {r['M']:>4} {r['N']:>6} {r['K']:>6} | "
        if "error" in r:
            lines.append(lead + f"FAILED {r['error']}")
            continue
        pct = f"{r['ours_gbs'] / copy:7.0%}" if copy else f"{'-':>7}"
        lines.append(lead + f"{r['ours_us']:8.2f} {r['torch_us']:8.2f} | {r['ours_gbs']:9.0f} {r['torch_gbs']:10.0f} "
                     f"{pct} | {r['ratio']:10.2f} | {r['config']}")
    ok = [r["ratio"] for r in rows if "ratio" in r]
    lines.append(f"geomean ours/torch over {len(ok)} cases: {_geomean(ok):.3f}")
    return "\n".join(lines)


BEGIN, END = "<!-- bench:decode -->", "<!-- /bench:decode -->"


def markdown(meta, ceilings, rows, args: str = "decode") -> str:
    """The decode section of docs/benchmarks.md (between BEGIN and END), generated from ``rows``."""
    copy, peak = ceilings.get("copy_gbs"), ceilings.get("matmul_tflops")
    lines = [BEGIN, "## Decode-sized row-wise FP8 GEMM (M = 1..128, Llama-3 weights), fp8cuda vs torch._scaled_mm", "",
             f"Measured {meta.get('date', '?')} on {meta.get('device', '?')} (torch {meta.get('torch', '?')}, CuPy "
             f"{meta.get('cupy', '?')}) by `python -m fp8cuda bench {args}`; generated, do not edit. Medians of "
             f"{meta.get('timer', 'do_bench')} with the L2 flushed before every call; both libraries on the same "
             f"e4m3fn codes and row/column scales, fast accumulation, bf16 out. GB/s = weight bytes (N K) / time"
             + (f"; % of copy = of the device copy bandwidth measured in the same run, {copy:.0f} GB/s (read + "
                f"written, fp8cuda.bench.copy_bandwidths)" if copy else "")
             + (f"; matmul peak in the same run: {peak:.0f} TFLOP/s (`torch._scaled_mm` row-wise fast, 8192^3)"
                if peak else "") + ". x = torch time / fp8cuda time.", "",
             "| model | M | N x K | fp8cuda us | GB/s | % of copy | torch us | GB/s | x | config |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['M']} | {r['N']} x {r['K']} | failed: {r['error']} |||||||")
            continue
        pct = f"{r['ours_gbs'] / copy:.0%}" if copy else "-"
        lines.append(f"| {r['model']} | {r['M']} | {r['N']} x {r['K']} | {r['ours_us']:.2f} | {r['ours_gbs']:.0f} | "
                     f"{pct} | {r['torch_us']:.2f} | {r['torch_gbs']:.0f} | {r['ratio']:.2f} | {r['config']} |")
    ok = [r["ratio"] for r in rows if "ratio" in r]
    lines += ["", f"Geometric mean over {len(ok)} cases: fp8cuda / torch speed {_geomean(ok):.3f}.", END]
    return "\n".join(lines) + "\n"


def splice_markdown(path, section: str) -> None:
    """Write ``section`` into the file at ``path``, replacing an earlier decode section (the rest is kept)."""
    import re
    from pathlib import Path

    path = Path(path)
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END) + r"\n?", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    path.write_text(text)

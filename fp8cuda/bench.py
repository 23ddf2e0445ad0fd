"""Benchmarks (not tests): ``python -m fp8cuda.bench quantize [--markdown PATH] [--json PATH]`` and
``python -m fp8cuda.bench gemm ...`` (fp8cuda.bench_gemm); ``decode`` and ``all`` go to
``python -m fp8cuda bench decode|all`` (fp8cuda/__main__.py: progress bar, JSON, plots);
``python -m fp8cuda.bench quantize --tune`` rewrites quantize.PIPE_STAGES from timings on this GPU (see ``tune``).

quantize: row-wise e4m3fn quantization of random normal bfloat16 inputs, fp8cuda against the same math in
eager PyTorch and under ``torch.compile`` (default mode), measured in one run on one device. Every
candidate is captured once in a CUDA graph and the graph is replayed (warm-up, then ``REPEATS`` timings of
``REPLAYS`` back-to-back replays between CUDA events; median), so host-side Python overhead is excluded
alike for all three. Bytes moved = input read + codes written + scales written; GB/s = bytes / time.

Copy bandwidth (the ceiling in the "% of copy BW" column; bytes read + written, measured in the same run)
is the largest of three 1 GiB copies:
  - ``torch.add(x, 0, out=y)`` on float32, captured in a graph and replayed like the candidates (a copy *kernel*);
  - a CuPy elementwise copy kernel (16-byte ``ulonglong2`` elements), captured and replayed the same way;
  - eager ``b.copy_(a)`` (``cudaMemcpyAsync``), timed with events around back-to-back calls.
Not a graph-captured ``copy_``: captured, the device-to-device copy becomes a memcpy node that runs on the
copy engines, measured at 2769 GB/s on H200 against 4246 GB/s eager and 4231 GB/s for the add kernel
(scripts/copy_bandwidth.py, 2026-11-22); the quantize kernels move bytes through the SMs as a copy kernel
does, so a kernel copy is the ceiling they can approach. The three numbers are printed and kept in the JSON.
``--markdown PATH`` writes the table (with date and device) into PATH between the markers
``<!-- bench:quantize -->`` and ``<!-- /bench:quantize -->`` (the rest of the file is kept).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import re
import statistics
import sys
from pathlib import Path

SHAPES = ((1, 8192), (16, 8192), (128, 8192), (1024, 8192), (8192, 4096), (16384, 8192), (16384, 16384),
          (4096, 53248))
REPLAYS = 50
REPEATS = 7
BEGIN, END = "<!-- bench:quantize -->", "<!-- /bench:quantize -->"


def _time_graph(torch, replay):
    """Median seconds per replay of a captured CUDA graph: REPEATS timings of REPLAYS back-to-back replays."""
    for _ in range(3):
        replay()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(REPEATS):
        start.record()
        for _ in range(REPLAYS):
            replay()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop) * 1e-3 / REPLAYS)
    return statistics.median(times)


def _capture(torch, run):
    """Warm ``run`` up on a side stream (compilation, autotuning), then capture it in a CUDA graph."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            run()
    torch.cuda.current_stream().wait_stream(stream)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        run()
    torch.cuda.synchronize()
    return g.replay


def quantize_bench(shapes=SHAPES):
    import cupy
    import torch

    import fp8cuda
    from fp8cuda import interop

    def on_torch_stream():  # CuPy launches go to torch's current stream (the capture stream while capturing)
        return cupy.cuda.ExternalStream(torch.cuda.current_stream().cuda_stream)

    def timed(run):
        return _time_graph(torch, _capture(torch, run))

    floor = 1.0 / (448.0 * 512.0)

    def torch_quant(x):
        amax = x.abs().amax(dim=-1, keepdim=True).float()
        s = torch.clamp(amax / 448.0, min=floor)
        xq = (x.float() / s).clamp(-448.0, 448.0).to(torch.float8_e4m3fn)
        return xq, s.squeeze(-1)

    compiled = torch.compile(torch_quant)
    rows = []
    for (m, k) in shapes:
        x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
        xc = interop.as_cupy(x)
        out = cupy.empty((m, k), cupy.uint8)
        sout = cupy.empty((m,), cupy.float32)

        def ours(xc=xc, out=out, sout=sout):
            with on_torch_stream():
                fp8cuda.quantize_fp8_per_row(xc, out=out, scale_out=sout)

        # Two interleaved rounds, each candidate keeping its better median: a one-off slow first measurement
        # (seen once for the first shape, 5.3 us against 2.7 us later in the same run) hits every candidate alike.
        t_ours = t_eager = t_comp = math.inf
        for _ in range(2):
            t_ours = min(t_ours, timed(ours))
            t_eager = min(t_eager, timed(lambda x=x: torch_quant(x)))
            t_comp = min(t_comp, timed(lambda x=x: compiled(x)))
        nbytes = m * k * 2 + m * k + m * 4
        rows.append(dict(shape=(m, k), us=t_ours * 1e6, gbs=nbytes / t_ours / 1e9,
                         compile_us=t_comp * 1e6, eager_us=t_eager * 1e6, vs_compile=t_comp / t_ours, vs_eager=t_eager / t_ours))
        print(f"{m:>6} x {k:<6} ours {t_ours * 1e6:9.2f} us {rows[-1]['gbs']:8.1f} GB/s"
              f" | compile {t_comp * 1e6:9.2f} us x{rows[-1]['vs_compile']:.2f} | eager {t_eager * 1e6:9.2f} us"
              f" x{rows[-1]['vs_eager']:.2f}", flush=True)
        del x, xc, out, sout
    # The ceiling, measured after the candidates (so its 1 GiB buffers do not precede the first shape).
    copies = copy_bandwidths(torch, cupy, on_torch_stream)
    copy_gbs = max(copies.values())
    print("copy bandwidth (GB/s, read + written): " + ", ".join(f"{k} {v:.0f}" for k, v in copies.items()), flush=True)
    for r in rows:
        r["copy_frac"] = r["gbs"] / copy_gbs
        print(f"{r['shape'][0]:>6} x {r['shape'][1]:<6} {r['copy_frac']:.0%} of copy", flush=True)
    geo = {key: math.exp(statistics.fmean(math.log(r[key]) for r in rows)) for key in ("vs_compile", "vs_eager")}
    meta = dict(date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                device=torch.cuda.get_device_name(), torch=torch.__version__, cupy=cupy.__version__,
                copy_gbs=copy_gbs, copies=copies)
    return meta, rows, geo


def _time_eager(torch, run):
    """Median seconds per call of ``run`` launched eagerly, REPEATS timings of REPLAYS back-to-back calls."""
    return _time_graph(torch, run)


def copy_bandwidths(torch, cupy, on_torch_stream, nbytes: int = 2**30) -> dict[str, float]:
    """GB/s (bytes read + written) of three 1 GiB device copies; see the module docstring."""
    a = torch.empty(nbytes, dtype=torch.uint8, device="cuda").random_()
    b = torch.empty_like(a)
    af, bf = a.view(torch.float32), b.view(torch.float32)
    out = {"graph torch.add f32": 2 * nbytes / _time_graph(torch, _capture(torch, lambda: torch.add(af, 0.0, out=bf))) / 1e9}
    from . import interop

    ac, bc = interop.as_cupy(a).view(cupy.uint64), interop.as_cupy(b).view(cupy.uint64)
    b.zero_()
    kern = cupy.ElementwiseKernel(
        "raw uint64 x", "raw uint64 y",
        "reinterpret_cast<ulonglong2*>(&y[0])[i] = reinterpret_cast<const ulonglong2*>(&x[0])[i]", "fp8cuda_bench_copy16")

    def cupy_copy():
        with on_torch_stream():
            kern(ac, bc, size=nbytes // 16)

    out["graph cupy copy kernel"] = 2 * nbytes / _time_graph(torch, _capture(torch, cupy_copy)) / 1e9
    if not torch.equal(a, b):
        raise RuntimeError("copy bandwidth: the CuPy copy kernel did not copy")
    out["eager copy_"] = 2 * nbytes / _time_eager(torch, lambda: b.copy_(a)) / 1e9
    del a, b
    torch.cuda.empty_cache()
    return out


VARIANTS = ((1024, 1), (512, 2), (256, 4), (128, 4), (1024, 2), (512, 4), (1024, 4), (1024, 8))
SMEM_LIMIT = 227 * 1024  # dynamic + static shared memory of one block on sm_90


def variants_bench(shapes=SHAPES):
    """Tuning data (printed, not in the table), on the same bf16 inputs as the table: the floor of a
    one-kernel graph replay; per shape the register kernel (one block per row) in every (threads, vectors)
    that fits, with the row-reciprocal division and (default config, "div.rn") with div.rn per element; and
    from 1024 rows on the persistent quantize_row_pipe with 2 to 8 shared-memory stages."""
    import cupy
    import numpy as np
    import torch

    from . import _loader, interop, quantize

    def on_torch_stream():
        return cupy.cuda.ExternalStream(torch.cuda.current_stream().cuda_stream)

    tiny = torch.empty(1, device="cuda")
    print(f"variants floor (graph of one 1-element fill kernel): {_time_graph(torch, _capture(torch, tiny.zero_)) * 1e6:.2f} us")
    results = {}
    for (m, k) in shapes:
        x = interop.as_cupy(torch.randn(m, k, device="cuda", dtype=torch.bfloat16))
        out, sout = cupy.empty((m, k), cupy.uint8), cupy.empty((m,), cupy.float32)
        params = quantize._scale_params(None, None, m, 0)
        chosen = quantize.row_kernel_expression(x.dtype, k, x.data.ptr, out.data.ptr, False, m, quantize._sm_count())[0]
        cands = []  # (label, expression, threads, dynamic shared memory)
        for t, v in VARIANTS:
            if t * v * 8 < k or (v > 1 and t * (v - 1) * 8 >= k):
                continue
            cands.append((f"regs {t}x{v}", f"fp8cuda::quantize_row_regs<fp8cuda::bf16, {t}, {v}, false>", t, 0))
        deep = next((t, v) for t, v in quantize.ROW_CONFIGS_DEEP if t * v * 8 >= k)
        cands.append((f"regs {deep[0]}x{deep[1]} div.rn", f"fp8cuda::quantize_row_regs<fp8cuda::bf16, {deep[0]}, {deep[1]}, false, false>",
                      deep[0], 0))
        if m >= 1024:
            fits = [(t, v) for t, v in quantize.PIPE_CONFIGS if t * v * 8 >= k][:2]
            for t, v in fits:
                for st in (2, 3, 4, 6, 8):
                    expr, smem = quantize.pipe_expression("fp8cuda::bf16", t, v, False, st)
                    if smem + 1024 <= SMEM_LIMIT:
                        cands.append((f"pipe {t}x{v}x{st}", expr, t, smem))
        line = []
        for label, expr, t, smem in cands:
            kern = _loader.get_kernel("quantize.cu", expr)
            if smem:
                grid = quantize._pipe_grid(kern, expr, t, smem, m)
                label += f" (grid {grid}, {kern.num_regs} regs)"

                def run(kern=kern, t=t, smem=smem, grid=grid):
                    with on_torch_stream():
                        kern((grid,), (t,), (x, out, sout, np.int64(k), np.int64(m), *params), shared_mem=smem)
            else:
                label += f" ({kern.num_regs} regs)"

                def run(kern=kern, t=t):
                    with on_torch_stream():
                        kern((m,), (t,), (x, out, sout, np.int64(k), *params))

            us = _time_graph(torch, _capture(torch, run)) * 1e6
            results[f"{m}x{k} {label}"] = us
            line.append(f"{label} {us:.2f}")
        print(f"variants {m} x {k} (default {chosen.split('<')[0].split('::')[1]}<{chosen.split('<')[1]}): "
              + "; ".join(line), flush=True)
        del x, out, sout
    return results


def tune(shapes=SHAPES) -> dict[int, int]:
    """Choose quantize.PIPE_STAGES on this GPU and write it into fp8cuda/quantize.py: for each benchmark shape
    with enough rows for quantize_row_pipe (bf16, rows >= PIPE_MIN_ROWS_PER_SM * SMs), time the register
    kernel and the pipelined kernel with 2-8 stages (graph replays, as the table), and keep the fastest
    (the current choice unless another is > 1% faster). Prints every time. Returns {row bytes: stages}."""
    import cupy
    import numpy as np
    import torch

    from . import _loader, interop, quantize

    def on_torch_stream():
        return cupy.cuda.ExternalStream(torch.cuda.current_stream().cuda_stream)

    sms = quantize._sm_count()
    chosen = dict(quantize.PIPE_STAGES)
    for (m, k) in shapes:
        if m < quantize.PIPE_MIN_ROWS_PER_SM * sms:
            continue
        t, v = next((t, v) for t, v in quantize.PIPE_CONFIGS if t * v * 8 >= k)
        row_bytes = t * v * 16
        x = interop.as_cupy(torch.randn(m, k, device="cuda", dtype=torch.bfloat16))
        out, sout = cupy.empty((m, k), cupy.uint8), cupy.empty((m,), cupy.float32)
        params = quantize._scale_params(None, None, m, 0)
        times = {}
        for st in (0, 2, 3, 4, 6, 8):
            if st == 0:
                rt, rv = next((a, b) for a, b in quantize.ROW_CONFIGS_DEEP if a * b * 8 >= k)
                expr, smem, threads = f"fp8cuda::quantize_row_regs<fp8cuda::bf16, {rt}, {rv}, false>", 0, rt
            else:
                expr, smem = quantize.pipe_expression("fp8cuda::bf16", t, v, False, st)
                threads = t
                if smem + 1024 > SMEM_LIMIT:
                    continue
            kern = _loader.get_kernel("quantize.cu", expr)
            if smem:
                grid = quantize._pipe_grid(kern, expr, threads, smem, m)

                def run(kern=kern, threads=threads, smem=smem, grid=grid):
                    with on_torch_stream():
                        kern((grid,), (threads,), (x, out, sout, np.int64(k), np.int64(m), *params), shared_mem=smem)
            else:
                def run(kern=kern, threads=threads):
                    with on_torch_stream():
                        kern((m,), (threads,), (x, out, sout, np.int64(k), *params))
            times[st] = _time_graph(torch, _capture(torch, run)) * 1e6
        best = min(times, key=times.get)
        current = quantize.pipe_stages(t, v)
        if current in times and times[current] <= 1.01 * times[best]:
            best = current
        chosen[row_bytes] = best
        print(f"tune {m} x {k} (pipe {t}x{v}, {row_bytes} B rows): "
              + ", ".join(f"{'regs' if st == 0 else f'{st} stages'} {us:.2f} us" for st, us in times.items())
              + f" -> {'regs' if best == 0 else f'{best} stages'}", flush=True)
        del x, out, sout
    path = Path(quantize.__file__)
    text = path.read_text()
    new = "PIPE_STAGES = {" + ", ".join(f"{b}: {s}" for b, s in sorted(chosen.items())) + "}"
    text, n = re.subn(r"^PIPE_STAGES = \{[^}\n]*\}", new, text, count=1, flags=re.M)
    if n != 1:
        raise RuntimeError(f"tune: no PIPE_STAGES line in {path}")
    path.write_text(text)
    print(f"tune: wrote {new} into {path}")
    return chosen


def markdown(meta, rows, geo) -> str:
    lines = [BEGIN, "## Row-wise FP8 quantization (bf16 -> e4m3fn)", "",
             f"Measured {meta['date']} on {meta['device']} (torch {meta['torch']}, CuPy {meta['cupy']}) by "
             f"`python -m fp8cuda.bench quantize --markdown docs/benchmarks.md`; generated, do not edit. "
             f"Device copy bandwidth (read + write) in the same run: {meta['copy_gbs']:.0f} GB/s, the largest of "
             + ", ".join(f"{k} {v:.0f}" for k, v in meta["copies"].items())
             + " (1 GiB each; a graph-captured copy_ runs on the copy engines and is not a ceiling for kernels, "
             f"see fp8cuda/bench.py). Times are CUDA-graph "
             f"replays (median of {REPEATS} x {REPLAYS}); GB/s counts input read + codes and scales written.", "",
             "| shape | fp8cuda us | GB/s | % of copy BW | torch.compile us | speedup vs compile | eager us | speedup vs eager |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['shape'][0]} x {r['shape'][1]} | {r['us']:.2f} | {r['gbs']:.0f} | {r['copy_frac']:.0%} | "
                     f"{r['compile_us']:.2f} | {r['vs_compile']:.2f}x | {r['eager_us']:.2f} | {r['vs_eager']:.2f}x |")
    lines += ["", f"Geometric mean speedup: {geo['vs_compile']:.2f}x vs torch.compile, {geo['vs_eager']:.2f}x vs eager.",
              END]
    return "\n".join(lines) + "\n"


def splice_markdown(path: str | Path, section: str) -> None:
    """Write ``section`` into the file at ``path``, replacing an earlier quantize section if present."""
    path = Path(path)
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END) + r"\n?", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "gemm":
        from . import bench_gemm

        return bench_gemm.main(argv[1:])
    if argv and argv[0] in ("decode", "all"):  # python -m fp8cuda bench ... (fp8cuda/__main__.py)
        from .__main__ import main as fp8cuda_main

        return fp8cuda_main(["bench", *argv])
    p = argparse.ArgumentParser(prog="python -m fp8cuda.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=["quantize", "gemm", "decode", "all"])
    p.add_argument("--markdown", help="write the table into this markdown file (section between markers)")
    p.add_argument("--json", help="write raw numbers here")
    p.add_argument("--variants", action="store_true", help="also time other kernel configurations (tuning)")
    p.add_argument("--tune", action="store_true", help="only choose quantize.PIPE_STAGES on this GPU and write it "
                                                       "into fp8cuda/quantize.py (no table)")
    args = p.parse_args(argv)
    if args.tune:
        tune()
        return 0
    meta, rows, geo = quantize_bench()
    section = markdown(meta, rows, geo)
    print(section)
    if args.markdown:
        splice_markdown(args.markdown, section)
    if args.json:
        Path(args.json).write_text(json.dumps(dict(meta=meta, rows=rows, geo=geo), indent=1))
    if args.variants:
        results = variants_bench()
        if args.json:
            Path(args.json).with_suffix(".variants.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

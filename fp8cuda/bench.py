"""Benchmarks (not tests): ``python -m fp8cuda.bench quantize [--markdown PATH] [--json PATH]`` and
``python -m fp8cuda.bench gemm ...`` (fp8cuda.bench_gemm).

quantize: row-wise e4m3fn quantization of random normal bfloat16 inputs, fp8cuda against the same math in
eager PyTorch and under ``torch.compile`` (default mode), measured in one run on one device. Every
candidate is captured once in a CUDA graph and the graph is replayed (warm-up, then ``REPEATS`` timings of
``REPLAYS`` back-to-back replays between CUDA events; median), so host-side Python overhead is excluded
alike for all three. Bytes moved = input read + codes written + scales written; GB/s = bytes / time. The
device's copy bandwidth (a large device-to-device copy, bytes read + written) is measured in the same run.
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
    # Copy bandwidth: 1 GiB device-to-device, bytes read + written.
    a = torch.empty(2**30, dtype=torch.uint8, device="cuda")
    b = torch.empty_like(a)
    copy_s = timed(lambda: b.copy_(a))
    copy_gbs = 2 * a.numel() / copy_s / 1e9
    del a, b
    for (m, k) in shapes:
        x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
        xc = interop.as_cupy(x)
        out = cupy.empty((m, k), cupy.uint8)
        sout = cupy.empty((m,), cupy.float32)

        def ours(xc=xc, out=out, sout=sout):
            with on_torch_stream():
                fp8cuda.quantize_fp8_per_row(xc, out=out, scale_out=sout)

        t_ours = timed(ours)
        t_eager = timed(lambda x=x: torch_quant(x))
        t_comp = timed(lambda x=x: compiled(x))
        nbytes = m * k * 2 + m * k + m * 4
        rows.append(dict(shape=(m, k), us=t_ours * 1e6, gbs=nbytes / t_ours / 1e9, copy_frac=nbytes / t_ours / 1e9 / copy_gbs,
                         compile_us=t_comp * 1e6, eager_us=t_eager * 1e6, vs_compile=t_comp / t_ours, vs_eager=t_eager / t_ours))
        print(f"{m:>6} x {k:<6} ours {t_ours * 1e6:9.2f} us {rows[-1]['gbs']:8.1f} GB/s ({rows[-1]['copy_frac']:.0%} of copy)"
              f" | compile {t_comp * 1e6:9.2f} us x{rows[-1]['vs_compile']:.2f} | eager {t_eager * 1e6:9.2f} us"
              f" x{rows[-1]['vs_eager']:.2f}", flush=True)
        del x, xc, out, sout
    geo = {key: math.exp(statistics.fmean(math.log(r[key]) for r in rows)) for key in ("vs_compile", "vs_eager")}
    meta = dict(date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                device=torch.cuda.get_device_name(), torch=torch.__version__, cupy=cupy.__version__,
                copy_gbs=copy_gbs)
    return meta, rows, geo


VARIANTS = ((1024, 1), (512, 2), (256, 4), (128, 4), (1024, 2), (512, 4), (1024, 4), (1024, 8))


def variants_bench(shapes=SHAPES):
    """Tuning data (printed, not in the table): the one-block-per-row kernel with other (threads, vectors)
    choices on the same bf16 inputs, and the floor of a one-kernel graph replay."""
    import cupy
    import numpy as np
    import torch

    from . import _loader, interop, quantize

    def on_torch_stream():
        return cupy.cuda.ExternalStream(torch.cuda.current_stream().cuda_stream)

    tiny = torch.empty(1, device="cuda")
    print(f"variants floor (graph of one 1-element fill kernel): {_time_graph(torch, _capture(torch, tiny.zero_)) * 1e6:.2f} us")
    for (m, k) in shapes:
        x = interop.as_cupy(torch.randn(m, k, device="cuda", dtype=torch.bfloat16))
        out, sout = cupy.empty((m, k), cupy.uint8), cupy.empty((m,), cupy.float32)
        params = quantize._scale_params(None, None, m, 0)
        chosen = quantize.row_kernel_expression(x.dtype, k, x.data.ptr, out.data.ptr, False, m, quantize._sm_count())[0]
        line = []
        for t, v in VARIANTS:
            if t * v * 8 < k or (v > 1 and t * (v - 1) * 8 >= k):
                continue
            kern = _loader.get_kernel("quantize.cu", f"fp8cuda::quantize_row_regs<fp8cuda::bf16, {t}, {v}, false>")

            def run(kern=kern, t=t):
                with on_torch_stream():
                    kern((m,), (t,), (x, out, sout, np.int64(k), *params))

            line.append(f"{t}x{v} {_time_graph(torch, _capture(torch, run)) * 1e6:.2f}")
        print(f"variants {m} x {k} (default {chosen.split('<')[0].split('::')[1]}<{chosen.split('<')[1]}): "
              + ", ".join(line), flush=True)


def markdown(meta, rows, geo) -> str:
    lines = [BEGIN, "## Row-wise FP8 quantization (bf16 -> e4m3fn)", "",
             f"Measured {meta['date']} on {meta['device']} (torch {meta['torch']}, CuPy {meta['cupy']}) by "
             f"`python -m fp8cuda.bench quantize --markdown docs/benchmarks.md`; generated, do not edit. "
             f"Device copy bandwidth (read + write) in the same run: {meta['copy_gbs']:.0f} GB/s. Times are CUDA-graph "
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
    p = argparse.ArgumentParser(prog="python -m fp8cuda.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=["quantize", "gemm"])
    p.add_argument("--markdown", help="write the table into this markdown file (section between markers)")
    p.add_argument("--json", help="write raw numbers here")
    p.add_argument("--variants", action="store_true", help="also time other kernel configurations (tuning)")
    args = p.parse_args(argv)
    meta, rows, geo = quantize_bench()
    section = markdown(meta, rows, geo)
    print(section)
    if args.markdown:
        splice_markdown(args.markdown, section)
    if args.json:
        Path(args.json).write_text(json.dumps(dict(meta=meta, rows=rows, geo=geo), indent=1))
    if args.variants:
        variants_bench()
    return 0


if __name__ == "__main__":
    sys.exit(main())

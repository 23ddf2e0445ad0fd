"""Benchmark: decode-sized row-wise FP8 GEMMs (few tokens, Llama-3 weights), fp8cuda vs ``torch._scaled_mm``.

``python -m fp8cuda bench decode [--quick] [--m M ...] [--models ...] [--no-step | --step-only] [--json PATH]
[--plot PNG] [--markdown PATH]`` (also ``python -m fp8cuda.bench decode``). Needs a Hopper GPU, CuPy and
PyTorch. Benchmarks are not tests.

What is compared. For M in ``DECODE_M`` (tokens in flight) and every Llama-3 linear layer's weight ``[N, K]``
in ``MODELS`` (QKV, attention output, gate+up, down projections): e4m3fn codes from normal data, positive
row/column scales, bf16 output. Ours = ``fp8cuda.f8f8bf16_rowwise`` through ``fp8cuda.gemm.make_plan``
(``plan()`` launches on CuPy's current stream); torch = ``torch._scaled_mm`` row-wise with fast accumulation
(cuBLAS) on the same codes and scales.

How it is timed: CUDA-graph replay with rotated weights. A decode step reads every weight from HBM once and
launches its kernels from a CUDA graph, so that is what is timed. For each weight shape, R copies of the
weight and of its scales are made (``rotation_count``: R * N * K >= ``ROTATE_L2`` times the device's L2
size, R >= 2, at most ``MAX_COPIES`` copies and ``MAX_ROTATION_BYTES``), so that when a copy is read again,
R - 1 other copies, more than 3 L2 sizes, have been read since: every call reads its weight from HBM, while
the small activation and scales stay in L2 as in a model. Ours: one plan per copy (prepared before capture,
all writing the same preallocated output), the R launches captured back to back into one graph under
``torch.cuda.graph`` (CuPy launching on torch's capture stream). Torch: the R ``_scaled_mm`` calls captured
the same way. Each graph is replayed (``WARMUP_REPLAYS`` warm-up replays, then at least ``MIN_REPLAYS``
replays or ``rep`` milliseconds), every replay between its own CUDA events; time per call = median replay
time / R (the graph launch overhead, a few microseconds, is spread over the R calls as in a model's step).
Ours and torch alternate over ``rounds`` rounds (the clock of a power-limited GPU drifts during a run); the
reported time is the median of the rounds' medians. Before timing, each graph is replayed once into an
output filled with NaN: a graph that did not capture the launches fails the case, and ``maxrel`` (max
relative difference of our output to torch's eager result) is taken from that replay.

Columns. At these M the GEMM is a weight read: weight-read GB/s = N * K bytes / time, compared with the
device copy bandwidth (bytes read + written by a copy kernel, ``fp8cuda.bench.copy_bandwidths``, measured
in the same run); TFLOP/s = 2 M N K / time (JSON only). ``ratio`` = torch time / our time (> 1: ours is
faster). ``summarize`` checks the rows against the issue's targets (``TARGETS``): at least 85% of copy
bandwidth on every M <= 16 row, geometric-mean ratio >= 1.8 over M <= 16 and >= 1.3 over M = 32..128.

``decode_step`` times what a whole decode step spends in these GEMMs: the 128 GEMMs of a 32-layer
Llama-3-8B at M = 1 (per layer QKV 6144 x 4096, attention output 4096 x 4096, gate+up 28672 x 4096, down
4096 x 14336; 32 distinct weight sets, 7.0 GB), captured in one graph and replayed, ours vs torch.

A case that fails is reported in its row (``error``) and the sweep goes on.
"""

from __future__ import annotations

import datetime
import math
import statistics

__all__ = ["MODELS", "DECODE_M", "QUICK_M", "TARGETS", "decode_cases", "rotation_count", "replay_count",
           "l2_cache_bytes", "capture_graph", "time_graph", "bench_decode", "decode_step", "measure_ceilings",
           "event_bench", "summarize", "summary_lines", "format_table", "format_step", "markdown",
           "splice_markdown"]

# Llama-3 linear layers, weight [N, K] (K-major): fused QKV, attention output, fused gate+up, down.
MODELS = {
    "8B": ((6144, 4096), (4096, 4096), (28672, 4096), (4096, 14336)),
    "70B": ((10240, 8192), (8192, 8192), (57344, 8192), (8192, 28672)),
    "405B": ((18432, 16384), (16384, 16384), (106496, 16384), (16384, 53248)),
}
DECODE_M = (1, 2, 4, 8, 16, 32, 64, 128)
QUICK_M = (1, 8, 32, 128)
PEAK_SHAPE = (8192, 8192, 8192)

# Weight rotation: the R copies of a weight span at least ROTATE_L2 L2 sizes, so a copy is evicted (LRU-like
# L2 of Hopper: 50 MiB on H100/H200) long before it is read again; a handful of copies of the large weights,
# at most MAX_COPIES of tiny ones, never more than MAX_ROTATION_BYTES (but always 2 copies).
ROTATE_L2 = 4
MIN_COPIES, MAX_COPIES, MAX_ROTATION_BYTES = 2, 64, 4 * 2**30
L2_FALLBACK = 50 * 2**20  # when neither torch nor CuPy reports the L2 size (H100 / H200: 50 MiB)
# Replays of a graph per timing: WARMUP_REPLAYS untimed, then rep milliseconds, at least MIN_REPLAYS.
WARMUP_REPLAYS, MIN_REPLAYS, MAX_REPLAYS = 3, 20, 2000
# The targets (issue 5): fraction of the copy bandwidth on every M <= SMALL_M row, geometric-mean
# ratio (torch time / our time) over M <= SMALL_M and over LARGE_M[0] <= M <= LARGE_M[1].
SMALL_M, LARGE_M = 16, (32, 128)
TARGETS = {"copy_frac_small": 0.85, "geomean_small": 1.8, "geomean_large": 1.3}
# The decode step: Llama-3 model and layer count (Llama-3-8B has 32 decoder layers).
STEP_MODEL, STEP_LAYERS, STEP_M = "8B", 32, 1
TIMER = "CUDA-graph replay, rotated weights"


def decode_cases(quick: bool = False, models=None, ms=None):
    """[(model, M, N, K)] in sweep order (weight outermost, so each weight is generated once). ``ms``: the
    M values (default ``DECODE_M``, ``QUICK_M`` when ``quick``).

    >>> len(decode_cases()), len(decode_cases(quick=True))
    (96, 48)
    >>> decode_cases(quick=True, models=["8B"])[:2]
    [('8B', 1, 6144, 4096), ('8B', 8, 6144, 4096)]
    >>> decode_cases(models=["70B"], ms=[16, 1, 16])[:2]
    [('70B', 1, 10240, 8192), ('70B', 16, 10240, 8192)]
    """
    names = list(MODELS) if models is None else list(models)
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        raise ValueError(f"models: unknown {unknown}, expected some of {list(MODELS)}")
    if ms is None:
        ms = QUICK_M if quick else DECODE_M
    ms = sorted(set(int(m) for m in ms))
    if not ms or ms[0] < 1:
        raise ValueError(f"M: expected positive integers, got {ms}")
    return [(name, m, n, k) for name in names for (n, k) in MODELS[name] for m in ms]


def rotation_count(weight_bytes: int, l2_bytes: int) -> int:
    """How many copies R of a ``weight_bytes`` weight to rotate through: the smallest R with
    R * weight_bytes >= ROTATE_L2 * l2_bytes, clamped to [MIN_COPIES, MAX_COPIES] and to
    R * weight_bytes <= MAX_ROTATION_BYTES (but never below MIN_COPIES).

    >>> L2 = 50 * 2**20                                   # H100 / H200
    >>> rotation_count(4096 * 4096, L2)                   # 16 MiB: 13 copies span 208 MiB >= 200 MiB
    13
    >>> rotation_count(28672 * 4096, L2)                  # 112 MiB: 2 copies already span 224 MiB
    2
    >>> rotation_count(106496 * 16384, L2)                # 1.6 GiB: 2 copies (3.25 GiB <= 4 GiB)
    2
    >>> rotation_count(3 * 2**30, L2)                     # over the byte cap: still 2
    2
    >>> rotation_count(1024 * 1024, L2), rotation_count(1024 * 1024, 0)
    (64, 2)
    """
    weight_bytes = max(int(weight_bytes), 1)
    r = -(-ROTATE_L2 * max(int(l2_bytes), 0) // weight_bytes)
    r = min(r, MAX_COPIES, MAX_ROTATION_BYTES // weight_bytes)
    return max(r, MIN_COPIES)


def replay_count(estimate_ms: float, rep_ms: float) -> int:
    """Timed replays of a graph whose replay takes about ``estimate_ms``: enough for ``rep_ms``, at least
    MIN_REPLAYS, at most MAX_REPLAYS.

    >>> replay_count(0.065, 20), replay_count(0.9, 20), replay_count(0.001, 20), replay_count(0.0, 20)
    (308, 23, 2000, 2000)
    """
    if not estimate_ms > 0:
        return MAX_REPLAYS
    return int(min(max(math.ceil(rep_ms / estimate_ms), MIN_REPLAYS), MAX_REPLAYS))


def l2_cache_bytes(torch, cp) -> tuple[int, str]:
    """(bytes, source) of the current device's L2 cache: torch's device property ``L2_cache_size``, else
    CuPy's ``l2CacheSize``, else ``L2_FALLBACK``."""
    try:
        value = int(getattr(torch.cuda.get_device_properties(torch.cuda.current_device()), "L2_cache_size", 0))
        if value > 0:
            return value, "torch.cuda.get_device_properties().L2_cache_size"
    except Exception:  # noqa: BLE001 - fall through to CuPy
        pass
    try:
        value = int(cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)["l2CacheSize"])
        if value > 0:
            return value, "cupy.cuda.runtime.getDeviceProperties()['l2CacheSize']"
    except Exception:  # noqa: BLE001
        pass
    return L2_FALLBACK, "fallback (50 MiB)"


def capture_graph(torch, run, *, warmup: int = 2):
    """Run ``run()`` ``warmup`` times on a side stream (kernel compilation, cuBLAS workspaces), then capture
    one ``run()`` into a ``torch.cuda.CUDAGraph``. Returns (graph, what the captured ``run()`` returned).
    CuPy launches inside ``run`` must go to ``torch.cuda.current_stream()`` (``_on_torch_stream``), which is
    the side stream while warming up and torch's capture stream while capturing."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(warmup):
            run()
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        result = run()
    torch.cuda.synchronize()
    return graph, result


def time_graph(torch, graph, *, rep: float = 20.0) -> list[float]:
    """Seconds of each timed replay of ``graph``: WARMUP_REPLAYS untimed replays, one to estimate, then
    ``replay_count(estimate, rep)`` replays back to back on the current stream, each between its own CUDA
    events (one synchronisation at the end)."""
    for _ in range(WARMUP_REPLAYS):
        graph.replay()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    graph.replay()
    stop.record()
    stop.synchronize()
    n = replay_count(start.elapsed_time(stop), rep)
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
    stops = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
    for s, e in zip(starts, stops):
        s.record()
        graph.replay()
        e.record()
    torch.cuda.synchronize()
    return [s.elapsed_time(e) * 1e-3 for s, e in zip(starts, stops)]


def _time_alternating(torch, graphs: dict, *, rep: float, rounds: int) -> dict:
    """{name: median over ``rounds`` rounds of the median replay seconds}, the graphs timed in turn each round
    (the clock of a power-limited GPU drifts during a run; alternating spreads the drift over both)."""
    medians = {name: [] for name in graphs}
    for _ in range(max(int(rounds), 1)):
        for name, graph in graphs.items():
            medians[name].append(statistics.median(time_graph(torch, graph, rep=rep)))
    return {name: statistics.median(v) for name, v in medians.items()}


def _on_torch_stream(torch, cp):
    """A CuPy stream context on torch's current stream (the capture stream inside ``torch.cuda.graph``)."""
    return cp.cuda.ExternalStream(torch.cuda.current_stream().cuda_stream)


def _fp8(torch, rows, cols, g):
    t = torch.randn(rows, cols, device="cuda", dtype=torch.bfloat16, generator=g)
    return t.mul_(8).to(torch.float8_e4m3fn)


def _scales(torch, shape, g):
    return torch.rand(*shape, device="cuda", generator=g) * 1e-2 + 1e-3


def _rotated_weights(torch, n, k, copies):
    """``copies`` (weight [N, K] e4m3fn, scale [1, N] float32) pairs at distinct addresses: copy 0 random,
    the others clones of it (the values do not matter for a weight read; clones are quick to make)."""
    g = torch.Generator(device="cuda").manual_seed(n * 7 + k)
    b, sb = _fp8(torch, n, k, g), _scales(torch, (1, n), g)
    return [(b, sb)] + [(b.clone(), sb.clone()) for _ in range(copies - 1)]


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:200]


def _maxrel(torch, got, ref) -> float:
    return ((got.float() - ref).abs().max() / ref.abs().max().clamp_min(1e-30)).item()


def _check_written(torch, what, *tensors):
    """The outputs of a graph replay that were filled with NaN before it: any NaN left means the graph did not
    write them (the launches were not captured, or went to another stream)."""
    for t in tensors:
        if bool(torch.isnan(t).any()):
            raise RuntimeError(f"{what}: the graph replay left NaN in its output (launches not captured?)")


def _scaled_mm(torch, a, b, sa, sb):
    return torch._scaled_mm(a, b.t(), scale_a=sa, scale_b=sb, out_dtype=torch.bfloat16, use_fast_accum=True)


def _bench_case(m, n, k, copies, *, torch, cp, gemm, rep, rounds) -> dict:
    """Time one (M, N, K) with the rotated ``copies``; the row's numbers (see the module docstring)."""
    r = len(copies)
    g = torch.Generator(device="cuda").manual_seed(m)
    a, sa = _fp8(torch, m, k, g), _scales(torch, (m, 1), g)
    xq, xs = cp.from_dlpack(a.view(torch.uint8)), cp.from_dlpack(sa.reshape(m))
    plans = []
    for (b, sb) in copies:  # all plans before the capture; one output shared by the R calls
        wq, ws = cp.from_dlpack(b.view(torch.uint8)), cp.from_dlpack(sb.reshape(n))
        plans.append(gemm.make_plan(xq, wq, xs, ws, use_fast_accum=True, out=plans[0].out if plans else None))
    out = torch.from_dlpack(plans[0].out).view(torch.bfloat16)

    def ours():
        with _on_torch_stream(torch, cp):
            for plan in plans:
                plan()

    def theirs():
        for (b, sb) in copies:
            o = _scaled_mm(torch, a, b, sa, sb)
        return o  # the last output (graph pool memory: the R calls reuse one block, as a preallocated output)

    ref = _scaled_mm(torch, a, copies[0][0], sa, copies[0][1]).float()  # all copies hold the same values
    g_ours, _ = capture_graph(torch, ours)
    g_torch, t_out = capture_graph(torch, theirs)
    out.fill_(float("nan"))
    t_out.fill_(float("nan"))
    g_ours.replay()
    g_torch.replay()
    torch.cuda.synchronize()
    _check_written(torch, "fp8cuda", out)
    _check_written(torch, "torch", t_out)
    row = dict(copies=r, maxrel=_maxrel(torch, out, ref), config=plans[0].config.label())
    t = _time_alternating(torch, {"ours": g_ours, "torch": g_torch}, rep=rep, rounds=rounds)
    t_ours, t_torch = t["ours"] / r, t["torch"] / r
    row.update(ours_us=t_ours * 1e6, torch_us=t_torch * 1e6,
               ours_gbs=n * k / t_ours / 1e9, torch_gbs=n * k / t_torch / 1e9,
               ours_tflops=2.0 * m * n * k / t_ours / 1e12, torch_tflops=2.0 * m * n * k / t_torch / 1e12,
               ratio=t_torch / t_ours)
    return row


def _free(torch, cp):
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    cp.get_default_memory_pool().free_all_blocks()


def bench_decode(cases, *, torch, cp, rep: float = 20, rounds: int = 3, l2_bytes: int | None = None,
                 progress=None, on_row=None):
    """Time ours and torch on every (model, M, N, K) of ``cases`` (graph replays with rotated weights, see
    the module docstring); a list of row dicts. ``rep``: milliseconds of replays per timing (at least
    MIN_REPLAYS replays); ``rounds``: alternating ours/torch rounds; ``l2_bytes``: the L2 size the rotation
    is sized for (default: the device's). A case that fails is reported in its row (``error``) and the sweep
    goes on. ``progress``: a ``fp8cuda.progress.Progress``; ``on_row(rows)``: called after each case."""
    from fp8cuda import gemm

    if l2_bytes is None:
        l2_bytes = l2_cache_bytes(torch, cp)[0]
    rows = []
    weights = {}
    for (model, m, n, k) in cases:
        row = {"model": model, "M": m, "N": n, "K": k}
        try:
            if (n, k) not in weights:
                weights.clear()
                _free(torch, cp)
                weights[(n, k)] = _rotated_weights(torch, n, k, rotation_count(n * k, l2_bytes))
            row.update(_bench_case(m, n, k, weights[(n, k)], torch=torch, cp=cp, gemm=gemm, rep=rep,
                                   rounds=rounds))
        except Exception as e:  # noqa: BLE001 - keep going; the failure is in the row and the table
            row["error"] = _first_line(e)
        rows.append(row)
        if progress is not None:
            progress.step(_row_label(row))
        if on_row is not None:
            on_row(rows)
    weights.clear()
    _free(torch, cp)
    return rows


def decode_step(*, torch, cp, model: str = STEP_MODEL, layers: int = STEP_LAYERS, m: int = STEP_M,
                rep: float = 20, rounds: int = 3) -> dict:
    """The GEMMs of one decode step: ``layers`` layers of Llama-3 ``model``, each its four weights
    (``MODELS[model]``) at M = ``m`` tokens, every layer its own weights (layer 0 random, the others clones),
    each GEMM fed the activation of its K (one per K, shared by the layers) and writing a preallocated output
    of its shape. Ours (``make_plan`` per GEMM) and torch (``_scaled_mm``) each captured into one graph of
    ``layers * 4`` GEMMs and replayed like the sweep; times are per step (not divided). Returns a dict with
    ``weight_bytes``, ``ours_us``, ``torch_us``, ``ours_gbs``, ``torch_gbs`` (weight bytes / time), ``ratio``
    (torch / ours), ``maxrel`` (largest over the four shapes) and ``configs``; ``error`` instead if it fails.
    Memory is given back (torch and CuPy pools) before returning."""
    shapes = MODELS[model]
    res = dict(model=model, layers=layers, M=m, gemms=layers * len(shapes), shapes=[list(s) for s in shapes],
               weight_bytes=layers * sum(n * k for n, k in shapes))
    try:
        res.update(_step(torch, cp, shapes, layers, m, rep, rounds))
    except Exception as e:  # noqa: BLE001 - reported in the result, the run goes on
        res["error"] = _first_line(e)
    try:
        _free(torch, cp)
    except Exception as e:  # noqa: BLE001 - a sticky CUDA error: keep the first message
        res.setdefault("error", _first_line(e))
    return res


def _step(torch, cp, shapes, layers, m, rep, rounds) -> dict:
    from fp8cuda import gemm

    weight_bytes = layers * sum(n * k for n, k in shapes)
    g = torch.Generator(device="cuda").manual_seed(2024)
    acts = {}  # K -> (a, sa, xq, xs)
    for k in sorted({k for _, k in shapes}):
        a, sa = _fp8(torch, m, k, g), _scales(torch, (m, 1), g)
        acts[k] = (a, sa, cp.from_dlpack(a.view(torch.uint8)), cp.from_dlpack(sa.reshape(m)))
    base = [(_fp8(torch, n, k, g), _scales(torch, (1, n), g)) for n, k in shapes]
    layer_w = [base] + [[(b.clone(), sb.clone()) for b, sb in base] for _ in range(layers - 1)]
    plans, outs = [], [None] * len(shapes)
    for ws in layer_w:  # every plan before the capture; the layers share one output per shape
        for i, ((n, k), (b, sb)) in enumerate(zip(shapes, ws)):
            plan = gemm.make_plan(acts[k][2], cp.from_dlpack(b.view(torch.uint8)), acts[k][3],
                                  cp.from_dlpack(sb.reshape(n)), use_fast_accum=True, out=outs[i])
            outs[i] = plan.out
            plans.append(plan)
    ours_out = [torch.from_dlpack(o).view(torch.bfloat16) for o in outs]

    def ours():
        with _on_torch_stream(torch, cp):
            for plan in plans:
                plan()

    def theirs():
        last = [None] * len(shapes)
        for ws in layer_w:
            for i, ((_, k), (b, sb)) in enumerate(zip(shapes, ws)):
                last[i] = _scaled_mm(torch, acts[k][0], b, acts[k][1], sb)
        return last

    refs = [_scaled_mm(torch, acts[k][0], b, acts[k][1], sb).float() for (_, k), (b, sb) in zip(shapes, base)]
    g_ours, _ = capture_graph(torch, ours)
    g_torch, t_outs = capture_graph(torch, theirs)
    for t in ours_out + t_outs:
        t.fill_(float("nan"))
    g_ours.replay()
    g_torch.replay()
    torch.cuda.synchronize()
    _check_written(torch, "fp8cuda", *ours_out)
    _check_written(torch, "torch", *t_outs)
    maxrel = max(_maxrel(torch, o, ref) for o, ref in zip(ours_out, refs))
    t = _time_alternating(torch, {"ours": g_ours, "torch": g_torch}, rep=rep, rounds=rounds)
    return dict(maxrel=maxrel, configs=[p.config.label() for p in plans[:len(shapes)]],
                ours_us=t["ours"] * 1e6, torch_us=t["torch"] * 1e6,
                ours_gbs=weight_bytes / t["ours"] / 1e9, torch_gbs=weight_bytes / t["torch"] / 1e9,
                ratio=t["torch"] / t["ours"])


def _row_label(r) -> str:
    head = f"{r['model']} M={r['M']} {r['N']}x{r['K']}"
    if "error" in r:
        return f"{head}: FAILED {r['error']}"
    return (f"{head}: ours {r['ours_us']:.1f} us {r['ours_gbs']:.0f} GB/s, torch {r['torch_us']:.1f} us "
            f"{r['torch_gbs']:.0f} GB/s, x{r['ratio']:.2f} (R={r['copies']})")



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


def meta(torch, cp, timer: str = TIMER) -> dict:
    """Date, device and versions of this run."""
    return dict(date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                device=torch.cuda.get_device_name(), torch=torch.__version__, cupy=cp.__version__, timer=timer)


def _geomean(v):
    v = [x for x in v if x > 0 and math.isfinite(x)]
    return math.exp(statistics.fmean(math.log(x) for x in v)) if v else float("nan")


def _case_label(r) -> str:
    return f"{r['model']} M={r['M']} {r['N']}x{r['K']}"


def summarize(rows, ceilings=None) -> dict:
    """The sweep against ``TARGETS``: geometric-mean ratio (torch time / our time) over all rows, over
    M <= SMALL_M and over LARGE_M; the smallest fraction of the copy bandwidth over the M <= SMALL_M rows and
    its row; per target ``met`` True / False, or None when it cannot be judged (no such rows, or no copy
    bandwidth measured). A failed row (``error``) counts as a miss of the targets of its M range.

    >>> rows = [dict(model="8B", M=m, N=4096, K=4096, ratio=x, ours_gbs=g)
    ...         for m, x, g in ((1, 2.0, 3800.0), (16, 1.62, 3500.0), (32, 1.5, 3300.0), (128, 1.2, 3000.0))]
    >>> s = summarize(rows, {"copy_gbs": 4000.0})
    >>> round(s["geomean_small"], 3), s["met"]["geomean_small"], s["min_copy_row"], s["met"]["copy_frac_small"]
    (1.8, True, '8B M=16 4096x4096', True)
    >>> round(s["geomean_large"], 3), s["met"]["geomean_large"]
    (1.342, True)
    >>> s = summarize(rows + [dict(model="8B", M=4, N=4096, K=4096, error="boom")], {})
    >>> s["failed_small"], s["met"]["geomean_small"], s["met"]["copy_frac_small"]
    (1, False, None)
    """
    copy = (ceilings or {}).get("copy_gbs")
    ok = [r for r in rows if "error" not in r]
    small = [r for r in rows if r["M"] <= SMALL_M]
    large = [r for r in rows if LARGE_M[0] <= r["M"] <= LARGE_M[1]]
    small_ok, large_ok = [r for r in small if "error" not in r], [r for r in large if "error" not in r]
    s = dict(n=len(ok), failed=len(rows) - len(ok), geomean=_geomean([r["ratio"] for r in ok]),
             n_small=len(small_ok), failed_small=len(small) - len(small_ok),
             geomean_small=_geomean([r["ratio"] for r in small_ok]),
             n_large=len(large_ok), failed_large=len(large) - len(large_ok),
             geomean_large=_geomean([r["ratio"] for r in large_ok]),
             min_copy_frac_small=None, min_copy_row=None, targets=dict(TARGETS))
    if copy and small_ok:
        worst = min(small_ok, key=lambda r: r["ours_gbs"])
        s.update(min_copy_frac_small=worst["ours_gbs"] / copy, min_copy_row=_case_label(worst))

    def judge(value, target, n, failed):
        if failed:
            return False
        if not n or value is None or not math.isfinite(value):
            return None
        return value >= target

    s["met"] = {
        "copy_frac_small": judge(s["min_copy_frac_small"], TARGETS["copy_frac_small"], s["n_small"],
                                 s["failed_small"]) if copy else None,
        "geomean_small": judge(s["geomean_small"], TARGETS["geomean_small"], s["n_small"], s["failed_small"]),
        "geomean_large": judge(s["geomean_large"], TARGETS["geomean_large"], s["n_large"], s["failed_large"]),
    }
    return s


def _verdict(met) -> str:
    return {True: "met", False: "MISSED", None: "not judged"}[met]


def summary_lines(s) -> list[str]:
    """The summary of ``summarize`` as text lines, each target with its verdict (met / MISSED / not judged).

    >>> rows = [dict(model="8B", M=m, N=4096, K=4096, ratio=x, ours_gbs=g)
    ...         for m, x, g in ((1, 2.0, 3800.0), (16, 1.5, 3300.0), (64, 1.4, 3300.0))]
    >>> print("\\n".join(summary_lines(summarize(rows, {"copy_gbs": 4000.0}))))
    geomean speedup (torch time / ours) over 3 cases: 1.613
    M <= 16: geomean speedup 1.732 over 2 rows (target >= 1.8x: MISSED)
    M = 32..128: geomean speedup 1.400 over 1 rows (target >= 1.3x: met)
    M <= 16: lowest 82% of copy bandwidth, at 8B M=16 4096x4096 (target >= 85% on every row: MISSED)
    """
    def failed(n):
        return f", {n} failed" if n else ""

    def geo(value, n):
        return f"geomean speedup {value:.3f} over {n} rows" if n else "no rows"

    lo, hi = LARGE_M
    lines = [f"geomean speedup (torch time / ours) over {s['n']} cases: {s['geomean']:.3f}" + failed(s["failed"]),
             f"M <= {SMALL_M}: {geo(s['geomean_small'], s['n_small'])}{failed(s['failed_small'])} "
             f"(target >= {TARGETS['geomean_small']}x: {_verdict(s['met']['geomean_small'])})",
             f"M = {lo}..{hi}: {geo(s['geomean_large'], s['n_large'])}{failed(s['failed_large'])} "
             f"(target >= {TARGETS['geomean_large']}x: {_verdict(s['met']['geomean_large'])})"]
    target = f"target >= {TARGETS['copy_frac_small']:.0%} on every row"
    if s["min_copy_frac_small"] is None:
        why = "no copy bandwidth measured" if s["n_small"] else "no rows"
        lines.append(f"M <= {SMALL_M}: % of copy bandwidth not known, {why} ({target}: "
                     f"{_verdict(s['met']['copy_frac_small'])})")
    else:
        lines.append(f"M <= {SMALL_M}: lowest {s['min_copy_frac_small']:.0%} of copy bandwidth, at "
                     f"{s['min_copy_row']}{failed(s['failed_small'])} ({target}: "
                     f"{_verdict(s['met']['copy_frac_small'])})")
    return lines


def format_table(rows, ceilings=None) -> str:
    """A plain-text table of decode rows (``% copy`` when ``ceilings`` has ``copy_gbs``), then
    ``summary_lines``.

    >>> print(format_table([dict(model="8B", M=1, N=4096, K=4096, ours_us=10.0, torch_us=12.0, ours_gbs=1677.7,
    ...       torch_gbs=1398.1, ours_tflops=0.0034, torch_tflops=0.0028, ratio=1.2, maxrel=0.0, copies=13,
    ...       config="64x256x6c1")], {"copy_gbs": 3355.4}))  # doctest: +NORMALIZE_WHITESPACE
    model    M      N      K |  ours us torch us | ours GB/s torch GB/s  % copy | speedup |  R  maxrel | config
    -----------------------------------------------------------------------------------------------------------
    8B       1   4096   4096 |    10.00    12.00 |      1678       1398     50% |    1.20 | 13   0e+00 | 64x256x6c1
    geomean speedup (torch time / ours) over 1 cases: 1.200
    M <= 16: geomean speedup 1.200 over 1 rows (target >= 1.8x: MISSED)
    M = 32..128: no rows (target >= 1.3x: not judged)
    M <= 16: lowest 50% of copy bandwidth, at 8B M=1 4096x4096 (target >= 85% on every row: MISSED)
    """
    copy = (ceilings or {}).get("copy_gbs")
    head = (f"{'model':5} {'M':>4} {'N':>6} {'K':>6} | {'ours us':>8} {'torch us':>8} | {'ours GB/s':>9} "
            f"{'torch GB/s':>10} {'% copy':>7} | {'speedup':>7} | {'R':>2} {'maxrel':>7} | config")
    lines = [head, "-" * len(head)]
    for r in rows:
        lead = f"{r['model']:5} {r['M']:>4} {r['N']:>6} {r['K']:>6} | "
        if "error" in r:
            lines.append(lead + f"FAILED {r['error']}")
            continue
        pct = f"{r['ours_gbs'] / copy:7.0%}" if copy else f"{'-':>7}"
        lines.append(lead + f"{r['ours_us']:8.2f} {r['torch_us']:8.2f} | {r['ours_gbs']:9.0f} {r['torch_gbs']:10.0f} "
                     f"{pct} | {r['ratio']:7.2f} | {r.get('copies', '-'):>2} {r.get('maxrel', float('nan')):7.0e} | "
                     f"{r['config']}")
    lines += summary_lines(summarize(rows, ceilings))
    return "\n".join(lines)


def format_step(step, ceilings=None) -> str:
    """One line for a ``decode_step`` result (the expected output below is wrapped).

    >>> print(format_step(dict(model="8B", layers=32, M=1, gemms=128, weight_bytes=6979321856, ours_us=1900.0,
    ...       torch_us=2600.0, ours_gbs=3673.3, torch_gbs=2684.4, ratio=1.368, maxrel=1e-3), {"copy_gbs": 4246.0}))
    decode step, Llama-3 8B, 32 layers x 4 GEMMs at M=1 (6.98 GB of weights): ours 1900.0 us 3673 GB/s
    (87% of copy), torch 2600.0 us 2684 GB/s (63% of copy), speedup 1.37
    >>> print(format_step(dict(model="8B", layers=32, M=1, gemms=128, weight_bytes=1, error="OutOfMemoryError: x")))
    decode step, Llama-3 8B, 32 layers x 4 GEMMs at M=1 (0.00 GB of weights): FAILED OutOfMemoryError: x
    """
    copy = (ceilings or {}).get("copy_gbs")
    head = (f"decode step, Llama-3 {step['model']}, {step['layers']} layers x {step['gemms'] // step['layers']} "
            f"GEMMs at M={step['M']} ({step['weight_bytes'] / 1e9:.2f} GB of weights): ")
    if "error" in step:
        return head + f"FAILED {step['error']}"

    def pct(gbs):
        return f" ({gbs / copy:.0%} of copy)" if copy else ""

    return head + (f"ours {step['ours_us']:.1f} us {step['ours_gbs']:.0f} GB/s{pct(step['ours_gbs'])}, torch "
                   f"{step['torch_us']:.1f} us {step['torch_gbs']:.0f} GB/s{pct(step['torch_gbs'])}, "
                   f"speedup {step['ratio']:.2f}")


BEGIN, END = "<!-- bench:decode -->", "<!-- /bench:decode -->"


def markdown(meta, ceilings, rows, args: str = "decode", step=None) -> str:
    """The decode section of docs/benchmarks.md (between BEGIN and END), generated from ``rows`` (and the
    ``decode_step`` result ``step``): method, device, date, ceilings, the table, the summary against the
    targets and the decode step."""
    copy, peak = ceilings.get("copy_gbs"), ceilings.get("matmul_tflops")
    l2 = meta.get("l2_bytes")
    lines = [BEGIN, "## Decode-sized row-wise FP8 GEMM (M = 1..128, Llama-3 weights), fp8cuda vs torch._scaled_mm", "",
             f"Measured {meta.get('date', '?')} on {meta.get('device', '?')} (torch {meta.get('torch', '?')}, CuPy "
             f"{meta.get('cupy', '?')}) by `python -m fp8cuda bench {args}`; generated, do not edit. "
             "Both libraries on the same e4m3fn codes and row/column scales, fast accumulation, bf16 out.", "",
             "Method: CUDA-graph replay with rotated weights (fp8cuda/bench_decode.py). Per weight shape, R copies "
             f"of the weight and its scales spanning >= {ROTATE_L2} x the L2 cache"
             + (f" ({l2 / 2**20:.0f} MiB)" if l2 else "")
             + f" (R >= {MIN_COPIES}, column R), so every call reads its weight from HBM while the activation "
             "stays in L2, as in a decode step; the R calls (fp8cuda: one `make_plan` plan per copy; torch: "
             "`torch._scaled_mm`) captured back to back in one CUDA graph, replayed "
             f"(>= {MIN_REPLAYS} replays or {meta.get('rep', 20):g} ms, each between CUDA events); time per call = "
             f"median replay / R, the two libraries alternating over {meta.get('rounds', 3)} rounds (median of "
             "the rounds' medians). GB/s = weight bytes (N K) / time"
             + (f"; % of copy = of the device copy bandwidth measured in the same run, {copy:.0f} GB/s (read + "
                f"written, fp8cuda.bench.copy_bandwidths)" if copy else "")
             + (f"; matmul peak in the same run: {peak:.0f} TFLOP/s (`torch._scaled_mm` row-wise fast, 8192^3)"
                if peak else "") + ". speedup = torch time / fp8cuda time; maxrel = largest relative difference "
             "of fp8cuda's output to torch's.", ""]
    if rows:
        lines += ["| model | M | N x K | fp8cuda us | GB/s | % of copy | torch us | GB/s | speedup | config | R "
                  "| maxrel |", "|---|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
        for r in rows:
            if "error" in r:
                lines.append(f"| {r['model']} | {r['M']} | {r['N']} x {r['K']} | failed: {r['error']} |||||||||")
                continue
            pct = f"{r['ours_gbs'] / copy:.0%}" if copy else "-"
            lines.append(f"| {r['model']} | {r['M']} | {r['N']} x {r['K']} | {r['ours_us']:.2f} | "
                         f"{r['ours_gbs']:.0f} | {pct} | {r['torch_us']:.2f} | {r['torch_gbs']:.0f} | {r['ratio']:.2f} | "
                         f"{r['config']} | {r.get('copies', '-')} | {r.get('maxrel', float('nan')):.0e} |")
        lines += ["", "Summary against the targets of issue 5 (judged from the rows above):", ""]
        lines += [f"- {line}" for line in summary_lines(summarize(rows, ceilings))]
        lines.append("")
    if step is not None:
        lines += [f"Decode step: the {step['gemms']} GEMMs of a {step['layers']}-layer Llama-3 {step['model']} at "
                  f"M = {step['M']} (per layer " + ", ".join(f"{n} x {k}" for n, k in step.get("shapes", ()))
                  + f"; {step['layers']} distinct weight sets, {step['weight_bytes'] / 1e9:.2f} GB) in one CUDA "
                  "graph, median replay:", ""]
        if "error" in step:
            lines.append(f"failed: {step['error']}")
        else:
            pct = (lambda gbs: f"{gbs / copy:.0%}") if copy else (lambda gbs: "-")
            lines += ["| | us per step | weight GB/s | % of copy |", "|---|---:|---:|---:|",
                      f"| fp8cuda | {step['ours_us']:.1f} | {step['ours_gbs']:.0f} | {pct(step['ours_gbs'])} |",
                      f"| torch._scaled_mm | {step['torch_us']:.1f} | {step['torch_gbs']:.0f} | "
                      f"{pct(step['torch_gbs'])} |", "",
                      f"Speedup {step['ratio']:.2f}x; fp8cuda configs "
                      + ", ".join(f"`{c}`" for c in step.get("configs", ())) + f"; maxrel {step['maxrel']:.0e}."]
        lines.append("")
    lines.append(END)
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

"""Benchmark: fp8cuda's WGMMA row-wise FP8 GEMM vs ``torch._scaled_mm`` (cuBLAS), same inputs, one run.

``python -m fp8cuda.bench_gemm [--quick] [--json PATH] [--markdown PATH] [--schedules] [--shapes M,N,K ...]`` (also reached through
``python -m fp8cuda.bench gemm``). Needs a Hopper GPU, CuPy, PyTorch and Triton (``do_bench``).

For each (M, N, K): random e4m3fn codes (from normal data, no NaN) and positive row/column scales,
shared by both libraries through DLPack; bf16 output. Timed with ``triton.testing.do_bench`` (CUDA
events, ``--warmup`` ms of the same kernel first (200: the power-capped clock settles), L2 flushed between
runs, median). Ours is timed as a prepared launch (``fp8cuda.gemm.make_plan``: checks and tensor maps done
once), torch as the bare ``_scaled_mm`` call; the two alternate over ``--rounds`` rounds, in a new order each
round and shape, and each keeps its median (the GPU's clock drifts). nvidia-smi samples the SM clock and
power meanwhile; the rows and the summary carry their means in the timed reps.
Reports TFLOP/s (2 M N K / time) for fast and slow accumulation, the ratios ours / torch, ours slow /
ours fast, and max |ours - torch| / max |torch| as a sanity check. ``--schedules`` also times
select_config's cooperative, overlap and ping-pong choices in the same rounds; ``--markdown PATH`` writes the
table into PATH between ``<!-- bench:gemm -->`` and ``<!-- /bench:gemm -->``. Benchmarks are not tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import sys
import time

SQUARES = (4096, 8192, 16384)
LLAMA_NK = ((6144, 4096), (4096, 4096), (28672, 4096), (4096, 14336), (10240, 8192), (8192, 8192),
            (57344, 8192), (8192, 28672), (18432, 16384), (16384, 16384), (106496, 16384), (16384, 53248))
LLAMA_M = (1024, 2048, 4096, 8192, 16384)
QUICK = ((8192, 8192, 8192), (4096, 4096, 4096), (16384, 16384, 16384), (2048, 6144, 4096), (4096, 28672, 4096),
         (8192, 4096, 14336), (4096, 57344, 8192), (1024, 8192, 8192), (16384, 8192, 28672))


def all_shapes():
    shapes = [(s, s, s) for s in SQUARES]
    shapes += [(m, n, k) for (n, k) in LLAMA_NK for m in LLAMA_M]
    return shapes


def _inputs(torch, cp, m, n, k, seed=0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    a = (torch.randn(m, k, device="cuda", generator=g) * 8).to(torch.float8_e4m3fn)
    b = (torch.randn(n, k, device="cuda", generator=g) * 8).to(torch.float8_e4m3fn)
    sa = torch.rand(m, 1, device="cuda", generator=g) * 1e-2 + 1e-3
    sb = torch.rand(1, n, device="cuda", generator=g) * 1e-2 + 1e-3
    xq = cp.from_dlpack(a.view(torch.uint8))
    wq = cp.from_dlpack(b.view(torch.uint8))
    xs = cp.from_dlpack(sa.reshape(m))
    ws = cp.from_dlpack(sb.reshape(n))
    return a, b, sa, sb, xq, wq, xs, ws


# --schedules: name -> (select_config's schedule=, cluster size replacing its choice or None); timed when
# the resulting instance is one of candidate_configs()
SCHEDULES = {"cooperative": ("cooperative", None), "cooperative_c4": ("cooperative", 4),
             "overlap": ("overlap", None), "pingpong": ("pingpong", None), "pingpong_c4": ("pingpong", 4)}

# (BLOCK_M, BLOCK_N, cluster_m, group_m, use_fast_accum, pingpong): other tile configurations, to tune
# select_config
VARIANTS = ((128, 256, 2, 8, True, False), (64, 256, 2, 8, True, True), (64, 192, 2, 8, True, True),
            (64, 256, 1, 8, True, True), (64, 256, 2, 16, True, True), (64, 192, 2, 8, False, True),
            (64, 128, 2, 8, False, True), (64, 192, 1, 8, False, True))


def alternate_medians(calls: dict, rounds: int, time_one, seed="") -> dict:
    """Median of ``rounds`` timings ``time_one(call)`` of every call in ``calls`` (key -> callable). The calls
    alternate, so the clock of a power-limited GPU, which drifts during a run (seen: the same kernel 1259 vs
    1418 TFLOP/s minutes apart), affects them alike; and their order is drawn anew for every round and every
    ``seed`` (pass the shape), because which kernel runs after which moved a kernel's standing by 2-3% with a
    fixed order (docs/notes-gemm.md v15), and by 5% with one shuffled order reused for every shape ("The
    harness")."""
    ts = {key: [] for key in calls}
    order = list(calls)
    for rnd in range(rounds):
        random.Random(f"{seed}:{rnd}").shuffle(order)
        for key in order:
            ts[key].append(time_one(calls[key]))
    return {key: sorted(v)[rounds // 2] for key, v in ts.items()}


class ClockSampler:
    """The SM clock (MHz) and board power (W; nvidia-smi's power.draw, a one-second average) of one GPU
    (``gpu``: nvidia-smi's index or PCI bus id; CuPy's current device by default), sampled by ``nvidia-smi``
    every ``period_ms`` in a background process. ``mean(t0, t1)`` averages the samples taken between two
    ``time.time()`` stamps; it may be called during the run or after ``close()``. Where nvidia-smi is
    missing, every mean is NaN. A benchmark aid, not a measurement of the kernel."""

    def __init__(self, gpu: str | None = None, period_ms: int = 20):
        import shutil
        import subprocess
        import tempfile

        self._rows, self._proc = [], None
        exe = shutil.which("nvidia-smi")
        if exe is None:
            return
        if gpu is None:  # nvidia-smi numbers GPUs by PCI order, CUDA_VISIBLE_DEVICES may renumber them
            try:
                import cupy as cp

                gpu = cp.cuda.runtime.deviceGetPCIBusId(cp.cuda.Device().id)
            except Exception:  # noqa: BLE001 - no CuPy or no GPU: the first one
                gpu = "0"
        self._file = tempfile.NamedTemporaryFile("w+", suffix=".csv")
        self._proc = subprocess.Popen([exe, f"--id={gpu}", "--query-gpu=timestamp,clocks.sm,power.draw",
                                       "--format=csv,noheader,nounits", f"-lms={period_ms}"],
                                      stdout=self._file, stderr=subprocess.DEVNULL)
        self._reader = open(self._file.name)

    @staticmethod
    def parse(line: str):
        """(unix time, MHz, W) of one sample line (nvidia-smi's timestamp is local time), or None."""
        import datetime

        p = [x.strip() for x in line.split(",")]
        try:
            t = datetime.datetime.strptime(p[0], "%Y/%m/%d %H:%M:%S.%f").timestamp()
            return t, float(p[1]), float(p[2])
        except (ValueError, IndexError):
            return None

    def _drain(self) -> None:
        self._rows += [r for r in map(self.parse, self._reader.readlines()) if r is not None]

    def mean(self, t0: float, t1: float) -> tuple:
        if self._proc is not None and (not self._rows or self._rows[-1][0] < t1):
            time.sleep(0.05)  # the sample after t1 is not written yet
            self._drain()
        sel = [(mhz, w) for (t, mhz, w) in self._rows if t0 <= t <= t1]
        if not sel:
            return float("nan"), float("nan")
        return sum(x for x, _ in sel) / len(sel), sum(w for _, w in sel) / len(sel)

    def close(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait()
            self._drain()
            self._reader.close()
            self._file.close()
            self._proc = None


def bench_shape(m, n, k, *, torch, cp, do_bench, warmup=200, rep=40, rounds=3, variants=False, schedules=False,
                clock=None):
    """Time ours (select_config's choice) and torch on one shape, fast and slow accumulation. schedules:
    also time select_config's cooperative, overlap and ping-pong choices (``schedule=``) in the same rounds.
    warmup: ms of the same kernel before its timed reps, so the clock of the power-capped GPU settles for it
    (10 ms left a kernel's time depending on what ran before it; docs/notes-gemm.md "The harness").
    clock (a ClockSampler): also record the mean SM clock and power in ours' and torch's timed reps."""
    from fp8cuda import gemm

    a, b, sa, sb, xq, wq, xs, ws = _inputs(torch, cp, m, n, k)
    flops = 2.0 * m * n * k
    row = {"M": m, "N": n, "K": k}
    outs = {}
    for fast in (True, False):
        tag = "fast" if fast else "slow"
        plan = gemm.make_plan(xq, wq, xs, ws, use_fast_accum=fast)
        plans = {"ours": plan}
        if schedules:
            built = set(gemm.candidate_configs())
            for name, (sched, cm) in SCHEDULES.items():
                try:  # e.g. overlap: fast accumulation and K > 256 only
                    cfg = gemm.select_config(m, n, k, use_fast_accum=fast, schedule=sched)
                    if cm is not None:
                        cfg = dataclasses.replace(cfg, cluster_m=cm)
                    if (cfg, fast) not in built:
                        continue
                    plans[name] = (plan if cfg == plan.config
                                   else gemm.make_plan(xq, wq, xs, ws, use_fast_accum=fast, config=cfg))
                except ValueError:
                    continue
        for p in plans.values():
            p()
        out_t = torch._scaled_mm(a, b.t(), scale_a=sa, scale_b=sb, out_dtype=torch.bfloat16, use_fast_accum=fast)
        torch.cuda.synchronize()
        torch_call = lambda: torch._scaled_mm(a, b.t(), scale_a=sa, scale_b=sb,  # noqa: E731
                                              out_dtype=torch.bfloat16, use_fast_accum=fast)
        unique = {id(p): p for p in plans.values()}
        unique["torch"] = torch_call
        seen = {}  # id(call) -> [(MHz, W)] of its timed reps (the last rep ms of each do_bench; at least
        #            50 ms, reaching into the same kernel's warm-up, so 20 ms sampling puts samples in it)

        def time_one(f):
            ms = do_bench(f, warmup=warmup, rep=rep, return_mode="median")
            if clock is not None:
                t1 = time.time()
                seen.setdefault(id(f), []).append(clock.mean(t1 - max(rep, 50) * 1e-3, t1))
            return ms

        med = alternate_medians(unique, rounds, time_one, seed=(m, n, k, tag))
        t_ours, t_torch = med[id(plan)], med["torch"]
        if clock is not None:
            for who, f in (("ours", plan), ("torch", torch_call)):
                v = [x for x in seen.get(id(f), []) if x[0] == x[0]]  # NaN where no sample fell in the window
                row[f"{who}_{tag}_mhz"] = sum(x[0] for x in v) / len(v) if v else float("nan")
                row[f"{who}_{tag}_watts"] = sum(x[1] for x in v) / len(v) if v else float("nan")
        ref = out_t.float()
        rel = 0.0
        for p in {id(p): p for p in plans.values()}.values():  # every timed kernel of ours against cuBLAS (sanity)
            got = torch.from_dlpack(p.out).view(torch.bfloat16).float()
            rel = max(rel, ((got - ref).abs().max() / ref.abs().max().clamp_min(1e-30)).item())
        row[f"ours_{tag}_tflops"] = flops / (t_ours * 1e-3) / 1e12
        row[f"torch_{tag}_tflops"] = flops / (t_torch * 1e-3) / 1e12
        row[f"ratio_{tag}"] = t_torch / t_ours
        row[f"maxrel_{tag}"] = rel
        row[f"config_{tag}"] = plan.config.label()
        for name in SCHEDULES:
            if name in plans:
                row[f"{name}_{tag}_tflops"] = flops / (med[id(plans[name])] * 1e-3) / 1e12
                row[f"{name}_{tag}_config"] = plans[name].config.label()
        outs[tag] = plan.out
        del out_t, plans, unique
    row["slow_over_fast"] = row["ours_slow_tflops"] / row["ours_fast_tflops"]
    if variants:  # other tile configurations, to tune select_config
        for bm, bn, cm, gm, fast, pp in VARIANTS:
            cfg = gemm.GemmConfig(bm, bn, gemm._max_stages(bm, bn, pp), cm, gm, pp)
            plan = gemm.make_plan(xq, wq, xs, ws, use_fast_accum=fast, config=cfg)
            t = do_bench(plan, warmup=warmup, rep=rep, return_mode="median")
            row[f"v{cfg.label()}g{gm}{'f' if fast else 's'}"] = flops / (t * 1e-3) / 1e12
    del a, b, xq, wq, outs
    torch.cuda.empty_cache()
    cp.get_default_memory_pool().free_all_blocks()
    return row


def _geomean(v):
    v = [x for x in v if x > 0]
    return math.exp(sum(math.log(x) for x in v) / len(v)) if v else float("nan")


def format_table(rows) -> str:
    head = (f"{'M':>6} {'N':>6} {'K':>6} | {'ours_f':>7} {'torch_f':>7} {'x':>5} | {'ours_s':>7} {'torch_s':>7} "
            f"{'x':>5} | {'s/f':>5} | {'cfg_f':>12} {'cfg_s':>12} | {'maxrel':>7}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['M']:>6} {r['N']:>6} {r['K']:>6} | {r['ours_fast_tflops']:7.0f} {r['torch_fast_tflops']:7.0f} "
            f"{r['ratio_fast']:5.2f} | {r['ours_slow_tflops']:7.0f} {r['torch_slow_tflops']:7.0f} {r['ratio_slow']:5.2f} | "
            f"{r['slow_over_fast']:5.2f} | {r['config_fast']:>12} {r['config_slow']:>12} | "
            f"{max(r['maxrel_fast'], r['maxrel_slow']):7.1e}")
    lines.append(f"geomean ours/torch: fast {_geomean([r['ratio_fast'] for r in rows]):.3f}, "
                 f"slow {_geomean([r['ratio_slow'] for r in rows]):.3f}; ours slow/fast "
                 f"{_geomean([r['slow_over_fast'] for r in rows]):.3f}")
    return "\n".join(lines)


def clock_summary(rows) -> str:
    """Mean SM clock and board power (nvidia-smi, sampled in the timed reps) of ours and torch over the rows."""
    parts = []
    for tag in ("fast", "slow"):
        for who in ("ours", "torch"):
            v = [(r[f"{who}_{tag}_mhz"], r[f"{who}_{tag}_watts"]) for r in rows
                 if r.get(f"{who}_{tag}_mhz", float("nan")) == r.get(f"{who}_{tag}_mhz")]  # NaN != NaN
            if v:
                parts.append(f"{who} {tag} {sum(x for x, _ in v) / len(v):.0f} MHz at "
                             f"{sum(w for _, w in v) / len(v):.0f} W")
    return ("Mean SM clock and board power in the timed reps (nvidia-smi every 20 ms; its power.draw is a "
            "one-second average, so it lags): " + ", ".join(parts) + "."
            if parts else "No clock samples (nvidia-smi missing).")


BEGIN, END = "<!-- bench:gemm -->", "<!-- /bench:gemm -->"


def markdown(meta, rows) -> str:
    """The GEMM section of docs/benchmarks.md (between BEGIN and END), generated from ``rows``."""
    g = {key: _geomean([r[key] for r in rows]) for key in ("ratio_fast", "ratio_slow", "slow_over_fast")}
    lines = [BEGIN, "## Row-wise FP8 GEMM (e4m3fn x e4m3fn -> bf16), fp8cuda vs torch._scaled_mm", "",
             f"Measured {meta['date']} on {meta['device']} (torch {meta['torch']}, CuPy {meta['cupy']}) by "
             f"`python -m fp8cuda.bench_gemm {meta['args']}`; generated, do not edit. TFLOP/s = 2 M N K / time; "
             f"`triton.testing.do_bench` medians (L2 flushed) after {meta['warmup']} ms of warm-up of the "
             f"same kernel, ours and torch alternating (in a new order each round and shape) over "
             f"{meta['rounds']} rounds; torch = `torch._scaled_mm` row-wise (cuBLAS) on the same codes "
             f"and scales; x = ours / torch; config: ours (`ov` = overlapped cooperative, `pp` = ping-pong "
             f"schedule) for fast / slow accumulation.", "",
             "| M | N | K | ours fast | torch fast | x | ours slow | torch slow | x | slow/fast | config fast / slow |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['M']} | {r['N']} | {r['K']} | {r['ours_fast_tflops']:.0f} | {r['torch_fast_tflops']:.0f} | "
                     f"{r['ratio_fast']:.2f} | {r['ours_slow_tflops']:.0f} | {r['torch_slow_tflops']:.0f} | "
                     f"{r['ratio_slow']:.2f} | {r['slow_over_fast']:.2f} | {r['config_fast']} / {r['config_slow']} |")
    lines += ["", f"Geometric mean over {len(rows)} shapes: ours / torch {g['ratio_fast']:.3f} (fast accumulation), "
              f"{g['ratio_slow']:.3f} (slow); ours slow / ours fast {g['slow_over_fast']:.3f}."]
    if any("ours_fast_mhz" in r for r in rows):
        lines += ["", clock_summary(rows) + " Where the board runs at its power limit (700 W on an H200 SXM), a "
                  "kernel that keeps the tensor cores busier runs at a lower clock (docs/notes-gemm.md \"The "
                  "harness\")."]
    if any(key.startswith("pingpong_") for r in rows for key in r):
        lines += markdown_schedules(rows)
    lines.append(END)
    return "\n".join(lines) + "\n"


def splice_markdown(path, section: str) -> None:
    """Write ``section`` into the file at ``path``, replacing an earlier GEMM section if present (the rest
    of the file, e.g. the quantize section, is kept)."""
    import re
    from pathlib import Path

    path = Path(path)
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END) + r"\n?", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def _schedule_columns(rows):
    """(column name, row key) pairs of the schedules timed in ``rows``, fast then slow, torch last in each."""
    cols = []
    for tag in ("fast", "slow"):
        for name in SCHEDULES:
            if any(f"{name}_{tag}_tflops" in r for r in rows):
                short = name.replace("cooperative", "coop").replace("pingpong", "pp").replace("overlap", "ov")
                cols.append((f"{short}_{tag[0]}", f"{name}_{tag}_tflops"))
        cols.append((f"torch_{tag[0]}", f"torch_{tag}_tflops"))
    return cols


def format_schedule_table(rows) -> str:
    """Every timed schedule vs torch, TFLOP/s (rows from ``bench_shape(..., schedules=True)``), and the
    geomean of each over torch."""
    cols = _schedule_columns(rows)
    head = f"{'M':>6} {'N':>6} {'K':>6} | " + " ".join(f"{c:>9}" for c, _ in cols)
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['M']:>6} {r['N']:>6} {r['K']:>6} | "
                     + " ".join(f"{r[key]:9.0f}" if key in r else f"{'-':>9}" for _, key in cols))
    parts = []
    for c, key in cols:
        if key.startswith("torch"):
            continue
        tkey = "torch_fast_tflops" if key.endswith("fast_tflops") else "torch_slow_tflops"
        v = [r[key] / r[tkey] for r in rows if key in r]
        parts.append(f"{c} {_geomean(v):.3f} ({len(v)})")
    lines.append("geomean vs torch (shapes): " + ", ".join(parts))
    return "\n".join(lines)


def markdown_schedules(rows) -> list:
    """Markdown lines: the schedule comparison (TFLOP/s of every timed alternative, same rounds)."""
    cols = _schedule_columns(rows)
    lines = ["", "Alternatives timed in the same rounds (TFLOP/s; `coop` = cooperative, `pp` = ping-pong, "
             "`_c4` = clusters of four; `_f` / `_s` = fast / slow accumulation; - = no such instance):", "",
             "| M | N | K | " + " | ".join(c for c, _ in cols) + " |",
             "|---:|---:|---:|" + "---:|" * len(cols)]
    for r in rows:
        lines.append(f"| {r['M']} | {r['N']} | {r['K']} | "
                     + " | ".join(f"{r[key]:.0f}" if key in r else "-" for _, key in cols) + " |")
    lines += ["", format_schedule_table(rows).splitlines()[-1].replace("geomean vs torch (shapes)",
                                                                       "Geometric mean over torch (shapes)") + "."]
    return lines


def precompile(workers: int = 8) -> None:
    """Build every kernel instance select_config can pick (and the level-1 ones) into the loader's disk
    cache, in parallel processes, so tests and timings do not wait on NVRTC."""
    import concurrent.futures as cf
    import multiprocessing as mp

    from fp8cuda import gemm

    exprs = [("gemm_sm90.cu", gemm.kernel_name_expression(cfg, fast, dt))
             for cfg, fast, dt in gemm.candidate_instances()]
    for fast in ("true", "false"):
        for kind in range(3):
            exprs.append(("gemm_simple.cu", f"fp8cuda::fp8_gemm_rowwise_simple<{fast}, {kind}>"))
    t0 = time.time()
    with cf.ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as ex:
        list(ex.map(_compile_one, exprs))
    print(f"precompiled {len(exprs)} kernel instances in {time.time() - t0:.1f} s", flush=True)


def _compile_one(item):
    from fp8cuda._loader import get_kernel

    get_kernel(*item)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m fp8cuda.bench gemm", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a 9-shape subset instead of all 63 shapes")
    p.add_argument("--shapes", nargs="*", default=None, help="explicit M,N,K triples")
    p.add_argument("--json", default=None, help="write the rows as JSON here")
    p.add_argument("--markdown", default=None,
                   help="write the table into this markdown file (section between <!-- bench:gemm --> markers)")
    p.add_argument("--precompile", action="store_true", help="only build all kernel instances, then exit")
    p.add_argument("--rep", type=int, default=40, help="do_bench rep (ms) per round")
    p.add_argument("--warmup", type=int, default=200,
                   help="ms of the same kernel before each timed rep (the power-capped clock settles)")
    p.add_argument("--rounds", type=int, default=3, help="alternating ours/torch rounds per measurement")
    p.add_argument("--variants", action="store_true", help="also time the VARIANTS tile configs")
    p.add_argument("--schedules", action="store_true",
                   help="also time select_config's cooperative and ping-pong choices in the same rounds")
    args = p.parse_args(argv)
    if args.precompile:
        precompile()
        return 0
    import cupy as cp
    import torch
    from triton.testing import do_bench

    if args.shapes:
        shapes = [tuple(int(x) for x in s.split(",")) for s in args.shapes]
    else:
        shapes = list(QUICK) if args.quick else all_shapes()
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, cupy {cp.__version__}", flush=True)
    rows = []
    clock = ClockSampler()
    for (m, n, k) in shapes:
        try:
            r = bench_shape(m, n, k, torch=torch, cp=cp, do_bench=do_bench, rep=args.rep, rounds=args.rounds,
                            warmup=args.warmup, variants=args.variants, schedules=args.schedules, clock=clock)
        except Exception as e:  # noqa: BLE001 - keep going; report the failure in the table
            print(f"{m},{n},{k}: FAILED {type(e).__name__}: {e}", flush=True)
            continue
        rows.append(r)
        print(f"{m},{n},{k}: ours fast {r['ours_fast_tflops']:.0f} TF/s vs torch {r['torch_fast_tflops']:.0f} "
              f"({r['ratio_fast']:.2f}x); slow {r['ours_slow_tflops']:.0f} vs {r['torch_slow_tflops']:.0f} "
              f"({r['ratio_slow']:.2f}x) [{r['config_fast']}, {r['config_slow']}]"
              f" clock fast {r.get('ours_fast_mhz', math.nan):.0f} / {r.get('torch_fast_mhz', math.nan):.0f} MHz"
              + "".join(f" {key}={v:.0f}" for key, v in r.items()
                        if key.startswith("v") or (key.endswith("_tflops") and key.startswith(("coop", "ping")))),
              flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(rows, f, indent=1)
    clock.close()
    if args.markdown and rows:
        import datetime

        meta = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                "device": torch.cuda.get_device_name(), "torch": torch.__version__, "cupy": cp.__version__,
                "rounds": args.rounds, "warmup": args.warmup,
                "args": " ".join(argv if argv is not None else sys.argv[1:])}
        splice_markdown(args.markdown, markdown(meta, rows))
    if args.schedules:
        print(format_schedule_table(rows))
    print(format_table(rows))
    print(clock_summary(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

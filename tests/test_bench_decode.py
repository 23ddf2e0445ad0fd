"""``fp8cuda.bench_decode`` without a GPU: the graph-replay timing with rotated weights driven through a small
numpy stand-in for torch, CuPy and ``fp8cuda.gemm.make_plan`` (``FakeTorch``), so the control flow, the
division by R, the NaN check of a graph that did not capture and the per-row error handling run on CPU.

The stand-in is a model of the CUDA semantics the benchmark relies on, not of the GPU: operations run eagerly
and, while a graph is being captured on the capture stream, are also recorded into it; a replay re-runs the
recorded operations and advances a fake clock by their costs (``OURS_S`` per plan call, ``TORCH_S`` per
``_scaled_mm``), which CUDA events read. Benchmarks are not tests: this checks the bookkeeping only.
"""

from __future__ import annotations

import contextlib
import math
import types

import numpy as np
import pytest

from fp8cuda import __main__ as cli
from fp8cuda import bench_decode

OURS_S, TORCH_S = 1e-6, 2e-6


class FakeTensor:
    def __init__(self, a):
        self.a = np.asarray(a, dtype=np.float64)

    shape = property(lambda self: self.a.shape)

    def mul_(self, x):
        self.a *= x
        return self

    def __mul__(self, x):
        return FakeTensor(self.a * x)

    def __add__(self, x):
        return FakeTensor(self.a + x)

    def __sub__(self, o):
        return FakeTensor(self.a - o.a)

    def __truediv__(self, o):
        return FakeTensor(self.a / o.a)

    def to(self, dtype):
        return FakeTensor(self.a.copy())

    def view(self, dtype):
        return self

    def reshape(self, *shape):
        return FakeTensor(self.a.reshape(*shape))

    def clone(self):
        return FakeTensor(self.a.copy())

    def t(self):
        return FakeTensor(self.a.T)

    def float(self):
        return FakeTensor(self.a.copy())

    def fill_(self, v):
        self.a[...] = v
        return self

    def abs(self):
        return FakeTensor(np.abs(self.a))

    def max(self):
        return FakeTensor(self.a.max())

    def any(self):
        return bool(self.a.any())

    def clamp_min(self, v):
        return FakeTensor(np.maximum(self.a, v))

    def item(self):
        return float(self.a)


class FakeGraph:
    def __init__(self, world):
        self.world, self.ops = world, []

    def replay(self):
        for cost, op in self.ops:
            self.world.clock += cost
            op()


class FakeEvent:
    def __init__(self, world, enable_timing=True):
        self.world, self.t = world, None

    def record(self):
        self.t = self.world.clock

    def synchronize(self):
        pass

    def elapsed_time(self, end):
        return (end.t - self.t) * 1e3


class FakeStream:
    count = 0

    def __init__(self):
        FakeStream.count += 1
        self.cuda_stream = FakeStream.count

    def wait_stream(self, other):
        pass


class FakeWorld:
    """torch, cp and a make_plan, sharing a clock, the current streams and the graph being captured."""

    def __init__(self, *, misroute=False, fail_m=None):
        self.clock = 0.0
        self.capturing = None  # (graph, capture stream)
        self.torch_stream = FakeStream()
        self.cupy_stream = None
        self.misroute, self.fail_m = misroute, fail_m
        self.plans = 0
        world = self

        @contextlib.contextmanager
        def swapped(attr, value):
            """world.<attr> = value inside the block (torch.cuda.stream, CuPy's ExternalStream)."""
            old = getattr(world, attr)
            setattr(world, attr, value)
            try:
                yield
            finally:
                setattr(world, attr, old)

        def stream(s):
            return swapped("torch_stream", s)

        @contextlib.contextmanager
        def graph(g):
            s = FakeStream()
            old, world.torch_stream, world.capturing = world.torch_stream, s, (g, s)
            try:
                yield
            finally:
                world.torch_stream, world.capturing = old, None

        def randn(rows, cols, **kw):
            return FakeTensor(kw["generator"].rng.standard_normal((rows, cols)))

        def rand(*shape, **kw):
            return FakeTensor(kw["generator"].rng.random(shape))

        def scaled_mm(a, bt, *, scale_a, scale_b, out_dtype, use_fast_accum):
            assert use_fast_accum and bt.shape[0] == a.shape[1]
            out = FakeTensor(np.zeros((a.shape[0], bt.shape[1])))

            def op():
                out.a[...] = (a.a @ bt.a) * scale_a.a * scale_b.a
            op()
            world.record(TORCH_S, op, world.torch_stream.cuda_stream)
            return out

        class Generator:
            def __init__(self, device):
                pass

            def manual_seed(self, seed):
                self.rng = np.random.default_rng(seed)
                return self

        cuda = types.SimpleNamespace(
            Stream=FakeStream, stream=stream, graph=graph, CUDAGraph=lambda: FakeGraph(world),
            current_stream=lambda: world.torch_stream, synchronize=lambda: None, empty_cache=lambda: None,
            Event=lambda enable_timing=True: FakeEvent(world), current_device=lambda: 0,
            get_device_properties=lambda dev: types.SimpleNamespace(L2_cache_size=0),
            get_device_name=lambda: "Fake H200")
        self.torch = types.SimpleNamespace(
            cuda=cuda, Generator=Generator, randn=randn, rand=rand, _scaled_mm=scaled_mm,
            isnan=lambda t: FakeTensor(np.isnan(t.a)), from_dlpack=lambda x: x, bfloat16="bf16",
            float8_e4m3fn="e4m3fn", uint8="u8", __version__="fake")

        def external_stream(ptr):
            return swapped("cupy_stream", ptr)

        pool = types.SimpleNamespace(free_all_blocks=lambda: None)
        self.cp = types.SimpleNamespace(
            from_dlpack=lambda t: t, get_default_memory_pool=lambda: pool, __version__="fake",
            cuda=types.SimpleNamespace(ExternalStream=external_stream))

    def record(self, cost, op, stream):
        if self.capturing is not None and stream == self.capturing[1].cuda_stream:
            self.capturing[0].ops.append((cost, op))

    def make_plan(self, xq, wq, xs, ws, bias=None, use_fast_accum=True, out=None):
        assert use_fast_accum and bias is None and xs.shape == (xq.shape[0],) and ws.shape == (wq.shape[0],)
        if xq.shape[0] == self.fail_m:
            raise ValueError(f"config: no kernel for M={self.fail_m}\nsecond line")
        self.plans += 1
        out = out if out is not None else FakeTensor(np.zeros((xq.shape[0], wq.shape[0])))

        def op():
            out.a[...] = (xq.a @ wq.a.T) * xs.a[:, None] * ws.a[None, :]

        return FakePlan(op, out, None if self.misroute else self)


class FakePlan:
    """``plan()`` runs now and is recorded when launched on the capture stream: CuPy's current stream, or,
    for ``world=None`` (a misrouted launch, as a bug would do), a stream nobody captures."""

    def __init__(self, op, out, world):
        self.op, self.out, self.world = op, out, world
        self.config = types.SimpleNamespace(label=lambda: "fake")

    def __call__(self):
        self.op()
        if self.world is not None:
            self.world.record(OURS_S, self.op, self.world.cupy_stream)
        return self.out


@pytest.fixture
def world(monkeypatch):
    from fp8cuda import gemm

    w = FakeWorld()
    monkeypatch.setattr(gemm, "make_plan", w.make_plan)
    return w


def test_rotation_and_timing_per_call(world):
    n, k = 48, 32
    l2 = n * k  # ROTATE_L2 = 4 -> R = 4 copies of N x K; 6 of 16 x 64
    cases = [("8B", m, n, k) for m in (1, 2)] + [("8B", 1, 16, 64)]
    seen = []
    rows = bench_decode.bench_decode(cases, torch=world.torch, cp=world.cp, rep=0.01, rounds=2, l2_bytes=l2,
                                     on_row=lambda r: seen.append(len(r)))
    assert seen == [1, 2, 3] and all("error" not in r for r in rows), rows
    assert [r["copies"] for r in rows] == [4, 4, 6]
    for r in rows:
        assert math.isclose(r["ours_us"], OURS_S * 1e6) and math.isclose(r["torch_us"], TORCH_S * 1e6)
        assert math.isclose(r["ratio"], 2.0) and r["maxrel"] < 1e-12 and r["config"] == "fake"
        assert math.isclose(r["ours_gbs"], r["N"] * r["K"] / OURS_S / 1e9)
    assert world.plans == 4 + 4 + rows[2]["copies"]  # one plan per copy, built before the capture


def test_uncaptured_launches_fail_the_row(world):
    world.misroute = True  # ours launched on another stream than torch's capture stream: nothing captured
    rows = bench_decode.bench_decode([("8B", 1, 48, 32)], torch=world.torch, cp=world.cp, rep=0.01, rounds=1)
    assert "NaN" in rows[0]["error"] and rows[0]["error"].startswith("RuntimeError: fp8cuda")


def test_a_failing_case_is_reported_and_the_sweep_goes_on(world):
    world.fail_m = 2
    rows = bench_decode.bench_decode([("8B", m, 48, 32) for m in (1, 2, 4)], torch=world.torch, cp=world.cp,
                                     rep=0.01, rounds=1, l2_bytes=0)
    assert [("error" in r) for r in rows] == [False, True, False]
    assert rows[1]["error"] == "ValueError: config: no kernel for M=2"  # one line
    assert "FAILED ValueError" in bench_decode.format_table(rows, {"copy_gbs": 4000.0})


def test_decode_step(world, monkeypatch):
    shapes = ((48, 32), (32, 32), (96, 32), (32, 64))
    monkeypatch.setitem(bench_decode.MODELS, "8B", shapes)
    step = bench_decode.decode_step(torch=world.torch, cp=world.cp, layers=3, rep=0.01, rounds=2)
    assert "error" not in step, step
    assert step["gemms"] == 12 and world.plans == 12 and step["weight_bytes"] == 3 * sum(n * k for n, k in shapes)
    assert math.isclose(step["ours_us"], 12 * OURS_S * 1e6) and math.isclose(step["ratio"], 2.0)
    assert step["maxrel"] < 1e-12 and step["configs"] == ["fake"] * 4
    line = bench_decode.format_step(step, {"copy_gbs": 1.0})
    assert "3 layers x 4 GEMMs at M=1" in line and "speedup 2.00" in line
    world.misroute = True
    assert "NaN" in bench_decode.decode_step(torch=world.torch, cp=world.cp, layers=2, rep=0.01)["error"]


# ------------------------------------------------------------------------------------------- CLI, formatting

def test_decode_options():
    p = cli.build_parser()
    args = p.parse_args(["bench", "decode", "--m", "1", "16", "--no-step"])
    assert args.m == [1, 16] and args.no_step and not args.step_only
    args = p.parse_args(["bench", "decode", "--step-only"])
    assert args.step_only and args.m is None and not args.no_step
    assert bench_decode.decode_cases(models=["8B"], ms=args.m or None)[0] == ("8B", 1, 6144, 4096)


@pytest.mark.parametrize("argv", [["bench", "decode", "--m", "0"], ["bench", "decode", "--m", "x"],
                                  ["bench", "decode", "--no-step", "--step-only"]])
def test_bad_decode_options_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2 and "usage:" in capsys.readouterr().err


def test_no_gpu_with_decode_options_is_one_line(monkeypatch, capsys):
    monkeypatch.setitem(__import__("sys").modules, "cupy", None)
    assert cli.main(["bench", "decode", "--step-only", "--m", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "CuPy" in err[0]


def _rows(ratio_small, ratio_large, gbs_small):
    return [dict(model="8B", M=m, N=4096, K=4096, ours_us=1.0, torch_us=1.0, ours_gbs=gbs_small if m <= 16 else 1.0,
                 torch_gbs=1.0, ratio=ratio_small if m <= 16 else ratio_large, maxrel=0.0, copies=13, config="c")
            for m in bench_decode.DECODE_M]


def test_summary_targets_judged_from_numbers():
    s = bench_decode.summarize(_rows(1.9, 1.35, 3700.0), {"copy_gbs": 4000.0})
    assert s["met"] == {"copy_frac_small": True, "geomean_small": True, "geomean_large": True}
    assert (s["n_small"], s["n_large"]) == (5, 3)
    s = bench_decode.summarize(_rows(1.7, 1.35, 3300.0), {"copy_gbs": 4000.0})
    assert s["met"] == {"copy_frac_small": False, "geomean_small": False, "geomean_large": True}
    assert bench_decode.summarize(_rows(1.9, 1.35, 3700.0), {})["met"]["copy_frac_small"] is None
    lines = bench_decode.summary_lines(s)
    assert len(lines) == 4 and lines[1].endswith("(target >= 1.8x: MISSED)") and "met)" in lines[2]


def test_markdown_has_method_summary_and_step(tmp_path):
    rows = _rows(1.9, 1.35, 3700.0) + [dict(model="8B", M=2, N=6144, K=4096, error="RuntimeError: boom")]
    step = dict(model="8B", layers=32, M=1, gemms=128, shapes=[[6144, 4096]], weight_bytes=6979321856,
                ours_us=1900.0, torch_us=2600.0, ours_gbs=3673.3, torch_gbs=2684.4, ratio=1.368, maxrel=1e-3,
                configs=["a", "b", "c", "d"])
    meta = dict(date="2026-11-23 10:00 UTC", device="NVIDIA H200", torch="2.9", cupy="13", l2_bytes=50 * 2**20,
                rep=20, rounds=3)
    text = bench_decode.markdown(meta, {"copy_gbs": 4246.0, "matmul_tflops": 1300.0}, rows, step=step)
    assert text.startswith(bench_decode.BEGIN) and text.rstrip().endswith(bench_decode.END)
    assert "CUDA-graph replay with rotated weights" in text and "(50 MiB)" in text and "NVIDIA H200" in text
    assert "4246 GB/s" in text and "target >= 1.8x: MISSED" in text  # the failed M=2 row misses the M <= 16 targets
    assert "| fp8cuda | 1900.0 | 3673 | 87% |" in text and "Speedup 1.37x" in text
    widths = {line.count("|") for line in text.splitlines() if line.startswith("| 8B |")}
    assert widths == {13}  # failed rows span the same 12 columns
    only_step = bench_decode.markdown(meta, {}, [], step=dict(step, error="OutOfMemoryError: x"))
    assert "failed: OutOfMemoryError" in only_step and "| model |" not in only_step
    path = tmp_path / "benchmarks.md"
    bench_decode.splice_markdown(path, text)
    bench_decode.splice_markdown(path, only_step)
    assert path.read_text().count(bench_decode.BEGIN) == 1 and "Speedup" not in path.read_text()

"""``python -m fp8cuda bench|plot`` on a CPU-only machine: argument parsing, the one-line errors (exit status
2) when CuPy, a GPU or PyTorch is missing, and the figures drawn from small synthetic results."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from fp8cuda import __main__ as cli
from fp8cuda import bench_decode, progress

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------- arguments

def test_parser_accepts_every_sweep_and_option():
    p = cli.build_parser()
    for what in ("quantize", "gemm", "decode", "all"):
        args = p.parse_args(["bench", what, "--quick", "--json", "r.json", "--plot", "r.png"])
        assert (args.command, args.what, args.quick, args.json, args.plot) == ("bench", what, True, "r.json", "r.png")
    args = p.parse_args(["bench", "decode", "--models", "8B", "405B", "--rep", "5", "--rounds", "1"])
    assert args.models == ["8B", "405B"] and args.rep == 5.0 and args.rounds == 1
    args = p.parse_args(["plot", "r.json", "--out", "f.png"])
    assert (args.command, args.results, args.out) == ("plot", "r.json", "f.png")


@pytest.mark.parametrize("argv", [["bench"], ["bench", "matmul"], ["plot", "r.json"], [],
                                  ["bench", "decode", "--models", "7B"], ["bench", "gemm", "--shapes", "1,2"]])
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_parse_shapes():
    assert cli.parse_shapes(["1024,8192,8192", "1,2,16"]) == [(1024, 8192, 8192), (1, 2, 16)]
    with pytest.raises(ValueError, match="M,N,K"):
        cli.parse_shapes(["1,0,16"])


def test_decode_cases_cover_the_llama_shapes():
    cases = bench_decode.decode_cases()
    assert {(n, k) for _, _, n, k in cases} == {nk for nks in bench_decode.MODELS.values() for nk in nks}
    assert sorted({m for _, m, _, _ in cases}) == [1, 2, 4, 8, 16, 32, 64, 128]
    quick = bench_decode.decode_cases(quick=True)
    assert set(quick) <= set(cases) and len(quick) < len(cases)
    with pytest.raises(ValueError, match="7B"):
        bench_decode.decode_cases(models=["7B"])


# ------------------------------------------------------------------------------------------- no GPU

def _run_main(argv, capsys):
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.err.strip().splitlines()


def test_no_cupy_is_one_line_and_exit_2(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy -> ImportError
    code, err = _run_main(["bench", "decode", "--quick"], capsys)
    assert code == 2 and len(err) == 1 and "CuPy" in err[0]


def _fake_cupy(device_count):
    def get_count():
        if isinstance(device_count, Exception):
            raise device_count
        return device_count

    runtime = types.SimpleNamespace(getDeviceCount=get_count)
    return types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime))


@pytest.mark.parametrize("count", [0, RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected\nmore")])
def test_no_gpu_is_one_line_and_exit_2(monkeypatch, capsys, count):
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(count))
    code, err = _run_main(["bench", "gemm"], capsys)
    assert code == 2 and len(err) == 1 and "no CUDA GPU" in err[0]


def test_no_torch_is_one_line_and_exit_2(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(1))
    monkeypatch.setitem(sys.modules, "torch", None)
    code, err = _run_main(["bench", "quantize"], capsys)
    assert code == 2 and len(err) == 1 and "PyTorch" in err[0]


def test_torch_without_gpu_is_one_line_and_exit_2(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(1))
    fake_torch = types.SimpleNamespace(cuda=types.SimpleNamespace(is_available=lambda: False))
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    code, err = _run_main(["bench", "all"], capsys)
    assert code == 2 and len(err) == 1 and "no CUDA GPU" in err[0]


def test_module_entry_point_without_gpu():
    """The real ``python -m fp8cuda`` process: this machine has no GPU (or no CuPy, or no torch)."""
    pytest.importorskip("numpy")
    try:
        import cupy  # noqa: F401
        import torch

        if torch.cuda.is_available():
            pytest.skip("a GPU is present")
    except ImportError:
        pass
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-m", "fp8cuda", "bench", "decode", "--quick"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "fp8cuda.bench", "decode"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr


# ------------------------------------------------------------------------------------------- output

def test_progress_bar_lines_when_not_a_terminal():
    out = io.StringIO()
    bar = progress.Progress(4, "decode", stream=out)
    for i in range(4):
        bar.step(f"case {i}")
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 4 and lines[-1].startswith("decode [") and " 4/4 100% " in lines[-1]
    assert "\r" not in out.getvalue()


def _decode_results():
    rows = []
    for model in ("8B", "70B"):
        for (n, k) in bench_decode.MODELS[model]:
            for m in bench_decode.QUICK_M:
                t_ours, t_torch = (n * k / 2.5e12 + 3e-6) * (1 + m / 512), (n * k / 2.2e12 + 4e-6) * (1 + m / 400)
                rows.append(dict(model=model, M=m, N=n, K=k, ours_us=t_ours * 1e6, torch_us=t_torch * 1e6,
                                 ours_gbs=n * k / t_ours / 1e9, torch_gbs=n * k / t_torch / 1e9,
                                 ours_tflops=2 * m * n * k / t_ours / 1e12, torch_tflops=2 * m * n * k / t_torch / 1e12,
                                 ratio=t_torch / t_ours, maxrel=1e-3, config="64x256x6c1"))
    rows.append(dict(model="405B", M=1, N=18432, K=16384, error="OutOfMemoryError: synthetic"))
    return dict(schema=1, kind="decode", meta=dict(device="Synthetic H200", date="2026-11-22 02:00 UTC"),
                ceilings=dict(copy_gbs=4246.0, copies={"eager copy_": 4246.0}, matmul_tflops=1300.0), rows=rows)


def _gemm_results():
    rows = []
    for (m, n, k) in ((4096, 4096, 4096), (8192, 8192, 8192), (1024, 6144, 4096), (2048, 6144, 4096),
                      (1024, 57344, 8192)):
        rows.append(dict(M=m, N=n, K=k, ours_fast_tflops=900.0 + m / 100, torch_fast_tflops=950.0,
                         ours_slow_tflops=700.0, torch_slow_tflops=800.0, ratio_fast=0.95, ratio_slow=0.9))
    return dict(schema=1, kind="gemm", meta={}, ceilings=dict(matmul_tflops=1300.0), rows=rows)


def _quantize_results():
    rows = [dict(shape=[m, k], M=m, K=k, us=1e-3 * m * k / 1000 + 2.7, gbs=1000.0 + m / 10, compile_us=5.0 + m * k / 1e6,
                 eager_us=20.0 + m * k / 5e5, copy_frac=0.5, vs_compile=2.0, vs_eager=8.0)
            for (m, k) in ((1, 8192), (16, 8192), (1024, 8192), (16384, 16384))]
    return dict(schema=1, kind="quantize", meta={}, ceilings=dict(copy_gbs=4246.0), rows=rows)


def test_decode_table_marks_failures():
    res = _decode_results()
    text = bench_decode.format_table(res["rows"], res["ceilings"])
    assert "FAILED OutOfMemoryError" in text and "% copy" in text
    assert f"over {len(res['rows']) - 1} cases" in text


@pytest.mark.parametrize("make", [_decode_results, _gemm_results, _quantize_results,
                                  lambda: dict(schema=1, kind="all", results=dict(quantize=_quantize_results(),
                                                                                  gemm=_gemm_results(),
                                                                                  decode=_decode_results()))])
def test_plot_from_json(tmp_path, make):
    pytest.importorskip("matplotlib")
    from fp8cuda.plot import plot_results

    path = tmp_path / "results.json"
    path.write_text(json.dumps(make()))
    out = tmp_path / "fig.png"
    assert cli.main(["plot", str(path), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    assert plot_results(json.loads(path.read_text()), tmp_path / "again.svg").stat().st_size > 0


def test_plot_of_legacy_json(tmp_path):
    pytest.importorskip("matplotlib")
    q = _quantize_results()
    legacy = tmp_path / "quantize.json"  # python -m fp8cuda.bench quantize --json
    legacy.write_text(json.dumps(dict(meta=dict(copy_gbs=4246.0, copies={}), rows=q["rows"], geo={})))
    assert cli.main(["plot", str(legacy), "--out", str(tmp_path / "q.png")]) == 0
    rows = tmp_path / "gemm.json"  # python -m fp8cuda.bench gemm --json
    rows.write_text(json.dumps(_gemm_results()["rows"]))
    assert cli.main(["plot", str(rows), "--out", str(tmp_path / "g.png")]) == 0


def test_plot_of_bad_file_is_one_line(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"hello": 1}))
    code, err = _run_main(["plot", str(bad), "--out", str(tmp_path / "x.png")], capsys)
    assert code == 2 and len(err) == 1 and "not a benchmark result" in err[0]
    code, err = _run_main(["plot", str(tmp_path / "missing.json"), "--out", str(tmp_path / "x.png")], capsys)
    assert code == 2 and len(err) == 1


@pytest.mark.parametrize("module", ["fp8cuda.progress", "fp8cuda.bench_decode", "fp8cuda.plot", "fp8cuda.interop"])
def test_docstring_examples(module):
    """The docstring examples of the benchmark, plot and interop modules (fp8cuda/ is not in testpaths)."""
    import doctest
    import importlib

    res = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted > 0


def test_decode_markdown_section_is_spliced(tmp_path):
    res = _decode_results()
    path = tmp_path / "benchmarks.md"
    path.write_text("# Benchmarks\n\n<!-- bench:quantize -->\nkept\n<!-- /bench:quantize -->\n")
    for _ in range(2):  # the second write replaces the first
        bench_decode.splice_markdown(path, bench_decode.markdown(res["meta"], res["ceilings"], res["rows"]))
    text = path.read_text()
    assert text.count("<!-- bench:decode -->") == 1 and "kept" in text
    assert "| 8B | 1 | 6144 x 4096 |" in text and "failed: OutOfMemoryError" in text and "4246 GB/s" in text


def test_alternate_medians_times_every_call_in_changing_orders():
    """bench_gemm's timing loop: every call timed once per round, the median kept, and the order of the calls
    not the same in every round (a fixed order biased the comparison, docs/notes-gemm.md v15)."""
    from fp8cuda.bench_gemm import alternate_medians

    seen = []
    times = {"a": [3.0, 1.0, 2.0], "b": [5.0, 5.0, 4.0], "c": [1.0, 9.0, 8.0], "d": [7.0, 7.0, 7.0]}

    def time_one(key):
        seen.append(key)
        return times[key][sum(1 for k in seen if k == key) - 1]

    med = alternate_medians({k: k for k in times}, 3, time_one)
    assert med == {"a": 2.0, "b": 5.0, "c": 8.0, "d": 7.0}
    rounds = [tuple(seen[4 * r: 4 * r + 4]) for r in range(3)]
    assert all(sorted(r) == sorted(times) for r in rounds)
    assert len(set(rounds)) > 1


def test_alternate_medians_draws_its_orders_per_seed():
    """One shuffled order reused for every shape let a kernel follow the same neighbours everywhere (5% off on
    the device, docs/notes-gemm.md "The harness"): the orders depend on the seed (the shape), reproducibly."""
    from fp8cuda.bench_gemm import alternate_medians

    def orders(seed):
        seen = []
        alternate_medians({k: k for k in "abcdefgh"}, 4, lambda key: seen.append(key) or 1.0, seed=seed)
        return [tuple(seen[8 * r: 8 * r + 8]) for r in range(4)]

    assert orders((4096, 4096, 4096)) == orders((4096, 4096, 4096))
    assert orders((4096, 4096, 4096)) != orders((8192, 8192, 8192))
    # the neighbour each key follows is not the same in every round and shape
    pairs = {(o[i - 1], o[i]) for seed in range(5) for o in orders(seed) for i in range(1, 8)}
    assert len(pairs) > 8 * 2


def test_clock_sampler_parses_nvidia_smi_lines_and_degrades_without_it(monkeypatch):
    import datetime
    import shutil

    from fp8cuda.bench_gemm import ClockSampler

    t, mhz, w = ClockSampler.parse("2026/12/01 17:51:29.125, 1440, 691.32")
    assert (mhz, w) == (1440.0, 691.32)
    assert t == datetime.datetime(2026, 12, 1, 17, 51, 29, 125000).timestamp()
    assert ClockSampler.parse("timestamp, clocks.sm [MHz], power.draw [W]") is None
    assert ClockSampler.parse("2026/12/01 17:51:29.125, [N/A], 691.32") is None
    monkeypatch.setattr(shutil, "which", lambda _: None)
    c = ClockSampler()
    mhz, w = c.mean(0.0, 1e12)
    assert mhz != mhz and w != w  # NaN
    c.close()


def test_clock_sampler_averages_a_window_of_samples(tmp_path, monkeypatch):
    """ClockSampler against a stand-in nvidia-smi that prints a sample every 20 ms (1400 MHz, 650 W before
    the midpoint stamp, 1500 MHz, 700 W after): a window's mean holds only its samples, also after close()."""
    from fp8cuda.bench_gemm import ClockSampler

    args_file = tmp_path / "args.txt"
    fake = tmp_path / "nvidia-smi"
    fake.write_text(f"""#!{sys.executable}
import datetime, sys, time
open({str(args_file)!r}, "w").write(" ".join(sys.argv[1:]))
t_mid = time.time() + 0.3
while True:
    now = time.time()
    mhz, w = (1400, 650.5) if now < t_mid else (1500, 700.5)
    print(datetime.datetime.fromtimestamp(now).strftime("%Y/%m/%d %H:%M:%S.%f")[:-3] + f", {{mhz}}, {{w}}",
          flush=True)
    time.sleep(0.02)
""")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    c = ClockSampler(gpu="0000:19:00.0")
    for _ in range(500):  # the stand-in has started (its midpoint is 0.3 s after that)
        if args_file.exists():
            break
        time.sleep(0.01)
    t0 = time.time()
    time.sleep(0.2)
    first = c.mean(t0, time.time())
    time.sleep(0.4)
    t1 = time.time()
    c.close()
    assert first == (1400.0, 650.5)
    late = c.mean(t1 - 0.15, t1)  # after close: only the later samples
    assert late == (1500.0, 700.5)
    mhz, w = c.mean(t0, t1)
    assert 1400.0 < mhz < 1500.0 and 650.5 < w < 700.5
    assert "--id=0000:19:00.0" in args_file.read_text()


def _gemm_row(m, n, k, ours_f, torch_f, ours_s, torch_s, clock=True):
    r = {"M": m, "N": n, "K": k, "ours_fast_tflops": ours_f, "torch_fast_tflops": torch_f,
         "ratio_fast": ours_f / torch_f, "ours_slow_tflops": ours_s, "torch_slow_tflops": torch_s,
         "ratio_slow": ours_s / torch_s, "slow_over_fast": ours_s / ours_f, "maxrel_fast": 1e-3, "maxrel_slow": 1e-3,
         "config_fast": "ov128x256x4c2", "config_slow": "128x192x5c2"}
    if clock:
        r.update(ours_fast_mhz=1440.0, torch_fast_mhz=1360.0, ours_fast_watts=690.0, torch_fast_watts=692.0,
                 ours_slow_mhz=1500.0, torch_slow_mhz=1300.0, ours_slow_watts=689.0, torch_slow_watts=693.0)
    return r


def test_gemm_markdown_states_warmup_and_clocks():
    from fp8cuda import bench_gemm

    rows = [_gemm_row(8192, 8192, 8192, 1250.0, 1280.0, 1060.0, 1160.0),
            _gemm_row(4096, 4096, 4096, 1100.0, 1000.0, 900.0, 1000.0, clock=False)]
    meta = {"date": "2026-12-01 18:00 UTC", "device": "NVIDIA H200", "torch": "2.11", "cupy": "14.2",
            "rounds": 3, "warmup": 200, "args": "--schedules"}
    text = bench_gemm.markdown(meta, rows)
    assert "after 200 ms of warm-up" in text and "| 8192 | 8192 | 8192 | 1250 | 1280 | 0.98 |" in text
    # the clock means skip rows without samples
    assert "ours fast 1440 MHz at 690 W, torch fast 1360 MHz at 692 W" in text
    assert f"ours / torch {math.sqrt(1250 / 1280 * 1.1):.3f} (fast accumulation)" in text
    assert bench_gemm.clock_summary([rows[1]]) == "No clock samples (nvidia-smi missing)."

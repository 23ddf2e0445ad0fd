"""The conformance runner (``python -m fp8ref check``): verdicts, counterexamples, variants, plugins, JSON."""

from __future__ import annotations

import importlib.util
import inspect
import json
import textwrap
from types import SimpleNamespace as NS

import ml_dtypes
import numpy as np
import pytest

import fp8cuda
from fp8ref import formats, gemm, scale
from fp8ref.__main__ import main
from fp8ref.conformance import BackendUnavailable, Unsupported, load_adapter, run_checks, run_rule
from fp8ref.conformance.adapter_torch import bias_as_bf16, padded_gemm_operands
from fp8ref.conformance.adapters import RefAdapter
from fp8ref.conformance.adapters_gpu import Fp8cudaAdapter
from fp8ref.conformance.runner import select_rules
from fp8ref.testing import RULES, check_rule

BF16 = np.dtype(ml_dtypes.bfloat16)

# A planted bug for the plugin tests: ties rounded away from zero instead of to even. Nudging a tie one
# float64 ulp away from zero moves no other input across a rounding boundary.
HALF_AWAY = textwrap.dedent("""
    import numpy as np
    from fp8ref.formats import encode

    class HalfAway:
        name = "half-away"
        input_dtypes = ("float32",)

        def cast_to_fp8(self, x, fmt, saturate):
            x64 = np.asarray(x, np.float64)
            return encode(np.nextafter(x64, np.copysign(np.inf, x64)), fmt, saturate=saturate)
""")


class NoSaturate(RefAdapter):
    """A cast that ignores ``saturate`` (OCP non-saturating always), as ml_dtypes does."""

    def cast_to_fp8(self, x, fmt, saturate):
        return formats.encode(x, fmt, saturate=False)


class Reciprocal(RefAdapter):
    """A quantizer that multiplies by 1/s instead of dividing by s (S2 forbids it)."""

    def quantize_fp8_per_row(self, x, scale_ub, num_tokens):
        _, s = scale.quantize_fp8_per_row(x, scale_ub, num_tokens)
        x32 = x.astype(np.float32)
        with np.errstate(all="ignore"):
            q = x32 * (np.float32(1) / s[..., None])
        return formats.encode(np.where(np.isnan(q), np.float32(np.nan), q), "e4m3fn", saturate=True), s


class NoBias(RefAdapter):  # a GEMM that drops the bias
    def f8f8bf16_rowwise(self, xq, wq, x_scale, w_scale, bias, use_fast_accum):
        return gemm.f8f8bf16_rowwise(xq, wq, x_scale, w_scale, None, use_fast_accum)


def _rule(name):
    return select_rules([name])[0]


def test_ref_passes_every_rule():
    results = run_checks(RefAdapter(), examples=25)
    assert [r.rule for r in results] == list(RULES)
    assert {r.rule: r.verdict for r in results} == {name: "pass" for name in RULES}


def test_planted_half_away_fails_with_a_minimal_counterexample_and_exit_1(tmp_path, capsys):
    plugin = tmp_path / "half_away.py"
    plugin.write_text(HALF_AWAY)
    out_json = tmp_path / "report.json"
    rc = main(["check", "--backend", f"{plugin}:HalfAway", "--rule", "cast_satfinite", "--rule",
               "cast_nonsaturating", "--examples", "60", "--json", str(out_json)])
    out = capsys.readouterr().out
    assert rc == 1
    report = json.loads(out_json.read_text())
    assert report["backend"] == "half-away" and report["failed"]
    for res in report["results"]:
        assert res["verdict"] == "FAIL", res
        c = res["counterexample"]
        assert c["detail"] == "1 of 1 elements differ"  # shrunk to one element
        # a tie: the expected (even) code and the actual one are neighbours, the actual one farther from 0
        exp, act = int(c["expected"][2:4], 16), int(c["actual"][2:4], 16)
        assert (act & 0x7F) == (exp & 0x7F) + 1 and act & 0x80 == exp & 0x80, c
        assert "non-saturating" in res["variants_tried"] or "saturating" in res["variants_tried"]
        assert "e4m3fn: no variant" in res["note"]  # per format too
    assert "smallest counterexample found" in out and "no documented variant matches" in out
    assert "summary: 0 pass, 0 variant, 2 FAIL" in out


def test_non_saturating_cast_is_reported_as_the_variant():
    res = run_rule(NoSaturate(), _rule("cast_satfinite"), examples=60)
    assert res.verdict == "variant: non-saturating" and not res.failed
    assert "saturate=True" in res.counterexample["input"]  # the rule's own counterexample is kept
    assert run_rule(NoSaturate(), _rule("cast_nonsaturating"), examples=30).verdict == "pass"
    verdict = check_rule(NoSaturate(), "cast_satfinite", 30, accept_variants=("non-saturating",))
    assert verdict == "variant: non-saturating"
    with pytest.raises(AssertionError, match=r"variant: non-saturating .*smallest counterexample: input"):
        check_rule(NoSaturate(), "cast_satfinite", 30)


class TorchLike(RefAdapter):
    """What torch 2.13's CPU ``Tensor.to`` was measured to do: e4m3fn saturates (inf too), e4m3fnuz and e5m2
    do not, and an e5m2 NaN is 0x7F|S where F4 says 0x7E|S."""

    def cast_to_fp8(self, x, fmt, saturate):
        codes = formats.encode(x, fmt, saturate=fmt == "e4m3fn")
        if fmt == "e5m2":
            codes = np.where(np.isnan(x.astype(np.float32)), codes | np.uint8(1), codes).astype(np.uint8)
        return codes


def test_variants_are_named_per_format_when_formats_differ():
    res = run_rule(TorchLike(), _rule("cast_satfinite"), examples=40)
    assert res.verdict == "variant: e4m3fnuz non-saturating; e5m2 non-saturating, other NaN code", res
    assert "e4m3fn: the rule" in res.note
    res = run_rule(TorchLike(), _rule("cast_nonsaturating"), examples=40)
    assert res.verdict == "variant: e4m3fn saturating; e5m2 other NaN code", res
    assert check_rule(TorchLike(), "cast_nonsaturating", 40, accept_variants=("saturating", "other NaN code"))
    with pytest.raises(AssertionError, match="e4m3fn saturating"):
        check_rule(TorchLike(), "cast_nonsaturating", 40, accept_variants=("other NaN code",))


def test_ml_dtypes_report(capsys, tmp_path):
    assert main(["check", "--backend", "ml_dtypes", "--examples", "40", "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    verdicts = {r["rule"]: r["verdict"] for r in json.loads((tmp_path / "r.json").read_text())["results"]}
    assert verdicts["decode"] == verdicts["cast_nonsaturating"] == "pass"
    assert verdicts["cast_satfinite"] == "variant: non-saturating"
    assert verdicts["quantize_per_row"] == verdicts["gemm_rowwise_fast_accum"] == "n/a"
    assert "matches the documented variant 'non-saturating'" in out
    assert "summary: 2 pass, 1 variant, 0 FAIL, 10 n/a of 13 rules" in out


def test_reciprocal_quantizer_and_dropped_bias_fail():
    res = run_rule(Reciprocal(), _rule("quantize_per_row_division"), examples=50)
    assert res.failed and "code(s) differ; the scales agree" in res.counterexample["detail"]
    res = run_rule(NoBias(), _rule("gemm_rowwise_slow_accum"), examples=100)
    assert res.failed and "bias[" in res.counterexample["input"]
    assert "M=1 N=1 K=16" in res.counterexample["input"]  # shrunk to the smallest shape


def test_numba_backend_small():
    """The prototypes (in Numba's simulator on a CPU machine; conftest sets NUMBA_ENABLE_CUDASIM)."""
    pytest.importorskip("numba")
    adapter = load_adapter("numba")
    rules = ["cast_satfinite", "cast_nonsaturating", "quantize_per_row", "quantize_per_row_edge_cases",
             "quantize_per_row_num_tokens", "quantize_per_row_division", "quantize_per_tensor",
             "gemm_rowwise_fast_accum"]
    verdicts = {r.rule: r.verdict for r in run_checks(adapter, examples=8, rules=rules)}
    assert verdicts == dict(zip(rules, ["pass"] * 6 + ["n/a"] * 2))


def test_plugin_from_a_module_path(tmp_path, monkeypatch):
    (tmp_path / "my_fp8_plugin.py").write_text(HALF_AWAY + "\nINSTANCE = HalfAway()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_adapter("my_fp8_plugin:HalfAway").name == "half-away"
    assert load_adapter("my_fp8_plugin:INSTANCE").name == "half-away"
    with pytest.raises(ValueError, match="no attribute 'Nope'"):
        load_adapter("my_fp8_plugin:Nope")
    with pytest.raises(ValueError, match="unknown backend"):
        load_adapter("no-such-backend")


def test_json_output(tmp_path):
    path = tmp_path / "ref.json"
    assert main(["check", "--backend", "ref", "--examples", "5", "--seed", "7", "--rule", "decode",
                 "--rule", "gemm_rowwise_fast_accum", "--json", str(path)]) == 0
    report = json.loads(path.read_text())
    assert report["backend"] == "ref" and report["seed"] == 7 and report["failed"] is False
    assert [r["rule"] for r in report["results"]] == ["decode", "gemm_rowwise_fast_accum"]
    r = report["results"][1]
    assert r["spec"] == "G2 B3" and r["verdict"] == "pass" and r["examples"] == 5 and r["counterexample"] is None


def test_cli_errors_exit_2(capsys):
    assert main(["check", "--backend", "no-such-backend"]) == 2
    if importlib.util.find_spec("cupy") is None:
        assert main(["check", "--backend", "fp8cuda"]) == 2
        assert "needs CuPy" in capsys.readouterr().err
    assert main(["check", "--rule", "no_such_rule", "--examples", "1"]) == 2
    assert "unknown rule" in capsys.readouterr().err
    assert main(["check", "--list-rules"]) == 0
    assert "cast_satfinite" in capsys.readouterr().out


def test_torch_adapter_without_torch(capsys):
    try:
        import torch  # noqa: F401
    except ImportError:
        with pytest.raises(BackendUnavailable, match="PyTorch"):
            load_adapter("torch")
        assert main(["check", "--backend", "torch"]) == 2
        assert "not available here" in capsys.readouterr().err
    # the pure-NumPy padding for torch._scaled_mm keeps the exact result
    rng = np.random.default_rng(0)
    xq, wq = rng.integers(0, 0x7E, (3, 20)).astype(np.uint8), rng.integers(0, 0x7E, (5, 20)).astype(np.uint8)
    xs, ws, bias = np.float32([1, 2, 3]), np.float32([1, 0.5, 2, 4, 8]), np.float32([1, 2, 3, 4, 0.5])
    pxq, pwq, pxs, pws, pb = padded_gemm_operands(xq, wq, xs, ws, bias_as_bf16(bias))
    assert pxq.shape == (16, 32) and pwq.shape == (16, 32) and pb.dtype == BF16 and pb.shape == (16,)
    y = gemm.f8f8bf16_rowwise(pxq, pwq, pxs, pws, pb)[:3, :5]
    np.testing.assert_array_equal(y, gemm.f8f8bf16_rowwise(xq, wq, xs, ws, bias))
    with pytest.raises(Unsupported):
        bias_as_bf16(np.float32([1 + 2 ** -20]))


def test_unsupported_examples_give_na_and_a_crash_is_a_failure():
    class Picky(RefAdapter):
        def cast_to_fp8(self, x, fmt, saturate):
            raise Unsupported("nothing")

        def cast_from_fp8(self, codes, fmt):
            raise RuntimeError("kernel launch failed")

    assert run_rule(Picky(), _rule("cast_satfinite"), examples=10).verdict == "n/a"
    with pytest.raises(AssertionError, match="RuntimeError: kernel launch failed"):
        check_rule(Picky(), "decode", 5)


def test_torch_cpu_casts_when_installed():
    """Whatever the installed torch does with overflow and NaN, its casts match the rule or a variant."""
    pytest.importorskip("torch")
    rules = ["decode", "cast_satfinite", "cast_nonsaturating"]
    results = run_checks(load_adapter("torch-cpu"), examples=30, rules=rules)
    assert not any(r.failed for r in results), [(r.rule, r.verdict, r.counterexample) for r in results]


def test_fp8cuda_adapter_plumbing_on_the_cpu():
    """The fp8cuda adapter's calls bind to fp8cuda's real signatures and its conversions round-trip: with fp8cuda's
    functions replaced by fp8ref's (CuPy by NumPy) every rule passes. On a GPU: ``check --backend fp8cuda``."""
    def via(real, ref):
        def call(*args, **kwargs):
            bound = inspect.signature(real).bind(*args, **kwargs)  # a TypeError if the adapter calls it wrongly
            return ref(*bound.args, **bound.kwargs)
        return call

    names = ["cast_to_fp8", "cast_from_fp8"] + [f"quantize_fp8_per_{k}" for k in ("row", "tensor", "block")]
    refs = [formats.encode, formats.decode] + [getattr(scale, n) for n in names[2:]]
    fake = NS(**{n: via(getattr(fp8cuda, n), r) for n, r in zip(names, refs)})
    adapter = Fp8cudaAdapter.__new__(Fp8cudaAdapter)
    adapter.cp, adapter.fp8cuda, adapter.bf16 = NS(asarray=np.asarray, asnumpy=np.asarray), fake, BF16
    adapter.gemm = via(fp8cuda.f8f8bf16_rowwise, RefAdapter().f8f8bf16_rowwise)
    results = run_checks(adapter, examples=10)
    assert {r.rule: r.verdict for r in results} == {
        name: "n/a" if name.startswith("gemm_tensorwise") else "pass" for name in RULES}


class SplitK(RefAdapter):
    """A split-K GEMM: the model accumulator (the H200's where measured) per split of 64 K (fast) or 128 K (slow),
    split results added in float32 in order, a float32 epilogue; ``gemm_k_split`` tells the rules so."""

    def __init__(self):
        self.calls = []

    @staticmethod
    def _k_split(k, fast):
        step = 64 if fast else 128
        return tuple(range(step, k, step)) or None

    def gemm_k_split(self, m, n, k, use_fast_accum):
        self.calls.append((m, n, k, use_fast_accum))
        return self._k_split(k, use_fast_accum)

    def _acc(self, xq, wq, fast):
        return gemm.emulate_accumulator(xq, wq, use_fast_accum=fast, k_split=self._k_split(xq.shape[1], fast))

    def f8f8bf16_rowwise(self, xq, wq, x_scale, w_scale, bias, use_fast_accum):
        b = np.zeros(wq.shape[0], np.float32) if bias is None else bias.astype(np.float32)
        with np.errstate(over="ignore", invalid="ignore"):
            return (self._acc(xq, wq, use_fast_accum) * x_scale[:, None] * w_scale + b).astype(BF16)

    def f8f8bf16(self, xq, wq, scale_, use_fast_accum):
        with np.errstate(over="ignore", invalid="ignore"):
            return (self._acc(xq, wq, use_fast_accum) * scale_).astype(BF16)


class BadSplit(RefAdapter):
    """The reference GEMM with a hook that answers boundaries B4 refuses (not a multiple of 32)."""

    def gemm_k_split(self, m, n, k, use_fast_accum):
        return (8,)


def test_gemm_rules_use_the_adapter_k_split_hook():
    rules = [r for r in RULES if r.startswith("gemm_")]
    adapter = SplitK()
    assert {r.rule: r.verdict for r in run_checks(adapter, examples=8, rules=rules)} == dict.fromkeys(rules, "pass")
    assert {fast for _, _, _, fast in adapter.calls} == {True, False}
    assert any(k > 128 for _, _, k, _ in adapter.calls)  # some examples were split in both modes
    # the hook's answer reaches the bound of both GEMM rules: boundaries that break B4 fail, naming k_split
    for rule in ("gemm_rowwise_fast_accum", "gemm_tensorwise_slow_accum"):
        res = run_rule(BadSplit(), _rule(rule), examples=5)
        assert res.failed and "ValueError: k_split" in res.counterexample["actual"], res

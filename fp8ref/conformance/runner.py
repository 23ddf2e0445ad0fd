"""Run the rules against an adapter with Hypothesis and collect verdicts.

Each rule runs as a ``hypothesis.given`` property (no example database, derandomized unless a seed is
given, no deadline, quiet). Hypothesis replays the shrunk, minimal failing example last, so the last
failure recorded by the property is the counterexample reported. A failing rule with ``variants`` is run
again against each variant's expected function; the first variant that passes is the verdict.

Verdicts: ``pass``; ``FAIL`` (with the counterexample); ``variant: <name>`` (the backend implements another
documented behaviour; not a failure); ``n/a`` (the adapter lacks the method, or takes none of the examples).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass, field

from hypothesis import HealthCheck, Phase, Verbosity, given, reject, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import FailedHealthCheck, Unsatisfiable

from .rules import Mismatch, Rule, Unsupported, adapter_formats, all_rules

PASS, FAIL, NA = "pass", "FAIL", "n/a"


@dataclass
class Result:
    rule: str
    spec: str
    verdict: str
    examples: int = 0  # property calls, shrinking included
    seconds: float = 0.0
    counterexample: dict | None = None  # input, expected, actual, detail
    note: str = ""
    variants_tried: list = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.verdict == FAIL

    def as_dict(self) -> dict:
        return asdict(self)


def _counterexample(err: BaseException) -> dict:
    if isinstance(err, Mismatch):
        return err.as_dict()
    return {"input": getattr(err, "fp8ref_input", "?"), "expected": "no exception",
            "actual": f"{type(err).__name__}: {err}", "detail": ""}


def _run(adapter, rule: Rule, examples: int, seed, expected=None, shrink: bool = True):
    """(n_calls, n_run, last failure or None, exception raised by Hypothesis or None). ``shrink=False`` for
    the runs that only decide pass or fail (variants): they stop at the first failure."""
    state = {"calls": 0, "run": 0, "failure": None}

    def prop(example):
        state["calls"] += 1
        try:
            rule.check(adapter, example, expected)
        except Unsupported:
            reject()
        except BaseException as err:  # noqa: BLE001 - an adapter's crash is a failure of the rule
            if not isinstance(err, Mismatch):
                err.fp8ref_input = _short(example)
            state["failure"] = err
            raise
        state["run"] += 1

    test = given(rule.strategy(adapter))(prop)
    phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if shrink else [])
    test = settings(max_examples=examples, database=None, deadline=None, derandomize=seed is None,
                    verbosity=Verbosity.quiet, print_blob=False, suppress_health_check=list(HealthCheck),
                    phases=phases)(test)
    if seed is not None:
        test = hypothesis_seed(seed)(test)
    error = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            test()
        except (Unsatisfiable, FailedHealthCheck) as err:
            error = err
        except KeyboardInterrupt:
            raise
        except BaseException as err:  # noqa: BLE001
            if state["failure"] is None:
                raise
            error = err
    return state["calls"], state["run"], state["failure"], error


def _short(example, limit: int = 300) -> str:
    text = repr(example)
    return text if len(text) <= limit else text[:limit] + " ..."


class _OneFormat:
    """``adapter`` restricted to one FP8 format (the rules draw formats from ``adapter.formats``)."""

    def __init__(self, adapter, fmt: str):
        self._adapter, self.formats = adapter, (fmt,)

    def __getattr__(self, name):
        return getattr(self._adapter, name)


def _matching_variant(adapter, rule: Rule, examples: int, seed, res: Result):
    """(name, calls) of the first variant that passes every example, or (None, 0)."""
    for name, fn in rule.variants:
        res.variants_tried.append(name)
        calls, _, failure, _ = _run(adapter, rule, examples, seed, fn, shrink=False)
        if failure is None:
            return name, calls
    return None, 0


def _name_variant(adapter, rule: Rule, examples: int, seed, res: Result) -> None:
    """Set ``res.verdict`` to the variant the backend matches: one for all formats, else one per format (a
    backend may saturate in one format and not in another); FAIL stays where a format matches none."""
    name, calls = _matching_variant(adapter, rule, examples, seed, res)
    if name is not None:
        res.verdict, res.examples = f"variant: {name}", calls
        res.note = f"matches the documented variant '{name}' on all {calls} examples"
        return
    fmts = [f.name for f in adapter_formats(adapter)]
    if len(fmts) < 2:
        return
    per_format = {}
    for fmt in fmts:
        one = _OneFormat(adapter, fmt)
        if _run(one, rule, examples, seed, shrink=False)[2] is None:
            per_format[fmt] = "the rule"
        else:
            per_format[fmt] = _matching_variant(one, rule, examples, seed, Result("", "", ""))[0]
    res.variants_tried = sorted(set(res.variants_tried))
    text = "; ".join(f"{f}: {v or 'no variant'}" for f, v in per_format.items())
    if all(per_format.values()):
        res.verdict = "variant: " + "; ".join(f"{f} {v}" for f, v in per_format.items() if v != "the rule")
        res.note = f"per format, on {examples} examples each: {text}"
    else:
        res.note = f"per format: {text}"


def run_rule(adapter, rule: Rule, examples: int = 100, seed=None) -> Result:
    """Run one rule (see the module docstring for the verdicts)."""
    if getattr(adapter, rule.method, None) is None:
        why = getattr(adapter, "na_reasons", {}).get(rule.method, f"the adapter has no {rule.method}")
        return Result(rule.name, rule.spec, NA, note=why)
    t0 = time.perf_counter()
    calls, run, failure, error = _run(adapter, rule, examples, seed)
    res = Result(rule.name, rule.spec, PASS, calls)
    if failure is not None:
        res.verdict, res.counterexample = FAIL, _counterexample(failure)
        if rule.variants and isinstance(failure, Mismatch):
            _name_variant(adapter, rule, examples, seed, res)
    elif run == 0 or error is not None:
        why = type(error).__name__ if error else "all skipped"
        res.verdict, res.note = NA, f"the adapter took none of the examples ({why})"
    res.seconds = time.perf_counter() - t0
    return res


def select_rules(names=None) -> list:
    rules = list(all_rules())
    if not names:
        return rules
    by_name = {r.name: r for r in rules}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ValueError(f"unknown rule(s) {', '.join(unknown)}: expected some of {', '.join(by_name)}")
    return [by_name[n] for n in names]


def run_checks(adapter, examples: int = 100, seed=None, rules=None, progress=None) -> list:
    """Run ``rules`` (names; default all) against ``adapter``: a list of Result in report order."""
    out = []
    for rule in select_rules(rules):
        out.append(run_rule(adapter, rule, examples, seed))
        if progress:
            progress(out[-1])
    return out

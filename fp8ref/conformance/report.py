"""``python -m fp8ref check``: run the rules against a backend, print the table, write JSON, set the exit status.

Exit status: 0 when no rule fails (pass, variant or n/a), 1 when any rule FAILs, 2 when the backend cannot
run here (missing package or GPU) or the arguments are wrong.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import textwrap

import numpy as np

from .adapters import BACKENDS, BackendUnavailable, load_adapter
from .rules import all_rules
from .runner import FAIL, NA, PASS, run_checks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", default="ref",
                        help=f"{', '.join(BACKENDS)}, or a plugin: package.module:Adapter or path/to/file.py:Adapter")
    parser.add_argument("--examples", type=int, default=100, help="Hypothesis examples per rule (default 100)")
    parser.add_argument("--seed", type=int, default=None, help="Hypothesis seed (default: derandomized)")
    parser.add_argument("--rule", action="append", dest="rules", metavar="NAME",
                        help="run only this rule (repeatable); --list-rules lists them")
    parser.add_argument("--list-rules", action="store_true", help="list the rules and exit")
    parser.add_argument("--json", metavar="FILE", help="also write the full results as JSON to FILE")


def format_table(adapter, results, examples: int, seed) -> str:
    lines = [f"fp8ref conformance check: backend {adapter.name}"
             + (f" ({adapter.description})" if getattr(adapter, "description", "") else ""),
             f"{examples} Hypothesis examples per rule, " + ("derandomized" if seed is None else f"seed {seed}"), ""]
    width = max(len(r.rule) for r in results)
    vwidth = max(12, *(len(r.verdict) for r in results))
    lines.append(f"{'rule':{width}}  {'spec':9}  {'verdict':{vwidth}}  {'examples':>8}  {'time':>7}")
    for r in results:
        ex = str(r.examples) if r.verdict != NA else "-"
        lines.append(f"{r.rule:{width}}  {r.spec:9}  {r.verdict:{vwidth}}  {ex:>8}  {r.seconds:6.2f}s"
                     + (f"  {r.note}" if r.verdict == NA else ""))
    shown = [r for r in results if r.counterexample]
    for r in shown:
        c = r.counterexample
        head = "FAIL" if r.failed else f"{r.verdict} (fails the rule itself)"
        lines += ["", f"{r.rule} [{r.spec}] {head}; smallest counterexample found:"]
        for key in ("input", "expected", "actual", "detail"):
            if c.get(key):
                lines += textwrap.wrap(f"{key}: {c[key]}", 110, initial_indent="  ", subsequent_indent="      ")
        if r.variants_tried and r.failed:
            lines.append(f"  no documented variant matches either (tried: {', '.join(r.variants_tried)})")
        elif r.note and not r.failed:
            lines.append(f"  {r.note}")
    counts = {v: sum(r.verdict == v for r in results) for v in (PASS, FAIL, NA)}
    n_var = sum(r.verdict.startswith("variant") for r in results)
    lines += ["", f"summary: {counts[PASS]} pass, {n_var} variant, {counts[FAIL]} FAIL, {counts[NA]} n/a"
              f" of {len(results)} rules"]
    return "\n".join(lines)


def to_json(adapter, results, examples: int, seed) -> dict:
    import hypothesis

    return {"backend": adapter.name, "description": getattr(adapter, "description", ""), "examples": examples,
            "seed": seed, "hypothesis": hypothesis.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "failed": any(r.failed for r in results),
            "results": [r.as_dict() for r in results]}


def check_main(args, out=None, err=None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    if args.list_rules:
        for r in all_rules():
            print(f"{r.name:34} {r.spec:9} {r.method:24} {r.summary}", file=out)
        return 0
    if args.examples < 1:
        print("fp8ref check: --examples must be at least 1", file=err)
        return 2
    try:
        adapter = load_adapter(args.backend)
    except BackendUnavailable as e:
        print(f"fp8ref check: backend {args.backend!r} is not available here: {e}", file=err)
        return 2
    except (ValueError, ImportError, OSError) as e:
        print(f"fp8ref check: cannot load backend {args.backend!r}: {e}", file=err)
        return 2
    try:
        results = run_checks(adapter, args.examples, args.seed, args.rules)
    except ValueError as e:
        print(f"fp8ref check: {e}", file=err)
        return 2
    print(format_table(adapter, results, args.examples, args.seed), file=out)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(to_json(adapter, results, args.examples, args.seed), f, indent=2)
    return 1 if any(r.failed for r in results) else 0

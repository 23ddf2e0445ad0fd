"""Conformance runner: the rules of docs/spec.md checked against any backend through a small adapter.

``python -m fp8ref check --backend NAME`` (``report``) runs every rule (``rules``, ``rules_scale``,
``rules_gemm``) with Hypothesis (``runner``) against an adapter (``adapters``: the protocol, ``ref``,
``ml_dtypes``; ``adapters_gpu``: ``numba``, ``fp8cuda``; ``adapter_torch``: ``torch``). Guide:
docs/testing-your-backend.md. Requires ``hypothesis``.
"""

from .adapters import BACKENDS, Adapter, BackendUnavailable, load_adapter
from .rules import Mismatch, Rule, Unsupported, all_rules
from .runner import Result, run_checks, run_rule

__all__ = ["Adapter", "BACKENDS", "BackendUnavailable", "Mismatch", "Result", "Rule", "Unsupported", "all_rules",
           "load_adapter", "run_checks", "run_rule"]

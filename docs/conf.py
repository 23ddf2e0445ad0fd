"""Sphinx configuration: the fp8ref / fp8cuda documentation site (MyST Markdown + autodoc).

Build (what .ci/run runs, warnings are errors):  python -m sphinx -W --keep-going -b html docs /tmp/fp8-docs
Needs the ``docs`` extra (sphinx, myst-parser, matplotlib). No GPU, CuPy or PyTorch: fp8cuda imports without
them and the API pages only read docstrings.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # document the checkout, installed or not

project = "fp8ref / fp8cuda"
author = "fp8ref contributors"
copyright = "2026, fp8ref contributors"  # noqa: A001 - Sphinx's name
release = version = "0.1.0"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "results/*.log", "**/.ipynb_checkpoints"]

myst_enable_extensions = ["colon_fence", "substitution"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
autodoc_typehints = "description"
autodoc_mock_imports = ["cupy", "torch", "triton"]  # never needed to read docstrings
autosummary_generate = False  # summary tables only; the entries are the automodule pages in api/

html_theme = "alabaster"
html_title = "fp8ref / fp8cuda"
html_theme_options = {"description": "FP8 executable specification and Hopper kernels", "page_width": "1100px",
                      "body_max_width": "none"}


def _plot_figures() -> str:
    """MyST for every figure under docs/img/ (plots.md shows them; no figure yet -> a sentence)."""
    figs = sorted((HERE / "img").glob("*.png")) + sorted((HERE / "img").glob("*.svg"))
    if not figs:
        return "*No figure has been generated yet: see the commands above.*"
    blocks = []
    for f in figs:
        caption = f.stem.replace("-", " ").replace("_", " ")
        blocks.append(f"```{{figure}} img/{f.name}\n:width: 100%\n:alt: {caption}\n\n{caption}\n```")
    return "\n\n".join(blocks)


myst_substitutions = {"plot_figures": _plot_figures()}


def _escape_bars(app, what, name, obj, options, lines):
    """Docstrings write absolute values as ``|x|`` (plain text, as in the code's comments); reStructuredText
    would read ``|x|`` as a substitution. Escape bars outside inline literals (docstrings hold no RST tables)."""
    for i, line in enumerate(lines):
        parts = line.split("``")
        lines[i] = "``".join(p.replace("|", "\\|") if j % 2 == 0 else p for j, p in enumerate(parts))


def setup(app):
    app.connect("autodoc-process-docstring", _escape_bars)
    return {"parallel_read_safe": True}

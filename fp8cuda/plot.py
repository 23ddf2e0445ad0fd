"""Figures from benchmark results: ``python -m fp8cuda plot results.json --out FILE.png`` (no GPU).

Reads what ``python -m fp8cuda bench ... --json`` writes (also the older ``python -m fp8cuda.bench quantize
--json`` object and the ``bench_gemm --json`` row list) and draws, against M (log scale):

* decode: weight-read GB/s, one panel per Llama-3 size, one colour per weight shape [N, K], fp8cuda solid,
  ``torch._scaled_mm`` dashed; the device copy bandwidth as a horizontal line;
* gemm: TFLOP/s with fast accumulation, one panel per model (squares, 8B, 70B, 405B), the matmul peak drawn;
* quantize: GB/s of fp8cuda, torch.compile and eager torch per shape, the copy bandwidth drawn;
* all: the three, one row each.

matplotlib is imported only here and only when drawing (the object-oriented API on the Agg canvas: no
global backend is changed).
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["load_results", "normalize", "plot_results"]

_LLAMA = {(6144, 4096): "8B", (4096, 4096): "8B", (28672, 4096): "8B", (4096, 14336): "8B",
          (10240, 8192): "70B", (8192, 8192): "70B", (57344, 8192): "70B", (8192, 28672): "70B",
          (18432, 16384): "405B", (16384, 16384): "405B", (106496, 16384): "405B", (16384, 53248): "405B"}
_LAYER = ("QKV", "attn out", "gate+up", "down")


def load_results(path) -> dict:
    """Read a results file and return it in the current form (``normalize``)."""
    return normalize(json.loads(Path(path).read_text()))


def normalize(obj) -> dict:
    """``{"kind": ..., "meta": {...}, "ceilings": {...}, "rows": [...]}`` (or ``kind == "all"`` with
    ``results``) from any JSON the benchmarks write; ValueError for anything else.

    >>> normalize([{"M": 4096, "N": 4096, "K": 4096, "ours_fast_tflops": 1.0, "torch_fast_tflops": 1.0}])["kind"]
    'gemm'
    """
    if isinstance(obj, list):  # python -m fp8cuda.bench gemm --json: the rows
        if obj and isinstance(obj[0], dict) and "ours_fast_tflops" in obj[0]:
            return dict(kind="gemm", meta={}, ceilings={}, rows=obj)
        raise ValueError("a JSON list that is not GEMM benchmark rows")
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    if obj.get("kind") == "all":
        return dict(obj, results={k: normalize(v) for k, v in obj.get("results", {}).items()})
    if obj.get("kind") in ("decode", "gemm", "quantize"):
        return dict(dict(meta={}, ceilings={}, rows=[]), **obj)
    if "rows" in obj and "geo" in obj:  # python -m fp8cuda.bench quantize --json
        meta = obj.get("meta", {})
        ceil = {k: meta[k] for k in ("copy_gbs", "copies") if k in meta}
        rows = [dict(r, M=r["shape"][0], K=r["shape"][1]) for r in obj["rows"]]
        return dict(kind="quantize", meta=meta, ceilings=ceil, rows=rows)
    raise ValueError("not a benchmark result: no 'kind' (decode, gemm, quantize, all)")


def _subtitle(res) -> str:
    meta = res.get("meta", {})
    return " ".join(x for x in (meta.get("device", ""), meta.get("date", "")) if x)


def _ceiling(ax, value, label, color="0.35"):
    if value:
        ax.axhline(value, color=color, linestyle=":", linewidth=1.5, label=f"{label} {value:.0f}")


def _legend(ax, loc="lower center"):
    """Colour = shape (the fp8cuda lines' labels), line style = library (two proxy entries), ceilings."""
    from matplotlib.lines import Line2D

    handles, labels = ax.get_legend_handles_labels()
    keep = [(h, lab) for h, lab in zip(handles, labels) if not lab.startswith("_")]
    proxies = [(Line2D([], [], color="k", marker="o", linestyle="-"), "fp8cuda"),
               (Line2D([], [], color="k", marker="x", linestyle="--"), "torch")]
    pairs = keep + proxies
    ax.legend([h for h, _ in pairs], [lab for _, lab in pairs], fontsize=6, loc=loc, ncol=2)


def _style_x(ax, ms):
    ax.set_xscale("log", base=2)
    ms = sorted(set(ms))
    if ms and len(ms) <= 12:
        ax.set_xticks(ms)
        ax.set_xticklabels([str(m) for m in ms])
    ax.set_xlabel("M (rows of the activation)")
    ax.grid(True, which="major", alpha=0.3)


def _draw_decode(fig, res):
    rows = [r for r in res["rows"] if "error" not in r]
    models = [m for m in ("8B", "70B", "405B") if any(r["model"] == m for r in rows)]
    models += sorted({r["model"] for r in rows} - set(models))
    axes = fig.subplots(1, max(len(models), 1), sharey=True, squeeze=False)[0]
    copy = res.get("ceilings", {}).get("copy_gbs")
    for ax, model in zip(axes, models):
        mine = [r for r in rows if r["model"] == model]
        shapes = list(dict.fromkeys((r["N"], r["K"]) for r in mine))
        for i, (n, k) in enumerate(shapes):
            pts = sorted((r["M"], r["ours_gbs"], r["torch_gbs"]) for r in mine if (r["N"], r["K"]) == (n, k))
            color = f"C{i}"
            layer = _LAYER[i] + " " if len(shapes) == 4 else ""
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color=color, label=f"{layer}{n}x{k}")
            ax.plot([p[0] for p in pts], [p[2] for p in pts], "x--", color=color, label="_torch")
        _ceiling(ax, copy, "copy bandwidth GB/s")
        _style_x(ax, [r["M"] for r in mine])
        ax.set_ylim(bottom=0, top=max([copy or 0] + [r["ours_gbs"] for r in mine] + [r["torch_gbs"] for r in mine]) * 1.08)
        ax.set_title(f"Llama-3 {model}")
        _legend(ax)
    axes[0].set_ylabel("weight-read GB/s (N K bytes / time)")
    if not models:
        axes[0].text(0.5, 0.5, "no rows", ha="center", transform=axes[0].transAxes)
    fig.suptitle(f"decode: row-wise FP8 GEMM, fp8cuda vs torch._scaled_mm (fast accum.)  {_subtitle(res)}",
                 fontsize=9)


def _draw_gemm(fig, res):
    rows = res["rows"]

    def group(r):
        if r["M"] == r["N"] == r["K"] and (r["N"], r["K"]) not in _LLAMA:
            return "square"
        return _LLAMA.get((r["N"], r["K"]), "other")

    groups = [g for g in ("square", "8B", "70B", "405B", "other") if any(group(r) == g for r in rows)]
    axes = fig.subplots(1, max(len(groups), 1), sharey=True, squeeze=False)[0]
    peak = res.get("ceilings", {}).get("matmul_tflops")
    for ax, g in zip(axes, groups):
        mine = [r for r in rows if group(r) == g]
        keys = list(dict.fromkeys(("MNK" if g == "square" else (r["N"], r["K"])) for r in mine))
        for i, key in enumerate(keys):
            pts = sorted((r["M"], r["ours_fast_tflops"], r["torch_fast_tflops"]) for r in mine
                         if (("MNK" if g == "square" else (r["N"], r["K"])) == key))
            name = "M=N=K" if key == "MNK" else f"{key[0]}x{key[1]}"
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color=f"C{i}", label=name)
            ax.plot([p[0] for p in pts], [p[2] for p in pts], "x--", color=f"C{i}", label="_torch")
        _ceiling(ax, peak, "matmul peak TFLOP/s")
        _style_x(ax, [r["M"] for r in mine])
        top = max([peak or 0] + [r["ours_fast_tflops"] for r in mine] + [r["torch_fast_tflops"] for r in mine])
        ax.set_ylim(bottom=0, top=top * 1.08)
        ax.set_title("square" if g == "square" else f"Llama-3 {g} weights" if g != "other" else "other")
        _legend(ax)
    axes[0].set_ylabel("TFLOP/s (2 M N K / time)")
    fig.suptitle(f"gemm: row-wise FP8, fp8cuda vs torch._scaled_mm (fast accum.)  {_subtitle(res)}", fontsize=9)


def _draw_quantize(fig, res):
    rows = res["rows"]
    ax = fig.subplots(1, 1)
    xs = [r["M"] for r in rows]
    nbytes = [r["M"] * r["K"] * 3 + r["M"] * 4 for r in rows]
    ax.plot(xs, [r["gbs"] for r in rows], "o", color="C0", label="fp8cuda")
    ax.plot(xs, [b / (r["compile_us"] * 1e-6) / 1e9 for b, r in zip(nbytes, rows)], "s", color="C1",
            label="torch.compile")
    ax.plot(xs, [b / (r["eager_us"] * 1e-6) / 1e9 for b, r in zip(nbytes, rows)], "x", color="C2", label="torch eager")
    for r in rows:
        ax.annotate(f"K={r['K']}", (r["M"], r["gbs"]), textcoords="offset points", xytext=(4, 4), fontsize=6)
    _ceiling(ax, res.get("ceilings", {}).get("copy_gbs"), "copy bandwidth GB/s")
    _style_x(ax, xs)
    ax.set_yscale("log")
    ax.set_ylabel("GB/s (bf16 read + codes and scales written)")
    ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"quantize: row-wise bf16 -> e4m3fn  {_subtitle(res)}", fontsize=9)


_DRAW = {"decode": (_draw_decode, 3), "gemm": (_draw_gemm, 4), "quantize": (_draw_quantize, 1)}


def plot_results(results, out) -> Path:
    """Draw ``results`` (a dict as ``normalize`` returns, or a path to a JSON file) into the image ``out``
    (format from its suffix). Returns the path written."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if isinstance(results, (str, Path)):
        results = load_results(results)
    else:
        results = normalize(results)
    parts = list(results["results"].values()) if results["kind"] == "all" else [results]
    parts = [p for p in parts if p["kind"] in _DRAW]
    if not parts:
        raise ValueError("nothing to plot")
    width = max(4.5 * _DRAW[p["kind"]][1] if p["kind"] != "quantize" else 7.0 for p in parts)
    fig = Figure(figsize=(min(width, 18.0), 4.6 * len(parts)), layout="constrained")
    FigureCanvasAgg(fig)
    subfigs = fig.subfigures(len(parts), 1, squeeze=False)[:, 0] if len(parts) > 1 else [fig]
    for sub, part in zip(subfigs, parts):
        _DRAW[part["kind"]][0](sub, part)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130)
    return out

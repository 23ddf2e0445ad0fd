"""Summarise an Nsight Compute source page (SASS, CSV) or raw page (CSV): where the warps' stall samples fall.

``python scripts/ncu_sass_summary.py source.csv [--top 40]``: the instructions with the most warp-stall
samples (all and not-issued), their share of the kernel's samples, and any per-reason sample columns summed
over the kernel. ``python scripts/ncu_sass_summary.py --raw raw.csv``: the kernel-level stall-reason metrics
(``smsp__pcsamp_warps_issue_stalled_*``, ``smsp__average_warp_latency_issue_stalled_*``) sorted by value.
Written for device runs (scripts/device_gemm.sh profile), where only a few files come back.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys


def _num(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def _rows(path: str) -> list[list[str]]:
    # ncu prefixes its CSV with "==PROF==" lines and sometimes a kernel title line; keep the quoted table.
    with open(path, newline="") as f:
        lines = [ln for ln in f if ln.startswith('"')]
    return list(csv.reader(io.StringIO("".join(lines))))


def source(path: str, top: int) -> None:
    rows = _rows(path)
    h0 = next((i for i, r in enumerate(rows) if r and r[0] == "Address"), 0)  # after a "Kernel Name" line
    head, body = rows[h0], [r for r in rows[h0 + 1:] if len(r) == len(rows[h0])]
    src = next((i for i, h in enumerate(head) if h.strip() == "Source"), 1)
    samp = [i for i, h in enumerate(head) if "Warp Stall Sampling" in h]
    if not samp:
        print("no warp-stall sampling columns; header:", head)
        return
    key = samp[0]
    total = sum(_num(r[key]) or 0 for r in body) or 1.0
    print(f"{len(body)} instructions, {total:.0f} samples in '{head[key]}'")
    reasons = {h: i for i, h in enumerate(head) if h.startswith("stall_") and "Not Issued" not in h}
    if reasons:
        sums = {h: sum(_num(r[i]) or 0 for r in body) for h, i in reasons.items()}
        print("per-reason sums:", ", ".join(f"{h} {v:.0f}" for h, v in sorted(sums.items(), key=lambda t: -t[1]) if v))
    print(" share  " + "  ".join(head[i][:28] for i in samp) + "  instruction")
    for r in sorted(body, key=lambda r: -(_num(r[key]) or 0))[:top]:
        vals = "  ".join(f"{(_num(r[i]) or 0):>{min(28, len(head[i]))}.0f}" for i in samp)
        print(f"{(_num(r[key]) or 0) / total:6.1%}  {vals}  {r[0]}: {r[src].strip()[:90]}")


def raw(path: str) -> None:
    rows = _rows(path)
    head = rows[0]
    for r in rows[2:]:  # row 1: units
        print("kernel:", r[head.index("Kernel Name")][:100] if "Kernel Name" in head else "?")
        for prefix in ("smsp__pcsamp_warps_issue_stalled_", "smsp__average_warp_latency_issue_stalled_",
                       "smsp__average_warps_issue_stalled_"):
            vals = [(h[len(prefix):], _num(r[i])) for i, h in enumerate(head) if h.startswith(prefix)]
            vals = [(h, v) for h, v in vals if v]
            if vals:
                print(f"  {prefix}*: " + ", ".join(f"{h} {v:.3g}" for h, v in sorted(vals, key=lambda t: -t[1])[:14]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("path")
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--raw", action="store_true")
    a = p.parse_args(argv)
    raw(a.path) if a.raw else source(a.path, a.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Static cost of a GEMM kernel's code between its wgmma groups (offline: NVRTC for sm_90a + cuobjdump).

``python scripts/sass_segments.py EXPR [--range LO-HI] [--skip LO-HI ...] [-D OPTION ...]``

Compiles the instance ``EXPR`` (e.g. ``"fp8cuda::sm90_fp8_gemm_rowwise_halves<4, 2, 0>"``), lists its loops
that issue QGMMA (address range, instructions, QGMMA), and, for ``--range`` (hex addresses, e.g. a tile loop
with its inner K loop given to ``--skip``), splits the code at each QGMMA that follows other instructions and
prints per segment: instructions, the sum of the stall counts of the control codes (bits 41-44 of each
instruction's upper word: the cycles the scheduler waits before issuing the next instruction of this warp, a
static lower bound that ignores scoreboard waits), and the loads, stores, multiplies and barriers in it.
Used for the overlap kernel's tile switch (docs/notes-gemm.md, next steps). The mbarrier retry branches at the
end of a kernel jump back into its loops, so they list as large "loops" too.
"""

from __future__ import annotations

import argparse
import re
import sys

from fp8cuda import _loader

_INS = re.compile(r"\s*/\*([0-9a-f]{4,5})\*/\s+([^;]*);\s*/\* (0x[0-9a-f]+) \*/")
_UPPER = re.compile(r"/\* (0x[0-9a-f]+) \*/")


def instructions(sass: str):
    """[(address, text, stall cycles)] from cuobjdump's SASS (each instruction: a line and its upper word)."""
    lines = sass.splitlines()
    out = []
    for i, line in enumerate(lines):
        m = _INS.match(line)
        if m and i + 1 < len(lines) and (up := _UPPER.search(lines[i + 1])):
            out.append((int(m.group(1), 16), m.group(2).strip(), (int(up.group(1), 16) >> 41) & 0xF))
    return out


def loops(ins):
    """(start, end, instructions, QGMMA) of every loop (backward branch) that issues QGMMA."""
    out = []
    for addr, text, _ in ins:
        m = re.search(r"BRA 0x([0-9a-f]+)$", text)
        if m and int(m.group(1), 16) < addr:
            body = [t for a, t, _ in ins if int(m.group(1), 16) <= a <= addr]
            if any("QGMMA" in t for t in body):
                out.append((int(m.group(1), 16), addr, len(body), sum("QGMMA" in t for t in body)))
    return out


def segments(ins, lo, hi, skip=()):
    body = [x for x in ins if lo <= x[0] <= hi and not any(a <= x[0] <= b for a, b in skip)]
    segs, seg, prev_q = [], [], False
    for x in body:
        q = "QGMMA" in x[1]
        if q and not prev_q and seg:
            segs.append(seg)
            seg = []
        seg.append(x)
        prev_q = q
    return segs + [seg] if seg else segs


def _range(text):
    lo, hi = text.split("-")
    return int(lo, 16), int(hi, 16)


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("expr")
    p.add_argument("--range", type=_range, default=None)
    p.add_argument("--skip", type=_range, action="append", default=[])
    p.add_argument("-D", dest="defines", action="append", default=[])
    args = p.parse_args(argv)
    res = _loader.compile_offline("gemm_sm90.cu", [args.expr], options=tuple(f"-D{d}" for d in args.defines))
    ins = instructions(res.sass[args.expr])
    for lo, hi, n, q in loops(ins):
        print(f"loop {lo:#x}-{hi:#x}: {n} instructions, {q} QGMMA")
    if args.range:
        def count(seg, pat):
            return sum(bool(re.match(pat, t)) for _, t, _ in seg)
        for seg in segments(ins, *args.range, args.skip):
            print(f"{seg[0][0]:#x}-{seg[-1][0]:#x}: {len(seg)} instructions ({count(seg, r'QGMMA')} QGMMA), "
                  f"stall sum {sum(s for *_, s in seg)}; LDS {count(seg, r'LDS')} STS {count(seg, r'STS')} "
                  f"FMUL {count(seg, r'FMUL')} BAR {count(seg, r'BAR')} DEPBAR {count(seg, r'WARPGROUP.DEPBAR')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

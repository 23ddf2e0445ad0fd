"""Calibrate ``select_config``'s tile model from ``gemm_variants.py --json`` runs (issue 4; notes-gemm.md v25).

``python scripts/fit_tile_model.py RUN.json [RUN.json ...] [--ref LABEL] [--config LABEL=CONFIG ...]``

The model: a tile of width BLOCK_N costs BLOCK_N / efficiency, and a shape costs waves x that, waves =
ceil(tiles / SMs). So each variant's per-FLOP efficiency is its TFLOP/s over its wave efficiency
(tiles / (SMs x waves)), relative to ``--ref``'s on the same shape; the geomean over shapes is what the
tables ``_WIDTH_EFFICIENCY`` and ``_PINGPONG_EFFICIENCY`` hold. Then, per shape, ``select_config``'s pick
against the fastest variant measured (its regret). Variants are labelled ``*_f`` (fast accumulation) or
``*_s`` (slow); their configs come from the rows (``configs``, written since v25) or ``--config``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from fp8cuda import gemm

SMS = gemm._NUM_SMS_DEFAULT


def geomean(v):
    return math.exp(sum(math.log(x) for x in v) / len(v)) if v else float("nan")


def wave_efficiency(m: int, n: int, cfg: gemm.GemmConfig) -> float:
    tiles = -(-m // cfg.block_m) * -(-n // cfg.block_n)
    return tiles / (SMS * -(-tiles // SMS))


def fit(rows, configs, ref):
    """{label: geomean per-FLOP efficiency relative to ref} over the rows that have both."""
    out = {}
    for label, cfg in configs.items():
        if label[-2:] != ref[-2:]:
            continue
        r = [(row[label] / wave_efficiency(row["M"], row["N"], cfg))
             / (row[ref] / wave_efficiency(row["M"], row["N"], configs[ref])) for row in rows if label in row]
        out[label] = geomean(r)
    return out


def regret(rows, configs, fast: bool):
    """[(shape, pick label, pick / best, best label)] for the shapes whose pick is among the variants."""
    suffix = "_f" if fast else "_s"
    by_cfg = {cfg.label(): label for label, cfg in configs.items() if label.endswith(suffix)}
    out = []
    for row in rows:
        m, n, k = row["M"], row["N"], row["K"]
        pick = gemm.select_config(m, n, k, use_fast_accum=fast).label()
        cand = {lb: row[lb] for lb in by_cfg.values() if lb in row}
        if not cand:
            continue
        best = max(cand, key=cand.get)
        ratio = cand[by_cfg[pick]] / cand[best] if pick in by_cfg else None
        out.append(((m, n, k), pick, ratio, best))
    return out


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("runs", nargs="+")
    p.add_argument("--ref", default=None, help="reference fast variant (default: the first 128 x 256 one)")
    p.add_argument("--config", action="append", default=[], help="LABEL=CONFIG for runs without 'configs'")
    args = p.parse_args(argv)
    rows = [r for path in args.runs for r in json.load(open(path))]
    configs = {}
    for r in rows:
        configs.update({lb: gemm.GemmConfig.from_label(c) for lb, c in r.get("configs", {}).items()})
    configs.update({a.split("=")[0]: gemm.GemmConfig.from_label(a.split("=")[1]) for a in args.config})
    missing = {k for r in rows for k in r if k.endswith(("_f", "_s")) and not k.startswith("torch")} - set(configs)
    if missing:
        sys.exit(f"no config for {sorted(missing)}: pass --config LABEL=CONFIG")
    fast_labels = [lb for lb in configs if lb.endswith("_f")]
    ref = args.ref or next((lb for lb in fast_labels if configs[lb].block_m == 128 and configs[lb].block_n == 256), None)
    print(f"{len(rows)} shapes; per-FLOP efficiency, waves factored out, relative to {ref}:")
    for refl in [ref] + [lb for lb in configs if lb.endswith("_s")][:1]:
        if refl is None:
            continue
        for label, e in fit(rows, configs, refl).items():
            torch_col = "torch_f" if label.endswith("_f") else "torch_s"
            over = geomean([r[label] / r[torch_col] for r in rows if label in r])
            print(f"  {label:>14} {configs[label].label():>14}  efficiency {e:.3f} (vs {refl})  over torch {over:.3f}")
    for fast in (True, False):
        res = regret(rows, configs, fast)
        known = [x for x in res if x[2] is not None]
        if not res:
            continue
        print(f"{'fast' if fast else 'slow'}: select_config's pick / best variant, geomean "
              f"{geomean([x[2] for x in known]):.3f} over {len(known)} of {len(res)} shapes")
        for shape, pick, ratio, best in res:
            if ratio is None or ratio < 0.97:
                print(f"  {shape}: pick {pick} " + (f"{ratio:.3f} of best {best}" if ratio else "not measured"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Auto-folding against a FINN SetFolding-style greedy baseline, under the FINN-R cost model.

Layer shapes come from the recipes in models/ without training:
``hw_bnn.explore.recipe_shapes.recipe_mvu_layers`` builds each untrained Brevitas network and reads every
QuantConv2d / QuantLinear through forward hooks (``hw_bnn.train.zoo.summarize``): MH, MW, output pixels,
weight and input bits.  Accumulator widths are the worst case of the bit widths (a compiled integer network
would give the exact ones).

Table 1: per network and target (cycles per frame), the exact least-LUT folding (ours) and the
greedy one (FINN SetFolding style: SIMD first, then PE): the slowest unit's cycles, total LUT and
BRAM18 estimates, and how many more LUTs the greedy folding needs (gap = greedy / ours - 1).

Table 2: CNV search time as the design space grows: PE and SIMD restricted to divisors
<= max_parallel; the target is --slack (2) times the least interval feasible under that restriction.  Brute force
(every combination that meets the target) runs where that set is small enough and must agree with
the exact search.

Usage: python benchmarks/bench_fold.py [--nets tfc sfc lfc cnv] [--mlp-targets 1000 100 64]
                                       [--cnv-targets 100000 10000 1000] [--clock 100] [--brute-max 200000]
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hw_bnn.dse.cost import network_cost  # noqa: E402
from hw_bnn.dse.folding import (  # noqa: E402
    count_foldings,
    fold_for_budget,
    fold_for_target,
    greedy_setfolding,
    layer_candidates,
)
from hw_bnn.errors import FoldingError  # noqa: E402
from hw_bnn.explore.recipe_shapes import recipe_mvu_layers  # noqa: E402


def timed(fn, *args, repeat: int = 3, **kw):
    """(best wall time in seconds, result) of ``repeat`` calls."""
    best, out = math.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args, **kw)
        best = min(best, time.perf_counter() - t0)
    return best, out


def compare_table(nets: dict, targets: dict, clock: float) -> str:
    hdr = (
        f"{'net':4s} {'target':>7s} | {'ours: cyc':>9s} {'LUT':>8s} {'BRAM18':>6s} {'FPS':>10s} | "
        f"{'greedy: cyc':>11s} {'LUT':>8s} {'BRAM18':>6s} | {'LUT gap':>8s} {'search':>8s}"
    )
    out = [hdr, "-" * len(hdr)]
    for net, layers in nets.items():
        for t in targets[net]:
            try:
                dt, ours = timed(fold_for_target, layers, t)
            except FoldingError as e:
                out.append(f"{net:4s} {t:7d} | infeasible: {e}")
                continue
            greedy = greedy_setfolding(layers, t)
            a, b = network_cost(layers, ours, clock), network_cost(layers, greedy, clock)
            gap = 100.0 * (b.lut / a.lut - 1.0)
            miss = "" if b.max_cycles <= t else "!"
            out.append(
                f"{net:4s} {t:7d} | {a.max_cycles:9d} {a.lut:8,d} {a.bram18:6d} {a.fps:10,.0f} | "
                f"{b.max_cycles:10d}{miss:1s} {b.lut:8,d} {b.bram18:6d} | {gap:7.1f}% {dt * 1e3:6.1f}ms"
            )
    out.append(
        f"FPS at {clock:g} MHz.  LUT gap: extra LUTs of the greedy folding over the exact optimum (same target)."
    )
    return "\n".join(out)


def brute_force(layers, target: int, max_parallel: int | None):
    """Least LUT total over every combination with max cycles <= target (None if none)."""
    cands = [[c for c in layer_candidates(u, max_parallel=max_parallel) if c.cycles <= target] for u in layers]
    best = None
    for combo in itertools.product(*cands):
        lut = sum(c.lut for c in combo)
        if best is None or lut < best:
            best = lut
    return best


def scaling_table(layers, limits: list[int | None], budget: int, brute_max: int, slack: int) -> str:
    hdr = (
        f"{'max PE/SIMD':>11s} {'pairs':>6s} {'foldings':>22s} {'meet target':>18s} {'target':>8s} | "
        f"{'for_target':>10s} {'for_budget':>10s} {'greedy':>8s} | {'brute force':>12s} {'agrees':>6s}"
    )
    out = [hdr, "-" * len(hdr)]
    for mp in limits:
        cands = [layer_candidates(u, max_parallel=mp) for u in layers]
        target = slack * max(min(c.cycles for c in cs) for cs in cands)
        pairs = sum(len(cs) for cs in cands)
        meeting = math.prod(sum(c.cycles <= target for c in cs) for cs in cands)
        t_target, ours = timed(fold_for_target, layers, target, max_parallel=mp)
        try:
            t_budget, _ = timed(fold_for_budget, layers, budget, max_parallel=mp)
            budget_s = f"{t_budget * 1e3:8.1f}ms"
        except FoldingError:
            budget_s = f"{'over':>10s}"
        t_greedy, _ = timed(greedy_setfolding, layers, target, max_parallel=mp)
        if meeting <= brute_max:
            t_brute, best = timed(brute_force, layers, target, mp, repeat=1)
            agrees = "yes" if best == network_cost(layers, ours).lut else "NO"
            brute_s = f"{t_brute * 1e3:10.1f}ms"
        else:
            brute_s, agrees = f"{'(skipped)':>12s}", "-"
        label = "all" if mp is None else str(mp)
        out.append(
            f"{label:>11s} {pairs:6d} {count_foldings(layers, mp):22,d} {meeting:18,d} {target:8d} | "
            f"{t_target * 1e3:8.1f}ms {budget_s} {t_greedy * 1e3:6.2f}ms | {brute_s} {agrees:>6s}"
        )
    out.append(
        "pairs: legal (PE, SIMD) per unit, summed (the exact search's work); foldings: their product; meet target:"
    )
    out.append(
        f"foldings with every unit within the target ({slack} x the least interval feasible under the restriction)."
    )
    out.append(f"for_budget: fastest folding within {budget:,} LUT.  Times: best of 3 (brute force: one run).")
    return "\n".join(out)


def finn_tfc_check(tfc, clock: float) -> str:
    """FINN's published TFC-w1a1 folding at 64 cycles per frame puts its first layer at PE=16,
    SIMD=49 ((64/16) * (784/49) = 64); the other layers here take the least-LUT choice at 64."""
    ours = fold_for_target(tfc, 64)
    first = tfc[0].name
    finn = dict(ours, **{first: {"PE": 16, "SIMD": 49}})
    a, b = network_cost(tfc, ours, clock), network_cost(tfc, finn, clock)
    fa, fb = a.layers[0], b.layers[0]
    return (
        f"FINN check, TFC-w1a1 at 64 cycles: FINN's first layer PE=16, SIMD=49 -> {fb.cycles} cycles, {fb.lut:,} LUT "
        f"(network {b.lut:,}); ours PE={fa.pe}, SIMD={fa.simd} -> {fa.cycles} cycles, {fa.lut:,} LUT "
        f"(network {a.lut:,})."
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Shapes: untrained recipe networks via forward hooks (hw_bnn.train.zoo.summarize).",
    )
    p.add_argument("--nets", nargs="+", default=["tfc", "sfc", "lfc", "cnv"], choices=["tfc", "sfc", "lfc", "cnv"])
    p.add_argument(
        "--mlp-targets", nargs="+", type=int, default=[1000, 100, 64], help="cycles per frame for TFC/SFC/LFC"
    )
    p.add_argument(
        "--cnv-targets",
        nargs="+",
        type=int,
        default=[100000, 10000, 1000],
        help="cycles per frame for CNV (its least interval is 196: 14x14 output pixels of the first two convs)",
    )
    p.add_argument("--clock", type=float, default=100.0, help="clock in MHz for the FPS column")
    p.add_argument(
        "--budget", type=int, default=53_200, help="LUT budget of the fold_for_budget timing (default: xc7z020)"
    )
    p.add_argument("--brute-max", type=int, default=200_000, help="largest design space the brute force enumerates")
    p.add_argument("--slack", type=int, default=2, help="scaling table target: this times the least feasible interval")
    p.add_argument("--no-scaling", action="store_true", help="skip the CNV search-time table")
    args = p.parse_args(argv)

    nets = {n: recipe_mvu_layers(f"{n}-w1a1") for n in args.nets}
    targets = {n: (args.cnv_targets if n == "cnv" else args.mlp_targets) for n in nets}
    print("Layer shapes (MH x MW x pixels):")
    for n, layers in nets.items():
        print(
            f"  {n}: "
            + ", ".join(f"{u.name} {u.mh}x{u.mw}" + (f"x{u.pixels}" if u.pixels > 1 else "") for u in layers)
            + f"  ({count_foldings(layers):,} candidate foldings)"
        )
    print()
    print("Exact least-LUT folding vs greedy SetFolding-style folding (FINN-R estimates)")
    print(compare_table(nets, targets, args.clock))
    if "tfc" in nets:
        print()
        print(finn_tfc_check(nets["tfc"], args.clock))
    if not args.no_scaling:
        cnv = nets.get("cnv") or recipe_mvu_layers("cnv-w1a1")
        print()
        print("CNV: search time as the number of candidate foldings grows")
        print(scaling_table(cnv, [1, 2, 3, 4, 8, 16, 32, 64, 128, 256, None], args.budget, args.brute_max, args.slack))
    return 0


if __name__ == "__main__":
    sys.exit(main())

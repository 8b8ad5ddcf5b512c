"""``hw-bnn fold``: choose PE / SIMD for every matrix unit, to a throughput target or a LUT budget.

The matrix units come from a compiled build (``--out``: its ``golden.npz``, exact accumulator
widths) or, without a build, from a recipe's untrained network (``--model``: shapes only,
worst-case accumulators).  The search is :func:`hw_bnn.dse.folding.fold_for_target` (fewest LUTs
meeting the target) or :func:`hw_bnn.dse.folding.fold_for_budget` (fastest within ``--max-luts``);
both are exact under the cost model of :mod:`hw_bnn.dse.cost`.  The greedy ``SetFolding``-style
baseline is computed in the same run and shown beside it.

With ``--out`` the result is written to ``<out>/folding.json``, which ``hw-bnn flow --folding``
(and ``emit``) takes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hw_bnn.errors import HwBnnError

EPILOG = """\
Examples:
  hw-bnn fold --model tfc-w1a1 --target-fps 1000000 --clock-mhz 100
  hw-bnn fold --out build/tfc-w1a1 --target-cycles 64 --device pynq-z2
  hw-bnn fold --out build/cnv-w1a1 --max-luts 40000 --device xc7z020
  hw-bnn flow --out build/tfc-w1a1 --folding build/tfc-w1a1/folding.json
"""


def add_fold_parser(sub) -> None:
    p = sub.add_parser(
        "fold",
        help="choose PE/SIMD per layer: fewest LUTs for a target FPS, or the fastest within a LUT budget",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--out", help="build folder with golden.npz (hw-bnn compile); folding.json is written there")
    src.add_argument("--model", help="recipe name or .yaml: fold its untrained network (shapes only, no build)")
    goal = p.add_mutually_exclusive_group(required=True)
    goal.add_argument("--target-fps", type=float, help="frames per second to reach (with --clock-mhz)")
    goal.add_argument("--target-cycles", type=int, help="cycles per frame to reach (initiation interval)")
    goal.add_argument("--max-luts", type=int, help="LUT budget: the fastest folding within it")
    p.add_argument("--clock-mhz", type=float, default=100.0, help="clock frequency in MHz (default 100)")
    p.add_argument("--device", help="FPGA the design must fit (xc7z020 / pynq-z2, xczu7ev / zcu104, xcu250 / u250)")
    p.add_argument("--limit", type=float, default=1.0, help="usable fraction of each device resource (default 1.0)")
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of tables")


def _layers(args):
    from hw_bnn.dse.cost import mvu_layers
    from hw_bnn.dse.folding import recipe_mvu_layers
    from hw_bnn.ir import IntegerNetwork

    if args.model:
        return recipe_mvu_layers(args.model), f"recipe {args.model} (untrained shapes, worst-case accumulators)"
    path = Path(args.out) / "golden.npz"
    if not path.is_file():
        raise HwBnnError(f"{path}: missing; run `hw-bnn compile --out {args.out}` first, or fold a recipe with --model")
    layers = mvu_layers(IntegerNetwork.load(path))
    if not layers:
        raise HwBnnError(f"{path}: the network has no matrix units to fold")
    return layers, f"build {args.out}"


def plan(layers, *, target_cycles=None, max_luts=None, device=None, clock_mhz=100.0, limit=1.0) -> dict:
    """Ours and the greedy baseline for one goal: ``{"ours": NetworkCost, "greedy": NetworkCost |
    None, "target_cycles": int | None, "fit": FitReport | None}``.  The greedy baseline exists only
    for a cycle target (SetFolding has no budget mode)."""
    from hw_bnn.dse.cost import network_cost
    from hw_bnn.dse.devices import fit
    from hw_bnn.dse.folding import fold_for_budget, fold_for_target, greedy_setfolding

    if target_cycles is not None:
        ours = fold_for_target(layers, target_cycles, device, limit=limit)
        greedy = network_cost(layers, greedy_setfolding(layers, target_cycles), clock_mhz)
    else:
        ours, greedy = fold_for_budget(layers, max_luts, device, limit=limit), None
    cost = network_cost(layers, ours, clock_mhz)
    return {
        "ours": cost,
        "greedy": greedy,
        "target_cycles": target_cycles,
        "fit": fit(cost, device, limit) if device else None,
    }


def _side_by_side(ours, greedy) -> str:
    hdr = f"{'layer':10s} {'MH':>5s} {'MW':>5s} | {'PE':>4s} {'SIMD':>5s} {'cycles':>9s} {'LUT':>8s} | greedy: {'PE':>4s} {'SIMD':>5s} {'cycles':>9s} {'LUT':>8s}"
    out = [hdr, "-" * len(hdr)]
    for a, b in zip(ours.layers, greedy.layers):
        out.append(
            f"{a.name:10s} {a.mh:5d} {a.mw:5d} | {a.pe:4d} {a.simd:5d} {a.cycles:9d} {a.lut:8d} |         {b.pe:4d} {b.simd:5d} {b.cycles:9d} {b.lut:8d}"
        )
    out.append("-" * len(hdr))
    out.append(
        f"{'total':10s} {'':5s} {'':5s} | {'':4s} {'':5s} {ours.max_cycles:9d} {ours.lut:8d} |         {'':4s} {'':5s} {greedy.max_cycles:9d} {greedy.lut:8d}"
    )
    gap = 100.0 * (greedy.lut - ours.lut) / ours.lut if ours.lut else 0.0
    out.append(
        f"greedy SetFolding-style baseline needs {gap:+.1f} % LUTs ({greedy.bram18} BRAM18 against {ours.bram18})"
    )
    return "\n".join(out)


def _fit_all(cost) -> dict:
    """The fit of ``cost`` on every device of the catalogue (hw_bnn.dse.devices)."""
    from hw_bnn.dse.devices import DEVICES, fit

    return {name: fit(cost, d) for name, d in DEVICES.items()}


def cmd_fold(args) -> int:
    from hw_bnn.dse.folding import target_cycles_from_fps

    layers, source = _layers(args)
    target = args.target_cycles
    if args.target_fps is not None:
        target = target_cycles_from_fps(args.target_fps, args.clock_mhz)
    res = plan(
        layers,
        target_cycles=target,
        max_luts=args.max_luts,
        device=args.device,
        clock_mhz=args.clock_mhz,
        limit=args.limit,
    )
    ours, greedy, fitrep = res["ours"], res["greedy"], res["fit"]
    goal = f"<= {target} cycles per frame" if target is not None else f"<= {args.max_luts:,} LUT, fastest"
    doc = {
        "source": source,
        "goal": goal,
        "target_cycles": target,
        "max_luts": args.max_luts,
        "clock_mhz": args.clock_mhz,
        "device": args.device,
        "folding": ours.folding,
        "cost": ours.to_dict(),
        "greedy": greedy.to_dict() if greedy else None,
        "fit": fitrep.to_dict() if fitrep else None,
        "fit_all": {d: r.to_dict() for d, r in _fit_all(ours).items()},
    }
    if args.out:
        from hw_bnn.files import write_text_atomic

        write_text_atomic(Path(args.out) / "folding.json", json.dumps(doc, indent=2))
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(f"{source}: {len(layers)} matrix units; goal {goal} at {args.clock_mhz:g} MHz\n")
    print(ours.table())
    if greedy is not None:
        print("\nagainst the greedy baseline (same cost model, same run):")
        print(_side_by_side(ours, greedy))
    if fitrep is not None:
        print()
        print(fitrep.table())
    else:
        print("\nfit on every catalogue device (--device D to fold for one):")
        for name, r in _fit_all(ours).items():
            use = ", ".join(f"{x.resource} {x.utilization:.1f}%" for x in r.resources if x.available)
            worst = min(r.resources, key=lambda x: x.headroom / x.available if x.available else 0.0)
            verdict = "fits" if r.fits else f"does NOT fit ({worst.resource} over by {-worst.headroom:,})"
            print(f"  {name:8s} {verdict:34s} {use}")
    if args.out:
        print(
            f"\nwritten: {Path(args.out) / 'folding.json'}  (use: hw-bnn flow --out {args.out} --folding {Path(args.out) / 'folding.json'})"
        )
    return 0


def load_folding(path) -> dict:
    """The ``folding`` of a ``folding.json`` (as ``hw-bnn fold`` writes it) or a bare
    ``{layer: {"PE": p, "SIMD": s}}`` JSON file; errors name the file."""
    p = Path(path)
    if not p.is_file():
        raise HwBnnError(f"{p}: folding file does not exist (write one with hw-bnn fold --out BUILD ...)")
    try:
        doc = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise HwBnnError(f"{p}: not JSON ({e})") from None
    folding = doc.get("folding", doc) if isinstance(doc, dict) else None
    if not isinstance(folding, dict) or not all(
        isinstance(v, dict) and set(v) <= {"PE", "SIMD"} and all(isinstance(x, int) and x > 0 for x in v.values())
        for v in folding.values()
    ):
        raise HwBnnError(f'{p}: expected {{"layer": {{"PE": int, "SIMD": int}}, ...}} (or hw-bnn fold\'s folding.json)')
    return folding

"""``hw-bnn fold``: choose PE / SIMD for every matrix unit, for a throughput target or a LUT budget.

The matrix units come from a compiled build (``--out``: its ``golden.npz``, exact accumulator
widths) or, without a build, from a recipe's untrained network (``--model``: shapes only,
worst-case accumulators).  The search is :func:`hw_bnn.dse.folding.fold_for_target` (fewest LUTs
meeting the target) or :func:`hw_bnn.dse.folding.fold_for_budget` (fastest within ``--max-luts``);
both are exact under the cost model of :mod:`hw_bnn.dse.cost`.  The greedy ``SetFolding``-style
baseline is computed in the same run and shown beside it.

``--cost`` picks the model (:mod:`hw_bnn.explore.measured`): ``calibrated`` (the default: LUT and
FF sums fitted to Yosys synthesis, for the device's family, xc7 without a device), ``finn``
(FINN-R's formula) or ``measured`` (every candidate unit synthesized with Yosys, cached: slow the
first time, so small layers or ``--max-parallel``).

With ``--out`` the result is written to ``<out>/folding.json``, which ``hw-bnn flow --folding``
(and ``emit``) takes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from hw_bnn.dse.folding_file import FOLDING_FILE
from hw_bnn.errors import BuildFolderError, FoldingError

if TYPE_CHECKING:  # the search (NumPy) loads when the command runs, not when the CLI starts
    from hw_bnn.dse.plan import FoldPlan
    from hw_bnn.dse.units import MVU

EPILOG = """\
Examples:
  hw-bnn fold --model tfc-w1a1 --target-fps 1000000 --clock-mhz 100
  hw-bnn fold --out build/tfc-w1a1 --target-cycles 64 --device pynq-z2
  hw-bnn fold --out build/cnv-w1a1 --max-luts 40000 --device xc7z020
  hw-bnn fold --model tfc-w1a1 --target-cycles 64 --device ulx3s-85f        # ECP5: LUT4 counts
  hw-bnn fold --model tfc-w1a1 --target-cycles 3136 --cost finn              # FINN-R's formula
  hw-bnn fold --out build/tfc-w1a1 --target-cycles 3136 --cost measured --max-parallel 16
  hw-bnn flow --out build/tfc-w1a1 --folding build/tfc-w1a1/folding.json
"""


def add_fold_parser(sub) -> None:
    """Register ``hw-bnn fold`` on the CLI's subparsers."""
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
    p.add_argument(
        "--device",
        help="FPGA the design must fit (xc7z020 / pynq-z2, xczu7ev / zcu104, xcu250 / u250, "
        "lfe5u-25f / ulx3s-25f / orangecrab-25f, lfe5u-45f, lfe5u-85f / ulx3s-85f)",
    )
    p.add_argument("--limit", type=float, default=1.0, help="usable fraction of each device resource (default 1.0)")
    add_cost_arguments(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of tables")


def add_cost_arguments(p) -> None:
    """``--cost``, ``--max-parallel`` and ``--max-measured-lanes`` (fold and explore)."""
    from hw_bnn.explore.measured import COST_MODELS, MAX_MEASURED_LANES

    p.add_argument(
        "--cost",
        choices=COST_MODELS,
        default="calibrated",
        help="cost model: calibrated (default; fitted to Yosys for the device's family, xc7 without one), "
        "finn (FINN-R's formula) or measured (each candidate unit synthesized with Yosys, cached)",
    )
    p.add_argument("--max-parallel", type=int, help="only PE and SIMD up to this (a smaller design space)")
    p.add_argument(
        "--max-measured-lanes",
        type=int,
        default=MAX_MEASURED_LANES,
        help=f"--cost measured: candidates of more PE*SIMD lanes take the calibrated estimate "
        f"(default {MAX_MEASURED_LANES})",
    )


def fold_units(args) -> tuple[list[MVU], str]:
    """The matrix units to fold and where they come from: ``--model`` (an untrained recipe
    network) or ``--out`` (the build's ``golden.npz``)."""
    from hw_bnn.dse.units import mvu_layers
    from hw_bnn.ir import IntegerNetwork

    if args.model:
        from hw_bnn.explore.recipe_shapes import recipe_mvu_layers  # torch: only when asked for

        return recipe_mvu_layers(args.model), f"recipe {args.model} (untrained shapes, worst-case accumulators)"
    path = Path(args.out) / "golden.npz"
    if not path.is_file():
        raise BuildFolderError(
            f"{path}: missing; run `hw-bnn compile --out {args.out}` first, or fold a recipe with --model"
        )
    layers = mvu_layers(IntegerNetwork.load(path))
    if not layers:
        raise FoldingError(f"{path}: the network has no matrix units to fold")
    return layers, f"build {args.out}"


def build_layers(args) -> dict:
    """The IR layers by name of ``--out``'s build (their weights, for ``--cost measured``); none
    for ``--model`` (random weights of each unit's shape)."""
    if args.model or args.cost != "measured":
        return {}
    from hw_bnn.ir import IntegerNetwork

    return {layer.name: layer for layer in IntegerNetwork.load(Path(args.out) / "golden.npz").layers}


def fold_document(args, plan: FoldPlan, source: str, target: int | None, goal: str) -> dict:
    """What ``folding.json`` (and ``--json``) holds: the goal, the folding, its cost, the greedy
    baseline's, and the fit on the device asked for and on every catalogue device."""
    from hw_bnn.dse.devices import fit_all

    ours, greedy, fitrep = plan.ours, plan.greedy, plan.fit
    return {
        "source": source,
        "goal": goal,
        "target_cycles": target,
        "max_luts": args.max_luts,
        "clock_mhz": args.clock_mhz,
        "device": args.device,
        "cost_model": ours.model,
        "folding": ours.folding,
        "cost": ours.to_dict(),
        "greedy": greedy.to_dict() if greedy else None,
        "fit": fitrep.to_dict() if fitrep else None,
        "fit_all": {d: r.to_dict() for d, r in fit_all(ours).items()},
    }


def print_plan(plan: FoldPlan, out: str | None) -> None:
    """The tables of a plan: our folding, the greedy comparison, the fit (one device or all)."""
    from hw_bnn.dse.devices import fit_all

    ours, greedy, fitrep = plan.ours, plan.greedy, plan.fit
    print(ours.table())
    if greedy is not None:
        print("\nagainst the greedy baseline (same cost model, same run):")
        print(plan.comparison_table())
    if fitrep is not None:
        print()
        print(fitrep.table())
    else:
        print("\nfit on every catalogue device (--device D to fold for one):")
        for name, r in fit_all(ours).items():
            use = ", ".join(f"{x.resource} {x.utilization:.1f}%" for x in r.resources if x.available)
            worst = min(r.resources, key=lambda x: x.headroom / x.available if x.available else 0.0)
            verdict = "fits" if r.fits else f"does NOT fit ({worst.resource} over by {-worst.headroom:,})"
            print(f"  {name:8s} {verdict:34s} {use}")
    if out:
        written = Path(out) / FOLDING_FILE
        print(f"\nwritten: {written}  (use: hw-bnn flow --out {out} --folding {written})")


def cmd_fold(args) -> int:
    """``hw-bnn fold``: solve the goal, write ``<out>/folding.json`` with ``--out``, print it."""
    from hw_bnn.dse.folding import target_cycles_from_fps
    from hw_bnn.dse.plan import plan_folding
    from hw_bnn.explore.measured import cost_params
    from hw_bnn.files import write_text_atomic

    layers, source = fold_units(args)
    target = args.target_cycles
    if args.target_fps is not None:
        target = target_cycles_from_fps(args.target_fps, args.clock_mhz)
    params = cost_params(args.cost, args.device, build_layers(args), max_lanes=args.max_measured_lanes)
    if params.measure is not None:  # every candidate now, in batches: the search then reads them
        params.measure.prefetch(layers, args.max_parallel)
    plan = plan_folding(
        layers,
        target_cycles=target,
        max_luts=args.max_luts,
        device=args.device,
        clock_mhz=args.clock_mhz,
        limit=args.limit,
        params=params,
        max_parallel=args.max_parallel,
    )
    goal = f"<= {target} cycles per frame" if target is not None else f"<= {args.max_luts:,} LUT, fastest"
    doc = fold_document(args, plan, source, target, goal)
    if params.measure is not None:
        doc["measured"] = {"target": params.measure.target, **params.measure.counts}
    if args.out:
        write_text_atomic(Path(args.out) / FOLDING_FILE, json.dumps(doc, indent=2))
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(f"{source}: {len(layers)} matrix units; goal {goal} at {args.clock_mhz:g} MHz; cost model {params.model}\n")
    print_plan(plan, args.out)
    if params.measure is not None:
        print(f"\n{params.measure.summary()}")
    return 0

"""``hw-bnn explore``: hardware-aware design-space exploration, a sweep of networks and foldings.

A *sweep spec* (YAML, examples in ``models/sweeps/``) declares the axes::

    name: mnist-fc
    recipes: [tfc-w1a1, sfc-w1a1]      # names in models/, paths to recipe .yaml, or inline recipes
    bits: [w1a1, w1a2, w2a2]           # weight_bits / act_bits overrides (default: the recipe's own)
    widths: [64, 256]                  # hidden layers: an int sets every hidden layer, a list is the layers
    depths: [1, 3]                     # number of hidden layers (with int widths: [w] * depth)
    epochs: 10                         # override the recipes' epochs
    targets: {cycles: [64], fps: [100000, 1000000], clock_mhz: 100}
    devices: [xc7z020, xczu7ev]        # hw_bnn.dse.devices names (parts or boards)
    utilization_limit: 1.0             # usable fraction of each device resource
    csim_limit: 100                    # C-simulation images per split for every folding (0: no C-sim)
    verify_limit: null                 # images per split for the compile checks (null: all)
    data_dir: null                     # IDX / CIFAR folder: test split and test accuracy
    threads_per_point: 1               # torch threads of one network point (and Ray CPUs per task)

A *network point* (recipe x bits x width) is trained, exported and compiled by the flow in
``<out>/nets/<id>/`` (the flow's stage stamps make re-runs reuse every unchanged artifact).
Each *hardware point* (network point x target x device) then takes the matrix units of the
integer network (:func:`hw_bnn.dse.units.mvu_layers`), the fewest-LUT folding that meets the
target and fits the device (:func:`hw_bnn.dse.folding.fold_for_target`) under the cost model of
``--cost`` (calibrated for the device's family by default: :mod:`hw_bnn.explore.measured`), its cost
(:func:`hw_bnn.dse.cost.network_cost`) and fit (:func:`hw_bnn.dse.devices.fit`), and the golden model
is checked against the hls4ml C simulation of that folding (emit + verify in
``<out>/nets/<id>/fold-<hash>/``; a folding already verified for the network is reused).

Engines: Ray (one task per network point, ``num_cpus = threads_per_point``) when it is
installed, a local embedded instance unless ``address`` names a cluster; or serially in this
process.  Both run the same function with torch on a fixed number of threads, so
``results.csv`` is identical under both.

Resumability: every network point writes ``<out>/nets/<id>/result.json`` when it is done.
A re-run reuses the result of a point whose status is ``ok`` or ``infeasible`` and whose
settings are unchanged (finished points are never redone, unless ``force``); ``failed``
points are run again.  A failure inside a point (an exception, or a crashed Ray worker) is
recorded with its error; the sweep goes on.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from hw_bnn.errors import SpecError
from hw_bnn.explore.fold_cli import add_cost_arguments

EPILOG = """\
Examples:
  hw-bnn explore models/sweeps/mlp-digits.yaml --out build/sweep-digits
  hw-bnn explore models/sweeps/mnist-fc.yaml --out build/sweep --workers 4
  hw-bnn explore models/sweeps/mnist-fc.yaml --out /shared/sweep --address ray://head:10001
  hw-bnn explore models/sweeps/mlp-digits.yaml --out build/sweep-digits-finn --cost finn

Outputs in --out: results.csv (+ results.parquet with pyarrow), results.json, pareto_lut.png,
pareto_fps.png, report.md, report.html, and nets/<point>/ (one flow build folder per network
point, fold-<hash>/ per verified folding).

Re-running the same command resumes: finished points (status ok or infeasible, same settings)
are never redone; failed points are re-tried.  --force redoes finished points too (their flow
stages are still skipped where the inputs are unchanged: delete nets/<point> to retrain).
The exit status is 1 when any point failed (after every point ran and every output is written).
"""


def add_explore_parser(sub) -> None:
    """Register ``hw-bnn explore`` on the CLI's subparsers."""
    p = sub.add_parser(
        "explore",
        help="design-space exploration: sweep recipes x bits x widths x targets x devices (Ray), Pareto fronts",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("spec", help="sweep spec YAML (examples: models/sweeps/*.yaml)")
    p.add_argument("--out", help="sweep folder (default: build/sweeps/<spec name>)")
    p.add_argument(
        "--engine",
        choices=["auto", "ray", "serial"],
        default="auto",
        help="auto (default): Ray when installed, else serial; ray: one Ray task per network point; "
        "serial: this process",
    )
    p.add_argument(
        "--address",
        help="Ray cluster address (e.g. ray://head:10001 or auto); default: a local Ray instance on every core",
    )
    p.add_argument(
        "--workers", type=int, help="at most this many network points at once (default: as many as Ray has CPUs)"
    )
    p.add_argument("--force", action="store_true", help="redo finished points too (failed points are always re-tried)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_cost_arguments(p)


def cmd_explore(args) -> int:
    """``hw-bnn explore``: 0 when every point is ok or infeasible, 1 when any failed."""
    from hw_bnn.explore.results import STATUSES
    from hw_bnn.explore.spec import load_spec
    from hw_bnn.explore.sweep import run_sweep

    spec = load_spec(args.spec)
    out = args.out or str(Path("build") / "sweeps" / re.sub(r"[^A-Za-z0-9._-]", "_", spec.name))
    if args.workers is not None and args.workers < 1:
        raise SpecError(f"explore: --workers must be >= 1, got {args.workers}")
    res = run_sweep(
        spec,
        out,
        engine=args.engine,
        address=args.address,
        workers=args.workers,
        progress=not args.quiet,
        force=args.force,
        cost={"model": args.cost, "max_parallel": args.max_parallel, "max_measured_lanes": args.max_measured_lanes},
    )
    counts = {st: res.count(st) for st in STATUSES}
    print(
        f"{spec.name}: {len(res.rows)} hardware points ({counts['ok']} ok, {counts['infeasible']} infeasible, "
        f"{counts['failed']} failed); {len(res.ran)} network points run, {len(res.reused)} reused; "
        f"engine {res.engine}, {res.seconds:.1f} s"
    )
    print(f"results: {res.paths['csv']}")
    print(f"report:  {res.paths['report_md']}")
    if res.failed_nets:
        print(f"failed network points (re-run to retry): {', '.join(res.failed_nets)}")
    return 1 if res.failed else 0

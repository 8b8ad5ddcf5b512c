"""Search the training settings that matter on the validation split only (never the test set).

For one recipe, every combination of the grid's values is trained (its own copy of the recipe,
the given epochs and seeds) and scored by its accuracy on the recipe's validation split (the
stratified 10% of the built-in training images that training never sees).  The table is
sorted by that accuracy; the first row is the choice.  The official test set is not opened.

Grid axes (``--lr``, ``--weight-decay``, ``--augment``, ``--label-smoothing``,
``--batch-size``): each takes one or more values.  ``--augment S`` is a strength: the
affine augmentation ``{shift: S, rotate: 5 S, scale: 0.05 S}`` (S = 0 turns it off).

Runs go to ``--jobs`` processes of one torch thread each (1: in this process).  Writes the table to stdout and
every run to ``--json``.

Usage: python benchmarks/search_training.py --model tfc-w1a1 --epochs 100 --lr 0.005 0.01 0.02
       --augment 0 1 2 --json benchmarks/results/search_tfc-w1a1.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

AXES = ("lr", "weight_decay", "augment", "label_smoothing", "batch_size")  # flags named as the train keys


def augment_of(strength: float) -> dict:
    """The augmentation of a strength ``S``: shift S pixels, rotate 5 S degrees, zoom 5 S %."""
    return {"shift": float(strength), "rotate": 5.0 * strength, "scale": round(0.05 * strength, 4)}


def _one(job: dict) -> dict:
    """Train one setting (in a worker process); its validation accuracy and time."""
    import torch

    from hw_bnn.train.recipes import check_train, load_recipe
    from hw_bnn.train.trainer import train

    torch.set_num_threads(1)
    r = load_recipe(job["model"])
    settings = dict(job["settings"])
    if "augment" in settings:
        settings["augment"] = augment_of(settings["augment"])
    r.train.update(settings, epochs=job["epochs"], seed=job["seed"])
    check_train(r.train, f"{job['model']} with {job['settings']}")
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        s = train(r, Path(tmp), progress=False)
    return {**job, "val_acc": s["val_acc"], "seconds": round(time.time() - t0, 1)}


def grid(args) -> list[dict]:
    axes = {k: getattr(args, k) for k in AXES if getattr(args, k)}
    keys = list(axes)
    return [dict(zip(keys, values)) for values in itertools.product(*(axes[k] for k in keys))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="a recipe name or file")
    ap.add_argument("--epochs", type=int, required=True, help="epochs of every run")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--lr", type=float, nargs="*")
    ap.add_argument("--weight-decay", type=float, nargs="*")
    ap.add_argument("--augment", type=float, nargs="*", help="strengths S (see above)")
    ap.add_argument("--label-smoothing", type=float, nargs="*")
    ap.add_argument("--batch-size", type=int, nargs="*")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", help="write every run here")
    args = ap.parse_args(argv)

    settings_grid = grid(args)
    axes = list(settings_grid[0])
    jobs = [
        {"model": args.model, "epochs": args.epochs, "seed": seed, "settings": settings}
        for settings in settings_grid
        for seed in args.seeds
    ]
    t0 = time.time()
    if args.jobs <= 1:  # in this process (the tests watch it)
        runs = [_one(job) for job in jobs]
    else:
        with ProcessPoolExecutor(args.jobs) as pool:
            runs = list(pool.map(_one, jobs))
    rows = {}
    for run in runs:
        rows.setdefault(json.dumps(run["settings"], sort_keys=True), []).append(run)
    table = sorted(rows.values(), key=lambda rs: -sum(r["val_acc"] for r in rs) / len(rs))
    print(f"{args.model}, {args.epochs} epochs, seeds {args.seeds}: validation accuracy (500 images), best first")
    print("| " + " | ".join(axes) + " | val acc (mean) | seconds |")
    print("|" + " --- |" * (len(axes) + 2))
    for rs in table:
        mean = sum(r["val_acc"] for r in rs) / len(rs)
        cells = [str(v) for v in rs[0]["settings"].values()]
        print(f"| {' | '.join(cells)} | {mean:.4f} | {sum(r['seconds'] for r in rs) / len(rs):.0f} |")
    print(f"chosen: {table[0][0]['settings']} ({len(runs)} runs, {time.time() - t0:.0f} s wall)")
    if args.json:
        out = {"model": args.model, "epochs": args.epochs, "seeds": args.seeds, "runs": runs}
        out["chosen"] = table[0][0]["settings"]
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

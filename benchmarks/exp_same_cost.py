"""Experiment: recipes trained as they are, over several seeds, against a baseline of the same cost.

Each recipe of ``--models`` is trained with its own settings (only the seed changes) on the
4,500 built-in MNIST images and scored on the official 10k test set when present (else on the
500 validation images).  Prints, per recipe, the accuracy per seed, the mean ± std, and the
paired per-seed difference against ``--baseline`` (the first model by default): a technique
is shown to help only where every paired difference is positive and the mean gap is larger
than the spread over seeds.  Writes every run to ``--json``.

Runs go to ``--jobs`` processes of one torch thread each (the thread count steers float
rounding, so compare runs made with the same count: the zoo's flows ran with
``OMP_NUM_THREADS=1``).

Usage: python benchmarks/exp_same_cost.py --models bcnn-small-mnist densenet-mnist
       --seeds 0 1 2 --json docs/experiments/same_cost.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _one(job: tuple[str, int]) -> dict:
    import torch

    from hw_bnn.train.data import default_test_dir, load_test_split
    from hw_bnn.train.recipes import load_recipe
    from hw_bnn.train.trainer import train

    torch.set_num_threads(1)
    name, seed = job
    r = load_recipe(name)
    r.train.update(seed=seed)
    test_dir = default_test_dir()
    test = load_test_split(test_dir) if test_dir else None
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        s = train(r, Path(tmp), test_split=test, progress=False)
    return {
        "model": name,
        "seed": seed,
        "acc": s.get("test_acc", s["val_acc"]),
        "val_acc": s["val_acc"],
        "on": "test" if test is not None else "val",
        "seconds": round(time.time() - t0, 1),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--baseline", help="the model the others are paired against (default: the first)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    jobs = [(m, s) for m in args.models for s in args.seeds]
    with ProcessPoolExecutor(args.jobs) as pool:
        runs = list(pool.map(_one, jobs))
    acc = {m: [r["acc"] for r in runs if r["model"] == m] for m in args.models}
    base = args.baseline or args.models[0]
    print(f"seeds {args.seeds}; accuracy on the {runs[0]['on']} split\n")
    print("| recipe | per seed | mean ± std | paired difference to " + base + " |")
    print("| --- | --- | --- | --- |")
    for m in args.models:
        diff = np.subtract(acc[m], acc[base]) if base in acc else []
        cells = " ".join(f"{d:+.4f}" for d in diff) if m != base else "-"
        per_seed = " ".join(f"{a:.4f}" for a in acc[m])
        print(f"| {m} | {per_seed} | {np.mean(acc[m]):.4f} ± {np.std(acc[m]):.4f} | {cells} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"seeds": args.seeds, "baseline": base, "runs": runs}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

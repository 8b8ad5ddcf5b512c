"""Experiment: BatchNorm vs Batch Kalman Norm vs GroupNorm on a binary MLP at micro-batches.

TFC-w1a1 (3 x 64, binary) is trained with each normalization at batch sizes 2, 4, 8 and 64,
with the same seeds and the same learning-rate schedule, on the 4,500 built-in MNIST training
images; accuracy is measured on the 500 validation images and, when present, on the official
10k test set.  BN and BKN networks are deployable (they fold into thresholds); GroupNorm
normalizes each sample over its channels and does not.

The budget is either the same number of epochs for every batch size (``--epochs``: a batch of
64 then gets 32 times fewer optimizer steps than a batch of 2), or the same number of
optimizer steps (``--steps S``: ``ceil(S * batch / 4500)`` epochs each), the fair comparison
of the paper's claim.  Training settings are pinned here, not taken from the recipe: Adam,
lr 0.01 with cosine decay, no warm-up, no augmentation, no label smoothing.  ``--lrs`` trains
every arm at each learning rate given and reports, per arm, the one with the best mean
validation accuracy (the test set never chooses).

Writes a markdown table (mean ± std over seeds, and the per-seed difference BKN - BN) to
stdout, the runs to ``microbatch_norm[_steps].json`` and the plot to
``microbatch_norm[_steps].png`` in ``--out``.

Usage: python benchmarks/exp_microbatch_norm.py [--seeds 0 1 2] [--batch-sizes 2 4 8 64]
       [--epochs 2 | --steps 4500] [--lrs 0.01 0.02 0.03]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PINNED = {"lr": 0.01, "lr_schedule": "cosine", "optimizer": "adam", "warmup_epochs": 0, "label_smoothing": 0.0}
LABELS = {"bn": "BatchNorm", "bkn": "Batch Kalman Norm", "gn": "GroupNorm (not foldable)"}


def epochs_for(args, bs: int) -> int:
    return math.ceil(args.steps * bs / 4500) if args.steps else args.epochs


def run_all(args, test) -> dict:
    """{norm: {batch: {lr: {"val": [per seed], "test": [per seed]}}}}, a line per run."""
    from hw_bnn.train.recipes import load_recipe
    from hw_bnn.train.trainer import train

    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for norm in args.norms:
            for bs in args.batch_sizes:
                for lr in args.lrs:
                    for seed in args.seeds:
                        r = load_recipe("tfc-w1a1")
                        r.norm = norm
                        r.name = f"tfc-{norm}-bs{bs}-lr{lr}-s{seed}"
                        epochs = epochs_for(args, bs)
                        r.train.update(PINNED, lr=lr, augment={}, epochs=epochs, batch_size=bs, seed=seed)
                        t0 = time.time()
                        s = train(r, Path(tmp) / r.name, test_split=test, progress=False)
                        arm = runs.setdefault(norm, {}).setdefault(bs, {}).setdefault(lr, {"val": [], "test": []})
                        arm["val"].append(s["val_acc"])
                        arm["test"].append(s.get("test_acc", s["val_acc"]))
                        print(
                            f"{norm:4s} batch {bs:3d} lr {lr:g} seed {seed} ({epochs} epochs): validation "
                            f"{s['val_acc']:.4f}, accuracy {arm['test'][-1]:.4f} ({time.time() - t0:.0f} s)",
                            flush=True,
                        )
    return runs


def choose_lr(runs: dict) -> tuple[dict, dict]:
    """Per arm the learning rate of the best mean validation accuracy (ties: the first of
    ``--lrs``): ({norm: {batch: [test accuracy per seed]}}, {norm: {batch: lr}})."""
    results, chosen = {}, {}
    for norm, by_bs in runs.items():
        for bs, by_lr in by_bs.items():
            lr = max(by_lr, key=lambda k: np.mean(by_lr[k]["val"]))
            chosen.setdefault(norm, {})[bs] = lr
            results.setdefault(norm, {})[bs] = by_lr[lr]["test"]
    return results, chosen


def table(args, results: dict, chosen: dict, split: str, budget: str) -> str:
    lines = [f"TFC-w1a1, {budget}, seeds {args.seeds}; accuracy on the {split}, mean ± std over seeds"]
    if len(args.lrs) > 1:
        lines[0] += f"; learning rate per arm chosen on the validation split from {args.lrs}"
    lines.append("")
    lines.append("| norm | " + " | ".join(f"batch {bs}" for bs in args.batch_sizes) + " |")
    lines.append("| --- | " + " | ".join("---" for _ in args.batch_sizes) + " |")
    for norm, by_bs in results.items():
        cells = [f"{np.mean(by_bs[bs]):.4f} ± {np.std(by_bs[bs]):.4f}" for bs in args.batch_sizes]
        if len(args.lrs) > 1:
            cells = [f"{c} (lr {chosen[norm][bs]:g})" for c, bs in zip(cells, args.batch_sizes, strict=True)]
        lines.append(f"| {LABELS.get(norm, norm)} | " + " | ".join(cells) + " |")
    if "bn" in results and "bkn" in results:
        diffs = [np.subtract(results["bkn"][bs], results["bn"][bs]) for bs in args.batch_sizes]
        cells = [" ".join(f"{d:+.4f}" for d in ds) for ds in diffs]
        lines.append("| BKN - BN, per seed | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(args, results: dict, path: Path, budget: str, on_test: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for norm, by_bs in results.items():
        m = np.array([np.mean(by_bs[bs]) for bs in args.batch_sizes])
        sd = np.array([np.std(by_bs[bs]) for bs in args.batch_sizes])
        ax.errorbar(args.batch_sizes, m, yerr=sd, marker="o", capsize=3, label=LABELS.get(norm, norm))
    ax.set_xscale("log", base=2)
    ax.set_xticks(args.batch_sizes, [str(b) for b in args.batch_sizes])
    ax.set_xlabel("batch size")
    ax.set_ylabel(f"accuracy ({'test' if on_test else 'validation'})")
    ax.set_title(f"TFC-w1a1, {budget}, {len(args.seeds)} seeds")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[2, 4, 8, 64])
    ap.add_argument("--norms", nargs="+", default=["bn", "bkn", "gn"])
    budget = ap.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=int, default=2, help="the same epochs for every batch size")
    budget.add_argument("--steps", type=int, help="the same optimizer steps for every batch size")
    ap.add_argument(
        "--lrs", type=float, nargs="+", default=[0.01], help="learning rates; per arm the best on the validation split"
    )
    ap.add_argument("--out", default=str(ROOT / "docs" / "experiments"))
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: no spinning when cores are shared)")
    args = ap.parse_args(argv)

    import torch

    from hw_bnn.train.data import default_test_dir, load_idx_split

    torch.set_num_threads(args.threads)
    test_dir = default_test_dir()
    test = load_idx_split(test_dir) if test_dir else None
    runs = run_all(args, test)
    results, chosen = choose_lr(runs)
    split = "official MNIST test set (10k)" if test is not None else "validation split (500)"
    label = f"{args.steps} optimizer steps" if args.steps else f"{args.epochs} epochs"
    stem = ("microbatch_norm_steps" if args.steps else "microbatch_norm") + ("_lr" if len(args.lrs) > 1 else "")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"split": split, "epochs": args.epochs, "steps": args.steps, "settings": PINNED, "lrs": args.lrs}
    doc.update(results=results, chosen_lr=chosen, runs=runs)
    (out / f"{stem}.json").write_text(json.dumps(doc, indent=2))
    print("\n" + table(args, results, chosen, split, label))
    plot(args, results, out / f"{stem}.png", label, test is not None)
    print(f"\nplot: {out / f'{stem}.png'}")


if __name__ == "__main__":
    main()

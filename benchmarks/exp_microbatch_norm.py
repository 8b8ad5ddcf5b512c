"""Experiment: BatchNorm vs Batch Kalman Norm vs GroupNorm on a binary MLP at micro-batches.

TFC-w1a1 (3 x 64, binary) is trained with each normalization at batch sizes 2, 4, 8 and 64,
with the same seeds, the same number of epochs and the same learning-rate schedule, on the
4,500 built-in MNIST training images; accuracy is measured on the 500 validation images and,
when present, on the official 10k test set.  BN and BKN networks are deployable (they fold
into thresholds); GroupNorm normalizes each sample over its channels and does not.

Writes a markdown table to stdout and the plot to docs/experiments/microbatch_norm.png.

Usage: python benchmarks/exp_microbatch_norm.py [--seeds 0 1 2] [--batch-sizes 2 4 8 64] [--epochs 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[2, 4, 8, 64])
    ap.add_argument("--norms", nargs="+", default=["bn", "bkn", "gn"])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "docs" / "experiments"))
    args = ap.parse_args(argv)

    import torch

    from hw_bnn.train.data import default_test_dir, load_idx_split
    from hw_bnn.train.recipes import load_recipe
    from hw_bnn.train.trainer import train

    torch.set_num_threads(2)
    test_dir = default_test_dir()
    test = load_idx_split(test_dir) if test_dir else None
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for norm in args.norms:
            for bs in args.batch_sizes:
                for seed in args.seeds:
                    r = load_recipe("tfc-w1a1")
                    r.norm = norm
                    r.name = f"tfc-{norm}-bs{bs}-s{seed}"
                    r.train.update(epochs=args.epochs, batch_size=bs, seed=seed)
                    t0 = time.time()
                    s = train(r, Path(tmp) / r.name, test_split=test, progress=False)
                    acc = s.get("test_acc", s["val_acc"])
                    results.setdefault(norm, {}).setdefault(bs, []).append(acc)
                    print(
                        f"{norm:4s} batch {bs:3d} seed {seed}: accuracy {acc:.4f} ({time.time() - t0:.0f} s)",
                        flush=True,
                    )
    split = "official MNIST test set (10k)" if test is not None else "validation split (500)"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "microbatch_norm.json").write_text(
        json.dumps({"split": split, "epochs": args.epochs, "results": results}, indent=2)
    )
    print(f"\nTFC-w1a1, {args.epochs} epochs, seeds {args.seeds}; accuracy on the {split}, mean ± std over seeds\n")
    print("| norm | " + " | ".join(f"batch {bs}" for bs in args.batch_sizes) + " |")
    print("| --- | " + " | ".join("---" for _ in args.batch_sizes) + " |")
    for norm, by_bs in results.items():
        cells = [f"{np.mean(by_bs[bs]):.4f} ± {np.std(by_bs[bs]):.4f}" for bs in args.batch_sizes]
        print(f"| {norm} | " + " | ".join(cells) + " |")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    labels = {"bn": "BatchNorm", "bkn": "Batch Kalman Norm", "gn": "GroupNorm (not foldable)"}
    for norm, by_bs in results.items():
        m = np.array([np.mean(by_bs[bs]) for bs in args.batch_sizes])
        sd = np.array([np.std(by_bs[bs]) for bs in args.batch_sizes])
        ax.errorbar(args.batch_sizes, m, yerr=sd, marker="o", capsize=3, label=labels.get(norm, norm))
    ax.set_xscale("log", base=2)
    ax.set_xticks(args.batch_sizes, [str(b) for b in args.batch_sizes])
    ax.set_xlabel("batch size")
    ax.set_ylabel(f"accuracy ({'test' if test is not None else 'validation'})")
    ax.set_title(f"TFC-w1a1, {args.epochs} epochs, {len(args.seeds)} seeds")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "microbatch_norm.png", dpi=110)
    print(f"\nplot: {out / 'microbatch_norm.png'}")


if __name__ == "__main__":
    main()

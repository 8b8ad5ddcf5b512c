"""Experiment: BinaryDenseNet-small against a binary ResNet-style net of similar size.

Arms (all on the 4,500 built-in MNIST training images, the recipes' 10 % validation split;
accuracy on the official 10k MNIST test set when present, else on the 500 validation images):

* ``dense-t2`` / ``dense-t4`` / ``dense-t8``: ``models/densenet-mnist.yaml`` (stem 16, D8 D8
  T24 D8 D8 T32 D8) with ``transition_bits`` 2, 4 and 8 (the weight bits of its two 1x1
  transitions; everything else binary, 4-bit ReLU codes into the transitions);
* ``res-s``: ``arch: reactnet`` with ``nonlin: none`` (plain binary ResNet blocks,
  ``y = BN(conv(sign(x - alpha))) + x``), layout ``[16] R M [32] M R``, chosen so that its
  weight count and binary MACs match the DenseNet's (31,952 against 31,008 weights);
* ``res-m``: ``models/reactnet-mnist.yaml``'s layout (``[16] R M [32] R M R``) with
  ``nonlin: none``: 41,168 binary weights, close to the 8-bit DenseNet's weight memory
  (45,344 bits);
* ``dense-xs-t8``: a second, smaller DenseNet (stem 8, D4 D4 T12 D4 D4 T16 D4; 12,688
  weights) with 8-bit transitions (``dense-xs-t2`` is available through ``--arms``).

Every arm gets the same seeds and training budget: Adam, lr 0.005 with linear decay to 0,
batch 64, no weight decay (the two recipes' settings), ``--epochs`` epochs.  Sizes and MACs
come from ``hw_bnn.train.zoo.summarize``.

Writes a markdown table to stdout, the raw numbers to docs/experiments/densenet_vs_resnet.json
and the plot (accuracy against weight memory) to docs/experiments/densenet_vs_resnet.png.

Usage: python benchmarks/exp_densenet.py [--seeds 0 1 2] [--epochs 3] [--arms dense-t2 ... dense-xs-t8]

(About 19 minutes with the defaults on one thread of the 2-core machine.)
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

RES_S = [[16, 3, 1, 1], "R", "M", [32, 3, 1, 1], "M", "R"]
RES_M = [[16, 3, 1, 1], "R", "M", [32, 3, 1, 1], "R", "M", "R"]
DENSE_XS = [[8, 3, 1, 1], "D4", "D4", "T12", "D4", "D4", "T16", "D4"]

# arm -> (family, base recipe, conv list or None for the recipe's own, transition bits or None)
ARMS = {
    "dense-t2": ("BinaryDenseNet", "densenet-mnist", None, 2),
    "dense-t4": ("BinaryDenseNet", "densenet-mnist", None, 4),
    "dense-t8": ("BinaryDenseNet", "densenet-mnist", None, 8),
    "res-s": ("binary ResNet", "reactnet-mnist", RES_S, None),
    "res-m": ("binary ResNet", "reactnet-mnist", RES_M, None),
    "dense-xs-t2": ("BinaryDenseNet-XS", "densenet-mnist", DENSE_XS, 2),
    "dense-xs-t8": ("BinaryDenseNet-XS", "densenet-mnist", DENSE_XS, 8),
}
DEFAULT_ARMS = ["dense-t2", "dense-t4", "dense-t8", "res-s", "res-m", "dense-xs-t8"]


def make_recipe(arm: str, epochs: int, seed: int):
    from hw_bnn.train.recipes import check_recipe, load_recipe

    family, base, conv, tbits = ARMS[arm]
    r = load_recipe(base)
    if conv is not None:
        r.conv = [list(c) if isinstance(c, list) else c for c in conv]
    if tbits is not None:
        r.transition_bits = tbits
    if r.arch == "reactnet":
        r.nonlin = "none"
    r.name = f"{arm}-s{seed}"
    # one training budget for every arm (the densenet-mnist / reactnet-mnist settings)
    r.train.update(
        epochs=epochs, batch_size=64, lr=0.005, lr_schedule="linear", weight_decay=0.0, optimizer="adam", seed=seed
    )
    check_recipe(r)
    return r


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--arms", nargs="+", default=DEFAULT_ARMS, choices=sorted(ARMS))
    ap.add_argument("--out", default=str(ROOT / "docs" / "experiments"))
    ap.add_argument("--name", default="densenet_vs_resnet", help="file stem of the JSON and PNG")
    args = ap.parse_args(argv)

    import torch

    from hw_bnn.train.data import default_test_dir, load_test_split
    from hw_bnn.train.trainer import train
    from hw_bnn.train.zoo import summarize

    torch.set_num_threads(1)
    test_dir = default_test_dir()
    test = load_test_split(test_dir) if test_dir else None
    split = "official MNIST test set (10k)" if test is not None else "validation split (500)"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    arms = {}
    for arm in args.arms:
        r = make_recipe(arm, args.epochs, args.seeds[0])
        s = summarize(r)
        arms[arm] = {
            "family": ARMS[arm][0],
            "conv": r.conv,
            "transition_bits": r.transition_bits if r.arch == "densenet" else None,
            "weights": s["weights"],
            "weight_memory_bits": s["weight_memory_bits"],
            "binary_macs": s["binary_macs"],
            "integer_macs": s["integer_macs"],
            "acc": [],
            "val_acc": [],
            "seconds": [],
        }
    t_start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for arm in args.arms:
                r = make_recipe(arm, args.epochs, seed)
                t0 = time.time()
                s = train(r, Path(tmp) / r.name, test_split=test, progress=False)
                a = arms[arm]
                a["acc"].append(s.get("test_acc", s["val_acc"]))
                a["val_acc"].append(s["val_acc"])
                a["seconds"].append(time.time() - t0)
                print(
                    f"{arm:12s} seed {seed}: accuracy {a['acc'][-1]:.4f} (val {s['val_acc']:.4f}, "
                    f"{a['seconds'][-1]:.0f} s)",
                    flush=True,
                )
    wall = time.time() - t_start
    budget = {
        "epochs": args.epochs,
        "batch_size": 64,
        "optimizer": "adam",
        "lr": 0.005,
        "lr_schedule": "linear",
        "weight_decay": 0.0,
    }
    (out / f"{args.name}.json").write_text(
        json.dumps(
            {"split": split, "seeds": args.seeds, "budget": budget, "wall_seconds": wall, "arms": arms}, indent=2
        )
    )

    print(f"\n{args.epochs} epochs, batch 64, Adam lr 0.005 linear decay; seeds {args.seeds}; accuracy on the {split};")
    print(f"mean ± std (population) over seeds, and min-max; total wall time {wall / 60:.1f} min\n")
    print(
        "| arm | family | transition bits | weights | weight memory (bits) | binary MACs | integer MACs | "
        "accuracy mean ± std | min-max | s / run |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for arm, a in arms.items():
        acc = np.array(a["acc"])
        tb = a["transition_bits"] if a["transition_bits"] is not None else "-"
        print(
            f"| {arm} | {a['family']} | {tb} | {a['weights']:,} | {a['weight_memory_bits']:,} | {a['binary_macs']:,} | "
            f"{a['integer_macs']:,} | {acc.mean():.4f} ± {acc.std():.4f} | {acc.min():.4f}-{acc.max():.4f} | "
            f"{np.mean(a['seconds']):.0f} |"
        )

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    styles = {"BinaryDenseNet": ("o", "C0"), "BinaryDenseNet-XS": ("^", "C2"), "binary ResNet": ("s", "C3")}
    for family in dict.fromkeys(a["family"] for a in arms.values()):
        names = [n for n, a in arms.items() if a["family"] == family]
        names.sort(key=lambda n: arms[n]["weight_memory_bits"])
        x = np.array([arms[n]["weight_memory_bits"] for n in names])
        m = np.array([np.mean(arms[n]["acc"]) for n in names])
        sd = np.array([np.std(arms[n]["acc"]) for n in names])
        marker, colour = styles.get(family, ("D", "C7"))
        ax.errorbar(
            x,
            m,
            yerr=sd,
            marker=marker,
            color=colour,
            capsize=3,
            label=family,
            linestyle="-" if "Dense" in family else "none",
        )
        for n, xi, mi in zip(names, x, m):
            a = arms[n]
            text = (
                f"{a['transition_bits']}-bit T"
                if a["transition_bits"] is not None
                else f"{n} ({a['weights'] / 1000:.1f}k w)"
            )
            ax.annotate(text, (xi, mi), textcoords="offset points", xytext=(5, -12), fontsize=8, color=colour)
    ax.set_xscale("log")
    ax.margins(x=0.12, y=0.08)
    ax.set_xlabel("weight memory (bits, log scale)")
    ax.set_ylabel(f"accuracy ({'test' if test is not None else 'validation'})")
    ax.set_title(f"mnist5k, {args.epochs} epochs, {len(args.seeds)} seeds (mean ± std)")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / f"{args.name}.png", dpi=110)
    print(f"\nraw numbers: {out / (args.name + '.json')}\nplot: {out / (args.name + '.png')}")


if __name__ == "__main__":
    main()

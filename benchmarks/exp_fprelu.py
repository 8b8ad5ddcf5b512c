"""Experiment: FTBNN's FPReLU against no block non-linearity (and ReActNet's RPReLU).

The ReActNet-style binary CNN (recipe ``reactnet-mnist``) is trained with ``nonlin: fprelu``
(a learnable per-channel slope on each side of zero), ``none`` and ``rprelu``, with the same
seeds, epochs, optimizer (the recipe's: Adam, linear decay) and data (the 4,500 built-in MNIST
training images); accuracy on the official 10k MNIST test set when present, else on the 500
validation images; mean ± standard deviation over the seeds.

For every trained FPReLU model it also counts the channels whose slopes ended negative on
either side (``a_c < 0`` or ``b_c < 0``): there the function is not monotone, so
``sign(FPReLU(y) - alpha)`` cannot fold into one threshold on ``y`` (the compiler refuses such
a channel in a folded chain; the fixed-point shortcut computes FPReLU itself).

Writes docs/experiments/fprelu.json and fprelu.png and updates the generated part of the
section "FTBNN: FPReLU" in docs/experiments.md.

Usage: python benchmarks/exp_fprelu.py [--seeds 0 1 2] [--epochs 8] [--nonlins fprelu none rprelu]
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from exp_adambnn import command_line, plot_arms, publish, stats, test_split_or_none, write_results  # noqa: E402

SECTION = "FTBNN: FPReLU"
LABELS = {"fprelu": "FPReLU", "none": "none", "rprelu": "RPReLU"}


def _refused(a, b, alpha):
    """Channels where ``sign(FPReLU(y) - alpha)`` is not monotone in ``y`` (+1 or -1 on an
    interval only): ``a > 0 > b`` with ``alpha > 0`` (a V above 0), ``a < 0 < b`` with
    ``alpha <= 0`` (an inverted V reaching 0).  Both slopes of one sign stay monotone; a V
    with ``alpha <= 0`` (or an inverted V with ``alpha > 0``) gives a constant sign."""
    return ((a > 0) & (b < 0) & (alpha > 0)) | ((a < 0) & (b > 0) & (alpha <= 0))


def fprelu_slopes(model) -> dict:
    """Per FPReLU module of a ReActCNN: channels, how many have a negative slope on each side,
    and how many of those make the sign that reads it non-monotone.

    In a residual block the FPReLU output is the shortcut, a fixed-point tensor that the
    hardware computes with any slopes; the next RSign reads its codes, so it always folds.
    In a transition block and in the head the FPReLU only feeds the next RSign and folds into
    its thresholds: a non-monotone channel there is refused by the compiler (``compile``)."""
    from hw_bnn.train.layers import FPReLU

    readers = [
        (f"blocks.{i}", blk.act, blk.sign, bool(blk.residual))
        for i, blk in enumerate(model.blocks)
        if hasattr(blk, "act")
    ]
    readers.append(("head", model.head_act, model.head_sign, False))
    per = {}
    for name, act, sign, residual in readers:
        if not isinstance(act, FPReLU):
            continue
        a, b, alpha = act.pos.detach(), act.neg.detach(), sign.alpha.detach()
        bad = _refused(a, b, alpha)
        per[name] = {
            "channels": int(a.numel()),
            "residual": residual,
            "a_neg": int((a < 0).sum()),
            "b_neg": int((b < 0).sum()),
            "either_neg": int(((a < 0) | (b < 0)).sum()),
            "non_monotone_sign": int(bad.sum()),
            "refused": 0 if residual else int(bad.sum()),
            "a_min": float(a.min()),
            "b_min": float(b.min()),
            "b_max": float(b.max()),
        }
    keys = ("channels", "a_neg", "b_neg", "either_neg", "non_monotone_sign", "refused")
    tot = {k: sum(v[k] for v in per.values()) for k in keys}
    tot["either_neg_residual"] = sum(v["either_neg"] for v in per.values() if v["residual"])
    return {"total": tot, "modules": per}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--nonlins", nargs="+", default=["fprelu", "none", "rprelu"], choices=list(LABELS))
    ap.add_argument("--model", default="reactnet-mnist", help="recipe (name or .yaml path), arch reactnet")
    ap.add_argument("--out", default=str(ROOT / "docs" / "experiments"))
    ap.add_argument(
        "--docs",
        default=str(ROOT / "docs" / "experiments.md"),
        help="markdown file whose section is updated ('' for none)",
    )
    args = ap.parse_args(argv)

    import torch

    from hw_bnn.train.recipes import load_recipe
    from hw_bnn.train.trainer import load_checkpoint, train

    torch.set_num_threads(1)
    t_start = time.time()
    test, split = test_split_or_none()
    base = load_recipe(args.model)
    runs: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for nl in args.nonlins:
            for seed in args.seeds:
                r = load_recipe(args.model)
                r.nonlin = nl
                r.name = f"{base.name}-{nl}-s{seed}"
                r.train.update(seed=seed, epochs=args.epochs)
                t0 = time.time()
                s = train(r, Path(tmp) / r.name, test_split=test, progress=False)
                run = {
                    "seed": seed,
                    "acc": s.get("test_acc", s["val_acc"]),
                    "val_acc": s["val_acc"],
                    "seconds": round(time.time() - t0, 1),
                }
                msg = ""
                if nl == "fprelu":
                    model, _ = load_checkpoint(Path(tmp) / r.name / "checkpoint.pt")
                    run["slopes"] = fprelu_slopes(model)
                    tot = run["slopes"]["total"]
                    msg = (
                        f", negative slopes: a<0 {tot['a_neg']}, b<0 {tot['b_neg']}, either {tot['either_neg']} of "
                        f"{tot['channels']} channels ({tot['either_neg_residual']} in residual blocks); "
                        f"compile would refuse {tot['refused']}"
                    )
                runs.setdefault(nl, []).append(run)
                print(
                    f"{LABELS[nl]:7s} seed {seed}: accuracy {run['acc']:.4f}{msg} ({run['seconds']:.0f} s)", flush=True
                )
    wall = time.time() - t_start

    summary = {
        nl: {
            "acc": stats([r["acc"] for r in rs]),
            "seconds_per_run": float(np.mean([r["seconds"] for r in rs])),
            "runs": rs,
        }
        for nl, rs in runs.items()
    }
    date = datetime.date.today().isoformat()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "model": base.name,
        "dataset": base.dataset,
        "split": split,
        "seeds": args.seeds,
        "epochs": args.epochs,
        "batch_size": base.train["batch_size"],
        "optimizer": base.train["optimizer"],
        "lr": base.train["lr"],
        "lr_schedule": base.train["lr_schedule"],
    }
    write_results(out / "fprelu.json", meta, summary, date, wall)

    cmd = command_line("exp_fprelu.py", argv)
    lines = [
        f"**Experiment.** `{cmd}` ({base.name} with each block non-linearity, {base.dataset}, "
        f"{args.epochs} epochs, batch {base.train['batch_size']}, {base.train['optimizer'].capitalize()} lr "
        f"{base.train['lr']:g} "
        f"with {base.train['lr_schedule']} decay; seeds {', '.join(map(str, args.seeds))}; accuracy on the {split}, "
        f"mean ± std over seeds, [min, max]; 2 CPU cores, 1 thread, {date}; wall time {wall / 60:.1f} min for "
        f"{sum(len(v) for v in runs.values())} runs):",
        "",
        "| block non-linearity | accuracy (mean ± std) | [min, max] | s / run |",
        "| --- | --- | --- | --- |",
    ]
    for nl, a in summary.items():
        st = a["acc"]
        lines.append(
            f"| {LABELS[nl]} | {st['mean']:.4f} ± {st['std']:.4f} | [{st['min']:.4f}, {st['max']:.4f}] | "
            f"{a['seconds_per_run']:.0f} |"
        )
    if "fprelu" in runs:
        lines += [
            "",
            "FPReLU slopes at the end of training (channels of all FPReLU modules of the model; "
            "a: slope for x > 0, b: for x <= 0). *In residual blocks*: of the negative-slope channels, those "
            "whose FPReLU output is a fixed-point shortcut (computed in hardware with any slope). *Non-monotone "
            "sign*: channels where sign(FPReLU(y) - alpha) is +-1 on an interval only. *Refused*: those of them "
            "that fold into the next sign's thresholds (transition blocks, head), which `hw-bnn compile` refuses:",
            "",
            "| seed | channels | a_c < 0 | b_c < 0 | a_c < 0 or b_c < 0 | in residual blocks | non-monotone sign "
            "| refused | min a_c | min b_c | max b_c |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in runs["fprelu"]:
            tot, mods = r["slopes"]["total"], r["slopes"]["modules"].values()
            lines.append(
                f"| {r['seed']} | {tot['channels']} | {tot['a_neg']} | {tot['b_neg']} | {tot['either_neg']} | "
                f"{tot['either_neg_residual']} | {tot['non_monotone_sign']} | {tot['refused']} | "
                f"{min(m['a_min'] for m in mods):.3f} | {min(m['b_min'] for m in mods):.3f} | "
                f"{max(m['b_max'] for m in mods):.3f} |"
            )
    lines += [
        "",
        "![accuracy per block non-linearity](experiments/fprelu.png)",
        "",
        "Raw numbers: `docs/experiments/fprelu.json`.",
    ]
    table = "\n".join(lines)
    print("\n" + table)

    plot_arms(
        out / "fprelu.png",
        summary,
        [LABELS[n] for n in summary],
        f"accuracy ({'test' if test is not None else 'validation'})",
        f"{base.name}: block non-linearity, {args.epochs} epochs, {len(args.seeds)} seeds\n(mean ± std; dots: seeds)",
        figsize=(5, 3.5),
        jitter=0.12,
        xlim=True,
    )
    publish(out, "fprelu", wall, args.docs, SECTION, "exp_fprelu", table)
    return summary


if __name__ == "__main__":
    main()

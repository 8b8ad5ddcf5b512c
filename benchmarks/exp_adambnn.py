"""Experiment: the AdamBNN recipe (Liu et al. 2021) on the ReActNet-style binary CNN.

Arms: one step (binary weights and activations from the start) or two steps (step 1: real
weights, binary activations, weight decay 5e-6; step 2: binary weights too, started from
step 1, weight decay 0), Adam or SGD (momentum 0.9), with or without the distribution loss
from a real-valued teacher of the same shape (KL to its softmax).  Every arm gets the same
student budget: one step trains E epochs, two steps E/2 + E/2; the teacher's epochs are
extra.  Each optimizer restarts its linear learning-rate decay in each step; SGD uses its own
learning rate, 0.5 by default (100x Adam's 0.005): a one-seed pilot of the one-step SGD arm
(4 epochs, lr 0.05 / 0.2 / 0.5 / 1 / 2) reached 0.14 / 0.31 / 0.83 / 0.75 / 0.15 validation
accuracy; at 10x Adam's lr (0.05) SGD never leaves the uniform output (loss ln 10).  Data: the
4,500 built-in MNIST training images (mnist5k); accuracy on the official 10k MNIST test set when
present, else on the 500 validation images.  Mean ± standard deviation over the seeds (min-max in the JSON).

Writes docs/experiments/adambnn.json and adambnn.png and updates the generated part of the
section "ReActNet blocks and the AdamBNN recipe" in docs/experiments.md.

Usage: python benchmarks/exp_adambnn.py [--seeds 0 1 2] [--epochs 4] [--teacher-epochs 3]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECTION = "ReActNet blocks and the AdamBNN recipe"
# arm name -> (two_step, optimizer, teacher)
ARMS = {
    "1-step Adam": (False, "adam", "none"),
    "2-step Adam": (True, "adam", "none"),
    "1-step SGD": (False, "sgd", "none"),
    "2-step SGD": (True, "sgd", "none"),
    "1-step Adam + teacher": (False, "adam", "float"),
    "2-step Adam + teacher": (True, "adam", "float"),
    "1-step SGD + teacher": (False, "sgd", "float"),
    "2-step SGD + teacher": (True, "sgd", "float"),
}


def test_split_or_none():
    """(the official MNIST test split or None, its description)."""
    from hw_bnn.train.data import default_test_dir, load_test_split

    d = default_test_dir()
    if d is None:
        return None, "validation split (500 images)"
    return load_test_split(d), "official MNIST test set (10k)"


def stats(values) -> dict:
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()), "max": float(v.max()), "n": len(v)}


def write_results(path: Path, meta: dict, summary: dict, date: str, wall: float) -> None:
    """The experiment's JSON: its settings, the machine, date, wall time and every arm."""
    common = {
        "machine": "2 CPU cores, torch.set_num_threads(1)",
        "date": date,
        "wall_s": round(wall, 1),
        "spread": "std over seeds (population std); min and max per arm",
    }
    path.write_text(json.dumps({**meta, **common, "arms": summary}, indent=2))


def command_line(script: str, argv) -> str:
    """How the experiment was run, for the docs: ``python benchmarks/<script> <arguments>``."""
    return " ".join([f"python benchmarks/{script}", *(sys.argv[1:] if argv is None else argv)])


def plot_arms(
    path: Path,
    summary: dict,
    labels: list,
    ylabel: str,
    title: str,
    figsize=(7, 3.8),
    style=None,
    jitter: float = 0.15,
    label_size=None,
    xlim: bool = False,
) -> None:
    """One column per arm of ``summary`` (``{arm: {"acc": stats, "runs": [{"acc": ...}], ...}}``):
    mean ± std as an error bar (``style(arm summary) -> (color, marker)``), each seed as a dot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize)
    for i, a in enumerate(summary.values()):
        color, marker = style(a) if style else ("tab:blue", "o")
        ax.errorbar(i, a["acc"]["mean"], yerr=a["acc"]["std"], fmt=marker, color=color, capsize=4, ms=7)
        ax.scatter([i + jitter] * len(a["runs"]), [r["acc"] for r in a["runs"]], s=10, color="gray", zorder=3)
    ax.set_xticks(range(len(labels)), labels, **({"fontsize": label_size} if label_size else {}))
    if xlim:
        ax.set_xlim(-0.5, len(labels) - 0.5)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def publish(out: Path, name: str, wall: float, docs: str, section: str, tag: str, table: str) -> None:
    """Say where the plot and the JSON are, and put ``table`` into the docs section (if ``docs``)."""
    print(f"\nplot: {out / (name + '.png')}; json: {out / (name + '.json')}; wall time {wall:.0f} s")
    if docs:
        update_docs_section(Path(docs), section, tag, table)
        print(f"updated the section {section!r} of {docs}")


def update_docs_section(md_path: Path, heading: str, tag: str, generated: str) -> None:
    """Put ``generated`` between ``<!-- tag:begin -->`` and ``<!-- tag:end -->`` in the section
    ``## heading`` of ``md_path`` (replacing what was there; the text around the markers, such
    as a hand-written reading of the result, stays).  Appends the section when it is missing."""
    begin, end = f"<!-- {tag}:begin -->", f"<!-- {tag}:end -->"
    block = f"{begin}\n{generated.rstrip()}\n{end}"
    text = md_path.read_text() if md_path.exists() else ""
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = (
            text.rstrip() + f"\n\n## {heading}\n\n{block}\n\nWhat it shows: (to be written after reading the numbers)\n"
        )
    md_path.write_text(text)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument(
        "--epochs", type=int, default=4, help="student budget E: one step E epochs, two steps E/2 + E/2 (E even)"
    )
    ap.add_argument("--teacher-epochs", type=int, default=3, help="the real-valued teacher's own epochs (extra)")
    ap.add_argument(
        "--arms", nargs="+", default=list(ARMS), choices=list(ARMS), metavar="ARM", help=f"from: {', '.join(ARMS)}"
    )
    ap.add_argument("--model", default="reactnet-mnist", help="recipe (name or .yaml path)")
    ap.add_argument("--adam-lr", type=float, default=None, help="Adam's learning rate (default: the recipe's)")
    ap.add_argument("--sgd-lr", type=float, default=0.5, help="SGD's learning rate (default 0.5; see above)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "experiments"))
    ap.add_argument(
        "--docs",
        default=str(ROOT / "docs" / "experiments.md"),
        help="markdown file whose section is updated ('' for none)",
    )
    args = ap.parse_args(argv)
    if args.epochs % 2:
        ap.error("--epochs must be even (two steps train E/2 + E/2)")

    import torch

    from hw_bnn.train.recipes import load_recipe
    from hw_bnn.train.trainer import train

    torch.set_num_threads(1)
    t_start = time.time()
    test, split = test_split_or_none()
    base = load_recipe(args.model)
    adam_lr = args.adam_lr or float(base.train["lr"])
    sgd_lr = args.sgd_lr
    half = args.epochs // 2
    runs: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for arm in args.arms:
            two_step, opt, teacher = ARMS[arm]
            for seed in args.seeds:
                r = load_recipe(args.model)
                r.name = f"{base.name}-{arm.replace(' ', '').replace('+', '-')}-s{seed}"
                r.train.update(
                    seed=seed,
                    optimizer=opt,
                    lr=adam_lr if opt == "adam" else sgd_lr,
                    lr_schedule="linear",
                    two_step=two_step,
                    epochs=half if two_step else args.epochs,
                    step1_epochs=half if two_step else 0,
                    step1_weight_decay=5e-6,
                    weight_decay=0.0,
                    teacher=teacher,
                    teacher_epochs=args.teacher_epochs,
                    kd_weight=1.0,
                )
                t0 = time.time()
                s = train(r, Path(tmp) / r.name, test_split=test, progress=False)
                key = "test_acc" if test is not None else "val_acc"
                run = {
                    "seed": seed,
                    "acc": s[key],
                    "val_acc": s["val_acc"],
                    "step1_acc": s.get(f"step1_{key}"),
                    "teacher_acc": s.get(f"teacher_{key}"),
                    "seconds": round(time.time() - t0, 1),
                }
                runs.setdefault(arm, []).append(run)
                extra = "".join(f", {k} {run[k]:.4f}" for k in ("step1_acc", "teacher_acc") if run[k] is not None)
                print(f"{arm:22s} seed {seed}: accuracy {run['acc']:.4f}{extra} ({run['seconds']:.0f} s)", flush=True)
    wall = time.time() - t_start

    summary = {}
    for arm, rs in runs.items():
        two_step, opt, teacher = ARMS[arm]
        summary[arm] = {
            "two_step": two_step,
            "optimizer": opt,
            "lr": adam_lr if opt == "adam" else sgd_lr,
            "teacher": teacher,
            "student_epochs": f"{half} + {half}" if two_step else str(args.epochs),
            "acc": stats([r["acc"] for r in rs]),
            "step1_acc": stats([r["step1_acc"] for r in rs]) if two_step else None,
            "teacher_acc": stats([r["teacher_acc"] for r in rs]) if teacher != "none" else None,
            "seconds_per_run": float(np.mean([r["seconds"] for r in rs])),
            "runs": rs,
        }
    date = datetime.date.today().isoformat()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "model": base.name,
        "dataset": base.dataset,
        "split": split,
        "seeds": args.seeds,
        "student_epochs": args.epochs,
        "teacher_epochs": args.teacher_epochs,
        "batch_size": base.train["batch_size"],
        "adam_lr": adam_lr,
        "sgd_lr": sgd_lr,
        "sgd_momentum": 0.9,
        "lr_schedule": "linear, restarted in each step",
        "step1_weight_decay": 5e-6,
        "step2_weight_decay": 0.0,
    }
    write_results(out / "adambnn.json", meta, summary, date, wall)

    cmd = command_line("exp_adambnn.py", argv)
    lines = [
        f"**Experiment.** `{cmd}` ({base.name}, {base.dataset}, batch {base.train['batch_size']}; "
        f"student budget {args.epochs} epochs: one step {args.epochs}, two steps {half} + {half}; "
        f"teacher {args.teacher_epochs} extra epochs; Adam lr {adam_lr:g}, SGD lr {sgd_lr:g} with momentum 0.9, "
        f"linear decay restarted in each step; step-1 weight decay 5e-6, step 2 and one step 0; "
        f"seeds {', '.join(map(str, args.seeds))}; accuracy on the {split}, mean ± std over seeds, "
        f"[min, max]; 2 CPU cores, 1 thread, {date}; wall time {wall / 60:.1f} min for "
        f"{sum(len(v) for v in runs.values())} runs):",
        "",
        "| arm | student epochs | accuracy (mean ± std) | [min, max] | step-1 accuracy | teacher accuracy | s / run |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for arm, a in summary.items():
        st = a["acc"]
        s1 = f"{a['step1_acc']['mean']:.4f}" if a["step1_acc"] else "-"
        ta = f"{a['teacher_acc']['mean']:.4f}" if a["teacher_acc"] else "-"
        lines.append(
            f"| {arm} | {a['student_epochs']} | {st['mean']:.4f} ± {st['std']:.4f} | "
            f"[{st['min']:.4f}, {st['max']:.4f}] | {s1} | {ta} | {a['seconds_per_run']:.0f} |"
        )
    lines += ["", "![accuracy per arm](experiments/adambnn.png)", "", "Raw numbers: `docs/experiments/adambnn.json`."]
    table = "\n".join(lines)
    print("\n" + table)

    def style(a):
        return ("tab:blue" if a["optimizer"] == "adam" else "tab:orange"), ("o" if a["teacher"] == "none" else "s")

    plot_arms(
        out / "adambnn.png",
        summary,
        [n.replace(" + ", "\n+ ") for n in summary],
        f"accuracy ({'test' if test is not None else 'validation'})",
        f"{base.name}: AdamBNN arms, {args.epochs} student epochs, {len(args.seeds)} seeds (mean ± std; dots: seeds)",
        figsize=(7, 3.8),
        style=style,
        jitter=0.15,
        label_size=8,
    )
    publish(out, "adambnn", wall, args.docs, SECTION, "exp_adambnn", table)
    return summary


if __name__ == "__main__":
    main()

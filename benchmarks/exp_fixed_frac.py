"""Experiment: how many fraction bits the fixed-point shortcuts of a trained ReActNet need.

The hardware carries a residual network's real-valued shortcut tensors as ``ap_fixed<W, W-F>``
codes (docs/flow.md, "Fixed-point shortcuts"); the golden model and the C simulation compute
exactly that format.  This experiment measures what the format costs against the float
network (``exported.onnx``): for each fraction width ``F`` it compiles the same trained
network, runs the folded (hardware) graph and the float graph on the same images, and counts
the images whose decision (argmax) differs, with both accuracies and the widest shortcut
tensor ``W``.

Each recipe is trained once (``hw-bnn flow`` stages train and export, into
``build/<recipe>``, reused when present).  Images: the official 10k MNIST test set when
present, else the 500 validation images.

Writes docs/experiments/fixed_frac.json and fixed_frac.png and updates the generated part of
the section "Fixed-point shortcut precision" in docs/experiments.md.

Usage: python benchmarks/exp_fixed_frac.py [--models reactnet-mnist ftbnn-mnist] [--fracs 4 6 8 10 12 14 16]
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
sys.path.insert(0, str(ROOT / "benchmarks"))

from exp_adambnn import update_docs_section  # noqa: E402

SECTION = "Fixed-point shortcut precision"


def trained_build(model: str, data_dir: str | None) -> Path:
    """build/<model> with checkpoint.pt and exported.onnx (trained and exported when missing)."""
    from hw_bnn.flow import FlowConfig, run_flow

    out = ROOT / "build" / model
    cfg = FlowConfig(model=model, out=str(out), data_dir=data_dir, progress=False)
    run_flow(cfg, stages=("train", "export"))
    return out


def measure(build: Path, frac: int, split, y_float: np.ndarray) -> dict:
    """Compile ``build/exported.onnx`` with ``F = frac`` and score the hardware (golden model,
    which the compile tests of the flow prove equal to integer.onnx and the C simulation) against
    the float decisions ``y_float`` of exported.onnx on the same images."""
    from hw_bnn.compile.fixed_config import FixedPointConfig
    from hw_bnn.compile.metadata import FIXED_KEY
    from hw_bnn.flow.stages import compile_onnx

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        folded, golden = compile_onnx(build / "exported.onnx", Path(tmp), fixed=FixedPointConfig(frac=frac))
        seconds = time.perf_counter() - t0
    y_hw = golden.apply_output_affine(golden.run(split.x))
    widths = json.loads(folded.get_metadata_prop(FIXED_KEY))["tensors"].values()
    return {
        "frac": frac,
        "images": len(split.y),
        "decisions_differ": int((y_hw.argmax(1) != y_float.argmax(1)).sum()),
        "accuracy_float": float((y_float.argmax(1) == split.y).mean()),
        "accuracy_hardware": float((y_hw.argmax(1) == split.y).mean()),
        "max_width": max(widths),
        "compile_s": round(seconds, 1),
    }


def splits_for(model: str, data_dir: str | None) -> dict:
    from hw_bnn.flow.stages import FlowConfig, evaluate_splits

    splits = evaluate_splits(FlowConfig(model=model, out="unused", data_dir=data_dir, progress=False))
    return {"test": splits["test"]} if "test" in splits else {"val": splits["val"]}


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for model, rows in results.items():
        f = [r["frac"] for r in rows]
        ax.plot(f, [100.0 * r["decisions_differ"] / r["images"] for r in rows], "o-", label=model)
    ax.set_xlabel("fraction bits F of the shortcut tensors")
    ax.set_ylabel("decisions that differ from float (%)")
    ax.set_yscale("symlog", linthresh=0.1)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(results: dict, desc: str, cmd: str) -> str:
    lines = [
        f"Measured {datetime.date.today().isoformat()} on 2 CPU cores with `{cmd}`; images: {desc}.",
        "",
        "| network | F | widest W | decisions differ | accuracy float | accuracy hardware |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for model, rows in results.items():
        for r in rows:
            lines.append(
                f"| {model} | {r['frac']} | {r['max_width']} | {r['decisions_differ']} of {r['images']} "
                f"({100.0 * r['decisions_differ'] / r['images']:.1f} %) | {r['accuracy_float']:.4f} | "
                f"{r['accuracy_hardware']:.4f} |"
            )
    lines += ["", "![decisions that differ against fraction bits](experiments/fixed_frac.png)"]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["reactnet-mnist", "ftbnn-mnist"], help="residual recipes")
    ap.add_argument("--fracs", type=int, nargs="+", default=[4, 6, 8, 10, 12, 14, 16])
    ap.add_argument("--data-dir", default=None, help="MNIST folder (default: ../shared/data/mnist when present)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "experiments"))
    ap.add_argument(
        "--docs",
        default=str(ROOT / "docs" / "experiments.md"),
        help="markdown file whose section is updated ('' for none)",
    )
    args = ap.parse_args(argv)
    from tqdm import tqdm

    from hw_bnn.train.data import default_test_dir

    data_dir = args.data_dir or (str(default_test_dir()) if default_test_dir() else None)
    results, desc = {}, None
    for model in args.models:
        build = trained_build(model, None)  # trained on the built-in data, like the recipes
        splits = splits_for(model, data_dir)
        desc = "official MNIST test set (10k)" if "test" in splits else "validation split (500 images)"
        (split,) = splits.values()
        from qonnx.core.modelwrapper import ModelWrapper

        from hw_bnn.compile.qonnx_run import run_qonnx

        y_float = run_qonnx(ModelWrapper(str(build / "exported.onnx")), split.x.astype(np.float32), batch_size=2000)
        rows = []
        for frac in tqdm(args.fracs, desc=model):
            rows.append(measure(build, frac, split, y_float))
        results[model] = rows
        print(f"\n{model}: F, widest W, decisions differ, accuracy float -> hardware")
        for r in rows:
            print(
                f"  F={r['frac']:2d}  W={r['max_width']:2d}  {r['decisions_differ']:5d} / {r['images']}  "
                f"{r['accuracy_float']:.4f} -> {r['accuracy_hardware']:.4f}"
            )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "fixed_frac.json").write_text(json.dumps({"images": desc, "results": results}, indent=2))
    plot(results, out / "fixed_frac.png")
    if args.docs:
        cmd = "python benchmarks/exp_fixed_frac.py " + " ".join(argv if argv is not None else sys.argv[1:])
        update_docs_section(Path(args.docs), SECTION, "fixed_frac", markdown(results, desc, cmd.strip()))


if __name__ == "__main__":
    main()

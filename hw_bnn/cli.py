"""``hw-bnn``: the command line, a thin layer over :mod:`hw_bnn.flow.stages`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from hw_bnn.errors import HwBnnError

DESCRIPTION = """\
hw-bnn: binary neural networks from Brevitas training to a verified hls4ml FPGA project.

Stages (each reads the previous stage's artifact from the build folder --out):
  train    models/<model>.yaml + data      -> checkpoint.pt, train_log.csv, train_curve.png
  export   checkpoint.pt                   -> exported.onnx (QONNX), export_check.json
  compile  exported.onnx (or --onnx FILE)  -> integer.onnx (integer-only), golden.npz
  emit     golden.npz                      -> hls/ (hls4ml project, our BNN layers)
  verify   golden.npz + hls/               -> verify.json (golden vs C simulation)
  report   everything above                -> report.json, report.md, memory.png
  flow     all of the above; stages whose inputs are unchanged are skipped

Design-space exploration:
  fold     PE/SIMD per layer: fewest LUTs for a target FPS, or the fastest within a LUT budget
  explore  sweep recipes x bits x widths x targets x devices (on Ray): results table, Pareto plots, report

Example:  hw-bnn flow --model tfc-w1a1 --out build/tfc
"""


def _add_common(p: argparse.ArgumentParser, model: bool = False) -> None:
    p.add_argument("--out", required=True, help="build folder (created if missing)")
    if model:
        p.add_argument("--model", help="recipe name from models/ (e.g. tfc-w1a1) or a path to a recipe .yaml")
        p.add_argument("--epochs", type=int, help="override the recipe's number of training epochs")
    p.add_argument(
        "--data-dir",
        help="folder with MNIST/Fashion-MNIST IDX files (t10k-*, and train-* for the mnist / fashion-mnist "
        "datasets) or CIFAR-10 python batches; adds held-out test accuracy and checks on every test image",
    )
    p.add_argument("--verify-limit", type=int, help="check at most this many images per split (default: all)")
    p.add_argument(
        "--csim-limit",
        type=int,
        help="compare the C simulation on at most this many images per split (default: all; the golden "
        "model still scores every image)",
    )
    p.add_argument("--force", action="store_true", help="re-run the stage(s) even if their inputs are unchanged")
    p.add_argument("--quiet", action="store_true", help="no progress bars or stage messages")


def _add_hls(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=["Vitis", "Vivado"], help="hls4ml backend (default Vitis)")
    p.add_argument("--reuse-factor", type=int, help="hls4ml ReuseFactor for every layer (default 1: fully parallel)")
    p.add_argument(
        "--folding",
        help="JSON with PE/SIMD per matrix layer, e.g. the folding.json of hw-bnn fold (default: fully parallel)",
    )
    p.add_argument("--part", help="FPGA part (default xc7z020clg400-1, PYNQ-Z1/Z2)")
    p.add_argument("--clock-period", type=float, help="clock period in ns (default 10)")


def _add_fixed(p) -> None:
    g = p.add_argument_group("fixed-point shortcuts (networks with residual adds, e.g. reactnet-mnist)")
    g.add_argument("--fixed-frac", type=int, help="fraction bits of every shortcut tensor (default 12)")
    g.add_argument(
        "--fixed-width",
        type=int,
        help="total bits of every shortcut tensor (default: chosen per tensor from its exact value range)",
    )
    g.add_argument(
        "--fixed-rounding",
        choices=["rnd_conv", "rnd", "trn"],
        help="ap_fixed quantization mode (default rnd_conv = AP_RND_CONV)",
    )
    g.add_argument("--fixed-overflow", choices=["sat", "wrap"], help="ap_fixed overflow mode (default sat = AP_SAT)")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="hw-bnn", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("flow", help="run every stage (train, export, compile, emit, verify, report)")
    _add_common(p, model=True)
    _add_hls(p)
    p.add_argument("--acc-bits", type=int, help="maximum accumulator/threshold width; a layer needing more is an error")
    _add_fixed(p)

    p = sub.add_parser("train", help="train a recipe with Brevitas")
    _add_common(p, model=True)

    p = sub.add_parser("export", help="export the checkpoint to QONNX and check it against PyTorch")
    _add_common(p)

    p = sub.add_parser("compile", help="fold the QONNX model into an integer-only graph")
    _add_common(p)
    p.add_argument("--onnx", help="compile this QONNX file instead of <out>/exported.onnx (no equivalence check)")
    p.add_argument("--acc-bits", type=int, help="maximum accumulator/threshold width; a layer needing more is an error")
    _add_fixed(p)

    p = sub.add_parser("emit", help="write the hls4ml project (hls/)")
    _add_common(p)
    _add_hls(p)

    p = sub.add_parser("verify", help="golden model vs hls4ml C simulation, bit for bit, on every image")
    _add_common(p)
    p.add_argument(
        "--inputs",
        help="a .npy array of integer inputs, (N, features) for MLPs or (N, C, H, W) for CNNs, to verify instead of the data splits",
    )

    p = sub.add_parser("report", help="write report.json and report.md")
    _add_common(p)

    from hw_bnn.dse.fold_cmd import add_fold_parser
    from hw_bnn.explore.explore import add_explore_parser

    add_fold_parser(sub)
    add_explore_parser(sub)

    sub.add_parser("models", help="list the model recipes in models/")
    p = sub.add_parser("zoo", help="every network: weights, weight memory, binary and integer MACs, recorded accuracy")
    p.add_argument("names", nargs="*", help="recipes to show (default: all in models/)")
    p.add_argument("--layers", action="store_true", help="also list each layer")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return ap


def _config(args):
    from hw_bnn.flow.stages import FlowConfig

    overrides = {
        k: getattr(args, k, None)
        for k in (
            "model",
            "epochs",
            "data_dir",
            "backend",
            "reuse_factor",
            "part",
            "clock_period",
            "acc_bits",
            "verify_limit",
            "csim_limit",
            "fixed_frac",
            "fixed_width",
            "fixed_rounding",
            "fixed_overflow",
        )
    }
    if getattr(args, "folding", None):
        from hw_bnn.dse.fold_cmd import load_folding

        overrides["folding"] = load_folding(args.folding)
    cfg = FlowConfig.load(args.out, **overrides)
    cfg.force = args.force
    cfg.progress = not args.quiet
    return cfg


def run(args) -> int:
    from hw_bnn.flow import stages as flow

    if args.command == "models":
        from hw_bnn.train.recipes import available_models, load_recipe, parse_conv_spec

        for name in available_models():
            r = load_recipe(name)
            short = {
                "pool": lambda c: "M",
                "res": lambda c: "R",
                "dense": lambda c: f"D{c[1]}",
                "trans": lambda c: f"T{c[1]}",
            }
            conv = " ".join(
                f"c{c[1]}" + (f"/s{c[3]}" if c[3] > 1 else "") if c[0] == "conv" else short[c[0]](c)
                for c in (parse_conv_spec(e) for e in r.conv)
            )
            layers = (f"conv=[{conv}]  " if conv else "") + f"hidden={r.hidden}"
            print(f"{name:22s} {r.arch:8s} w{r.weight_bits}a{r.act_bits}  {layers}  dataset={r.dataset}")
        return 0
    if args.command == "zoo":
        import json

        from hw_bnn.train.zoo import render, zoo

        rows = zoo(args.names or None)
        print(json.dumps(rows, indent=2) if args.json else render(rows, layers=args.layers))
        return 0
    if args.command == "explore":
        from hw_bnn.explore.explore import cmd_explore

        return cmd_explore(args)
    if args.command == "fold":
        from hw_bnn.dse.fold_cmd import cmd_fold

        return cmd_fold(args)
    cfg = _config(args)
    if args.command in ("flow", "train") and not args.model and not (Path(args.out) / "flow.json").exists():
        raise HwBnnError(f"{args.command}: --model is required for a new build folder ({args.out})")
    if args.command == "flow":
        report = flow.run_flow(cfg)
        v = report["verify"]
        print(
            f"\n{cfg.model}: "
            + "; ".join(f"{k} accuracy {e['accuracy']:.4f}" for k, e in v["splits"].items() if "accuracy" in e)
            + f"; golden vs C simulation: {v['mismatches']} mismatches on "
            f"{sum(e['images'] for e in v['splits'].values())} images"
        )
        print(f"report: {cfg.build / 'report.md'}")
        return 0 if v["mismatches"] == 0 else 1
    cfg.save()
    if args.command == "compile" and args.onnx:
        cfg.build.mkdir(parents=True, exist_ok=True)
        folded, golden = flow.compile_onnx(args.onnx, cfg.build, cfg.acc_bits, cfg.fixed_config())
        print(f"[compile] {args.onnx} -> {cfg.build / 'integer.onnx'} ({len(golden.layers)} integer layers)")
        return 0
    if args.command == "verify":
        inputs = None
        if args.inputs:
            import numpy as np

            if not os.path.exists(args.inputs):
                raise HwBnnError(f"{args.inputs}: file does not exist")
            try:
                inputs = np.load(args.inputs, allow_pickle=False)
            except ValueError as e:
                raise HwBnnError(f"{args.inputs}: not a .npy array ({e})") from None
        res = flow.step_verify(cfg, inputs)
        return 0 if res["mismatches"] == 0 else 1
    flow.STEP_FUNCTIONS[args.command](cfg)
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except HwBnnError as e:
        if args.debug:
            raise
        print(f"hw-bnn: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hw-bnn: interrupted; completed stages are kept, re-run to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

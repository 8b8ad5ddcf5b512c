"""``hw-bnn``: the command line, a thin layer over the Python API (:mod:`hw_bnn.flow.api`).

The flow commands and their options come from one table (:mod:`hw_bnn.flow.options`), which the
API checks its keywords against, so ``hw-bnn emit --out B --reuse-factor 4`` is
``hw_bnn.flow.emit(out="B", reuse_factor=4)``."""

from __future__ import annotations

import argparse
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
  rtlsim   golden.npz                      -> rtl/ (SystemVerilog), rtlsim.json (golden vs Verilator)
  synth    rtl/ (--synth xc7,ecp5)         -> synth.json, synth.png (Yosys: measured resources per layer)
  report   everything above                -> report.json, report.md, memory.png
  flow     all of the above; stages whose inputs are unchanged are skipped
  import   --onnx FILE [--inputs x.npy]      your own QONNX model: compile, emit, verify, rtlsim, report

Hardware:
  bitstream --board B                      -> bitstream-<board>/<board>.bit (ECP5: UART link, nextpnr, ecppack)
  deploy                                   -> deploy/ (Vivado scripts, PYNQ driver, validate.py, self-check)

Design-space exploration:
  fold     PE/SIMD per layer: fewest LUTs for a target FPS, or the fastest within a LUT budget
  explore  sweep recipes x bits x widths x targets x devices (on Ray): results table, Pareto plots, report

Example:  hw-bnn flow --model tfc-w1a1 --out build/tfc
          hw-bnn bitstream --board ulx3s-85f --model tfc-w1a1
"""


def _add_options(p: argparse.ArgumentParser, command: str) -> None:
    """The options of a flow command, from the table the Python API checks (hw_bnn.flow.options)."""
    from hw_bnn.flow.options import COMMANDS

    groups: dict = {}
    for o in COMMANDS[command][1]:
        where = p if o.group is None else groups.setdefault(o.group, p.add_argument_group(o.group))
        if o.type is None:
            where.add_argument(o.flag, action="store_true", help=o.help)
        else:
            kw = {"choices": list(o.choices)} if o.choices else {}
            if o.type is not str:
                kw["type"] = o.type
            where.add_argument(o.flag, required=o.required, help=o.help, **kw)


def build_parser() -> argparse.ArgumentParser:
    from hw_bnn.explore.cli import add_explore_parser
    from hw_bnn.explore.fold_cli import add_fold_parser
    from hw_bnn.flow.options import COMMANDS

    ap = argparse.ArgumentParser(
        prog="hw-bnn", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command, (help_text, _) in COMMANDS.items():
        _add_options(sub.add_parser(command, help=help_text), command)
    add_fold_parser(sub)
    add_explore_parser(sub)
    sub.add_parser("models", help="list the model recipes in models/")
    p = sub.add_parser("zoo", help="every network: weights, weight memory, binary and integer MACs, recorded accuracy")
    p.add_argument("names", nargs="*", help="recipes to show (default: all in models/)")
    p.add_argument("--layers", action="store_true", help="also list each layer")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return ap


def _list_models() -> None:
    from hw_bnn.train.recipes import available_models, load_recipe, parse_conv_spec

    short = {
        "pool": lambda c: "M",
        "res": lambda c: "R",
        "dense": lambda c: f"D{c[1]}",
        "trans": lambda c: f"T{c[1]}",
    }
    for name in available_models():
        r = load_recipe(name)
        conv = " ".join(
            f"c{c[1]}" + (f"/s{c[3]}" if c[3] > 1 else "") if c[0] == "conv" else short[c[0]](c)
            for c in (parse_conv_spec(e) for e in r.conv)
        )
        layers = (f"conv=[{conv}]  " if conv else "") + f"hidden={r.hidden}"
        print(f"{name:22s} {r.arch:8s} w{r.weight_bits}a{r.act_bits}  {layers}  dataset={r.dataset}")


def _flow_command(args) -> int:
    """A flow command: the Python API function of the same name, with the parsed options."""
    import hw_bnn.flow as api
    from hw_bnn.flow.options import API_FUNCTION, COMMANDS

    options = {o.name: getattr(args, o.name) for o in COMMANDS[args.command][1]}
    if args.command == "import":
        report = api.import_model(options.pop("onnx"), **options)
        ic, v, rt = report["import_check"], report["verify"], report.get("rtlsim") or {}
        t = ic.get("float_scales")
        export = (
            f"the export vs the integer semantics (float scales): {t['near_ties']} near-ties, all proven"
            if t
            else f"the export vs the integer graph: {ic['value_mismatches']} value mismatches"
        )
        print(
            f"\n{args.onnx}: {export} on {ic['images']} inputs; golden vs C simulation: {v['mismatches']} mismatches"
            + (f"; golden vs RTL simulation: {rt['mismatches']} mismatches" if rt.get("simulated") else "")
        )
        print(f"report: {Path(args.out) / 'report.md'}")
        return 0 if v["mismatches"] == 0 and not rt.get("mismatches") else 1
    if args.command == "flow":
        report = api.run(**options)
        v = report["verify"]
        print(
            f"\n{report['model']}: "
            + "; ".join(f"{k} accuracy {e['accuracy']:.4f}" for k, e in v["splits"].items() if "accuracy" in e)
            + f"; golden vs C simulation: {v['mismatches']} mismatches on "
            f"{sum(e['images'] for e in v['splits'].values())} images"
        )
        rt = report.get("rtlsim") or {}
        if rt.get("simulated"):
            print(f"golden vs RTL simulation (Verilator): {rt['mismatches']} mismatches")
        print(f"report: {Path(args.out) / 'report.md'}")
        return 0 if v["mismatches"] == 0 and not rt.get("mismatches") else 1
    result = getattr(api, API_FUNCTION.get(args.command, args.command))(**options)
    if args.command == "compile" and args.onnx:
        print(f"[compile] {args.onnx} -> {Path(args.out) / 'integer.onnx'} ({result['layers']} integer layers)")
    if args.command == "rtlsim":
        return 0 if not result.get("mismatches") else 1
    if args.command == "verify":
        if "record" in result:
            print(f"[verify] {result['record']}: {result['mismatches']} mismatches")
        return 0 if result["mismatches"] == 0 else 1
    return 0


def run(args) -> int:
    if args.command == "models":
        _list_models()
        return 0
    if args.command == "zoo":
        import json

        from hw_bnn.train.zoo import render, zoo

        rows = zoo(args.names or None)
        print(json.dumps(rows, indent=2) if args.json else render(rows, layers=args.layers))
        return 0
    if args.command == "explore":
        from hw_bnn.explore.cli import cmd_explore

        return cmd_explore(args)
    if args.command == "fold":
        from hw_bnn.explore.fold_cli import cmd_fold

        return cmd_fold(args)
    return _flow_command(args)


def _where(e: BaseException) -> str:
    """``file:line`` of the innermost frame of ``e``'s traceback that is hw-bnn's own code."""
    import traceback

    frames = [f for f in traceback.extract_tb(e.__traceback__) if "hw_bnn" in f.filename] or traceback.extract_tb(
        e.__traceback__
    )
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"


def main(argv=None) -> int:
    """Run a command.  Exit codes: 0 done, 1 verification found mismatches or an internal error,
    2 bad input (an :class:`HwBnnError`, or a file the system refused), 130 interrupted.  Every
    failure is one line on stderr; ``--debug`` shows the traceback instead."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except KeyboardInterrupt:
        print("hw-bnn: interrupted; completed stages are kept, re-run to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (``hw-bnn zoo | head``): not an error
        sys.stdout = None
        return 0
    except Exception as e:
        if args.debug:
            raise
        if isinstance(e, HwBnnError):
            print(f"hw-bnn: error: {e}", file=sys.stderr)
            return 2
        if isinstance(e, OSError) and e.filename:
            print(f"hw-bnn: error: {e.filename}: {e.strerror or e}", file=sys.stderr)
            return 2
        print(
            f"hw-bnn: internal error: {type(e).__name__}: {e} (at {_where(e)}); re-run with --debug for the traceback",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())

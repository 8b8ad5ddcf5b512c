"""Hardware figures per network and folding: estimated vs synthesized resources, ECP5 bitstreams.

For each network (its compiled build in --builds/<recipe>, which `hw-bnn flow` makes) and each
folding of FOLDINGS it writes the RTL and reports, side by side:
  est LUT / BRAM18   the cost model: FINN-R's constants, and calibrated for xc7 when hw-bnn
                     ships a calibration (hw_bnn/dse/calibration.json)
  xc7 LUT/FF/BRAM18  Yosys synth_xilinx -family xc7 (LUT = logic + LUTs as memory, BRAM18 =
                     RAMB18 + 2 x RAMB36), with its time
  ECP5 LUT4/FF/EBR   nextpnr's utilisation of the placed design on the ULX3S (LFE5U-85F-6), the
                     post-route Fmax, and the frames per second at that clock from the RTL's
                     cycles per frame (the UART link's own rate beside it), with the tools' times
Anchor, in the same table: the FINN team's published Vivado figures of their BNN-PYNQ
accelerators on xc7z020 (at their own folding and data set).

Usage: python benchmarks/bench_hardware.py [--models tfc-w1a1 sfc-w1a1 ...] [--builds build/trained]
       [--skip-bitstream] [--json benchmarks/results/hardware.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# FINN's published TFC-w1a1 folding (finn-examples / BNN-PYNQ): the first layer PE=16, SIMD=49
FINN_TFC = {"fc1": {"PE": 16, "SIMD": 49}, "fc2": {"PE": 16, "SIMD": 16}, "fc3": {"PE": 16, "SIMD": 16}}
FINN_TFC["fc4"] = {"PE": 10, "SIMD": 16}
# folding name -> FINN's folding, or the target cycles per frame the cost model folds to (fewest LUTs)
FOLDINGS = {
    "tfc-w1a1": {"finn": FINN_TFC, "784 cycles": 784, "link": "link"},
    "sfc-w1a1": {"3136 cycles": 3136, "link": "link"},
    "lfc-w1a1": {"16384 cycles": 16384, "link": "link"},
    "cnv-w1a1": {"12544 cycles": 12544, "link": "link"},
}
# the FINN team's published Vivado results on xc7z020 (BNN-PYNQ, Umuroglu et al. / Blott et al.)
ANCHORS = {
    "lfc-w1a1": "FINN BNN-PYNQ LFC-w1a1 (Vivado, xc7z020): 28,360 LUT, 110 BRAM36 tiles",
    "cnv-w1a1": "FINN BNN-PYNQ CNV-w1a1 (Vivado, xc7z020): 26,072 LUT, 124 BRAM36 tiles",
}


def folding_of(golden, spec, board) -> dict:
    from hw_bnn.dse.folding import fold_for_target
    from hw_bnn.dse.units import mvu_layers
    from hw_bnn.flow.hardware import link_folding

    if spec == "link":
        return link_folding(golden, board, board.target_mhz)
    if isinstance(spec, int):
        return fold_for_target(mvu_layers(golden), spec)
    return spec


def one(model: str, name: str, golden, folding: dict, work: Path, args) -> dict:
    from hw_bnn.flow.hardware import estimates
    from hw_bnn.flow.stages import weight_memories
    from hw_bnn.rtl import emit_rtl
    from hw_bnn.synth.pnr import make_bitstream
    from hw_bnn.synth.yosys import synthesize

    rtl = work / f"{model}-{name.replace(' ', '_')}"
    project = emit_rtl(golden, rtl, folding, weight_memories(golden, folding))
    est = estimates(golden, folding)
    row = {"model": model, "folding": name, "cycles": project["cycles_per_frame"], "pe_simd": folding}
    row["est_finn"] = {k: sum(v[k] for v in est["finn"].values()) for k in ("lut", "bram18", "dsp")}
    if "xc7" in est:
        row["est_xc7"] = {k: sum(v[k] for v in est["xc7"].values()) for k in ("lut", "bram18", "dsp")}
    x = synthesize(rtl, "xc7")
    row["xc7"] = {**{k: v for k, v in x["total"].items() if k != "cells"}, "seconds": x["seconds"]}
    row["xc7_layers"] = {k: v["lut_total"] for k, v in x["layers"].items()}
    if not args.skip_bitstream:
        from hw_bnn.synth.tools import ToolError

        t0 = time.perf_counter()
        try:
            b = make_bitstream(rtl, args.board, work / f"{rtl.name}-bit", timeout=args.pnr_timeout)
        except ToolError as e:
            row["ecp5_error"] = str(e).splitlines()[0]
            return row
        row["ecp5"] = {k: b[k] for k in ("clock_mhz", "fmax_mhz", "fps_compute", "fps_link", "utilisation", "seconds")}
        row["ecp5"]["wall_seconds"] = round(time.perf_counter() - t0, 1)
    return row


def table(rows: list[dict]) -> str:
    head = (
        f"{'network':10s} {'folding':12s} {'cycles':>7s} {'est LUT':>8s} {'cal LUT':>8s} {'xc7 LUT':>8s} "
        f"{'xc7 FF':>7s} {'BRAM18':>6s} {'Ysec':>5s} {'ECP5 LUT4':>9s} {'FF':>6s} {'EBR':>4s} {'Fmax':>6s} "
        f"{'FPS@clk':>10s} {'P&R s':>6s}"
    )
    out = [head, "-" * len(head)]
    for r in rows:
        e = r.get("ecp5")
        u = (e or {}).get("utilisation", {})
        ecp5 = (
            f"{u.get('TRELLIS_COMB', {}).get('used', 0):9,d} {u.get('TRELLIS_FF', {}).get('used', 0):6,d} "
            f"{u.get('DP16KD', {}).get('used', 0):4d} {e['fmax_mhz']:6.1f} {e['fps_compute']:10,.0f} "
            f"{e['seconds']['nextpnr']:6.0f}"
            if e
            else r.get("ecp5_error", "")
        )
        cal = r.get("est_xc7", {}).get("lut")
        out.append(
            f"{r['model']:10s} {r['folding']:12s} {r['cycles']:7d} {r['est_finn']['lut']:8,d} "
            f"{(f'{cal:,}' if cal is not None else '-'):>8s} {r['xc7']['lut_total']:8,d} {r['xc7']['ff']:7,d} "
            f"{r['xc7']['bram18']:6d} {r['xc7']['seconds']:5.0f} {ecp5}"
        )
    out += [f"anchor: {ANCHORS[m]}" for m in dict.fromkeys(r["model"] for r in rows) if m in ANCHORS]
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="*", default=list(FOLDINGS))
    ap.add_argument("--builds", default=str(ROOT / "build" / "trained"))
    ap.add_argument("--board", default="ulx3s-85f")
    ap.add_argument("--skip-bitstream", action="store_true", help="synthesis only (no nextpnr)")
    ap.add_argument("--pnr-timeout", type=float, default=900.0, help="seconds each nextpnr run may take")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "hardware.json"))
    args = ap.parse_args(argv)
    from hw_bnn.ir import IntegerNetwork
    from hw_bnn.synth.boards import load_board

    board = load_board(args.board)
    missing = [m for m in args.models if not (Path(args.builds) / m / "golden.npz").is_file()]
    if missing:
        print(
            f"bench_hardware: no compiled build (golden.npz) in {args.builds} for {', '.join(missing)}; "
            f"make one with `hw-bnn flow --model <recipe> --out {args.builds}/<recipe>`",
            file=sys.stderr,
        )
        return 2
    rows = []
    with tempfile.TemporaryDirectory(dir=ROOT / "build", prefix="bench-hw-") as work:
        for model in args.models:
            golden = IntegerNetwork.load(Path(args.builds) / model / "golden.npz")
            for name, spec in FOLDINGS[model].items():
                print(f"[bench] {model} {name}", flush=True)
                rows.append(one(model, name, golden, folding_of(golden, spec, board), Path(work), args))
                Path(args.json).parent.mkdir(parents=True, exist_ok=True)
                Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One deep FIFO on an ECP5, in its two block-RAM forms: a single array read through a register
slice (Yosys stacks the block RAMs in depth and selects among them after their clock-to-out),
and banks read through per-bank registers (``hwbnn_fifo`` with ``BANKS``; what the emitter gives
a FIFO deeper than one block RAM).  The FIFO sits between registers, so the clock's Fmax is its
own.  For each form: Yosys ``synth_ecp5`` cells (LUT4 counts a CCU2C as two, as
``hw-bnn synth`` does), then nextpnr-ecp5's post-route Fmax and the seconds each tool took.

Default: a ReActNet residual's FIFO (a whole frame of 25,090 beats of 18 bits) on the
LFE5U-85F-6 of the ULX3S.

Usage: python benchmarks/bench_fifo.py [--depth 25090] [--bits 18] [--out build/bench_fifo]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hw_bnn.resources import rtl_kernels_dir  # noqa: E402 (after the sys.path line above)
from hw_bnn.rtl.emit import fifo_params  # noqa: E402
from hw_bnn.synth.pnr import core_fmax  # noqa: E402
from hw_bnn.synth.tools import run_tool, tool_version  # noqa: E402
from hw_bnn.synth.yosys import ecp5_synth, module_totals, resources_of, run_yosys  # noqa: E402

PROBE = """module probe (
    input logic clk, input logic rst, input logic in_valid, input logic [{b1}:0] in_data,
    output logic in_ready, output logic out_valid, input logic out_ready, output logic [{b1}:0] out_data);
  // every port registered, so that the clock's paths are the FIFO's
  logic iv, ordy, r, ir, ov;
  logic [{b1}:0] id, od;
  always_ff @(posedge clk) begin
    {{iv, id, ordy, r}} <= {{in_valid, in_data, out_ready, rst}};
    {{in_ready, out_valid, out_data}} <= {{ir, ov, od}};
  end
  hwbnn_fifo #({params}) fifo (.clk(clk), .rst(r), .in_valid(iv), .in_ready(ir), .in_data(id),
      .out_valid(ov), .out_ready(ordy), .out_data(od));
endmodule
"""


def measure(work: Path, params: dict, device: list[str]) -> dict:
    """Synthesis and place-and-route of the probe around ``hwbnn_fifo #(params)`` in ``work``."""
    work.mkdir(parents=True, exist_ok=True)
    shutil.copy(rtl_kernels_dir() / "hwbnn_fifo.sv", work)
    text = ", ".join(f".{k}({v})" for k, v in params.items())
    (work / "probe.sv").write_text(PROBE.format(b1=params["BITS"] - 1, params=text))

    def script(classic: bool) -> list[str]:
        read = "read_verilog -sv hwbnn_fifo.sv probe.sv"
        return [read, *ecp5_synth("probe", classic), "write_json probe.json", "tee -q -o stat.json stat -json"]

    yosys_s, _ = run_yosys(script, work, "yosys.log")
    cells = module_totals(json.loads((work / "stat.json").read_text()))["probe"]
    args = [*device, "--json", "probe.json", "--freq", "100", "--timing-allow-fail", "--report", "report.json"]
    pnr_s = run_tool("nextpnr-ecp5", [*args, "--seed", "1"], work, "nextpnr.log")
    fmax, _ = core_fmax(json.loads((work / "report.json").read_text()))
    res = resources_of(cells, "ecp5")
    return {"lut4": res["lut_total"], "ff": res["ff"], "ebr": res["bram18"], "fmax": fmax, "s": (yosys_s, pnr_s)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--depth", type=int, default=25090, help="beats (default 25090)")
    ap.add_argument("--bits", type=int, default=18, help="bits per beat (default 18)")
    ap.add_argument("--out", default="build/bench_fifo", help="work folder, not under /tmp (yowasp)")
    args = ap.parse_args(argv)
    banked = fifo_params(args.depth, args.bits)
    if "BANKS" not in banked:
        ap.error(f"{args.depth} beats of {args.bits} bits fit one block RAM: nothing to bank")
    forms = {"one array": {k: banked[k] for k in ("DEPTH", "BITS", "OUT_REG")}, "banked": banked}
    device = ["--85k", "--package", "CABGA381", "--speed", "6"]
    print(
        f"hwbnn_fifo {args.depth} x {args.bits} on LFE5U-85F-6; {tool_version('yosys')}, {tool_version('nextpnr-ecp5')}"
    )
    print(f"{'form':<10} {'banks':>5} {'LUT4':>6} {'FF':>6} {'EBR':>4} {'Fmax MHz':>9} {'yosys s':>8} {'nextpnr s':>9}")
    for name, params in forms.items():
        m = measure(Path(args.out) / name.replace(" ", "_"), params, device)
        banks = params.get("BANKS", 1)
        row = f"{name:<10} {banks:>5} {m['lut4']:>6,} {m['ff']:>6,} {m['ebr']:>4} {m['fmax']:>9.1f}"
        print(row + f" {m['s'][0]:>8.0f} {m['s'][1]:>9.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One streaming kernel of ``rtl/`` alone on an ECP5, between registers, so that the clock's Fmax
is its own: Yosys ``synth_ecp5`` cells (LUT4 counts a CCU2C as two, as ``hw-bnn synth`` does),
then nextpnr-ecp5's post-route Fmax and the seconds each tool took.  Used by ``bench_fifo.py``,
``bench_pool.py`` and ``bench_fixed_chain.py``."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hw_bnn.synth.pnr import core_fmax  # noqa: E402 (after the sys.path line above)
from hw_bnn.synth.tools import run_tool  # noqa: E402
from hw_bnn.synth.yosys import ecp5_synth, module_totals, resources_of, run_yosys  # noqa: E402

ULX3S_85F = ["--85k", "--package", "CABGA381", "--speed", "6"]  # LFE5U-85F-6

PROBE = """module probe (
    input logic clk, input logic rst, input logic in_valid, input logic [{i1}:0] in_data,
    output logic in_ready, output logic out_valid, input logic out_ready, output logic [{o1}:0] out_data);
  // every port registered, so that the clock's paths are the kernel's
  logic iv, ordy, r, ir, ov;
  logic [{i1}:0] id;
  logic [{o1}:0] od;
  always_ff @(posedge clk) begin
    {{iv, id, ordy, r}} <= {{in_valid, in_data, out_ready, rst}};
    {{in_ready, out_valid, out_data}} <= {{ir, ov, od}};
  end
  {module} #({params}) dut (.clk(clk), .rst(r), .in_valid(iv), .in_ready(ir), .in_data(id),
      .out_valid(ov), .out_ready(ordy), .out_data(od));
endmodule
"""


def measure(
    work: Path, kernel: Path, params: dict, in_bits: int, out_bits: int, device=ULX3S_85F, files: dict | None = None
) -> dict:
    """Synthesis and place-and-route, in ``work``, of the probe around the module of the file
    ``kernel`` (its stem) with ``params`` (``files``: more files it reads, name -> text):
    {lut4, ff, ebr, fmax, s: (yosys s, nextpnr s)}."""
    work.mkdir(parents=True, exist_ok=True)
    shutil.copy(kernel, work / kernel.name)
    for name, text in (files or {}).items():
        (work / name).write_text(text)
    text = ", ".join(f".{k}({v})" for k, v in params.items())
    probe = PROBE.format(i1=in_bits - 1, o1=out_bits - 1, module=kernel.stem, params=text)
    (work / "probe.sv").write_text(probe)

    def script(classic: bool) -> list[str]:
        read = f"read_verilog -defer -sv {kernel.name} probe.sv"
        return [read, *ecp5_synth("probe", classic), "write_json probe.json", "tee -q -o stat.json stat -json"]

    yosys_s, _ = run_yosys(script, work, "yosys.log")
    cells = module_totals(json.loads((work / "stat.json").read_text()))["probe"]
    args = [*device, "--json", "probe.json", "--freq", "100", "--timing-allow-fail", "--report", "report.json"]
    pnr_s = run_tool("nextpnr-ecp5", [*args, "--seed", "1"], work, "nextpnr.log")
    fmax, _ = core_fmax(json.loads((work / "report.json").read_text()))
    res = resources_of(cells, "ecp5")
    return {"lut4": res["lut_total"], "ff": res["ff"], "ebr": res["bram18"], "fmax": fmax, "s": (yosys_s, pnr_s)}


def kernels(ap: argparse.ArgumentParser, project: Path, others: list[str]) -> dict[str, Path]:
    """{label: file} to measure: the project's ``project`` kernel, then each of ``others`` (the
    same file name, e.g. an older version from git); a wrong one is an argparse error."""
    found = {"project": project}
    for i, k in enumerate(others):
        path = Path(k)
        if path.name != project.name or not path.is_file():
            ap.error(f"--kernel {k}: expected an existing file named {project.name}")
        found[f"kernel {i + 1}"] = path
    return found

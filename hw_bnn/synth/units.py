"""Yosys synthesis of one RTL unit on its own (a matrix-vector unit at one folding), cached.

:func:`synthesize_unit` writes, in a temporary work folder, the kernels the unit's module needs
(its ``.sv`` file and, recursively, the kernels it instantiates: ``hwbnn_mvu`` takes
``hwbnn_rom`` and ``hwbnn_fifo``), the unit's memory images, and a wrapper module
``hwbnn_unit_top`` whose ports are the unit's ports (clock, reset, a valid / ready / data stream
per input port and the output stream), then runs, with relative file names only
(:mod:`hw_bnn.synth.tools`)::

    read_verilog -defer -sv <kernels> hwbnn_unit_top.sv
    synth_xilinx -family xc7 -noiopad -top hwbnn_unit_top      (or synth_ecp5 -top ...)
    tee -q -o stat.json stat -json

with the synthesis command of :data:`hw_bnn.synth.yosys.TARGETS`, as ``hw-bnn synth`` runs it
on a whole network: ``synth_xilinx`` keeps the hierarchy (the unit's weight ROM, FIFO and
threshold memory are submodules, counted with it), ``synth_ecp5`` flattens the unit (its
constant weights, a fully parallel unit's one-word ROM, propagate into the XNORs and adders).
The result is :func:`hw_bnn.synth.yosys.resources_of` of the mapped cells (``lut``,
``lutram``, ``ff``, ``bram18``, ``dsp``, ``lut_total``), plus the cells, the seconds and the
tool version.  :func:`synthesize_units` synthesizes several units at once where the target keeps
the hierarchy: each in its own wrapper (``hwbnn_unit_top_<i>``) under one top, counted alone,
which pays xc7's fixed start-up of about 10 s once (the same cells as alone, but for one LUT more
on 3 of the 41 units of the calibration set compared).

Results are cached, one JSON file per key, in ``cache_dir`` (default ``$HW_BNN_SYNTH_CACHE``,
else ``~/.cache/hw-bnn/synth``).  The key is the SHA-256 of the target and its command, the
Yosys version, the sources of the kernels read, the unit's module and parameters, and its memory
images: a changed kernel, tool or weight synthesizes again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from hw_bnn.files import write_text_atomic
from hw_bnn.resources import rtl_kernels_dir
from hw_bnn.rtl.emit import _instance, _mem_text
from hw_bnn.rtl.units import RtlUnit, memory_images
from hw_bnn.synth.tools import ToolError, run_tool, tool_version
from hw_bnn.synth.yosys import get_target, module_totals, resources_of

WRAPPER = "hwbnn_unit_top"
BATCH_TOP = "hwbnn_units_top"
CACHE_ENV = "HW_BNN_SYNTH_CACHE"
CACHE_VERSION = 1  # bump when what a cached result holds changes


def default_cache_dir() -> Path:
    """``$HW_BNN_SYNTH_CACHE``, else ``~/.cache/hw-bnn/synth``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "hw-bnn" / "synth")


def kernel_files(module: str, kernels: Path | None = None) -> list[str]:
    """The kernel files ``module`` needs: ``<module>.sv`` and, recursively, the ``hwbnn_*``
    kernels it names that exist in the kernel folder (sorted, the module's own first)."""
    kernels = Path(kernels or rtl_kernels_dir())
    if not (kernels / f"{module}.sv").is_file():
        raise ToolError(f"synthesize_unit: no kernel {module}.sv in {kernels}")
    seen: list[str] = []
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.append(name)
        text = (kernels / f"{name}.sv").read_text()
        for used in sorted(set(re.findall(r"\b(hwbnn_\w+)\s*#", text))):
            if used not in seen and (kernels / f"{used}.sv").is_file():
                todo.append(used)
    return [f"{seen[0]}.sv"] + sorted(f"{n}.sv" for n in seen[1:])


def _ports(unit: RtlUnit, prefix: str = "") -> tuple[list[str], dict]:
    """The port declarations of a module with the unit's ports (names after ``prefix``), and the
    (valid, ready, data) signals of each of the unit's port prefixes."""
    decl = [f"    input  logic {prefix}clk,", f"    input  logic {prefix}rst,"]
    conns = {}
    for port, s in zip(unit.ports, unit.ins):
        decl += [
            f"    input  logic {prefix}{port}_valid,",
            f"    output logic {prefix}{port}_ready,",
            f"    input  logic [{s.width - 1}:0] {prefix}{port}_data,",
        ]
        conns[port] = (f"{prefix}{port}_valid", f"{prefix}{port}_ready", f"{prefix}{port}_data")
    decl += [
        f"    output logic {prefix}out_valid,",
        f"    input  logic {prefix}out_ready,",
        f"    output logic [{unit.out.width - 1}:0] {prefix}out_data,",
    ]
    conns["out"] = (f"{prefix}out_valid", f"{prefix}out_ready", f"{prefix}out_data")
    return decl, conns


def wrapper_text(unit: RtlUnit, module: str = WRAPPER, files: dict | None = None) -> str:
    """A top module with the unit's ports that instantiates it with its parameters (its memory
    files renamed as ``files`` says: parameter -> file name)."""
    decl, conns = _ports(unit)
    decl[-1] = decl[-1].rstrip(",")
    body = _instance(unit.module, "unit", {**unit.params, **(files or {})}, conns)
    head = f"// Generated by hw-bnn (hw_bnn.synth.units): {unit.name} on its own, for synthesis.\n"
    return head + f"module {module} (\n" + "\n".join(decl) + "\n);\n" + "\n".join(body) + "\nendmodule\n"


def batch_top_text(units: list[RtlUnit]) -> str:
    """``hwbnn_units_top``: one wrapper of each unit (``hwbnn_unit_top_<i>``), their ports side by side."""
    decl, body = [], []
    for i, u in enumerate(units):
        d, conns = _ports(u, f"u{i}_")
        decl += d
        lines = [f"    .clk(u{i}_clk), .rst(u{i}_rst)"]
        for port, (valid, ready, data) in conns.items():
            lines.append(f"    .{port}_valid({valid}), .{port}_ready({ready}), .{port}_data({data})")
        body.append(f"  {WRAPPER}_{i} w{i} (\n" + ",\n".join(lines) + ");")
    decl[-1] = decl[-1].rstrip(",")
    return f"module {BATCH_TOP} (\n" + "\n".join(decl) + "\n);\n" + "\n".join(body) + "\nendmodule\n"


def _mem_files(unit: RtlUnit) -> dict[str, str]:
    """File name -> text of the unit's memory images."""
    return {name: _mem_text(words, bits) for name, (words, bits) in memory_images(unit).items()}


def _script(command: str, files: list[str], top: str = WRAPPER) -> str:
    return "; ".join(
        [f"read_verilog -defer -sv {' '.join(files)}", f"{command} -top {top}", "tee -q -o stat.json stat -json"]
    )


def _command(target: str) -> tuple[str, str]:
    """The synthesis command of ``target`` (that of :data:`hw_bnn.synth.yosys.TARGETS`) and its family."""
    tgt = get_target(target)
    return tgt.command, tgt.family


def unit_key(unit: RtlUnit, target: str, tool: str | None = None, kernels: Path | None = None) -> str:
    """The cache key of ``unit`` on ``target`` (see the module docstring)."""
    kernels = Path(kernels or rtl_kernels_dir())
    command, _ = _command(target)
    doc = {
        "version": CACHE_VERSION,
        "target": target,
        "command": command,
        "tool": tool or tool_version("yosys"),
        "kernels": {f: (kernels / f).read_text() for f in kernel_files(unit.module, kernels)},
        "module": unit.module,
        "params": unit.params,
        "ports": [[p, s.width] for p, s in zip(unit.ports, unit.ins)] + [["out", unit.out.width]],
        "mems": _mem_files(unit),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _run(units: list[RtlUnit], target: str, kernels: Path) -> list[dict]:
    """Synthesize ``units`` in a fresh temporary folder, in one Yosys run (several only where the
    target keeps the hierarchy: each is then counted in its own wrapper); per unit its resources,
    cells and seconds (of a batch: its share)."""
    command, family = _command(target)
    files = sorted({f for u in units for f in kernel_files(u.module, kernels)})
    work = Path(tempfile.mkdtemp(prefix=f"hwbnn-synth-{target}-"))
    one = len(units) == 1
    try:
        for f in files:
            shutil.copyfile(kernels / f, work / f)
        for i, u in enumerate(units):
            renamed = {} if one else {param: f"u{i}_{u.params[param]}" for param in u.mems}
            for name, (words, bits) in memory_images(u, renamed).items():
                (work / name).write_text(_mem_text(words, bits))
            name = WRAPPER if one else f"{WRAPPER}_{i}"
            (work / f"{name}.sv").write_text(wrapper_text(u, name, renamed))
        tops = [WRAPPER] if one else [f"{WRAPPER}_{i}" for i in range(len(units))]
        if not one:
            (work / f"{BATCH_TOP}.sv").write_text(batch_top_text(units))
        sources = [*files, *(f"{t}.sv" for t in tops), *([] if one else [f"{BATCH_TOP}.sv"])]
        script = _script(command, sources, WRAPPER if one else BATCH_TOP)
        seconds = run_tool("yosys", ["-q", "-p", script], work, "yosys.log")
        totals = module_totals(json.loads((work / "stat.json").read_text()))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = []
    for t in tops:
        cells = {k: v for k, v in totals[t].items() if k != "$scopeinfo"}
        res = {**resources_of(cells, family), "cells": dict(sorted(cells.items()))}
        out.append({**res, "seconds": round(seconds / len(units), 2), "batch": len(units)})
    return out


def synthesize_unit(unit: RtlUnit, target: str, cache_dir=None) -> dict:
    """The Yosys resources of ``unit`` alone on ``target`` (``xc7``, ``xcup``, ``ecp5``), from the
    cache when this exact unit, kernel and tool were synthesized before.

    Returns ``lut``, ``lutram``, ``ff``, ``bram18``, ``dsp``, ``lut_total``, ``cells``,
    ``seconds`` (of the synthesis, also when cached), ``tool``, ``target``, ``family``,
    ``module``, ``key`` and ``cached`` (whether it came from the cache)."""
    return synthesize_units([unit], target, cache_dir)[0]


def synthesize_units(units: list[RtlUnit], target: str, cache_dir=None, batch: int = 8) -> list[dict]:
    """:func:`synthesize_unit` of each of ``units``.  Where the target keeps the hierarchy
    (``synth_xilinx``), the units not in the cache are synthesized ``batch`` at a time in one
    Yosys run (each in its own wrapper module, counted alone: the same cells as on its own, give
    or take a LUT, and the tool's fixed start-up of about 10 s paid once); ``synth_ecp5``
    flattens, so one at a time."""
    kernels = rtl_kernels_dir()
    tool = tool_version("yosys")
    cache = Path(cache_dir or default_cache_dir())
    _, family = _command(target)
    keys = [unit_key(u, target, tool, kernels) for u in units]
    results: list[dict | None] = []
    for key in keys:
        try:
            res = json.loads((cache / f"{key}.json").read_text())
            results.append({**res, "cached": True} if res.get("key") == key else None)
        except (OSError, json.JSONDecodeError):
            results.append(None)
    todo = [i for i, r in enumerate(results) if r is None]
    step = max(1, batch) if family == "xilinx" else 1
    for start in range(0, len(todo), step):
        group = todo[start : start + step]
        for i, res in zip(group, _run([units[i] for i in group], target, kernels)):
            res.update(tool=tool, target=target, family=family, module=units[i].module, key=keys[i])
            cache.mkdir(parents=True, exist_ok=True)
            write_text_atomic(cache / f"{keys[i]}.json", json.dumps(res, indent=2) + "\n")
            results[i] = {**res, "cached": False}
    return results

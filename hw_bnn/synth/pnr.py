"""A bitstream for an ECP5 board: Yosys ``synth_ecp5``, nextpnr-ecp5, ecppack, all from PyPI.

``make_bitstream(rtl_dir, board, out_dir)`` builds in a temporary folder beside ``out_dir``
(relative paths only, :mod:`hw_bnn.synth.tools`) and renames it into place:

1. the board files (``hwbnn_board``, the UART link: :func:`hw_bnn.rtl.board.emit_board`), the PLL
   (``ecppll -i <oscillator> -o <clock>``, when the clock is not the oscillator's), the chip top
   ``hwbnn_chip`` and the pin constraints ``hwbnn_chip.lpf`` (:mod:`hw_bnn.synth.boards`);
2. ``synth_ecp5 -top hwbnn_chip`` (flattened) -> ``hwbnn_chip.json``;
3. ``nextpnr-ecp5 --<device> --package P --speed S --lpf hwbnn_chip.lpf --freq F`` -> the
   placed and routed ``hwbnn_chip.config`` and ``nextpnr_report.json`` (utilisation, Fmax);
4. ``ecppack`` -> ``<board>.bit``.

Timing: nextpnr's post-route Fmax of the core clock is compared with the clock asked for.
Where it falls short, the PLL is set to the whole MHz at or below 98% of the Fmax reached and
place and route runs again, then (placement varies from run to run) at 90% of the lowest Fmax
seen: at most three runs.  The bitstream written always meets timing; every run is reported.
Frames per second: ``f_clk / cycles_per_frame`` for the network (the RTL's cycles per frame), and
``baud / 10 / bytes_per_frame`` for the UART link (8N1: ten bits a byte), the smaller of the two
being what the board sustains.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

from hw_bnn.dse.devices import get_device
from hw_bnn.files import building_folder
from hw_bnn.rtl.board import emit_board, frame_bytes, link_streams
from hw_bnn.synth.boards import Board, chip_top, clks_per_bit, constraints, line_baud, link_fps, load_board
from hw_bnn.synth.tools import ToolError, run_tool, tool_version
from hw_bnn.synth.yosys import ecp5_synth, module_totals, resources_of, run_yosys

CHIP = "hwbnn_chip"
RETRY_MARGINS = (0.98, 0.9)  # the clock of a re-run, as a fraction of the lowest Fmax reached


PLL_STEP_MHZ = 0.25  # how far the request steps down while ecppll's nearest clock lies above it


def _pll(work: Path, board: Board, clock_mhz: float) -> float:
    """``hwbnn_pll.v`` from ecppll for ``clock_mhz``; returns the frequency it reaches, at or
    below ``clock_mhz`` (ecppll picks the nearest it can make, which may lie above: the request
    then steps down by :data:`PLL_STEP_MHZ`)."""
    ask = clock_mhz
    while True:
        args = ["-i", str(board.clock["mhz"]), "-o", f"{ask:g}", "-n", "hwbnn_pll", "-f", "hwbnn_pll.v"]
        run_tool("ecppll", args, work, "ecppll.log")
        said = re.search(r"clkout0 frequency: ([0-9.]+) MHz", (work / "ecppll.log").read_text())
        if not said:
            raise ToolError(f"ecppll did not say the frequency it reached; see {work / 'ecppll.log'}")
        reached = float(said.group(1))
        if reached <= clock_mhz + 1e-9 or ask <= PLL_STEP_MHZ:
            return reached
        ask -= PLL_STEP_MHZ


def _design(work: Path, board: Board, clock_mhz: float) -> float:
    """The PLL (if needed), chip top and constraints for ``clock_mhz``; returns the clock reached."""
    pll = abs(clock_mhz - float(board.clock["mhz"])) > 1e-9
    reached = _pll(work, board, clock_mhz) if pll else float(board.clock["mhz"])
    (work / f"{CHIP}.sv").write_text(chip_top(board, reached, pll) + "\n")
    (work / f"{CHIP}.lpf").write_text(constraints(board))
    return reached


def _synth(work: Path, progress: bool) -> tuple[float, bool]:
    """``synth_ecp5`` of the chip (classic ABC where ABC9 runs out of stack); (seconds, classic)."""
    sources = sorted(p.name for p in work.glob("*.sv")) + (["hwbnn_pll.v"] if (work / "hwbnn_pll.v").exists() else [])

    def script(classic: bool) -> list[str]:
        return [
            f"read_verilog -defer -sv {' '.join(sources)}",
            *ecp5_synth(CHIP, classic),
            f"write_json {CHIP}.json",
            "tee -q -o chip_stat.json stat -json",
        ]

    return run_yosys(script, work, "yosys.log", progress)


def _place_and_route(work: Path, board: Board, clock_mhz: float, progress: bool, timeout=None) -> tuple[float, dict]:
    args = [f"--{board.device}", "--package", board.package, "--speed", str(board.speed)]
    args += ["--json", f"{CHIP}.json", "--lpf", f"{CHIP}.lpf", "--textcfg", f"{CHIP}.config"]
    args += ["--freq", f"{clock_mhz:g}", "--timing-allow-fail", "--report", "nextpnr_report.json", "--seed", "1"]
    seconds = run_tool("nextpnr-ecp5", args, work, "nextpnr.log", progress, timeout)
    return seconds, json.loads((work / "nextpnr_report.json").read_text())


def core_fmax(report: dict) -> tuple[float, str]:
    """The post-route Fmax (MHz) of the core clock in a nextpnr report, and its net's name: the
    slowest clock other than the oscillator input's."""
    clocks = report.get("fmax", {})
    if not clocks:
        raise ToolError("nextpnr's report has no clock (fmax); the design has no clocked logic?")
    name = min(clocks, key=lambda k: clocks[k]["achieved"])
    return float(clocks[name]["achieved"]), name


def utilisation(report: dict) -> dict:
    """``{cell type: {"used", "available"}}`` of the placed design, for the cells it uses."""
    return {k: v for k, v in report.get("utilization", {}).items() if v.get("used")}


def shortfall(cells: dict[str, int], board: Board) -> list[str]:
    """What a synthesized design (its cell counts) needs beyond the board's chip, as
    ``"EBR (DP16KD) 262 of 208 (126%)"``; empty where Yosys' counts fit."""
    dev = get_device(f"lfe5u-{board.device[:-1]}f")
    res = resources_of(cells, "ecp5")
    have = {"LUT4": (res["lut_total"], dev.lut), "FF": (res["ff"], dev.ff)}
    have |= {"EBR (DP16KD)": (res["bram18"], dev.bram18), "MULT18X18D": (res["dsp"], dev.dsp)}
    return [f"{k} {n:,} of {cap:,} ({100 * n / cap:.0f}%)" for k, (n, cap) in have.items() if n > cap]


def _attempt(work: Path, board: Board, clock_mhz: float, progress: bool, timeout=None) -> dict:
    reached = _design(work, board, clock_mhz)
    synth_s, classic = _synth(work, progress)
    try:
        pnr_s, report = _place_and_route(work, board, reached, progress, timeout)
    except ToolError as e:
        if "no BELs remaining" not in str(e):
            raise
        cells = module_totals(json.loads((work / "chip_stat.json").read_text()))[CHIP]
        needs = shortfall(cells, board) or ["more than the chip holds of a cell type (see the error)"]
        raise ToolError(
            f"{board.name}: the design does not fit the LFE5U-{board.device[:-1]}F: it needs {', '.join(needs)}; {e}"
        ) from e
    fmax, net = core_fmax(report)
    return {
        "clock_mhz": reached,
        "fmax_mhz": round(fmax, 2),
        "clock_net": net,
        "timing_met": fmax >= reached,
        "utilisation": utilisation(report),
        "seconds": {"yosys": round(synth_s, 1), "nextpnr": round(pnr_s, 1)},
        "lut_mapper": "abc" if classic else "abc9",
    }


def _throughput(project: dict, board: Board, clock_mhz: float) -> dict:
    cycles = int(project["cycles_per_frame"])
    fin, fout = (frame_bytes(s) for s in link_streams(project))
    compute = clock_mhz * 1e6 / cycles
    link = link_fps(board, clock_mhz, max(fin, fout))
    return {
        "cycles_per_frame": cycles,
        "fps_compute": round(compute, 1),
        "baud": round(line_baud(board, clock_mhz)),
        "bytes_per_frame": fin + fout,
        "fps_link": round(link, 1),
        "fps": round(min(compute, link), 1),
    }


def make_bitstream(
    rtl_dir, board: str, out_dir, clock_mhz: float | None = None, progress: bool = False, timeout=None
) -> dict:
    """Write ``out_dir`` (see the module docstring): ``<board>.bit``, the chip top, constraints,
    nextpnr's report and logs, and ``bitstream.json`` (clock, Fmax, utilisation, FPS, tool
    versions and times).  ``timeout``: seconds each place-and-route run may take.  Returns
    ``bitstream.json``'s contents."""
    b = load_board(board)
    rtl_dir, out_dir = Path(rtl_dir), Path(out_dir)
    project = json.loads((rtl_dir / "rtl_project.json").read_text())
    want = float(clock_mhz or b.target_mhz)
    with building_folder(out_dir) as work:
        emit_board(rtl_dir, work / "src", clks_per_bit=clks_per_bit(b, want))
        for p in (work / "src").iterdir():
            os.replace(p, work / p.name)
        (work / "src").rmdir()
        tries = [_attempt(work, b, want, progress, timeout)]
        for margin in RETRY_MARGINS:  # below the lowest Fmax reached: placement varies run to run
            if tries[-1]["timing_met"]:
                break
            lowest = min(t["fmax_mhz"] for t in tries)
            tries.append(_attempt(work, b, math.floor(margin * lowest), progress, timeout))
        final = tries[-1]
        if not final["timing_met"]:
            raise ToolError(f"{b.name}: timing not met even at {final['clock_mhz']} MHz (Fmax {final['fmax_mhz']})")
        run_tool("ecppack", [f"{CHIP}.config", f"{b.name}.bit"], work, "ecppack.log")
        result = {
            "board": b.name,
            "device": f"LFE5U-{b.device[:-1]}F",
            "package": b.package,
            "speed": b.speed,
            "bitstream": f"{b.name}.bit",
            "asked_mhz": want,
            **final,
            "attempts": tries,
            **_throughput(project, b, final["clock_mhz"]),
            "tools": {t: tool_version(t) for t in ("yosys", "nextpnr-ecp5")},
        }
        (work / "bitstream.json").write_text(json.dumps(result, indent=2) + "\n")
        for junk in (f"{CHIP}.json",):  # the netlist is large and rebuilt from the sources
            (work / junk).unlink(missing_ok=True)
    return result

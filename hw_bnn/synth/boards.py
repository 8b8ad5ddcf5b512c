"""FPGA boards: their descriptions (``boards/<name>.yaml``, data), and the chip top level and pin
constraints that put the accelerator on one.

A board file names the part (``device`` as nextpnr-ecp5 spells it, ``package``, ``speed``), the
oscillator (port, pin, MHz), a reset button (pin, active level), the UART pins of the host link
and its baud rate, the LEDs, and the clock to aim for (``target_mhz``).

``hwbnn_chip`` (:func:`chip_top`) is the design placed on the chip::

    oscillator -> EHXPLLL (hwbnn_pll, from ecppll) -> clk
    reset = button or PLL not locked, synchronised to clk (two flip-flops) and held 16 cycles
    hwbnn_board #(.CLKS_PER_BIT(round(f_clk / baud))) (hw_bnn.rtl.board): UART <-> network
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from hw_bnn.errors import HwBnnError
from hw_bnn.resources import board_files_dir


class BoardError(HwBnnError):
    """An unknown board, or a board file that lacks what the bitstream needs."""


@dataclass(frozen=True)
class Board:
    """One board file's contents (see the module docstring)."""

    name: str
    description: str
    family: str
    device: str
    package: str
    speed: int
    io_type: str
    clock: dict
    reset: dict
    uart: dict
    leds: dict
    target_mhz: float
    idcode: str | None = None


FIELDS = ("name", "description", "family", "device", "package", "speed", "io_type", "clock", "reset", "uart", "leds")


def known_boards() -> list[str]:
    return sorted(p.stem for p in board_files_dir().glob("*.yaml"))


def load_board(name_or_path: str) -> Board:
    """The board ``name_or_path``: a name from ``boards/`` (``ulx3s-85f``) or a ``.yaml`` path."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = board_files_dir() / f"{name_or_path}.yaml"
        if not path.is_file():
            raise BoardError(f"unknown board {name_or_path!r}: one of {', '.join(known_boards())}, or a .yaml path")
    try:
        d = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise BoardError(f"{path}: cannot read the board file ({e})") from None
    missing = [k for k in FIELDS if not isinstance(d, dict) or k not in d]
    if missing:
        raise BoardError(f"{path}: the board file lacks {', '.join(missing)}")
    if d["family"] != "ecp5":
        raise BoardError(f"{path}: family {d['family']!r}: bitstreams are made for ecp5 boards only (nextpnr-ecp5)")
    return Board(**{k: d[k] for k in FIELDS}, target_mhz=float(d.get("target_mhz", 100)), idcode=d.get("idcode"))


def _io(port: str, pin: str, io_type: str, pullmode: str | None = None) -> list[str]:
    pull = f" PULLMODE={pullmode}" if pullmode else ""
    return [f'LOCATE COMP "{port}" SITE "{pin}";', f'IOBUF PORT "{port}" IO_TYPE={io_type}{pull};']


def constraints(board: Board) -> str:
    """The LPF: every pin the chip top uses, its I/O standard, and the oscillator's frequency."""
    c, r, u, leds = board.clock, board.reset, board.uart, board.leds
    lines = [f"# {board.name}: pins of hwbnn_chip (written by hw-bnn from boards/{board.name}.yaml)"]
    lines += _io(c["port"], c["pin"], board.io_type)
    lines.append(f'FREQUENCY PORT "{c["port"]}" {c["mhz"]} MHZ;')
    lines += _io(r["port"], r["pin"], board.io_type, r.get("pullmode"))
    lines += _io(u["rx"]["port"], u["rx"]["pin"], board.io_type, "UP")
    lines += _io(u["tx"]["port"], u["tx"]["pin"], board.io_type)
    for k, pin in enumerate(leds["pins"]):
        lines += _io(f"{leds['port']}[{k}]", pin, board.io_type)
    return "\n".join(lines) + "\n"


def clks_per_bit(board: Board, clock_mhz: float) -> int:
    """Clock cycles a UART bit at the board's baud rate: ``round(f_clk / baud)``."""
    return max(4, round(clock_mhz * 1e6 / float(board.uart["baud"])))


def line_baud(board: Board, clock_mhz: float) -> float:
    """The baud rate the UART really runs at: ``f_clk / clks_per_bit``."""
    return clock_mhz * 1e6 / clks_per_bit(board, clock_mhz)


def link_fps(board: Board, clock_mhz: float, frame_bytes: int) -> float:
    """Frames per second the UART link carries: ``baud / 10 / frame_bytes`` (8N1: ten bits a
    byte; ``frame_bytes`` the larger of a frame's input and output bytes, the link being full
    duplex)."""
    return line_baud(board, clock_mhz) / 10 / frame_bytes


def chip_top(board: Board, clock_mhz: float, pll: bool) -> str:
    """``hwbnn_chip``: the PLL (when ``pll``: ``hwbnn_pll`` from ecppll; else the oscillator
    itself), the reset synchroniser and ``hwbnn_board`` with the UART's bit time at ``clock_mhz``."""
    c, r, u, leds = board.clock, board.reset, board.uart, board.leds
    n_leds = len(leds["pins"])
    pressed = r["port"] if r["active"] == "high" else f"!{r['port']}"
    clk = (
        [f"  hwbnn_pll pll (.clkin({c['port']}), .clkout0(clk), .locked(locked));"]
        if pll
        else [f"  assign clk = {c['port']};", "  assign locked = 1'b1;"]
    )
    return "\n".join(
        [
            f"// Generated by hw-bnn (hw_bnn.synth.boards) for {board.name}: the accelerator on the chip.",
            "module hwbnn_chip (",
            f"    input  logic {c['port']},",
            f"    input  logic {r['port']},",
            f"    input  logic {u['rx']['port']},",
            f"    output logic {u['tx']['port']},",
            f"    output logic [{n_leds - 1}:0] {leds['port']}",
            ");",
            "  logic clk, locked;",
            *clk,
            "  // reset: asynchronous causes, synchronised; released 16 cycles after the last one",
            "  logic [1:0] sync = 2'b11;",
            "  logic [4:0] hold = 5'd0;",
            f"  always_ff @(posedge clk) sync <= {{sync[0], ({pressed}) || !locked}};",
            "  always_ff @(posedge clk) hold <= sync[1] ? 5'd0 : (hold[4] ? hold : hold + 5'd1);",
            "  wire rst = !hold[4];",
            "  logic [7:0] led8;",
            f"  hwbnn_board #(.CLKS_PER_BIT({clks_per_bit(board, clock_mhz)})) board (",
            f"      .clk(clk), .rst(rst), .uart_rx({u['rx']['port']}), .uart_tx({u['tx']['port']}), .led(led8));",
            f"  assign {leds['port']} = led8[{n_leds - 1}:0];",
            "endmodule",
        ]
    )

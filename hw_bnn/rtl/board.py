"""The board top level: the network behind an 8N1 UART, and the host side of its byte protocol.

``hwbnn_board`` (:func:`board_top`) wires, valid/ready throughout::

    uart_rx -> hwbnn_uart_rx -> hwbnn_fifo (bytes) -> hwbnn_bytes_to_beats -> hwbnn_top
            -> hwbnn_beats_to_bytes -> hwbnn_uart_tx -> uart_tx

Line: 8N1, LSB first, ``CLKS_PER_BIT`` clock cycles a bit (baud = f_clk / CLKS_PER_BIT).

Bytes, frames back to back, no header, no checksum (after ``rst`` the next byte starts a frame)::

    host -> board   frame f: IN_FRAME values x[f, i] in hwbnn_top's input order (that of
                    rtl.graph.network_input: NHWC for images), each in B_in = ceil(IN_BITS / 8)
                    bytes, little endian, two's complement when signed:
                        byte (f * IN_FRAME + i) * B_in + j  =  (x[f, i] >> 8 j) & 0xFF
    board -> host   frame f: OUT_FRAME values y[f, i] in hwbnn_top's output order, each in
                    B_out = ceil(OUT_BITS / 8) bytes the same way (sign extended from OUT_BITS
                    when signed, zero extended else)

Flow control: the host keeps at most ``rx_frames`` frames outstanding (sent, their outputs not
all received yet): then the bytes not yet taken by ``hwbnn_top`` belong to at most that many
frames, and the receive FIFO (``rx_frames`` frames of bytes) never overflows, however slow the
network.  The transmit side never drops: the unpacker back-pressures ``hwbnn_top``'s out_ready.

``led[6:0]``: frames out of ``hwbnn_top`` since reset, mod 128; ``led[7]``: set (until reset)
when the receiver lost a byte (overrun, or a stop bit of 0).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from hw_bnn.errors import HwBnnError
from hw_bnn.files import building_folder, write_bytes_atomic
from hw_bnn.resources import rtl_kernels_dir
from hw_bnn.rtl.emit import RTL_PROJECT, port_bits

BOARD = "hwbnn_board.sv"
BOARD_JSON = "board.json"
BOARD_KERNELS = ("hwbnn_uart_rx.sv", "hwbnn_uart_tx.sv", "hwbnn_bytes_to_beats.sv", "hwbnn_beats_to_bytes.sv")
MIN_CLKS_PER_BIT = 4


class LinkError(HwBnnError, ValueError):
    """Values or bytes that do not fit the board's UART protocol, or a bad link setting."""


def value_bytes(bits: int) -> int:
    """Bytes of one value on the line: ``ceil(bits / 8)``."""
    return -(-int(bits) // 8)


def link_streams(project: dict) -> tuple[dict, dict]:
    """The input and output streams (``elems``, ``bits``, ``signed``, ``frame``) of an RTL project."""
    return project["input"], project["units"][-1]["out"]


def frame_bytes(stream: dict) -> int:
    """Bytes of one frame of ``stream`` on the line: ``frame * ceil(bits / 8)``."""
    return int(stream["frame"]) * value_bytes(stream["bits"])


def _value_range(stream: dict) -> tuple[int, int]:
    bits = int(stream["bits"])
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if stream["signed"] else (0, (1 << bits) - 1)


def encode_frames(x_values: np.ndarray, project: dict) -> bytes:
    """The bytes the host sends for the frames ``x_values`` ((N, IN_FRAME) integers in the input
    stream's order): value i of frame f as B_in bytes, byte j = ``(x[f, i] >> 8 j) & 0xFF``."""
    stream = link_streams(project)[0]
    x = np.asarray(x_values)
    if not np.issubdtype(x.dtype, np.integer):
        raise LinkError(f"input values have dtype {x.dtype}; expected integers")
    x = x.astype(np.int64).reshape(len(x), -1)
    if x.shape[1] != stream["frame"]:
        raise LinkError(f"input frames have {x.shape[1]} values; the network takes {stream['frame']}")
    lo, hi = _value_range(stream)
    if x.size and (x.min() < lo or x.max() > hi):
        kind = "signed" if stream["signed"] else "unsigned"
        raise LinkError(
            f"input values must lie in [{lo}, {hi}] ({stream['bits']} bits {kind}); got {x.min()}..{x.max()}"
        )
    shifts = 8 * np.arange(value_bytes(stream["bits"]), dtype=np.int64)
    return ((x[:, :, None] >> shifts) & 0xFF).astype(np.uint8).tobytes()


def decode_outputs(data: bytes, project: dict, n_frames: int) -> np.ndarray:
    """The outputs, int64 ``(n_frames, OUT_FRAME)``, from the bytes the board sent: value i of
    frame f is ``sum_j byte_j << 8 j`` over its B_out bytes, two's complement when signed.
    Raises ``LinkError`` on a wrong byte count or a value outside OUT_BITS (a byte above the
    value's bits that is not its sign or zero extension)."""
    stream = link_streams(project)[1]
    nb, frame = value_bytes(stream["bits"]), int(stream["frame"])
    if len(data) != n_frames * frame * nb:
        raise LinkError(
            f"got {len(data)} output bytes; {n_frames} frames of {frame} values of {nb} bytes are "
            f"{n_frames * frame * nb}"
        )
    raw = np.frombuffer(bytes(data), dtype=np.uint8).reshape(n_frames, frame, nb).astype(np.int64)
    y = (raw << (8 * np.arange(nb, dtype=np.int64))).sum(axis=2)
    if stream["signed"]:
        y = np.where(y >= 1 << (8 * nb - 1), y - (1 << (8 * nb)), y)
    lo, hi = _value_range(stream)
    bad = np.argwhere((y < lo) | (y > hi))
    if len(bad):
        f, i = (int(v) for v in bad[0])
        raise LinkError(
            f"{len(bad)} output values outside [{lo}, {hi}] ({stream['bits']} bits); the first: "
            f"frame {f}, value {i} = {int(y[f, i])}"
        )
    return y


def _ports_and_rx(inp: dict, clks_per_bit: int, rx_frames: int) -> list[str]:
    """The module header, the receiver, its byte FIFO and the packer into ``in_beat``."""
    depth = max(2, rx_frames * frame_bytes(inp))
    width = inp["elems"] * inp["bits"]
    return [
        "module hwbnn_board #(",
        f"    parameter int CLKS_PER_BIT = {clks_per_bit}",
        ") (",
        "    input  logic       clk,",
        "    input  logic       rst,",
        "    input  logic       uart_rx,",
        "    output logic       uart_tx,",
        "    output logic [7:0] led",
        ");",
        "  logic rx_valid, rx_ready, rx_overrun, rx_frame_error;",
        "  logic [7:0] rx_data;",
        "  hwbnn_uart_rx #(.CLKS_PER_BIT(CLKS_PER_BIT)) uart_in (",
        "      .clk(clk), .rst(rst), .rx(uart_rx), .out_valid(rx_valid), .out_ready(rx_ready),",
        "      .out_data(rx_data), .overrun(rx_overrun), .frame_error(rx_frame_error));",
        "  logic b_valid, b_ready;",
        "  logic [7:0] b_data;",
        f"  hwbnn_fifo #(.DEPTH({depth}), .BITS(8)) rx_fifo (",
        "      .clk(clk), .rst(rst), .in_valid(rx_valid), .in_ready(rx_ready), .in_data(rx_data),",
        "      .out_valid(b_valid), .out_ready(b_ready), .out_data(b_data));",
        "  logic in_valid, in_ready;",
        f"  logic [{width - 1}:0] in_beat;",
        f"  logic [{port_bits(width) - 1}:0] in_data;",
        f"  hwbnn_bytes_to_beats #(.ELEMS({inp['elems']}), .BITS({inp['bits']})) pack (",
        "      .clk(clk), .rst(rst), .in_valid(b_valid), .in_ready(b_ready), .in_data(b_data),",
        "      .out_valid(in_valid), .out_ready(in_ready), .out_data(in_beat));",
        f"  assign in_data = {port_bits(width)}'(in_beat);",
    ]


def _net_and_tx(out: dict, n_taps: int) -> list[str]:
    """``hwbnn_top`` (taps left open), the unpacker of its output beats and the transmitter."""
    width = out["elems"] * out["bits"]
    params = f".ELEMS({out['elems']}), .BITS({out['bits']}), .SIGNED({int(out['signed'])})"
    taps = "".join(f",\n      .tap{i}_fire(), .tap{i}_data()" for i in range(n_taps))
    return [
        "  logic out_valid, out_ready;",
        f"  logic [{port_bits(width) - 1}:0] out_data;",
        "  hwbnn_top net (",
        "      .clk(clk), .rst(rst), .in_valid(in_valid), .in_ready(in_ready), .in_data(in_data),",
        "      .out_valid(out_valid), .out_ready(out_ready), .out_data(out_data)" + taps + ");",
        "  logic tx_valid, tx_ready;",
        "  logic [7:0] tx_data;",
        f"  hwbnn_beats_to_bytes #({params}) unpack (",
        f"      .clk(clk), .rst(rst), .in_valid(out_valid), .in_ready(out_ready), .in_data(out_data[{width - 1}:0]),",
        "      .out_valid(tx_valid), .out_ready(tx_ready), .out_data(tx_data));",
        "  hwbnn_uart_tx #(.CLKS_PER_BIT(CLKS_PER_BIT)) uart_out (",
        "      .clk(clk), .rst(rst), .in_valid(tx_valid), .in_ready(tx_ready), .in_data(tx_data), .tx(uart_tx));",
    ]


def _leds(out: dict) -> list[str]:
    """``led = {lost byte since reset, output frames mod 128}``."""
    beats = int(out["frame"]) // int(out["elems"])
    bw = max(1, (beats - 1).bit_length())
    return [
        f"  logic [{bw - 1}:0] beat;  // output beats of the current frame",
        "  logic [6:0] frames;",
        "  logic lost;",
        "  always_ff @(posedge clk) begin",
        "    if (rst) begin",
        "      beat <= '0;",
        "      frames <= '0;",
        "      lost <= 1'b0;",
        "    end else begin",
        "      if (rx_overrun || rx_frame_error) lost <= 1'b1;",
        "      if (out_valid && out_ready) begin",
        f"        beat <= (beat == {bw}'d{beats - 1}) ? '0 : beat + 1'b1;",
        f"        if (beat == {bw}'d{beats - 1}) frames <= frames + 1'b1;",
        "      end",
        "    end",
        "  end",
        "  assign led = {lost, frames};",
    ]


def board_top(project: dict, clks_per_bit: int, rx_frames: int = 2) -> str:
    """``hwbnn_board.sv`` for the RTL project ``project`` (``rtl_project.json``): the network
    behind the UART, ``CLKS_PER_BIT`` defaulting to ``clks_per_bit`` (see the module docstring)."""
    if int(clks_per_bit) < MIN_CLKS_PER_BIT:
        raise LinkError(f"clks_per_bit must be at least {MIN_CLKS_PER_BIT}; got {clks_per_bit}")
    if int(rx_frames) < 1:
        raise LinkError(f"rx_frames must be at least 1; got {rx_frames}")
    inp, out = link_streams(project)
    if out["frame"] % out["elems"] or inp["frame"] % inp["elems"]:
        raise LinkError("a stream's frame is not a whole number of beats")

    def side(s: dict) -> str:
        kind = "signed" if s["signed"] else "unsigned"
        nb = value_bytes(s["bits"])
        return f"{s['frame']} values of {s['bits']} bits {kind}, {nb} byte{'s' * (nb > 1)} each"

    head = [
        "// Generated by hw-bnn (hw_bnn.rtl.board): hwbnn_top behind an 8N1 UART.",
        f"// host -> board, per frame: {side(inp)}, little endian ({frame_bytes(inp)} bytes)",
        f"// board -> host, per frame: {side(out)}, little endian ({frame_bytes(out)} bytes)",
        f"// at most {rx_frames} frames outstanding; led = {{lost byte, frames mod 128}}",
    ]
    body = _ports_and_rx(inp, int(clks_per_bit), int(rx_frames)) + _net_and_tx(out, len(project["units"]))
    return "\n".join(head + body + _leds(out) + ["endmodule"]) + "\n"


def board_files(project: dict, clks_per_bit: int, rx_frames: int = 2) -> dict[str, bytes]:
    """The files a board adds to an RTL project: its kernels, ``hwbnn_board.sv``, ``board.json``."""
    files = {k: (rtl_kernels_dir() / k).read_bytes() for k in BOARD_KERNELS}
    files[BOARD] = board_top(project, clks_per_bit, rx_frames).encode()
    inp, out = link_streams(project)
    desc = {
        "top": "hwbnn_board",
        "clks_per_bit": int(clks_per_bit),
        "rx_frames": int(rx_frames),
        "in": {**inp, "bytes_per_value": value_bytes(inp["bits"]), "frame_bytes": frame_bytes(inp)},
        "out": {**out, "bytes_per_value": value_bytes(out["bits"]), "frame_bytes": frame_bytes(out)},
        "kernels": list(BOARD_KERNELS),
    }
    files[BOARD_JSON] = (json.dumps(desc, indent=2) + "\n").encode()
    return files


def emit_board(rtl_dir, out_dir=None, *, clks_per_bit: int, rx_frames: int = 2) -> Path:
    """Add the board (:func:`board_files`) to the RTL project ``rtl_dir``: into it (each file
    through a temporary file and a rename), or, with ``out_dir``, into a copy of it there
    (built in a temporary folder and renamed into place).  Returns the folder written."""
    rtl_dir = Path(rtl_dir)
    files = board_files(json.loads((rtl_dir / RTL_PROJECT).read_text()), clks_per_bit, rx_frames)
    if out_dir is None:
        for name, data in files.items():
            write_bytes_atomic(rtl_dir / name, data)
        return rtl_dir
    with building_folder(out_dir) as tmp:
        shutil.copytree(rtl_dir, tmp, dirs_exist_ok=True)
        for name, data in files.items():
            (tmp / name).write_bytes(data)
    return Path(out_dir)

"""The deploy folder's UART host (uart_host.py) against the real board: its bytes go through the
Verilator simulation of the whole board (UART receiver, packer, network, unpacker, transmitter),
and what comes back must be the golden model's outputs."""

import sys
import types

import numpy as np
import pytest

from hw_bnn.deploy import write_deploy
from hw_bnn.rtl.board import emit_board
from hw_bnn.sim.boardsim import run_board_bytes
from tests.deploy.helpers import build_folder, dense_case


class SimulatedSerial:
    """A serial port wired to the board simulation: every read re-runs the board from reset on all
    bytes written so far (the simulation is deterministic) and serves the next bytes it sent."""

    def __init__(self, board_rtl, frame_in: int, flip: int | None = None):
        self.board_rtl, self.frame_in, self.flip = board_rtl, frame_in, flip
        self.written, self.served = b"", 0

    def write(self, data: bytes) -> None:
        self.written += bytes(data)

    def read(self, n: int) -> bytes:
        frames = len(self.written) // self.frame_in
        got = run_board_bytes(self.board_rtl, self.written, frames)["received"]
        if self.flip is not None:
            got = bytearray(got)
            got[self.flip] ^= 1
        chunk = bytes(got[self.served : self.served + n])
        self.served += len(chunk)
        return chunk


@pytest.fixture
def uart_folder(tmp_path, monkeypatch):
    golden, folding, x = dense_case(folded=True)
    build = build_folder(tmp_path / "build", golden, folding)
    board_rtl = emit_board(build / "rtl", tmp_path / "board", clks_per_bit=4)
    write_deploy(build, tmp_path / "deploy", x=x[:5], images=5)
    monkeypatch.syspath_prepend(str(tmp_path / "deploy"))
    for m in ("hwbnn_io", "uart_host", "driver", "validate"):
        sys.modules.pop(m, None)
    return tmp_path / "deploy", board_rtl, golden, x[:5]


def uart_frame_bytes(shapes: dict) -> int:
    s = shapes["in"]
    return s["elems"] * s["beats"] * s["value_bytes"]


def _serial_module(port):
    return types.SimpleNamespace(Serial=lambda *a, **k: port)


def test_the_uart_host_gets_the_golden_outputs_from_the_board(uart_folder, monkeypatch):
    folder, board_rtl, golden, x = uart_folder
    import hwbnn_io

    shapes = hwbnn_io.load_shapes(folder)
    port = SimulatedSerial(board_rtl, frame_in=uart_frame_bytes(shapes))
    monkeypatch.setitem(sys.modules, "serial", _serial_module(port))
    import uart_host

    out = uart_host.UartAccelerator("/dev/null", 3_000_000).execute(x)
    assert np.array_equal(out.reshape(len(x), -1), golden.run(x).reshape(len(x), -1))


def test_validate_over_the_uart_catches_a_flipped_bit(uart_folder, monkeypatch, capsys):
    folder, board_rtl, _, _ = uart_folder
    import hwbnn_io

    shapes = hwbnn_io.load_shapes(folder)
    frame_in = uart_frame_bytes(shapes)
    monkeypatch.setitem(sys.modules, "serial", _serial_module(SimulatedSerial(board_rtl, frame_in)))
    import validate

    assert validate.main(["--uart", "/dev/null", "--self-check"]) == 0
    monkeypatch.setitem(sys.modules, "serial", _serial_module(SimulatedSerial(board_rtl, frame_in, flip=0)))
    sys.modules.pop("uart_host", None)
    assert validate.main(["--uart", "/dev/null", "--self-check"]) == 1
    assert "first mismatch: image 0" in capsys.readouterr().out

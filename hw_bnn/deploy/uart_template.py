"""Run a hw-bnn accelerator on an ECP5 board over its UART (copied into a deploy folder as
``uart_host.py``; needs ``pip install pyserial``).

    python3 validate.py --uart /dev/ttyUSB0 --self-check       # bit-exact vs the golden model
    python3 validate.py --uart /dev/ttyUSB0 --inputs x.npy --labels y.npy

The link (hw_bnn.rtl.board): 8N1 at the board file's baud rate, no header.  The host sends each
frame's input values in stream order (NHWC pixels), each in ``ceil(bits / 8)`` bytes, little
endian; the board answers with the frame's output values the same way.  That is the deploy
folder's stream layout (``hwbnn_io``) with a whole frame as one beat and no padding, so the same
packing serves both.  At most ``window`` frames are outstanding (the board's receive FIFO holds
two frames).
"""

from __future__ import annotations

import hwbnn_io
import numpy as np


def line_stream(stream: dict) -> dict:
    """The UART's layout of a deploy stream: one beat of the whole frame, no padding bytes."""
    frame = stream["elems"] * stream["beats"]
    nbytes = frame * stream["value_bytes"]
    return {**stream, "elems": frame, "beats": 1, "beat_bytes": nbytes, "frame_bytes": nbytes}


class UartAccelerator:
    """The accelerator behind a serial port: ``execute(x)`` as the PYNQ driver's."""

    def __init__(self, port: str, baud: int, shapes: dict | None = None, window: int = 2, timeout: float = 5.0):
        import serial  # pyserial, imported here so the packing runs without it

        self.shapes = shapes or hwbnn_io.load_shapes()
        self.link = serial.Serial(port, baudrate=baud, timeout=timeout)
        self.window, self.batch_size = window, 1
        self.tx, self.rx = line_stream(self.shapes["in"]), line_stream(self.shapes["out"])

    def execute(self, x) -> np.ndarray:
        """Outputs ``(N, *output_shape)`` of the inputs ``x`` (``(N, *input_shape)`` codes)."""
        codes = hwbnn_io.to_stream_order(x, self.shapes)
        frames = [hwbnn_io.pack_frames(c[None], self.tx).tobytes() for c in codes]
        got, sent = [], 0
        while len(got) < len(frames):
            while sent < len(frames) and sent - len(got) < self.window:
                self.link.write(frames[sent])
                sent += 1
            data = self.link.read(self.rx["frame_bytes"])
            if len(data) != self.rx["frame_bytes"]:
                raise TimeoutError(f"frame {len(got)}: {len(data)} of {self.rx['frame_bytes']} bytes from the board")
            got.append(np.frombuffer(data, dtype=np.uint8))
        out = hwbnn_io.unpack_frames(np.concatenate(got), len(got), self.rx)
        return out.reshape(len(got), *self.shapes["output_shape"])

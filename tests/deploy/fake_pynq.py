"""A stand-in for the ``pynq`` package: an ``Overlay`` whose AXI DMA ``dma`` is the RTL
simulation of the deploy folder's wrapper, so the driver's own overlay code (pynq buffers,
``transfer(buffer, start, nbytes)``, ``wait``, cache flushes) runs unchanged off the board."""

from __future__ import annotations

import json
import types
from pathlib import Path

import numpy as np

from hw_bnn.sim.axissim import run_axissim


class PynqBuffer(np.ndarray):
    """``pynq.allocate``'s buffer: an array with cache operations (counted here)."""

    flushes = 0

    def flush(self):
        PynqBuffer.flushes += 1

    def invalidate(self):
        pass


def allocate(shape, dtype=np.uint8):
    return np.zeros(shape, dtype=dtype).view(PynqBuffer)


class Channel:
    def __init__(self, dma):
        self.dma, self.pending = dma, None

    def transfer(self, array, start=0, nbytes=0):
        self.pending = (array, start, nbytes or array.nbytes)

    def wait(self):
        if self is self.dma.recvchannel:
            self.dma.run()


class SimulatedDMA:
    """MM2S / S2MM in simple mode: one transfer each way per batch, TLAST at the end of the
    MM2S transfer; ``flip``: (byte, bit) of the S2MM buffer to flip after a transfer, once."""

    def __init__(self, folder: Path, shapes: dict):
        self.folder, self.shapes = folder, shapes
        self.sendchannel, self.recvchannel = Channel(self), Channel(self)
        self.transfers, self.flip = [], None

    def run(self):
        (src, s0, n_in), (dst, d0, n_out) = self.sendchannel.pending, self.recvchannel.pending
        word_in, word_out = self.shapes["in"]["tdata_bits"] // 8, self.shapes["out"]["tdata_bits"] // 8
        data = bytes(np.asarray(src)[s0 : s0 + n_in])
        params = self.shapes["axis_params"]
        res = run_axissim(self.folder / "rtl", params, data, n_in // word_in, n_out // word_out, p_stall=0.2, p_gap=0.2)
        assert len(res["data"]) == n_out and res["tlast"].tolist() == [n_out // word_out - 1]
        dst[d0 : d0 + n_out] = np.frombuffer(res["data"], dtype=np.uint8)
        if self.flip is not None:
            byte, bit = self.flip
            dst[d0 + byte] ^= 1 << bit
            self.flip = None
        self.transfers.append((n_in, n_out))


def module(folder) -> types.ModuleType:
    """A ``pynq`` module for the deploy folder ``folder``; its ``Overlay.last`` is the latest overlay."""
    folder = Path(folder).resolve()
    shapes_path = folder / "io_shapes.json"

    class Overlay:
        last = None

        def __init__(self, bitfile_name, download=True):
            self.bitfile_name = bitfile_name
            self.dma = SimulatedDMA(folder, json.loads(shapes_path.read_text()))
            Overlay.last = self

    pynq = types.ModuleType("pynq")
    pynq.Overlay, pynq.allocate = Overlay, allocate
    pynq.Clocks = types.SimpleNamespace(fclk0_mhz=0.0)
    return pynq

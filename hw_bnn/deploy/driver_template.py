"""PYNQ driver of a hw-bnn accelerator (an AXI DMA and the ``hwbnn_axis`` wrapper), in FINN's
deployment convention: an ``Overlay`` subclass whose ``execute(input_npy)`` packs a batch,
moves it through the DMA in one transfer each way and unpacks the outputs, and whose
``throughput_test()`` times a batch.  Copied into a deploy folder as ``driver.py``, beside
``hwbnn_io.py`` (the packing, NumPy only) and ``io_shapes.json``.

    from driver import open_overlay
    accel = open_overlay("hwbnn.bit", batch_size=100)   # pynq is imported here, not before
    outputs = accel.execute(images)                       # (N, *input_shape) -> (N, *output_shape)

or, as FINN's ``driver.py``:  ``python3 driver.py --exec_mode execute --inputfile in.npy
--outputfile out.npy --batchsize 100``  /  ``--exec_mode throughput_test``.

:class:`HwBnnDriver` holds everything but the hardware: the buffers (NumPy arrays), batching,
packing and timing.  The overlay (:func:`overlay_class`) replaces ``allocate`` (pynq buffers)
and ``transfer`` (the DMA); a simulation or a test can replace them the same way.  Needs PYNQ
2.7 or later (``transfer(buffer, start, nbytes)``).
"""

from __future__ import annotations

import argparse
import os
import time

import hwbnn_io
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BITFILE = "hwbnn.bit"


class HwBnnDriver:
    """Batches of ``batch_size`` frames through an accelerator with the shapes of
    ``io_shapes`` (``io_shapes.json`` or its folder; default: this file's folder)."""

    def __init__(self, io_shapes=None, batch_size: int = 1):
        self.shapes = hwbnn_io.load_shapes(io_shapes if io_shapes is not None else HERE)
        self._batch_size = 0
        self.batch_size = batch_size

    # --- the hardware seam: what an overlay (or a simulation) replaces ---------------------
    def allocate(self, nbytes: int):
        """A buffer of ``nbytes`` bytes the DMA can reach (here: host memory)."""
        return np.zeros(nbytes, dtype=np.uint8)

    def transfer(self, n: int) -> None:
        """Move the first ``n`` frames of ``ibuf`` through the accelerator into ``obuf``."""
        raise NotImplementedError("HwBnnDriver has no hardware: use open_overlay() on the board")

    @property
    def fclk_mhz(self) -> float:
        return float(self.shapes.get("fclk_mhz", 100.0))

    # --- shapes and buffers (FINN's names) -------------------------------------------------
    @property
    def batch_size(self) -> int:
        return self._batch_size

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        value = int(value)
        limit = int(self.shapes["max_transfer_bytes"])
        worst = max(self.shapes["in"]["frame_bytes"], self.shapes["out"]["frame_bytes"])
        if value < 1 or value * worst > limit:
            raise ValueError(f"batch size {value}: must be 1 to {limit // worst} (the DMA moves {limit} bytes at most)")
        self._batch_size = value
        self.ibuf = self.allocate(value * self.shapes["in"]["frame_bytes"])
        self.obuf = self.allocate(value * self.shapes["out"]["frame_bytes"])

    @property
    def ishape_normal(self) -> tuple:
        return (self.batch_size, *self.shapes["input_shape"])

    @property
    def oshape_normal(self) -> tuple:
        return (self.batch_size, *self.shapes["output_shape"])

    @property
    def ishape_packed(self) -> tuple:
        return (self.batch_size * self.shapes["in"]["frame_bytes"],)

    @property
    def oshape_packed(self) -> tuple:
        return (self.batch_size * self.shapes["out"]["frame_bytes"],)

    # --- one batch, step by step -------------------------------------------------------------
    def pack_input(self, x) -> np.ndarray:
        return hwbnn_io.pack_input(x, self.shapes)

    def unpack_output(self, packed, n: int) -> np.ndarray:
        return hwbnn_io.unpack_output(packed, n, self.shapes)

    def copy_input_data_to_device(self, packed) -> None:
        self.ibuf[: len(packed)] = packed

    def execute_on_buffers(self, n: int | None = None) -> None:
        self.transfer(self.batch_size if n is None else n)

    def copy_output_data_from_device(self, n: int) -> np.ndarray:
        return np.array(self.obuf[: n * self.shapes["out"]["frame_bytes"]], dtype=np.uint8)

    def execute(self, input_npy) -> np.ndarray:
        """``(N, *input_shape)`` integer codes -> ``(N, *output_shape)`` integer outputs, in
        batches of ``batch_size`` (the last one may be smaller)."""
        x = hwbnn_io.to_stream_order(input_npy, self.shapes)
        outs = []
        for start in range(0, len(x), self.batch_size):
            chunk = x[start : start + self.batch_size]
            self.copy_input_data_to_device(hwbnn_io.pack_frames(chunk, self.shapes["in"]))
            self.execute_on_buffers(len(chunk))
            outs.append(self.unpack_output(self.copy_output_data_from_device(len(chunk)), len(chunk)))
        return np.concatenate(outs) if outs else np.zeros((0, *self.shapes["output_shape"]), dtype=np.int64)

    def throughput_test(self) -> dict:
        """One batch timed step by step: runtime (the DMA transfers), images per second, DMA
        bandwidth in and out, and the host's packing and copying times."""
        lo = self.shapes["input_range"][0]
        x = np.full(self.ishape_normal, lo, dtype=np.int64)
        t0 = time.perf_counter()
        packed = self.pack_input(x)
        t1 = time.perf_counter()
        self.copy_input_data_to_device(packed)
        t2 = time.perf_counter()
        self.execute_on_buffers()
        t3 = time.perf_counter()
        out = self.copy_output_data_from_device(self.batch_size)
        t4 = time.perf_counter()
        self.unpack_output(out, self.batch_size)
        t5 = time.perf_counter()
        runtime = max(t3 - t2, 1e-9)
        return {
            "runtime[ms]": runtime * 1e3,
            "throughput[images/s]": self.batch_size / runtime,
            "DRAM_in_bandwidth[MB/s]": self.ishape_packed[0] / runtime * 1e-6,
            "DRAM_out_bandwidth[MB/s]": self.oshape_packed[0] / runtime * 1e-6,
            "fclk[mhz]": self.fclk_mhz,
            "batch_size": self.batch_size,
            "pack_input[ms]": (t1 - t0) * 1e3,
            "copy_input_data_to_device[ms]": (t2 - t1) * 1e3,
            "copy_output_data_from_device[ms]": (t4 - t3) * 1e3,
            "unpack_output[ms]": (t5 - t4) * 1e3,
        }


def overlay_class():
    """``HwBnnOverlay``: :class:`HwBnnDriver` on a ``pynq.Overlay`` (pynq is imported here)."""
    try:
        from pynq import Clocks, Overlay, allocate
    except ImportError as e:
        raise ImportError(f"the overlay needs pynq ({e}): run it on a PYNQ board (hwbnn_io.py runs anywhere)") from e

    class HwBnnOverlay(HwBnnDriver, Overlay):
        """The bitstream ``bitfile_name`` (its ``.hwh`` beside it) with its DMA ``dma``."""

        def __init__(self, bitfile_name=None, batch_size=1, io_shapes=None, fclk_mhz=None, download=True):
            Overlay.__init__(self, bitfile_name or os.path.join(HERE, BITFILE), download=download)
            HwBnnDriver.__init__(self, io_shapes, batch_size)
            if download:
                Clocks.fclk0_mhz = float(fclk_mhz or self.shapes.get("fclk_mhz", 100.0))

        @property
        def fclk_mhz(self) -> float:
            return float(Clocks.fclk0_mhz)

        def allocate(self, nbytes):
            return allocate(shape=(nbytes,), dtype=np.uint8)

        def transfer(self, n):
            dma = getattr(self, self.shapes.get("dma", "dma"))
            self.ibuf.flush()
            dma.recvchannel.transfer(self.obuf, 0, n * self.shapes["out"]["frame_bytes"])
            dma.sendchannel.transfer(self.ibuf, 0, n * self.shapes["in"]["frame_bytes"])
            dma.sendchannel.wait()
            dma.recvchannel.wait()
            self.obuf.invalidate()

    return HwBnnOverlay


def open_overlay(bitfile_name=None, batch_size: int = 1, **kwargs):
    """The accelerator on the board: ``HwBnnOverlay(bitfile_name, batch_size, ...)``."""
    return overlay_class()(bitfile_name, batch_size, **kwargs)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Run the hw-bnn accelerator on a PYNQ board (FINN's driver options).")
    p.add_argument("--exec_mode", choices=["execute", "throughput_test"], default="execute")
    p.add_argument("--batchsize", type=int, default=1)
    p.add_argument("--bitfile", default=os.path.join(HERE, BITFILE))
    p.add_argument("--inputfile", default="input.npy")
    p.add_argument("--outputfile", default="output.npy")
    args = p.parse_args(argv)
    accel = open_overlay(args.bitfile, args.batchsize)
    if args.exec_mode == "throughput_test":
        for k, v in accel.throughput_test().items():
            print(f"{k}: {v}")
    else:
        np.save(args.outputfile, accel.execute(np.load(args.inputfile)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

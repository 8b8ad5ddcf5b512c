"""The RTL backend: the integer IR as synthesizable SystemVerilog.

:func:`~hw_bnn.rtl.emit.emit_rtl` writes a network's top level, its parameters and its
memory-initialisation files beside copies of the hand-written kernels of ``rtl/``
(:mod:`hw_bnn.rtl.graph` says which kernel instances each IR layer becomes).
"""

from hw_bnn.rtl.emit import RTL_PROJECT, emit_rtl
from hw_bnn.rtl.graph import rtl_units

__all__ = ["RTL_PROJECT", "emit_rtl", "rtl_units"]

"""The user's fixed-point setting for real-valued shortcut tensors (``--fixed-*`` options).

A shortcut tensor is stored as ``ap_fixed<W, W - F>`` codes ``c`` with value ``c * 2**-F``;
a chain into it computes ``z + slope * (u - g)`` with the slopes rounded to ``2**-S``
(:mod:`hw_bnn.compile.passes.fixed_point`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hw_bnn.errors import CompileError
from hw_bnn.ir import GOLDEN_INT_LIMIT, MAX_SLOPE_FRAC, OVERFLOW_MODES, ROUNDING_MODES


@dataclass(frozen=True)
class FixedPointConfig:
    """How real-valued shortcut tensors become fixed point (``ap_fixed<width, width - frac>``).

    ``frac``: fraction bits of every shortcut tensor (the user's choice; default 12).
    ``width``: total bits; ``None`` lets the compiler choose each tensor's width from its exact
    value range (no overflow can happen then), a number fixes it for every tensor (values
    beyond it saturate or wrap, per ``overflow``).  ``slope_frac``: fraction bits of the
    slopes; ``None`` chooses them per chain from its input range so that the slopes' rounding
    moves no output by more than 1/8 LSB (``auto_slope_frac``).  ``rounding`` / ``overflow``:
    the ap_fixed quantization and overflow modes."""

    frac: int = 12
    width: int | None = None
    slope_frac: int | None = None
    rounding: str = "rnd_conv"
    overflow: str = "sat"

    def check(self) -> None:
        """CompileError naming the first setting out of its range."""
        if not 0 <= self.frac <= 16:
            raise CompileError(f"fixed-point frac bits {self.frac}: expected 0..16")
        if self.width is not None and not self.frac + 2 <= self.width <= 24:
            raise CompileError(f"fixed-point width {self.width}: expected frac + 2 ({self.frac + 2}) .. 24 bits")
        if self.rounding not in ROUNDING_MODES:
            raise CompileError(f"fixed-point rounding {self.rounding!r}: expected one of {', '.join(ROUNDING_MODES)}")
        if self.overflow not in OVERFLOW_MODES:
            raise CompileError(f"fixed-point overflow {self.overflow!r}: expected one of {', '.join(OVERFLOW_MODES)}")
        if self.slope_frac is not None and not 0 <= self.slope_frac <= MAX_SLOPE_FRAC:
            raise CompileError(f"fixed-point slope_frac {self.slope_frac}: expected 0..{MAX_SLOPE_FRAC}")


def auto_slope_frac(t_max: int, slope_max: float, z_max: float) -> int:
    """Fraction bits of a fixed_chain's slopes: enough that rounding a slope to ``2**-S``
    moves the output ``t * P / 2**S`` by at most 1/8 LSB over ``|t| <= t_max`` (``t``: the
    input minus the breakpoint, in output LSBs), so ``S = ceil(log2 t_max) + 2``, and no more
    than keeps every intermediate of the int64 golden arithmetic (``|t * P| + |Z| * 2**S``)
    below ``GOLDEN_INT_LIMIT`` (2**62)."""
    s = max(0, int(np.ceil(np.log2(max(t_max, 1)))) + 2)
    while s > 0 and (t_max * (slope_max + 1) + z_max + 1) * 2.0**s >= float(GOLDEN_INT_LIMIT):
        s -= 1
    return min(s, MAX_SLOPE_FRAC)

"""Fixed-point arithmetic exactly as Vivado's ``ap_fixed`` does it, on int64 codes.

A code ``y`` of an ``ap_fixed<W, W - F>`` stands for ``y * 2**-F``. Shifting right by ``s``
bits rounds by the quantization mode (``rnd_conv``: AP_RND_CONV, half to even; ``rnd``:
AP_RND, half towards +inf; ``trn``: AP_TRN, floor); the overflow mode keeps the result in
the signed ``W``-bit range (``sat``: AP_SAT, clip; ``wrap``: AP_WRAP, two's complement).
"""

from __future__ import annotations

import numpy as np

from hw_bnn.errors import IRError

ROUNDING_MODES = {"rnd_conv": "AP_RND_CONV", "rnd": "AP_RND", "trn": "AP_TRN"}
OVERFLOW_MODES = {"sat": "AP_SAT", "wrap": "AP_WRAP"}


def ap_round_shift(v: np.ndarray, shift: int, rounding: str) -> np.ndarray:
    """``v / 2**shift`` rounded to an integer as ``ap_fixed`` quantizes (``v`` int64)."""
    v = np.asarray(v, dtype=np.int64)
    if not -62 <= shift <= 62:
        raise IRError(f"shift {shift}: int64 arithmetic takes shifts of at most 62 bits")
    if shift <= 0:
        return v << -shift
    q = v >> shift  # floor
    if rounding == "trn":
        return q
    r = v - (q << shift)
    half = np.int64(1) << (shift - 1)
    if rounding == "rnd":
        return q + (r >= half)
    if rounding == "rnd_conv":
        return q + ((r > half) | ((r == half) & ((q & 1) == 1)))
    raise IRError(f"unknown rounding mode {rounding!r} ({', '.join(ROUNDING_MODES)})")


def ap_overflow(v: np.ndarray, width: int, overflow: str) -> np.ndarray:
    """Signed ``width``-bit result of ``v`` under the overflow mode (``sat`` or ``wrap``)."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    if overflow == "sat":
        return np.clip(v, lo, hi)
    if overflow == "wrap":
        return ((v - lo) & ((1 << width) - 1)) + lo
    raise IRError(f"unknown overflow mode {overflow!r} ({', '.join(OVERFLOW_MODES)})")

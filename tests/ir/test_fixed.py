"""``ap_round_shift`` / ``ap_overflow`` (the golden model's ap_fixed arithmetic) against an
independent reference on exact rationals (``fractions.Fraction``)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from hw_bnn.ir import ap_overflow, ap_round_shift

# ------------------------------------------------------------------------------------------
# independent reference of ap_fixed quantization / overflow (exact rationals)


def ref_round(v: int, shift: int, rounding: str) -> int:
    x = Fraction(v, 2**shift) if shift >= 0 else Fraction(v * 2**-shift)
    fl = math.floor(x)
    rem = x - fl
    if rounding == "trn":
        return fl
    if rounding == "rnd":  # half towards +inf
        return fl + (1 if rem >= Fraction(1, 2) else 0)
    assert rounding == "rnd_conv"  # half to even
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and fl % 2 == 1):
        return fl + 1
    return fl


def ref_overflow(v: int, width: int, overflow: str) -> int:
    lo, hi = -(2 ** (width - 1)), 2 ** (width - 1) - 1
    if overflow == "sat":
        return min(max(v, lo), hi)
    return (v - lo) % 2**width + lo


def test_ap_round_shift_and_overflow_match_fraction_reference():
    vals = set()
    for shift in (0, 1, 2, 3, 7, 20, 40):
        u = 2**shift
        for k in (-5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 2**20 + 1, -(2**20) - 1):
            for d in (-1, 0, 1, u // 2 - 1, u // 2, u // 2 + 1):
                vals.add(k * u + d)
    vals |= {2**62 - 1, -(2**62), 2**61 + 2**40, -(2**61) - 2**39}
    vals = sorted(vals)
    v = np.asarray(vals, dtype=np.int64)
    for shift in (-2, 0, 1, 2, 3, 7, 20, 40):
        if shift < 0:
            small = [x for x in vals if abs(x) < 2**40]
            got = ap_round_shift(np.asarray(small, dtype=np.int64), shift, "rnd_conv")
            assert got.tolist() == [x * 2**-shift for x in small]
            continue
        for rounding in ("rnd_conv", "rnd", "trn"):
            got = ap_round_shift(v, shift, rounding).tolist()
            want = [ref_round(x, shift, rounding) for x in vals]
            bad = [(x, g, w) for x, g, w in zip(vals, got, want) if g != w]
            assert not bad, (
                f"ap_round_shift(shift={shift}, {rounding}): {len(bad)} differ, first (v, got, want) {bad[0]}"
            )
    for width in (1, 2, 5, 8, 25, 40):
        edge = {-(2 ** (width - 1)), 2 ** (width - 1) - 1}
        ws = sorted(
            {e + d for e in edge for d in (-(2**width) - 1, -(2**width), -1, 0, 1, 2**width, 2**width + 1)}
            | {0, 12345, -12345}
        )
        for overflow in ("sat", "wrap"):
            got = ap_overflow(np.asarray(ws, dtype=np.int64), width, overflow).tolist()
            want = [ref_overflow(x, width, overflow) for x in ws]
            assert got == want, f"ap_overflow(width={width}, {overflow}): {got} != {want}"

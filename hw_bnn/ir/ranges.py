"""Range and bit-width arithmetic of the integer IR, and the limits every stage checks.

One place for the numbers the compiler, the golden model, the hls4ml layers and the cost
model must agree on.
"""

from __future__ import annotations

import math

FLOAT32_EXACT_LIMIT = 2**24  # float32 holds every integer of magnitude below this exactly
GOLDEN_INT_LIMIT = 2**62  # |intermediate| bound of the golden model's int64 emulation (with headroom)
MAX_SLOPE_FRAC = 62  # fixed_chain slopes: the golden model shifts int64 values by at most 62 bits
MATRIX_KINDS = ("xnor_dense", "int_dense", "conv")  # the matrix-vector units, folded by PE / SIMD


def bits_for_range(lo: int, hi: int) -> tuple[int, bool]:
    """Smallest two's-complement (signed) or unsigned width holding [lo, hi]."""
    lo, hi = int(lo), int(hi)
    if lo >= 0:
        return max(1, int(hi).bit_length()), False
    width = 1
    while not (-(2 ** (width - 1)) <= lo and hi <= 2 ** (width - 1) - 1):
        width += 1
    return width, True


def signed_range(width: int) -> tuple[int, int]:
    """The codes of a signed ``width``-bit (ap_fixed) tensor."""
    return -(1 << (width - 1)), (1 << (width - 1)) - 1


def divisors(n: int) -> list[int]:
    """Every positive divisor of ``n``, ascending (the legal PE or SIMD of a dimension ``n``)."""
    n = int(n)
    small, large = [], []
    for d in range(1, math.isqrt(n) + 1):
        if n % d == 0:
            small.append(d)
            if d != n // d:
                large.append(n // d)
    return small + large[::-1]

"""Range and bit-width arithmetic of the integer IR, and the limits every stage checks.

One place for the numbers the compiler, the golden model, the hls4ml layers, the planner and the
cost model must agree on.  A range is a closed interval of integers ``(lo, hi)`` (Python ints).

Matrix-vector units (``MW`` inputs, ``MH`` outputs):

* XNOR: the popcount ``p = popcount(xnor(x, w))`` is in ``[0, MW]`` (what thresholds compare),
  the bipolar accumulator ``a = 2 p - MW`` in ``[-MW, MW]`` (the output without thresholds);
* integer, on codes ``x in [0, X]``: ``a_j = sum_i x_i W_ij`` lies in
  ``[X * min_j sum_i min(W_ij, 0), X * max_j sum_i max(W_ij, 0)]`` (always containing 0), and
  every partial sum, in any order, is bounded by ``X * max_j sum_i |W_ij|``.

Thresholds on a value ``v in [lo, hi]``: ``T <= lo`` is always on and ``T >= hi + 1`` always
off, so clipping ``T`` to ``[lo, hi + 1]`` keeps the function and gives the smallest width.

Fixed-point chains (``hw_bnn.ir.layers.FixedChainLayer``): on input codes ``x in [x_lo, x_hi]``
with ``sh = frac - in_frac``, ``t = x * 2**sh - G`` and ``p = t * (P if t >= 0 else N) +
Z * 2**slope_frac``; ``y = overflow(round(p / 2**slope_frac))``.  Rounding and saturation are
monotone, so the ends of ``p``'s range map to the ends of ``y``'s, unless ``wrap`` acts.
"""

from __future__ import annotations

import math

import numpy as np

from hw_bnn.ir.fixed import ap_overflow, ap_round_shift

FLOAT32_EXACT_LIMIT = 2**24  # float32 holds every integer of magnitude below this exactly
GOLDEN_INT_LIMIT = 2**62  # |intermediate| bound of the golden model's int64 emulation (with headroom)
MAX_SLOPE_FRAC = 62  # fixed_chain slopes: the golden model shifts int64 values by at most 62 bits
MATRIX_KINDS = ("xnor_dense", "int_dense", "conv")  # the matrix-vector units, folded by PE / SIMD


# --- widths ---------------------------------------------------------------------------------


def bits_for_range(lo: int, hi: int) -> tuple[int, bool]:
    """Smallest two's-complement (signed) or unsigned width holding [lo, hi]."""
    lo, hi = int(lo), int(hi)
    if lo >= 0:
        return max(1, int(hi).bit_length()), False
    width = 1
    while not (-(2 ** (width - 1)) <= lo and hi <= 2 ** (width - 1) - 1):
        width += 1
    return width, True


def signed_width(lo: int, hi: int) -> int:
    """Smallest two's-complement width holding [lo, hi] (signed even when lo >= 0)."""
    return bits_for_range(min(int(lo), -1), max(int(hi), 0))[0]


def signed_range(width: int) -> tuple[int, int]:
    """The codes of a signed ``width``-bit (ap_fixed) tensor: ``[-2**(W-1), 2**(W-1) - 1]``."""
    return -(1 << (width - 1)), (1 << (width - 1)) - 1


def code_range(width: int, signed: bool) -> tuple[int, int]:
    """The integers an ``ap_int<W>`` (signed) or ``ap_uint<W>`` holds."""
    width = int(width)
    return signed_range(width) if signed else (0, (1 << width) - 1)


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


# --- matrix-vector units and thresholds -----------------------------------------------------


def weight_range(weights) -> tuple[int, int]:
    """``(min(W, 0), max(W, 0))``: what the type of stored integer weights must hold."""
    w = np.asarray(weights)
    return int(w.min(initial=0)), int(w.max(initial=0))


def xnor_acc_range(mw: int, popcount: bool) -> tuple[int, int]:
    """XNOR unit of fan-in ``MW``: the popcount ``[0, MW]`` (``popcount``: what thresholds compare),
    else the bipolar accumulator ``2 p - MW`` in ``[-MW, MW]``."""
    mw = int(mw)
    return (0, mw) if popcount else (-mw, mw)


def int_acc_range(weights, in_hi: int) -> tuple[int, int]:
    """Accumulator range of ``a = x @ W`` for codes ``x in [0, in_hi]`` (always contains 0)."""
    w = np.asarray(weights, dtype=np.int64) * max(0, int(in_hi))
    return int(np.minimum(w, 0).sum(axis=0).min(initial=0)), int(np.maximum(w, 0).sum(axis=0).max(initial=0))


def partial_sum_bound(weights, in_hi: int) -> int:
    """``in_hi * max_j sum_i |W_ij|``: bounds every partial sum of ``x @ W`` for ``x in [0, in_hi]``,
    in any summation order (the float32 path is exact while this stays below 2**24)."""
    return int(np.abs(np.asarray(weights, dtype=np.int64)).sum(axis=0).max(initial=0)) * max(0, int(in_hi))


def negated_range(lo: int, hi: int, negate) -> tuple[int, int]:
    """Range of the values a multithreshold compares: ``x in [lo, hi]``, or ``-x`` on the channels
    flagged in ``negate`` (None or all False: ``[lo, hi]``)."""
    if negate is None or not np.any(negate):
        return int(lo), int(hi)
    neg = np.asarray(negate, dtype=bool)
    parts = [(-int(hi), -int(lo))] + ([(int(lo), int(hi))] if not neg.all() else [])
    return min(p[0] for p in parts), max(p[1] for p in parts)


def clip_thresholds(thresholds, lo: int, hi: int) -> np.ndarray:
    """Thresholds on a value in ``[lo, hi]`` clipped to ``[lo, hi + 1]`` (int64): the same function."""
    return np.clip(np.asarray(thresholds, dtype=np.int64), lo, hi + 1)


def threshold_range(thresholds, lo: int, hi: int) -> tuple[int, int]:
    """``(min, max)`` of the thresholds clipped to ``[lo, hi + 1]`` (what has to be stored)."""
    t = clip_thresholds(thresholds, lo, hi)
    return int(t.min()), int(t.max())


# --- fixed-point chains ---------------------------------------------------------------------


def fixed_chain_ranges(x_lo: int, x_hi: int, in_frac: int, frac: int, slope_frac: int, g, p, n, z) -> dict:
    """Exact ranges (Python ints) of the golden ``fixed_chain`` intermediates over input codes
    ``x in [x_lo, x_hi]`` and every channel: ``t = x * 2**(frac - in_frac) - G`` and
    ``p = t * (P if t >= 0 else N) + Z * 2**slope_frac``; ``mag`` bounds every intermediate
    magnitude (the golden model computes in int64)."""
    sh = int(frac) - int(in_frac)
    t_lo = t_hi = p_lo = p_hi = None
    mag = 0
    for gc, pc, nc, zc in zip(*(np.asarray(a, dtype=np.int64).tolist() for a in (g, p, n, z))):
        lo, hi = (int(x_lo) << sh) - gc, (int(x_hi) << sh) - gc
        zs = zc << int(slope_frac)
        cands = []
        if hi >= 0:  # positive piece on [max(lo, 0), hi]
            cands += [max(lo, 0) * pc, hi * pc]
        if lo < 0:  # negative piece on [lo, min(hi, -1)]
            cands += [lo * nc, min(hi, -1) * nc]
        ps = [c + zs for c in cands]
        t_lo, t_hi = (lo if t_lo is None else min(t_lo, lo)), (hi if t_hi is None else max(t_hi, hi))
        p_lo, p_hi = (min(ps) if p_lo is None else min(p_lo, *ps)), (max(ps) if p_hi is None else max(p_hi, *ps))
        mag = max(
            mag,
            abs(int(x_lo) << sh),
            abs(int(x_hi) << sh),
            abs(lo),
            abs(hi),
            abs(zs),
            *(abs(c) for c in cands),
            *(abs(v) for v in ps),
        )
    return {"t": (t_lo, t_hi), "p": (p_lo, p_hi), "mag": mag}


def fixed_out_range(v_lo: int, v_hi: int, shift: int, rounding: str, width: int, overflow: str) -> tuple[int, int]:
    """Range of ``overflow(round(v / 2**shift))`` (golden ``ap_round_shift`` / ``ap_overflow``) over
    ``v in [v_lo, v_hi]``: both are monotone, so the ends map to the ends, unless ``wrap`` acts."""
    r = ap_round_shift(np.asarray([v_lo, v_hi], dtype=np.int64), int(shift), rounding)
    lo, hi = signed_range(int(width))
    if overflow == "wrap" and (int(r[0]) < lo or int(r[1]) > hi):
        return lo, hi
    y = ap_overflow(r, int(width), overflow)
    return int(y[0]), int(y[1])


def fixed_chain_out_range(
    x_lo: int, x_hi: int, in_frac: int, frac: int, slope_frac: int, g, p, n, z, width: int, rounding: str, overflow: str
) -> tuple[int, int]:
    """Reachable output codes of a fixed_chain over input codes in ``[x_lo, x_hi]`` (union over the
    channels of each channel's exact range; the full ``width`` range when ``wrap`` acts)."""
    lo = hi = None
    for c in range(len(np.asarray(g).reshape(-1))):
        pc = fixed_chain_ranges(
            x_lo, x_hi, in_frac, frac, slope_frac, *(np.asarray(a).reshape(-1)[c : c + 1] for a in (g, p, n, z))
        )["p"]
        y_lo, y_hi = fixed_out_range(pc[0], pc[1], slope_frac, rounding, width, overflow)
        lo, hi = (y_lo if lo is None else min(lo, y_lo)), (y_hi if hi is None else max(hi, y_hi))
    return lo, hi

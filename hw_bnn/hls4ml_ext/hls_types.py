"""C++ type names of the emitted project: ``ap_[u]int`` for codes and accumulators, ``ap_[u]fixed``
inside the fixed-point kernels (no hls4ml import; the widths come from :mod:`hw_bnn.ir.ranges`).

Fixed-point tensors travel between layers as their integer codes (``ap_int<W>``); a code ``y`` of a
tensor with ``frac`` fraction bits is the raw bits of ``ap_fixed<W, W - frac>`` and stands for
``y * 2**-frac``.
"""

from __future__ import annotations

from hw_bnn.ir import OVERFLOW_MODES, ROUNDING_MODES, bits_for_range, code_range


def int_type_str(width: int, signed: bool) -> str:
    """``ap_int<W>`` or ``ap_uint<W>``."""
    return f"ap_{'' if signed else 'u'}int<{int(width)}>"


def int_precision_str(lo: int, hi: int) -> str:
    """Smallest ap_(u)int holding [lo, hi], as an hls4ml precision string."""
    width, signed = bits_for_range(lo, hi)
    return int_type_str(width, signed)


def fixed_type_str(
    width: int, frac: int, signed: bool = True, rounding: str | None = None, overflow: str | None = None
) -> str:
    """``ap_[u]fixed<W, W - frac[, Q, O]>``; ``W`` is widened to ``frac + 1`` when smaller so that every
    internal type keeps at least one integer bit (the value, and so the raw bits, are unchanged)."""
    w = max(int(width), int(frac) + 1)
    modes = ""
    if rounding is not None or overflow is not None:
        modes = f", {ROUNDING_MODES[rounding or 'trn']}, {OVERFLOW_MODES[overflow or 'wrap']}"
    return f"ap_{'' if signed else 'u'}fixed<{w}, {w - int(frac)}{modes}>"


def precision_range(precision) -> tuple[int, int]:
    """Integer range of an hls4ml IntegerPrecisionType (ap_int / ap_uint)."""
    from hls4ml.model.types import IntegerPrecisionType

    if not isinstance(precision, IntegerPrecisionType):
        raise TypeError(f"expected an integer precision (ap_int/ap_uint), got {precision}")
    return code_range(int(precision.width), bool(precision.signed))

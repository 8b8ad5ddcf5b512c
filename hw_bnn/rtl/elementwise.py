"""Elementwise units and stream merges: thresholds, fixed-point chains, shortcut adds, concatenation.

* ``threshold`` -> ``hwbnn_threshold``: ``y = sum_k [v >= T_k]``, ``v = x`` or ``-x`` on negated
  channels.  Thresholds are clamped to ``[lo, hi + 1]`` of the compared values.
* ``fixed_chain`` -> ``hwbnn_fixed_chain``: the golden ``FixedChainLayer`` (``t``, ``p``,
  round, overflow) with ``t`` and ``p`` in the bits of their exact ranges
  (:func:`hw_bnn.ir.ranges.fixed_chain_ranges`).
* ``fixed_add`` -> ``hwbnn_add``: ``overflow(a + b)``; both inputs at the first one's values per beat.
* ``concat`` -> ``hwbnn_concat``: a pixel of each input per beat, a pixel of both out.

Each takes as many values per beat as it is given (one beat per cycle), so it keeps pace with the
unit that feeds it.
"""

from __future__ import annotations

import numpy as np

from hw_bnn.errors import EmitError
from hw_bnn.ir.ranges import fixed_chain_ranges, negated_range, signed_width
from hw_bnn.rtl.units import RtlUnit, Stream, signed_bits, threshold_words, unsigned_bits

ROUND_CODES = {"trn": 0, "rnd": 1, "rnd_conv": 2}  # hwbnn_fixed_chain's ROUND


def _stored_bits(s: Stream) -> int:
    """Bits of a signed type that holds every value of stream ``s``."""
    return s.bits if s.signed else s.bits + 1


def _channels_fit(layer, s: Stream, channels: int) -> None:
    if s.frame % channels or s.frame % s.elems:
        raise EmitError(f"layer {layer.name}: {s.frame} values in beats of {s.elems} do not fit {channels} channels")


def threshold_unit(layer, pe: int, in_stream: Stream, channels: int) -> RtlUnit:
    """``hwbnn_threshold`` for a ``threshold`` layer on ``in_stream.frame`` values of ``channels``
    channels (the last axis: a vector's every value, an NHWC image's C), ``pe`` values per beat."""
    t = np.asarray(layer.thresholds, dtype=np.int64)
    _channels_fit(layer, Stream(pe, in_stream.bits, in_stream.signed, in_stream.frame), channels)
    neg = None if layer.negate is None else np.asarray(layer.negate, dtype=bool).reshape(-1)
    if t.shape[0] not in (1, channels) or (neg is not None and neg.shape != (channels,)):
        raise EmitError(f"layer {layer.name}: {t.shape[0]} threshold rows for {channels} channels")
    negated = neg is not None and bool(neg.any())
    lo, hi = negated_range(*layer.in_range, neg if negated else None)
    if negated and t.shape[0] == 1:
        t = np.repeat(t, channels, axis=0)  # the flag is per channel
    words, t_bits = threshold_words(t, lo, hi, min_bits=_stored_bits(in_stream) + int(negated))
    if negated:
        words = [w | (int(f) << (t.shape[1] * t_bits)) for w, f in zip(words, neg)]
    out = Stream(pe, unsigned_bits(layer.levels), False, in_stream.frame)
    params = {
        "C": in_stream.frame,
        "CH": channels,
        "PE": pe,
        "IN_BITS": in_stream.bits,
        "IN_SIGNED": int(in_stream.signed),
        "L": layer.levels,
        "T_BITS": t_bits,
        "OUT_BITS": out.bits,
        "SHARED": int(t.shape[0] == 1 and channels > 1),
        "NEG": int(negated),
        "T_FILE": f"{layer.name}_t.mem",
    }
    mems = {"T_FILE": (words, t.shape[1] * t_bits + int(negated))}
    inp = Stream(pe, in_stream.bits, in_stream.signed, in_stream.frame)
    return RtlUnit(layer.name, "hwbnn_threshold", params, (inp,), out, mems, out.frame // pe, layer=layer.name)


def limb_split(t_bits: int, s_bits: int) -> bool:
    """Whether ``hwbnn_fixed_chain`` multiplies t by the slope in 17-bit limbs (``SPLIT``): one
    of them is wider than an 18 x 18 multiplier and both fit two limbs (35 bits)."""
    return (t_bits > 18 or s_bits > 18) and t_bits <= 35 and s_bits <= 35


def fixed_chain_unit(layer, in_stream: Stream) -> RtlUnit:
    """``hwbnn_fixed_chain`` for a ``fixed_chain`` layer, as many values per beat as it is given."""
    channels = int(layer.shape[-1])
    _channels_fit(layer, in_stream, channels)
    g, p, n = layer.breakpoint, layer.pos_slope, layer.neg_slope
    zs = layer.offset << layer.slope_frac
    r = fixed_chain_ranges(*layer.in_range, layer.in_frac, layer.frac, layer.slope_frac, g, p, n, layer.offset)
    g_bits = signed_bits(int(g.min()), int(g.max()))
    s_bits = signed_bits(int(min(p.min(), n.min())), int(max(p.max(), n.max())))
    z_bits = signed_bits(int(zs.min()), int(zs.max()))
    x_bits = _stored_bits(in_stream) + layer.frac - layer.in_frac
    t_bits = max(signed_width(*r["t"]), x_bits, g_bits) + 1
    p_bits = max(signed_width(*r["p"]), t_bits, s_bits, z_bits) + 1
    words = [  # {Z * 2**SF, N, P, G}, G in the low bits
        (int(gc) & ((1 << g_bits) - 1))
        | ((int(pc) & ((1 << s_bits) - 1)) << g_bits)
        | ((int(nc) & ((1 << s_bits) - 1)) << (g_bits + s_bits))
        | ((int(zc) & ((1 << z_bits) - 1)) << (g_bits + 2 * s_bits))
        for gc, pc, nc, zc in zip(g, p, n, zs)
    ]
    params = {
        "C": in_stream.frame,
        "CH": channels,
        "PE": in_stream.elems,
        "IN_BITS": in_stream.bits,
        "IN_SIGNED": int(in_stream.signed),
        "SHIFT": layer.frac - layer.in_frac,
        "SF": layer.slope_frac,
        "WIDTH": layer.width,
        "ROUND": ROUND_CODES[layer.rounding],
        "SAT": int(layer.overflow == "sat"),
        "G_BITS": g_bits,
        "S_BITS": s_bits,
        "Z_BITS": z_bits,
        "T_BITS": t_bits,
        "P_BITS": p_bits,
        "SPLIT": int(limb_split(t_bits, s_bits)),
        "PARAM_FILE": f"{layer.name}_p.mem",
    }
    out = Stream(in_stream.elems, layer.width, True, in_stream.frame)
    mems = {"PARAM_FILE": (words, g_bits + 2 * s_bits + z_bits)}
    cycles = out.frame // out.elems
    # t; the product; p; round; saturate.  SPLIT: the product's four limb products, then two
    # stages of their sum
    stages = 7 if params["SPLIT"] else 5
    return RtlUnit(layer.name, "hwbnn_fixed_chain", params, (in_stream,), out, mems, cycles, layer.name, latency=stages)


def add_unit(layer, a: Stream, b: Stream) -> RtlUnit:
    """``hwbnn_add`` for a ``fixed_add`` layer: ``b`` is brought to ``a``'s values per beat."""
    if a.frame != b.frame:
        raise EmitError(f"layer {layer.name}: adds streams of {a.frame} and {b.frame} values")
    b = Stream(a.elems, b.bits, b.signed, b.frame)
    params = {"E": a.elems, "A_BITS": a.bits, "A_SIGNED": int(a.signed), "B_BITS": b.bits}
    params.update({"B_SIGNED": int(b.signed), "WIDTH": layer.width, "SAT": int(layer.overflow == "sat")})
    out = Stream(a.elems, layer.width, True, a.frame)
    return RtlUnit(layer.name, "hwbnn_add", params, (a, b), out, cycles=a.frame // a.elems, layer=layer.name)


def concat_unit(layer, a: Stream, b: Stream) -> RtlUnit:
    """``hwbnn_concat`` for a ``concat`` layer of two NHWC images: a pixel of each per beat."""
    if len(layer.inputs) != 2:
        raise EmitError(f"layer {layer.name}: the RTL backend concatenates two inputs, not {len(layer.inputs)}")
    h, w, c = layer.shape
    c1, c2 = a.frame // (h * w), b.frame // (h * w)
    if c1 * h * w != a.frame or c2 * h * w != b.frame or c1 + c2 != c:
        raise EmitError(f"layer {layer.name}: inputs of {a.frame} and {b.frame} values do not make {layer.shape}")
    signed = a.signed or b.signed
    bits = max(_stored_bits(a), _stored_bits(b)) if signed else max(a.bits, b.bits)
    a, b = Stream(c1, a.bits, a.signed, a.frame), Stream(c2, b.bits, b.signed, b.frame)
    params = {"C1": c1, "C2": c2, "A_BITS": a.bits, "A_SIGNED": int(a.signed), "B_BITS": b.bits}
    params.update({"B_SIGNED": int(b.signed), "BITS": bits})
    out = Stream(c, bits, signed, h * w * c)
    return RtlUnit(layer.name, "hwbnn_concat", params, (a, b), out, cycles=h * w, layer=layer.name)

"""How each layer of the integer IR becomes an instance of an ``rtl/`` kernel, with exact widths.

A layer becomes an :class:`RtlUnit`: the kernel, its Verilog parameters, its memory images and
its input and output :class:`Stream` (values per beat, bits per value, signedness).

* ``threshold`` -> ``hwbnn_threshold``: ``y = sum_k [x >= T_k]``; PE values per beat (the next
  matrix unit's SIMD, so no width converter is needed in between).
* ``xnor_dense`` / ``int_dense`` -> ``hwbnn_mvu`` with the layer's PE and SIMD (the folding;
  fully parallel, PE = MH and SIMD = MW, where it names none).
* ``conv`` -> ``hwbnn_window`` (its k x k windows, padded with the pad code, SIMD per beat) and
  ``hwbnn_mvu`` on every window.
* ``maxpool`` -> ``hwbnn_window`` in its pooling mode (the max over each window, per channel).
* ``flatten`` is nothing in hardware: streams are NHWC, the order the IR flattens in.

Widths are exact.  Every partial sum of an integer unit lies in ``[S-, S+]``, the sums of the
negative and the positive weights of a column times the largest input code; an XNOR unit's
popcount in ``[0, MW]``.  Thresholds are clamped to ``[lo, hi + 1]`` of the value they compare
(the same decisions for every value in range), so they need no more bits than that value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hw_bnn.errors import EmitError
from hw_bnn.ir.ranges import bits_for_range, signed_width

SUPPORTED_KINDS = ("threshold", "xnor_dense", "int_dense", "conv", "maxpool", "flatten")


def signed_bits(lo: int, hi: int) -> int:
    """Bits of the smallest two's complement type that holds ``[lo, hi]`` (at least 2)."""
    return max(2, signed_width(lo, hi))


def unsigned_bits(hi: int) -> int:
    """Bits of the smallest unsigned type that holds ``[0, hi]`` (at least 1)."""
    return bits_for_range(0, hi)[0]


@dataclass(frozen=True)
class Stream:
    """A stream between kernels: ``elems`` values of ``bits`` bits per beat, ``frame`` per frame."""

    elems: int
    bits: int
    signed: bool
    frame: int

    @property
    def width(self) -> int:
        return self.elems * self.bits


@dataclass
class RtlUnit:
    """One kernel instance: ``module`` with ``params``; ``mems`` maps a parameter naming a memory
    file to ``(words, word bits)``."""

    name: str
    module: str
    params: dict
    inp: Stream
    out: Stream
    mems: dict = field(default_factory=dict)
    cycles: int = 0  # cycles per frame of its schedule
    layer: str | None = None  # the golden layer whose output this unit's tap is (None: none)


def _pack(values: np.ndarray, bits: int) -> int:
    """Values (two's complement, ``bits`` each) packed little-end first into one integer."""
    word, mask = 0, (1 << bits) - 1
    for k, v in enumerate(values.tolist()):
        word |= (int(v) & mask) << (k * bits)
    return word


def _thresholds(t: np.ndarray, lo: int, hi: int) -> tuple[list[int], int]:
    """Per-row words of thresholds clamped to ``[lo, hi + 1]``, and their bits."""
    t = np.clip(np.asarray(t, dtype=np.int64), lo, hi + 1)
    bits = signed_bits(min(lo, int(t.min())), max(hi + 1, int(t.max())))
    return [_pack(row, bits) for row in t], bits


def threshold_unit(layer, pe: int, in_stream: Stream, channels: int) -> RtlUnit:
    """``hwbnn_threshold`` for a ``threshold`` layer on ``in_stream.frame`` values of ``channels``
    channels (the last axis: a vector's every value, an NHWC image's C)."""
    if layer.negate is not None and np.any(layer.negate):
        raise EmitError(f"layer {layer.name}: negated threshold channels are not in the RTL backend yet")
    c, t = in_stream.frame, layer.thresholds
    if t.shape[0] not in (1, channels) or c % channels:
        raise EmitError(f"layer {layer.name}: {t.shape[0]} threshold rows for {c} values of {channels} channels")
    lo, hi = layer.in_range
    words, t_bits = _thresholds(t, lo, hi)
    out = Stream(pe, unsigned_bits(layer.levels), False, c)
    params = {
        "C": c,
        "CH": channels,
        "PE": pe,
        "IN_BITS": in_stream.bits,
        "IN_SIGNED": int(in_stream.signed),
        "L": layer.levels,
        "T_BITS": t_bits,
        "OUT_BITS": out.bits,
        "SHARED": int(t.shape[0] == 1 and channels > 1),
        "T_FILE": f"{layer.name}_t.mem",
    }
    mems = {"T_FILE": (words, t_bits)}
    return RtlUnit(layer.name, "hwbnn_threshold", params, in_stream, out, mems, c // pe, layer=layer.name)


def _sum_range(layer, in_hi: int) -> tuple[int, int]:
    """The range of every partial sum of the unit's accumulator (see the module docstring)."""
    if layer.xnor:
        return 0, layer.mw
    w = np.asarray(layer.weights, dtype=np.int64)
    return int((np.minimum(w, 0).sum(0) * in_hi).min()), int((np.maximum(w, 0).sum(0) * in_hi).max())


def _weight_words(w: np.ndarray, pe: int, simd: int, bits: int) -> list[int]:
    """Word ``nf * SF + sf``: lane p, element i = ``W[sf * SIMD + i, nf * PE + p]``."""
    mw, mh = w.shape
    words = []
    for nf in range(mh // pe):
        for sf in range(mw // simd):
            block = w[sf * simd : (sf + 1) * simd, nf * pe : (nf + 1) * pe]  # (SIMD, PE)
            words.append(_pack(block.T.reshape(-1), bits))
    return words


def mvu_unit(layer, pe: int, simd: int, in_stream: Stream, pixels: int = 1) -> RtlUnit:
    """``hwbnn_mvu`` for an ``xnor_dense`` / ``int_dense`` layer (or a conv's windows, ``pixels``
    per image) folded by ``pe`` and ``simd``."""
    mw, mh = layer.mw, layer.mh
    if in_stream.frame != mw * pixels:
        raise EmitError(f"layer {layer.name}: takes {mw * pixels} inputs, the layer before it gives {in_stream.frame}")
    lo, hi = _sum_range(layer, (1 << in_stream.bits) - 1)
    w = np.asarray(layer.weights, dtype=np.int64)
    w_bits = 1 if layer.xnor else signed_bits(int(w.min()), int(w.max()))
    mems = {"W_FILE": (_weight_words(w, pe, simd, w_bits), pe * simd * w_bits)}
    if layer.thresholds is not None:
        words, t_bits = _thresholds(layer.thresholds, lo, hi)
        mems["T_FILE"] = (words, layer.levels * t_bits)
        acc_bits = max(signed_bits(lo, hi), t_bits)
        out = Stream(pe, unsigned_bits(layer.levels), False, mh * pixels)
    else:
        t_bits = 1
        out_lo, out_hi = (-mw, mw) if layer.xnor else (lo, hi)
        acc_bits = signed_bits(min(lo, out_lo), max(hi, out_hi))
        out = Stream(pe, acc_bits, True, mh * pixels)
    params = {
        "MW": mw,
        "MH": mh,
        "PE": pe,
        "SIMD": simd,
        "IN_BITS": in_stream.bits,
        "W_BITS": w_bits,
        "XNOR": int(layer.xnor),
        "ACC_BITS": acc_bits,
        "L": layer.levels,
        "T_BITS": t_bits,
        "OUT_BITS": out.bits,
        "W_FILE": f"{layer.name}_w.mem",
        "T_FILE": f"{layer.name}_t.mem" if layer.thresholds is not None else "",
    }
    cycles = (mh // pe) * (mw // simd) * pixels
    inp = Stream(simd, in_stream.bits, False, mw * pixels)
    return RtlUnit(layer.name, "hwbnn_mvu", params, inp, out, mems, cycles, layer=layer.name)


def window_unit(layer, simd: int, in_stream: Stream) -> RtlUnit:
    """``hwbnn_window`` of a ``conv`` layer: its windows, SIMD codes per beat."""
    h, w, c = layer.in_shape
    ho, wo, _ = layer.out_shape
    if in_stream.frame != h * w * c:
        raise EmitError(f"layer {layer.name}: takes {h * w * c} inputs, the layer before it gives {in_stream.frame}")
    bits = max(in_stream.bits, unsigned_bits(layer.pad_value))
    params = {
        "H": h,
        "W": w,
        "C": c,
        "K": layer.kernel,
        "S": layer.stride,
        "PAD": layer.pad,
        "PAD_VALUE": layer.pad_value,
        "POOL": 0,
        "BITS": bits,
        "IN_ELEMS": in_stream.elems,
        "OUT_ELEMS": simd,
    }
    out = Stream(simd, bits, False, ho * wo * layer.mw)
    inp = Stream(in_stream.elems, bits, False, h * w * c)
    cycles = max(h * w * c // in_stream.elems, ho * wo * layer.mw // simd)
    return RtlUnit(f"{layer.name}_window", "hwbnn_window", params, inp, out, cycles=cycles)  # no tap


def maxpool_unit(layer, in_stream: Stream) -> RtlUnit:
    """``hwbnn_window`` in its max-pooling mode, as many codes per beat as it is given."""
    h, w, c = layer.in_shape
    ho, wo, _ = layer.out_shape
    if layer.in_lo < 0 or in_stream.signed:
        raise EmitError(f"layer {layer.name}: max pooling of signed values is not in the RTL backend yet")
    if c % in_stream.elems:
        raise EmitError(f"layer {layer.name}: {in_stream.elems} values per beat do not divide its {c} channels")
    e = in_stream.elems
    params = {"H": h, "W": w, "C": c, "K": layer.kernel, "S": layer.stride, "PAD": 0, "PAD_VALUE": 0, "POOL": 1}
    params.update({"BITS": in_stream.bits, "IN_ELEMS": e, "OUT_ELEMS": e})
    out = Stream(e, in_stream.bits, False, ho * wo * c)
    cycles = max(h * w, ho * wo) * c // e
    return RtlUnit(layer.name, "hwbnn_window", params, in_stream, out, cycles=cycles, layer=layer.name)


def layer_folding(layer, folding: dict | None) -> tuple[int, int]:
    """(PE, SIMD) of a matrix layer: the folding's, else fully parallel; PE | MH and SIMD | MW."""
    f = (folding or {}).get(layer.name, {})
    pe, simd = int(f.get("PE", layer.mh)), int(f.get("SIMD", layer.mw))
    if pe < 1 or layer.mh % pe or simd < 1 or layer.mw % simd:
        raise EmitError(
            f"layer {layer.name}: PE {pe} must divide MH {layer.mh} and SIMD {simd} must divide MW {layer.mw}"
        )
    return pe, simd


def rtl_units(golden, folding: dict | None = None) -> list[RtlUnit]:
    """The kernel instances of ``golden`` (a chain of the :data:`SUPPORTED_KINDS`), in order."""
    layers = [layer for layer in golden.layers if layer.kind != "flatten"]
    for layer in golden.layers:
        if layer.kind not in SUPPORTED_KINDS or getattr(layer, "inputs", ()):
            raise EmitError(
                f"layer {layer.name}: {layer.kind} layers{' in graphs' if layer.kind in SUPPORTED_KINDS else ''} "
                f"are not in the RTL backend yet (it takes chains of {', '.join(SUPPORTED_KINDS)})"
            )
    matrix = {layer.name for layer in layers if layer.kind in ("xnor_dense", "int_dense", "conv")}
    unknown = sorted(set(folding or {}) - matrix)
    if unknown:
        raise EmitError(f"folding names layers the network has no matrix unit for: {', '.join(unknown)}")
    lo, hi = golden.input_range
    n = int(np.prod(golden.input_shape))
    pixel = int(golden.input_shape[0]) if golden.is_image else 1  # images: a pixel per beat
    stream = Stream(pixel, signed_bits(lo, hi) if lo < 0 else unsigned_bits(hi), lo < 0, n)
    units = []
    for i, layer in enumerate(layers):
        if layer.kind == "threshold":
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            rows = int(layer.thresholds.shape[0])  # per channel of the last axis, or 1: shared
            channels = rows if rows > 1 else (int(golden.input_shape[0]) if golden.is_image else stream.frame)
            if nxt is not None and nxt.kind in ("xnor_dense", "int_dense"):
                pe = layer_folding(nxt, folding)[1]
            else:
                pe = channels if golden.is_image and not units else 1  # an image: a pixel per beat
            new = [threshold_unit(layer, pe, Stream(pe, stream.bits, stream.signed, stream.frame), channels)]
        elif layer.kind == "conv":
            pe, simd = layer_folding(layer, folding)
            ho, wo, _ = layer.out_shape
            win = window_unit(layer, simd, stream)
            new = [win, mvu_unit(layer, pe, simd, win.out, pixels=ho * wo)]
        elif layer.kind == "maxpool":
            new = [maxpool_unit(layer, stream)]
        else:
            new = [mvu_unit(layer, *layer_folding(layer, folding), stream)]
        units += new
        stream = new[-1].out
    return units

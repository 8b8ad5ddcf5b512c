"""Kernel instances with exact widths: the streams between them, and the matrix and window units.

A layer becomes one or more :class:`RtlUnit`: the kernel, its Verilog parameters, its memory
images, the :class:`Stream` it reads on each input port (values per beat, bits per value,
signedness) and the one it writes.  :mod:`hw_bnn.rtl.graph` walks the network and picks each
unit's kernel; this module builds the matrix-vector and window units, and
:mod:`hw_bnn.rtl.elementwise` the elementwise ones and the merges.

* ``xnor_dense`` / ``int_dense`` -> ``hwbnn_mvu`` with the layer's PE and SIMD (the folding;
  fully parallel, PE = MH and SIMD = MW, where it names none).
* ``conv`` -> ``hwbnn_window`` (its k x k windows, padded with the pad code, SIMD per beat) and
  ``hwbnn_mvu`` on every window.
* ``maxpool`` -> ``hwbnn_window`` in its pooling mode (the max over each window, per channel).

Widths are exact.  Every partial sum of an integer unit lies in ``[S-, S+]``, the sums of the
negative and the positive weights of a column times the largest input code; an XNOR unit's
popcount in ``[0, MW]``.  Thresholds are clamped to ``[lo, hi + 1]`` of the value they compare
(the same decisions for every value in range), so they need no more bits than that value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hw_bnn.errors import EmitError
from hw_bnn.ir.ranges import bits_for_range, signed_width

RAM_STYLES = ("auto", "distributed", "block")


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
    """One kernel instance: ``module`` with ``params``; ``ins`` the streams of its input ports
    (``in``, or ``a`` and ``b`` for a merge); ``mems`` maps a parameter naming a memory file to
    ``(words, word bits)``; ``sources`` the units whose outputs feed its ports (-1: the network
    input; set by :func:`hw_bnn.rtl.graph.rtl_units`)."""

    name: str
    module: str
    params: dict
    ins: tuple
    out: Stream
    mems: dict = field(default_factory=dict)
    cycles: int = 0  # cycles per frame of its schedule
    layer: str | None = None  # the golden layer whose output this unit's tap is (None: none)
    sources: tuple = ()
    holds_frame: bool = False  # it takes a whole input frame before its first output (a window, a dense MVU)
    latency: int = 1  # register stages from an input beat to its output beat

    @property
    def inp(self) -> Stream:
        return self.ins[0]

    @property
    def ports(self) -> tuple[str, ...]:
        return ("in",) if len(self.ins) == 1 else ("a", "b")


def pack(values, bits: int) -> int:
    """Values (two's complement, ``bits`` each) packed little-end first into one integer."""
    word, mask = 0, (1 << bits) - 1
    for k, v in enumerate(np.asarray(values).tolist()):
        word |= (int(v) & mask) << (k * bits)
    return word


def threshold_words(t: np.ndarray, lo: int, hi: int, min_bits: int = 2) -> tuple[list[int], int]:
    """Per-row words of thresholds clamped to ``[lo, hi + 1]``, and their bits (at least ``min_bits``)."""
    t = np.clip(np.asarray(t, dtype=np.int64), lo, hi + 1)
    bits = max(min_bits, signed_bits(min(lo, int(t.min())), max(hi + 1, int(t.max()))))
    return [pack(row, bits) for row in t], bits


def _sum_range(layer, in_hi: int) -> tuple[int, int]:
    """The range of every partial sum of the unit's accumulator (see the module docstring)."""
    if layer.xnor:
        return 0, layer.mw
    w = np.asarray(layer.weights, dtype=np.int64)
    return int((np.minimum(w, 0).sum(0) * in_hi).min()), int((np.maximum(w, 0).sum(0) * in_hi).max())


BLOCK_PORTS = ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512))  # (bits, words)


def block_port(bits: int, words: int) -> tuple[int, int]:
    """The port ``(width, depth)`` of an 18-Kbit block RAM (ECP5's DP16KD and Xilinx's RAMB18
    alike, :data:`BLOCK_PORTS`) that holds ``words x bits`` in the fewest blocks,
    ``ceil(bits / width) * ceil(words / depth)``; the deeper one on a tie."""
    return min(BLOCK_PORTS, key=lambda p: (-(-bits // p[0]) * -(-words // p[1]), -p[1]))


def weight_banks(words: int, bits: int, ram: str) -> tuple[int, int]:
    """``(banks, words per bank)`` of a weight memory: one bank where it fits the depth of its
    block RAM port (:func:`block_port`) or is in LUTs, else banks of that depth (``hwbnn_rom``:
    each bank's read registered before the bank is selected), as many blocks as one memory."""
    _, depth = block_port(bits, words)
    if ram == "distributed" or words <= depth:
        return 1, words
    banks = -(-words // depth)
    if banks > 999:
        raise EmitError(f"a weight memory of {words} x {bits} bits needs {banks} block RAMs (999 at most)")
    return banks, depth


def bank_file(name: str, bank: int) -> str:
    """The image of bank ``bank`` of the memory image ``name``: ``b007_fc1_w.mem`` (hwbnn_rom)."""
    return f"b{bank:03d}_{name}"


def memory_images(unit: "RtlUnit", renamed: dict | None = None) -> dict[str, tuple[list[int], int]]:
    """File name -> ``(words, bits)`` of every memory image ``unit`` reads: a banked weight memory
    (``W_BANKS`` > 1) in one image per bank, the last one padded with zero words.  ``renamed``:
    memory parameter -> the file name to use instead of the unit's parameter value."""
    renamed = renamed or {}

    def name_of(param: str) -> str:
        return renamed.get(param, unit.params[param])

    out = {}
    for param, (words, bits) in unit.mems.items():
        banks, depth = (unit.params.get("W_BANKS", 1), unit.params.get("W_BANK_WORDS")) if param == "W_FILE" else (1, 0)
        if banks == 1:
            out[name_of(param)] = (words, bits)
            continue
        padded = list(words) + [0] * (banks * depth - len(words))
        for b in range(banks):
            out[bank_file(name_of(param), b)] = (padded[b * depth : (b + 1) * depth], bits)
    return out


def memory_files(params: dict) -> list[str]:
    """The memory images an instance with ``params`` reads (see :func:`memory_images`)."""
    files = []
    for key, name in params.items():
        if key.endswith("_FILE") and name:
            banks = params.get("W_BANKS", 1) if key == "W_FILE" else 1
            files += [name] if banks == 1 else [bank_file(name, b) for b in range(banks)]
    return files


def _weight_words(w: np.ndarray, pe: int, simd: int, bits: int) -> list[int]:
    """Word ``nf * SF + sf``: lane p, element i = ``W[sf * SIMD + i, nf * PE + p]``."""
    mw, mh = w.shape
    words = []
    for nf in range(mh // pe):
        for sf in range(mw // simd):
            block = w[sf * simd : (sf + 1) * simd, nf * pe : (nf + 1) * pe]  # (SIMD, PE)
            words.append(pack(block.T.reshape(-1), bits))
    return words


def mvu_unit(layer, pe: int, simd: int, in_stream: Stream, pixels: int = 1, ram: str = "auto") -> RtlUnit:
    """``hwbnn_mvu`` for an ``xnor_dense`` / ``int_dense`` layer (or a conv's windows, ``pixels``
    per image) folded by ``pe`` and ``simd``, its weights in ``ram`` (:data:`RAM_STYLES`)."""
    mw, mh = layer.mw, layer.mh
    _unsigned_input(layer, in_stream)
    if ram not in RAM_STYLES:
        raise EmitError(f"layer {layer.name}: weight memory {ram!r} is not one of {', '.join(RAM_STYLES)}")
    if in_stream.frame != mw * pixels:
        raise EmitError(f"layer {layer.name}: takes {mw * pixels} inputs, the layer before it gives {in_stream.frame}")
    lo, hi = _sum_range(layer, (1 << in_stream.bits) - 1)
    w = np.asarray(layer.weights, dtype=np.int64)
    w_bits = 1 if layer.xnor else signed_bits(int(w.min()), int(w.max()))
    mems = {"W_FILE": (_weight_words(w, pe, simd, w_bits), pe * simd * w_bits)}
    if layer.thresholds is not None:
        rows, t_bits = threshold_words(layer.thresholds, lo, hi)
        lane = layer.levels * t_bits  # word nf: the thresholds of channels nf * PE + p, lane p above lane p - 1
        words = [sum(rows[nf * pe + p] << (p * lane) for p in range(pe)) for nf in range(mh // pe)]
        mems["T_FILE"] = (words, pe * lane)
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
        "RAM_STYLE": ram,
    }
    banks, depth = weight_banks(len(mems["W_FILE"][0]), pe * simd * w_bits, ram)
    if banks > 1:
        params.update({"W_BANKS": banks, "W_BANK_WORDS": depth})
    cycles = (mh // pe) * (mw // simd) * pixels
    inp = Stream(simd, in_stream.bits, False, mw * pixels)
    unit = RtlUnit(layer.name, "hwbnn_mvu", params, (inp,), out, mems, cycles, layer=layer.name)
    unit.holds_frame = pixels == 1  # a dense unit's first output needs the whole vector
    return unit


def _unsigned_input(layer, stream: Stream) -> None:
    if stream.signed:
        raise EmitError(f"layer {layer.name}: a {layer.kind} layer reads unsigned codes, but its input is signed")


def window_unit(layer, simd: int, in_stream: Stream) -> RtlUnit:
    """``hwbnn_window`` of a ``conv`` layer: its windows, SIMD codes per beat.  It takes its input
    as it is given where that divides a pixel (C codes), else a pixel per beat (emit converts)."""
    h, w, c = layer.in_shape
    ho, wo, _ = layer.out_shape
    _unsigned_input(layer, in_stream)
    if in_stream.frame != h * w * c:
        raise EmitError(f"layer {layer.name}: takes {h * w * c} inputs, the layer before it gives {in_stream.frame}")
    e = in_stream.elems if c % in_stream.elems == 0 else c
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
        "SIGNED": 0,
        "BITS": bits,
        "IN_ELEMS": e,
        "OUT_ELEMS": simd,
    }
    out = Stream(simd, bits, False, ho * wo * layer.mw)
    inp = Stream(e, bits, False, h * w * c)
    cycles = max(h * w * c // e, ho * wo * layer.mw // simd)
    return RtlUnit(f"{layer.name}_window", "hwbnn_window", params, (inp,), out, cycles=cycles, holds_frame=True)


def maxpool_unit(layer, in_stream: Stream) -> RtlUnit:
    """``hwbnn_window`` in its max-pooling mode, as many codes per beat as it is given."""
    h, w, c = layer.in_shape
    ho, wo, _ = layer.out_shape
    if c % in_stream.elems:
        raise EmitError(f"layer {layer.name}: {in_stream.elems} values per beat do not divide its {c} channels")
    e = in_stream.elems
    params = {"H": h, "W": w, "C": c, "K": layer.kernel, "S": layer.stride, "PAD": 0, "PAD_VALUE": 0, "POOL": 1}
    params.update({"SIGNED": int(in_stream.signed), "BITS": in_stream.bits, "IN_ELEMS": e, "OUT_ELEMS": e})
    out = Stream(e, in_stream.bits, in_stream.signed, ho * wo * c)
    cycles = max(h * w, ho * wo) * c // e
    unit = RtlUnit(layer.name, "hwbnn_window", params, (in_stream,), out, cycles=cycles, layer=layer.name)
    # the window register, the group register, then one register per level of the max tree
    unit.holds_frame, unit.latency = True, 2 + math.ceil(math.log2(layer.kernel**2))
    return unit


def layer_folding(layer, folding: dict | None) -> tuple[int, int]:
    """(PE, SIMD) of a matrix layer: the folding's, else fully parallel; PE | MH and SIMD | MW."""
    f = (folding or {}).get(layer.name, {})
    pe, simd = int(f.get("PE", layer.mh)), int(f.get("SIMD", layer.mw))
    if pe < 1 or layer.mh % pe or simd < 1 or layer.mw % simd:
        raise EmitError(
            f"layer {layer.name}: PE {pe} must divide MH {layer.mh} and SIMD {simd} must divide MW {layer.mw}"
        )
    return pe, simd

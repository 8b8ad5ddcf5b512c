"""The matrix units of a streaming pipeline, and the PE/SIMD foldings they accept.

Every matrix layer of an integer network (``xnor_dense``, ``int_dense``, ``conv``) becomes one
matrix-vector-activation unit (MVU, FINN's MVAU) of the streaming pipeline.  It computes an
``MH x MW`` matrix-vector product once per output pixel:

* dense: ``MW`` = input features, ``MH`` = output features, ``pixels`` = 1;
* conv:  ``MW`` = ``K*K*C_in`` (the sliding window), ``MH`` = ``C_out``, ``pixels`` = ``OH*OW``.

A *folding* gives each unit ``PE`` (rows of the matrix in parallel, ``MH % PE == 0``) and ``SIMD``
(columns in parallel, ``MW % SIMD == 0``), as a dict ``{layer_name: {"PE": p, "SIMD": s}}``; a unit
that the dict leaves out (or a key an entry leaves out) is fully parallel, ``PE = MH`` and
``SIMD = MW``, as ``hw_bnn.hls4ml_ext.emit`` builds it.  One unit then takes
``(MH / PE) * (MW / SIMD) * pixels`` cycles per frame (FINN's ``get_exp_cycles``).

What each unit costs is :mod:`hw_bnn.dse.cost`; choosing the folding is :mod:`hw_bnn.dse.folding`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hw_bnn.errors import FoldingError
from hw_bnn.ir.ranges import MATRIX_KINDS, bits_for_range, divisors


@dataclass(frozen=True)
class MVU:
    """One matrix-vector unit: an ``MH x MW`` matrix times a vector, ``pixels`` times per frame.

    ``acc_bits`` / ``acc_signed``: the accumulator (for a thresholded XNOR unit the popcount in
    ``[0, MW]``); 0 means "derive the worst case from the bit widths" (see :func:`worst_acc_range`).
    ``out_bits``: bits of the output codes (``None`` when the unit outputs its accumulator),
    ``n_thresholds``: thresholds per output channel (0 without thresholds).
    """

    name: str
    kind: str
    mh: int
    mw: int
    pixels: int = 1
    weight_bits: int = 1
    in_bits: int = 1
    in_signed: bool = False
    xnor: bool = True
    n_thresholds: int = 0
    acc_bits: int = 0
    acc_signed: bool = False
    out_bits: int | None = field(default=None)
    # input pixels a convolution's sliding window reads per frame, one per cycle at most (1: dense)
    in_pixels: int = 1
    # a convolution's input channels, the values of one pixel of its window (0: dense)
    in_channels: int = 0

    def __post_init__(self):
        if self.kind not in MATRIX_KINDS:
            raise FoldingError(
                f"layer {self.name!r}: kind {self.kind!r} is not a matrix unit ({', '.join(MATRIX_KINDS)})"
            )
        for attr in ("mh", "mw", "pixels", "weight_bits", "in_bits"):
            if int(getattr(self, attr)) < 1:
                raise FoldingError(f"layer {self.name!r}: {attr} must be >= 1, got {getattr(self, attr)}")
        if self.xnor and (self.weight_bits != 1 or self.in_bits != 1):
            raise FoldingError(f"layer {self.name!r}: an XNOR unit has 1-bit weights and inputs")
        if self.acc_bits <= 0:
            bits, signed = bits_for_range(*worst_acc_range(self))
            object.__setattr__(self, "acc_bits", bits)
            object.__setattr__(self, "acc_signed", signed)
        if self.out_bits is None and self.n_thresholds:
            object.__setattr__(self, "out_bits", bits_for_range(0, self.n_thresholds)[0])

    @classmethod
    def dense(
        cls,
        name: str,
        mw: int,
        mh: int,
        *,
        weight_bits: int = 1,
        in_bits: int = 1,
        n_thresholds: int = 1,
        xnor: bool | None = None,
    ) -> MVU:
        """A dense unit by shape (XNOR when weights and inputs are 1 bit, unless told)."""
        xnor = (weight_bits == 1 and in_bits == 1) if xnor is None else xnor
        return cls(
            name, "xnor_dense" if xnor else "int_dense", mh, mw, 1, weight_bits, in_bits, False, xnor, n_thresholds
        )

    @classmethod
    def conv(
        cls,
        name: str,
        in_hw: tuple[int, int],
        c_in: int,
        c_out: int,
        kernel: int,
        *,
        stride: int = 1,
        pad: int = 0,
        weight_bits: int = 1,
        in_bits: int = 1,
        n_thresholds: int = 1,
        xnor: bool | None = None,
    ) -> MVU:
        """A convolution unit by shape: ``MW = kernel**2 * c_in``, ``MH = c_out``, ``pixels = OH * OW``."""
        oh, ow = ((s + 2 * pad - kernel) // stride + 1 for s in in_hw)
        if oh < 1 or ow < 1:
            raise FoldingError(f"layer {name!r}: a {kernel}x{kernel} kernel does not fit a {in_hw} input (pad {pad})")
        xnor = (weight_bits == 1 and in_bits == 1) if xnor is None else xnor
        return cls(
            name,
            "conv",
            c_out,
            kernel * kernel * c_in,
            oh * ow,
            weight_bits,
            in_bits,
            False,
            xnor,
            n_thresholds,
            in_channels=c_in,
        )

    def simd_options(self) -> list[int]:
        """The SIMDs the folders choose from: the divisors of ``MW``, and for a convolution those a
        window beat takes whole (``SIMD | C`` : a part of one pixel; ``C | SIMD`` : whole pixels).

        Other divisors are legal in a user's folding, but the RTL window then rotates its whole
        register of ``K*K*C`` values into ``(kh, kw, c)`` order each window, a mux per value bit
        (on CNV's 3x3x128 windows of 2-bit codes, 23,610 LUT4 against 2,617 on ECP5)."""
        d = divisors(self.mw)
        c = self.in_channels
        return [s for s in d if not c or c % s == 0 or s % c == 0]

    @property
    def macs(self) -> int:
        """Multiply-accumulates per frame."""
        return self.mh * self.mw * self.pixels

    @property
    def weight_memory_bits(self) -> int:
        return self.mh * self.mw * self.weight_bits


def worst_acc_range(u: MVU) -> tuple[int, int]:
    """Accumulator range from the bit widths alone (no weight values).

    XNOR: the popcount ``[0, MW]`` with thresholds, else the bipolar sum ``[-MW, MW]``.  Integer:
    ``MW`` products of a weight (1 bit = bipolar +-1, else signed ``W`` bits) and an input
    (unsigned ``[0, 2**A - 1]`` or signed ``A`` bits)."""
    if u.xnor:
        return (0, u.mw) if u.n_thresholds else (-u.mw, u.mw)
    w_lo, w_hi = (-1, 1) if u.weight_bits == 1 else (-(1 << (u.weight_bits - 1)), (1 << (u.weight_bits - 1)) - 1)
    x_lo, x_hi = (-(1 << (u.in_bits - 1)), (1 << (u.in_bits - 1)) - 1) if u.in_signed else (0, (1 << u.in_bits) - 1)
    corners = [w * x for w in (w_lo, w_hi) for x in (x_lo, x_hi)]
    return u.mw * min(min(corners), 0), u.mw * max(max(corners), 0)


def stored_weight_bits(weights: np.ndarray, xnor: bool) -> int:
    """Stored bits per weight: 1 for XNOR bits and for bipolar (+-1 only) integer weights (one bit,
    as FINN stores BIPOLAR), else the smallest two's-complement / unsigned width of the values."""
    if xnor:
        return 1
    w = np.asarray(weights, dtype=np.int64)
    if w.size and np.all(np.abs(w) == 1):
        return 1
    return bits_for_range(int(w.min(initial=0)), int(w.max(initial=0)))[0]


def unit_of_layer(layer) -> MVU:
    """The unit of one matrix layer of the IR, with the exact widths of :func:`mvu_layers`."""
    xnor = bool(layer.xnor)
    lo, hi = (int(v) for v in layer.acc_range())
    if layer.thresholds is not None:
        # the stored thresholds, clipped to what can matter (as the emitter does), share the width
        t = np.clip(np.asarray(layer.thresholds, dtype=np.int64), lo, hi + 1)
        lo, hi = min(lo, int(t.min())), max(hi, int(t.max()))
    acc_bits, acc_signed = bits_for_range(lo, hi)
    if xnor:
        in_bits = 1
    else:
        top = max(int(layer.in_levels), int(getattr(layer, "pad_value", 0)) if getattr(layer, "pad", 0) else 0)
        in_bits = bits_for_range(0, top)[0]
    pixels, in_pixels, in_channels = 1, 1, 0
    if layer.kind == "conv":
        oh, ow, _ = layer.out_shape
        pixels = int(oh) * int(ow)
        in_pixels = int(layer.in_shape[0]) * int(layer.in_shape[1])
        in_channels = int(layer.in_shape[2])
    levels = int(layer.levels)
    return MVU(
        name=layer.name,
        kind=layer.kind,
        mh=int(layer.n_out),
        mw=int(layer.fan_in),
        pixels=pixels,
        weight_bits=stored_weight_bits(layer.weights, xnor),
        in_bits=in_bits,
        in_signed=False,  # codes between layers are unsigned 0..L
        xnor=xnor,
        n_thresholds=levels,
        acc_bits=acc_bits,
        acc_signed=acc_signed,
        out_bits=bits_for_range(0, levels)[0] if levels else None,
        in_pixels=in_pixels,
        in_channels=in_channels,
    )


def mvu_layers(network) -> list[MVU]:
    """The matrix units of a :class:`hw_bnn.ir.IntegerNetwork`, in pipeline order.

    Widths come from the layer itself: the accumulator from ``acc_range()`` (popcount for
    thresholded XNOR units) widened to hold the stored thresholds, inputs from ``in_levels``
    (and the pad code), weights from their values."""
    return [unit_of_layer(layer) for layer in network.layers if layer.kind in MATRIX_KINDS]


def _legal(values: list[int]) -> str:
    return ", ".join(str(v) for v in values)


def check_folding(layers: list[MVU], folding: dict | None) -> dict[str, dict[str, int]]:
    """Validate a folding and return it complete (every unit, ``PE``/``SIMD`` as ints).

    Raises :class:`FoldingError` naming the layer: an unknown layer name, a missing or extra key,
    a non-positive value, or a ``PE`` that does not divide ``MH`` / a ``SIMD`` that does not divide
    ``MW`` (with the legal values)."""
    folding = dict(folding or {})
    by_name = {u.name: u for u in layers}
    unknown = [n for n in folding if n not in by_name]
    if unknown:
        raise FoldingError(
            f"folding names unknown layer(s) {', '.join(map(repr, unknown))}; "
            f"the matrix units are: {', '.join(by_name) or '(none)'}"
        )
    out = {}
    for u in layers:
        f = folding.get(u.name, {})
        extra = set(f) - {"PE", "SIMD"}
        if extra:
            raise FoldingError(f"layer {u.name!r}: unknown folding key(s) {sorted(extra)} (expected PE and SIMD)")
        pe, simd = f.get("PE", u.mh), f.get("SIMD", u.mw)  # left out: fully parallel, as emit builds it
        for key, value, size, dim in (("PE", pe, u.mh, "MH"), ("SIMD", simd, u.mw, "MW")):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise FoldingError(f"layer {u.name!r}: {key}={value!r} must be a positive integer")
            if size % int(value):
                raise FoldingError(
                    f"layer {u.name!r}: {key}={value} does not divide {dim}={size}; "
                    f"legal {key}: {_legal(divisors(size))}"
                )
        out[u.name] = {"PE": int(pe), "SIMD": int(simd)}
    return out


def unit_cycles(u: MVU, pe: int, simd: int) -> int:
    """Cycles per frame: ``(MH / PE) * (MW / SIMD) * pixels``, and at least ``in_pixels``: a
    convolution's sliding window takes its input a pixel per cycle at most, so a strided one
    (fewer output than input pixels) can be bound by its input (measured in RTL simulation)."""
    return max((u.mh // pe) * (u.mw // simd) * u.pixels, u.in_pixels)

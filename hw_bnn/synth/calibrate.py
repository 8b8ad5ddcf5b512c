"""The measurement set of the calibrated cost model: matrix units synthesized with Yosys.

:data:`SHAPES` are the matrix layers of the FINN networks the recipes follow (TFC, SFC, LFC,
CNV): XNOR units with a threshold per channel (popcount and comparator) or without (a last layer,
bipolar accumulators), 2-bit integer units (ternary weights, 2-bit input codes, three thresholds
per channel), bipolar-weight integer units on 2-bit codes (w1a2), CNV's first convolution on
8-bit pixels, and convolutions (their matrix unit is the same ``hwbnn_mvu``, once per output
pixel).  Each shape is measured at one to seven foldings ``(PE, SIMD)``, at most 1,024 lanes
``PE * SIMD`` for XNOR units and 256 for integer ones (Yosys takes about a minute for 256 lanes of
2-bit products, and the time grows faster than the lanes).

Weights and thresholds are random with a fixed seed per shape (:func:`build_layer`): bits for
XNOR units, ``{-1, 0, 1}`` for 2-bit weights, ``{-1, 1}`` for bipolar ones; sorted thresholds in
the middle half of the accumulator's range.  The weight memory is where the cost model puts it
(:func:`hw_bnn.dse.cost.layer_cost`: distributed up to 128 words, else block RAM), as the flow
emits it.  Every unit is synthesized alone (:func:`hw_bnn.synth.units.synthesize_unit`, cached).

:func:`split` says which foldings the fit sees: per shape, ordered by ``PE * SIMD`` (then PE),
the foldings at positions 1, 4, 7, ... are held out, the others train.

:data:`WINDOWS` are the sliding-window generators (``hwbnn_window``) of CNV's convolutions on
MNIST, and one of a 32 x 32 image, each at two to five output widths (SIMD codes per beat: within
a pixel, a whole pixel, several pixels, the whole window), split the same way.  Their records
carry the convolution's :class:`MVU` (its window's shape) and ``"kind": "window"``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from hw_bnn.dse.cost import layer_cost
from hw_bnn.dse.units import MVU, unit_of_layer
from hw_bnn.ir import ConvLayer, IntDenseLayer, XnorDenseLayer
from hw_bnn.rtl.units import RtlUnit, Stream, mvu_unit, window_unit
from hw_bnn.synth.units import synthesize_units

CAL_TARGETS = ("xc7", "ecp5")
SEED = 2026


@dataclass(frozen=True)
class Shape:
    """A matrix layer of the set: ``mw`` inputs, ``mh`` outputs; ``weights`` ``bits`` (XNOR),
    ``ternary``, ``bipolar`` or ``signed`` (integer units; ``signed``: every ``weight_bits``-bit
    two's complement value); ``in_bits`` of the input codes; ``levels`` thresholds per channel
    (0: the accumulators are the output); ``conv``: ``(H, W, C, K)`` of a convolution
    (``mw = K * K * C``), else ``None``; ``foldings``: the ``(PE, SIMD)`` measured."""

    name: str
    mw: int
    mh: int
    weights: str
    in_bits: int
    levels: int
    foldings: tuple[tuple[int, int], ...]
    conv: tuple[int, int, int, int] | None = None
    weight_bits: int = 2

    @property
    def xnor(self) -> bool:
        return self.weights == "bits"


SHAPES: tuple[Shape, ...] = (
    # XNOR, one threshold per channel
    Shape("tfc_fc1", 784, 64, "bits", 1, 1, ((8, 16), (4, 49), (64, 8), (1, 784), (16, 49), (32, 28))),
    Shape("tfc_fc2", 64, 64, "bits", 1, 1, ((2, 4), (4, 8), (1, 64), (8, 8), (16, 16), (64, 8), (16, 64))),
    Shape("sfc_fc1", 784, 256, "bits", 1, 1, ((8, 28), (32, 16))),
    Shape("sfc_fc2", 256, 256, "bits", 1, 1, ((4, 16), (16, 16), (8, 64))),
    Shape("lfc_fc1", 784, 1024, "bits", 1, 1, ((16, 28),)),
    Shape("cnv_conv2", 576, 64, "bits", 1, 1, ((4, 36), (16, 32), (64, 9)), conv=(30, 30, 64, 3)),
    Shape("cnv_conv4", 1152, 128, "bits", 1, 1, ((8, 64),), conv=(12, 12, 128, 3)),
    # XNOR without thresholds: a last layer, bipolar accumulators out
    Shape("tfc_fc4", 64, 10, "bits", 1, 0, ((5, 16), (2, 64), (10, 64))),
    Shape("cnv_fc3", 512, 10, "bits", 1, 0, ((1, 32), (5, 128))),
    # integer: ternary weights, 2-bit codes, 3 thresholds (w2a2)
    Shape("w2a2_fc2", 64, 64, "ternary", 2, 3, ((2, 4), (8, 8), (4, 32), (16, 16))),
    Shape("w2a2_fc256", 256, 256, "ternary", 2, 3, ((4, 16), (4, 64))),
    Shape("w2a2_conv2", 576, 64, "ternary", 2, 3, ((8, 16), (4, 36)), conv=(30, 30, 64, 3)),
    Shape("w2a2_fc4", 64, 10, "ternary", 2, 0, ((5, 8), (10, 16))),
    # integer: bipolar weights on 2-bit codes (w1a2), and CNV's first layer on 8-bit pixels
    Shape("w1a2_conv2", 576, 64, "bipolar", 2, 1, ((4, 16), (8, 16)), conv=(30, 30, 64, 3)),
    Shape("cnv_conv1", 27, 64, "bipolar", 8, 1, ((4, 3), (8, 3), (8, 9)), conv=(32, 32, 3, 3)),
)


@dataclass(frozen=True)
class WindowShape:
    """A convolution's window generator of the set: an ``h x w x c`` image of ``bits``-bit codes,
    a ``k x k`` window at stride ``s`` with padding ``pad``; ``simds``: the output widths measured."""

    name: str
    h: int
    w: int
    c: int
    k: int
    s: int
    pad: int
    bits: int
    simds: tuple[int, ...]


WINDOWS: tuple[WindowShape, ...] = (
    WindowShape("cnv_conv1", 28, 28, 1, 3, 2, 1, 8, (1, 3, 9)),
    WindowShape("cnv_conv2", 14, 14, 64, 3, 1, 1, 1, (8, 32, 64, 192, 576)),
    WindowShape("cnv_conv3", 7, 7, 64, 3, 1, 1, 1, (16, 64, 192)),
    WindowShape("cnv_conv4", 7, 7, 128, 3, 1, 0, 1, (16, 128, 384)),
    WindowShape("cnv_conv5", 2, 2, 128, 3, 1, 1, 1, (8, 32, 128)),
    WindowShape("cnv_conv6", 2, 2, 256, 1, 1, 0, 1, (2, 32, 256)),
    WindowShape("c32_conv2", 32, 32, 32, 3, 1, 0, 1, (16, 32, 96)),
)


@dataclass(frozen=True)
class WindowUnit:
    """One window generator of the set at ``simd`` codes per beat, and whether the fit sees it."""

    shape: WindowShape
    simd: int
    held_out: bool

    @property
    def name(self) -> str:
        return f"{self.shape.name}_win_s{self.simd}"


def window_split(shapes=WINDOWS) -> list[WindowUnit]:
    """Every window of the set: per shape, ordered by SIMD, positions 1, 4, 7, ... held out."""
    out = []
    for s in shapes:
        for i, simd in enumerate(sorted(s.simds)):
            if (s.k * s.k * s.c) % simd:
                raise ValueError(f"calibration set: {s.name}: SIMD {simd} does not divide the window's values")
            out.append(WindowUnit(s, simd, held_out=i % 3 == 1))
    return out


def window_pair(wu: WindowUnit, seed: int = SEED) -> tuple[MVU, RtlUnit]:
    """The convolution's cost-model unit (its window's shape) and the RTL window of ``wu``, fed a
    code per beat."""
    s = wu.shape
    rng = np.random.default_rng([seed, *s.name.encode()])
    xnor = s.bits == 1
    w = rng.integers(0, 2, size=(s.k * s.k * s.c, 8)).astype(np.uint8 if xnor else np.int8)
    layer = ConvLayer(s.name, (s.h, s.w, s.c), s.k, s.s, s.pad, 0, w, xnor, None, in_levels=(1 << s.bits) - 1)
    stream = Stream(1, s.bits, False, s.h * s.w * s.c)
    return unit_of_layer(layer), window_unit(layer, wu.simd, stream)


def _record(target: str, name: str, shape: str, held_out: bool, mvu: MVU, rtl: RtlUnit, res: dict) -> dict:
    return {
        "unit": name,
        "shape": shape,
        "target": target,
        "held_out": held_out,
        "mvu": asdict(mvu),
        "rtl_params": {p: v for p, v in rtl.params.items() if not p.endswith("_FILE")},
        "measured": {k: v for k, v in res.items() if k not in ("key", "cached")},
    }


def measure_windows(units: list[WindowUnit], targets=CAL_TARGETS, cache_dir=None, say=print) -> list[dict]:
    """Synthesize every window for every target (cached): records like :func:`measure`'s, with
    ``"kind": "window"`` and the window's ``simd`` (no PE, no weight memory)."""
    records = []
    for target in targets:
        pairs = [window_pair(wu) for wu in units]
        results = synthesize_units([rtl for _, rtl in pairs], target, cache_dir)
        for j, (wu, (mvu, rtl), res) in enumerate(zip(units, pairs, results)):
            rec = _record(target, wu.name, wu.shape.name, wu.held_out, mvu, rtl, res)
            records.append({**rec, "kind": "window", "simd": wu.simd})
            state = "cached" if res["cached"] else f"{res['seconds']:.1f} s"
            say(f"[{target} window {j + 1}/{len(units)}] {wu.name}: {res['lut_total']} LUT, {res['ff']} FF ({state})")
    return records


@dataclass(frozen=True)
class CalUnit:
    """One unit of the set: a shape at one folding, and whether the fit sees it."""

    shape: Shape
    pe: int
    simd: int
    held_out: bool

    @property
    def name(self) -> str:
        return f"{self.shape.name}_p{self.pe}s{self.simd}"


def split(shapes=SHAPES) -> list[CalUnit]:
    """Every unit of the set: per shape, ordered by ``PE * SIMD`` then PE, the foldings at
    positions 1, 4, 7, ... held out (never seen by the fit), the others for training."""
    out = []
    for s in shapes:
        for i, (pe, simd) in enumerate(sorted(s.foldings, key=lambda f: (f[0] * f[1], f[0]))):
            if s.mh % pe or s.mw % simd:
                raise ValueError(f"calibration set: {s.name}: PE {pe} / SIMD {simd} do not divide {s.mh} / {s.mw}")
            out.append(CalUnit(s, pe, simd, held_out=i % 3 == 1))
    return out


def _thresholds(rng, rows: int, levels: int, lo: int, hi: int) -> np.ndarray:
    """Sorted thresholds in the middle half of ``[lo, hi]``."""
    a, b = lo + (hi - lo) // 4, hi - (hi - lo) // 4
    return np.sort(rng.integers(a, b + 1, size=(rows, levels)), axis=1).astype(np.int64)


def build_layer(shape: Shape, seed: int = SEED):
    """The IR layer of ``shape`` with random weights and thresholds (seeded by the shape's name)."""
    rng = np.random.default_rng([seed, *shape.name.encode()])
    if shape.xnor:
        w = rng.integers(0, 2, size=(shape.mw, shape.mh)).astype(np.uint8)
    elif shape.weights == "ternary":
        w = rng.integers(-1, 2, size=(shape.mw, shape.mh)).astype(np.int8)
    elif shape.weights == "signed":
        half = 1 << (shape.weight_bits - 1)
        w = rng.integers(-half, half, size=(shape.mw, shape.mh)).astype(np.int8)
    else:
        w = (2 * rng.integers(0, 2, size=(shape.mw, shape.mh)) - 1).astype(np.int8)
    in_levels = (1 << shape.in_bits) - 1
    if shape.conv:
        h, wd, c, k = shape.conv
        layer = ConvLayer(shape.name, (h, wd, c), k, 1, 0, 0, w, shape.xnor, None, in_levels=in_levels)
    elif shape.xnor:
        layer = XnorDenseLayer(shape.name, w, None)
    else:
        layer = IntDenseLayer(shape.name, w, None, in_levels=in_levels)
    if shape.levels:
        lo, hi = (int(v) for v in layer.acc_range())
        layer.thresholds = _thresholds(rng, shape.mh, shape.levels, lo, hi)
        layer._prepare()
    return layer


def shape_of(u: MVU) -> Shape:
    """A dense shape with the widths of unit ``u`` (its matrix unit is the same hardware as a
    convolution's), for a layer with random weights where only the shape is known."""
    if u.xnor:
        weights = "bits"
    else:
        weights = {1: "bipolar", 2: "ternary"}.get(u.weight_bits, "signed")
    return Shape(u.name, u.mw, u.mh, weights, u.in_bits, u.n_thresholds, (), weight_bits=u.weight_bits)


def unit_pair(cu: CalUnit, seed: int = SEED) -> tuple[MVU, RtlUnit]:
    """The cost model's unit and the RTL unit of ``cu``, its weights where the cost model puts them."""
    layer = build_layer(cu.shape, seed)
    mvu = unit_of_layer(layer)
    ram = layer_cost(mvu, cu.pe, cu.simd).weight_ram
    stream = Stream(cu.simd, cu.shape.in_bits, False, layer.mw * mvu.pixels)
    return mvu, mvu_unit(layer, cu.pe, cu.simd, stream, pixels=mvu.pixels, ram=ram)


def measure(units: list[CalUnit], targets=CAL_TARGETS, cache_dir=None, say=print, batch: int = 8) -> list[dict]:
    """Synthesize every unit for every target (cached; ``batch`` units per Yosys run where the
    target keeps the hierarchy): one record per (unit, target) with the unit (the cost model's
    :class:`MVU` fields), its folding, its split and the measured figures."""
    records = []
    for target in targets:
        for start in range(0, len(units), batch):
            chunk = units[start : start + batch]
            pairs = [unit_pair(cu) for cu in chunk]
            t0 = time.perf_counter()
            results = synthesize_units([rtl for _, rtl in pairs], target, cache_dir, batch)
            took = time.perf_counter() - t0
            for j, (cu, (mvu, rtl), res) in enumerate(zip(chunk, pairs, results)):
                rec = _record(target, cu.name, cu.shape.name, cu.held_out, mvu, rtl, res)
                records.append({**rec, "pe": cu.pe, "simd": cu.simd, "weight_ram": rtl.params["RAM_STYLE"]})
                state = "cached" if res["cached"] else f"{res['seconds']:.1f} s"
                say(
                    f"[{target} {start + j + 1}/{len(units)}] {cu.name}: {res['lut_total']} LUT, {res['ff']} FF, "
                    f"{res['bram18']} BRAM18 ({state})"
                )
            if any(not r["cached"] for r in results):
                say(f"[{target}] {sum(not r['cached'] for r in results)} units synthesized in {took:.1f} s")
    return records

"""First-order cost model of a folded streaming pipeline of matrix-vector units (FINN-R).

The units and their foldings are :mod:`hw_bnn.dse.units`: unit ``i`` at ``(PE_i, SIMD_i)``.

Performance (per frame, clock ``f`` in MHz):

* cycles of one unit: ``max((MH / PE) * (MW / SIMD) * pixels, in_pixels)`` (FINN's
  ``get_exp_cycles``; a convolution's window generator takes its input a pixel per cycle);
* initiation interval ``II`` = the slowest unit's cycles; ``FPS = f * 1e6 / II``.  The RTL
  simulation measures exactly this interval (docs/rtl.md);
* latency ~ the sum of the units' cycles, ``latency_us = sum / f``.  This is a first-order
  estimate, and the RTL simulation measures how far off it is: the units of a dataflow pipeline
  overlap (a unit starts as soon as the first outputs of the one before arrive), so on folded
  networks the true latency is lower; but every RTL matrix unit adds its pipeline (7 cycles
  plus one per adder-tree stage) and every FIFO and elementwise unit a cycle or two, so on small
  fully parallel networks it is higher.  Thresholds, pooling, flatten and the sliding-window
  generators are not modelled (they stream one element or pixel per cycle and are never the
  bottleneck of these networks).

Resources per unit, after FINN-R (M. Blott, T. B. Preusser, N. J. Fraser, G. Gambardella,
K. O'Brien, Y. Umuroglu, M. Leeser, K. Vissers: "FINN-R: An End-to-End Deep-Learning Framework
for Fast Exploration of Quantized Neural Networks", ACM TRETS 11(3), 2018) and FINN's published
MVAU estimates.  With ``P = PE``, ``Q = SIMD``, ``W`` weight bits, ``A`` input bits, ``acc``
accumulator bits, ``L`` thresholds per channel (0 without thresholds), ``TMEM = MH / P``:

``LUT = c0 + c1 * P * (mult + adder + acc + thr + comp) + wmem_lut``,  ``c0 = 300``, ``c1 = 1.1``

* ``mult  = Q * (2 * ceil((W + A) / 6) - 1) * (W + A)`` (LUT multipliers; 0 on DSPs); for an
  XNOR unit (``W = A = 1``) the multiplier is one XNOR, one LUT per lane: ``mult = Q``;
* ``adder = (W + A) * (2 * Q - 1)`` (the adder / popcount tree);
* ``acc`` = accumulator width (one LUT per bit);
* ``thr  = L * acc * ceil(TMEM / 64)`` (threshold memory in LUTRAM, 64 entries per LUT);
* ``comp = L * acc`` (one comparator per threshold);
* ``wmem_lut = P * Q * W * ceil(WMEM / 64)`` only when the weights sit in LUTRAM.

Weight memory: depth ``WMEM = MH * MW / (P * Q)``, width ``P * Q * W`` bits.  In block RAM it takes
``min over the RAMB18 simple-dual-port aspect ratios (w x d) in {1x16384, 2x8192, 4x4096, 9x2048,
18x1024, 36x512}`` of ``ceil(width / w) * ceil(depth / d)`` RAMB18 primitives (Xilinx UG473 /
UG573).  FINN picks the aspect ratio from the width alone; taking the best of the six is never
worse and usually equal.

DSPs (explicit rule, ours): multipliers map to DSP slices only when ``res_type == "dsp"``, or with
``res_type == "auto"`` when both operands are at least ``dsp_min_bits`` (4) wide and the unit is not
XNOR; then ``DSP = P * Q * ceil((W + A) / 48)`` (FINN's estimate) and ``mult = 0``.  Narrower
products are cheaper in LUTs, so every layer of the binary networks here costs 0 DSPs.

Not modelled: flip-flops, FIFOs, the sliding-window generators, pooling and thresholding layers
outside a unit, the AXI/DMA shell.  Synthesis (a later stage) measures what is estimated here.
The calibrated model below counts flip-flops and a convolution's window generator.

**Calibrated** (``CostParams(calibration="xc7")`` or ``"ecp5"``): the LUT count is instead the
calibrated sum of :mod:`hw_bnn.dse.calibration`, a coefficient per term fitted to Yosys synthesis
of hw-bnn's RTL unit for that family (LUT6 on xc7, LUT4 on ECP5) and kind of unit, with a
calibrated flip-flop count beside it (``ff``); weights, block RAM and DSPs are counted as above.
A convolution's ``lut`` and ``ff`` include its window generator's calibrated sums (``lut_window``,
``ff_window``; in the measured mode too, which synthesizes the matrix unit alone).
**Measured** (``CostParams(measure=f)``): ``f(unit, pe, simd, weight_ram)`` returns the LUT, FF,
BRAM18 and DSP of the unit as synthesized (``hw-bnn fold --cost measured``; the search itself
never runs a tool: the caller passes the function).  The FINN-R terms ``lut_*`` are kept either way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from fractions import Fraction

from hw_bnn.dse.calibration import FAMILIES, calibrated_cost, calibrated_window
from hw_bnn.dse.units import MVU, check_folding, unit_cycles
from hw_bnn.errors import FoldingError
from hw_bnn.rtl.units import BLOCK_PORTS

# RAMB18 in simple dual-port mode: (width bits, depth) per aspect ratio (UG473 table 1-4 / UG573)
RAMB18_ASPECTS = BLOCK_PORTS  # (width, depth) of a RAMB18 (and of an ECP5 DP16KD)
LUTRAM_DEPTH = 64  # a LUT6 as RAM64X1: 64 entries of 1 bit


@dataclass(frozen=True)
class CostParams:
    """Knobs of the resource model (defaults: FINN-R's constants and the memory mode of our kernels).

    ``weight_ram``: ``"block"`` (FINN's decoupled weight memory), ``"distributed"`` (LUTRAM)
    or ``"auto"`` (LUTRAM when ``WMEM <= lutram_max_depth``, else block RAM: FINN's rule for
    embedded weights).  The default is ``"auto"``: hw-bnn's kernels hold the weights in HLS
    ``const`` arrays inside the unit (FINN's embedded mode), and a shallow folded memory (a fully
    parallel unit has depth 1) becomes LUTs, not a column of mostly empty RAMB18s.
    ``res_type``: ``"lut"``, ``"dsp"`` or ``"auto"`` (DSPs when both operands have at least
    ``dsp_min_bits`` bits; never for XNOR units).
    ``calibration``: ``None`` (FINN-R's LUT formula), ``"xc7"`` or ``"ecp5"`` (the calibrated LUT
    and FF sums of :mod:`hw_bnn.dse.calibration` for that family).
    ``measure``: ``None``, or a function ``(unit, pe, simd, weight_ram) -> {"lut", "ff", "bram18",
    "dsp"}`` of synthesized figures, which then replace the estimates (``calibration`` still names
    the family; where the function returns ``None`` the calibrated estimate stands)."""

    c0: float = 300.0
    c1: float = 1.1
    weight_ram: str = "auto"
    lutram_max_depth: int = 128
    res_type: str = "auto"
    dsp_min_bits: int = 4
    calibration: str | None = None
    measure: Callable | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        if self.weight_ram not in ("block", "distributed", "auto"):
            raise FoldingError(f"cost model: weight_ram {self.weight_ram!r} is not block, distributed or auto")
        if self.res_type not in ("lut", "dsp", "auto"):
            raise FoldingError(f"cost model: res_type {self.res_type!r} is not lut, dsp or auto")
        if self.calibration is not None and self.calibration not in FAMILIES:
            raise FoldingError(
                f"cost model: calibration {self.calibration!r} is not one of {', '.join(FAMILIES)} (or None)"
            )

    @property
    def family(self) -> str:
        """The device family the LUT counts are of: ``"ecp5"`` (LUT4) or ``"xilinx"`` (LUT6; FINN-R)."""
        return "ecp5" if self.calibration == "ecp5" else "xilinx"

    @property
    def model(self) -> str:
        """``"finn"``, ``"calibrated-<family>"`` or ``"measured-<family>"``."""
        if self.measure is not None:
            return f"measured-{self.calibration or 'xc7'}"
        return f"calibrated-{self.calibration}" if self.calibration else "finn"


DEFAULT_PARAMS = CostParams()


def bram18_count(width_bits: int, depth: int) -> int:
    """RAMB18 primitives for a ``width_bits x depth`` memory: the best of the six SDP aspect ratios."""
    if width_bits <= 0 or depth <= 0:
        return 0
    return min(math.ceil(width_bits / w) * math.ceil(depth / d) for w, d in RAMB18_ASPECTS)


def uses_dsp(u: MVU, params: CostParams = DEFAULT_PARAMS) -> bool:
    """Whether the unit's multipliers map to DSP slices (see the module docstring)."""
    if u.xnor or params.res_type == "lut":
        return False
    if params.res_type == "dsp":
        return True
    return min(u.weight_bits, u.in_bits) >= params.dsp_min_bits


@dataclass(frozen=True)
class LayerCost:
    """Cost of one folded unit; ``lut_*`` are the terms of the FINN-R sum (before ``c0``, ``c1``)."""

    name: str
    kind: str
    pe: int
    simd: int
    mh: int
    mw: int
    pixels: int
    cycles: int
    weight_bits: int
    in_bits: int
    acc_bits: int
    out_bits: int | None
    n_thresholds: int
    wmem_depth: int
    wmem_width: int
    weight_ram: str
    lut: int
    bram18: int
    dsp: int
    lut_mult: int
    lut_adder: int
    lut_acc: int
    lut_thr: int
    lut_comp: int
    lut_wmem: int
    ff: int | None = None  # flip-flops (calibrated or measured; FINN-R has none)
    model: str = "finn"  # which model gave lut / ff (CostParams.model)
    lut_window: int = 0  # of lut: a convolution's window generator (calibrated; FINN-R: not counted)
    ff_window: int = 0  # of ff: the same

    def to_dict(self) -> dict:
        return asdict(self)


def _weight_ram(u: MVU, depth: int, params: CostParams) -> str:
    if params.weight_ram == "auto":
        return "distributed" if depth <= params.lutram_max_depth else "block"
    return params.weight_ram


def layer_cost(u: MVU, pe: int, simd: int, params: CostParams = DEFAULT_PARAMS) -> LayerCost:
    """FINN-R LUT / BRAM18 / DSP estimate and cycles of unit ``u`` at ``(pe, simd)`` (assumed legal)."""
    w, a, q = u.weight_bits, u.in_bits, simd
    dsp_mapped = uses_dsp(u, params)
    if u.xnor:
        mult = q  # one XNOR per lane
    elif dsp_mapped:
        mult = 0
    else:
        mult = q * (2 * math.ceil((w + a) / 6) - 1) * (w + a)
    adder = (w + a) * (2 * q - 1)
    acc = u.acc_bits
    tmem = u.mh // pe
    thr = u.n_thresholds * acc * math.ceil(tmem / LUTRAM_DEPTH)
    comp = u.n_thresholds * acc
    depth = (u.mh * u.mw) // (pe * simd)
    width = pe * simd * w
    ram = _weight_ram(u, depth, params)
    wmem_lut = width * math.ceil(depth / LUTRAM_DEPTH) if ram == "distributed" else 0
    bram = bram18_count(width, depth) if ram == "block" else 0
    # exact decimal arithmetic, rounded up: 1.1 * 1000 is 1100, not 1100.0000000000002
    lut = Fraction(str(params.c0)) + Fraction(str(params.c1)) * pe * (mult + adder + acc + thr + comp) + wmem_lut
    dsp = pe * simd * math.ceil((w + a) / 48) if dsp_mapped else 0
    lut, ff, model = math.ceil(lut), None, params.model
    got = params.measure(u, pe, simd, ram) if params.measure is not None else None
    if got is not None:
        lut, ff, bram, dsp = (int(got[k]) for k in ("lut", "ff", "bram18", "dsp"))
    elif params.calibration is not None:  # also a unit the measurement leaves out (None)
        lut, ff = calibrated_cost(u, pe, simd, ram, params.calibration)
        model = f"calibrated-{params.calibration}"
    lut_window = ff_window = 0
    if params.calibration is not None and u.in_channels:  # measured or not, the window is estimated
        lut_window, ff_window = calibrated_window(u, simd, params.calibration)
        lut, ff = lut + lut_window, (ff or 0) + ff_window
    return LayerCost(
        name=u.name,
        kind=u.kind,
        pe=pe,
        simd=simd,
        mh=u.mh,
        mw=u.mw,
        pixels=u.pixels,
        cycles=unit_cycles(u, pe, simd),
        weight_bits=w,
        in_bits=a,
        acc_bits=acc,
        out_bits=u.out_bits,
        n_thresholds=u.n_thresholds,
        wmem_depth=depth,
        wmem_width=width,
        weight_ram=ram,
        lut=lut,
        bram18=bram,
        dsp=dsp,
        lut_mult=mult,
        lut_adder=adder,
        lut_acc=acc,
        lut_thr=thr,
        lut_comp=comp,
        lut_wmem=wmem_lut,
        ff=ff,
        model=model,
        lut_window=lut_window,
        ff_window=ff_window,
    )


@dataclass(frozen=True)
class NetworkCost:
    """The cost of a folded pipeline: per-unit costs plus throughput, latency and totals."""

    layers: tuple[LayerCost, ...]
    clock_mhz: float = 100.0
    family: str = "xilinx"  # whose LUTs these are (CostParams.family): the devices it is compared with

    @property
    def max_cycles(self) -> int:
        """Initiation interval: the slowest unit's cycles per frame."""
        return max((c.cycles for c in self.layers), default=0)

    @property
    def bottleneck(self) -> str | None:
        return max(self.layers, key=lambda c: c.cycles).name if self.layers else None

    @property
    def latency_cycles(self) -> int:
        """First-order latency: the sum of the units' cycles (see the module docstring)."""
        return sum(c.cycles for c in self.layers)

    @property
    def fps(self) -> float:
        return self.clock_mhz * 1e6 / self.max_cycles if self.max_cycles else math.inf

    @property
    def latency_us(self) -> float:
        return self.latency_cycles / self.clock_mhz

    @property
    def lut(self) -> int:
        return sum(c.lut for c in self.layers)

    @property
    def bram18(self) -> int:
        return sum(c.bram18 for c in self.layers)

    @property
    def dsp(self) -> int:
        return sum(c.dsp for c in self.layers)

    @property
    def uram(self) -> int:
        return 0  # not modelled: weights go to BRAM18 or LUTRAM

    @property
    def ff(self) -> int | None:
        """Flip-flops, where every unit's are known (calibrated or measured), else ``None``."""
        ffs = [c.ff for c in self.layers]
        return None if not ffs or None in ffs else sum(ffs)

    @property
    def model(self) -> str:
        """The cost model of the units (``finn``, ``calibrated-xc7``, ...; ``mixed`` if they differ)."""
        models = {c.model for c in self.layers}
        return models.pop() if len(models) == 1 else ("mixed" if models else "finn")

    @property
    def folding(self) -> dict[str, dict[str, int]]:
        return {c.name: {"PE": c.pe, "SIMD": c.simd} for c in self.layers}

    def rows(self) -> list[dict]:
        """One dict per unit (for tables and CSV)."""
        return [c.to_dict() for c in self.layers]

    def to_dict(self) -> dict:
        """JSON-ready summary and per-unit rows."""
        return {
            "clock_mhz": self.clock_mhz,
            "max_cycles": self.max_cycles,
            "bottleneck": self.bottleneck,
            "latency_cycles": self.latency_cycles,
            "fps": self.fps,
            "latency_us": self.latency_us,
            "lut": self.lut,
            "bram18": self.bram18,
            "dsp": self.dsp,
            "uram": self.uram,
            "ff": self.ff,
            "model": self.model,
            "family": self.family,
            "folding": self.folding,
            "layers": self.rows(),
        }

    def table(self) -> str:
        """Plain-text table: one line per unit and a total line."""
        hdr = (
            f"{'layer':10s} {'kind':10s} {'MH':>5s} {'MW':>5s} {'pix':>4s} {'PE':>4s} {'SIMD':>5s} {'cycles':>9s} "
            f"{'W/A/acc':>8s} {'LUT':>8s} {'BRAM18':>6s} {'DSP':>4s}"
        )
        out = [hdr, "-" * len(hdr)]
        for c in self.layers:
            bits = f"{c.weight_bits}/{c.in_bits}/{c.acc_bits}"
            out.append(
                f"{c.name:10s} {c.kind:10s} {c.mh:5d} {c.mw:5d} {c.pixels:4d} {c.pe:4d} {c.simd:5d} {c.cycles:9d} "
                f"{bits:>8s} {c.lut:8d} {c.bram18:6d} {c.dsp:4d}"
            )
        out.append("-" * len(hdr))
        out.append(
            f"{'total':10s} {'':10s} {'':5s} {'':5s} {'':4s} {'':4s} {'':5s} {self.max_cycles:9d} {'':8s} "
            f"{self.lut:8d} {self.bram18:6d} {self.dsp:4d}"
        )
        if self.ff is not None:
            out.append(f"{self.model} model: {self.lut:,} LUT, {self.ff:,} FF")
        out.append(
            f"II {self.max_cycles} cycles (bottleneck {self.bottleneck}) -> {self.fps:,.0f} FPS "
            f"at {self.clock_mhz:g} MHz; "
            f"latency ~ {self.latency_cycles} cycles = {self.latency_us:.2f} us (sum over units, first order)"
        )
        return "\n".join(out)


def network_cost(
    layers: list[MVU], folding: dict | None = None, clock_mhz: float = 100.0, params: CostParams = DEFAULT_PARAMS
) -> NetworkCost:
    """Cost of the pipeline of ``layers`` under ``folding`` (checked; units left out are fully parallel)."""
    if clock_mhz <= 0:
        raise FoldingError(f"cost model: clock must be positive, got {clock_mhz} MHz")
    full = check_folding(layers, folding)
    return NetworkCost(
        tuple(layer_cost(u, full[u.name]["PE"], full[u.name]["SIMD"], params) for u in layers),
        clock_mhz,
        params.family,
    )

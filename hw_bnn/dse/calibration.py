"""The calibrated cost model: LUTs and flip-flops of a matrix unit, fitted to Yosys synthesis.

FINN-R's LUT formula (:mod:`hw_bnn.dse.cost`) has two constants for every unit of every
network on one family of FPGAs.  Here a sum of the same kind has a coefficient per term, fitted
to what Yosys makes of hw-bnn's own RTL kernel (``rtl/hwbnn_mvu.sv``, :mod:`hw_bnn.synth.calibrate`),
per FPGA family (``xc7``: LUT6, ``synth_xilinx -family xc7``, hierarchy kept as ``hw-bnn synth``
keeps it; ``ecp5``: LUT4, ``synth_ecp5``, flattened) and per kind of unit (``xnor``:
XNOR-popcount; ``int``: integer products).

With ``P = PE``, ``Q = SIMD``, ``NF = MH / P``, ``SF = MW / Q``, ``D = NF * SF`` words of weight
memory, ``A`` input bits, ``W`` weight bits as the kernel stores them (XNOR: 1; integer: two's
complement, at least 2), ``acc`` accumulator bits, ``L`` thresholds per channel, and ``R`` the
words one LUT holds as a logic ROM (64 for a LUT6, 16 for a LUT4)::

    LUT = a_one + a_lanes * lanes + a_lanes_blk * lanes_blk + a_acc * P * acc + a_thr * thr
          + a_wmem * wmem + a_ibuf * ibuf
    FF  = b_one + b_lanes * lanes + b_acc * P * acc + b_treg * treg + b_wreg * wreg + b_xreg * xreg
          + b_breg * breg

* ``lanes``: the datapath, ``P * Q`` XNOR-popcount bits (an XNOR unit) or ``P * Q * (W + A)`` for
  the shifted-add products and their adder tree (an integer unit; FINN-R's ``mult + adder`` is
  proportional to ``Q * (W + A)`` at these widths).
* ``lanes_blk``: ``lanes`` again where the weights sit in block RAM, else 0.  Measured, not
  derived: the datapath behind a block RAM's output port costs more than behind a logic ROM,
  whose last LUT level synthesis can merge with the XNORs and partial products (most on ECP5,
  which flattens the unit).
* ``P * acc``: the accumulator's adder and registers, and the output (FIFO) per lane.
* ``thr = P * L * acc * (1 + ceil(NF / R))``: FINN-R's ``comp + thr``, the comparators and the
  threshold memory of ``NF`` words.
* ``wmem``: the weight ROM in logic (``weight_ram == "distributed"``; block RAM costs no LUT): each
  of its ``P * Q * W`` output bits is a function of the ``D``-word address, ``ceil(D / R)`` LUTs
  (one LUT6 up to 64 words, two and a MUXF7 up to 128, ...).  Synthesis builds each distinct
  function once, so the bits are counted as the distinct non-constant columns that ``P * Q * W``
  random bit columns of ``D`` words give on average, ``(2**D - 2) * (1 - (1 - 2**-D) ** (P*Q*W))``
  (all of them for a deep memory; none for ``D = 1``, whose weights are constants).
* ``ibuf``: the input buffer the unit re-reads for its neuron folds (``NF > 1``; else 0): the
  multiplexer between the input and the buffer, ``Q * A`` LUTs, and the buffer of ``SF`` words:
  on xc7 distributed RAM, ``Q * A * ceil(SF / 32)`` more (RAM32M holds 32 x 6 bits in 4 LUTs; a
  single word, ``SF = 1``, is a register); on ECP5 the RAM (TRELLIS_DPR16X4) is no LUT4 of the
  count, only its read multiplexers beyond 16 words are: ``Q * A * ceil(SF / 16)`` in all.
* FF: ``lanes`` the pipeline registers of the first-stage sums and the adder tree, ``P * acc`` the
  accumulators, ``treg = P * L * acc`` (where ``NF > 1``) the register of the threshold memory,
  ``wreg`` the register behind a weight ROM in logic (its distinct non-constant bits, as for
  ``wmem``; a block RAM registers its own output), ``xreg = Q * A`` the input register (twice
  that where the input buffer is a single word, ``SF = 1`` and ``NF > 1``: a register too),
  ``breg`` the registers behind a block RAM weight memory (``hwbnn_rom``): its output register of
  ``P * Q * W`` bits, and where the memory is banked (deeper than one block RAM at its width) one
  more per bank and a third input stage, ``P * Q * W * (1 + banks) + Q * A``.

``wmem``, ``ibuf`` (LUT) and ``xreg`` (FF) are the same hardware in both kinds of unit: their
coefficients are shared between the kinds of a family; every other coefficient is per kind.

**Window generators** (``rtl/hwbnn_window.sv``, kind ``window``): a convolution's unit also
has its sliding window, whose LUTs and FFs are a sum of their own, fitted to windows synthesized
alone (:data:`hw_bnn.synth.calibrate.WINDOWS`).  With ``C`` input channels of ``A`` bits, a
``K x K`` window (``MW = K * K * C`` values), an image ``W`` pixels wide (square), ``Q = SIMD``
codes per output beat, and ``D = 3 * ceil(W / K)`` words per line-buffer bank (``K * K`` banks)::

    LUT = c_one + c_pixel * pixel + c_select * select + c_rotate * rotate + c_buffer * buffer
    FF  = d_one + d_pixel * pixel + d_window * window + d_beat * beat

* ``pixel = C * A``: a pixel, the line buffer's word (its assembly from the input beats, its pad
  code, the write ports);
* ``window = MW * A``: the window register; ``select`` is ``window`` where ``Q`` divides ``C``
  (a multiplexer over the window's ``MW / Q`` parts), ``rotate`` is ``window`` where it does not
  (the banks' pixels are first rotated into window order, then a multiplexer);
* ``buffer``: the line buffer as distributed RAM: on xc7 the LUTs of its RAM32M (64-word RAM64M
  beyond 32 words) ``K * K * 4 * ceil(pixel / 6)`` (``/ 3``) ``* ceil(D / 64)``; on ECP5, whose
  TRELLIS_DPR16X4 is no LUT4 of the count, the read multiplexers beyond 16 words,
  ``K * K * pixel * (ceil(D / 16) - 1)``;
* ``beat = Q * A``: the output register.

Pooling windows (max pooling is not a matrix unit) are not counted.

Each term is an integer; a coefficient is a decimal number (``calibration.json``), and the sum is
computed exactly (``Fraction``) and rounded up, as the FINN-R model does.  Block RAM and DSPs
stay FINN-R's (:func:`hw_bnn.dse.cost.bram18_count`: on xc7 every unit of the set uses exactly
the RAMB18 count it gives; on ECP5 Yosys puts another memory of a few units, a threshold memory
or an input buffer, into a DP16KD too: one more on three small units, four more on one of 50).

The coefficients, the date, the Yosys version and the training and held-out errors of the fit are
data: ``hw_bnn/dse/calibration.json``, written by ``benchmarks/calibrate_cost.py`` with
:func:`fit_calibration` (non-negative least squares on relative errors) from measurements
(:mod:`hw_bnn.synth.calibrate`).
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np

from hw_bnn.dse.units import MVU
from hw_bnn.errors import FoldingError
from hw_bnn.rtl.units import weight_banks

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
FAMILIES = ("xc7", "ecp5")
KINDS = ("xnor", "int")
LUT_TERMS = ("one", "lanes", "lanes_blk", "acc", "thr", "wmem", "ibuf")
FF_TERMS = ("one", "lanes", "acc", "treg", "wreg", "xreg", "breg")
SHARED = {"lut": ("wmem", "ibuf"), "ff": ("xreg",)}  # one coefficient for both kinds of a family
WINDOW = "window"  # the kind of a window generator's coefficients
WINDOW_LUT_TERMS = ("one", "pixel", "select", "rotate", "buffer")
WINDOW_FF_TERMS = ("one", "pixel", "window", "beat")
ROM_WORDS = {"xc7": 64, "ecp5": 16}  # words of a logic ROM per LUT (LUT6, LUT4)


def kind_of(u: MVU) -> str:
    """``"xnor"`` or ``"int"``: which coefficients a unit takes."""
    return "xnor" if u.xnor else "int"


def kernel_weight_bits(u: MVU) -> int:
    """Weight bits as the RTL kernel stores them: 1 for XNOR, two's complement (>= 2) for integers."""
    return 1 if u.xnor else max(2, u.weight_bits)


def distinct_columns(width: int, depth: int) -> int:
    """The expected number of distinct non-constant columns among ``width`` random bit columns of
    ``depth`` words (rounded; ``width`` itself where that is smaller or the memory is deep)."""
    if depth <= 1:
        return 0
    if depth >= 24:
        return width
    n = 2.0**depth
    return min(width, round((n - 2.0) * -math.expm1(width * math.log1p(-1.0 / n))))


def terms(u: MVU, pe: int, simd: int, weight_ram: str, family: str) -> dict[str, int]:
    """Every term of the LUT and FF sums of unit ``u`` at ``(pe, simd)`` on ``family`` (integers)."""
    if family not in ROM_WORDS:
        raise FoldingError(f"cost model: no calibration for family {family!r} (one of {', '.join(FAMILIES)})")
    w, a, acc = kernel_weight_bits(u), u.in_bits, u.acc_bits
    nf, sf = u.mh // pe, u.mw // simd
    depth = nf * sf
    r = ROM_WORDS[family]
    logic_rom = weight_ram == "distributed"
    bits = distinct_columns(pe * simd * w, depth) if logic_rom else 0
    lanes = pe * simd * (1 if u.xnor else w + a)
    ibuf = 0  # the input buffer: only a unit with several neuron folds re-reads its input
    if nf > 1 and family == "xc7":
        ibuf = simd * a * (1 + (math.ceil(sf / 32) if sf > 1 else 0))
    elif nf > 1:
        ibuf = simd * a * math.ceil(sf / 16)
    return {
        "one": 1,
        "lanes": lanes,
        "lanes_blk": 0 if logic_rom else lanes,
        "acc": pe * acc,
        "thr": pe * u.n_thresholds * acc * (1 + math.ceil(nf / r)),
        "wmem": bits * math.ceil(depth / r),
        "ibuf": ibuf,
        "treg": pe * u.n_thresholds * acc if nf > 1 else 0,
        "wreg": bits,
        "xreg": simd * a * (2 if nf > 1 and sf == 1 else 1),
        "breg": 0 if logic_rom else _block_registers(pe * simd * w, depth, simd * a),
    }


def window_terms(u: MVU, simd: int, family: str) -> dict[str, int]:
    """Every term of the LUT and FF sums of the window generator of convolution ``u`` giving
    ``simd`` codes per beat on ``family`` (integers; the module docstring's)."""
    if family not in ROM_WORDS:
        raise FoldingError(f"cost model: no calibration for family {family!r} (one of {', '.join(FAMILIES)})")
    if not u.in_channels:
        raise FoldingError(f"layer {u.name!r}: a dense unit has no window generator")
    c, a = u.in_channels, u.in_bits
    k, width = math.isqrt(u.mw // c), math.isqrt(u.in_pixels)
    pixel, window, depth = c * a, u.mw * a, 3 * math.ceil(width / k)
    if family == "xc7":
        buffer = k * k * 4 * math.ceil(pixel / (6 if depth <= 32 else 3)) * math.ceil(depth / 64)
    else:
        buffer = k * k * pixel * (math.ceil(depth / 16) - 1)
    within = c % simd == 0
    return {
        "one": 1,
        "pixel": pixel,
        "select": window if within else 0,
        "rotate": 0 if within else window,
        "buffer": buffer,
        "window": window,
        "beat": simd * a,
    }


def _block_registers(width: int, depth: int, input_bits: int) -> int:
    """The FFs behind a block RAM weight memory of ``depth`` x ``width`` (the ``breg`` term)."""
    banks, _ = weight_banks(depth, width, "block")
    return width + (banks * width + input_bits if banks > 1 else 0)


def combine(coefficients: dict, values: dict[str, int]) -> int:
    """``ceil(sum coefficient * term)``, exact (decimal coefficients as fractions), at least 0."""
    total = sum((Fraction(str(c)) * values[k] for k, c in coefficients.items()), Fraction(0))
    return max(0, math.ceil(total))


@lru_cache(maxsize=8)
def _load(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise FoldingError(f"cost model: cannot read the calibration {path}: {e}") from e


def load_calibration(path=None) -> dict:
    """The calibration document (``hw_bnn/dse/calibration.json`` unless ``path``)."""
    return _load(str(path or CALIBRATION_FILE))


def coefficients(family: str, kind: str, path=None) -> dict:
    """``{"lut": {term: coefficient}, "ff": {...}}`` of one family and kind."""
    doc = load_calibration(path)
    try:
        return doc["families"][family]["kinds"][kind]
    except KeyError:
        known = ", ".join(doc.get("families", {}))
        raise FoldingError(f"cost model: no calibration for {family!r} / {kind!r} (families: {known})") from None


def calibrated_cost(u: MVU, pe: int, simd: int, weight_ram: str, family: str, path=None) -> tuple[int, int]:
    """The calibrated ``(LUT, FF)`` of unit ``u`` at ``(pe, simd)`` with its weights in ``weight_ram``."""
    coef = coefficients(family, kind_of(u), path)
    values = terms(u, pe, simd, weight_ram, family)
    return combine(coef["lut"], values), combine(coef["ff"], values)


def calibrated_window(u: MVU, simd: int, family: str, path=None) -> tuple[int, int]:
    """The calibrated ``(LUT, FF)`` of the window generator of convolution ``u`` at ``simd``."""
    coef = coefficients(family, WINDOW, path)
    values = window_terms(u, simd, family)
    return combine(coef["lut"], values), combine(coef["ff"], values)


# --------------------------------------------------------------------------------------
# fitting (benchmarks/calibrate_cost.py)


def nnls(a: np.ndarray, b: np.ndarray, iters: int = 500) -> np.ndarray:
    """Non-negative least squares ``min |a x - b|, x >= 0`` (Lawson and Hanson's active set)."""
    m, n = a.shape
    x = np.zeros(n)
    free = np.zeros(n, dtype=bool)
    for _ in range(iters):
        grad = a.T @ (b - a @ x)
        if free.all() or grad[~free].max(initial=-np.inf) <= 1e-10 * max(1.0, np.abs(grad).max()):
            break
        free[np.argmax(np.where(free, -np.inf, grad))] = True
        while True:
            z = np.zeros(n)
            z[free] = np.linalg.lstsq(a[:, free], b, rcond=None)[0]
            if (z[free] > 0).all():
                x = z
                break
            neg = free & (z <= 0)
            step = np.min(x[neg] / (x[neg] - z[neg]))
            x = x + step * (z - x)
            free &= x > 1e-12
    return x


def _round(v: float, digits: int = 4) -> float:
    return float(f"{v:.{digits}g}") if v else 0.0


def record_unit(rec: dict) -> MVU:
    """The :class:`MVU` of a measurement record (``rec["mvu"]``: its fields)."""
    return MVU(**rec["mvu"])


def record_kind(rec: dict) -> str:
    """A record's kind of coefficients: ``window`` (a window generator) or its unit's."""
    return rec.get("kind") or kind_of(record_unit(rec))


def record_terms(rec: dict, family: str) -> dict[str, int]:
    if record_kind(rec) == WINDOW:
        return window_terms(record_unit(rec), rec["simd"], family)
    return terms(record_unit(rec), rec["pe"], rec["simd"], rec["weight_ram"], family)


def fit_terms(records: list[dict], family: str, what: str) -> dict[str, dict[str, float]]:
    """Non-negative coefficients of the ``what`` terms (``"lut"``: :data:`LUT_TERMS` against the
    measured ``lut_total``; ``"ff"``: :data:`FF_TERMS` against ``ff``), one set per kind, those
    of :data:`SHARED` common to the kinds, that minimize the squared relative error over
    ``records``; rounded to 4 significant digits.  ``{kind: {term: coefficient}}``."""
    names = LUT_TERMS if what == "lut" else FF_TERMS
    measured = "lut_total" if what == "lut" else "ff"
    shared = SHARED[what]
    cols = [(kind, n) for kind in KINDS for n in names if n not in shared] + [(None, n) for n in shared]
    rows, y = [], []
    for r in records:
        t, kind = record_terms(r, family), record_kind(r)
        rows.append([t[n] if k in (None, kind) else 0 for k, n in cols])
        y.append(r["measured"][measured])
    a, b = np.array(rows, dtype=float), np.array(y, dtype=float)
    scale = 1.0 / np.maximum(b, 1.0)
    x = nnls(a * scale[:, None], b * scale)
    got = {k: v for k, v in zip(cols, x)}
    return {kind: {n: _round(got.get((kind, n), got.get((None, n), 0.0))) for n in names} for kind in KINDS}


def fit_window_terms(records: list[dict], family: str, what: str) -> dict[str, float]:
    """Non-negative coefficients of the window's ``what`` terms (:data:`WINDOW_LUT_TERMS` or
    :data:`WINDOW_FF_TERMS`) minimizing the squared relative error over window ``records``."""
    names = WINDOW_LUT_TERMS if what == "lut" else WINDOW_FF_TERMS
    measured = "lut_total" if what == "lut" else "ff"
    a = np.array([[record_terms(r, family)[n] for n in names] for r in records], dtype=float)
    b = np.array([r["measured"][measured] for r in records], dtype=float)
    scale = 1.0 / np.maximum(b, 1.0)
    x = nnls(a * scale[:, None], b * scale)
    return {n: _round(v) for n, v in zip(names, x)}


def ape(estimate: int, measured: int) -> float:
    """Absolute percentage error of an estimate against a measurement."""
    return 100.0 * abs(estimate - measured) / max(1, measured)


def error_summary(pairs: list[tuple[int, int]]) -> dict:
    """``{"n", "mape", "max_ape"}`` of ``(estimate, measured)`` pairs (percent)."""
    errs = [ape(e, m) for e, m in pairs]
    return {
        "n": len(errs),
        "mape": round(float(np.mean(errs)), 2) if errs else None,
        "max_ape": round(max(errs), 2) if errs else None,
    }


def record_estimate(rec: dict, family: str, coef: dict) -> dict[str, int]:
    """The calibrated ``lut`` and ``ff`` of a measurement record under coefficients ``coef``."""
    values = record_terms(rec, family)
    return {"lut": combine(coef["lut"], values), "ff": combine(coef["ff"], values)}


def fit_calibration(records: list[dict], family_of_target: dict[str, str] | None = None) -> dict:
    """Fit each family of ``records`` on its training records (``held_out`` false):
    ``{family: {kind: {"lut": coefficients, "ff": coefficients, "errors": ...}}}``, the errors
    (``lut`` against ``lut_total``, ``ff``) on the kind's training and held-out records."""
    family_of_target = family_of_target or {f: f for f in FAMILIES}
    out: dict = {}
    for target, family in family_of_target.items():
        rs = [r for r in records if r["target"] == target]
        train = [r for r in rs if not r["held_out"] and record_kind(r) != WINDOW]
        if not train:
            continue
        lut, ff = fit_terms(train, family, "lut"), fit_terms(train, family, "ff")
        windows = [r for r in rs if not r["held_out"] and record_kind(r) == WINDOW]
        if windows:
            lut[WINDOW], ff[WINDOW] = (fit_window_terms(windows, family, what) for what in ("lut", "ff"))
        for kind in lut:
            coef = {"lut": lut[kind], "ff": ff[kind]}
            mine = [r for r in rs if record_kind(r) == kind]
            errors = {}
            for what, measured in (("lut", "lut_total"), ("ff", "ff")):
                errors[what] = {
                    part: error_summary(
                        [(record_estimate(r, family, coef)[what], r["measured"][measured]) for r in group]
                    )
                    for part, group in (
                        ("train", [r for r in mine if not r["held_out"]]),
                        ("held_out", [r for r in mine if r["held_out"]]),
                    )
                }
            out.setdefault(family, {})[kind] = {**coef, "errors": errors}
    return out

"""hw-bnn layers for hls4ml, registered through hls4ml's extension API.

Eight hls4ml layer classes mirror the golden model (``hw_bnn.ir``):

``HwBnnThreshold``  elementwise multi-threshold ``y[c] = sum_k [x[c] >= T[c or 0, k]]`` (vectors,
                    or NHWC pixel streams with per-channel thresholds); channels flagged in the
                    golden layer's ``negate`` compare ``-x`` (``multithreshold_neg``)
``HwBnnXnorDense``  XNOR-popcount dense, with fused thresholds (codes ``0..L``) or, without
                    thresholds, the signed accumulator ``2 p - MW``
``HwBnnIntDense``   integer dense ``a = x @ W`` on codes, thresholds on ``a`` or ``a`` itself
``HwBnnConv``       k x k line-buffer sliding window (stride, symmetric padding with a pad code)
                    + XNOR-popcount (packed words) or integer MVU, thresholds or accumulators
``HwBnnMaxPool``    max pooling of codes (OR of bits) over a pixel stream
``HwBnnFlatten``    pixel stream -> one (h, w, c)-ordered vector for a dense layer
``HwBnnFixedChain`` per-channel piecewise-linear function into fixed point (BatchNorm / RPReLU /
                    PReLU of ReActNet-style networks), computed with ``ap_fixed`` types: the exact
                    wide value is assigned to ``ap_fixed<width, width - frac, Q, O>`` so that the
                    quantization mode Q (AP_RND_CONV / AP_RND / AP_TRN) and the overflow mode O
                    (AP_SAT / AP_WRAP) are ap_fixed's own
``HwBnnFixedAdd``   the shortcut add of two fixed-point tensors (two input streams, same frac),
                    ``y = a + b`` assigned to ``ap_fixed<width, width - frac, AP_TRN, O>``

Fixed-point tensors travel between layers as their integer *codes* (``ap_int<width>``; a code ``y``
of a tensor with ``frac`` fraction bits stands for ``y * 2**-frac``), exactly what ``hw_bnn.ir``
calls the code: thresholds, max pooling, the C-sim bridge and the trace all see integers.  The
fixed-point kernels place the code's bits into an ``ap_fixed`` with ``frac`` fraction bits, compute
with ap_fixed and put the raw bits of the result back on the stream (no arithmetic: wires).

``register()`` adds them to hls4ml for the ``Vivado`` and ``Vitis`` backends: the layer classes
(``hls4ml.model.layers.register_layer``), a config and a function-call template per layer
(``backend.register_template``) and the HLS header ``hls/hw_bnn_layers.h``
(``backend.register_source``).  No hls4ml pass is needed: every width is computed when the
layer is created, from the precision of its input variable (narrowed by the ``in_hi`` attribute
that ``hw_bnn.hls4ml_ext.emit`` passes: the largest code the previous layer makes) and from its data.
hls4ml is neither forked nor patched, and none of its binary/XNOR passes is used (they match
hls4ml's Dense layers only).

Folding.  The matrix-vector layers (``HwBnnXnorDense``, ``HwBnnIntDense``, ``HwBnnConv``: MW
inputs, MH outputs; a conv has MW = kernel * kernel * C_in and MH = C_out per output pixel) fold
FINN-style by PE (outputs in parallel) and SIMD (inputs in parallel): ``nf = ceil(MH / PE)``
neuron folds of ``sf = MW / SIMD`` synapse folds, ``nf * sf`` II=1 steps per vector (per output
pixel for a conv).  PE and SIMD are per-layer configurable attributes ``pe`` / ``simd``: in the
HLS config they are the ``LayerName`` keys ``Pe`` / ``Simd`` (hls4ml's spelling of those
attribute names), which ``hw_bnn.hls4ml_ext.emit`` writes from its ``folding`` argument together with
``ReuseFactor = nf * sf`` (hls4ml's bookkeeping; the kernels read ``pe`` / ``simd`` from the
config struct).  A layer with only one of them is fully parallel in the other (PE = MH or
SIMD = MW).  A layer with neither folds by its ReuseFactor as before: ``PE = ceil(MH / RF)``,
``SIMD = MW`` (the last neuron fold may then have idle PEs, whose weight rows are zero).  SIMD
must divide MW (for a conv any divisor of kernel * kernel * C_in: the window is one flat vector);
an explicit PE must divide MH.  The weight memory is laid out for the folding
(``mvu_weight_memory``): one ``PE * SIMD``-wide word per (neuron fold, synapse fold) step, XNOR
bits packed into words of ``min(SIMD, 32)`` bits.  The multi-threshold layer keeps its ReuseFactor
folding over channels (``fold``).

Graphs: a layer may read several tensors (``inputs`` in hls4ml's layer list, from the golden
layers' ``inputs``).  In ``io_stream`` a tensor read by several layers is duplicated by hls4ml's
own ``clone_output`` pass (it matches any layer, ours included, and inserts an ``nnet::clone_stream``
node with up to 7 copies); ``HwBnnFixedAdd`` merges two streams.

Registration is idempotent: calling ``register()`` twice (or with another header folder, which
then replaces the registered source) is safe.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from hw_bnn.errors import EmitError
from hw_bnn.ir import OVERFLOW_MODES, ROUNDING_MODES, bits_for_range
from hw_bnn.resources import hls_kernels_dir

HEADER_NAME = "hw_bnn_layers.h"
HLS_DIR_ENV = "HW_BNN_HLS_DIR"
BACKENDS = ("Vivado", "Vitis")
INCLUDE = f"nnet_utils/{HEADER_NAME}"
CPP_NAMESPACE = "hw_bnn_hls"  # namespace of the kernels in hw_bnn_layers.h


THRESHOLD_KIND = "HwBnnThreshold"
XNOR_DENSE_KIND = "HwBnnXnorDense"
INT_DENSE_KIND = "HwBnnIntDense"
CONV_KIND = "HwBnnConv"
MAXPOOL_KIND = "HwBnnMaxPool"
FLATTEN_KIND = "HwBnnFlatten"
FIXED_CHAIN_KIND = "HwBnnFixedChain"
FIXED_ADD_KIND = "HwBnnFixedAdd"
CONCAT_KIND = "HwBnnConcat"
GOLDEN_INT_LIMIT = 2**62  # |intermediate| bound of the golden model's int64 emulation (with headroom)
MAX_SLOPE_FRAC = 62  # golden's ap_round_shift works on int64 shifts
XNOR_WORD_BITS = 32  # packed XNOR words (weights are written as text: values stay exact below 2**53)


# --------------------------------------------------------------------------------------------
# helpers shared with hw_bnn.hls4ml_ext.emit


def hls_dir(override: str | os.PathLike | None = None) -> Path:
    """Folder holding ``hw_bnn_layers.h``: ``override``, else ``$HW_BNN_HLS_DIR``, else the
    kernels shipped with the package (``hw_bnn.resources``)."""
    if override is not None:
        d = Path(override)
    elif os.environ.get(HLS_DIR_ENV):
        d = Path(os.environ[HLS_DIR_ENV])
    else:
        d = hls_kernels_dir()
    return d.expanduser().resolve()


def int_type_str(width: int, signed: bool) -> str:
    return f"ap_{'' if signed else 'u'}int<{int(width)}>"


def int_precision_str(lo: int, hi: int) -> str:
    """Smallest ap_(u)int holding [lo, hi], as an hls4ml precision string."""
    width, signed = bits_for_range(lo, hi)
    return int_type_str(width, signed)


def precision_range(precision) -> tuple[int, int]:
    """Integer range of an hls4ml IntegerPrecisionType (ap_int / ap_uint)."""
    from hls4ml.model.types import IntegerPrecisionType

    if not isinstance(precision, IntegerPrecisionType):
        raise TypeError(f"expected an integer precision (ap_int/ap_uint), got {precision}")
    w = int(precision.width)
    if precision.signed:
        return -(2 ** (w - 1)), 2 ** (w - 1) - 1
    return 0, 2**w - 1


def fold(n_units: int, reuse_factor: int) -> tuple[int, int]:
    """(n_pe, n_fold) for ``n_units`` parallel units under a ReuseFactor.

    ``n_pe = ceil(n_units / RF)`` units work in parallel; ``n_fold = ceil(n_units / n_pe) <= RF``
    sequential folds (an II=1 pipelined loop) cover all units.  The multi-threshold folds its
    channels so; a matrix-vector layer without PE / SIMD takes ``PE = n_pe`` (and ``SIMD = MW``).
    """
    rf = int(reuse_factor)
    if rf < 1:
        raise EmitError(f"ReuseFactor must be a positive integer, got {reuse_factor!r}")
    n_units = max(1, int(n_units))
    n_pe = math.ceil(n_units / rf)
    n_fold = math.ceil(n_units / n_pe)
    return n_pe, n_fold


def int_acc_range(weights, in_hi: int) -> tuple[int, int]:
    """Accumulator range of ``a = x @ W`` for codes ``x in [0, in_hi]`` (always contains 0)."""
    w = np.asarray(weights, dtype=np.int64) * max(0, int(in_hi))
    return int(np.minimum(w, 0).sum(axis=0).min(initial=0)), int(np.maximum(w, 0).sum(axis=0).max(initial=0))


def negated_range(lo: int, hi: int, negate) -> tuple[int, int]:
    """Range of the values a multithreshold compares: ``x in [lo, hi]``, or ``-x`` on the channels
    flagged in ``negate`` (None or all False: ``[lo, hi]``)."""
    if negate is None or not np.any(negate):
        return int(lo), int(hi)
    neg = np.asarray(negate, dtype=bool)
    parts = [(-int(hi), -int(lo))] + ([(int(lo), int(hi))] if not neg.all() else [])
    return min(p[0] for p in parts), max(p[1] for p in parts)


def signed_width(lo: int, hi: int) -> int:
    """Smallest two's-complement width holding [lo, hi] (signed even when lo >= 0)."""
    return bits_for_range(min(int(lo), -1), max(int(hi), 0))[0]


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
    from hw_bnn.ir import ap_overflow, ap_round_shift

    r = ap_round_shift(np.asarray([v_lo, v_hi], dtype=np.int64), int(shift), rounding)
    lo, hi = -(1 << (int(width) - 1)), (1 << (int(width) - 1)) - 1
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


def xnor_words(simd: int) -> tuple[int, int]:
    """(word_bits, chunk_words) of a packed XNOR slice of ``simd`` bits: bit i -> word i // B, bit i % B."""
    bits = max(1, min(int(simd), XNOR_WORD_BITS))
    return bits, math.ceil(int(simd) / bits)


def mvu_folds(mw: int, mh: int, pe: int, simd: int) -> tuple[int, int]:
    """(nf, sf): neuron folds ``ceil(MH / PE)`` and synapse folds ``MW / SIMD``."""
    return math.ceil(int(mh) / int(pe)), int(mw) // int(simd)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, int(n) + 1) if n % d == 0]


def check_mvu_folding(name: str, mw: int, mh: int, pe, simd, ragged_pe: bool = False, mw_what: str = "") -> None:
    """Raise ``EmitError`` naming the layer unless ``1 <= PE <= MH`` divides MH (any PE with
    ``ragged_pe``: the ReuseFactor folding) and ``1 <= SIMD <= MW`` divides MW.  ``mw_what`` says
    what MW counts (e.g. ``" = 3*3*8 (kernel*kernel*C_in)"``)."""
    for key, v, dim, n, what in (("PE", pe, "MH", mh, ""), ("SIMD", simd, "MW", mw, mw_what)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) < 1:
            raise EmitError(f"layer {name!r}: {key} must be a positive integer, got {v!r}")
        v, n = int(v), int(n)
        if v > n or (n % v and not (ragged_pe and key == "PE")):
            divs = _divisors(n)
            shown = ", ".join(map(str, divs[:24])) + (", ..." if len(divs) > 24 else "")
            why = f"exceeds {dim}={n}" if v > n else f"does not divide {dim}={n}"
            raise EmitError(f"layer {name!r}: {key}={v} {why}{what}; {key} must be a divisor of {dim}: {shown}")


def mvu_weight_memory(weights, pe: int, simd: int, xnor: bool) -> tuple[np.ndarray, int, int]:
    """Weights ``W (MW, MH)`` of a matrix-vector unit -> ``(memory, word_bits, chunk_words)``.

    ``memory[((n * sf + s) * PE + k) * chunk_words + q]`` is word ``q`` of the weights PE ``k``
    reads at neuron fold ``n``, synapse fold ``s``: the column ``j = n * PE + k`` over the rows
    ``s * SIMD .. s * SIMD + SIMD - 1``.  Integer: ``chunk_words = SIMD`` single weights.  XNOR:
    those SIMD bits packed into ``chunk_words`` words of ``word_bits = min(SIMD, 32)`` bits (row
    ``s * SIMD + q * word_bits + b`` -> bit ``b``; unused high bits 0).  Columns ``j >= MH`` (idle
    PEs of a ragged last neuron fold) are zero.  With ``SIMD = MW`` the integer layout is the
    neuron-major ``memory[j * MW + i] = W[i, j]``.
    """
    w = np.asarray(weights, dtype=np.int64)
    mw, mh = w.shape
    nf, sf = mvu_folds(mw, mh, pe, simd)
    wp = np.zeros((mw, nf * pe), dtype=np.int64)
    wp[:, :mh] = w
    t = wp.reshape(sf, simd, nf, pe).transpose(2, 0, 3, 1)  # (n, s, k, i)
    if not xnor:
        return np.ascontiguousarray(t).reshape(-1), 1, int(simd)
    bits, words = xnor_words(simd)
    padded = np.zeros((nf, sf, pe, words * bits), dtype=np.int64)
    padded[..., :simd] = t
    shifts = np.arange(bits, dtype=np.int64)
    packed = (padded.reshape(nf, sf, pe, words, bits) << shifts).sum(axis=-1)
    return np.ascontiguousarray(packed).reshape(-1), bits, words


# --------------------------------------------------------------------------------------------
# layer classes (built lazily so that importing this module does not import hls4ml)

_LAYER_CLASSES: dict[str, type] = {}


def _integer_precision(precision_cls, lo: int, hi: int):
    width, signed = bits_for_range(lo, hi)
    return precision_cls(width=width, signed=signed)


def _make_layer_classes() -> dict[str, type]:
    if _LAYER_CLASSES:
        return _LAYER_CLASSES

    from hls4ml.model.attributes import (
        Attribute,
        ConfigurableAttribute,
        TypeAttribute,
        WeightAttribute,
    )
    from hls4ml.model.layers import Layer
    from hls4ml.model.types import IntegerPrecisionType

    def _input_range(layer) -> tuple[int, int]:
        var = layer.get_input_variable()
        try:
            return precision_range(var.type.precision)
        except TypeError as e:
            raise EmitError(f"layer {layer.name!r}: {e}") from None

    def _mvu_attributes(*attributes) -> list:
        """Expected attributes of a matrix-vector layer: ``attributes``, then the level count, the
        ReuseFactor, PE and SIMD (``Pe`` / ``Simd`` in the HLS config) and the weights (thresholds
        are optional: ``thresholds_data``)."""
        return [
            *attributes,
            Attribute("n_levels"),
            ConfigurableAttribute("reuse_factor", default=1),
            ConfigurableAttribute("pe", description="outputs (rows) in parallel; divides MH"),
            ConfigurableAttribute("simd", description="inputs (columns) in parallel; divides MW"),
            WeightAttribute("weight"),
            TypeAttribute("weight"),
        ]

    def _mvu_folding(layer, mw: int, mh: int, mw_what: str = "") -> tuple[int, int]:
        """(PE, SIMD) of a matrix-vector layer, checked, with ``mw``, ``mh``, ``nf``, ``sf`` set: the
        ``pe`` / ``simd`` attributes (a missing one fully parallel), or with neither the ReuseFactor
        folding ``PE = ceil(MH / RF)``, ``SIMD = MW`` (ragged last neuron fold allowed)."""
        pe, simd = layer.get_attr("pe"), layer.get_attr("simd")
        from_rf = pe is None and simd is None
        if from_rf:
            pe, simd = fold(mh, layer.get_attr("reuse_factor", 1))[0], mw
        pe, simd = (mh if pe is None else pe), (mw if simd is None else simd)
        check_mvu_folding(layer.name, mw, mh, pe, simd, ragged_pe=from_rf, mw_what=mw_what)
        pe, simd = int(pe), int(simd)
        nf, sf = mvu_folds(mw, mh, pe, simd)
        for key, v in (("mw", mw), ("mh", mh), ("pe", pe), ("simd", simd), ("nf", nf), ("sf", sf)):
            layer.set_attr(key, int(v))
        return pe, simd

    def _add_mvu_weights(layer, w, xnor: bool) -> None:
        """The weight memory of a matrix-vector layer for its folding (``mvu_weight_memory``): packed
        XNOR words ``ap_uint<word_bits>`` or the smallest signed type of the integer weights."""
        mem, bits, words = mvu_weight_memory(w, layer.get_attr("pe"), layer.get_attr("simd"), xnor)
        layer.set_attr("word_bits", bits)
        layer.set_attr("chunk_words", words)
        layer.set_attr("word_type", int_type_str(bits, False))
        if xnor:
            prec = IntegerPrecisionType(width=bits, signed=False)
            _add_weights(layer, "weight", "wword{index}_t", prec, mem)
        else:
            prec = _integer_precision(IntegerPrecisionType, int(w.min(initial=0)), int(w.max(initial=0)))
            _add_weights(layer, "weight", "wint{index}_t", prec, mem)

    def _dense_shape(layer) -> tuple[int, int]:
        """(MW, MH) of a dense layer, checked against its input size."""
        mw, mh = int(layer.get_attr("n_in")), int(layer.get_attr("n_out"))
        n_in = int(np.prod(layer.get_input_variable().shape))
        if n_in != mw:
            raise EmitError(f"layer {layer.name!r}: fan-in MW={mw} but the input has {n_in} values")
        return mw, mh

    def _add_weights(layer, name: str, type_name: str, precision, data) -> None:
        layer.add_weights_variable(
            name=name, var_name=name[0] + "{index}", type_name=type_name, precision=precision, data=data
        )

    def _add_thresholds(layer, t, lo: int, hi: int, n_units: int, thr_range=None) -> int:
        """Thresholds ``(n_units, L)`` on a value in ``[lo, hi]``, clipped to ``[lo, hi + 1]``; typed by
        ``thr_range`` (default: the range of the clipped thresholds).  Returns L."""
        t = np.asarray(t, dtype=np.int64)
        if t.ndim != 2 or t.shape[0] != n_units or t.shape[1] < 1:
            raise EmitError(f"layer {layer.name!r}: thresholds must have shape ({n_units}, L>=1), got {t.shape}")
        # v in [lo, hi]: T <= lo is always on, T >= hi + 1 always off
        t = np.clip(t, lo, hi + 1)
        t_lo, t_hi = thr_range if thr_range is not None else (int(t.min()), int(t.max()))
        _add_weights(layer, "thresholds", "thr{index}_t", _integer_precision(IntegerPrecisionType, t_lo, t_hi), t)
        layer.set_attr("thr_width", bits_for_range(int(t.min()), int(t.max()))[0])
        return int(t.shape[1])

    def _add_mvu_output(layer, shape, cmp_range, acc_range, n_units: int, thr_range=None) -> None:
        """The output of a matrix-vector layer: codes ``0..L`` when it has thresholds (on a value in
        ``cmp_range``), else the accumulator (in ``acc_range``)."""
        t = layer.get_attr("thresholds_data")
        if t is None:
            levels, count_width, out_range = 0, 1, acc_range
        else:
            levels = _add_thresholds(layer, t, *cmp_range, n_units, thr_range)
            count_width, out_range = bits_for_range(0, levels)[0], (0, levels)
        layer.set_attr("n_levels", levels)
        layer.set_attr("count_width", count_width)
        layer.add_output_variable(list(shape), precision=_integer_precision(IntegerPrecisionType, *out_range))

    class HwBnnThreshold(Layer):
        """Elementwise multi-threshold on integer inputs (hw_bnn ThresholdLayer)."""

        _expected_attributes = [
            Attribute("n_in"),
            Attribute("n_levels"),
            Attribute("shared", value_type=bool),
            ConfigurableAttribute("reuse_factor", default=1),
            WeightAttribute("thresholds"),
            TypeAttribute("thresholds"),
        ]

        def initialize(self):
            inp = self.get_input_variable()
            n_in = int(np.prod(inp.shape))
            if n_in != int(self.get_attr("n_in")):
                raise EmitError(f"layer {self.name!r}: expects {self.get_attr('n_in')} inputs, gets {n_in}")
            lo, hi = _input_range(self)
            # images (H, W, C): input i is channel i % C; vectors: every input is its own channel
            n_chan = int(inp.shape[-1]) if len(inp.shape) > 1 else n_in
            if n_chan < 1 or n_in % n_chan:
                raise EmitError(f"layer {self.name!r}: {n_chan} channels do not divide {n_in} inputs")
            self.set_attr("n_chan", n_chan)
            t = np.asarray(self.get_attr("thresholds_data"), dtype=np.int64)
            if t.ndim != 2 or t.shape[1] < 1 or t.shape[0] not in (1, n_chan):
                raise EmitError(f"layer {self.name!r}: thresholds must have shape ({n_chan} or 1, L>=1), got {t.shape}")
            levels = int(t.shape[1])
            neg = self.get_attr("negate_data", None)
            if neg is not None:
                neg = np.asarray(neg)
                if neg.shape != (n_chan,) or np.any((neg != 0) & (neg != 1)):
                    raise EmitError(f"layer {self.name!r}: negate must be {n_chan} flags (0/1), got {neg.shape}")
                neg = neg.astype(np.uint8) if neg.any() else None
            # compared values: x, or -x on the negated channels
            lo, hi = negated_range(lo, hi, neg)
            self.set_attr("negated", neg is not None)
            if neg is not None:
                _add_weights(self, "negate", "neg{index}_t", IntegerPrecisionType(width=1, signed=False), neg)
            # x >= T with T <= lo is always true and with T > hi always false for every representable x:
            # clipping to [lo, hi + 1] keeps the function and gives the smallest threshold width.
            t = np.clip(t, lo, hi + 1)
            self.set_attr("shared", bool(t.shape[0] == 1))
            self.set_attr("n_levels", levels)
            self.set_attr("in_lo", int(lo))
            self.set_attr("in_hi", int(hi))
            self.set_attr("cmp_type", int_precision_str(lo, hi + 1))
            self.set_attr("count_width", bits_for_range(0, levels)[0])
            self.add_output_variable(list(inp.shape), precision=_integer_precision(IntegerPrecisionType, 0, levels))
            prec = _integer_precision(IntegerPrecisionType, int(t.min()), int(t.max()))
            _add_weights(self, "thresholds", "thr{index}_t", prec, t)

    class HwBnnXnorDense(Layer):
        """XNOR-popcount dense (hw_bnn XnorDenseLayer): fused thresholds or the signed accumulator."""

        _expected_attributes = _mvu_attributes(Attribute("n_in"), Attribute("n_out"))

        def initialize(self):
            mw, mh = _dense_shape(self)
            lo, hi = _input_range(self)
            if lo < 0 or hi > 1:
                raise EmitError(
                    f"layer {self.name!r}: XNOR inputs must be bits (0..1), but the input type holds [{lo}, {hi}]"
                )
            w = np.asarray(self.get_attr("weight_data"))
            if w.shape != (mw, mh) or np.any((w != 0) & (w != 1)):
                raise EmitError(f"layer {self.name!r}: weights must be {{0,1}} bits of shape ({mw}, {mh})")
            self.set_attr("pop_width", bits_for_range(0, mw)[0])
            self.set_attr("acc_width", bits_for_range(-mw, mw)[0])
            _mvu_folding(self, mw, mh)
            _add_mvu_weights(self, w, xnor=True)
            # p is in [0, MW]: T <= 0 is always on, T >= MW + 1 always off.
            _add_mvu_output(self, [mh], (0, mw), (-mw, mw), mh, thr_range=(0, mw + 1))

    def _code_range(layer) -> tuple[int, int]:
        """Incoming code range: the input type's range, narrowed by the ``in_hi`` attribute (the
        largest code the previous layer makes, from the golden model)."""
        lo, hi = _input_range(layer)
        in_hi = layer.get_attr("in_hi", None)
        if in_hi is not None:
            hi = min(hi, int(in_hi))
        if lo < 0:
            raise EmitError(f"layer {layer.name!r}: expects unsigned codes, but the input type holds [{lo}, {hi}]")
        return lo, hi

    class HwBnnIntDense(Layer):
        """Integer matrix-vector unit (hw_bnn IntDenseLayer): fused thresholds or the accumulator."""

        _expected_attributes = _mvu_attributes(Attribute("n_in"), Attribute("n_out"))

        def initialize(self):
            mw, mh = _dense_shape(self)
            _, hi = _code_range(self)
            w = np.asarray(self.get_attr("weight_data"))
            if w.shape != (mw, mh) or not np.issubdtype(w.dtype, np.integer):
                raise EmitError(
                    f"layer {self.name!r}: weights must be integers of shape ({mw}, {mh}), got {w.dtype} {w.shape}"
                )
            w = w.astype(np.int64)
            acc_lo, acc_hi = int_acc_range(w, hi)
            self.set_attr("acc_type", int_precision_str(acc_lo, acc_hi))
            self.set_attr("acc_width", bits_for_range(acc_lo, acc_hi)[0])
            _mvu_folding(self, mw, mh)
            _add_mvu_weights(self, w, xnor=False)
            _add_mvu_output(self, [mh], (acc_lo, acc_hi), (acc_lo, acc_hi), mh)

    def _image_input(layer) -> tuple[int, int, int]:
        shape = tuple(int(v) for v in layer.get_input_variable().shape)
        want = (int(layer.get_attr("in_h")), int(layer.get_attr("in_w")), int(layer.get_attr("n_chan")))
        if shape != want:
            raise EmitError(f"layer {layer.name!r}: expects an input image (H, W, C) = {want}, gets {shape}")
        return want

    class HwBnnConv(Layer):
        """Sliding window + XNOR or integer MVU over an NHWC pixel stream (hw_bnn ConvLayer)."""

        _expected_attributes = _mvu_attributes(
            *(Attribute(a) for a in ("in_h", "in_w", "n_chan", "n_filt", "kernel", "stride", "pad", "pad_value")),
            Attribute("xnor", value_type=bool),
        )

        def initialize(self):
            h, w_, c = _image_input(self)
            k, s, pad = (int(self.get_attr(a)) for a in ("kernel", "stride", "pad"))
            n_filt, xnor = int(self.get_attr("n_filt")), bool(self.get_attr("xnor"))
            if k < 1 or s < 1 or pad < 0:
                raise EmitError(f"layer {self.name!r}: bad kernel/stride/pad ({k}, {s}, {pad})")
            out_h, out_w = (h + 2 * pad - k) // s + 1, (w_ + 2 * pad - k) // s + 1
            if out_h < 1 or out_w < 1:
                raise EmitError(f"layer {self.name!r}: the {k}x{k} kernel does not fit the {h}x{w_} input (pad {pad})")
            lo, hi = _code_range(self)
            pad_value = int(self.get_attr("pad_value"))
            if pad and not lo <= pad_value <= hi:
                raise EmitError(f"layer {self.name!r}: pad code {pad_value} is outside the input codes [{lo}, {hi}]")
            n_k = k * k * c
            w = np.asarray(self.get_attr("weight_data"))
            if w.shape != (n_k, n_filt) or not np.issubdtype(w.dtype, np.integer):
                raise EmitError(
                    f"layer {self.name!r}: weights must be integers of shape ({n_k}, {n_filt}), got {w.dtype} {w.shape}"
                )
            self.set_attr("out_h", out_h)
            self.set_attr("out_w", out_w)
            self.set_attr("n_k", n_k)
            _mvu_folding(self, n_k, n_filt, mw_what=f" (= {k}*{k}*{c}, kernel*kernel*C_in)")
            if xnor:
                if hi > 1:
                    raise EmitError(
                        f"layer {self.name!r}: XNOR inputs must be bits (0..1), but the input holds [{lo}, {hi}]"
                    )
                if np.any((w != 0) & (w != 1)):
                    raise EmitError(f"layer {self.name!r}: XNOR weights must be bits (0/1)")
                cmp_lo, cmp_hi = 0, n_k  # thresholds act on the popcount
                acc_lo, acc_hi = -n_k, n_k
                self.set_attr("pop_width", bits_for_range(0, n_k)[0])
            else:
                w = w.astype(np.int64)
                self.set_attr("pop_width", 1)
                acc_lo, acc_hi = int_acc_range(w, hi)
                cmp_lo, cmp_hi = acc_lo, acc_hi
            _add_mvu_weights(self, w, xnor)
            self.set_attr("acc_type", int_precision_str(acc_lo, acc_hi))
            self.set_attr("acc_width", bits_for_range(acc_lo, acc_hi)[0])
            _add_mvu_output(self, [out_h, out_w, n_filt], (cmp_lo, cmp_hi), (acc_lo, acc_hi), n_filt)

    class HwBnnMaxPool(Layer):
        """Max pooling of codes over an NHWC pixel stream (hw_bnn MaxPoolLayer)."""

        _expected_attributes = [
            Attribute("in_h"),
            Attribute("in_w"),
            Attribute("n_chan"),
            Attribute("kernel"),
            Attribute("stride"),
        ]

        def initialize(self):
            h, w_, c = _image_input(self)
            k, s = int(self.get_attr("kernel")), int(self.get_attr("stride"))
            if k < 1 or s < 1 or k > h or k > w_:
                raise EmitError(f"layer {self.name!r}: bad pooling kernel/stride ({k}, {s}) for a {h}x{w_} input")
            out_h, out_w = (h - k) // s + 1, (w_ - k) // s + 1
            self.set_attr("out_h", out_h)
            self.set_attr("out_w", out_w)
            self.add_output_variable([out_h, out_w, c], precision=self.get_input_variable().type.precision)

    class HwBnnFlatten(Layer):
        """(H, W, C) pixel stream -> one H*W*C vector in (h, w, c) order (hw_bnn FlattenLayer)."""

        _expected_attributes = [Attribute("in_h"), Attribute("in_w"), Attribute("n_chan")]

        def initialize(self):
            h, w_, c = _image_input(self)
            self.set_attr("n_out", h * w_ * c)
            self.add_output_variable([h * w_ * c], precision=self.get_input_variable().type.precision)

    def _fixed_param(layer, name: str, var: str, data, width: int) -> None:
        """A per-channel integer parameter stored as ``ap_int<width>`` (the raw bits of its ap_fixed twin)."""
        prec = IntegerPrecisionType(width=int(width), signed=True)
        layer.add_weights_variable(
            name=name, var_name=var + "{index}", type_name=var + "{index}_t", precision=prec, data=data
        )

    def _fixed_input(layer, var, frac: int) -> tuple[int, int, bool, str]:
        """(lo, hi, signed, ap_fixed type of the code seen as a value with ``frac`` fraction bits)."""
        try:
            lo, hi = precision_range(var.type.precision)
        except TypeError as e:
            raise EmitError(f"layer {layer.name!r}: {e}") from None
        signed = bool(var.type.precision.signed)
        return lo, hi, signed, fixed_type_str(int(var.type.precision.width), frac, signed)

    def _check_fixed_modes(layer, width: int, frac: int) -> None:
        if width < 1 or frac < 0 or frac >= width:
            raise EmitError(
                f"layer {layer.name!r}: fixed-point output ap_fixed<{width}, {width - frac}> needs 0 <= frac < width "
                f"(frac {frac}, width {width})"
            )
        for attr, modes in (("rounding", ROUNDING_MODES), ("overflow", OVERFLOW_MODES)):
            v = layer.get_attr(attr, "trn" if attr == "rounding" else "wrap")
            if v not in modes:
                raise EmitError(f"layer {layer.name!r}: unknown {attr} mode {v!r} ({', '.join(modes)})")

    class HwBnnFixedChain(Layer):
        """Per-channel piecewise linear function into fixed point (hw_bnn FixedChainLayer).

        Types (config struct): the input code as ``in_fx_t = ap_[u]fixed<Wx, Wx - in_frac>``; G, Z as
        ``ap_fixed<., . - frac>``; P, N as ``ap_fixed<., . - slope_frac>``; ``t = x - G`` in
        ``t_fx_t`` (frac fraction bits) and ``p = t * S + Z`` in ``p_fx_t`` (frac + slope_frac
        fraction bits), both wide enough to be exact for every code of the input type; the result
        is ``out_fx_t = ap_fixed<width, width - frac, Q, O>`` whose raw bits (an ``ap_int<width>``
        code) are the output.
        """

        _expected_attributes = [
            Attribute("n_in"),
            Attribute("n_chan"),
            Attribute("in_frac"),
            Attribute("frac"),
            Attribute("slope_frac"),
            Attribute("width"),
            Attribute("rounding", value_type=str),
            Attribute("overflow", value_type=str),
            ConfigurableAttribute("reuse_factor", default=1),
            *(
                a
                for w in ("breakpoint", "pos_slope", "neg_slope", "offset")
                for a in (WeightAttribute(w), TypeAttribute(w))
            ),
        ]

        def initialize(self):
            inp = self.get_input_variable()
            shape = [int(v) for v in inp.shape]
            n_in, n_chan = int(np.prod(shape)), int(shape[-1])
            if n_in != int(self.get_attr("n_in")) or n_chan != int(self.get_attr("n_chan")):
                raise EmitError(
                    f"layer {self.name!r}: expects {self.get_attr('n_in')} values in {self.get_attr('n_chan')} channels, "
                    f"gets shape {tuple(shape)}"
                )
            in_frac, frac, sf, width = (int(self.get_attr(a)) for a in ("in_frac", "frac", "slope_frac", "width"))
            _check_fixed_modes(self, width, frac)
            if not 0 <= in_frac <= frac or not 0 <= sf <= MAX_SLOPE_FRAC:
                raise EmitError(
                    f"layer {self.name!r}: need 0 <= in_frac <= frac and 0 <= slope_frac <= {MAX_SLOPE_FRAC} "
                    f"(in_frac {in_frac}, frac {frac}, slope_frac {sf})"
                )
            params = {}
            for a in ("breakpoint", "pos_slope", "neg_slope", "offset"):
                v = np.asarray(self.get_attr(a + "_data"))
                if v.shape != (n_chan,) or not np.issubdtype(v.dtype, np.integer):
                    raise EmitError(
                        f"layer {self.name!r}: {a} must be {n_chan} integers (one per channel), got {v.dtype} {v.shape}"
                    )
                params[a] = v.astype(np.int64)
            g, sp, sn, z = (params[a] for a in ("breakpoint", "pos_slope", "neg_slope", "offset"))
            lo, hi, signed, in_fx = _fixed_input(self, inp, in_frac)
            r = fixed_chain_ranges(lo, hi, in_frac, frac, sf, g, sp, sn, z)
            if r["mag"] >= GOLDEN_INT_LIMIT:
                raise EmitError(
                    f"layer {self.name!r}: intermediate values up to {r['mag']} exceed the golden int64 range"
                )
            g_w = signed_width(int(g.min()), int(g.max()))
            s_w = signed_width(int(min(sp.min(), sn.min())), int(max(sp.max(), sn.max())))
            z_w = signed_width(int(z.min()), int(z.max()))
            _fixed_param(self, "breakpoint", "fcg", g, g_w)
            _fixed_param(self, "pos_slope", "fcp", sp, s_w)
            _fixed_param(self, "neg_slope", "fcn", sn, s_w)
            _fixed_param(self, "offset", "fcz", z, z_w)
            self.set_attr("in_fx", in_fx)
            self.set_attr("g_fx", fixed_type_str(g_w, frac))
            self.set_attr("s_fx", fixed_type_str(s_w, sf))
            self.set_attr("z_fx", fixed_type_str(z_w, frac))
            self.set_attr("t_fx", fixed_type_str(signed_width(*r["t"]), frac))
            self.set_attr("p_fx", fixed_type_str(signed_width(*r["p"]), frac + sf))
            self.set_attr(
                "out_fx", fixed_type_str(width, frac, True, self.get_attr("rounding"), self.get_attr("overflow"))
            )
            self.set_attr("t_width", signed_width(*r["t"]))
            self.set_attr("p_width", signed_width(*r["p"]))
            self.add_output_variable(shape, precision=IntegerPrecisionType(width=width, signed=True))

    class HwBnnFixedAdd(Layer):
        """Shortcut add of two fixed-point tensors with the same frac (hw_bnn FixedAddLayer): ``a + b``
        (exact) assigned to ``out_fx_t = ap_fixed<width, width - frac, AP_TRN, O>``."""

        _expected_attributes = [
            Attribute("n_in"),
            Attribute("frac"),
            Attribute("width"),
            Attribute("overflow", value_type=str),
            ConfigurableAttribute("reuse_factor", default=1),
        ]

        def initialize(self):
            if len(self.inputs) != 2:
                raise EmitError(f"layer {self.name!r}: a fixed-point add reads two tensors, got {list(self.inputs)}")
            a, b = (self.get_input_variable(name) for name in self.inputs)
            sa, sb = [int(v) for v in a.shape], [int(v) for v in b.shape]
            if sa != sb or int(np.prod(sa)) != int(self.get_attr("n_in")):
                raise EmitError(
                    f"layer {self.name!r}: inputs of shapes {tuple(sa)} and {tuple(sb)} (need equal shapes of {self.get_attr('n_in')} values)"
                )
            frac, width = int(self.get_attr("frac")), int(self.get_attr("width"))
            _check_fixed_modes(self, width, frac)
            self.set_attr("a_fx", _fixed_input(self, a, frac)[3])
            self.set_attr("b_fx", _fixed_input(self, b, frac)[3])
            self.set_attr("out_fx", fixed_type_str(width, frac, True, "trn", self.get_attr("overflow")))
            self.add_output_variable(sa, precision=IntegerPrecisionType(width=width, signed=True))

    class HwBnnConcat(Layer):
        """Channel concatenation of two integer pixel streams (hw_bnn ConcatLayer): a stream merge."""

        _expected_attributes = [
            Attribute("n_pix"),
            Attribute("c1"),
            Attribute("c2"),
            Attribute("out_lo"),
            Attribute("out_hi"),
        ]

        def initialize(self):
            if len(self.inputs) != 2:
                raise EmitError(f"layer {self.name!r}: a concatenation reads two tensors, got {list(self.inputs)}")
            a, b = (self.get_input_variable(name) for name in self.inputs)
            sa, sb = [int(v) for v in a.shape], [int(v) for v in b.shape]
            if sa[:-1] != sb[:-1]:
                raise EmitError(
                    f"layer {self.name!r}: inputs of shapes {tuple(sa)} and {tuple(sb)} differ in more than the channels"
                )
            lo, hi = int(self.get_attr("out_lo")), int(self.get_attr("out_hi"))
            self.add_output_variable(
                sa[:-1] + [sa[-1] + sb[-1]], precision=_integer_precision(IntegerPrecisionType, lo, hi)
            )

    _LAYER_CLASSES[CONCAT_KIND] = HwBnnConcat
    _LAYER_CLASSES[THRESHOLD_KIND] = HwBnnThreshold
    _LAYER_CLASSES[XNOR_DENSE_KIND] = HwBnnXnorDense
    _LAYER_CLASSES[INT_DENSE_KIND] = HwBnnIntDense
    _LAYER_CLASSES[CONV_KIND] = HwBnnConv
    _LAYER_CLASSES[MAXPOOL_KIND] = HwBnnMaxPool
    _LAYER_CLASSES[FLATTEN_KIND] = HwBnnFlatten
    _LAYER_CLASSES[FIXED_CHAIN_KIND] = HwBnnFixedChain
    _LAYER_CLASSES[FIXED_ADD_KIND] = HwBnnFixedAdd
    return _LAYER_CLASSES


# --------------------------------------------------------------------------------------------
# templates


def _config_struct(base: str, *members: str) -> str:
    """``struct config{index} : hw_bnn_hls::<base> { <members> };`` as a ``str.format`` template."""
    body = "".join(f"    {m}\n" for m in members)
    return f"struct config{{index}} : {CPP_NAMESPACE}::{base} {{{{\n{body}}}}};\n"


def _unsigned(*names: str) -> str:
    """One ``static const unsigned`` member line; each name takes the format field of that name."""
    return "static const unsigned " + ", ".join(f"{n} = {{{n}}}" for n in names) + ";"


def _call(kernel: str, *args: str) -> str:
    """A kernel call template: ``hw_bnn_hls::<kernel><input_t, output_t, config>(input, output, <args>);``."""
    extra = "".join(f", {{{a}}}" for a in args)
    return f"{CPP_NAMESPACE}::{kernel}<{{input_t}}, {{output_t}}, {{config}}>({{input}}, {{output}}{extra});"


# ReuseFactor folding (multithreshold), and the members every matrix-vector unit (XNOR / integer
# dense, conv) shares: its PE / SIMD folding (hls_ext docstring, hw_bnn_layers.h header)
_REUSE = "static const unsigned reuse_factor = {reuse};"
_FOLD = (_REUSE, _unsigned("n_pe"), _unsigned("n_fold"))
_MVU_SIZES = (
    _unsigned("mw", "mh"),
    _unsigned("pe", "simd"),
    _unsigned("nf", "sf"),
    _unsigned("word_bits", "chunk_words"),
    _unsigned("n_levels"),
    _unsigned("n_weights"),
    _unsigned("n_thr"),
    _REUSE,
)
_MVU_TYPES = ("typedef {weight_t} weight_t;", "typedef {thr_t} thr_t;")
_COUNT_T = "typedef ap_uint<{count_width}> count_t;"

_THRESHOLD_CONFIG = _config_struct(
    "multithreshold_config",
    _unsigned("n_in"),
    _unsigned("n_chan"),
    _unsigned("n_levels"),
    "static const bool shared = {shared};",
    _unsigned("n_thr"),
    *_FOLD,
    "typedef {thr_t} thr_t;",
    _COUNT_T,
    "typedef {cmp_type} cmp_t;",
)

_XNOR_CONFIG = _config_struct(
    "xnor_dense_config",
    _unsigned("n_in"),
    _unsigned("n_out"),
    *_MVU_SIZES,
    "typedef {word_type} word_t;",
    *_MVU_TYPES,
    "typedef ap_uint<{pop_width}> pop_t;",
    _COUNT_T,
    "typedef ap_int<{acc_width}> accum_t;",
)

_INT_DENSE_CONFIG = _config_struct(
    "int_dense_config",
    _unsigned("n_in"),
    _unsigned("n_out"),
    *_MVU_SIZES,
    *_MVU_TYPES,
    "typedef {acc_type} accum_t;",
    _COUNT_T,
)

_CONV_CONFIG = _config_struct(
    "conv_config",
    _unsigned("in_h", "in_w", "n_chan"),
    _unsigned("out_h", "out_w", "n_filt"),
    _unsigned("kernel", "stride", "pad"),
    _unsigned("pad_value"),
    "static const bool xnor = {xnor_cpp};",
    _unsigned("n_k"),
    *_MVU_SIZES,
    "typedef {word_type} word_t;",
    *_MVU_TYPES,
    "typedef ap_uint<{pop_width}> pop_t;",
    "typedef {acc_type} accum_t;",
    _COUNT_T,
)

_MAXPOOL_CONFIG = _config_struct(
    "maxpool_config",
    _unsigned("in_h", "in_w", "n_chan"),
    _unsigned("out_h", "out_w"),
    _unsigned("kernel", "stride"),
)

_FLATTEN_CONFIG = _config_struct("flatten_config", _unsigned("in_h", "in_w", "n_chan"), _unsigned("n_out"))

_FIXED_CHAIN_CONFIG = _config_struct(
    "fixed_chain_config",
    _unsigned("n_in", "n_chan"),
    _unsigned("in_frac", "frac", "slope_frac"),
    "typedef {g_t} g_t;",
    "typedef {s_t} s_t;",
    "typedef {z_t} z_t;",
    "typedef {in_fx} in_fx_t;",
    "typedef {g_fx} g_fx_t;",
    "typedef {s_fx} s_fx_t;",
    "typedef {z_fx} z_fx_t;",
    "typedef {t_fx} t_fx_t;",
    "typedef {p_fx} p_fx_t;",
    "typedef {out_fx} out_fx_t;",
)

_FIXED_ADD_CONFIG = _config_struct(
    "fixed_add_config",
    _unsigned("n_in"),
    _unsigned("frac"),
    "typedef {a_fx} a_fx_t;",
    "typedef {b_fx} b_fx_t;",
    "typedef {out_fx} out_fx_t;",
)

_CONCAT_CONFIG = _config_struct("concat_config", _unsigned("n_pix", "c1", "c2"))

_THRESHOLD_CALL = _call("multithreshold", "thr")
_THRESHOLD_NEG_CALL = _call("multithreshold_neg", "thr", "neg")
_XNOR_THR_CALL, _XNOR_ACC_CALL = _call("xnor_dense_thr", "w", "thr"), _call("xnor_dense_acc", "w")
_INT_THR_CALL, _INT_ACC_CALL = _call("int_dense_thr", "w", "thr"), _call("int_dense_acc", "w")
_CONV_THR_CALL, _CONV_ACC_CALL = _call("conv_thr", "w", "thr"), _call("conv_acc", "w")
_MAXPOOL_CALL = _call("maxpool")
_FLATTEN_CALL = _call("flatten")
_FIXED_CHAIN_CALL = _call("fixed_chain", "g", "sp", "sn", "z")
_FIXED_ADD_CALL = f"{CPP_NAMESPACE}::fixed_add<{{input1_t}}, {{input2_t}}, {{output_t}}, {{config}}>({{input1}}, {{input2}}, {{output}});"
_CONCAT_CALL = f"{CPP_NAMESPACE}::concat<{{input1_t}}, {{input2_t}}, {{output_t}}, {{config}}>({{input1}}, {{input2}}, {{output}});"


# config entries computed from a node (added to hls4ml's default config parameters)


def _threshold_params(node, params):
    thr = node.get_weights("thresholds")
    params["n_thr"] = thr.data_length
    params["thr_t"] = thr.type.name
    params["n_pe"], params["n_fold"] = fold(node.get_attr("n_in"), node.get_attr("reuse_factor"))


def _mvu_params():
    """Weights and thresholds (a one-entry ap_uint<1> placeholder for accumulator outputs) of a
    matrix-vector layer; its folding members are attributes set when the layer was created."""

    def params_of(node, params):
        w = node.get_weights("weight")
        params["n_weights"] = w.data_length
        params["weight_t"] = w.type.name
        if node.get_attr("n_levels") > 0:
            thr = node.get_weights("thresholds")
            params["n_thr"] = thr.data_length
            params["thr_t"] = thr.type.name
        else:
            params["n_thr"] = 1
            params["thr_t"] = "ap_uint<1>"
        params["xnor_cpp"] = "true" if node.get_attr("xnor", False) else "false"

    return params_of


# function calls of a node


def _plain_call(call: str):
    return lambda node, params: call.format(**params)


def _threshold_call(node, params):
    if node.get_attr("negated", False):  # some channels compare -x
        return _THRESHOLD_NEG_CALL.format(
            thr=node.get_weights("thresholds").name, neg=node.get_weights("negate").name, **params
        )
    return _THRESHOLD_CALL.format(thr=node.get_weights("thresholds").name, **params)


def _mvu_call(thr_call: str, acc_call: str):
    """Weights and thresholds (``thr_call``), or weights only for accumulator outputs (``acc_call``)."""

    def call(node, params):
        params["w"] = node.get_weights("weight").name
        if node.get_attr("n_levels") > 0:
            params["thr"] = node.get_weights("thresholds").name
            return thr_call.format(**params)
        return acc_call.format(**params)

    return call


def _fixed_chain_params(node, params):
    for key, w in (("g_t", "breakpoint"), ("s_t", "pos_slope"), ("z_t", "offset")):
        params[key] = node.get_weights(w).type.name


def _fixed_chain_call(node, params):
    names = {
        k: node.get_weights(w).name
        for k, w in (("g", "breakpoint"), ("sp", "pos_slope"), ("sn", "neg_slope"), ("z", "offset"))
    }
    return _FIXED_CHAIN_CALL.format(**names, **params)


def _two_input_call(template: str):
    def call(node, params):
        """Two input streams/arrays; the input names are read at template time, after hls4ml's
        ``clone_output`` pass may have renamed them to clone copies."""
        for k, name in enumerate(node.inputs[:2], 1):
            var = node.get_input_variable(name)
            params[f"input{k}"], params[f"input{k}_t"] = var.name, var.type.name
        return template.format(**params)

    return call


_fixed_add_call = _two_input_call(_FIXED_ADD_CALL)


_TEMPLATE_CLASSES: list[type] = []


def _make_templates() -> list[type]:
    if _TEMPLATE_CLASSES:
        return _TEMPLATE_CLASSES

    from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate

    def template_pair(layer_cls, config: str, config_params, call) -> list[type]:
        """The config template (``config`` formatted with hls4ml's default parameters, updated by
        ``config_params(node, params)`` when given) and the function-call template (``call(node,
        params)``) of one layer class; hls4ml names them after the layer class."""

        class ConfigTemplate(LayerConfigTemplate):
            def __init__(self):
                super().__init__(layer_cls)
                self.template = config

            def format(self, node):
                params = self._default_config_params(node)
                if config_params is not None:
                    config_params(node, params)
                return self.template.format(**params)

        class FunctionTemplate(FunctionCallTemplate):
            def __init__(self):
                super().__init__(layer_cls, include_header=[INCLUDE])

            def format(self, node):
                return call(node, self._default_function_params(node))

        for cls, suffix in ((ConfigTemplate, "ConfigTemplate"), (FunctionTemplate, "FunctionTemplate")):
            cls.__name__ = cls.__qualname__ = f"{layer_cls.__name__}{suffix}"
        return [ConfigTemplate, FunctionTemplate]

    classes = _make_layer_classes()
    specs = [
        (THRESHOLD_KIND, _THRESHOLD_CONFIG, _threshold_params, _threshold_call),
        (XNOR_DENSE_KIND, _XNOR_CONFIG, _mvu_params(), _mvu_call(_XNOR_THR_CALL, _XNOR_ACC_CALL)),
        (INT_DENSE_KIND, _INT_DENSE_CONFIG, _mvu_params(), _mvu_call(_INT_THR_CALL, _INT_ACC_CALL)),
        (CONV_KIND, _CONV_CONFIG, _mvu_params(), _mvu_call(_CONV_THR_CALL, _CONV_ACC_CALL)),
        (MAXPOOL_KIND, _MAXPOOL_CONFIG, None, _plain_call(_MAXPOOL_CALL)),
        (FLATTEN_KIND, _FLATTEN_CONFIG, None, _plain_call(_FLATTEN_CALL)),
        (FIXED_CHAIN_KIND, _FIXED_CHAIN_CONFIG, _fixed_chain_params, _fixed_chain_call),
        (FIXED_ADD_KIND, _FIXED_ADD_CONFIG, None, _fixed_add_call),
        (CONCAT_KIND, _CONCAT_CONFIG, None, _two_input_call(_CONCAT_CALL)),
    ]
    for kind, config, config_params, call in specs:
        _TEMPLATE_CLASSES.extend(template_pair(classes[kind], config, config_params, call))
    return _TEMPLATE_CLASSES


# --------------------------------------------------------------------------------------------
# registration


def register(hls_dir_override: str | os.PathLike | None = None) -> Path:
    """Register the hw-bnn layers, templates and HLS source with hls4ml (Vivado and Vitis).

    Idempotent.  ``hls_dir_override`` (or ``$HW_BNN_HLS_DIR``) selects the folder that holds
    ``hw_bnn_layers.h``; a later call with another folder replaces the registered source.
    Returns the path of the registered header.
    """
    header = hls_dir(hls_dir_override) / HEADER_NAME
    if not header.is_file():
        raise FileNotFoundError(f"hw-bnn HLS header not found: {header}")

    from hls4ml.backends import get_backend
    from hls4ml.model.layers import layer_map, register_layer
    from hls4ml.model.optimizer import get_available_passes

    for kind, cls in _make_layer_classes().items():
        if layer_map.get(kind) is not cls:
            register_layer(kind, cls)

    templates = _make_templates()
    for backend_name in BACKENDS:
        backend = get_backend(backend_name)
        existing = set(get_available_passes())
        for tcls in templates:
            pass_name = f"{backend_name.lower()}:{tcls().get_name()}"
            if pass_name not in existing:
                backend.register_template(tcls)
        # custom sources are a dict keyed by destination: registering again replaces the entry
        backend.register_source(header)
    return header


def layer_classes() -> dict[str, type]:
    """The hls4ml layer classes, by registered kind name."""
    return dict(_make_layer_classes())

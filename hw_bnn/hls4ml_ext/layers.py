"""The hw-bnn layers of hls4ml: one class per IR layer kind, each the twin of a C++ kernel.

=====================  =====================  ===============================================================
class                  IR layer               kernel (namespace ``hw_bnn_hls``, ``hls/hw_bnn_layers.h``)
=====================  =====================  ===============================================================
``HwBnnThreshold``     ``ThresholdLayer``     ``multithreshold`` / ``multithreshold_neg``
``HwBnnXnorDense``     ``XnorDenseLayer``     ``xnor_dense_thr`` / ``xnor_dense_acc``
``HwBnnIntDense``      ``IntDenseLayer``      ``int_dense_thr`` / ``int_dense_acc``
``HwBnnConv``          ``ConvLayer``          ``conv_thr`` / ``conv_acc`` (line buffer + XNOR or integer MVU)
``HwBnnMaxPool``       ``MaxPoolLayer``       ``maxpool``
``HwBnnFlatten``       ``FlattenLayer``       ``flatten``
``HwBnnFixedChain``    ``FixedChainLayer``    ``fixed_chain``
``HwBnnFixedAdd``      ``FixedAddLayer``      ``fixed_add``
``HwBnnConcat``        ``ConcatLayer``        ``concat``
=====================  =====================  ===============================================================

Every width is computed when hls4ml creates the layer (``initialize``), from the precision of its
input variable (narrowed by the ``in_hi`` attribute the emitter passes: the largest code the
previous layer makes) and from its data, with the range arithmetic of :mod:`hw_bnn.ir.ranges`.
No hls4ml pass is needed, hls4ml is neither forked nor patched, and none of its binary/XNOR
passes is used (they match hls4ml's Dense layers only).

* Thresholds on a value in ``[lo, hi]`` are clipped to ``[lo, hi + 1]`` (the same function,
  the smallest type); channels flagged ``negate`` compare ``-x``.
* XNOR units: popcount ``p in [0, MW]`` (thresholds compare it), accumulator ``2 p - MW``.
  Integer units: ``a = x @ W`` on codes ``x in [0, in_hi]``.
* Fixed-point layers move codes (``ap_int<width>``); the kernels place a code's bits into an
  ``ap_fixed`` with ``frac`` fraction bits, compute with ``ap_fixed`` (the exact wide value is
  assigned to ``ap_fixed<width, width - frac, Q, O>``, so rounding Q and overflow O are
  ap_fixed's own) and put the raw bits of the result back on the stream.

Matrix-vector units fold by PE / SIMD (:mod:`hw_bnn.hls4ml_ext.folding`): the configurable attributes
``pe`` / ``simd`` (HLS-config keys ``Pe`` / ``Simd``); a unit with neither takes the reuse-factor
schedule ``PE = ceil(MH / RF)``, ``SIMD = MW``.  The weight memory is laid out for the folding
(``mvu_weight_memory``).

Graphs: a layer may read several tensors (``inputs`` in hls4ml's layer list).  In ``io_stream`` a
tensor read by several layers is duplicated by hls4ml's own ``clone_output`` pass (an
``nnet::clone_stream`` node with up to 7 copies); ``HwBnnFixedAdd`` and ``HwBnnConcat`` merge two
streams.
"""

from __future__ import annotations

import numpy as np
from hls4ml.model.attributes import Attribute, ConfigurableAttribute, TypeAttribute, WeightAttribute
from hls4ml.model.layers import Layer
from hls4ml.model.types import IntegerPrecisionType

from hw_bnn.errors import EmitError
from hw_bnn.hls4ml_ext.folding import check_mvu_folding, mvu_folds, mvu_weight_memory, reuse_factor_schedule
from hw_bnn.hls4ml_ext.hls_types import fixed_type_str, int_precision_str, int_type_str, precision_range
from hw_bnn.hls4ml_ext.kinds import (
    CONCAT_KIND,
    CONV_KIND,
    FIXED_ADD_KIND,
    FIXED_CHAIN_KIND,
    FLATTEN_KIND,
    INT_DENSE_KIND,
    MAXPOOL_KIND,
    THRESHOLD_KIND,
    XNOR_DENSE_KIND,
)
from hw_bnn.ir import (
    GOLDEN_INT_LIMIT,
    MAX_SLOPE_FRAC,
    OVERFLOW_MODES,
    ROUNDING_MODES,
    bits_for_range,
    clip_thresholds,
    conv_out_size,
    fixed_chain_ranges,
    int_acc_range,
    negated_range,
    signed_width,
    weight_range,
    xnor_acc_range,
)


def integer_precision(lo: int, hi: int) -> IntegerPrecisionType:
    """The smallest ``ap_int`` / ``ap_uint`` precision holding ``[lo, hi]``."""
    width, signed = bits_for_range(lo, hi)
    return IntegerPrecisionType(width=width, signed=signed)


# --------------------------------------------------------------------------------------------
# shared steps of initialize()


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
    ``pe`` / ``simd`` attributes (a missing one fully parallel), or with neither the reuse-factor
    schedule ``PE = ceil(MH / RF)``, ``SIMD = MW`` (ragged last neuron fold allowed)."""
    pe, simd = layer.get_attr("pe"), layer.get_attr("simd")
    from_rf = pe is None and simd is None
    if from_rf:
        pe, simd = reuse_factor_schedule(mh, layer.get_attr("reuse_factor", 1))[0], mw
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
        prec = integer_precision(*weight_range(w))
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
    t = clip_thresholds(t, lo, hi)  # v in [lo, hi]: T <= lo is always on, T >= hi + 1 always off
    t_lo, t_hi = thr_range if thr_range is not None else (int(t.min()), int(t.max()))
    _add_weights(layer, "thresholds", "thr{index}_t", integer_precision(t_lo, t_hi), t)
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
    layer.add_output_variable(list(shape), precision=integer_precision(*out_range))


class HwBnnThreshold(Layer):
    """Elementwise multi-threshold ``y[c] = sum_k [x[c] >= T[c or 0, k]]`` (``ThresholdLayer``): kernel
    ``multithreshold``, or ``multithreshold_neg`` when some channels compare ``-x``.  Vectors, or NHWC
    pixel streams with per-channel thresholds; the channels follow the reuse-factor schedule."""

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
        t = clip_thresholds(t, lo, hi)
        self.set_attr("shared", bool(t.shape[0] == 1))
        self.set_attr("n_levels", levels)
        self.set_attr("in_lo", int(lo))
        self.set_attr("in_hi", int(hi))
        self.set_attr("cmp_type", int_precision_str(lo, hi + 1))
        self.set_attr("count_width", bits_for_range(0, levels)[0])
        self.add_output_variable(list(inp.shape), precision=integer_precision(0, levels))
        prec = integer_precision(int(t.min()), int(t.max()))
        _add_weights(self, "thresholds", "thr{index}_t", prec, t)


class HwBnnXnorDense(Layer):
    """XNOR-popcount dense (``XnorDenseLayer``): kernel ``xnor_dense_thr`` (thresholds on the popcount,
    codes ``0..L``) or ``xnor_dense_acc`` (the signed accumulator ``2 p - MW``)."""

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
        pop, acc = xnor_acc_range(mw, popcount=True), xnor_acc_range(mw, popcount=False)
        self.set_attr("pop_width", bits_for_range(*pop)[0])
        self.set_attr("acc_width", bits_for_range(*acc)[0])
        _mvu_folding(self, mw, mh)
        _add_mvu_weights(self, w, xnor=True)
        # p is in [0, MW]: T <= 0 is always on, T >= MW + 1 always off.
        _add_mvu_output(self, [mh], pop, acc, mh, thr_range=(0, mw + 1))


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
    """Integer matrix-vector unit ``a = x @ W`` on codes (``IntDenseLayer``): kernel ``int_dense_thr``
    (thresholds on ``a``) or ``int_dense_acc`` (``a`` itself)."""

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
    """k x k line-buffer sliding window (stride, symmetric padding with a pad code) + XNOR (packed words)
    or integer MVU over an NHWC pixel stream (``ConvLayer``): kernel ``conv_thr`` or ``conv_acc``."""

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
        out_h, out_w = conv_out_size(h, k, s, pad), conv_out_size(w_, k, s, pad)
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
            cmp_lo, cmp_hi = xnor_acc_range(n_k, popcount=True)  # thresholds act on the popcount
            acc_lo, acc_hi = xnor_acc_range(n_k, popcount=False)
            self.set_attr("pop_width", bits_for_range(cmp_lo, cmp_hi)[0])
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
    """Max pooling of codes (an OR of bits) over an NHWC pixel stream (``MaxPoolLayer``): kernel
    ``maxpool``."""

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
        out_h, out_w = conv_out_size(h, k, s, 0), conv_out_size(w_, k, s, 0)
        self.set_attr("out_h", out_h)
        self.set_attr("out_w", out_w)
        self.add_output_variable([out_h, out_w, c], precision=self.get_input_variable().type.precision)


class HwBnnFlatten(Layer):
    """(H, W, C) pixel stream -> one H*W*C vector in (h, w, c) order (``FlattenLayer``): kernel
    ``flatten``."""

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
    """Per-channel piecewise linear function into fixed point (``FixedChainLayer``: a BatchNorm, RPReLU,
    FPReLU or PReLU of ReActNet-style networks): kernel ``fixed_chain``.

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
            raise EmitError(f"layer {self.name!r}: intermediate values up to {r['mag']} exceed the golden int64 range")
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
        self.set_attr("out_fx", fixed_type_str(width, frac, True, self.get_attr("rounding"), self.get_attr("overflow")))
        self.set_attr("t_width", signed_width(*r["t"]))
        self.set_attr("p_width", signed_width(*r["p"]))
        self.add_output_variable(shape, precision=IntegerPrecisionType(width=width, signed=True))


class HwBnnFixedAdd(Layer):
    """Shortcut add of two fixed-point tensors with the same frac (``FixedAddLayer``): kernel ``fixed_add``,
    ``a + b`` (exact) assigned to ``out_fx_t = ap_fixed<width, width - frac, AP_TRN, O>``."""

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
                f"layer {self.name!r}: inputs of shapes {tuple(sa)} and {tuple(sb)} "
                f"(need equal shapes of {self.get_attr('n_in')} values)"
            )
        frac, width = int(self.get_attr("frac")), int(self.get_attr("width"))
        _check_fixed_modes(self, width, frac)
        self.set_attr("a_fx", _fixed_input(self, a, frac)[3])
        self.set_attr("b_fx", _fixed_input(self, b, frac)[3])
        self.set_attr("out_fx", fixed_type_str(width, frac, True, "trn", self.get_attr("overflow")))
        self.add_output_variable(sa, precision=IntegerPrecisionType(width=width, signed=True))


class HwBnnConcat(Layer):
    """Channel concatenation of two integer pixel streams (``ConcatLayer``, a stream merge): kernel
    ``concat``."""

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
        self.add_output_variable(sa[:-1] + [sa[-1] + sb[-1]], precision=integer_precision(lo, hi))


LAYER_CLASSES = {
    THRESHOLD_KIND: HwBnnThreshold,
    XNOR_DENSE_KIND: HwBnnXnorDense,
    INT_DENSE_KIND: HwBnnIntDense,
    CONV_KIND: HwBnnConv,
    MAXPOOL_KIND: HwBnnMaxPool,
    FLATTEN_KIND: HwBnnFlatten,
    FIXED_CHAIN_KIND: HwBnnFixedChain,
    FIXED_ADD_KIND: HwBnnFixedAdd,
    CONCAT_KIND: HwBnnConcat,
}  # hls4ml class name -> class

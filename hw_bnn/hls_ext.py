"""hw-bnn layers for hls4ml, registered through hls4ml's extension API.

Six hls4ml layer classes mirror the golden model (``hw_bnn.golden``):

``HwBnnThreshold``  elementwise multi-threshold ``y[c] = sum_k [x[c] >= T[c or 0, k]]`` (vectors,
                    or NHWC pixel streams with per-channel thresholds)
``HwBnnXnorDense``  XNOR-popcount dense, with fused thresholds (codes ``0..L``) or, without
                    thresholds, the signed accumulator ``2 p - MW``
``HwBnnIntDense``   integer dense ``a = x @ W`` on codes, thresholds on ``a`` or ``a`` itself
``HwBnnConv``       k x k line-buffer sliding window (stride, symmetric padding with a pad code)
                    + XNOR-popcount (packed words) or integer MVU, thresholds or accumulators
``HwBnnMaxPool``    max pooling of codes (OR of bits) over a pixel stream
``HwBnnFlatten``    pixel stream -> one (h, w, c)-ordered vector for a dense layer

``register()`` adds them to hls4ml for the ``Vivado`` and ``Vitis`` backends: the layer classes
(``hls4ml.model.layers.register_layer``), a config and a function-call template per layer
(``backend.register_template``) and the HLS header ``hls/hw_bnn_layers.h``
(``backend.register_source``).  No hls4ml pass is needed: every width is computed when the
layer is created, from the precision of its input variable (narrowed by the ``in_hi`` attribute
that ``hw_bnn.emit`` passes: the largest code the previous layer makes) and from its data, and
the ReuseFactor folding (over neurons / output channels) is derived in the config template from
the ``reuse_factor`` attribute that hls4ml's own ``init_base_layer`` pass sets from the HLS
config.  hls4ml is neither forked nor patched, and none of its binary/XNOR passes is used (they
match hls4ml's Dense layers only).

Registration is idempotent: calling ``register()`` twice (or with another header folder, which
then replaces the registered source) is safe.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from hw_bnn.errors import HwBnnError
from hw_bnn.golden import bits_for_range

HEADER_NAME = "hw_bnn_layers.h"
HLS_DIR_ENV = "HW_BNN_HLS_DIR"
DEFAULT_HLS_DIR = Path(__file__).resolve().parents[1] / "hls"
BACKENDS = ("Vivado", "Vitis")
INCLUDE = f"nnet_utils/{HEADER_NAME}"
CPP_NAMESPACE = "hw_bnn_hls"  # namespace of the kernels in hw_bnn_layers.h



class EmitError(HwBnnError, ValueError):
    """A golden network (or a value in it) does not fit the hls4ml layers; names the layer."""


THRESHOLD_KIND = "HwBnnThreshold"
XNOR_DENSE_KIND = "HwBnnXnorDense"
INT_DENSE_KIND = "HwBnnIntDense"
CONV_KIND = "HwBnnConv"
MAXPOOL_KIND = "HwBnnMaxPool"
FLATTEN_KIND = "HwBnnFlatten"
XNOR_WORD_BITS = 32  # packed XNOR words (weights are written as text: values stay exact below 2**53)


# --------------------------------------------------------------------------------------------
# helpers shared with hw_bnn.emit


def hls_dir(override: str | os.PathLike | None = None) -> Path:
    """Folder holding ``hw_bnn_layers.h``: ``override``, else ``$HW_BNN_HLS_DIR``, else ``<repo>/hls``."""
    if override is not None:
        d = Path(override)
    elif os.environ.get(HLS_DIR_ENV):
        d = Path(os.environ[HLS_DIR_ENV])
    else:
        d = DEFAULT_HLS_DIR
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
    sequential folds (an II=1 pipelined loop) cover all units.
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


def xnor_word_layout(n_chan: int) -> tuple[int, int]:
    """(word_bits, pix_words) of the packed XNOR pixel: channel c -> word c // B, bit c % B."""
    bits = max(1, min(int(n_chan), XNOR_WORD_BITS))
    return bits, math.ceil(int(n_chan) / bits)


def pack_xnor_conv_weights(weights, kernel: int, n_chan: int) -> np.ndarray:
    """Conv weight bits ``(k*k*C, C_out)`` -> words ``(C_out, k*k*pix_words)`` (unused bits 0)."""
    bits, words = xnor_word_layout(n_chan)
    w = np.asarray(weights, dtype=np.uint64)
    kk, n_out = kernel * kernel, w.shape[1]
    padded = np.zeros((kk, words * bits, n_out), dtype=np.uint64)
    padded[:, :n_chan, :] = w.reshape(kk, n_chan, n_out)
    shifts = np.arange(bits, dtype=np.uint64)[None, None, :, None]
    packed = (padded.reshape(kk, words, bits, n_out) << shifts).sum(axis=2, dtype=np.uint64)  # (kk, P, C_out)
    return np.ascontiguousarray(packed.transpose(2, 0, 1).reshape(n_out, kk * words)).astype(np.int64)


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
        ReuseFactor and the weights (thresholds are optional: ``thresholds_data``)."""
        return [
            *attributes,
            Attribute("n_levels"),
            ConfigurableAttribute("reuse_factor", default=1),
            WeightAttribute("weight"),
            TypeAttribute("weight"),
        ]

    def _dense_shape(layer) -> tuple[int, int]:
        """(MW, MH) of a dense layer, checked against its input size."""
        mw, mh = int(layer.get_attr("n_in")), int(layer.get_attr("n_out"))
        n_in = int(np.prod(layer.get_input_variable().shape))
        if n_in != mw:
            raise EmitError(f"layer {layer.name!r}: fan-in MW={mw} but the input has {n_in} values")
        return mw, mh

    def _add_weights(layer, name: str, type_name: str, precision, data) -> None:
        layer.add_weights_variable(name=name, var_name=name[0] + "{index}", type_name=type_name, precision=precision, data=data)

    def _add_int_weights(layer, w) -> None:
        """Signed integer weights ``w (K, n_units)``, unit-major: ``w[j * K + i] = W[i, j]``."""
        prec = _integer_precision(IntegerPrecisionType, int(w.min(initial=0)), int(w.max(initial=0)))
        _add_weights(layer, "weight", "wint{index}_t", prec, np.ascontiguousarray(w.T))

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
            # neuron-major bits: w[j * MW + i] = W[i, j]
            bit = IntegerPrecisionType(width=1, signed=False)
            _add_weights(self, "weight", "wbits{index}_t", bit, np.ascontiguousarray(w.T.astype(np.uint8)))
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
                raise EmitError(f"layer {self.name!r}: weights must be integers of shape ({mw}, {mh}), got {w.dtype} {w.shape}")
            w = w.astype(np.int64)
            acc_lo, acc_hi = int_acc_range(w, hi)
            self.set_attr("acc_type", int_precision_str(acc_lo, acc_hi))
            self.set_attr("acc_width", bits_for_range(acc_lo, acc_hi)[0])
            _add_int_weights(self, w)
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
                raise EmitError(f"layer {self.name!r}: weights must be integers of shape ({n_k}, {n_filt}), got {w.dtype} {w.shape}")
            self.set_attr("out_h", out_h)
            self.set_attr("out_w", out_w)
            self.set_attr("n_k", n_k)
            if xnor:
                if hi > 1:
                    raise EmitError(f"layer {self.name!r}: XNOR inputs must be bits (0..1), but the input holds [{lo}, {hi}]")
                if np.any((w != 0) & (w != 1)):
                    raise EmitError(f"layer {self.name!r}: XNOR weights must be bits (0/1)")
                bits, words = xnor_word_layout(c)
                self.set_attr("word_bits", bits)
                self.set_attr("pix_words", words)
                self.set_attr("win_words", k * k * words)
                word = IntegerPrecisionType(width=bits, signed=False)
                _add_weights(self, "weight", "wword{index}_t", word, pack_xnor_conv_weights(w, k, c))
                self.set_attr("word_type", int_type_str(bits, False))
                cmp_lo, cmp_hi = 0, n_k  # thresholds act on the popcount
                acc_lo, acc_hi = -n_k, n_k
                self.set_attr("pop_width", bits_for_range(0, n_k)[0])
            else:
                w = w.astype(np.int64)
                self.set_attr("word_bits", 1)
                self.set_attr("pix_words", 1)
                self.set_attr("win_words", 1)
                self.set_attr("word_type", "ap_uint<1>")
                self.set_attr("pop_width", 1)
                acc_lo, acc_hi = int_acc_range(w, hi)
                cmp_lo, cmp_hi = acc_lo, acc_hi
                _add_int_weights(self, w)  # w[f * K + i] = W[i, f]
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

    _LAYER_CLASSES[THRESHOLD_KIND] = HwBnnThreshold
    _LAYER_CLASSES[XNOR_DENSE_KIND] = HwBnnXnorDense
    _LAYER_CLASSES[INT_DENSE_KIND] = HwBnnIntDense
    _LAYER_CLASSES[CONV_KIND] = HwBnnConv
    _LAYER_CLASSES[MAXPOOL_KIND] = HwBnnMaxPool
    _LAYER_CLASSES[FLATTEN_KIND] = HwBnnFlatten
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


# ReuseFactor folding, and the members every matrix-vector unit (XNOR / integer dense, conv) shares
_FOLD = ("static const unsigned reuse_factor = {reuse};", _unsigned("n_pe"), _unsigned("n_fold"))
_MVU_SIZES = (_unsigned("n_levels"), _unsigned("n_weights"), _unsigned("n_thr")) + _FOLD
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
    _unsigned("word_bits"),
    _unsigned("pix_words"),
    _unsigned("win_words"),
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

_THRESHOLD_CALL = _call("multithreshold", "thr")
_XNOR_THR_CALL, _XNOR_ACC_CALL = _call("xnor_dense_thr", "w", "thr"), _call("xnor_dense_acc", "w")
_INT_THR_CALL, _INT_ACC_CALL = _call("int_dense_thr", "w", "thr"), _call("int_dense_acc", "w")
_CONV_THR_CALL, _CONV_ACC_CALL = _call("conv_thr", "w", "thr"), _call("conv_acc", "w")
_MAXPOOL_CALL = _call("maxpool")
_FLATTEN_CALL = _call("flatten")


# config entries computed from a node (added to hls4ml's default config parameters)


def _threshold_params(node, params):
    thr = node.get_weights("thresholds")
    params["n_thr"] = thr.data_length
    params["thr_t"] = thr.type.name
    params["n_pe"], params["n_fold"] = fold(node.get_attr("n_in"), node.get_attr("reuse_factor"))


def _mvu_params(units_attr: str):
    """Weights, thresholds (a one-entry ap_uint<1> placeholder for accumulator outputs) and the
    folding over the ``units_attr`` units of a matrix-vector layer."""

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
        params["n_pe"], params["n_fold"] = fold(node.get_attr(units_attr), node.get_attr("reuse_factor"))
        params["xnor_cpp"] = "true" if node.get_attr("xnor", False) else "false"

    return params_of


# function calls of a node


def _plain_call(call: str):
    return lambda node, params: call.format(**params)


def _threshold_call(node, params):
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
        (XNOR_DENSE_KIND, _XNOR_CONFIG, _mvu_params("n_out"), _mvu_call(_XNOR_THR_CALL, _XNOR_ACC_CALL)),
        (INT_DENSE_KIND, _INT_DENSE_CONFIG, _mvu_params("n_out"), _mvu_call(_INT_THR_CALL, _INT_ACC_CALL)),
        (CONV_KIND, _CONV_CONFIG, _mvu_params("n_filt"), _mvu_call(_CONV_THR_CALL, _CONV_ACC_CALL)),
        (MAXPOOL_KIND, _MAXPOOL_CONFIG, None, _plain_call(_MAXPOOL_CALL)),
        (FLATTEN_KIND, _FLATTEN_CONFIG, None, _plain_call(_FLATTEN_CALL)),
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

"""hw-bnn layers for hls4ml, registered through hls4ml's extension API.

Two hls4ml layer classes mirror the golden model (``hw_bnn.golden``):

``HwBnnThreshold``  elementwise multi-threshold ``y[c] = sum_k [x[c] >= T[c or 0, k]]``
``HwBnnXnorDense``  XNOR-popcount dense, with fused thresholds (codes ``0..L``) or, without
                    thresholds, the signed accumulator ``2 p - MW``.

``register()`` adds them to hls4ml for the ``Vivado`` and ``Vitis`` backends: the layer classes
(``hls4ml.model.layers.register_layer``), a config and a function-call template per layer
(``backend.register_template``) and the HLS header ``hls/hw_bnn_layers.h``
(``backend.register_source``).  No hls4ml pass is needed: every width is computed when the
layer is created, from the precision of its input variable and from its data, and the
ReuseFactor folding is derived in the config template from the ``reuse_factor`` attribute that
hls4ml's own ``init_base_layer`` pass sets from the HLS config.  hls4ml is neither forked nor
patched, and none of its binary/XNOR passes is used (they match hls4ml's Dense layers only).

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


# --------------------------------------------------------------------------------------------
# layer classes (built lazily so that importing this module does not import hls4ml)

_LAYER_CLASSES: dict[str, type] = {}


def _integer_precision(precision_cls, lo: int, hi: int):
    width, signed = bits_for_range(lo, hi)
    return precision_cls(width=width, signed=signed)


def _make_layer_classes() -> dict[str, type]:
    if _LAYER_CLASSES:
        return _LAYER_CLASSES

    from hls4ml.model.attributes import Attribute, ConfigurableAttribute, TypeAttribute, WeightAttribute
    from hls4ml.model.layers import Layer
    from hls4ml.model.types import IntegerPrecisionType

    def _input_range(layer) -> tuple[int, int]:
        var = layer.get_input_variable()
        try:
            return precision_range(var.type.precision)
        except TypeError as e:
            raise EmitError(f"layer {layer.name!r}: {e}") from None

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
            t = np.asarray(self.get_attr("thresholds_data"), dtype=np.int64)
            if t.ndim != 2 or t.shape[1] < 1 or t.shape[0] not in (1, n_in):
                raise EmitError(f"layer {self.name!r}: thresholds must have shape ({n_in} or 1, L>=1), got {t.shape}")
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
            self.add_weights_variable(
                name="thresholds",
                var_name="t{index}",
                type_name="thr{index}_t",
                precision=_integer_precision(IntegerPrecisionType, int(t.min()), int(t.max())),
                data=t,
            )

    class HwBnnXnorDense(Layer):
        """XNOR-popcount dense (hw_bnn XnorDenseLayer): fused thresholds or the signed accumulator."""

        _expected_attributes = [
            Attribute("n_in"),
            Attribute("n_out"),
            Attribute("n_levels"),
            ConfigurableAttribute("reuse_factor", default=1),
            WeightAttribute("weight"),
            TypeAttribute("weight"),
        ]

        def initialize(self):
            inp = self.get_input_variable()
            mw, mh = int(self.get_attr("n_in")), int(self.get_attr("n_out"))
            n_in = int(np.prod(inp.shape))
            if n_in != mw:
                raise EmitError(f"layer {self.name!r}: fan-in MW={mw} but the input has {n_in} values")
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
            self.add_weights_variable(
                name="weight",
                var_name="w{index}",
                type_name="wbits{index}_t",
                precision=IntegerPrecisionType(width=1, signed=False),
                data=np.ascontiguousarray(w.T.astype(np.uint8)),
            )
            t = self.get_attr("thresholds_data")
            if t is None:
                self.set_attr("n_levels", 0)
                self.set_attr("count_width", 1)
                self.add_output_variable([mh], precision=_integer_precision(IntegerPrecisionType, -mw, mw))
                return
            t = np.asarray(t, dtype=np.int64)
            if t.ndim != 2 or t.shape[0] != mh or t.shape[1] < 1:
                raise EmitError(f"layer {self.name!r}: thresholds must have shape ({mh}, L>=1), got {t.shape}")
            levels = int(t.shape[1])
            # p is in [0, MW]: T <= 0 is always on, T >= MW + 1 always off.
            t = np.clip(t, 0, mw + 1)
            self.set_attr("n_levels", levels)
            self.set_attr("count_width", bits_for_range(0, levels)[0])
            self.add_output_variable([mh], precision=_integer_precision(IntegerPrecisionType, 0, levels))
            self.add_weights_variable(
                name="thresholds",
                var_name="t{index}",
                type_name="thr{index}_t",
                precision=_integer_precision(IntegerPrecisionType, 0, mw + 1),
                data=t,
            )

    _LAYER_CLASSES[THRESHOLD_KIND] = HwBnnThreshold
    _LAYER_CLASSES[XNOR_DENSE_KIND] = HwBnnXnorDense
    return _LAYER_CLASSES


# --------------------------------------------------------------------------------------------
# templates

_THRESHOLD_CONFIG = """struct config{index} : hw_bnn_hls::multithreshold_config {{
    static const unsigned n_in = {n_in};
    static const unsigned n_levels = {n_levels};
    static const bool shared = {shared};
    static const unsigned n_thr = {n_thr};
    static const unsigned reuse_factor = {reuse};
    static const unsigned n_pe = {n_pe};
    static const unsigned n_fold = {n_fold};
    typedef {thr_t} thr_t;
    typedef ap_uint<{count_width}> count_t;
    typedef {cmp_type} cmp_t;
}};
"""

_THRESHOLD_CALL = "hw_bnn_hls::multithreshold<{input_t}, {output_t}, {config}>({input}, {output}, {thr});"

_XNOR_CONFIG = """struct config{index} : hw_bnn_hls::xnor_dense_config {{
    static const unsigned n_in = {n_in};
    static const unsigned n_out = {n_out};
    static const unsigned n_levels = {n_levels};
    static const unsigned n_weights = {n_weights};
    static const unsigned n_thr = {n_thr};
    static const unsigned reuse_factor = {reuse};
    static const unsigned n_pe = {n_pe};
    static const unsigned n_fold = {n_fold};
    typedef {weight_t} weight_t;
{thr_typedef}    typedef ap_uint<{pop_width}> pop_t;
    typedef ap_uint<{count_width}> count_t;
    typedef ap_int<{acc_width}> accum_t;
}};
"""

_XNOR_THR_CALL = "hw_bnn_hls::xnor_dense_thr<{input_t}, {output_t}, {config}>({input}, {output}, {w}, {thr});"
_XNOR_ACC_CALL = "hw_bnn_hls::xnor_dense_acc<{input_t}, {output_t}, {config}>({input}, {output}, {w});"

_TEMPLATE_CLASSES: list[type] = []


def _make_templates() -> list[type]:
    if _TEMPLATE_CLASSES:
        return _TEMPLATE_CLASSES

    from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate

    classes = _make_layer_classes()
    Thr, Xnor = classes[THRESHOLD_KIND], classes[XNOR_DENSE_KIND]

    class HwBnnThresholdConfigTemplate(LayerConfigTemplate):
        def __init__(self):
            super().__init__(Thr)
            self.template = _THRESHOLD_CONFIG

        def format(self, node):
            params = self._default_config_params(node)
            thr = node.get_weights("thresholds")
            params["n_thr"] = thr.data_length
            params["thr_t"] = thr.type.name
            params["n_pe"], params["n_fold"] = fold(node.get_attr("n_in"), node.get_attr("reuse_factor"))
            return self.template.format(**params)

    class HwBnnThresholdFunctionTemplate(FunctionCallTemplate):
        def __init__(self):
            super().__init__(Thr, include_header=[INCLUDE])
            self.template = _THRESHOLD_CALL

        def format(self, node):
            params = self._default_function_params(node)
            params["thr"] = node.get_weights("thresholds").name
            return self.template.format(**params)

    class HwBnnXnorDenseConfigTemplate(LayerConfigTemplate):
        def __init__(self):
            super().__init__(Xnor)
            self.template = _XNOR_CONFIG

        def format(self, node):
            params = self._default_config_params(node)
            w = node.get_weights("weight")
            params["n_weights"] = w.data_length
            params["weight_t"] = w.type.name
            if node.get_attr("n_levels") > 0:
                thr = node.get_weights("thresholds")
                params["n_thr"] = thr.data_length
                params["thr_typedef"] = f"    typedef {thr.type.name} thr_t;\n"
            else:
                params["n_thr"] = 1
                params["thr_typedef"] = ""
            params["n_pe"], params["n_fold"] = fold(node.get_attr("n_out"), node.get_attr("reuse_factor"))
            return self.template.format(**params)

    class HwBnnXnorDenseFunctionTemplate(FunctionCallTemplate):
        def __init__(self):
            super().__init__(Xnor, include_header=[INCLUDE])

        def format(self, node):
            params = self._default_function_params(node)
            params["w"] = node.get_weights("weight").name
            if node.get_attr("n_levels") > 0:
                params["thr"] = node.get_weights("thresholds").name
                return _XNOR_THR_CALL.format(**params)
            return _XNOR_ACC_CALL.format(**params)

    _TEMPLATE_CLASSES.extend(
        [
            HwBnnThresholdConfigTemplate,
            HwBnnThresholdFunctionTemplate,
            HwBnnXnorDenseConfigTemplate,
            HwBnnXnorDenseFunctionTemplate,
        ]
    )
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

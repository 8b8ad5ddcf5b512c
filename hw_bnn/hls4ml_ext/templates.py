"""The C++ the emitted project holds for each hw-bnn layer: a config struct and a kernel call.

A config struct derives from the kernel's base config in ``hw_bnn_layers.h``
(``struct config<index> : hw_bnn_hls::<kind>_config { ... };``) and carries the sizes, the
PE / SIMD folding or the reuse-factor schedule (``n_pe`` outputs per step, ``n_fold`` steps) and
the types the layer computed when it was created (:mod:`hw_bnn.hls4ml_ext.layers`).  A call is
``hw_bnn_hls::<kernel><input_t, output_t, config>(input, output, <weights>...);``.

Each template is a ``str.format`` string filled with hls4ml's default parameters (the layer's
attributes, ``reuse``, ``index``, the variable names and types) and the entries computed from the
node; hls4ml names the template classes (and so their passes) after the layer classes.
"""

from __future__ import annotations

from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate

from hw_bnn.hls4ml_ext.folding import reuse_factor_schedule
from hw_bnn.hls4ml_ext.kinds import CPP_NAMESPACE, INCLUDE
from hw_bnn.hls4ml_ext.layers import (
    HwBnnConcat,
    HwBnnConv,
    HwBnnFixedAdd,
    HwBnnFixedChain,
    HwBnnFlatten,
    HwBnnIntDense,
    HwBnnMaxPool,
    HwBnnThreshold,
    HwBnnXnorDense,
)


def _config_struct(base: str, *members: str) -> str:
    """``struct config{index} : hw_bnn_hls::<base> { <members> };`` as a ``str.format`` template."""
    body = "".join(f"    {m}\n" for m in members)
    return f"struct config{{index}} : {CPP_NAMESPACE}::{base} {{{{\n{body}}}}};\n"


def _unsigned(*names: str) -> str:
    """One ``static const unsigned`` member line; each name takes the format field of that name."""
    return "static const unsigned " + ", ".join(f"{n} = {{{n}}}" for n in names) + ";"


def _merge_call(kernel: str) -> str:
    """A two-input call: ``hw_bnn_hls::<kernel><input1_t, input2_t, output_t, config>(input1, input2, output);``."""
    types = "<{input1_t}, {input2_t}, {output_t}, {config}>"
    return f"{CPP_NAMESPACE}::{kernel}{types}" + "({input1}, {input2}, {output});"


def _call(kernel: str, *args: str) -> str:
    """A kernel call template: ``hw_bnn_hls::<kernel><input_t, output_t, config>(input, output, <args>);``."""
    extra = "".join(f", {{{a}}}" for a in args)
    return f"{CPP_NAMESPACE}::{kernel}<{{input_t}}, {{output_t}}, {{config}}>({{input}}, {{output}}{extra});"


# the reuse-factor schedule (multithreshold: n_pe channels per step, n_fold steps), and the members
# every matrix-vector unit (XNOR / integer dense, conv) shares: its PE / SIMD folding (hw_bnn.hls4ml_ext.folding)
_REUSE = "static const unsigned reuse_factor = {reuse};"
_REUSE_SCHEDULE = (_REUSE, _unsigned("n_pe"), _unsigned("n_fold"))
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
    *_REUSE_SCHEDULE,
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
_FIXED_ADD_CALL, _CONCAT_CALL = _merge_call("fixed_add"), _merge_call("concat")


# --------------------------------------------------------------------------------------------
# template classes


class HwBnnConfigTemplate(LayerConfigTemplate):
    """The config struct of one hw-bnn layer class (``layer_cls``): ``config`` formatted with hls4ml's
    default config parameters and the entries ``add_params`` computes from the node."""

    layer_cls: type
    config: str

    def __init__(self):
        super().__init__(self.layer_cls)
        self.template = self.config

    def add_params(self, node, params: dict) -> None:
        """Config entries computed from the node (none by default)."""

    def format(self, node):
        params = self._default_config_params(node)
        self.add_params(node, params)
        return self.template.format(**params)


class HwBnnFunctionTemplate(FunctionCallTemplate):
    """The kernel call of one hw-bnn layer class (``layer_cls``): ``call`` formatted with hls4ml's
    default function parameters (``format_call`` may add entries or pick another call)."""

    layer_cls: type
    call: str

    def __init__(self):
        super().__init__(self.layer_cls, include_header=[INCLUDE])

    def format_call(self, node, params: dict) -> str:
        return self.call.format(**params)

    def format(self, node):
        return self.format_call(node, self._default_function_params(node))


class HwBnnThresholdConfigTemplate(HwBnnConfigTemplate):
    layer_cls, config = HwBnnThreshold, _THRESHOLD_CONFIG

    def add_params(self, node, params):
        thr = node.get_weights("thresholds")
        params["n_thr"] = thr.data_length
        params["thr_t"] = thr.type.name
        params["n_pe"], params["n_fold"] = reuse_factor_schedule(node.get_attr("n_in"), node.get_attr("reuse_factor"))


class HwBnnThresholdFunctionTemplate(HwBnnFunctionTemplate):
    layer_cls = HwBnnThreshold

    def format_call(self, node, params):
        if node.get_attr("negated", False):  # some channels compare -x
            return _THRESHOLD_NEG_CALL.format(
                thr=node.get_weights("thresholds").name, neg=node.get_weights("negate").name, **params
            )
        return _THRESHOLD_CALL.format(thr=node.get_weights("thresholds").name, **params)


class _MatrixConfigTemplate(HwBnnConfigTemplate):
    """Weights and thresholds (a one-entry ap_uint<1> placeholder for accumulator outputs) of a
    matrix-vector layer; its folding members are attributes set when the layer was created."""

    def add_params(self, node, params):
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


class _MatrixFunctionTemplate(HwBnnFunctionTemplate):
    """Weights and thresholds (``thr_call``), or weights only for accumulator outputs (``acc_call``)."""

    thr_call: str
    acc_call: str

    def format_call(self, node, params):
        params["w"] = node.get_weights("weight").name
        if node.get_attr("n_levels") > 0:
            params["thr"] = node.get_weights("thresholds").name
            return self.thr_call.format(**params)
        return self.acc_call.format(**params)


class HwBnnXnorDenseConfigTemplate(_MatrixConfigTemplate):
    layer_cls, config = HwBnnXnorDense, _XNOR_CONFIG


class HwBnnXnorDenseFunctionTemplate(_MatrixFunctionTemplate):
    layer_cls, thr_call, acc_call = HwBnnXnorDense, _XNOR_THR_CALL, _XNOR_ACC_CALL


class HwBnnIntDenseConfigTemplate(_MatrixConfigTemplate):
    layer_cls, config = HwBnnIntDense, _INT_DENSE_CONFIG


class HwBnnIntDenseFunctionTemplate(_MatrixFunctionTemplate):
    layer_cls, thr_call, acc_call = HwBnnIntDense, _INT_THR_CALL, _INT_ACC_CALL


class HwBnnConvConfigTemplate(_MatrixConfigTemplate):
    layer_cls, config = HwBnnConv, _CONV_CONFIG


class HwBnnConvFunctionTemplate(_MatrixFunctionTemplate):
    layer_cls, thr_call, acc_call = HwBnnConv, _CONV_THR_CALL, _CONV_ACC_CALL


class HwBnnMaxPoolConfigTemplate(HwBnnConfigTemplate):
    layer_cls, config = HwBnnMaxPool, _MAXPOOL_CONFIG


class HwBnnMaxPoolFunctionTemplate(HwBnnFunctionTemplate):
    layer_cls, call = HwBnnMaxPool, _MAXPOOL_CALL


class HwBnnFlattenConfigTemplate(HwBnnConfigTemplate):
    layer_cls, config = HwBnnFlatten, _FLATTEN_CONFIG


class HwBnnFlattenFunctionTemplate(HwBnnFunctionTemplate):
    layer_cls, call = HwBnnFlatten, _FLATTEN_CALL


class HwBnnFixedChainConfigTemplate(HwBnnConfigTemplate):
    layer_cls, config = HwBnnFixedChain, _FIXED_CHAIN_CONFIG

    def add_params(self, node, params):
        for key, w in (("g_t", "breakpoint"), ("s_t", "pos_slope"), ("z_t", "offset")):
            params[key] = node.get_weights(w).type.name


class HwBnnFixedChainFunctionTemplate(HwBnnFunctionTemplate):
    layer_cls = HwBnnFixedChain

    def format_call(self, node, params):
        names = {
            k: node.get_weights(w).name
            for k, w in (("g", "breakpoint"), ("sp", "pos_slope"), ("sn", "neg_slope"), ("z", "offset"))
        }
        return _FIXED_CHAIN_CALL.format(**names, **params)


class _TwoInputFunctionTemplate(HwBnnFunctionTemplate):
    """Two input streams/arrays; the input names are read at template time, after hls4ml's
    ``clone_output`` pass may have renamed them to clone copies."""

    def format_call(self, node, params):
        for k, name in enumerate(node.inputs[:2], 1):
            var = node.get_input_variable(name)
            params[f"input{k}"], params[f"input{k}_t"] = var.name, var.type.name
        return self.call.format(**params)


class HwBnnFixedAddConfigTemplate(HwBnnConfigTemplate):
    layer_cls, config = HwBnnFixedAdd, _FIXED_ADD_CONFIG


class HwBnnFixedAddFunctionTemplate(_TwoInputFunctionTemplate):
    layer_cls, call = HwBnnFixedAdd, _FIXED_ADD_CALL


class HwBnnConcatConfigTemplate(HwBnnConfigTemplate):
    layer_cls, config = HwBnnConcat, _CONCAT_CONFIG


class HwBnnConcatFunctionTemplate(_TwoInputFunctionTemplate):
    layer_cls, call = HwBnnConcat, _CONCAT_CALL


TEMPLATE_CLASSES = (
    HwBnnThresholdConfigTemplate,
    HwBnnThresholdFunctionTemplate,
    HwBnnXnorDenseConfigTemplate,
    HwBnnXnorDenseFunctionTemplate,
    HwBnnIntDenseConfigTemplate,
    HwBnnIntDenseFunctionTemplate,
    HwBnnConvConfigTemplate,
    HwBnnConvFunctionTemplate,
    HwBnnMaxPoolConfigTemplate,
    HwBnnMaxPoolFunctionTemplate,
    HwBnnFlattenConfigTemplate,
    HwBnnFlattenFunctionTemplate,
    HwBnnFixedChainConfigTemplate,
    HwBnnFixedChainFunctionTemplate,
    HwBnnFixedAddConfigTemplate,
    HwBnnFixedAddFunctionTemplate,
    HwBnnConcatConfigTemplate,
    HwBnnConcatFunctionTemplate,
)  # a config and a function-call template per layer class, registered with every backend

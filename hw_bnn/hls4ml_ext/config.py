"""What hls4ml is given for an integer network: the layer list and the HLS configuration (no
hls4ml import).

The layer list holds one dict per IR layer, of the hls4ml class of its kind
(:mod:`hw_bnn.hls4ml_ext.kinds`), named as the IR layer, with the attributes and data the layer
class reads in ``initialize`` (sizes from the plan, weights and thresholds as int64 arrays) and
its ``inputs`` when it names them (else it reads the previous layer).  The HLS configuration
gives every layer its reuse factor (``ReuseFactor``) and, when ``folding`` names it, its
``Pe`` / ``Simd``; the network input gets the input type.
"""

from __future__ import annotations

import numpy as np

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
from hw_bnn.hls4ml_ext.plan import threshold_negate
from hw_bnn.ir import (
    ConcatLayer,
    ConvLayer,
    FixedAddLayer,
    FixedChainLayer,
    IntDenseLayer,
    IntegerNetwork,
    MaxPoolLayer,
    ThresholdLayer,
    XnorDenseLayer,
)


def input_layer_name(golden: IntegerNetwork) -> str:
    """``hw_bnn_input`` (``hw_bnn_input1``, ... when a layer already has that name)."""
    taken = {layer.name.lower() for layer in golden.layers}
    name, k = "hw_bnn_input", 0
    while name in taken:
        k += 1
        name = f"hw_bnn_input{k}"
    return name


def _thr_data(layer):
    return None if layer.thresholds is None else np.asarray(layer.thresholds, dtype=np.int64)


def _threshold_dict(layer, info) -> dict:
    t = np.asarray(layer.thresholds, dtype=np.int64)
    d = dict(
        class_name=THRESHOLD_KIND,
        n_in=int(info["n_in"]),
        n_levels=int(t.shape[1]),
        shared=bool(t.shape[0] == 1),
        thresholds_data=t,
    )
    neg = threshold_negate(layer, int(info["in_shape"][-1]))
    if neg is not None:
        d["negate_data"] = neg.astype(np.uint8)
    return d


def _xnor_dense_dict(layer, info) -> dict:
    return dict(
        class_name=XNOR_DENSE_KIND,
        n_in=layer.mw,
        n_out=layer.mh,
        n_levels=int(info["levels"]),
        weight_data=np.asarray(layer.weights, dtype=np.uint8),
        thresholds_data=_thr_data(layer),
    )


def _int_dense_dict(layer, info) -> dict:
    return dict(
        class_name=INT_DENSE_KIND,
        n_in=layer.mw,
        n_out=layer.mh,
        n_levels=int(info["levels"]),
        in_hi=int(info["in_range"][1]),
        weight_data=np.asarray(layer.weights, dtype=np.int64),
        thresholds_data=_thr_data(layer),
    )


def _conv_dict(layer, info) -> dict:
    h, w, c = info["in_shape"]
    return dict(
        class_name=CONV_KIND,
        in_h=h,
        in_w=w,
        n_chan=c,
        n_filt=layer.n_out,
        kernel=int(layer.kernel),
        stride=int(layer.stride),
        pad=int(layer.pad),
        pad_value=int(layer.pad_value),
        xnor=bool(layer.xnor),
        n_levels=int(info["levels"]),
        in_hi=max(int(info["in_range"][1]), int(layer.pad_value) if layer.pad else 0),
        weight_data=np.asarray(layer.weights, dtype=np.int64),
        thresholds_data=_thr_data(layer),
    )


def _maxpool_dict(layer, info) -> dict:
    h, w, c = info["in_shape"]
    return dict(class_name=MAXPOOL_KIND, in_h=h, in_w=w, n_chan=c, kernel=int(layer.kernel), stride=int(layer.stride))


def _fixed_chain_dict(layer, info) -> dict:
    return dict(
        class_name=FIXED_CHAIN_KIND,
        n_in=int(info["n_in"]),
        n_chan=int(info["in_shape"][-1]),
        in_frac=int(layer.in_frac),
        frac=int(layer.frac),
        slope_frac=int(layer.slope_frac),
        width=int(layer.width),
        rounding=str(layer.rounding),
        overflow=str(layer.overflow),
        **{
            f"{a}_data": np.asarray(getattr(layer, a), dtype=np.int64)
            for a in ("breakpoint", "pos_slope", "neg_slope", "offset")
        },
    )


def _concat_dict(layer, info) -> dict:
    h, w, _ = info["out_shape"]
    return dict(
        class_name=CONCAT_KIND,
        n_pix=int(h) * int(w),
        c1=int(info["c1"]),
        c2=int(info["c2"]),
        out_lo=int(info["out_range"][0]),
        out_hi=int(info["out_range"][1]),
    )


def _fixed_add_dict(layer, info) -> dict:
    return dict(
        class_name=FIXED_ADD_KIND,
        n_in=int(info["n_in"]),
        frac=int(info["frac"]),
        width=int(layer.width),
        overflow=str(layer.overflow),
    )


def _flatten_dict(layer, info) -> dict:
    h, w, c = info["in_shape"]
    return dict(class_name=FLATTEN_KIND, in_h=h, in_w=w, n_chan=c)


_LAYER_DICTS = (
    (ThresholdLayer, _threshold_dict),
    (XnorDenseLayer, _xnor_dense_dict),
    (IntDenseLayer, _int_dense_dict),
    (ConvLayer, _conv_dict),
    (MaxPoolLayer, _maxpool_dict),
    (FixedChainLayer, _fixed_chain_dict),
    (ConcatLayer, _concat_dict),
    (FixedAddLayer, _fixed_add_dict),
)  # any other (planned) layer is a flatten


def layer_list(golden: IntegerNetwork, plan: dict, input_name: str) -> list[dict]:
    """hls4ml's layer list of ``golden`` (checked and sized by ``plan``): the input layer, then one
    dict per IR layer."""
    out = [{"class_name": "InputLayer", "name": input_name, "input_shape": list(plan["input_shape"])}]
    for layer, info in zip(golden.layers, plan["layers"]):
        make = next((fn for cls, fn in _LAYER_DICTS if isinstance(layer, cls)), _flatten_dict)
        d = {"name": layer.name, **make(layer, info)}
        named = tuple(getattr(layer, "inputs", ()) or ())
        if named:
            # hls4ml's graph: a layer dict may name several inputs (else it reads the previous layer)
            d["inputs"] = [str(n) for n in named]
        out.append(d)
    return out


def hls_config(
    golden: IntegerNetwork, plan: dict, input_name: str, reuse: dict, folds: dict, io_type: str, trace: bool
) -> dict:
    """The ``HLSConfig`` section: ``reuse`` is hls4ml's ReuseFactor per layer, ``folds`` the
    folding (``resolve_folding``) whose ``Pe`` / ``Simd`` reach the layers that ``folding`` names."""
    all_rf1 = all(rf == 1 for rf in reuse.values())
    layer_cfg = {input_name: {"Precision": {"result": plan["input_type"]}, "Trace": False}}
    for layer in golden.layers:
        layer_cfg[layer.name] = {"ReuseFactor": reuse[layer.name], "Trace": bool(trace)}
        f = folds.get(layer.name)
        if f is not None and f["from"] == "folding":  # our layers' configurable attributes pe / simd
            layer_cfg[layer.name].update(Pe=f["PE"], Simd=f["SIMD"])
    return {
        "Model": {
            "Precision": plan["input_type"],
            "ReuseFactor": 1,
            "Strategy": "Latency",
            # one pipelined top function when every reuse factor is 1; DATAFLOW keeps the sequential loops
            # (and is what io_stream layers need)
            "PipelineStyle": "pipeline" if (all_rf1 and io_type == "io_parallel") else "dataflow",
        },
        "LayerName": layer_cfg,
    }

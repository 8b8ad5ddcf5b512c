"""Absorb the weight quantizers: quantized constant weights -> integer initializers."""

from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.transformation.base import Transformation

from hw_bnn.compile.graph import LINEAR, QUANTIZERS, add_const, attrs, check_scale, int_dtype, new_name, scalar
from hw_bnn.errors import CompileError


def weight_levels(model, q) -> tuple[int, int]:
    """Integer range ``[qmin, qmax]`` of a weight Quant node (its bit width, signed, narrow)."""
    b = scalar(model, q.input[3], q)
    a = attrs(q)
    signed, narrow = int(a.get("signed", 1)), int(a.get("narrow", 0))
    if b != int(b) or b < 1:
        raise CompileError(f"node {q.name} (Quant): bit width {b} must be a positive integer")
    b = int(b)
    if signed:
        return -(2 ** (b - 1)) + narrow, 2 ** (b - 1) - 1
    return 0, 2**b - 1 - narrow


def _integer_weights(model, q, w: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, str]:
    """The integer weight ``W_int`` with ``W = s * W_int`` and its qonnx datatype: the sign
    for BipolarQuant, ``clip(round(W / s), qmin, qmax)`` for a symmetric Quant."""
    if q.op_type == "BipolarQuant":
        return np.where(w >= 0, 1.0, -1.0).astype(np.float32), "BIPOLAR"
    qmin, qmax = weight_levels(model, q)
    z = scalar(model, q.input[2], q)
    if z != 0:
        raise CompileError(
            f"node {q.name} (Quant on weights): zero point {z:g}; symmetric weights (zero point 0) are required"
        )
    w_int = np.clip(np.round(w / s), qmin, qmax).astype(np.float32)
    return w_int, int_dtype(int(w_int.min(initial=0)), int(w_int.max(initial=0)))


def _scale_after(model, q, lin, s: np.ndarray, n_out: int) -> None:
    """Move the weight scale behind the linear op: ``op(x, s W_int) = s * op(x, W_int)``
    (per tensor, or per output channel)."""
    out = lin.output[0]
    mid = new_name(model, f"{lin.name}_unscaled")
    lin.output[0] = mid
    if s.size == 1:
        s_out = s.reshape(1)
    elif s.size == n_out:
        s_out = s.reshape((1, n_out, 1, 1) if lin.op_type == "Conv" else (1, n_out))
    else:
        raise CompileError(
            f"node {q.name} ({q.op_type}): weight scale of shape {s.shape} is neither per tensor nor per output channel"
        )
    sname = add_const(model, f"{lin.name}_wscale", s_out)
    idx = model.get_node_index(lin)
    model.graph.node.insert(idx + 1, helper.make_node("Mul", [mid, sname], [out], name=f"{lin.name}_wscale"))


def _fold_constant(model, q) -> None:
    """A quantizer of a constant that is no layer's weights (a quantized bias) -> its output
    value, computed by qonnx as the export computes it, as a float32 initializer."""
    from qonnx.core.onnx_exec import execute_node
    from qonnx.util.basic import get_preferred_onnx_opset

    ctx = {i: model.get_initializer(i) for i in q.input if i}
    ctx[q.output[0]] = None
    execute_node(q, ctx, model.graph, get_preferred_onnx_opset())
    model.set_initializer(q.output[0], np.asarray(ctx[q.output[0]], dtype=np.float32))
    model.graph.node.remove(q)


class AbsorbWeightQuantizers(Transformation):
    """BipolarQuant / Quant on a constant weight -> the integer weight as an initializer
    (datatype BIPOLAR or INTb).  A scale other than 1 (per tensor or per output channel)
    becomes a Mul after the MatMul / Conv, where the next chain absorbs it:
    ``op(x, s * W_int) = s * op(x, W_int)``, which the export computes exactly when ``s`` is a
    power of two; another ``s`` is recorded, and the integer graph then computes the model's
    integer semantics (:mod:`hw_bnn.compile.near_ties`)."""

    def apply(self, model):
        for q in list(model.graph.node):
            if q.op_type not in QUANTIZERS or model.get_initializer(q.input[0]) is None:
                continue
            w = model.get_initializer(q.input[0]).astype(np.float32)
            s = model.get_initializer(q.input[1])
            consumers = model.find_consumers(q.output[0])
            if consumers and not any(c.op_type in LINEAR and c.input[1] == q.output[0] for c in consumers):
                _fold_constant(model, q)  # a quantized bias (Brevitas' Int32Bias): its float32 value
                return model, True
            if len(consumers) != 1 or consumers[0].op_type not in LINEAR or consumers[0].input[1] != q.output[0]:
                raise CompileError(f"node {q.name} ({q.op_type} on weights): expected one MatMul or Conv consumer")
            lin = consumers[0]
            if s is None:
                raise CompileError(f"node {q.name} ({q.op_type}): the weight scale must be a constant")
            check_scale(model, s, q, "weight scale")
            w_int, dt = _integer_weights(model, q, w, s)
            lin.input[1] = add_const(model, f"{lin.name}_weights", w_int, dt)
            if not np.all(s == 1.0):
                _scale_after(model, q, lin, s, w.shape[0] if lin.op_type == "Conv" else w.shape[1])
            model.graph.node.remove(q)
            return model, True
        return model, False

"""``GemmAsMatMul``: a ``QuantLinear``'s export as ``Gemm`` -> ``MatMul`` plus its bias.

Brevitas exports ``QuantLinear`` as ``Gemm(x, Quant(W), b)`` with ``transB = 1`` (``W`` is
``out x in``), and as ``MatMul`` only without a bias.  ``Gemm`` computes
``Y = alpha * A' B' + beta * C`` (``'`` where ``transA`` / ``transB`` say).  With ``alpha = beta = 1``
and ``transA = 0`` it is rewritten exactly as

    ``MatMul(A, Quant(W^T)) + C``

transposing the weight constant and its quantizer's per-channel parameters (``out x 1`` ->
``1 x out``) instead of the quantized tensor, so that the weight quantizer still sits right on
a constant (:mod:`hw_bnn.compile.passes.weights` takes it from there) and the bias is one more
step of the chain after the accumulator (absorbed into the next thresholds or the output).
"""

from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.transformation.base import Transformation

from hw_bnn.compile.graph import QUANTIZERS, attrs, new_name
from hw_bnn.errors import CompileError


def _transpose_const(model, name: str, node) -> str:
    """A transposed copy of the 2-D (or broadcast) constant ``name``; its new name."""
    value = model.get_initializer(name)
    if value is None:
        raise CompileError(f"node {node.name} (Gemm): weight input '{name}' is not a constant")
    if value.ndim != 2:
        return name  # a scalar or 1-element parameter is the same transposed
    out = new_name(model, name + "_T")
    model.set_initializer(out, np.ascontiguousarray(value.T))
    return out


def _transposed_weights(model, n) -> tuple[str, list]:
    """The name of ``W^T`` for Gemm ``n``'s ``B`` and the nodes that make it: the transposed
    constant, or a quantizer of it with transposed per-channel parameters (the old quantizer
    removed when nothing else reads it)."""
    b = n.input[1]
    q = model.find_producer(b)
    if q is None:
        return _transpose_const(model, b, n), []
    if q.op_type not in QUANTIZERS:
        raise CompileError(
            f"node {n.name} (Gemm): its weights come from {q.op_type} {q.name}, not a quantized constant"
        )
    ins = [_transpose_const(model, i, n) for i in q.input]
    out = new_name(model, b + "_T")
    tq = helper.make_node(q.op_type, ins, [out], name=new_name(model, q.name + "_T"), domain=q.domain)
    tq.attribute.extend(q.attribute)
    if len(model.find_consumers(b)) == 1:
        model.graph.node.remove(q)
    return out, [tq]


class GemmAsMatMul(Transformation):
    """Every ``Gemm`` (``alpha = beta = 1``, ``transA = 0``) as ``MatMul`` and an ``Add`` of its bias."""

    def apply(self, model):
        for n in list(model.graph.node):
            if n.op_type != "Gemm":
                continue
            a = attrs(n)
            if float(a.get("alpha", 1.0)) != 1.0 or float(a.get("beta", 1.0)) != 1.0 or int(a.get("transA", 0)):
                raise CompileError(
                    f"node {n.name} (Gemm): alpha={a.get('alpha', 1.0)}, beta={a.get('beta', 1.0)}, "
                    f"transA={a.get('transA', 0)}; only alpha = beta = 1 and transA = 0 (a Linear layer) are supported"
                )
            w, nodes = _transposed_weights(model, n) if int(a.get("transB", 0)) else (n.input[1], [])
            y = n.output[0]
            mm_out = new_name(model, y + "_mm") if len(n.input) > 2 else y
            nodes.append(
                helper.make_node("MatMul", [n.input[0], w], [mm_out], name=new_name(model, n.name + "_matmul"))
            )
            if len(n.input) > 2 and n.input[2]:
                nodes.append(helper.make_node("Add", [mm_out, n.input[2]], [y], name=new_name(model, n.name + "_bias")))
            at = list(model.graph.node).index(n)
            model.graph.node.remove(n)
            for k, new in enumerate(nodes):
                model.graph.node.insert(at + k, new)
            return model, True
        return model, False

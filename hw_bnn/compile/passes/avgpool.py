"""``GlobalPoolAsConv``: global average pooling -> a sum convolution and a division.

``GlobalAveragePool(x)[c] = (sum_{h,w} x[c, h, w]) / (H W)`` (``AdaptiveAvgPool2d(1)``).  On codes
the sum is an integer: a ``Conv`` with an ``H x W`` kernel, no padding, and the weights
``W[o, c] = [o == c]`` (each output channel sums its own input channel), which the hardware
builds like any integer convolution over its one window.  The division ``Div(H W)`` stays a
float32 step of the chain after it, absorbed into the next thresholds exactly as the export
computes it: the export sums the dequantized inputs (multiples of one scale, so the sum is
exact below 2**24 of them) and divides by ``H W``.
"""

from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.transformation.base import Transformation

from hw_bnn.compile.graph import add_const, new_name
from hw_bnn.errors import CompileError


def _check_requantized(model, n) -> None:
    """The mean must reach a quantizer (through layout ops) before a linear layer reads it:
    the linear layer's input must be codes."""
    t = n.output[0]
    while True:
        readers = model.find_consumers(t)
        if len(readers) != 1 or readers[0].op_type not in ("Flatten", "Reshape"):
            break
        t = readers[0].output[0]
    linear = [r for r in readers if r.op_type in ("MatMul", "Gemm", "Conv")]
    if linear:
        raise CompileError(
            f"node {n.name} (GlobalAveragePool): its mean goes into {linear[0].op_type} {linear[0].name} "
            f"unquantized; put an activation quantizer (QuantIdentity, QuantReLU) after the pooling"
        )


class GlobalPoolAsConv(Transformation):
    """Every ``GlobalAveragePool`` on an ``N x C x H x W`` tensor as ``Conv`` (the channel sums)
    then ``Div(H W)``."""

    def apply(self, model):
        for n in list(model.graph.node):
            if n.op_type != "GlobalAveragePool":
                continue
            shape = model.get_tensor_shape(n.input[0])
            if shape is None or len(shape) != 4:
                raise CompileError(f"node {n.name} (GlobalAveragePool): needs a 4-D input of known shape (got {shape})")
            _check_requantized(model, n)
            _, c, h, w = (int(v) for v in shape)
            weights = np.zeros((c, c, h, w), dtype=np.float32)
            weights[np.arange(c), np.arange(c)] = 1.0
            wname = add_const(model, f"{n.name}_ones", weights)
            summed = new_name(model, f"{n.name}_sum")
            conv = helper.make_node(
                "Conv", [n.input[0], wname], [summed], name=new_name(model, f"{n.name}_conv"),
                kernel_shape=[h, w], strides=[1, 1], pads=[0, 0, 0, 0],
            )  # fmt: skip
            div = helper.make_node(
                "Div", [summed, add_const(model, f"{n.name}_pixels", np.asarray(h * w, np.float32))], [n.output[0]],
                name=new_name(model, f"{n.name}_mean"),
            )  # fmt: skip
            at = model.get_node_index(n)
            model.graph.node.remove(n)
            model.graph.node.insert(at, div)
            model.graph.node.insert(at, conv)
            return model, True
        return model, False

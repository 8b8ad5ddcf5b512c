"""``AvgPoolAsConv``: average pooling -> a sum convolution and a division.

``GlobalAveragePool(x)[c] = (sum_{h,w} x[c, h, w]) / (H W)`` (``AdaptiveAvgPool2d(1)``), and
``AveragePool`` with a ``k x k`` kernel and stride ``s`` (``AvgPool2d(k, s)``, no padding, floor
mode) the same over each window: ``(sum x[c, s i + u, s j + v]) / k^2``.  On codes the sum is an
integer: a ``Conv`` with the pooling's kernel and stride, no padding, and the weights
``W[o, c] = [o == c]`` (each output channel sums its own input channel), which the hardware
builds like any integer convolution.  The division stays a float32 step of the chain after it,
absorbed into the next thresholds exactly as the export computes it: the export sums the
dequantized inputs (multiples of one scale, so the sum is exact below 2**24 of them) and
divides by the window's size.
"""

from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.transformation.base import Transformation

from hw_bnn.compile.graph import add_const, attrs, new_name
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
            f"node {n.name} ({n.op_type}): its mean goes into {linear[0].op_type} {linear[0].name} "
            f"unquantized; put an activation quantizer (QuantIdentity, QuantReLU) after the pooling"
        )


def _window(n, h: int, w: int) -> tuple[list, list]:
    """(kernel, strides) of the pooling node ``n`` on an ``h x w`` map, or CompileError."""
    if n.op_type == "GlobalAveragePool":
        return [h, w], [1, 1]
    a = attrs(n)
    kernel = [int(v) for v in a["kernel_shape"]]
    strides = [int(v) for v in a.get("strides", kernel)]
    pads = [int(v) for v in a.get("pads", [0, 0, 0, 0])]
    if any(pads) or int(a.get("ceil_mode", 0)):
        raise CompileError(
            f"node {n.name} (AveragePool): padding {pads} and ceil_mode are not supported; "
            f"use AvgPool2d(k, s) without padding (the window's mean over real pixels only)"
        )
    if len(kernel) != 2:
        raise CompileError(f"node {n.name} (AveragePool): needs a 2-D kernel (got {kernel})")
    return kernel, strides


class AvgPoolAsConv(Transformation):
    """Every ``GlobalAveragePool`` and ``AveragePool`` on an ``N x C x H x W`` tensor as ``Conv``
    (the channel sums over each window) then ``Div`` by the window's size."""

    def apply(self, model):
        for n in list(model.graph.node):
            if n.op_type not in ("GlobalAveragePool", "AveragePool"):
                continue
            shape = model.get_tensor_shape(n.input[0])
            if shape is None or len(shape) != 4:
                raise CompileError(f"node {n.name} ({n.op_type}): needs a 4-D input of known shape (got {shape})")
            _check_requantized(model, n)
            _, c, h, w = (int(v) for v in shape)
            kernel, strides = _window(n, h, w)
            weights = np.zeros((c, c, *kernel), dtype=np.float32)
            weights[np.arange(c), np.arange(c)] = 1.0
            wname = add_const(model, f"{n.name}_ones", weights)
            summed = new_name(model, f"{n.name}_sum")
            conv = helper.make_node(
                "Conv", [n.input[0], wname], [summed], name=new_name(model, f"{n.name}_conv"),
                kernel_shape=kernel, strides=strides, pads=[0, 0, 0, 0],
            )  # fmt: skip
            size = np.asarray(kernel[0] * kernel[1], np.float32)
            div = helper.make_node(
                "Div", [summed, add_const(model, f"{n.name}_pixels", size)], [n.output[0]],
                name=new_name(model, f"{n.name}_mean"),
            )  # fmt: skip
            at = model.get_node_index(n)
            model.graph.node.remove(n)
            model.graph.node.insert(at, div)
            model.graph.node.insert(at, conv)
            return model, True
        return model, False

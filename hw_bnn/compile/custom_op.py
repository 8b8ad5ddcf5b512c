"""qonnx custom ops of the integer graph's fixed-point and concatenation nodes.

Their ONNX domain is ``hw_bnn.custom_op`` (:data:`DOMAIN`; it is written into every
``integer.onnx``, so it stays as it was when this module was ``hw_bnn/custom_op.py``).  qonnx
imports a node's domain as a Python module and finds the op classes in its ``custom_op`` dict;
``hw_bnn.compile`` registers the alias ``hw_bnn.custom_op -> hw_bnn.compile.custom_op`` when
it is imported, so ``qonnx.core.onnx_exec`` executes an ``integer.onnx`` with fixed-point
shortcuts.  The arithmetic is the golden model's (:class:`hw_bnn.ir.FixedChainLayer`,
:class:`hw_bnn.ir.FixedAddLayer`): integer codes in, integer codes out (carried as float32,
exact below 2**24).

``FixedChain(x, G, P, N, Z)``
    attributes ``in_frac``, ``frac``, ``slope_frac``, ``width``, ``rounding``, ``overflow``,
    ``xnor_k`` (when non-zero the input is a popcount ``p`` and the chain reads the bipolar
    accumulator ``a = 2 p - xnor_k``), ``lo`` / ``hi`` (the output codes' range).
``FixedAdd(a, b)``
    attributes ``width``, ``overflow``, ``lo``, ``hi``.
``IntConcat(x_1, x_2, ...)``
    attributes ``xnor_ks``, ``lo``, ``hi``: channel concatenation of integer tensors.
"""

from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.custom_op.base import CustomOp

from hw_bnn.ir import FixedAddLayer, FixedChainLayer, bits_for_range

DOMAIN = "hw_bnn.custom_op"  # the ONNX domain of the nodes below (inside every integer.onnx)


def _channels_last(x: np.ndarray) -> np.ndarray:
    return np.moveaxis(x, 1, -1) if x.ndim > 2 else x


def _channels_first(x: np.ndarray) -> np.ndarray:
    return np.moveaxis(x, -1, 1) if x.ndim > 2 else x


class _FixedOp(CustomOp):
    def make_shape_compatible_op(self, model):
        node = self.onnx_node
        return helper.make_node("Identity", [node.input[0]], [node.output[0]])

    def infer_node_datatype(self, model):
        node = self.onnx_node
        model.set_tensor_datatype(node.output[0], DataType[f"INT{self.get_nodeattr('width')}"])

    def verify_node(self):
        return []


class FixedChain(_FixedOp):
    def get_nodeattr_types(self):
        return {
            "in_frac": ("i", True, 0),
            "frac": ("i", True, 0),
            "slope_frac": ("i", True, 0),
            "width": ("i", True, 0),
            "rounding": ("s", False, "rnd_conv"),
            "overflow": ("s", False, "sat"),
            "xnor_k": ("i", False, 0),
            "lo": ("i", True, 0),
            "hi": ("i", True, 0),
        }

    def layer(self, params) -> FixedChainLayer:
        g, p, n, z = (np.asarray(v).astype(np.int64).reshape(-1) for v in params)
        return FixedChainLayer(
            self.onnx_node.name,
            (len(g),),
            g,
            p,
            n,
            z,
            self.get_nodeattr("in_frac"),
            self.get_nodeattr("frac"),
            self.get_nodeattr("slope_frac"),
            self.get_nodeattr("width"),
            (-(2**40), 2**40),
            self.get_nodeattr("rounding"),
            self.get_nodeattr("overflow"),
        )

    def execute_node(self, context, graph):
        node = self.onnx_node
        x = context[node.input[0]]
        layer = self.layer([context[i] for i in node.input[1:5]])
        xi = np.round(x).astype(np.int64)
        k = self.get_nodeattr("xnor_k")
        if k:
            xi = 2 * xi - k
        context[node.output[0]] = _channels_first(layer.forward(_channels_last(xi))).astype(np.float32)


class FixedAdd(_FixedOp):
    def get_nodeattr_types(self):
        return {
            "width": ("i", True, 0),
            "overflow": ("s", False, "sat"),
            "lo": ("i", True, 0),
            "hi": ("i", True, 0),
        }

    def execute_node(self, context, graph):
        node = self.onnx_node
        layer = FixedAddLayer(node.name, (), self.get_nodeattr("width"), ("a", "b"), self.get_nodeattr("overflow"))
        a, b = (np.round(context[i]).astype(np.int64) for i in node.input[:2])
        context[node.output[0]] = layer.forward(a, b).astype(np.float32)


class IntConcat(CustomOp):
    """Channel concatenation of integer tensors (BinaryDenseNet).  Input ``i`` is taken as it is,
    or, when ``xnor_ks[i]`` is non-zero, as a popcount ``p`` that stands for the bipolar
    accumulator ``a = 2 p - xnor_ks[i]`` (what the golden XNOR convolution outputs)."""

    def get_nodeattr_types(self):
        return {"xnor_ks": ("ints", True, []), "lo": ("i", True, 0), "hi": ("i", True, 0)}

    def make_shape_compatible_op(self, model):
        node = self.onnx_node
        return helper.make_node("Concat", list(node.input), [node.output[0]], axis=1)

    def infer_node_datatype(self, model):
        w, signed = bits_for_range(self.get_nodeattr("lo"), self.get_nodeattr("hi"))
        model.set_tensor_datatype(self.onnx_node.output[0], DataType[f"{'INT' if signed else 'UINT'}{w}"])

    def verify_node(self):
        return []

    def execute_node(self, context, graph):
        node = self.onnx_node
        ks = list(self.get_nodeattr("xnor_ks"))
        parts = []
        for i, k in zip(node.input, ks):
            v = context[i]
            parts.append(2 * v - k if k else v)
        context[node.output[0]] = np.concatenate(parts, axis=1).astype(np.float32)


custom_op = {"FixedChain": FixedChain, "FixedAdd": FixedAdd, "IntConcat": IntConcat}  # what qonnx looks up

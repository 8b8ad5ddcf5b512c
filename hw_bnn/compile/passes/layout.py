"""Layout-only ops: Reshape, Flatten and pure-layout Transpose, moved out of the computation's way.

A layout-only op ``L`` changes a tensor's shape but not its elements in row-major order
(``ravel(L(x)) = ravel(x)``).  Exported models put them where the compiler wants none: the
``bnn_pynq`` MLPs of ``brevitas_examples`` flatten the image (``x.view(N, -1)``) *before* the
input quantizer, so the quantizer's chain does not start at the integer input.  These moves
change no value:

* a ``Transpose`` whose permutation keeps the order of the axes longer than 1 is a ``Reshape``
  (any other transpose reorders elements and is refused, naming the node);
* ``L`` with the same input and output shape is the identity and goes away;
* ``L2(L1(x)) = L2(x)`` when ``L2`` is a Reshape or Flatten: both keep the row-major order;
* ``f(L(x)) = L(f(x))`` for an elementwise ``f`` whose other inputs are constant scalars
  (``Mul``, ``Sub``, ``Quant``, ``BipolarQuant``, ...): ``f`` acts on every element alone, so
  ``L`` sinks below it, towards the linear op that needs the flat tensor.
"""

from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.transformation.base import Transformation

from hw_bnn.compile.graph import ELEMENTWISE, QUANTIZERS, add_const, attrs, new_name
from hw_bnn.errors import CompileError

__all__ = ["LAYOUT_OPS", "SimplifyLayout", "is_pure_layout_perm"]

LAYOUT_OPS = {"Reshape", "Flatten", "Transpose"}
# elementwise on each element alone when their other inputs are scalars (not BatchNormalization:
# its constants are per channel of axis 1, which a reshape moves)
_SCALAR_ELEMENTWISE = (ELEMENTWISE - {"BatchNormalization"}) | QUANTIZERS


def is_pure_layout_perm(shape, perm) -> bool:
    """True when ``Transpose(perm)`` of a tensor of ``shape`` keeps the row-major order: the axes
    longer than 1 stay in the same order (only axes of size 1 move)."""
    kept = [int(p) for p in perm if int(shape[int(p)]) != 1]
    return kept == sorted(kept)


def _shape(model, tensor: str):
    s = model.get_tensor_shape(tensor)
    return None if s is None else [int(v) for v in s]


def _transpose_as_reshape(model, n) -> bool:
    """Replace a pure-layout Transpose by the Reshape to its output shape; refuse any other."""
    shape, out = _shape(model, n.input[0]), _shape(model, n.output[0])
    if shape is None or out is None:
        raise CompileError(f"node {n.name} (Transpose): its input shape is unknown; cannot tell whether it moves data")
    perm = [int(p) for p in attrs(n).get("perm", range(len(shape) - 1, -1, -1))]  # default: reverse
    if not is_pure_layout_perm(shape, perm):
        raise CompileError(
            f"node {n.name} (Transpose): perm {perm} of shape {shape} reorders the elements; only a transpose "
            f"that moves axes of size 1 (a pure layout change) is supported"
        )
    target = add_const(model, f"{n.name}_shape", [0] + out[1:])  # 0: keep the batch dimension
    model.set_initializer(target, np.asarray([0] + out[1:], dtype=np.int64))
    r = helper.make_node("Reshape", [n.input[0], target], [n.output[0]], name=f"{n.name}_reshape")
    model.graph.node.insert(model.get_node_index(n), r)
    model.graph.node.remove(n)
    return True


def _bypass(model, n) -> bool:
    """Remove ``n`` (its readers read its input), unless its output is a graph output."""
    if n.output[0] in {o.name for o in model.graph.output}:
        return False
    for c in model.find_consumers(n.output[0]):
        for i, name in enumerate(c.input):
            if name == n.output[0]:
                c.input[i] = n.input[0]
    model.graph.node.remove(n)
    return True


def _sink_below(model, n, f) -> bool:
    """``f(L(x)) ==> L(f(x))`` for the elementwise ``f`` that alone reads ``L``'s output."""
    y = f.output[0]
    fx = new_name(model, f"{f.name}_unshaped")
    for i, name in enumerate(f.input):
        if name == n.output[0]:
            f.input[i] = n.input[0]
    f.output[0] = fx
    dt = model.get_tensor_datatype(y)
    model.set_tensor_datatype(fx, dt)
    n.input[0], n.output[0] = fx, y
    model.graph.node.remove(n)
    model.graph.node.insert(model.get_node_index(f) + 1, n)
    return True


def _scalar_elementwise_reader(model, n):
    """The one reader of ``n``'s output when it is elementwise with scalar constants, else None."""
    if n.output[0] in {o.name for o in model.graph.output}:
        return None
    readers = model.find_consumers(n.output[0])
    if len(readers) != 1 or readers[0].op_type not in _SCALAR_ELEMENTWISE or len(readers[0].output) != 1:
        return None
    f = readers[0]
    others = [i for i in f.input if i and i != n.output[0]]
    if f.input[0] != n.output[0] or any(
        model.get_initializer(i) is None or model.get_initializer(i).size != 1 for i in others
    ):
        return None
    return f


class SimplifyLayout(Transformation):
    """Layout-only ops out of the way of the computation (module docstring): pure-layout
    Transposes become Reshapes, identities go, consecutive layout ops merge, and a layout op
    sinks below the elementwise ops with scalar constants after it."""

    def apply(self, model):
        for n in list(model.graph.node):
            if n.op_type not in LAYOUT_OPS:
                continue
            if n.op_type == "Transpose":
                return model, _transpose_as_reshape(model, n)
            shape_in, shape_out = _shape(model, n.input[0]), _shape(model, n.output[0])
            if shape_in is not None and shape_in == shape_out and _bypass(model, n):
                return model, True
            readers = model.find_consumers(n.output[0])
            if (
                len(readers) == 1
                and readers[0].op_type in ("Reshape", "Flatten")
                and model.get_initializer(n.input[0]) is None
                and _bypass(model, n)
            ):
                return model, True
            f = _scalar_elementwise_reader(model, n)
            if f is not None:
                return model, _sink_below(model, n, f)
        return model, False

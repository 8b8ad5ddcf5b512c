"""Graph helpers shared by the compiler passes: names, constants, attributes, datatypes,
scale checks, weight matrices, integer sources and the elementwise chains after them.

An *integer source* is a tensor whose values the hardware holds as integers, with a known
domain ``[lo, hi]`` (:func:`source_info`): the integer model input, an XNOR popcount
``p in [0, K]`` (fan-in ``K``), an integer product of codes ``a in [-M, M]`` with
``M = max_c sum_i |W[i, c]| * L_in``, a fixed-point code or an integer concatenation.  A
*chain* is the small elementwise graph from one integer source to a tensor
(:func:`walk_chain_up`); the passes evaluate it on the source's domain with qonnx
(:func:`run_chain`), in float32 exactly as the exported model runs it.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.infer_shapes import InferShapes

from hw_bnn.compile.custom_op import DOMAIN as HW_DOMAIN
from hw_bnn.errors import CompileError
from hw_bnn.ir import bits_for_range

QONNX_DOMAIN = "qonnx.custom_op.general"
ELEMENTWISE = {
    "Mul",
    "Add",
    "Sub",
    "Div",
    "BatchNormalization",
    "Relu",
    "Clip",
    "PRelu",
    "Neg",
    "Identity",
    "Tanh",
    "Greater",
    "Less",
    "GreaterOrEqual",
    "LessOrEqual",
    "Where",
    "Max",
    "Min",
    "Abs",
}
QUANTIZERS = {"BipolarQuant", "Quant"}
LINEAR = {"MatMul", "Conv"}
CODE_PATH = {"Pad", "MaxPool", "Flatten", "Reshape"}  # may sit between codes and a linear op
FIXED_OPS = {"FixedChain", "FixedAdd"}  # fixed-point shortcuts, of HW_DOMAIN (ops in hw_bnn.compile.custom_op)
SUPPORTED = ELEMENTWISE | QUANTIZERS | LINEAR | CODE_PATH | {"MultiThreshold", "XnorPopcountMatMul", "Concat"}

__all__ = [
    "CODE_PATH", "ELEMENTWISE", "FIXED_OPS", "HW_DOMAIN", "LINEAR", "QONNX_DOMAIN", "QUANTIZERS", "SUPPORTED",
    "add_const", "attrs", "int_dtype", "is_graph_input", "is_pow2", "is_residual_add", "is_xnor_conv", "n_minus",
    "new_name", "pad_value", "remove_dead", "check_scale", "run_chain", "scalar", "set_attr", "source_info",
    "spatial_pad", "str_attr", "walk_chain_up", "weight_matrix",
]  # fmt: skip


# -- names, constants, attributes, datatypes ---------------------------------------------
def new_name(model: ModelWrapper, base: str) -> str:
    """The first ``base_i`` (i = 0, 1, ...) that names no tensor of ``model``."""
    names = set(model.get_all_tensor_names())
    i = 0
    while f"{base}_{i}" in names:
        i += 1
    return f"{base}_{i}"


def add_const(model: ModelWrapper, base: str, value, dtype: str | None = None) -> str:
    """A new float32 initializer holding ``value`` (annotated with qonnx datatype ``dtype``)."""
    name = new_name(model, base)
    model.set_initializer(name, np.asarray(value, dtype=np.float32))
    if dtype:
        model.set_tensor_datatype(name, DataType[dtype])
    return name


def attrs(node) -> dict:
    """The node's attributes as a ``{name: value}`` dict."""
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def str_attr(node_attrs: dict, name: str, default: str) -> str:
    """A string attribute of :func:`attrs` (ONNX stores strings as bytes)."""
    v = node_attrs.get(name, default)
    return v.decode() if isinstance(v, bytes) else str(v)


def set_attr(node, name: str, value) -> None:
    """Set (replace) one attribute of ``node``."""
    for a in list(node.attribute):
        if a.name == name:
            node.attribute.remove(a)
    node.attribute.append(helper.make_attribute(name, value))


def int_dtype(lo: int, hi: int) -> str:
    """The qonnx datatype name of the smallest integer type holding ``[lo, hi]``."""
    bits, signed = bits_for_range(lo, hi)
    return f"INT{bits}" if signed else ("BINARY" if bits == 1 else f"UINT{bits}")


def is_graph_input(model: ModelWrapper, tensor: str) -> bool:
    return tensor in [i.name for i in model.graph.input]


def scalar(model: ModelWrapper, name: str, node) -> float:
    """The value of a constant scalar input of ``node``, or CompileError naming it."""
    v = model.get_initializer(name)
    if v is None or v.size != 1:
        raise CompileError(f"node {node.name} ({node.op_type}): input '{name}' must be a constant scalar")
    return float(v.reshape(-1)[0])


# -- exactness: power-of-two scales --------------------------------------------------------
def is_pow2(v) -> bool:
    """Every element of ``v`` is a positive power of two (mantissa exactly 1/2)."""
    v = np.asarray(v, dtype=np.float64)
    return bool(np.all(v > 0) and np.all(np.frexp(v)[0] == 0.5))


def check_scale(model: ModelWrapper, v, node, what: str) -> None:
    """A power-of-two scale keeps the exported float sums exact (they equal the integer sums
    times the scale).  Any other positive scale is allowed and recorded in the metadata
    (:func:`hw_bnn.compile.metadata.record_float_scale`): the integer graph then computes the
    model's integer semantics, which the export equals up to proven rounding ties."""
    from hw_bnn.compile.metadata import record_float_scale

    if np.any(np.asarray(v, dtype=np.float64) <= 0) or not np.all(np.isfinite(v)):
        shown = np.asarray(v).reshape(-1)[:4]
        raise CompileError(
            f"node {node.name} ({node.op_type}): {what} {', '.join(f'{x:g}' for x in shown)} "
            "must be positive and finite"
        )
    if not is_pow2(v):
        record_float_scale(model, v, node, what)


# -- padding ---------------------------------------------------------------------------------
def spatial_pad(model: ModelWrapper, pad_node) -> int:
    """Symmetric spatial padding of an NCHW Pad node, or CompileError."""
    pads = model.get_initializer(pad_node.input[1])
    mode = attrs(pad_node).get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if pads is None or mode != "constant":
        raise CompileError(f"node {pad_node.name} (Pad): only constant padding with constant pads is supported")
    pads = [int(v) for v in pads.reshape(-1)]
    if len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)) or len(set(pads[2:4] + pads[6:8])) != 1:
        raise CompileError(
            f"node {pad_node.name} (Pad): pads {pads} are not symmetric on height and width; the hardware "
            f"pads every border of an image by the same amount"
        )
    return pads[2]


def pad_value(model: ModelWrapper, pad_node) -> float:
    """The constant border value of a Pad node (0 when it has none)."""
    if len(pad_node.input) > 2 and pad_node.input[2]:
        return scalar(model, pad_node.input[2], pad_node)
    return 0.0


# -- weights -----------------------------------------------------------------------------------
def weight_matrix(node, w: np.ndarray) -> np.ndarray:
    """(fan-in, channels) view of a MatMul (K, C) or Conv (C, Cin, kh, kw) weight."""
    return w if node.op_type == "MatMul" else w.reshape(w.shape[0], -1).T


def n_minus(w: np.ndarray) -> np.ndarray:
    """Number of -1 weights per output channel of a +-1 Conv weight, shaped (1, C, 1, 1).

    With bits ``b`` (bit 0 codes -1), ``Conv(b, W) + n_minus = p``, the popcount of
    ``xnor(b, W bits)``."""
    return (w < 0).reshape(w.shape[0], -1).sum(axis=1).astype(np.float32).reshape(1, -1, 1, 1)


def is_xnor_conv(model: ModelWrapper, conv, add) -> bool:
    """``Conv(bits, +-1 W)`` followed by ``Add(n_minus)``: an XNOR convolution's popcount."""
    w = model.get_initializer(conv.input[1])
    c = model.get_initializer(add.input[1]) if add is not None and len(add.input) > 1 else None
    if w is None or c is None or model.get_tensor_datatype(conv.input[0]) != DataType["BINARY"]:
        return False
    return bool(np.all(np.abs(w) == 1.0)) and c.shape == (1, w.shape[0], 1, 1) and np.array_equal(c, n_minus(w))


# -- integer sources and chains ----------------------------------------------------------------
def source_info(model: ModelWrapper, tensor: str):
    """``(lo, hi, kind, node)`` when ``tensor`` is an integer accumulator (or the integer model
    input), else None.  ``kind``: ``input``, ``xnor_dense``, ``xnor_conv`` (popcounts, domain
    ``[0, K]``), ``int`` (integer product of codes, symmetric domain ``[-M, M]``), ``fixed``
    (fixed-point codes) or ``concat`` (an integer concatenation)."""
    if is_graph_input(model, tensor):
        dt = model.get_tensor_datatype(tensor)
        return (int(dt.min()), int(dt.max()), "input", None) if dt.is_integer() else None
    p = model.find_producer(tensor)
    if p is None:
        return None
    if p.op_type in FIXED_OPS:
        a = attrs(p)
        return int(a["lo"]), int(a["hi"]), "fixed", p
    if p.op_type == "IntConcat":
        a = attrs(p)
        return int(a["lo"]), int(a["hi"]), "concat", p
    if p.op_type == "MaxPool":
        inner = source_info(model, p.input[0])
        return (inner[0], inner[1], "fixed", p) if inner is not None and inner[2] == "fixed" else None
    if p.op_type == "XnorPopcountMatMul":
        return 0, int(model.get_tensor_shape(p.input[1])[0]), "xnor_dense", p
    if p.op_type == "Add":
        conv = model.find_producer(p.input[0])
        if conv is not None and conv.op_type == "Conv" and is_xnor_conv(model, conv, p):
            w = model.get_initializer(conv.input[1])
            return 0, int(np.prod(w.shape[1:])), "xnor_conv", conv
        return None
    if p.op_type in LINEAR:
        w = model.get_initializer(p.input[1])
        dt = model.get_tensor_datatype(p.input[0])
        if w is None or not dt.is_integer() or dt.min() < 0 or not np.all(w == np.round(w)):
            return None
        wm = weight_matrix(p, w) * float(dt.max())
        m = int(max(-np.minimum(wm, 0).sum(axis=0).min(initial=0), np.maximum(wm, 0).sum(axis=0).max(initial=0)))
        return -m, m, "int", p
    return None


def is_residual_add(model: ModelWrapper, n) -> bool:
    """An ``Add`` of two computed tensors (a shortcut), not of a tensor and a constant."""
    return n.op_type == "Add" and len(n.input) == 2 and all(model.get_initializer(i) is None for i in n.input)


def walk_chain_up(model: ModelWrapper, tensor: str):
    """The elementwise nodes that compute ``tensor`` from one integer source.

    The nodes may form a small graph (FPReLU: ``Where(Greater(x, 0), Mul(x, a), Mul(x, b))``)
    as long as every dynamic input traces back to the same integer source and no
    intermediate tensor feeds anything outside the chain.  Returns (source tensor, nodes in
    graph order) when it reaches an integer source, else (the tensor where it stopped, None)."""
    if source_info(model, tensor) is not None:
        return tensor, []
    nodes, sources, stack, seen = {}, set(), [tensor], set()
    while stack:
        t = stack.pop()
        if t in seen:
            continue
        seen.add(t)
        if source_info(model, t) is not None:
            sources.add(t)
            continue
        p = model.find_producer(t)
        if p is None or p.op_type not in ELEMENTWISE or is_residual_add(model, p):
            return t, None
        dyn = [i for i in p.input if i and model.get_initializer(i) is None]
        if not dyn:
            return t, None
        nodes[p.name] = p
        stack.extend(dyn)
    if len(sources) != 1:
        return tensor, None
    for n in nodes.values():  # intermediate tensors stay inside the chain
        for o in n.output:
            if o != tensor and any(c.name not in nodes for c in model.find_consumers(o)):
                return o, None
    order = {n.name: i for i, n in enumerate(model.graph.node)}
    return sources.pop(), sorted(nodes.values(), key=lambda n: order[n.name])


def _in_order(nodes: list, source: str) -> list:
    """``nodes`` in an order where each reads only ``source``, constants and earlier outputs (a
    pass may have appended a node to the graph after its readers, as ExtractBiasFromConv does)."""
    made = {o for n in nodes for o in n.output}
    have, left, out = {source}, list(nodes), []
    while left:
        ready = [n for n in left if all(i in have or i not in made for i in n.input)]
        if not ready:
            return list(nodes)  # a cycle: left as it was, for the evaluation to report
        for n in ready:
            out.append(n)
            left.remove(n)
            have.update(n.output)
    return out


def run_chain(model: ModelWrapper, source: str, nodes: list, output: str, values: np.ndarray) -> np.ndarray:
    """Evaluate ``nodes`` (source -> ... -> output) with qonnx, as the exported model is run.

    ``values`` has shape (D,); each of the C channels of ``source`` sees every value (spatial
    dimensions are 1: the chain must be per channel).  Returns the output, shape (D, C, ...)."""
    from qonnx.core.onnx_exec import execute_onnx

    shape = model.get_tensor_shape(source)
    c = shape[1]
    grid_shape = (len(values), c) + (1,) * (len(shape) - 2)
    grid = np.broadcast_to(values.astype(np.float32).reshape((-1,) + (1,) * (len(shape) - 1)), grid_shape)
    nodes = _in_order(nodes, source)
    inits = set()
    for n in nodes:
        inits.update(i for i in n.input if model.get_initializer(i) is not None)
    graph = helper.make_graph(
        [onnx.NodeProto.FromString(n.SerializeToString()) for n in nodes],
        "chain",
        [helper.make_tensor_value_info(source, onnx.TensorProto.FLOAT, list(grid_shape))],
        [helper.make_tensor_value_info(output, onnx.TensorProto.FLOAT, None)],
        [onnx.numpy_helper.from_array(model.get_initializer(i), i) for i in sorted(inits)],
    )
    sub = ModelWrapper(helper.make_model(graph, opset_imports=model.model.opset_import))
    try:
        sub = sub.transform(InferShapes())
        return execute_onnx(sub, {source: np.ascontiguousarray(grid)})[output]
    except CompileError:
        raise
    except Exception as e:  # noqa: BLE001 - onnxruntime reports broadcasting problems in many ways
        names = ", ".join(n.name for n in nodes)
        raise CompileError(
            f"chain [{names}]: cannot evaluate it per channel on the accumulator domain "
            f"(are its constants per-channel?): {type(e).__name__}: {e}"
        ) from None


def remove_dead(model: ModelWrapper) -> None:
    """Drop nodes whose outputs nobody reads (copies left behind by a rewrite)."""
    outputs = {o.name for o in model.graph.output}
    changed = True
    while changed:
        changed = False
        for n in list(model.graph.node):
            if all(o not in outputs and not model.find_consumers(o) for o in n.output):
                model.graph.node.remove(n)
                changed = True

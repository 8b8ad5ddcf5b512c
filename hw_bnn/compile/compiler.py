"""The compiler: QONNX (as exported by Brevitas) -> an integer-only graph (``integer.onnx``).

Each rewrite is a small ``qonnx.transformation.base.Transformation`` that can be run and
tested alone; :func:`compile_model` runs them to a fixed point:

``SetInputDatatype``      declare the integer input domain (8-bit pixels by default)
``CheckSupportedOps``     refuse ops and settings the compiler / hardware cannot do, naming
                          the node (stride, dilation, groups, asymmetric padding, ...)
``AbsorbWeightQuantizers``  BipolarQuant / Quant on constant weights -> integer initializers,
                          the (power-of-two) weight scale moves behind the MatMul / Conv
``AbsorbQuantizerChains``   integer accumulator -> elementwise chain -> quantizer becomes one
                          MultiThreshold, evaluated exhaustively over the accumulator's
                          integer domain (DESIGN.md section 3)
``IntegerizeLinear``      a MatMul / Conv whose input comes from a quantizer (or the integer
                          input) now takes the integer *codes* 0..L of that quantizer:
                          XNOR-popcount for +-1 x +-1, an integer product otherwise; the exact
                          correction ``value = alpha * code + beta`` follows it and folds into
                          the next chain
``AbsorbOutputChain``       the last accumulator's chain -> integer output and the documented
                          output affine (metadata ``hw_bnn.output_affine``)
``CheckIntegerOnly``      everything left must be integer; otherwise name the node

The folded graph is executable by qonnx ``execute_onnx`` (batched) and is turned into the
NumPy golden model by :func:`lower_to_ir`.  Its hardware layers:

* ``MultiThreshold`` on the graph input: the input quantizer (MLPs);
* ``XnorPopcountMatMul(bits, weight bits)`` -> popcount ``p``: XNOR dense layer;
* ``MatMul(codes, integer W)``: integer dense layer;
* ``[Pad(code)] Conv(codes, integer W)``: integer convolution (NCHW; the hardware is NHWC);
* ``Conv(bits, +-1 W)`` then ``Add(n_minus)``: XNOR convolution.  With bits ``b`` and
  ``n_minus[c]`` the number of -1 weights of channel ``c``, ``Conv(b, W) + n_minus = p``, the
  popcount of ``xnor(b, W bits)``; zero padding of bits is the bit 0, which codes -1;
* each followed by a ``MultiThreshold`` (codes of the next layer) or, last, the output;
* ``MaxPool`` and ``Flatten`` on codes.

Exactness needs every scale on the way (weights, activations, input) to be a power of two:
then the exported float graph computes its sums without rounding, exactly as the integer
graph does.  Other scales are refused with an error naming the node.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation
from qonnx.transformation.general import GiveUniqueNodeNames, SortGraph
from qonnx.transformation.infer_shapes import InferShapes

from hw_bnn.errors import CompileError
from hw_bnn.ir import (
    OVERFLOW_MODES,
    ROUNDING_MODES,
    ConcatLayer,
    ConvLayer,
    FixedAddLayer,
    FixedChainLayer,
    FlattenLayer,
    IntDenseLayer,
    IntegerNetwork,
    MaxPoolLayer,
    ThresholdLayer,
    XnorDenseLayer,
    bits_for_range,
)
from hw_bnn.ir.thresholds import NonMonotoneError, thresholds_from_codes

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
FIXED_OPS = {"FixedChain", "FixedAdd"}  # hw_bnn.compile.custom_op: fixed-point shortcuts
HW_DOMAIN = "hw_bnn.compile.custom_op"
SUPPORTED = ELEMENTWISE | QUANTIZERS | LINEAR | CODE_PATH | {"MultiThreshold", "XnorPopcountMatMul", "Concat"}
AFFINE_KEY = "hw_bnn.output_affine"
MAX_DOMAIN = 1 << 20  # accumulator values evaluated exhaustively per chain; beyond: search
SEARCH_GRID = 4097  # points of the monotonicity check on larger domains


def _new_name(model: ModelWrapper, base: str) -> str:
    names = set(model.get_all_tensor_names())
    i = 0
    while f"{base}_{i}" in names:
        i += 1
    return f"{base}_{i}"


def _add_const(model: ModelWrapper, base: str, value, dtype: str | None = None) -> str:
    name = _new_name(model, base)
    model.set_initializer(name, np.asarray(value, dtype=np.float32))
    if dtype:
        model.set_tensor_datatype(name, DataType[dtype])
    return name


def _attrs(node) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _str_attr(attrs: dict, name: str, default: str) -> str:
    v = attrs.get(name, default)
    return v.decode() if isinstance(v, bytes) else str(v)


def _set_attr(node, name: str, value) -> None:
    for a in list(node.attribute):
        if a.name == name:
            node.attribute.remove(a)
    node.attribute.append(helper.make_attribute(name, value))


def _int_dtype(lo: int, hi: int) -> str:
    bits, signed = bits_for_range(lo, hi)
    return f"INT{bits}" if signed else ("BINARY" if bits == 1 else f"UINT{bits}")


def _is_pow2(v) -> bool:
    v = np.asarray(v, dtype=np.float64)
    return bool(np.all(v > 0) and np.all(np.frexp(v)[0] == 0.5))


def _require_pow2(v, node, what: str) -> None:
    if not _is_pow2(v):
        shown = np.asarray(v).reshape(-1)[:4]
        raise CompileError(
            f"node {node.name} ({node.op_type}): {what} {', '.join(f'{x:g}' for x in shown)} is not a power of "
            f"two; the exported float graph would round its sums and the integer graph could not equal it "
            f"(train with power-of-two or constant scales)"
        )


def _is_graph_input(model: ModelWrapper, tensor: str) -> bool:
    return tensor in [i.name for i in model.graph.input]


def _weight_matrix(node, w: np.ndarray) -> np.ndarray:
    """(fan-in, channels) view of a MatMul (K, C) or Conv (C, Cin, kh, kw) weight."""
    return w if node.op_type == "MatMul" else w.reshape(w.shape[0], -1).T


def _n_minus(w: np.ndarray) -> np.ndarray:
    """Number of -1 weights per output channel of a +-1 Conv weight, shaped (1, C, 1, 1)."""
    return (w < 0).reshape(w.shape[0], -1).sum(axis=1).astype(np.float32).reshape(1, -1, 1, 1)


def _is_xnor_conv(model: ModelWrapper, conv, add) -> bool:
    w = model.get_initializer(conv.input[1])
    c = model.get_initializer(add.input[1]) if add is not None and len(add.input) > 1 else None
    if w is None or c is None or model.get_tensor_datatype(conv.input[0]) != DataType["BINARY"]:
        return False
    return bool(np.all(np.abs(w) == 1.0)) and c.shape == (1, w.shape[0], 1, 1) and np.array_equal(c, _n_minus(w))


def _source_info(model: ModelWrapper, tensor: str):
    """``(lo, hi, kind, node)`` when ``tensor`` is an integer accumulator (or the integer model
    input), else None.  ``kind``: ``input``, ``xnor_dense``, ``xnor_conv`` (popcounts, domain
    ``[0, K]``) or ``int`` (integer product of codes, symmetric domain ``[-M, M]``)."""
    if _is_graph_input(model, tensor):
        dt = model.get_tensor_datatype(tensor)
        return (int(dt.min()), int(dt.max()), "input", None) if dt.is_integer() else None
    p = model.find_producer(tensor)
    if p is None:
        return None
    if p.op_type in FIXED_OPS:
        a = _attrs(p)
        return int(a["lo"]), int(a["hi"]), "fixed", p
    if p.op_type == "IntConcat":
        a = _attrs(p)
        return int(a["lo"]), int(a["hi"]), "concat", p
    if p.op_type == "MaxPool":
        inner = _source_info(model, p.input[0])
        return (inner[0], inner[1], "fixed", p) if inner is not None and inner[2] == "fixed" else None
    if p.op_type == "XnorPopcountMatMul":
        return 0, int(model.get_tensor_shape(p.input[1])[0]), "xnor_dense", p
    if p.op_type == "Add":
        conv = model.find_producer(p.input[0])
        if conv is not None and conv.op_type == "Conv" and _is_xnor_conv(model, conv, p):
            w = model.get_initializer(conv.input[1])
            return 0, int(np.prod(w.shape[1:])), "xnor_conv", conv
        return None
    if p.op_type in LINEAR:
        w = model.get_initializer(p.input[1])
        dt = model.get_tensor_datatype(p.input[0])
        if w is None or not dt.is_integer() or dt.min() < 0 or not np.all(w == np.round(w)):
            return None
        wm = _weight_matrix(p, w) * float(dt.max())
        m = int(max(-np.minimum(wm, 0).sum(axis=0).min(initial=0), np.maximum(wm, 0).sum(axis=0).max(initial=0)))
        return -m, m, "int", p
    return None


def _flip_channels(model: ModelWrapper, kind: str, node, mask: np.ndarray) -> None:
    """Negate the accumulator of the channels in ``mask`` (``p' = K - p`` for popcounts)."""
    w = model.get_initializer(node.input[1]).copy()
    if kind == "xnor_dense":
        w[:, mask] = 1.0 - w[:, mask]
    elif node.op_type == "MatMul":
        w[:, mask] = -w[:, mask]
    else:
        w[mask] = -w[mask]
    model.set_initializer(node.input[1], w)
    if kind == "xnor_conv":
        add = model.find_consumer(node.output[0])
        model.set_initializer(add.input[1], _n_minus(w))


def _run_chain(model: ModelWrapper, source: str, nodes: list, output: str, values: np.ndarray) -> np.ndarray:
    """Evaluate ``nodes`` (source -> ... -> output) with qonnx, as the exported model is run.

    ``values`` has shape (D,); each of the C channels of ``source`` sees every value (spatial
    dimensions are 1: the chain must be per channel).  Returns the output, shape (D, C, ...)."""
    from qonnx.core.onnx_exec import execute_onnx

    shape = model.get_tensor_shape(source)
    c = shape[1]
    grid_shape = (len(values), c) + (1,) * (len(shape) - 2)
    grid = np.broadcast_to(values.astype(np.float32).reshape((-1,) + (1,) * (len(shape) - 1)), grid_shape)
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


def _walk_chain_up(model: ModelWrapper, tensor: str):
    """The elementwise nodes that compute ``tensor`` from one integer source.

    The nodes may form a small graph (FPReLU: ``Where(Greater(x, 0), Mul(x, a), Mul(x, b))``)
    as long as every dynamic input traces back to the same integer source and no
    intermediate tensor feeds anything outside the chain.  Returns (source tensor, nodes in
    graph order) when it reaches an integer source, else (the tensor where it stopped, None)."""
    if _source_info(model, tensor) is not None:
        return tensor, []
    nodes, sources, stack, seen = {}, set(), [tensor], set()
    while stack:
        t = stack.pop()
        if t in seen:
            continue
        seen.add(t)
        if _source_info(model, t) is not None:
            sources.add(t)
            continue
        p = model.find_producer(t)
        if p is None or p.op_type not in ELEMENTWISE or _is_residual_add(model, p):
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


def _scalar(model: ModelWrapper, name: str, node) -> float:
    v = model.get_initializer(name)
    if v is None or v.size != 1:
        raise CompileError(f"node {node.name} ({node.op_type}): input '{name}' must be a constant scalar")
    return float(v.reshape(-1)[0])


def _quantizer_levels(model: ModelWrapper, q):
    """(levels L, code function v -> 0..L, out_scale, out_bias, out_dtype) of a quantizer node."""
    if q.op_type == "BipolarQuant":
        s = _scalar(model, q.input[1], q)
        if s <= 0:
            raise CompileError(f"node {q.name} (BipolarQuant): scale {s} must be positive")
        return 1, (lambda v: (v > 0).astype(np.int64)), 2.0 * s, -s, "BIPOLAR" if s == 1.0 else "FLOAT32"
    # Quant: y = (clip(round(x / s + z)) - z) * s
    s, z, b = (_scalar(model, q.input[i], q) for i in (1, 2, 3))
    attrs = _attrs(q)
    signed, narrow = int(attrs.get("signed", 1)), int(attrs.get("narrow", 0))
    if b != int(b) or b < 1:
        raise CompileError(f"node {q.name} (Quant): bit width {b} must be a positive integer")
    if s <= 0 or z != int(z):
        raise CompileError(
            f"node {q.name} (Quant): needs a positive scale and an integer zero point (got {s:g}, {z:g})"
        )
    b = int(b)
    qmin = -(2 ** (b - 1)) + narrow if signed else 0
    qmax = 2 ** (b - 1) - 1 if signed else 2**b - 1 - narrow
    levels = qmax - qmin

    def code(v):
        return np.clip(np.round(v / s + z).astype(np.int64), qmin, qmax) - qmin

    dt = "FLOAT32" if (s != 1.0 or z != 0) else (f"INT{b}" if signed else f"UINT{b}")
    return levels, code, s, (qmin - z) * s, dt


def _spatial_pad(model: ModelWrapper, pad_node) -> int:
    """Symmetric spatial padding of an NCHW Pad node, or CompileError."""
    pads = model.get_initializer(pad_node.input[1])
    mode = _attrs(pad_node).get("mode", b"constant")
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


def _pad_value(model: ModelWrapper, pad_node) -> float:
    if len(pad_node.input) > 2 and pad_node.input[2]:
        return _scalar(model, pad_node.input[2], pad_node)
    return 0.0


class SetInputDatatype(Transformation):
    """Annotate the graph input with its integer datatype (the float-to-integer boundary)."""

    def __init__(self, dtype: str = "UINT8"):
        super().__init__()
        self.dtype = dtype

    def apply(self, model):
        name = model.graph.input[0].name
        model.set_tensor_datatype(name, DataType[self.dtype])
        return model, False


class CheckSupportedOps(Transformation):
    """Raise :class:`CompileError` naming the first node whose op or settings the compiler
    and the hardware do not support (convolution: square kernel, stride 1 or 2, no dilation,
    one group, symmetric padding; max pooling: square, no padding, floor)."""

    def apply(self, model):
        for n in model.graph.node:  # unknown ops first: they explain more than a setting does
            if n.op_type not in SUPPORTED:
                raise CompileError(
                    f"node {n.name} (op {n.op_type}) is not supported by the hw-bnn compiler; "
                    f"supported ops: {', '.join(sorted(SUPPORTED))}"
                )
        for n in model.graph.node:
            a = _attrs(n)
            if n.op_type in ("Conv", "MaxPool"):
                k = list(a.get("kernel_shape", []))
                if k and (len(k) != 2 or k[0] != k[1]):
                    raise CompileError(f"node {n.name} ({n.op_type}): kernel {k} is not square (k x k)")
                strides = list(a.get("strides", [1, 1]))
                if len(set(strides)) != 1 or (n.op_type == "Conv" and strides[0] not in (1, 2)):
                    raise CompileError(
                        f"node {n.name} ({n.op_type}): stride {strides} is not supported "
                        f"({'1 or 2 in both directions' if n.op_type == 'Conv' else 'equal in both directions'})"
                    )
                if any(d != 1 for d in a.get("dilations", [1, 1])):
                    raise CompileError(
                        f"node {n.name} ({n.op_type}): dilation {list(a['dilations'])} is not supported (1 only)"
                    )
                auto = a.get("auto_pad", b"NOTSET")
                if (auto.decode() if isinstance(auto, bytes) else auto) != "NOTSET":
                    raise CompileError(f"node {n.name} ({n.op_type}): auto_pad is not supported; give explicit pads")
                pads = list(a.get("pads", [0, 0, 0, 0]))
                if n.op_type == "Conv":
                    if int(a.get("group", 1)) != 1:
                        raise CompileError(f"node {n.name} (Conv): group={a['group']} is not supported (1 only)")
                    if len(set(pads)) != 1:
                        raise CompileError(
                            f"node {n.name} (Conv): padding {pads} is asymmetric; the hardware pads every "
                            f"border of an image by the same amount"
                        )
                elif any(pads) or int(a.get("ceil_mode", 0)):
                    raise CompileError(f"node {n.name} (MaxPool): padding and ceil_mode are not supported")
            elif n.op_type == "Pad":
                _spatial_pad(model, n)
            elif n.op_type == "Concat" and int(a.get("axis", 1)) != 1:
                raise CompileError(f"node {n.name} (Concat): only channel concatenation (axis=1) is supported")
            elif n.op_type == "Flatten" and int(a.get("axis", 1)) != 1:
                raise CompileError(f"node {n.name} (Flatten): only axis=1 is supported")
            elif n.op_type == "Reshape":
                shape = model.get_initializer(n.input[1])
                if shape is None or shape.size != 2:
                    raise CompileError(f"node {n.name} (Reshape): only a flatten to (N, features) is supported")
        return model, False


class AbsorbWeightQuantizers(Transformation):
    """BipolarQuant / Quant on a constant weight -> the integer weight as an initializer
    (datatype BIPOLAR or INTb).  A scale other than 1 (per tensor or per output channel, a
    power of two) becomes a Mul after the MatMul / Conv, where the next chain absorbs it."""

    def apply(self, model):
        for q in list(model.graph.node):
            if q.op_type not in QUANTIZERS or model.get_initializer(q.input[0]) is None:
                continue
            w = model.get_initializer(q.input[0]).astype(np.float32)
            s = model.get_initializer(q.input[1])
            consumers = model.find_consumers(q.output[0])
            if len(consumers) != 1 or consumers[0].op_type not in LINEAR or consumers[0].input[1] != q.output[0]:
                raise CompileError(f"node {q.name} ({q.op_type} on weights): expected one MatMul or Conv consumer")
            lin = consumers[0]
            if s is None:
                raise CompileError(f"node {q.name} ({q.op_type}): the weight scale must be a constant")
            _require_pow2(s, q, "weight scale")
            if q.op_type == "BipolarQuant":
                w_int, dt = np.where(w >= 0, 1.0, -1.0).astype(np.float32), "BIPOLAR"
            else:
                qmin, qmax = _weight_levels(model, q)
                z = _scalar(model, q.input[2], q)
                if z != 0:
                    raise CompileError(
                        f"node {q.name} (Quant on weights): zero point {z:g}; symmetric weights (zero point 0) are required"
                    )
                w_int = np.clip(np.round(w / s), qmin, qmax).astype(np.float32)
                dt = _int_dtype(int(w_int.min(initial=0)), int(w_int.max(initial=0)))
            name = _add_const(model, f"{lin.name}_weights", w_int, dt)
            lin.input[1] = name
            if not np.all(s == 1.0):
                out = lin.output[0]
                mid = _new_name(model, f"{lin.name}_unscaled")
                lin.output[0] = mid
                n_out = w.shape[0] if lin.op_type == "Conv" else w.shape[1]
                if s.size == 1:
                    s_out = s.reshape(1)
                elif s.size == n_out:
                    s_out = s.reshape((1, n_out, 1, 1) if lin.op_type == "Conv" else (1, n_out))
                else:
                    raise CompileError(
                        f"node {q.name} ({q.op_type}): weight scale of shape {s.shape} is neither per tensor nor per output channel"
                    )
                sname = _add_const(model, f"{lin.name}_wscale", s_out)
                idx = model.get_node_index(lin)
                model.graph.node.insert(
                    idx + 1, helper.make_node("Mul", [mid, sname], [out], name=f"{lin.name}_wscale")
                )
            model.graph.node.remove(q)
            return model, True
        return model, False


def _weight_levels(model: ModelWrapper, q) -> tuple[int, int]:
    """Integer range ``[qmin, qmax]`` of a weight Quant node (its bit width, signed, narrow)."""
    b = _scalar(model, q.input[3], q)
    attrs = _attrs(q)
    signed, narrow = int(attrs.get("signed", 1)), int(attrs.get("narrow", 0))
    if b != int(b) or b < 1:
        raise CompileError(f"node {q.name} (Quant): bit width {b} must be a positive integer")
    b = int(b)
    if signed:
        return -(2 ** (b - 1)) + narrow, 2 ** (b - 1) - 1
    return 0, 2**b - 1 - narrow


class AbsorbQuantizerChains(Transformation):
    """Integer source -> elementwise chain -> quantizer  ==>  MultiThreshold(source, T).

    The chain and the quantizer are evaluated by qonnx on every value of the source's
    integer domain, in float32 exactly as the exported model runs them; the table is
    turned into thresholds (:mod:`hw_bnn.ir.thresholds`).  A decreasing channel of an
    accumulator is made increasing by negating that output channel's weights (for a
    popcount, ``p' = K - p``: its weight bits flip).  The MultiThreshold keeps the
    quantizer's output values (``out_scale``, ``out_bias``), so consumers are unchanged.
    """

    def apply(self, model):
        for q in list(model.graph.node):
            if q.op_type not in QUANTIZERS or model.get_initializer(q.input[0]) is not None:
                continue
            source, chain = _walk_chain_up(model, q.input[0])
            if chain is None:
                continue
            lo, hi, kind, prod = _source_info(model, source)
            levels, code_fn, out_scale, out_bias, out_dt = _quantizer_levels(model, q)
            can_flip = kind not in ("input", "fixed", "concat") and model.get_tensor_fanout(source) == 1
            # else compare -x on decreasing channels (a tensor the hardware keeps and others read)
            can_negate = not can_flip and kind in ("fixed", "concat", "int")
            n_ch = int(model.get_tensor_shape(source)[1])

            def codes_at(values, chain=chain, q=q, source=source, code_fn=code_fn, n_ch=n_ch):
                out = _run_chain(model, source, chain + [q], q.output[0], np.asarray(values))
                c = code_fn(out).reshape(len(values), out.shape[1], -1)
                if c.shape[2] != 1:
                    raise CompileError(f"node {q.name}: chain output is not per-channel")
                return np.broadcast_to(c[:, :, 0], (len(values), n_ch))

            try:
                if hi - lo + 1 <= MAX_DOMAIN:
                    domain = np.arange(lo, hi + 1)
                    thr, flipped = thresholds_from_codes(
                        domain, codes_at(domain), levels, allow_flip=can_flip or can_negate
                    )
                else:
                    thr, flipped = _thresholds_by_search(codes_at, lo, hi, levels, can_flip or can_negate)
            except NonMonotoneError as e:
                names = ", ".join(n.name for n in chain)
                raise CompileError(f"node {q.name}: the chain [{names}] before it: {e.reason}") from None
            mt_in = source
            negate_node = None
            if flipped.any() and can_negate:
                # code = sum_k [lo + hi - a >= T'_k] = sum_k [-a >= T'_k - lo - hi]
                thr = np.where(flipped[:, None], thr - lo - hi, thr)
                sign = (
                    np.where(flipped, -1.0, 1.0)
                    .astype(np.float32)
                    .reshape([1, -1] + [1] * (len(model.get_tensor_shape(source)) - 2))
                )
                mt_in = _new_name(model, f"{source}_negated")
                negate_node = helper.make_node(
                    "Mul",
                    [source, _add_const(model, f"{q.name}_negate", sign, "INT2")],
                    [mt_in],
                    name=f"{q.name}_negate",
                )
            elif flipped.any():
                _flip_channels(model, kind, prod, flipped)
            if np.all(thr == thr[:1]):
                thr = thr[:1]
            tname = _add_const(model, f"{q.name}_thresholds", thr, _int_dtype(int(thr.min()), int(thr.max())))
            mt = helper.make_node(
                "MultiThreshold",
                [mt_in, tname],
                [q.output[0]],
                domain=QONNX_DOMAIN,
                name=f"{q.name}_thresholds",
                out_dtype=out_dt,
                out_scale=float(out_scale),
                out_bias=float(out_bias),
            )
            idx = model.get_node_index(chain[0] if chain else q)
            for n in chain + [q]:
                model.graph.node.remove(n)
            model.graph.node.insert(idx, mt)
            if negate_node is not None:
                model.graph.node.insert(idx, negate_node)
                model.set_tensor_datatype(mt_in, DataType[f"INT{bits_for_range(-hi, -lo if lo < 0 else hi)[0] + 1}"])
            model.set_tensor_datatype(q.output[0], DataType[out_dt])
            return model, True
        return model, False


def _thresholds_by_search(codes_at, lo: int, hi: int, levels: int, allow_flip: bool):
    """Thresholds on a domain too large to enumerate: monotonicity is checked on a grid of
    ``SEARCH_GRID`` points, every threshold is found by bisection on the chain itself and
    confirmed at its boundary (``code(t - 1) < k <= code(t)``).  Same result format as
    :func:`hw_bnn.ir.thresholds.thresholds_from_codes` (flipped channels use ``lo + hi - a``)."""
    grid = np.unique(np.linspace(lo, hi, SEARCH_GRID).round().astype(np.int64))
    g = codes_at(grid)
    step = np.diff(g, axis=0)
    inc, dec = np.all(step >= 0, axis=0), np.all(step <= 0, axis=0)
    bad = np.flatnonzero(~inc & ~dec)
    if bad.size:
        c = int(bad[0])
        raise NonMonotoneError(
            c, f"channel {c} is not monotone in the accumulator (it rises and falls over [{lo}, {hi}])"
        )
    flipped = dec & ~inc
    if flipped.any() and not allow_flip:
        c = int(np.flatnonzero(flipped)[0])
        raise NonMonotoneError(c, f"channel {c} is decreasing in its input and its accumulator cannot be negated here")
    n_ch = g.shape[1]
    pair_c = np.repeat(np.arange(n_ch), levels)
    pair_k = np.tile(np.arange(1, levels + 1), n_ch)
    pair_flip = flipped[pair_c]

    def code_prime(a_prime):  # code'(a') = code(lo + hi - a') on flipped channels
        a = np.where(pair_flip, lo + hi - a_prime, a_prime)
        u, inv = np.unique(a, return_inverse=True)
        return codes_at(u)[inv, pair_c]

    gm = codes_at(lo + hi - grid) if flipped.any() else g
    g_prime = np.where(flipped[None, :], gm, g)  # code' on the grid
    reached = g_prime[:, pair_c] >= pair_k  # (G, P)
    ever = reached.any(axis=0)
    first = np.argmax(reached, axis=0)
    hi_b = np.where(ever, grid[first], hi + 1).astype(np.int64)  # code' >= k here
    lo_b = np.where(first > 0, grid[np.maximum(first - 1, 0)], lo - 1).astype(np.int64)  # code' < k here
    lo_b = np.where(ever, lo_b, hi)
    while np.any(hi_b - lo_b > 1):
        active = hi_b - lo_b > 1
        mid = np.where(active, (lo_b + hi_b) // 2, lo_b)
        ok = code_prime(np.clip(mid, lo, hi)) >= pair_k
        hi_b = np.where(active & ok, mid, hi_b)
        lo_b = np.where(active & ~ok, mid, lo_b)
    t = hi_b
    # confirm every threshold at its boundary
    inside = (t >= lo) & (t <= hi)
    if np.any(inside & (code_prime(np.clip(t, lo, hi)) < pair_k)) or np.any(
        (t > lo) & (t <= hi + 1) & (code_prime(np.clip(t - 1, lo, hi)) >= pair_k)
    ):
        raise AssertionError("threshold confirmation failed")  # pragma: no cover
    return t.reshape(n_ch, levels), flipped


def _trace_codes(model: ModelWrapper, tensor: str):
    """What a linear op's data input is made of: walk up through Pad / MaxPool / Flatten to a
    MultiThreshold, the integer input, or a scalar Mul of the integer input.

    Returns ``dict(kind, node, alpha, beta, levels, path)`` with ``value = alpha * code + beta``
    and codes in ``0..levels``, or None."""
    path = []
    t = tensor
    while True:
        p = model.find_producer(t)
        if p is None or p.op_type not in CODE_PATH:
            break
        if model.get_tensor_fanout(t) != 1:
            return None
        path.insert(0, p)
        t = p.input[0]
    if _is_graph_input(model, t):
        dt = model.get_tensor_datatype(t)
        if not dt.is_integer() or dt.min() < 0:
            return None
        return {
            "kind": "input",
            "node": None,
            "alpha": 1.0,
            "beta": 0.0,
            "levels": int(dt.max()),
            "path": path,
            "root": t,
        }
    if p is None:
        return None
    if p.op_type == "Mul" and _is_graph_input(model, p.input[0]) and model.get_initializer(p.input[1]) is not None:
        dt = model.get_tensor_datatype(p.input[0])
        s = model.get_initializer(p.input[1])
        if dt.is_integer() and dt.min() >= 0 and s.size == 1 and model.get_tensor_fanout(t) == 1:
            return {
                "kind": "scaled_input",
                "node": p,
                "alpha": float(s.reshape(-1)[0]),
                "beta": 0.0,
                "levels": int(dt.max()),
                "path": path,
                "root": t,
            }
        return None
    if p.op_type == "MultiThreshold":
        a = _attrs(p)
        levels = int(model.get_initializer(p.input[1]).shape[1])
        return {
            "kind": "mt",
            "node": p,
            "alpha": float(a.get("out_scale", 1.0)),
            "beta": float(a.get("out_bias", 0.0)),
            "levels": levels,
            "path": path,
            "root": t,
        }
    return None


def _code_of(value: float, info: dict, node, what: str) -> int:
    c = (value - info["beta"]) / info["alpha"]
    if c != round(c) or not 0 <= c <= max(1, info["levels"]):
        raise CompileError(
            f"node {node.name} ({node.op_type}): {what} {value:g} is not one of the input's levels "
            f"(alpha * code + beta with alpha={info['alpha']:g}, beta={info['beta']:g}, codes 0..{info['levels']})"
            + (
                "; with +-1 activations pad with -1 (hw_bnn models use ConstantPad2d(pad, -1))"
                if info["levels"] == 1
                else ""
            )
        )
    return round(c)


class IntegerizeLinear(Transformation):
    """MatMul / Conv on quantized values ==> the same op on integer codes, plus the exact
    correction that restores the original output.

    The input of the linear op is ``alpha * code + beta`` (codes ``0..L`` from a
    MultiThreshold, or the integer input times a scalar).  Then

    * +-1 inputs (``L = 1``, ``alpha = -2 beta``) and +-1 weights: XNOR-popcount.  Dense:
      ``XnorPopcountMatMul(bits, weight bits) = p``; conv: ``Conv(bits, W) + n_minus = p``;
      then ``y = sigma (2 p - K)`` with ``sigma = -beta``;
    * otherwise the integer product ``acc = op(codes, W)`` and ``y = alpha acc + beta colsum(W)``.

    Padding moves to the code domain: a border value ``v`` becomes the code
    ``(v - beta) / alpha`` (an error naming the node if it is not a code).  ``alpha`` must be a
    power of two, so the exported float sums are exact and equal to ``y``.
    """

    def apply(self, model):
        for lin in list(model.graph.node):
            if lin.op_type not in LINEAR:
                continue
            w = model.get_initializer(lin.input[1])
            info = _trace_codes(model, lin.input[0]) if w is not None else None
            if info is None:
                continue
            alpha, beta, levels = info["alpha"], info["beta"], info["levels"]
            bipolar = levels == 1 and beta < 0 and alpha == -2.0 * beta
            xnor = bipolar and bool(np.all(np.abs(w) == 1.0))
            pad_nodes = [n for n in info["path"] if n.op_type == "Pad"]
            done = alpha == 1.0 and beta == 0.0 and info["kind"] != "scaled_input" and not xnor
            if done and all(_pad_value(model, n) == round(_pad_value(model, n)) for n in pad_nodes):
                continue
            if not np.all(w == np.round(w)):
                raise CompileError(
                    f"node {lin.name} ({lin.op_type}): weights '{lin.input[1]}' are float, not integers; the model "
                    f"is not quantized (train it with quantized QuantLinear / QuantConv2d weights)"
                )
            _require_pow2(alpha, info["node"] or lin, "activation scale")
            if any(n is not info["path"][-1] for n in pad_nodes) or (pad_nodes and lin.op_type != "Conv"):
                raise CompileError(f"node {pad_nodes[0].name} (Pad): padding must come right before a Conv")
            for n in info["path"]:
                if model.get_tensor_fanout(n.output[0]) != 1:
                    raise CompileError(
                        f"node {n.name}: its output feeds several layers; branching networks are not supported yet"
                    )
            if info["kind"] == "mt" and model.get_tensor_fanout(info["root"]) != 1:
                raise CompileError(
                    f"node {info['node'].name}: its output feeds several layers; branching networks are not supported yet"
                )
            self._rewrite(model, lin, w, info, xnor, pad_nodes)
            return model, True
        return model, False

    @staticmethod
    def _rewrite(model, lin, w, info, xnor, pad_nodes):
        alpha, beta, levels = info["alpha"], info["beta"], info["levels"]
        code_dt = DataType[_int_dtype(0, max(1, levels))]
        # 1. the producer emits codes
        if info["kind"] == "mt":
            mt = info["node"]
            _set_attr(mt, "out_scale", 1.0)
            _set_attr(mt, "out_bias", 0.0)
            _set_attr(mt, "out_dtype", code_dt.name)
        elif info["kind"] == "scaled_input":
            mul = info["node"]
            src = mul.input[0]
            for c in model.find_consumers(mul.output[0]):
                for i, name in enumerate(c.input):
                    if name == mul.output[0]:
                        c.input[i] = src
            model.graph.node.remove(mul)
            info["root"] = src
        if not _is_graph_input(model, info["root"]):
            model.set_tensor_datatype(info["root"], code_dt)
        # 2. padding in the code domain
        pad, pad_code = 0, 0
        if lin.op_type == "Conv":
            a = _attrs(lin)
            conv_pad = int(next(iter(a.get("pads", [0]))))
            codes = set()
            if conv_pad:
                codes.add(_code_of(0.0, info, lin, "zero padding value"))
            for p in pad_nodes:
                codes.add(_code_of(_pad_value(model, p), info, p, "pad value"))
                pad += _spatial_pad(model, p)
            if len(codes) > 1:
                raise CompileError(f"node {lin.name} (Conv): two different border values around one convolution")
            pad += conv_pad
            pad_code = codes.pop() if codes else 0
            for p in pad_nodes:
                lin.input[0] = p.input[0]
                model.graph.node.remove(p)
        for n in info["path"]:
            if n.op_type != "Pad":
                model.set_tensor_datatype(n.output[0], code_dt)
        # 3. the integer op and the correction back to the original values
        y = lin.output[0]
        nodes = []
        k = int(np.prod(w.shape[1:])) if lin.op_type == "Conv" else int(w.shape[0])
        n_out = int(w.shape[0]) if lin.op_type == "Conv" else int(w.shape[1])
        cshape = (1, n_out, 1, 1) if lin.op_type == "Conv" else (1, n_out)
        x = lin.input[0]
        if lin.op_type == "Conv":
            if pad and pad_code != 0:
                padded = _new_name(model, f"{lin.name}_padded")
                pads = _add_const(model, f"{lin.name}_pads", np.array([0, 0, pad, pad, 0, 0, pad, pad]))
                model.set_initializer(pads, np.array([0, 0, pad, pad, 0, 0, pad, pad], dtype=np.int64))
                nodes.append(
                    helper.make_node(
                        "Pad",
                        [x, pads, _add_const(model, f"{lin.name}_pad_code", float(pad_code))],
                        [padded],
                        name=f"{lin.name}_pad",
                        mode="constant",
                    )
                )
                model.set_tensor_datatype(padded, code_dt)
                x, conv_pads = padded, 0
            else:
                conv_pads = pad
            a = _attrs(lin)
            acc = _new_name(model, f"{lin.name}_acc")
            nodes.append(
                helper.make_node(
                    "Conv",
                    [x, lin.input[1]],
                    [acc],
                    name=f"{lin.name}_codes",
                    kernel_shape=list(a["kernel_shape"]) if "kernel_shape" in a else list(w.shape[2:]),
                    strides=list(a.get("strides", [1, 1])),
                    pads=[conv_pads] * 4,
                    dilations=[1, 1],
                    group=1,
                )
            )
        if xnor:
            sigma = -beta
            p = _new_name(model, f"{lin.name}_popcount")
            if lin.op_type == "Conv":
                nodes.append(
                    helper.make_node(
                        "Add",
                        [acc, _add_const(model, f"{lin.name}_n_minus", _n_minus(w))],
                        [p],
                        name=f"{lin.name}_popcount",
                    )
                )
            else:
                wb = _add_const(model, f"{lin.name}_weight_bits", (w > 0).astype(np.float32), "BINARY")
                nodes.append(
                    helper.make_node("XnorPopcountMatMul", [x, wb], [p], domain=QONNX_DOMAIN, name=f"{lin.name}_xnor")
                )
            model.set_tensor_datatype(p, DataType[_int_dtype(0, k)])
            t2, a2 = _new_name(model, f"{lin.name}_2p"), (_new_name(model, f"{lin.name}_pm1") if sigma != 1.0 else y)
            nodes.append(helper.make_node("Mul", [p, _add_const(model, "two", 2.0)], [t2], name=f"{lin.name}_2p"))
            nodes.append(
                helper.make_node("Add", [t2, _add_const(model, "minus_k", -float(k))], [a2], name=f"{lin.name}_pm1")
            )
            if sigma != 1.0:
                nodes.append(
                    helper.make_node("Mul", [a2, _add_const(model, "act_scale", sigma)], [y], name=f"{lin.name}_ascale")
                )
        else:
            if lin.op_type == "MatMul":
                acc = _new_name(model, f"{lin.name}_acc")
                nodes.append(helper.make_node("MatMul", [x, lin.input[1]], [acc], name=f"{lin.name}_codes"))
            colsum = _weight_matrix(lin, w).sum(axis=0).astype(np.float32).reshape(cshape)
            steps = []
            if alpha != 1.0:
                steps.append(("Mul", np.float32(alpha), "ascale"))
            if beta != 0.0 and np.any(colsum != 0):
                steps.append(("Add", (beta * colsum).astype(np.float32), "offset"))
            cur = acc
            for i, (op, c, tag) in enumerate(steps):
                const = _add_const(model, f"{lin.name}_{tag}_c", c)
                out = y if i == len(steps) - 1 else _new_name(model, f"{lin.name}_{tag}_y")
                nodes.append(helper.make_node(op, [cur, const], [out], name=f"{lin.name}_{tag}"))
                cur = out
            if not steps:
                nodes[-1].output[0] = y
        idx = model.get_node_index(lin)
        model.graph.node.remove(lin)
        for i, n in enumerate(nodes):
            model.graph.node.insert(idx + i, n)


def _fit_affine(acc: np.ndarray, y: np.ndarray):
    """float32 (s, b) with float32(float32(acc * s) + b) == y on every value, or None.

    The slope estimated from the end points is off by a few ulps (the outputs are rounded),
    so the float32 neighbours around it are tried."""
    acc32 = acc.astype(np.float32)
    s0 = np.float32((float(y[-1]) - float(y[0])) / (float(acc[-1]) - float(acc[0])))
    candidates = [s0]
    up = down = s0
    for _ in range(64):
        up, down = np.nextafter(up, np.float32(np.inf)), np.nextafter(down, np.float32(-np.inf))
        candidates += [up, down]
    for s in candidates:
        prod = (acc32 * s).astype(np.float32)
        i = int(np.argmin(np.abs(prod)))  # where y[i] - prod[i] is closest to the bias
        b0 = np.float32(y[i] - prod[i])
        bs = [b0]
        up = down = b0
        for _ in range(4):
            up, down = np.nextafter(up, np.float32(np.inf)), np.nextafter(down, np.float32(-np.inf))
            bs += [up, down]
        for b in bs:
            if np.array_equal((prod + b).astype(np.float32), y):
                return s, b
    return None


MAX_SLOPE_FRAC = 62  # the golden model's fixed_chain shifts int64 values


@dataclass(frozen=True)
class FixedPointConfig:
    """How real-valued shortcut tensors become fixed point (``ap_fixed<width, width - frac>``).

    ``frac``: fraction bits of every shortcut tensor (the user's choice; default 12).
    ``width``: total bits; ``None`` lets the compiler choose each tensor's width from its exact
    value range (no overflow can happen then), a number fixes it for every tensor (values
    beyond it saturate or wrap, per ``overflow``).  ``slope_frac``: fraction bits of the
    slopes; ``None`` chooses them per chain from its input range so that the slopes' rounding
    moves no output by more than 1/8 LSB (``auto_slope_frac``).  ``rounding`` / ``overflow``:
    the ap_fixed quantization and overflow modes."""

    frac: int = 12
    width: int | None = None
    slope_frac: int | None = None
    rounding: str = "rnd_conv"
    overflow: str = "sat"

    def check(self) -> None:
        if not 0 <= self.frac <= 16:
            raise CompileError(f"fixed-point frac bits {self.frac}: expected 0..16")
        if self.width is not None and not self.frac + 2 <= self.width <= 24:
            raise CompileError(f"fixed-point width {self.width}: expected frac + 2 ({self.frac + 2}) .. 24 bits")
        if self.rounding not in ROUNDING_MODES:
            raise CompileError(f"fixed-point rounding {self.rounding!r}: expected one of {', '.join(ROUNDING_MODES)}")
        if self.overflow not in OVERFLOW_MODES:
            raise CompileError(f"fixed-point overflow {self.overflow!r}: expected one of {', '.join(OVERFLOW_MODES)}")
        if self.slope_frac is not None and not 0 <= self.slope_frac <= MAX_SLOPE_FRAC:
            raise CompileError(f"fixed-point slope_frac {self.slope_frac}: expected 0..{MAX_SLOPE_FRAC}")


def auto_slope_frac(t_max: int, slope_max: float, z_max: float) -> int:
    """Fraction bits of a fixed_chain's slopes: enough that rounding a slope to ``2**-S``
    moves the output ``t * P / 2**S`` by at most 1/8 LSB over ``|t| <= t_max`` (``t``: the
    input minus the breakpoint, in output LSBs), and no more than keeps every intermediate of
    the int64 golden arithmetic (``|t * P| + |Z| * 2**S``) below 2**62."""
    s = max(0, int(np.ceil(np.log2(max(t_max, 1)))) + 2)
    while s > 0 and (t_max * (slope_max + 1) + z_max + 1) * 2.0**s >= 2.0**62:
        s -= 1
    return min(s, MAX_SLOPE_FRAC)


FIXED_KEY = "hw_bnn.fixed_point"


def _remove_dead(model: ModelWrapper) -> None:
    """Drop nodes whose outputs nobody reads (copies left behind by a rewrite)."""
    outputs = {o.name for o in model.graph.output}
    changed = True
    while changed:
        changed = False
        for n in list(model.graph.node):
            if all(o not in outputs and not model.find_consumers(o) for o in n.output):
                model.graph.node.remove(n)
                changed = True


def _is_residual_add(model: ModelWrapper, n) -> bool:
    return n.op_type == "Add" and len(n.input) == 2 and all(model.get_initializer(i) is None for i in n.input)


def _fit_pwl(u: np.ndarray, f: np.ndarray):
    """One-breakpoint piecewise-linear fit of ``f`` (D, C) sampled at increasing ``u`` (D,):
    per channel ``(g, pos_slope, neg_slope, z)`` with ``f(u) = z + slope * (u - g)``, the slope
    being ``pos_slope`` for ``u >= g``.  The slopes are secants over long baselines (the
    samples are float32): first over the outer sixteenths of the domain, then, once the
    breakpoint is roughly known, over everything on each side of it."""
    f = f.astype(np.float64)
    n_pts, n_ch = f.shape
    g = np.full(n_ch, u[0], dtype=np.float64)
    pos = np.zeros(n_ch)
    neg = np.zeros(n_ch)
    z = f[0].copy()
    if n_pts == 1:
        return g, pos, neg, z

    def secant(fc, i, j):
        return (fc[j] - fc[i]) / (u[j] - u[i])

    for c in range(n_ch):
        fc = f[:, c]
        span = max(1, (n_pts - 1) // 16)
        a_l, a_r = secant(fc, 0, span), secant(fc, n_pts - 1 - span, n_pts - 1)
        for _ in range(2):
            if abs(a_r - a_l) <= 1e-7 * max(abs(a_r), abs(a_l), 1e-30):
                break
            gc = (fc[0] - a_l * u[0] - fc[-1] + a_r * u[-1]) / (a_r - a_l)
            k = int(np.searchsorted(u, gc))  # u[k-1] < g <= u[k]
            left, right = k - 2, k + 1
            if left >= 1:
                a_l = secant(fc, 0, left)
            if right <= n_pts - 2:
                a_r = secant(fc, right, n_pts - 1)
        if abs(a_r - a_l) <= 1e-7 * max(abs(a_r), abs(a_l), 1e-30) or n_pts < 3:
            pos[c] = neg[c] = secant(fc, 0, n_pts - 1)
            continue
        gc = (fc[0] - a_l * u[0] - fc[-1] + a_r * u[-1]) / (a_r - a_l)
        if not u[0] < gc < u[-1]:  # the kink lies outside the domain: one line
            pos[c] = neg[c] = secant(fc, 0, n_pts - 1)
            continue
        g[c], pos[c], neg[c] = gc, a_r, a_l
        z[c] = fc[-1] + a_r * (gc - u[-1])
    return g, pos, neg, z


class LowerFixedPoint(Transformation):
    """Real-valued shortcuts ==> fixed point (``FixedChain`` / ``FixedAdd``, hw_bnn.compile.custom_op).

    A residual ``Add`` of two computed tensors, its inputs and its output (and max pooling of
    such a tensor) are the real-valued tensors the hardware stores; they become
    ``ap_fixed<W, W - F>`` codes.  The elementwise chain from an integer accumulator (or from
    another fixed-point tensor) to such a tensor -- BatchNorm, RPReLU, FPReLU, ... -- is
    evaluated on the source's whole integer domain, fitted by a one-breakpoint piecewise
    linear function with fixed-point parameters, and checked on that domain (an error names
    the chain when it is not one).  Every other reader of a fixed-point tensor gets its value
    ``code * 2**-F`` back through a ``Mul``, so the chains to the next quantizers still fold
    into thresholds, now over the fixed-point codes.  Runs with the other folding passes
    until nothing changes; does nothing to networks without shortcuts."""

    def __init__(self, cfg: FixedPointConfig | None = None):
        super().__init__()
        self.cfg = cfg or FixedPointConfig()

    def apply(self, model):
        for n in list(model.graph.node):
            if not _is_residual_add(model, n):
                continue
            for t in n.input:
                if _source_info(model, t) is None or _source_info(model, t)[2] != "fixed":
                    if self._lower_chain(model, t):
                        return model, True
            if all(_source_info(model, t) is not None and _source_info(model, t)[2] == "fixed" for t in n.input):
                self._lower_add(model, n)
                return model, True
        return model, False

    # -- helpers --------------------------------------------------------------------------
    def _width(self, lo: int, hi: int) -> int:
        if self.cfg.width is not None:
            return self.cfg.width
        return max(2, bits_for_range(min(lo, -1), hi)[0])

    def _materialize(self, model: ModelWrapper, t: str, code: str) -> None:
        """Rewire the readers of the float tensor ``t`` to the fixed-point codes ``code``."""
        if t in [o.name for o in model.graph.output]:
            raise CompileError(f"tensor '{t}': the network output cannot be a fixed-point shortcut tensor")
        scale = 2.0**-self.cfg.frac
        for c in list(model.find_consumers(t)):
            if _is_residual_add(model, c) or c.op_type == "FixedAdd":
                c.input[list(c.input).index(t)] = code
            elif c.op_type == "MaxPool":
                out = c.output[0]
                new = _new_name(model, f"{c.name}_codes")
                c.input[0], c.output[0] = code, new
                model.set_tensor_datatype(new, model.get_tensor_datatype(code))
                lo, hi, _, _ = _source_info(model, code)
                model.set_tensor_shape(new, model.get_tensor_shape(out))
                self._materialize(model, out, new)
            else:
                view = _new_name(model, f"{code}_value_for_{c.name}")
                idx = model.get_node_index(c)
                model.graph.node.insert(
                    idx,
                    helper.make_node(
                        "Mul",
                        [code, _add_const(model, f"{code}_scale", np.float32(scale))],
                        [view],
                        name=_new_name(model, f"{c.name}_fixed_view"),
                    ),
                )
                for k, i in enumerate(c.input):
                    if i == t:
                        c.input[k] = view

    def _lower_chain(self, model: ModelWrapper, t: str) -> bool:
        source, chain = _walk_chain_up(model, t)
        if chain is None or not chain:
            return False
        lo, hi, kind, prod = _source_info(model, source)
        cfg = self.cfg
        if hi - lo + 1 <= MAX_DOMAIN:
            domain = np.arange(lo, hi + 1)  # every value: the fit is checked exhaustively
        else:  # a wide fixed-point source: fit and check on an even grid of SEARCH_GRID * 16 values
            domain = np.unique(np.linspace(lo, hi, SEARCH_GRID * 16).round().astype(np.int64))
        f = _run_chain(model, source, chain, t, domain.astype(np.float64))
        f = f.reshape(len(domain), f.shape[1], -1)
        if f.shape[2] != 1:
            raise CompileError(f"chain [{', '.join(n.name for n in chain)}]: not per-channel")
        f = f[:, :, 0].astype(np.float64)
        if not np.all(np.isfinite(f)):
            raise CompileError(
                f"chain [{', '.join(n.name for n in chain)}]: gives non-finite values on its input domain"
            )
        xnor_k = hi if kind == "xnor_conv" or kind == "xnor_dense" else 0
        in_frac = cfg.frac if kind == "fixed" else 0
        x = 2 * domain - xnor_k if xnor_k else domain  # what the golden layer reads
        u = x * 2.0**-in_frac
        g, a_pos, a_neg, z = _fit_pwl(u, f)
        F = cfg.frac
        G = np.round(g * 2.0**F).astype(np.int64)
        t_max = int(np.abs((x.astype(np.int64)[:, None] << (F - in_frac)) - G[None, :]).max())
        S = cfg.slope_frac
        if S is None:
            S = auto_slope_frac(
                t_max, float(max(np.abs(a_pos).max(), np.abs(a_neg).max())), float(np.abs(z).max() * 2.0**F)
            )
        P = np.round(a_pos * 2.0**S).astype(np.int64)
        N = np.round(a_neg * 2.0**S).astype(np.int64)
        Z = np.round(z * 2.0**F).astype(np.int64)
        wide = FixedChainLayer("fit", (f.shape[1],), G, P, N, Z, in_frac, F, S, 40, (lo, hi), cfg.rounding, "sat")
        codes = wide.forward(x[:, None]).astype(np.int64)
        err = np.abs(codes * 2.0**-F - f)
        slope = np.maximum(np.abs(a_pos), np.abs(a_neg))
        tol = 2.0**-F * 1.5 + (np.abs(u).max() + np.abs(g)) * 2.0 ** -(S + 1) + slope * 2.0 ** -(F + 1)
        bad = np.argwhere(err > tol[None, :])
        names = ", ".join(n.name for n in chain)
        if bad.size:
            i, c = (int(v) for v in bad[0])
            raise CompileError(
                f"chain [{names}] -> '{t}': channel {c} is not a piecewise linear function with one breakpoint "
                f"of its input (at input {x[i]}: {f[i, c]:.6g}, the fixed-point fit gives {codes[i, c] * 2.0**-F:.6g}); "
                f"a real-valued shortcut tensor must be one (BatchNorm, RPReLU, FPReLU, PReLU)"
            )
        c_lo, c_hi = int(codes.min()), int(codes.max())
        width = self._width(c_lo, c_hi)
        if cfg.width is not None:
            c_lo, c_hi = max(c_lo, -(1 << (width - 1))), min(c_hi, (1 << (width - 1)) - 1)
        code = _new_name(model, f"{t}_fixed")
        node = helper.make_node(
            "FixedChain",
            [source] + [_add_const(model, f"{code}_{k}", v) for k, v in (("G", G), ("P", P), ("N", N), ("Z", Z))],
            [code],
            domain="hw_bnn.compile.custom_op",
            name=_new_name(model, f"{chain[-1].name}_fixed"),
            in_frac=in_frac,
            frac=F,
            slope_frac=S,
            width=width,
            rounding=cfg.rounding,
            overflow=cfg.overflow,
            xnor_k=int(xnor_k),
            lo=c_lo,
            hi=c_hi,
        )
        idx = model.get_node_index(chain[0])
        for n in chain:
            model.graph.node.remove(n)
        model.graph.node.insert(idx, node)
        model.set_tensor_datatype(code, DataType[f"INT{width}"])
        model.set_tensor_shape(code, model.get_tensor_shape(t))
        self._materialize(model, t, code)
        self._note(model, code, width)
        return True

    def _lower_add(self, model: ModelWrapper, n) -> None:
        (alo, ahi, _, _), (blo, bhi, _, _) = (_source_info(model, t) for t in n.input)
        lo, hi = alo + blo, ahi + bhi
        width = self._width(lo, hi)
        if self.cfg.width is not None:
            lo, hi = max(lo, -(1 << (width - 1))), min(hi, (1 << (width - 1)) - 1)
        out = n.output[0]
        code = _new_name(model, f"{out}_fixed")
        node = helper.make_node(
            "FixedAdd",
            list(n.input),
            [code],
            domain="hw_bnn.compile.custom_op",
            name=_new_name(model, f"{n.name}_fixed"),
            width=width,
            overflow=self.cfg.overflow,
            lo=lo,
            hi=hi,
        )
        idx = model.get_node_index(n)
        model.graph.node.remove(n)
        model.graph.node.insert(idx, node)
        model.set_tensor_datatype(code, DataType[f"INT{width}"])
        model.set_tensor_shape(code, model.get_tensor_shape(out))
        self._materialize(model, out, code)
        self._note(model, code, width)

    def _note(self, model: ModelWrapper, code: str, width: int) -> None:
        meta = json.loads(model.get_metadata_prop(FIXED_KEY) or "{}")
        if not meta:
            meta = {
                "frac": self.cfg.frac,
                "slope_frac": self.cfg.slope_frac,
                "rounding": self.cfg.rounding,
                "overflow": self.cfg.overflow,
                "tensors": {},
            }
        meta["tensors"][code] = width
        model.set_metadata_prop(FIXED_KEY, json.dumps(meta))


class LowerConcat(Transformation):
    """Channel concatenation (BinaryDenseNet) ==> ``IntConcat`` of integer tensors.

    Every input of a ``Concat`` must be an exact integer affine of an integer source (the
    raw XNOR / integer accumulator of a convolution, or an earlier concatenation): per
    channel ``value = m * x + o`` with ``x`` the integer the hardware holds.  Each input is
    first re-read from its source through its own copy of that affine (so the other readers
    of the input keep their chains and fold into thresholds); once every input is such a
    copy, the ``Concat`` becomes ``IntConcat(x_1, x_2, ...)`` followed, for each reader, by the
    per-channel affine of the concatenation.  The chains from it to the next quantizers fold
    into per-channel thresholds over the concatenated integers."""

    def __init__(self):
        super().__init__()
        self.views: dict[str, tuple] = {}  # concat input tensor -> (integer tensor, xnor K, m (C,), o (C,))

    def apply(self, model):
        for n in list(model.graph.node):
            if n.op_type != "Concat":
                continue
            for i, t in enumerate(n.input):
                if t in self.views:
                    continue
                r = self._resolve(model, t, n)
                if r is None:
                    continue
                view = self._affine_nodes(model, r, f"{n.name}_in{i}", before=n)
                n.input[i] = view
                self.views[view] = r
                _remove_dead(model)
                return model, True
            if all(t in self.views for t in n.input):
                self._lower(model, n)
                _remove_dead(model)
                return model, True
        return model, False

    def _resolve(self, model: ModelWrapper, t: str, concat):
        source, chain = _walk_chain_up(model, t)
        if chain is None:
            return None
        lo, hi, kind, _ = _source_info(model, source)
        if kind not in ("xnor_conv", "int", "concat"):
            raise CompileError(
                f"node {concat.name} (Concat): input '{t}' comes from {kind} '{source}'; a concatenation takes "
                f"convolution accumulators or earlier concatenations"
            )
        k = hi if kind == "xnor_conv" else 0
        ends = np.array([lo, hi], dtype=np.float64)
        if chain:
            f = _run_chain(model, source, chain, t, ends)
            f = f.reshape(2, f.shape[1], -1)[:, :, 0].astype(np.float64)
        else:
            c = int(model.get_tensor_shape(source)[1])
            f = np.repeat(ends[:, None], c, axis=1)
        x = (2 * ends - k) if k else ends
        m = ((f[1] - f[0]) / (x[1] - x[0])).astype(np.float32) if hi > lo else np.ones(f.shape[1], np.float32)
        o = (f[0] - m.astype(np.float64) * x[0]).astype(np.float32)
        # the copy must give the chain's float32 values exactly, on the whole domain
        dom = np.arange(lo, hi + 1)
        xs = (2 * dom - k) if k else dom
        want = (
            _run_chain(model, source, chain, t, dom.astype(np.float64)) if chain else np.repeat(dom[:, None], len(m), 1)
        )
        want = np.asarray(want, dtype=np.float32).reshape(len(dom), len(m), -1)[:, :, 0]
        got = (xs[:, None].astype(np.float32) * m[None, :]).astype(np.float32) + o[None, :]
        bad = np.argwhere(got != want)
        if bad.size:
            i, c = (int(v) for v in bad[0])
            names = ", ".join(n.name for n in chain)
            raise CompileError(
                f"node {concat.name} (Concat): input '{t}' (chain [{names}]) is not an exact integer affine of "
                f"'{source}' (channel {c}, at {xs[i]}: {want[i, c]!r} vs {got[i, c]!r}); put BatchNorm after the concatenation"
            )
        return source, k, m, o

    def _affine_nodes(self, model: ModelWrapper, r, base: str, before) -> str:
        """Float value ``m * x + o`` of integer tensor ``r`` (a popcount read as ``2 p - K``)."""
        source, k, m, o = r
        rank = len(model.get_tensor_shape(source))
        shape = [1, -1] + [1] * (rank - 2)
        nodes, cur = [], source
        if k:
            two = _new_name(model, f"{base}_2p")
            nodes.append(
                helper.make_node("Mul", [cur, _add_const(model, f"{base}_two", np.float32(2.0))], [two], name=two)
            )
            a = _new_name(model, f"{base}_acc")
            nodes.append(
                helper.make_node("Add", [two, _add_const(model, f"{base}_minus_k", np.float32(-k))], [a], name=a)
            )
            cur = a
        mul = _new_name(model, f"{base}_scaled")
        nodes.append(helper.make_node("Mul", [cur, _add_const(model, f"{base}_m", m.reshape(shape))], [mul], name=mul))
        out = _new_name(model, f"{base}_value")
        nodes.append(helper.make_node("Add", [mul, _add_const(model, f"{base}_o", o.reshape(shape))], [out], name=out))
        idx = model.get_node_index(before)
        for j, node in enumerate(nodes):
            model.graph.node.insert(idx + j, node)
        return out

    def _lower(self, model: ModelWrapper, n) -> None:
        parts = [self.views.pop(t) for t in n.input]
        # drop the copies that fed the concatenation
        for t in n.input:
            cur = t
            while cur not in [p[0] for p in parts]:
                prod = model.find_producer(cur)
                if prod is None or len(model.find_consumers(cur)) > 1:
                    break
                model.graph.node.remove(prod)
                cur = prod.input[0]
        ranges = []
        for source, k, _, _ in parts:
            lo, hi, _, _ = _source_info(model, source)
            ranges.append((-k, k) if k else (lo, hi))
        lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
        out = n.output[0]
        code = _new_name(model, f"{out}_int")
        node = helper.make_node(
            "IntConcat",
            [p[0] for p in parts],
            [code],
            domain=HW_DOMAIN,
            name=_new_name(model, f"{n.name}_int"),
            xnor_ks=[int(p[1]) for p in parts],
            lo=int(lo),
            hi=int(hi),
        )
        idx = model.get_node_index(n)
        model.graph.node.remove(n)
        model.graph.node.insert(idx, node)
        model.set_tensor_shape(code, model.get_tensor_shape(out))
        model.set_tensor_datatype(code, DataType[_int_dtype(int(lo), int(hi))])
        m = np.concatenate([p[2] for p in parts])
        o = np.concatenate([p[3] for p in parts])
        for c in list(model.find_consumers(out)):
            view = self._affine_nodes(model, (code, 0, m, o), f"{c.name}_concat", before=c)
            for j, i in enumerate(c.input):
                if i == out:
                    c.input[j] = view


class AbsorbOutputChain(Transformation):
    """Last accumulator -> chain -> graph output  ==>  the integer accumulator as the output
    (``a = 2p - K`` for an XNOR layer, the integer product otherwise), plus the output affine
    ``y = float32(float32(a * scale) + bias)`` per channel (metadata ``hw_bnn.output_affine``),
    confirmed bit-exact on the whole accumulator domain."""

    def apply(self, model):
        out = model.graph.output[0].name
        source, chain = _walk_chain_up(model, out)
        if chain is None or not chain or model.get_metadata_prop(AFFINE_KEY):
            return model, False
        lo, hi, kind, prod = _source_info(model, source)
        if kind not in ("xnor_dense", "int") or prod.op_type != "MatMul" and kind == "int":
            raise CompileError(
                f"output chain [{', '.join(n.name for n in chain)}]: the last layer must be a dense (MatMul) layer"
            )
        if kind == "xnor_dense":
            p = np.arange(lo, hi + 1)
            acc = 2 * p - hi
            x = p
        else:
            acc = x = np.arange(lo, hi + 1)
        y = _run_chain(model, source, chain, out, x)
        y = y.reshape(len(x), y.shape[1])
        names = ", ".join(n.name for n in chain)
        meta = {"formula": "y = float32(float32(acc * scale) + bias)"}
        fits = [_fit_affine(acc, y[:, c]) for c in range(y.shape[1])]
        if any(f is None for f in fits):
            # an exact integer prefix (the code correction alpha * acc + offset of IntegerizeLinear)
            # followed by the float affine: fit the affine on the exactly computed prefix
            prefix = []
            for n in chain:
                if n.op_type not in ("Mul", "Add") or len(prefix) == 2:
                    break
                prefix.append(n)
            if prefix:
                u = _run_chain(model, source, prefix, prefix[-1].output[0], x).reshape(len(x), -1)
                pre_scale = np.float32(1.0)
                pre_offset = np.zeros(u.shape[1], dtype=np.float32)
                for n in prefix:
                    c = model.get_initializer(n.input[1]).astype(np.float32).reshape(-1)
                    if n.op_type == "Mul" and c.size == 1:
                        pre_scale, pre_offset = pre_scale * c[0], pre_offset * c[0]
                    else:
                        pre_offset = pre_offset + np.broadcast_to(c, pre_offset.shape)
                exact = np.array_equal(
                    u.astype(np.float64), acc[:, None] * float(pre_scale) + pre_offset[None, :].astype(np.float64)
                )
                if exact:
                    fits = [_fit_affine(u[:, c].astype(np.float64), y[:, c]) for c in range(y.shape[1])]
                    meta = {
                        "formula": "y = float32(float32((acc * pre_scale + pre_offset) * scale) + bias)",
                        "pre_scale": float(pre_scale),
                        "pre_offset": pre_offset.tolist(),
                    }
        scales, biases = [], []
        for c, fit in enumerate(fits):
            if fit is None:
                raise CompileError(
                    f"output chain [{names}]: channel {c} is not an exact float32 affine of the integer accumulator"
                )
            scales.append(float(fit[0]))
            biases.append(float(fit[1]))
        idx = model.get_node_index(chain[0])
        for n in chain:
            model.graph.node.remove(n)
        if kind == "xnor_dense":
            t2 = _new_name(model, "out_2p")
            model.graph.node.insert(
                idx, helper.make_node("Mul", [source, _add_const(model, "two", 2.0)], [t2], name="out_2p")
            )
            model.graph.node.insert(
                idx + 1, helper.make_node("Add", [t2, _add_const(model, "minus_n", -float(hi))], [out], name="out_acc")
            )
            model.set_tensor_datatype(out, DataType[_int_dtype(-hi, hi)])
        else:
            prod.output[0] = out
            model.set_tensor_datatype(out, DataType[_int_dtype(lo, hi)])
        if len(set(scales)) == 1 and len(set(biases)) == 1:
            scales, biases = scales[:1], biases[:1]
        model.set_metadata_prop(AFFINE_KEY, json.dumps({**meta, "scale": scales, "bias": biases}))
        return model, True


class CheckIntegerOnly(Transformation):
    """Every node left must be integer (thresholds, XNOR / integer products on codes,
    max pooling, flatten, padding with a code, integer Mul / Add).  Otherwise explain which
    node keeps the graph from being integer-only."""

    def apply(self, model):
        # a quantizer that could not be folded is the root cause: name it first
        nodes = sorted(model.graph.node, key=lambda n: n.op_type not in QUANTIZERS)
        for n in nodes:
            if (
                n.op_type in ("MultiThreshold", "XnorPopcountMatMul", "MaxPool", "Flatten", "Reshape", "IntConcat")
                or n.op_type in FIXED_OPS
            ):
                continue
            if n.op_type == "Pad" and _pad_value(model, n) == round(_pad_value(model, n)):
                continue
            if n.op_type in ("Mul", "Add"):
                c = model.get_initializer(n.input[1])
                if c is not None and np.all(c == np.round(c)):
                    continue
            if n.op_type in LINEAR:
                w = model.get_initializer(n.input[1])
                dt = model.get_tensor_datatype(n.input[0])
                if w is not None and np.all(w == np.round(w)) and dt.is_integer() and dt.min() >= 0:
                    continue
                if w is not None and not np.all(w == np.round(w)):
                    raise CompileError(
                        f"node {n.name} ({n.op_type}): weights '{n.input[1]}' are float, not integers; "
                        f"the model is not quantized (train it with quantized QuantLinear / QuantConv2d layers)"
                    )
                src = model.find_producer(n.input[0])
                what = (
                    "an unquantized (float) tensor"
                    if src is None or src.op_type not in QUANTIZERS | {"MultiThreshold"} | CODE_PATH
                    else "a quantizer the compiler could not fold"
                )
                raise CompileError(
                    f"node {n.name} ({n.op_type}): its input '{n.input[0]}' comes from {what}; expected quantized activations"
                )
            if n.op_type in QUANTIZERS:
                src, _ = _walk_chain_up(model, n.input[0])
                prod = model.find_producer(src)
                hint = (
                    f" ({prod.op_type} {prod.name} must come after the activation quantizer)"
                    if prod is not None and prod.op_type in CODE_PATH
                    else ""
                )
                raise CompileError(
                    f"node {n.name} ({n.op_type}): its input chain does not start at an integer "
                    f"accumulator or the integer model input (it stops at '{src}'){hint}"
                )
            raise CompileError(
                f"node {n.name} (op {n.op_type}) is left in float after folding; it cannot be mapped to integers"
            )
        return model, False


def _fixed_point(model: ModelWrapper, passes) -> ModelWrapper:
    changed = True
    while changed:
        changed = False
        for p in passes:
            model, c = p.apply(model)
            if c:
                model = model.transform(InferShapes())
            changed |= c
    return model


def load_onnx(path) -> ModelWrapper:
    from pathlib import Path

    path = Path(path)
    if not path.exists():
        raise CompileError(f"{path}: file does not exist")
    try:
        return ModelWrapper(str(path))
    except Exception as e:  # noqa: BLE001 - protobuf errors come in several types
        raise CompileError(f"{path}: not an ONNX model ({type(e).__name__}: {e})") from None


def compile_model(
    model: ModelWrapper, input_dtype: str = "UINT8", acc_bits: int | None = None, fixed: FixedPointConfig | None = None
) -> ModelWrapper:
    """Exported QONNX -> integer-only folded graph.  ``acc_bits`` caps the accumulator and
    threshold width: a layer that needs more raises :class:`CompileError` naming it.
    ``fixed`` sets how real-valued shortcuts become fixed point (networks with residual adds)."""
    fixed = fixed or FixedPointConfig()
    fixed.check()
    from qonnx.transformation.extract_conv_bias import ExtractBiasFromConv
    from qonnx.util.cleanup import cleanup_model

    model = cleanup_model(model)
    inits = {i.name for i in model.graph.initializer}
    inputs = [i.name for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1 or len(model.graph.output) != 1:
        raise CompileError(
            f"the model must have exactly one input and one output (found inputs {inputs}, "
            f"outputs {[o.name for o in model.graph.output]})"
        )
    model = model.transform(SetInputDatatype(input_dtype))
    model = model.transform(CheckSupportedOps())
    model = model.transform(ExtractBiasFromConv())
    model = _fixed_point(model, [AbsorbWeightQuantizers()])
    model = _fixed_point(model, [AbsorbQuantizerChains(), IntegerizeLinear(), LowerFixedPoint(fixed), LowerConcat()])
    model = _fixed_point(model, [AbsorbOutputChain()])
    model = model.transform(CheckIntegerOnly())
    model = model.transform(SortGraph()).transform(GiveUniqueNodeNames()).transform(InferShapes())
    model.graph.name = "hw_bnn_integer"
    lower_to_ir(model, acc_bits=acc_bits)  # validates the structure and the bit widths
    return model


def output_affine(model: ModelWrapper):
    """(scale, bias, pre) of the documented output affine; ``pre`` is None or the exact
    ``(pre_scale, pre_offset)`` applied to the accumulator first."""
    meta = model.get_metadata_prop(AFFINE_KEY)
    if not meta:
        return None, None, None
    d = json.loads(meta)
    pre = None
    if "pre_scale" in d:
        pre = (np.float32(d["pre_scale"]), np.asarray(d["pre_offset"], dtype=np.float32))
    return np.asarray(d["scale"], dtype=np.float32), np.asarray(d["bias"], dtype=np.float32), pre


class _GoldenBuilder:
    """Walks a folded graph from the input and collects the hardware layers.

    The walk follows the main path; a tensor read by several nodes (a fixed-point shortcut
    tensor) is remembered by the layer that made it, and a ``FixedAdd`` is taken when both of
    its inputs exist.  A layer that does not read the previous layer's output names its input
    layer (``inputs``)."""

    def __init__(self, model: ModelWrapper):
        self.model = model
        self.layers: list = []
        self.counts: dict[str, int] = {}
        self.out = model.graph.output[0].name
        self.made_by: dict[str, str] = {}  # tensor -> golden layer name
        self.visited: set[str] = set()
        self.pending: list[str] = []  # tensors whose other readers are still to be walked

    def name(self, base: str) -> str:
        self.counts[base] = self.counts.get(base, 0) + 1
        return f"{base}{self.counts[base]}"

    def single_consumer(self, t: str):
        consumers = self.model.find_consumers(t)
        if len(consumers) != 1:
            raise CompileError(f"folded graph: tensor '{t}' must feed exactly one layer")
        return consumers[0]

    def ready(self, n) -> bool:
        return n.name not in self.visited and all(
            i in self.made_by or _is_graph_input(self.model, i)
            for i in n.input
            if i and self.model.get_initializer(i) is None
        )

    def next_node(self, t: str):
        """The next node to turn into a layer: a reader of ``t`` (others wait in ``pending``)."""
        readers = [c for c in self.model.find_consumers(t) if c.name not in self.visited]
        if len(readers) > 1:
            if any(c.op_type not in FIXED_OPS | {"MultiThreshold", "MaxPool", "IntConcat", "Mul"} for c in readers):
                raise CompileError(
                    f"folded graph: tensor '{t}' feeds several layers; only shortcut and concatenated tensors may"
                )
            self.pending.append(t)
        for c in readers:
            if self.ready(c):
                return c
        while self.pending:  # resume a branch that waits
            p = self.pending[-1]
            for c in self.model.find_consumers(p):
                if self.ready(c):
                    return c
            self.pending.pop()
        raise CompileError(f"folded graph: the walk stops at tensor '{t}': no layer can read it")

    def add(self, layer, in_tensor: str | None, out_tensor: str, node):
        """Append ``layer`` (reading ``in_tensor``) that makes ``out_tensor``."""
        if in_tensor is not None and self.layers:
            src = self.made_by.get(in_tensor)
            if src is not None and src != self.layers[-1].name:
                layer.inputs = (src,)
        self.layers.append(layer)
        self.made_by[out_tensor] = layer.name
        self.visited.add(node.name)

    def thresholds_after(self, t: str, n_out: int, node):
        """(thresholds or None, tensor after the layer)."""
        if t == self.out:
            return None, t
        readers = self.model.find_consumers(t)
        if len(readers) > 1 or readers[0].op_type in ("FixedChain", "IntConcat"):
            return None, t  # the raw accumulator: a shortcut chain, a concatenation, thresholds
        nxt = self.single_consumer(t)
        if nxt.op_type != "MultiThreshold":
            raise CompileError(
                f"folded graph: node {node.name} must be followed by thresholds, a fixed-point chain or be the output"
            )
        thr = self.model.get_initializer(nxt.input[1]).astype(np.int64)
        if thr.shape[0] == 1 and n_out != 1:
            thr = np.repeat(thr, n_out, axis=0)
        self.visited.add(nxt.name)
        return thr, nxt.output[0]


def lower_to_ir(model: ModelWrapper, acc_bits: int | None = None) -> IntegerNetwork:
    """The layer list of a folded graph as a NumPy golden model (NHWC for images)."""
    t = model.graph.input[0].name
    dt = model.get_tensor_datatype(t)
    if not dt.is_integer():
        raise CompileError(f"folded graph: input '{t}' is {dt.name}, expected an integer datatype")
    in_range = (int(dt.min()), int(dt.max()))
    b = _GoldenBuilder(model)
    layers = b.layers
    in_shape = tuple(int(v) for v in model.get_tensor_shape(t)[1:])
    levels = in_range[1]  # codes arriving at the next layer are 0..levels
    hwc = (in_shape[1], in_shape[2], in_shape[0]) if len(in_shape) == 3 else None
    shapes = {t: hwc}  # image tensors: (H, W, C) in hardware order
    flat_chw = None  # (C, H, W) of the last flatten: the next dense layer's rows are permuted
    pending_pad = None
    while t != b.out:
        n = b.next_node(t)
        op = n.op_type
        src_t = n.input[0]
        hwc = shapes.get(src_t, hwc)
        negate = None
        if (
            op == "Mul"
            and len(model.find_consumers(n.output[0])) == 1
            and model.find_consumer(n.output[0]).op_type == "MultiThreshold"
        ):
            d = model.get_initializer(n.input[1])
            if d is None or not np.all(np.abs(d) == 1):
                raise CompileError(f"folded graph: node {n.name} (Mul) before thresholds must negate channels (+-1)")
            negate = d.reshape(-1) < 0
            b.visited.add(n.name)
            n = model.find_consumer(n.output[0])
            op = n.op_type
        if op == "MultiThreshold" and (not layers or _source_info(model, src_t) is not None):
            thr = model.get_initializer(n.input[1]).astype(np.int64)
            rng = in_range
            if layers:
                lo, hi, kind, _ = _source_info(model, src_t)
                rng = (lo, hi)
                c = hwc[2] if hwc is not None else int(model.get_tensor_shape(src_t)[1])
                if thr.shape[0] == 1 and c != 1:
                    thr = np.repeat(thr, c, axis=0)
                if kind == "xnor_conv":  # the golden convolution gives a = 2 p - K: p >= T <=> a >= 2 T - K
                    thr, rng = 2 * thr - hi, (-hi, hi)
                if negate is not None:
                    negate = np.broadcast_to(negate, (thr.shape[0],)).copy()
                    rng = (-rng[1], rng[1]) if rng[0] >= 0 else (min(rng[0], -rng[1]), max(rng[1], -rng[0]))
            layer = ThresholdLayer("quant_in" if not layers else b.name("sign"), thr, rng, negate=negate)
            b.add(layer, src_t, n.output[0], n)
            levels, t = int(thr.shape[1]), n.output[0]
        elif op == "IntConcat":
            ins = tuple(b.made_by[i] for i in n.input)
            ranges = []
            for i in n.input:
                lo, hi, kind, _ = _source_info(model, i)
                ranges.append((-hi, hi) if kind == "xnor_conv" else (lo, hi))
            shape = tuple(hwc[:2]) + (int(model.get_tensor_shape(n.output[0])[1]),)
            layer = ConcatLayer(b.name("concat"), shape, ins, ranges)
            b.layers.append(layer)
            b.made_by[n.output[0]] = layer.name
            b.visited.add(n.name)
            t = n.output[0]
            hwc = shape
            shapes[t] = hwc
        elif op == "Pad":
            pending_pad = (_spatial_pad(model, n), int(_pad_value(model, n)))
            b.visited.add(n.name)
            t = n.output[0]
            shapes[t] = hwc
            b.made_by[t] = b.made_by.get(src_t)
        elif op == "Conv":
            w = model.get_initializer(n.input[1])
            a = _attrs(n)
            k, stride, pad = (
                int(w.shape[2]),
                int(next(iter(a.get("strides", [1])))),
                int(next(iter(a.get("pads", [0])))),
            )
            pad_value = 0
            if pending_pad is not None:
                pad, pad_value = pending_pad
                pending_pad = None
            wm = w.transpose(2, 3, 1, 0).reshape(-1, w.shape[0])  # rows in (kh, kw, c) order
            readers = model.find_consumers(n.output[0]) if n.output[0] != b.out else []
            nxt = readers[0] if len(readers) == 1 else None
            xnor = nxt is not None and nxt.op_type == "Add" and _is_xnor_conv(model, n, nxt)
            after = nxt.output[0] if xnor else n.output[0]
            if xnor:
                b.visited.add(nxt.name)
            thr, t = b.thresholds_after(after, w.shape[0], n)
            name = b.name("conv")
            layer = ConvLayer(
                name,
                hwc,
                k,
                stride,
                pad,
                pad_value,
                (wm > 0).astype(np.uint8) if xnor else wm.astype(np.int8),
                xnor,
                thr,
                in_levels=max(1, levels),
            )
            b.add(layer, src_t, t, n)
            hwc = layer.out_shape
            shapes[t] = hwc
            levels = layer.levels
        elif op == "FixedChain":
            a = _attrs(n)
            g, pp, nn_, zz = (model.get_initializer(i).astype(np.int64) for i in n.input[1:5])
            prev_lo, prev_hi = layers[-1].out_range() if layers else in_range
            src_info = _source_info(model, src_t)
            if src_info is not None and src_info[2] == "fixed":
                prev_lo, prev_hi = src_info[0], src_info[1]
            shape = hwc if hwc is not None else (int(model.get_tensor_shape(src_t)[1]),)
            layer = FixedChainLayer(
                b.name("fixed"),
                shape,
                g,
                pp,
                nn_,
                zz,
                int(a["in_frac"]),
                int(a["frac"]),
                int(a["slope_frac"]),
                int(a["width"]),
                (prev_lo, prev_hi),
                _str_attr(a, "rounding", "rnd_conv"),
                _str_attr(a, "overflow", "sat"),
            )
            b.add(layer, src_t, n.output[0], n)
            t = n.output[0]
            shapes[t] = hwc
        elif op == "FixedAdd":
            a = _attrs(n)
            ins = tuple(b.made_by[i] for i in n.input[:2])
            layer = FixedAddLayer(b.name("add"), hwc, int(a["width"]), ins, _str_attr(a, "overflow", "sat"))
            b.layers.append(layer)
            b.made_by[n.output[0]] = layer.name
            b.visited.add(n.name)
            t = n.output[0]
            shapes[t] = hwc
        elif op == "MaxPool":
            a = _attrs(n)
            info = _source_info(model, src_t)
            lo, hi = (info[0], info[1]) if info is not None and info[2] == "fixed" else (0, max(1, levels))
            layer = MaxPoolLayer(
                b.name("pool"),
                hwc,
                int(a["kernel_shape"][0]),
                int(next(iter(a.get("strides", a["kernel_shape"])))),
                hi,
                lo,
            )
            b.add(layer, src_t, n.output[0], n)
            hwc, t = layer.out_shape, n.output[0]
            shapes[t] = hwc
        elif op in ("Flatten", "Reshape"):
            if hwc is None:
                raise CompileError(f"folded graph: node {n.name} ({op}) flattens a tensor that is not an image")
            b.add(FlattenLayer(b.name("flatten"), hwc, max(1, levels)), src_t, n.output[0], n)
            flat_chw = (hwc[2], hwc[0], hwc[1])
            hwc, t = None, n.output[0]
            shapes[t] = None
        elif op in ("XnorPopcountMatMul", "MatMul"):
            w = model.get_initializer(n.input[1])
            if flat_chw is not None:
                c, h, wd = flat_chw
                w = w.reshape(c, h, wd, -1).transpose(1, 2, 0, 3).reshape(c * h * wd, -1)
                flat_chw = None
            name = b.name("fc")
            if op == "XnorPopcountMatMul":
                wbits = w.astype(np.uint8)
                nxt = b.single_consumer(n.output[0])
                if nxt.op_type == "MultiThreshold":
                    thr, t = b.thresholds_after(n.output[0], w.shape[1], n)
                else:
                    add = model.find_consumer(nxt.output[0]) if nxt.op_type == "Mul" else None
                    if add is None or add.op_type != "Add" or add.output[0] != b.out:
                        raise CompileError(
                            f"folded graph: node {n.name} must end in thresholds or the output accumulator"
                        )
                    thr, t = None, b.out
                layer = XnorDenseLayer(name, wbits, thr)
            else:
                thr, t = b.thresholds_after(n.output[0], w.shape[1], n)
                layer = IntDenseLayer(name, w.astype(np.int8), thr, in_levels=max(1, levels))
            b.add(layer, src_t, t, n)
            levels = layer.levels
            shapes[t] = None
        else:
            raise CompileError(f"folded graph: node {n.name} (op {op}) is not a supported hardware layer")
    if acc_bits is not None:
        for layer in layers:
            lo, hi = layer.acc_range()
            if getattr(layer, "thresholds", None) is not None:
                lo, hi = min(lo, int(layer.thresholds.min())), max(hi, int(layer.thresholds.max()))
            need, _ = bits_for_range(lo, hi)
            if need > acc_bits:
                raise CompileError(
                    f"layer {layer.name}: accumulator/thresholds span [{lo}, {hi}] and need {need} bits, "
                    f"more than the chosen {acc_bits}-bit width"
                )
    scale, bias, pre = output_affine(model)
    return IntegerNetwork(layers, scale, bias, in_shape, in_range, pre)


def run_qonnx(model: ModelWrapper, x: np.ndarray, batch_size: int | None = None) -> np.ndarray:
    """Execute a (Q)ONNX model with qonnx ``execute_onnx`` on a batch of inputs.

    qonnx runs batch-1 graphs; ``ChangeBatchSize`` re-shapes the graph to the batch first."""
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.change_batchsize import ChangeBatchSize

    x = np.asarray(x, dtype=np.float32)
    bs = batch_size or len(x)
    iname, oname = model.graph.input[0].name, model.graph.output[0].name
    outs = []
    batched = None
    for i in range(0, len(x), bs):
        chunk = x[i : i + bs]
        if batched is None or len(chunk) != batched[0]:
            batched = (len(chunk), model.transform(ChangeBatchSize(len(chunk))).transform(InferShapes()))
        outs.append(execute_onnx(batched[1], {iname: chunk})[oname])
    return np.concatenate(outs, axis=0)

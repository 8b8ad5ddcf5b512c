"""The compiler: QONNX (as exported by Brevitas) -> an integer-only graph (``folded.onnx``).

Each rewrite is a small ``qonnx.transformation.base.Transformation`` that can be run and
tested alone; :func:`compile_model` runs them to a fixed point:

``SetInputDatatype``           declare the integer input domain (8-bit pixels by default)
``CheckSupportedOps``          refuse ops the compiler does not know, naming the node
``FoldWeightQuantizers``       BipolarQuant on constant weights -> +-1 initializers
``FoldQuantizerChains``        integer source -> elementwise chain -> quantizer
                               becomes one MultiThreshold, evaluated exhaustively over the
                               source's integer domain (DESIGN.md section 3)
``BipolarMatMulToXnorPopcount`` MatMul of bipolar activations and +-1 weights ->
                               XnorPopcountMatMul on bits, plus the exact integer correction
                               ``a = 2 p - N`` that the next chain folds away
``FoldOutputChain``            the last accumulator's chain -> integer output and the
                               documented output affine (metadata ``hw_bnn.output_affine``)
``CheckIntegerOnly``           everything left must be integer; otherwise name the node

The folded graph is executable by qonnx ``execute_onnx`` and is turned into the NumPy
golden model by :func:`folded_to_golden`.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation
from qonnx.transformation.general import GiveUniqueNodeNames, SortGraph
from qonnx.transformation.infer_shapes import InferShapes

from hw_bnn.errors import CompileError
from hw_bnn.golden import GoldenModel, ThresholdLayer, XnorDenseLayer, bits_for_range
from hw_bnn.thresholds import NonMonotoneError, thresholds_from_codes

QONNX_DOMAIN = "qonnx.custom_op.general"
ELEMENTWISE = {"Mul", "Add", "Sub", "Div", "BatchNormalization", "Relu", "Clip", "PRelu", "Neg", "Identity", "Tanh"}
QUANTIZERS = {"BipolarQuant", "Quant"}
SUPPORTED = ELEMENTWISE | QUANTIZERS | {"MatMul", "MultiThreshold", "XnorPopcountMatMul"}
AFFINE_KEY = "hw_bnn.output_affine"


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


def _int_dtype(lo: int, hi: int) -> str:
    bits, signed = bits_for_range(lo, hi)
    return f"INT{bits}" if signed else ("BINARY" if bits == 1 else f"UINT{bits}")


def _source_domain(model: ModelWrapper, tensor: str):
    """(lo, hi) of an integer source tensor, or None if the tensor is not one."""
    if tensor in [i.name for i in model.graph.input]:
        dt = model.get_tensor_datatype(tensor)
        if dt.is_integer():
            return int(dt.min()), int(dt.max())
        return None
    prod = model.find_producer(tensor)
    if prod is not None and prod.op_type == "XnorPopcountMatMul":
        n = model.get_tensor_shape(prod.input[1])[0]
        return 0, int(n)
    return None


def _run_chain(model: ModelWrapper, source: str, nodes: list, output: str, values: np.ndarray) -> np.ndarray:
    """Evaluate ``nodes`` (source -> ... -> output) with qonnx, as the exported model is run.

    ``values`` has shape (D,); each of the C channels of ``source`` sees every value.
    Returns the output with shape (D, C, ...)."""
    from qonnx.core.onnx_exec import execute_onnx

    shape = model.get_tensor_shape(source)
    c = shape[1]
    grid = np.broadcast_to(values.astype(np.float32).reshape((-1, 1) + (1,) * (len(shape) - 2)), (len(values), c, *shape[2:]))
    inits = set()
    for n in nodes:
        inits.update(i for i in n.input if model.get_initializer(i) is not None)
    graph = helper.make_graph(
        [onnx.NodeProto.FromString(n.SerializeToString()) for n in nodes],
        "chain",
        [helper.make_tensor_value_info(source, onnx.TensorProto.FLOAT, [len(values), c, *shape[2:]])],
        [helper.make_tensor_value_info(output, onnx.TensorProto.FLOAT, None)],
        [onnx.numpy_helper.from_array(model.get_initializer(i), i) for i in sorted(inits)],
    )
    sub = ModelWrapper(helper.make_model(graph, opset_imports=model.model.opset_import))
    sub = sub.transform(InferShapes())
    return execute_onnx(sub, {source: np.ascontiguousarray(grid)})[output]


def _walk_chain_up(model: ModelWrapper, tensor: str):
    """Follow single-consumer elementwise nodes upstream from ``tensor``.

    Returns (source tensor, chain nodes in order) when the walk reaches an integer source,
    else (the tensor where it stopped, None)."""
    chain = []
    t = tensor
    while _source_domain(model, t) is None:
        p = model.find_producer(t)
        if p is None or p.op_type not in ELEMENTWISE:
            return t, None
        if any(model.get_initializer(i) is None for i in p.input[1:] if i):
            return t, None
        if model.get_tensor_fanout(p.input[0]) != 1 and _source_domain(model, p.input[0]) is None:
            return t, None
        chain.insert(0, p)
        t = p.input[0]
    return t, chain


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
    attrs = {a.name: helper.get_attribute_value(a) for a in q.attribute}
    signed, narrow = int(attrs.get("signed", 1)), int(attrs.get("narrow", 0))
    if b != int(b) or b < 1:
        raise CompileError(f"node {q.name} (Quant): bit width {b} must be a positive integer")
    b = int(b)
    qmin = -(2 ** (b - 1)) + narrow if signed else 0
    qmax = 2 ** (b - 1) - 1 if signed else 2**b - 1 - narrow
    levels = qmax - qmin

    def code(v):
        return np.round(v / s + z).astype(np.int64) - qmin

    dt = "FLOAT32" if (s != 1.0 or z != 0) else (f"INT{b}" if signed else f"UINT{b}")
    return levels, code, s, (qmin - z) * s, dt


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
    """Raise :class:`CompileError` naming the first node whose op the compiler does not know."""

    def apply(self, model):
        for n in model.graph.node:
            if n.op_type not in SUPPORTED:
                raise CompileError(
                    f"node {n.name} (op {n.op_type}) is not supported by the hw-bnn compiler; "
                    f"supported ops: {', '.join(sorted(SUPPORTED))}"
                )
        return model, False


class FoldWeightQuantizers(Transformation):
    """BipolarQuant(constant W, s) -> a +-1 initializer (BIPOLAR) followed by a Mul(s) after
    its consuming MatMul when ``s != 1``.  Multi-bit weights are refused for now."""

    def apply(self, model):
        for q in list(model.graph.node):
            if q.op_type not in QUANTIZERS or model.get_initializer(q.input[0]) is None:
                continue
            if q.op_type == "Quant":
                bits = model.get_initializer(q.input[3])
                raise CompileError(
                    f"node {q.name} (Quant): weights quantized to {bits.reshape(-1)[0]:g} bits; "
                    f"bipolar (1-bit) weights are required"
                )
            w = model.get_initializer(q.input[0])
            s = model.get_initializer(q.input[1])
            consumers = model.find_consumers(q.output[0])
            if len(consumers) != 1 or consumers[0].op_type != "MatMul" or consumers[0].input[1] != q.output[0]:
                raise CompileError(f"node {q.name} (BipolarQuant on weights): expected one MatMul consumer")
            if np.any(s <= 0):
                raise CompileError(f"node {q.name} (BipolarQuant): weight scale must be positive")
            mm = consumers[0]
            w_pm1 = np.where(w >= 0, 1.0, -1.0).astype(np.float32)
            name = _add_const(model, f"{mm.name}_weights", w_pm1, "BIPOLAR")
            mm.input[1] = name
            if not np.all(s == 1.0):
                out = mm.output[0]
                mid = _new_name(model, f"{mm.name}_unscaled")
                mm.output[0] = mid
                sname = _add_const(model, f"{mm.name}_wscale", s.reshape(1, -1))
                idx = model.get_node_index(mm)
                model.graph.node.insert(idx + 1, helper.make_node("Mul", [mid, sname], [out], name=f"{mm.name}_wscale"))
            model.graph.node.remove(q)
            return model, True
        return model, False


class FoldQuantizerChains(Transformation):
    """Integer source -> elementwise chain -> quantizer  ==>  MultiThreshold(source, T).

    The chain and the quantizer are evaluated by qonnx on every value of the source's
    integer domain, in float32 exactly as the exported model runs them; the table is
    turned into thresholds (:mod:`hw_bnn.thresholds`).  A decreasing channel of an
    XNOR-popcount source is made increasing by flipping that output column's weight
    bits (``p' = N - p``).  The MultiThreshold keeps the quantizer's output values
    (``out_scale``, ``out_bias``), so consumers are unchanged.
    """

    def apply(self, model):
        for q in list(model.graph.node):
            if q.op_type not in QUANTIZERS or model.get_initializer(q.input[0]) is not None:
                continue
            source, chain = _walk_chain_up(model, q.input[0])
            if chain is None:
                continue
            lo, hi = _source_domain(model, source)
            levels, code_fn, out_scale, out_bias, out_dt = _quantizer_levels(model, q)
            domain = np.arange(lo, hi + 1)
            out = _run_chain(model, source, chain + [q], q.output[0], domain)
            codes = code_fn(out).reshape(len(domain), out.shape[1], -1)
            if codes.shape[2] != 1:
                raise CompileError(f"node {q.name}: chain output is not per-channel")
            codes = codes[:, :, 0]
            prod = model.find_producer(source)
            can_flip = prod is not None and prod.op_type == "XnorPopcountMatMul" and model.get_tensor_fanout(source) == 1
            try:
                thr, flipped = thresholds_from_codes(domain, codes, levels, allow_flip=can_flip)
            except NonMonotoneError as e:
                names = ", ".join(n.name for n in chain)
                raise CompileError(f"node {q.name}: the chain [{names}] before it: {e.reason}") from None
            if flipped.any():
                w = model.get_initializer(prod.input[1]).copy()
                w[:, flipped] = 1.0 - w[:, flipped]
                model.set_initializer(prod.input[1], w)
            if np.all(thr == thr[:1]):
                thr = thr[:1]
            tname = _add_const(model, f"{q.name}_thresholds", thr, _int_dtype(int(thr.min()), int(thr.max())))
            mt = helper.make_node(
                "MultiThreshold",
                [source, tname],
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
            model.set_tensor_datatype(q.output[0], DataType[out_dt])
            return model, True
        return model, False


class BipolarMatMulToXnorPopcount(Transformation):
    """MatMul(x, W) with x from a one-level MultiThreshold that emits +-s and W in {-1, +1}
    ==> MultiThreshold emits bits, XnorPopcountMatMul(bits, W bits) = p, then the exact
    integer correction ``Mul 2, Add -N`` (and ``Mul s``) reproduces the MatMul output."""

    def apply(self, model):
        for mm in list(model.graph.node):
            if mm.op_type != "MatMul":
                continue
            w = model.get_initializer(mm.input[1])
            mt = model.find_producer(mm.input[0])
            if w is None or mt is None or mt.op_type != "MultiThreshold":
                continue
            attrs = {a.name: helper.get_attribute_value(a) for a in mt.attribute}
            s = -attrs.get("out_bias", 0.0)
            if model.get_initializer(mt.input[1]).shape[1] != 1 or s <= 0 or attrs.get("out_scale") != 2 * s:
                continue
            if model.get_tensor_fanout(mm.input[0]) != 1:
                continue
            if not np.all(np.abs(w) == 1.0):
                raise CompileError(f"node {mm.name} (MatMul): weights '{mm.input[1]}' are not bipolar (+-1)")
            n_in = int(w.shape[0])
            for a in list(mt.attribute):
                if a.name in ("out_scale", "out_bias", "out_dtype"):
                    mt.attribute.remove(a)
            mt.attribute.extend([helper.make_attribute("out_dtype", "BINARY")])
            model.set_tensor_datatype(mt.output[0], DataType["BINARY"])
            wname = _add_const(model, f"{mm.name}_weight_bits", (w > 0).astype(np.float32), "BINARY")
            p = _new_name(model, f"{mm.name}_popcount")
            model.set_tensor_datatype(p, DataType[_int_dtype(0, n_in)])
            nodes = [helper.make_node("XnorPopcountMatMul", [mm.input[0], wname], [p], domain=QONNX_DOMAIN, name=f"{mm.name}_xnor")]
            t2 = _new_name(model, f"{mm.name}_2p")
            acc = _new_name(model, f"{mm.name}_acc") if s != 1.0 else mm.output[0]
            nodes.append(helper.make_node("Mul", [p, _add_const(model, "two", 2.0)], [t2], name=f"{mm.name}_2p"))
            nodes.append(helper.make_node("Add", [t2, _add_const(model, "minus_n", -float(n_in))], [acc], name=f"{mm.name}_acc"))
            if s != 1.0:
                nodes.append(helper.make_node("Mul", [acc, _add_const(model, "act_scale", s)], [mm.output[0]], name=f"{mm.name}_ascale"))
            idx = model.get_node_index(mm)
            model.graph.node.remove(mm)
            for k, n in enumerate(nodes):
                model.graph.node.insert(idx + k, n)
            return model, True
        return model, False


def _fit_affine(acc: np.ndarray, y: np.ndarray):
    """float32 (s, b) with float32(float32(acc * s) + b) == y on every value, or None."""
    acc32 = acc.astype(np.float32)
    s0 = np.float32((float(y[-1]) - float(y[0])) / (float(acc[-1]) - float(acc[0])))
    candidates_s = [s0, np.nextafter(s0, np.float32(np.inf)), np.nextafter(s0, np.float32(-np.inf))]
    for s in candidates_s:
        prod = (acc32 * s).astype(np.float32)
        for i in (len(acc) // 2, 0, len(acc) - 1):
            b = np.float32(y[i] - prod[i])
            if np.array_equal((prod + b).astype(np.float32), y):
                return s, b
    return None


class FoldOutputChain(Transformation):
    """XNOR-popcount p -> chain -> graph output  ==>  integer accumulator ``a = 2p - N`` as the
    output, plus the output affine ``y = float32(float32(a * scale) + bias)`` per channel
    (metadata ``hw_bnn.output_affine``), confirmed bit-exact on the whole domain."""

    def apply(self, model):
        out = model.graph.output[0].name
        source, chain = _walk_chain_up(model, out)
        if chain is None or not chain or model.get_metadata_prop(AFFINE_KEY):
            return model, False
        prod = model.find_producer(source)
        if prod is None or prod.op_type != "XnorPopcountMatMul":
            return model, False
        n_in = int(model.get_tensor_shape(prod.input[1])[0])
        p = np.arange(0, n_in + 1)
        acc = 2 * p - n_in
        y = _run_chain(model, source, chain, out, p)
        y = y.reshape(len(p), y.shape[1])
        scales, biases = [], []
        for c in range(y.shape[1]):
            fit = _fit_affine(acc, y[:, c])
            if fit is None:
                raise CompileError(
                    f"output chain [{', '.join(n.name for n in chain)}]: channel {c} is not an exact "
                    f"float32 affine of the integer accumulator"
                )
            scales.append(float(fit[0]))
            biases.append(float(fit[1]))
        idx = model.get_node_index(chain[0])
        for n in chain:
            model.graph.node.remove(n)
        t2 = _new_name(model, "out_2p")
        model.graph.node.insert(idx, helper.make_node("Mul", [source, _add_const(model, "two", 2.0)], [t2], name="out_2p"))
        model.graph.node.insert(idx + 1, helper.make_node("Add", [t2, _add_const(model, "minus_n", -float(n_in))], [out], name="out_acc"))
        model.set_tensor_datatype(out, DataType[_int_dtype(-n_in, n_in)])
        if len(set(scales)) == 1 and len(set(biases)) == 1:
            scales, biases = scales[:1], biases[:1]
        model.set_metadata_prop(
            AFFINE_KEY,
            json.dumps({"formula": "y = float32(float32(acc * scale) + bias)", "scale": scales, "bias": biases}),
        )
        return model, True


class CheckIntegerOnly(Transformation):
    """Every node left must be integer (MultiThreshold, XnorPopcountMatMul, integer Mul/Add).
    Otherwise explain which node keeps the graph from being integer-only."""

    def apply(self, model):
        for n in model.graph.node:
            if n.op_type in ("MultiThreshold", "XnorPopcountMatMul"):
                continue
            if n.op_type in ("Mul", "Add"):
                c = model.get_initializer(n.input[1])
                if c is not None and np.all(c == np.round(c)):
                    continue
            if n.op_type == "MatMul":
                w = model.get_initializer(n.input[1])
                src = model.find_producer(n.input[0])
                if w is not None and not np.all(np.abs(w) == 1.0):
                    raise CompileError(
                        f"node {n.name} (MatMul): weights '{n.input[1]}' are float, not bipolar; "
                        f"the model is not quantized (train it with binary QuantLinear layers)"
                    )
                what = "an unquantized (float) tensor" if src is None or src.op_type not in QUANTIZERS | {"MultiThreshold"} else "a quantizer the compiler could not fold"
                raise CompileError(f"node {n.name} (MatMul): its input '{n.input[0]}' comes from {what}; expected bipolar activations")
            if n.op_type in QUANTIZERS:
                src, _ = _walk_chain_up(model, n.input[0])
                raise CompileError(
                    f"node {n.name} ({n.op_type}): its input chain does not start at an integer "
                    f"accumulator or the integer model input (it stops at '{src}')"
                )
            raise CompileError(f"node {n.name} (op {n.op_type}) is left in float after folding; it cannot be mapped to integers")
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


def compile_model(model: ModelWrapper, input_dtype: str = "UINT8", acc_bits: int | None = None) -> ModelWrapper:
    """Exported QONNX -> integer-only folded graph.  ``acc_bits`` caps the accumulator and
    threshold width: a layer that needs more raises :class:`CompileError` naming it."""
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
    model = _fixed_point(model, [FoldWeightQuantizers()])
    model = _fixed_point(model, [FoldQuantizerChains(), BipolarMatMulToXnorPopcount()])
    model = _fixed_point(model, [FoldOutputChain()])
    model = model.transform(CheckIntegerOnly())
    model = model.transform(SortGraph()).transform(GiveUniqueNodeNames()).transform(InferShapes())
    model.graph.name = "hw_bnn_folded"
    folded_to_golden(model, acc_bits=acc_bits)  # validates the structure and the bit widths
    return model


def output_affine(model: ModelWrapper):
    meta = model.get_metadata_prop(AFFINE_KEY)
    if not meta:
        return None, None
    d = json.loads(meta)
    return np.asarray(d["scale"], dtype=np.float32), np.asarray(d["bias"], dtype=np.float32)


def folded_to_golden(model: ModelWrapper, acc_bits: int | None = None) -> GoldenModel:
    """The layer list of a folded graph as a NumPy golden model."""
    t = model.graph.input[0].name
    dt = model.get_tensor_datatype(t)
    if not dt.is_integer():
        raise CompileError(f"folded graph: input '{t}' is {dt.name}, expected an integer datatype")
    in_range = (int(dt.min()), int(dt.max()))
    layers: list = []
    out = model.graph.output[0].name
    fc = 0
    while t != out:
        consumers = model.find_consumers(t)
        if len(consumers) != 1:
            raise CompileError(f"folded graph: tensor '{t}' must feed exactly one layer")
        n = consumers[0]
        if n.op_type == "MultiThreshold" and not layers:
            thr = model.get_initializer(n.input[1]).astype(np.int64)
            layers.append(ThresholdLayer("quant_in", thr, in_range))
            t = n.output[0]
        elif n.op_type == "XnorPopcountMatMul":
            fc += 1
            w = model.get_initializer(n.input[1]).astype(np.uint8)
            nxt = model.find_consumers(n.output[0])
            if len(nxt) == 1 and nxt[0].op_type == "MultiThreshold":
                thr = model.get_initializer(nxt[0].input[1]).astype(np.int64)
                if thr.shape[0] == 1 and w.shape[1] != 1:
                    thr = np.repeat(thr, w.shape[1], axis=0)
                layers.append(XnorDenseLayer(f"fc{fc}", w, thr))
                t = nxt[0].output[0]
            elif len(nxt) == 1 and nxt[0].op_type == "Mul":
                add = model.find_consumer(nxt[0].output[0])
                if add is None or add.op_type != "Add" or add.output[0] != out:
                    raise CompileError(f"folded graph: node {n.name} must end in thresholds or the output accumulator")
                layers.append(XnorDenseLayer(f"fc{fc}", w, None))
                t = out
            else:
                raise CompileError(f"folded graph: node {n.name} must be followed by thresholds or the output")
        else:
            raise CompileError(f"folded graph: node {n.name} (op {n.op_type}) is not a supported hardware layer")
    if acc_bits is not None:
        for layer in layers:
            lo, hi = layer.acc_range()
            if layer.thresholds is not None:
                lo, hi = min(lo, int(layer.thresholds.min())), max(hi, int(layer.thresholds.max()))
            need, _ = bits_for_range(lo, hi)
            if need > acc_bits:
                raise CompileError(
                    f"layer {layer.name}: accumulator/thresholds span [{lo}, {hi}] and need {need} bits, "
                    f"more than the chosen {acc_bits}-bit width"
                )
    scale, bias = output_affine(model)
    shape = tuple(model.get_tensor_shape(model.graph.input[0].name)[1:])
    return GoldenModel(layers, scale, bias, shape, in_range)


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

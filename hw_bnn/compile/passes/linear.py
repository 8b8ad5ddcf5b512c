"""Integerize the linear layers: MatMul / Conv on quantized values -> the same op on integer codes.

The input of a linear op is ``x = alpha * code + beta`` with codes ``0..L`` (a MultiThreshold's,
or the integer input times a scalar).  With ``K`` the fan-in and ``colsum(W)`` the column sums:

* +-1 inputs (``L = 1``, ``alpha = -2 beta``) and +-1 weights: the popcount ``p`` of
  ``xnor(bits, weight bits)`` gives the bipolar sum ``2 p - K``, and ``y = sigma (2 p - K)`` with
  ``sigma = -beta``.  Dense: ``XnorPopcountMatMul(bits, weight bits) = p``; conv:
  ``Conv(bits, W) + n_minus = p`` (standard ONNX ops; the padding bit 0 codes -1);
* otherwise the integer product ``acc = op(codes, W)`` and
  ``y = op(alpha code + beta, W) = alpha acc + beta colsum(W)``.

With a power-of-two ``alpha`` the exported float sums are exact and equal ``y``; with any other
(a learned float scale, recorded in the metadata) the correction computes the model's integer
semantics, which the export equals up to rounding ties (:mod:`hw_bnn.compile.near_ties`).  The
correction after the integer op is then absorbed by the next chain.
"""

from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.transformation.base import Transformation

from hw_bnn.compile.graph import (
    CODE_PATH,
    LINEAR,
    QONNX_DOMAIN,
    add_const,
    attrs,
    check_scale,
    int_dtype,
    is_graph_input,
    n_minus,
    new_name,
    pad_value,
    set_attr,
    spatial_pad,
    weight_matrix,
)
from hw_bnn.errors import CompileError


def _codes(kind: str, node, alpha: float, beta: float, levels: int, path: list, root: str) -> dict:
    return {"kind": kind, "node": node, "alpha": alpha, "beta": beta, "levels": levels, "path": path, "root": root}


def trace_codes(model, tensor: str):
    """What a linear op's data input is made of: walk up through Pad / MaxPool / Flatten to a
    MultiThreshold, the integer input, or a scalar Mul of the integer input.

    Returns ``dict(kind, node, alpha, beta, levels, path, root)`` with
    ``value = alpha * code + beta`` and codes in ``0..levels``, or None."""
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
    if is_graph_input(model, t):
        dt = model.get_tensor_datatype(t)
        if not dt.is_integer() or dt.min() < 0:
            return None
        return _codes("input", None, 1.0, 0.0, int(dt.max()), path, t)
    if p is None:
        return None
    if p.op_type == "Mul" and is_graph_input(model, p.input[0]) and model.get_initializer(p.input[1]) is not None:
        dt = model.get_tensor_datatype(p.input[0])
        s = model.get_initializer(p.input[1])
        if dt.is_integer() and dt.min() >= 0 and s.size == 1 and model.get_tensor_fanout(t) == 1:
            return _codes("scaled_input", p, float(s.reshape(-1)[0]), 0.0, int(dt.max()), path, t)
        return None
    if p.op_type == "MultiThreshold":
        a = attrs(p)
        levels = int(model.get_initializer(p.input[1]).shape[1])
        return _codes("mt", p, float(a.get("out_scale", 1.0)), float(a.get("out_bias", 0.0)), levels, path, t)
    return None


def code_of(value: float, info: dict, node, what: str) -> int:
    """The code ``(value - beta) / alpha`` of a border value, or CompileError naming ``node``."""
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
    ``(v - beta) / alpha`` (an error naming the node if it is not a code).  With a power-of-two
    ``alpha`` the exported float sums are exact and equal ``y``; other scales are recorded
    (:func:`hw_bnn.compile.graph.check_scale`).
    """

    def apply(self, model):
        for lin in list(model.graph.node):
            if lin.op_type not in LINEAR:
                continue
            w = model.get_initializer(lin.input[1])
            info = trace_codes(model, lin.input[0]) if w is not None else None
            if info is None:
                continue
            alpha, beta, levels = info["alpha"], info["beta"], info["levels"]
            bipolar = levels == 1 and beta < 0 and alpha == -2.0 * beta
            xnor = bipolar and bool(np.all(np.abs(w) == 1.0))
            pad_nodes = [n for n in info["path"] if n.op_type == "Pad"]
            done = alpha == 1.0 and beta == 0.0 and info["kind"] != "scaled_input" and not xnor
            if done and all(pad_value(model, n) == round(pad_value(model, n)) for n in pad_nodes):
                continue
            self._check(model, lin, w, info, pad_nodes)
            self._rewrite(model, lin, w, info, xnor, pad_nodes)
            return model, True
        return model, False

    @staticmethod
    def _check(model, lin, w, info: dict, pad_nodes: list) -> None:
        """Integer weights, a positive ``alpha``, padding right before a Conv, no branching."""
        if not np.all(w == np.round(w)):
            raise CompileError(
                f"node {lin.name} ({lin.op_type}): weights '{lin.input[1]}' are float, not integers; the model "
                f"is not quantized (train it with quantized QuantLinear / QuantConv2d weights)"
            )
        check_scale(model, info["alpha"], info["node"] or lin, "activation scale")
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

    @classmethod
    def _rewrite(cls, model, lin, w, info, xnor, pad_nodes):
        code_dt = DataType[int_dtype(0, max(1, info["levels"]))]
        cls._producer_emits_codes(model, info, code_dt)
        pad, pad_code = cls._border_code(model, lin, info, pad_nodes) if lin.op_type == "Conv" else (0, 0)
        for n in info["path"]:
            if n.op_type != "Pad":
                model.set_tensor_datatype(n.output[0], code_dt)
        # the integer op and the correction back to the original values
        y = lin.output[0]
        nodes, acc = [], None
        x = lin.input[0]
        if lin.op_type == "Conv":
            acc = cls._conv_on_codes(model, lin, w, x, pad, pad_code, code_dt, nodes)
        if xnor:
            cls._xnor_correction(model, lin, w, x, acc, y, -info["beta"], nodes)
        else:
            cls._integer_correction(model, lin, w, x, acc, y, info["alpha"], info["beta"], nodes)
        idx = model.get_node_index(lin)
        model.graph.node.remove(lin)
        for i, n in enumerate(nodes):
            model.graph.node.insert(idx + i, n)

    @staticmethod
    def _producer_emits_codes(model, info: dict, code_dt) -> None:
        """The MultiThreshold outputs its codes (``out_scale`` 1, ``out_bias`` 0), or the scalar
        Mul of the integer input goes away."""
        if info["kind"] == "mt":
            mt = info["node"]
            set_attr(mt, "out_scale", 1.0)
            set_attr(mt, "out_bias", 0.0)
            set_attr(mt, "out_dtype", code_dt.name)
        elif info["kind"] == "scaled_input":
            mul = info["node"]
            src = mul.input[0]
            for c in model.find_consumers(mul.output[0]):
                for i, name in enumerate(c.input):
                    if name == mul.output[0]:
                        c.input[i] = src
            model.graph.node.remove(mul)
            info["root"] = src
        if not is_graph_input(model, info["root"]):
            model.set_tensor_datatype(info["root"], code_dt)

    @staticmethod
    def _border_code(model, lin, info: dict, pad_nodes: list) -> tuple[int, int]:
        """(padding, border code) of a Conv: its own zero padding and the Pad nodes before it,
        which are removed (one border value around one convolution)."""
        a = attrs(lin)
        conv_pad = int(next(iter(a.get("pads", [0]))))
        pad = 0
        codes = set()
        if conv_pad:
            codes.add(code_of(0.0, info, lin, "zero padding value"))
        for p in pad_nodes:
            codes.add(code_of(pad_value(model, p), info, p, "pad value"))
            pad += spatial_pad(model, p)
        if len(codes) > 1:
            raise CompileError(f"node {lin.name} (Conv): two different border values around one convolution")
        pad += conv_pad
        pad_code = codes.pop() if codes else 0
        for p in pad_nodes:
            lin.input[0] = p.input[0]
            model.graph.node.remove(p)
        return pad, pad_code

    @staticmethod
    def _conv_on_codes(model, lin, w, x: str, pad: int, pad_code: int, code_dt, nodes: list) -> str:
        """``[Pad(code)] Conv(codes, W)``: a non-zero border code becomes an explicit Pad."""
        if pad and pad_code != 0:
            padded = new_name(model, f"{lin.name}_padded")
            pads = add_const(model, f"{lin.name}_pads", np.array([0, 0, pad, pad, 0, 0, pad, pad]))
            model.set_initializer(pads, np.array([0, 0, pad, pad, 0, 0, pad, pad], dtype=np.int64))
            nodes.append(
                helper.make_node(
                    "Pad",
                    [x, pads, add_const(model, f"{lin.name}_pad_code", float(pad_code))],
                    [padded],
                    name=f"{lin.name}_pad",
                    mode="constant",
                )
            )
            model.set_tensor_datatype(padded, code_dt)
            x, conv_pads = padded, 0
        else:
            conv_pads = pad
        a = attrs(lin)
        acc = new_name(model, f"{lin.name}_acc")
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
        return acc

    @staticmethod
    def _xnor_correction(model, lin, w, x: str, acc, y: str, sigma: float, nodes: list) -> None:
        """Popcount ``p`` (``Conv + n_minus``, or ``XnorPopcountMatMul``), then ``y = sigma (2 p - K)``."""
        k = int(np.prod(w.shape[1:])) if lin.op_type == "Conv" else int(w.shape[0])
        p = new_name(model, f"{lin.name}_popcount")
        if lin.op_type == "Conv":
            nodes.append(
                helper.make_node(
                    "Add",
                    [acc, add_const(model, f"{lin.name}_n_minus", n_minus(w))],
                    [p],
                    name=f"{lin.name}_popcount",
                )
            )
        else:
            wb = add_const(model, f"{lin.name}_weight_bits", (w > 0).astype(np.float32), "BINARY")
            nodes.append(
                helper.make_node("XnorPopcountMatMul", [x, wb], [p], domain=QONNX_DOMAIN, name=f"{lin.name}_xnor")
            )
        model.set_tensor_datatype(p, DataType[int_dtype(0, k)])
        t2, a2 = new_name(model, f"{lin.name}_2p"), (new_name(model, f"{lin.name}_pm1") if sigma != 1.0 else y)
        nodes.append(helper.make_node("Mul", [p, add_const(model, "two", 2.0)], [t2], name=f"{lin.name}_2p"))
        nodes.append(
            helper.make_node("Add", [t2, add_const(model, "minus_k", -float(k))], [a2], name=f"{lin.name}_pm1")
        )
        if sigma != 1.0:
            nodes.append(
                helper.make_node("Mul", [a2, add_const(model, "act_scale", sigma)], [y], name=f"{lin.name}_ascale")
            )

    @staticmethod
    def _integer_correction(model, lin, w, x: str, acc, y: str, alpha: float, beta: float, nodes: list) -> None:
        """``acc = op(codes, W)``, then ``y = alpha acc + beta colsum(W)`` (steps that are 1 or 0 left out)."""
        n_out = int(w.shape[0]) if lin.op_type == "Conv" else int(w.shape[1])
        cshape = (1, n_out, 1, 1) if lin.op_type == "Conv" else (1, n_out)
        if lin.op_type == "MatMul":
            acc = new_name(model, f"{lin.name}_acc")
            nodes.append(helper.make_node("MatMul", [x, lin.input[1]], [acc], name=f"{lin.name}_codes"))
        colsum = weight_matrix(lin, w).sum(axis=0).astype(np.float32).reshape(cshape)
        steps = []
        if alpha != 1.0:
            steps.append(("Mul", np.float32(alpha), "ascale"))
        if beta != 0.0 and np.any(colsum != 0):
            steps.append(("Add", (beta * colsum).astype(np.float32), "offset"))
        cur = acc
        for i, (op, c, tag) in enumerate(steps):
            const = add_const(model, f"{lin.name}_{tag}_c", c)
            out = y if i == len(steps) - 1 else new_name(model, f"{lin.name}_{tag}_y")
            nodes.append(helper.make_node(op, [cur, const], [out], name=f"{lin.name}_{tag}"))
            cur = out
        if not steps:
            nodes[-1].output[0] = y

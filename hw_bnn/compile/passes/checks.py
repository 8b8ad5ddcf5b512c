"""The checks around the rewrites: the input domain, the supported ops, and integer-only at the end."""

from __future__ import annotations

import numpy as np
from qonnx.core.datatype import DataType
from qonnx.transformation.base import Transformation

from hw_bnn.compile.graph import (
    CODE_PATH,
    FIXED_OPS,
    LINEAR,
    QUANTIZERS,
    SUPPORTED,
    attrs,
    pad_value,
    spatial_pad,
    walk_chain_up,
)
from hw_bnn.errors import CompileError


class SetInputDatatype(Transformation):
    """Annotate the graph input with its integer datatype (the float-to-integer boundary:
    8-bit pixels ``0..255`` by default)."""

    def __init__(self, dtype: str = "UINT8"):
        super().__init__()
        self.dtype = dtype

    def apply(self, model):
        name = model.graph.input[0].name
        model.set_tensor_datatype(name, DataType[self.dtype])
        return model, False


def _check_window(n, a: dict) -> None:
    """Conv / MaxPool settings the hardware has: a square kernel, equal strides (1 or 2 for a
    convolution), no dilation, explicit pads; a convolution has one group and the same
    padding on every border, max pooling none and floor mode."""
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
        raise CompileError(f"node {n.name} ({n.op_type}): dilation {list(a['dilations'])} is not supported (1 only)")
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
            a = attrs(n)
            if n.op_type in ("Conv", "MaxPool"):
                _check_window(n, a)
            elif n.op_type == "Pad":
                spatial_pad(model, n)
            elif n.op_type == "Concat" and int(a.get("axis", 1)) != 1:
                raise CompileError(f"node {n.name} (Concat): only channel concatenation (axis=1) is supported")
            elif n.op_type == "Flatten" and int(a.get("axis", 1)) != 1:
                raise CompileError(f"node {n.name} (Flatten): only axis=1 is supported")
            elif n.op_type == "Reshape":
                shape = model.get_initializer(n.input[1])
                if shape is None or shape.size != 2:
                    raise CompileError(f"node {n.name} (Reshape): only a flatten to (N, features) is supported")
        return model, False


INTEGER_OPS = {"MultiThreshold", "XnorPopcountMatMul", "MaxPool", "Flatten", "Reshape", "IntConcat"} | FIXED_OPS


def _is_integer_node(model, n) -> bool:
    """Thresholds, XNOR / integer products on codes, max pooling, flatten, fixed-point nodes,
    padding with a code, Mul / Add by integer constants."""
    if n.op_type in INTEGER_OPS:
        return True
    if n.op_type == "Pad":
        return pad_value(model, n) == round(pad_value(model, n))
    if n.op_type in ("Mul", "Add"):
        c = model.get_initializer(n.input[1])
        return c is not None and bool(np.all(c == np.round(c)))
    if n.op_type in LINEAR:
        w = model.get_initializer(n.input[1])
        dt = model.get_tensor_datatype(n.input[0])
        return w is not None and bool(np.all(w == np.round(w))) and dt.is_integer() and dt.min() >= 0
    return False


def _float_linear_error(model, n) -> CompileError:
    w = model.get_initializer(n.input[1])
    if w is not None and not np.all(w == np.round(w)):
        return CompileError(
            f"node {n.name} ({n.op_type}): weights '{n.input[1]}' are float, not integers; "
            f"the model is not quantized (train it with quantized QuantLinear / QuantConv2d layers)"
        )
    src = model.find_producer(n.input[0])
    what = (
        "an unquantized (float) tensor"
        if src is None or src.op_type not in QUANTIZERS | {"MultiThreshold"} | CODE_PATH
        else "a quantizer the compiler could not absorb"
    )
    return CompileError(
        f"node {n.name} ({n.op_type}): its input '{n.input[0]}' comes from {what}; expected quantized activations"
    )


def _quantizer_left_error(model, n) -> CompileError:
    src, _ = walk_chain_up(model, n.input[0])
    prod = model.find_producer(src)
    hint = (
        f" ({prod.op_type} {prod.name} must come after the activation quantizer: a layout op moves only past "
        f"elementwise ops whose constants are single values, not per-channel ones such as a BatchNormalization)"
        if prod is not None and prod.op_type in CODE_PATH
        else ""
    )
    return CompileError(
        f"node {n.name} ({n.op_type}): its input chain does not start at an integer "
        f"accumulator or the integer model input (it stops at '{src}'){hint}"
    )


class CheckIntegerOnly(Transformation):
    """Every node left must be integer (thresholds, XNOR / integer products on codes,
    max pooling, flatten, padding with a code, integer Mul / Add).  Otherwise explain which
    node keeps the graph from being integer-only."""

    def apply(self, model):
        # a quantizer that could not be absorbed is the root cause: name it first
        nodes = sorted(model.graph.node, key=lambda n: n.op_type not in QUANTIZERS)
        for n in nodes:
            if _is_integer_node(model, n):
                continue
            if n.op_type in LINEAR:
                raise _float_linear_error(model, n)
            if n.op_type in QUANTIZERS:
                raise _quantizer_left_error(model, n)
            raise CompileError(
                f"node {n.name} (op {n.op_type}) is left in float after absorbing the chains; "
                f"it cannot be mapped to integers"
            )
        return model, False

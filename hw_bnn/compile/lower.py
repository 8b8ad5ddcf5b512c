"""Lowering: the integer graph (``integer.onnx``) -> the IR, :class:`hw_bnn.ir.IntegerNetwork`.

The walk starts at the graph input and turns the nodes into hardware layers in the order the
data flows (NHWC for images, as the streaming hardware works):

=================================  ==========================================================
``[Mul(+-1)] MultiThreshold``      ``threshold`` (the input quantizer, or a sign / quantizer
                                   over an accumulator; the ``Mul`` negates channels)
``[Pad] Conv [Add(n_minus)]``      ``conv`` (XNOR with the ``Add``), with the thresholds after it
``XnorPopcountMatMul`` / ``MatMul``  ``xnor_dense`` / ``int_dense``, with the thresholds after it
``MaxPool``, ``Flatten``           ``maxpool``, ``flatten``
``FixedChain``, ``FixedAdd``       ``fixed_chain``, ``fixed_add`` (fixed-point shortcuts)
``IntConcat``                      ``concat``
=================================  ==========================================================

An XNOR convolution's popcount ``p`` is read as ``a = 2 p - K``, so its thresholds become
``p >= T  <=>  a >= 2 T - K``.  A dense layer after a flatten has its weight rows permuted from
the graph's ``(c, h, w)`` order to the hardware's ``(h, w, c)``.
"""

from __future__ import annotations

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from hw_bnn.compile.graph import (
    FIXED_OPS,
    attrs,
    is_graph_input,
    is_xnor_conv,
    pad_value,
    source_info,
    spatial_pad,
    str_attr,
)
from hw_bnn.compile.metadata import output_affine, output_steps
from hw_bnn.errors import CompileError
from hw_bnn.ir import (
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


class _Walk:
    """The walk over an integer graph and the layers it has collected.

    It follows the main path; a tensor read by several nodes (a fixed-point shortcut tensor, a
    concatenated one) is remembered by the layer that made it, and a node is taken when all
    of its inputs exist.  A layer that does not read the previous layer's output names its
    input layer (``inputs``)."""

    def __init__(self, model: ModelWrapper):
        self.model = model
        self.layers: list = []
        self.counts: dict[str, int] = {}
        self.out = model.graph.output[0].name
        self.made_by: dict[str, str] = {}  # tensor -> IR layer name
        self.visited: set[str] = set()
        self.pending: list[str] = []  # tensors whose other readers are still to be walked
        t = model.graph.input[0].name
        dt = model.get_tensor_datatype(t)
        if not dt.is_integer():
            raise CompileError(f"integer graph: input '{t}' is {dt.name}, expected an integer datatype")
        self.input = t
        self.in_range = (int(dt.min()), int(dt.max()))
        self.in_shape = tuple(int(v) for v in model.get_tensor_shape(t)[1:])
        self.levels = self.in_range[1]  # codes arriving at the next layer are 0..levels
        s = self.in_shape
        self.hwc = (s[1], s[2], s[0]) if len(s) == 3 else None
        self.shapes = {t: self.hwc}  # image tensors: (H, W, C) in hardware order
        self.flat_chw = None  # (C, H, W) of the last flatten: the next dense layer's rows are permuted
        self.pending_pad = None

    # -- the walk -----------------------------------------------------------------------------
    def name(self, base: str) -> str:
        self.counts[base] = self.counts.get(base, 0) + 1
        return f"{base}{self.counts[base]}"

    def single_consumer(self, t: str):
        consumers = self.model.find_consumers(t)
        if len(consumers) != 1:
            raise CompileError(f"integer graph: tensor '{t}' must feed exactly one layer")
        return consumers[0]

    def ready(self, n) -> bool:
        return n.name not in self.visited and all(
            i in self.made_by or is_graph_input(self.model, i)
            for i in n.input
            if i and self.model.get_initializer(i) is None
        )

    def next_node(self, t: str):
        """The next node to turn into a layer: a reader of ``t`` (others wait in ``pending``)."""
        readers = [c for c in self.model.find_consumers(t) if c.name not in self.visited]
        if len(readers) > 1:
            if any(c.op_type not in FIXED_OPS | {"MultiThreshold", "MaxPool", "IntConcat", "Mul"} for c in readers):
                raise CompileError(
                    f"integer graph: tensor '{t}' feeds several layers; only shortcut and concatenated tensors may"
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
        raise CompileError(f"integer graph: the walk stops at tensor '{t}': no layer can read it")

    def add(self, layer, in_tensor: str | None, out_tensor: str, node):
        """Append ``layer`` (reading ``in_tensor``) that makes ``out_tensor``."""
        if in_tensor is not None and self.layers:
            src = self.made_by.get(in_tensor)
            if src is not None and src != self.layers[-1].name:
                layer.inputs = (src,)
        self.layers.append(layer)
        self.made_by[out_tensor] = layer.name
        self.visited.add(node.name)

    def add_merge(self, layer, node) -> str:
        """Append a layer that names its inputs itself (concatenation, shortcut add)."""
        self.layers.append(layer)
        self.made_by[node.output[0]] = layer.name
        self.visited.add(node.name)
        return node.output[0]

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
                f"integer graph: node {node.name} must be followed by thresholds, a fixed-point chain or be the output"
            )
        thr = self.model.get_initializer(nxt.input[1]).astype(np.int64)
        if thr.shape[0] == 1 and n_out != 1:
            thr = np.repeat(thr, n_out, axis=0)
        self.visited.add(nxt.name)
        return thr, nxt.output[0]

    def run(self) -> list:
        """Every layer from the input to the output, in data-flow order."""
        t = self.input
        while t != self.out:
            n = self.next_node(t)
            src_t = n.input[0]
            self.hwc = self.shapes.get(src_t, self.hwc)
            n, negate = self._negation(n)
            op = n.op_type
            if op == "MultiThreshold" and (not self.layers or source_info(self.model, src_t) is not None):
                t = self._threshold(n, src_t, negate)
                continue
            lower = self.LOWER.get(op)
            if lower is None:
                raise CompileError(f"integer graph: node {n.name} (op {op}) is not a supported hardware layer")
            t = lower(self, n, src_t)
        return self.layers

    # -- one method per hardware layer: each returns the tensor after the layer ---------------
    def _negation(self, n):
        """A ``Mul`` by +-1 right before thresholds negates channels: (the MultiThreshold, mask)."""
        model = self.model
        if not (
            n.op_type == "Mul"
            and len(model.find_consumers(n.output[0])) == 1
            and model.find_consumer(n.output[0]).op_type == "MultiThreshold"
        ):
            return n, None
        d = model.get_initializer(n.input[1])
        if d is None or not np.all(np.abs(d) == 1):
            raise CompileError(f"integer graph: node {n.name} (Mul) before thresholds must negate channels (+-1)")
        self.visited.add(n.name)
        return model.find_consumer(n.output[0]), d.reshape(-1) < 0

    def _threshold(self, n, src_t: str, negate) -> str:
        thr = self.model.get_initializer(n.input[1]).astype(np.int64)
        rng = self.in_range
        if self.layers:
            lo, hi, kind, _ = source_info(self.model, src_t)
            rng = (lo, hi)
            c = self.hwc[2] if self.hwc is not None else int(self.model.get_tensor_shape(src_t)[1])
            if thr.shape[0] == 1 and c != 1:
                thr = np.repeat(thr, c, axis=0)
            if kind == "xnor_conv":  # the IR convolution gives a = 2 p - K: p >= T <=> a >= 2 T - K
                thr, rng = 2 * thr - hi, (-hi, hi)
            if negate is not None:
                negate = np.broadcast_to(negate, (thr.shape[0],)).copy()
                rng = (-rng[1], rng[1]) if rng[0] >= 0 else (min(rng[0], -rng[1]), max(rng[1], -rng[0]))
        layer = ThresholdLayer("quant_in" if not self.layers else self.name("sign"), thr, rng, negate=negate)
        self.add(layer, src_t, n.output[0], n)
        self.levels = int(thr.shape[1])
        return n.output[0]

    def _concat(self, n, src_t: str) -> str:
        ins = tuple(self.made_by[i] for i in n.input)
        ranges = []
        for i in n.input:
            lo, hi, kind, _ = source_info(self.model, i)
            ranges.append((-hi, hi) if kind == "xnor_conv" else (lo, hi))
        shape = tuple(self.hwc[:2]) + (int(self.model.get_tensor_shape(n.output[0])[1]),)
        t = self.add_merge(ConcatLayer(self.name("concat"), shape, ins, ranges), n)
        self.hwc = shape
        self.shapes[t] = shape
        return t

    def _pad(self, n, src_t: str) -> str:
        self.pending_pad = (spatial_pad(self.model, n), int(pad_value(self.model, n)))
        self.visited.add(n.name)
        t = n.output[0]
        self.shapes[t] = self.hwc
        self.made_by[t] = self.made_by.get(src_t)
        return t

    def _conv(self, n, src_t: str) -> str:
        model = self.model
        w = model.get_initializer(n.input[1])
        a = attrs(n)
        k, stride, pad = (
            int(w.shape[2]),
            int(next(iter(a.get("strides", [1])))),
            int(next(iter(a.get("pads", [0])))),
        )
        pad_value_ = 0
        if self.pending_pad is not None:
            pad, pad_value_ = self.pending_pad
            self.pending_pad = None
        wm = w.transpose(2, 3, 1, 0).reshape(-1, w.shape[0])  # rows in (kh, kw, c) order
        readers = model.find_consumers(n.output[0]) if n.output[0] != self.out else []
        nxt = readers[0] if len(readers) == 1 else None
        xnor = nxt is not None and nxt.op_type == "Add" and is_xnor_conv(model, n, nxt)
        after = nxt.output[0] if xnor else n.output[0]
        if xnor:
            self.visited.add(nxt.name)
        thr, t = self.thresholds_after(after, w.shape[0], n)
        weights = (wm > 0).astype(np.uint8) if xnor else wm.astype(np.int8)
        name = self.name("conv")
        layer = ConvLayer(name, self.hwc, k, stride, pad, pad_value_, weights, xnor, thr, in_levels=max(1, self.levels))
        self.add(layer, src_t, t, n)
        self.hwc = layer.out_shape
        self.shapes[t] = self.hwc
        self.levels = layer.levels
        return t

    def _fixed_chain(self, n, src_t: str) -> str:
        a = attrs(n)
        g, pp, nn_, zz = (self.model.get_initializer(i).astype(np.int64) for i in n.input[1:5])
        prev_lo, prev_hi = self.layers[-1].out_range() if self.layers else self.in_range
        src_info = source_info(self.model, src_t)
        if src_info is not None and src_info[2] == "fixed":
            prev_lo, prev_hi = src_info[0], src_info[1]
        shape = self.hwc if self.hwc is not None else (int(self.model.get_tensor_shape(src_t)[1]),)
        layer = FixedChainLayer(
            self.name("fixed"),
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
            str_attr(a, "rounding", "rnd_conv"),
            str_attr(a, "overflow", "sat"),
        )
        self.add(layer, src_t, n.output[0], n)
        t = n.output[0]
        self.shapes[t] = self.hwc
        return t

    def _fixed_add(self, n, src_t: str) -> str:
        a = attrs(n)
        ins = tuple(self.made_by[i] for i in n.input[:2])
        layer = FixedAddLayer(self.name("add"), self.hwc, int(a["width"]), ins, str_attr(a, "overflow", "sat"))
        t = self.add_merge(layer, n)
        self.shapes[t] = self.hwc
        return t

    def _maxpool(self, n, src_t: str) -> str:
        a = attrs(n)
        info = source_info(self.model, src_t)
        lo, hi = (info[0], info[1]) if info is not None and info[2] == "fixed" else (0, max(1, self.levels))
        kernel = int(a["kernel_shape"][0])
        stride = int(next(iter(a.get("strides", a["kernel_shape"]))))
        layer = MaxPoolLayer(self.name("pool"), self.hwc, kernel, stride, hi, lo)
        self.add(layer, src_t, n.output[0], n)
        self.hwc, t = layer.out_shape, n.output[0]
        self.shapes[t] = self.hwc
        return t

    def _flatten(self, n, src_t: str) -> str:
        hwc = self.hwc
        if hwc is None:
            raise CompileError(f"integer graph: node {n.name} ({n.op_type}) flattens a tensor that is not an image")
        self.add(FlattenLayer(self.name("flatten"), hwc, max(1, self.levels)), src_t, n.output[0], n)
        self.flat_chw = (hwc[2], hwc[0], hwc[1])
        self.hwc, t = None, n.output[0]
        self.shapes[t] = None
        return t

    def _dense(self, n, src_t: str) -> str:
        w = self.model.get_initializer(n.input[1])
        if self.flat_chw is not None:
            c, h, wd = self.flat_chw
            w = w.reshape(c, h, wd, -1).transpose(1, 2, 0, 3).reshape(c * h * wd, -1)
            self.flat_chw = None
        name = self.name("fc")
        if n.op_type == "XnorPopcountMatMul":
            thr, t = self._xnor_dense_end(n, w.shape[1])
            layer = XnorDenseLayer(name, w.astype(np.uint8), thr)
        else:
            thr, t = self.thresholds_after(n.output[0], w.shape[1], n)
            layer = IntDenseLayer(name, w.astype(np.int8), thr, in_levels=max(1, self.levels))
        self.add(layer, src_t, t, n)
        self.levels = layer.levels
        self.shapes[t] = None
        return t

    def _xnor_dense_end(self, n, n_out: int):
        """(thresholds or None, tensor after): thresholds, or the output accumulator ``2 p - K``."""
        nxt = self.single_consumer(n.output[0])
        if nxt.op_type == "MultiThreshold":
            return self.thresholds_after(n.output[0], n_out, n)
        add = self.model.find_consumer(nxt.output[0]) if nxt.op_type == "Mul" else None
        if add is None or add.op_type != "Add" or add.output[0] != self.out:
            raise CompileError(f"integer graph: node {n.name} must end in thresholds or the output accumulator")
        return None, self.out

    LOWER = {
        "IntConcat": _concat,
        "Pad": _pad,
        "Conv": _conv,
        "FixedChain": _fixed_chain,
        "FixedAdd": _fixed_add,
        "MaxPool": _maxpool,
        "Flatten": _flatten,
        "Reshape": _flatten,
        "XnorPopcountMatMul": _dense,
        "MatMul": _dense,
    }


def check_acc_bits(layers: list, acc_bits: int) -> None:
    """Every accumulator and threshold fits ``acc_bits`` bits, or CompileError naming the layer."""
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


def lower_to_ir(model: ModelWrapper, acc_bits: int | None = None) -> IntegerNetwork:
    """The layer list of an integer graph as the IR (NHWC for images), run in NumPy as the golden model."""
    walk = _Walk(model)
    layers = walk.run()
    if acc_bits is not None:
        check_acc_bits(layers, acc_bits)
    scale, bias, pre = output_affine(model)
    return IntegerNetwork(layers, scale, bias, walk.in_shape, walk.in_range, pre, output_steps(model))

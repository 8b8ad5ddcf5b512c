"""Lower the channel concatenations (BinaryDenseNet) to ``IntConcat`` of integer tensors.

Each input of a ``Concat`` must be, per channel, an exact float32 integer affine
``value = m * x + o`` of an integer source ``x`` (a convolution's raw accumulator, a popcount
read as ``x = 2 p - K``, or an earlier concatenation), checked on the source's whole domain.
Then ``Concat(m_1 x_1 + o_1, ...) = m * IntConcat(x_1, ...) + o`` with ``m``, ``o`` the
concatenated affines, and the chain after it (BatchNorm + sign, ...) is absorbed into
per-channel thresholds over the concatenated integers: the network stays bit-exact.
"""

from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation

from hw_bnn.compile.graph import (
    HW_DOMAIN,
    add_const,
    int_dtype,
    new_name,
    remove_dead,
    run_chain,
    source_info,
    walk_chain_up,
)
from hw_bnn.errors import CompileError


def _affine_of(model: ModelWrapper, source: str, chain: list, t: str, lo: int, hi: int, k: int):
    """Per channel ``(m, o)`` float32 from the chain's values at the domain's two ends:
    ``m = (f(hi) - f(lo)) / (x(hi) - x(lo))``, ``o = f(lo) - m x(lo)``."""
    ends = np.array([lo, hi], dtype=np.float64)
    if chain:
        f = run_chain(model, source, chain, t, ends)
        f = f.reshape(2, f.shape[1], -1)[:, :, 0].astype(np.float64)
    else:
        c = int(model.get_tensor_shape(source)[1])
        f = np.repeat(ends[:, None], c, axis=1)
    x = (2 * ends - k) if k else ends
    m = ((f[1] - f[0]) / (x[1] - x[0])).astype(np.float32) if hi > lo else np.ones(f.shape[1], np.float32)
    o = (f[0] - m.astype(np.float64) * x[0]).astype(np.float32)
    return m, o


class LowerConcat(Transformation):
    """Channel concatenation (BinaryDenseNet) ==> ``IntConcat`` of integer tensors.

    Every input of a ``Concat`` must be an exact integer affine of an integer source (the
    raw XNOR / integer accumulator of a convolution, or an earlier concatenation): per
    channel ``value = m * x + o`` with ``x`` the integer the hardware holds.  Each input is
    first re-read from its source through its own copy of that affine (so the other readers
    of the input keep their chains and have them absorbed into thresholds); once every input
    is such a copy, the ``Concat`` becomes ``IntConcat(x_1, x_2, ...)`` followed, for each
    reader, by the per-channel affine of the concatenation.  The chains from it to the next
    quantizers are absorbed into per-channel thresholds over the concatenated integers."""

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
                remove_dead(model)
                return model, True
            if all(t in self.views for t in n.input):
                self._lower(model, n)
                remove_dead(model)
                return model, True
        return model, False

    def _resolve(self, model: ModelWrapper, t: str, concat):
        """``(source, K, m, o)`` of a Concat input ``t = m * x + o`` (None while it is not yet
        a chain from an integer source), checked exact on the whole domain."""
        source, chain = walk_chain_up(model, t)
        if chain is None:
            return None
        lo, hi, kind, _ = source_info(model, source)
        if kind not in ("xnor_conv", "int", "concat"):
            raise CompileError(
                f"node {concat.name} (Concat): input '{t}' comes from {kind} '{source}'; a concatenation takes "
                f"convolution accumulators or earlier concatenations"
            )
        k = hi if kind == "xnor_conv" else 0
        m, o = _affine_of(model, source, chain, t, lo, hi, k)
        # the copy must give the chain's float32 values exactly, on the whole domain
        dom = np.arange(lo, hi + 1)
        xs = (2 * dom - k) if k else dom
        want = (
            run_chain(model, source, chain, t, dom.astype(np.float64)) if chain else np.repeat(dom[:, None], len(m), 1)
        )
        want = np.asarray(want, dtype=np.float32).reshape(len(dom), len(m), -1)[:, :, 0]
        got = (xs[:, None].astype(np.float32) * m[None, :]).astype(np.float32) + o[None, :]
        bad = np.argwhere(got != want)
        if bad.size:
            i, c = (int(v) for v in bad[0])
            names = ", ".join(n.name for n in chain)
            raise CompileError(
                f"node {concat.name} (Concat): input '{t}' (chain [{names}]) is not an exact integer affine of "
                f"'{source}' (channel {c}, at {xs[i]}: {want[i, c]!r} vs {got[i, c]!r}); "
                f"put BatchNorm after the concatenation"
            )
        return source, k, m, o

    def _affine_nodes(self, model: ModelWrapper, r, base: str, before) -> str:
        """Float value ``m * x + o`` of integer tensor ``r`` (a popcount read as ``2 p - K``)."""
        source, k, m, o = r
        rank = len(model.get_tensor_shape(source))
        shape = [1, -1] + [1] * (rank - 2)
        nodes, cur = [], source
        if k:
            two = new_name(model, f"{base}_2p")
            nodes.append(
                helper.make_node("Mul", [cur, add_const(model, f"{base}_two", np.float32(2.0))], [two], name=two)
            )
            a = new_name(model, f"{base}_acc")
            nodes.append(
                helper.make_node("Add", [two, add_const(model, f"{base}_minus_k", np.float32(-k))], [a], name=a)
            )
            cur = a
        mul = new_name(model, f"{base}_scaled")
        nodes.append(helper.make_node("Mul", [cur, add_const(model, f"{base}_m", m.reshape(shape))], [mul], name=mul))
        out = new_name(model, f"{base}_value")
        nodes.append(helper.make_node("Add", [mul, add_const(model, f"{base}_o", o.reshape(shape))], [out], name=out))
        idx = model.get_node_index(before)
        for j, node in enumerate(nodes):
            model.graph.node.insert(idx + j, node)
        return out

    def _lower(self, model: ModelWrapper, n) -> None:
        """``Concat`` of affine copies ==> ``IntConcat`` of their sources, then the affine per reader."""
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
            lo, hi, _, _ = source_info(model, source)
            ranges.append((-k, k) if k else (lo, hi))
        lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
        out = n.output[0]
        code = new_name(model, f"{out}_int")
        node = helper.make_node(
            "IntConcat",
            [p[0] for p in parts],
            [code],
            domain=HW_DOMAIN,
            name=new_name(model, f"{n.name}_int"),
            xnor_ks=[int(p[1]) for p in parts],
            lo=int(lo),
            hi=int(hi),
        )
        idx = model.get_node_index(n)
        model.graph.node.remove(n)
        model.graph.node.insert(idx, node)
        model.set_tensor_shape(code, model.get_tensor_shape(out))
        model.set_tensor_datatype(code, DataType[int_dtype(int(lo), int(hi))])
        m = np.concatenate([p[2] for p in parts])
        o = np.concatenate([p[3] for p in parts])
        for c in list(model.find_consumers(out)):
            view = self._affine_nodes(model, (code, 0, m, o), f"{c.name}_concat", before=c)
            for j, i in enumerate(c.input):
                if i == out:
                    c.input[j] = view

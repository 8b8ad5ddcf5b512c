"""Absorb the output chain: the last layer emits its integer accumulator, and the chain after it
becomes the documented output affine (metadata ``hw_bnn.output_affine``).

The accumulator ``a`` (``2 p - K`` for an XNOR layer) takes every value of a small integer
domain, so the affine ``y = float32(float32(a * scale) + bias)`` is fitted per channel in
float32 and confirmed bit-exact on that whole domain (:func:`fit_affine`).  With an exact
integer prefix first (the code correction ``alpha * acc + offset`` of ``IntegerizeLinear``) the
affine is fitted on the prefix: ``y = float32(float32((a * pre_scale + pre_offset) * scale) + bias)``.
"""

from __future__ import annotations

import json

import numpy as np
from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.transformation.base import Transformation

from hw_bnn.compile.graph import add_const, int_dtype, new_name, run_chain, source_info, walk_chain_up
from hw_bnn.compile.metadata import AFFINE_KEY
from hw_bnn.errors import CompileError


def fit_affine(acc: np.ndarray, y: np.ndarray):
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


def _prefix_fits(model, source: str, chain: list, x: np.ndarray, acc: np.ndarray, y: np.ndarray):
    """(fits, meta) on the exact integer prefix of ``chain`` (at most a Mul and an Add:
    ``u = acc * pre_scale + pre_offset``, confirmed exact in float64), or None."""
    prefix = []
    for n in chain:
        if n.op_type not in ("Mul", "Add") or len(prefix) == 2:
            break
        prefix.append(n)
    if not prefix:
        return None
    u = run_chain(model, source, prefix, prefix[-1].output[0], x).reshape(len(x), -1)
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
    if not exact:
        return None
    fits = [fit_affine(u[:, c].astype(np.float64), y[:, c]) for c in range(y.shape[1])]
    meta = {
        "formula": "y = float32(float32((acc * pre_scale + pre_offset) * scale) + bias)",
        "pre_scale": float(pre_scale),
        "pre_offset": pre_offset.tolist(),
    }
    return fits, meta


class AbsorbOutputChain(Transformation):
    """Last accumulator -> chain -> graph output  ==>  the integer accumulator as the output
    (``a = 2p - K`` for an XNOR layer, the integer product otherwise), plus the output affine
    ``y = float32(float32(a * scale) + bias)`` per channel (metadata ``hw_bnn.output_affine``),
    confirmed bit-exact on the whole accumulator domain."""

    def apply(self, model):
        out = model.graph.output[0].name
        source, chain = walk_chain_up(model, out)
        if chain is None or not chain or model.get_metadata_prop(AFFINE_KEY):
            return model, False
        lo, hi, kind, prod = source_info(model, source)
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
        y = run_chain(model, source, chain, out, x)
        y = y.reshape(len(x), y.shape[1])
        names = ", ".join(n.name for n in chain)
        meta = {"formula": "y = float32(float32(acc * scale) + bias)"}
        fits = [fit_affine(acc, y[:, c]) for c in range(y.shape[1])]
        if any(f is None for f in fits):
            # an exact integer prefix (the code correction alpha * acc + offset of IntegerizeLinear)
            # followed by the float affine: fit the affine on the exactly computed prefix
            fits, meta = _prefix_fits(model, source, chain, x, acc, y) or (fits, meta)
        scales, biases = [], []
        for c, fit in enumerate(fits):
            if fit is None:
                raise CompileError(
                    f"output chain [{names}]: channel {c} is not an exact float32 affine of the integer accumulator"
                )
            scales.append(float(fit[0]))
            biases.append(float(fit[1]))
        self._integer_output(model, chain, source, prod, kind, lo, hi)
        if len(set(scales)) == 1 and len(set(biases)) == 1:
            scales, biases = scales[:1], biases[:1]
        model.set_metadata_prop(AFFINE_KEY, json.dumps({**meta, "scale": scales, "bias": biases}))
        return model, True

    @staticmethod
    def _integer_output(model, chain: list, source: str, prod, kind: str, lo: int, hi: int) -> None:
        """Remove the chain; the graph output becomes ``2 p - K`` (XNOR) or the product itself."""
        out = model.graph.output[0].name
        idx = model.get_node_index(chain[0])
        for n in chain:
            model.graph.node.remove(n)
        if kind == "xnor_dense":
            t2 = new_name(model, "out_2p")
            model.graph.node.insert(
                idx, helper.make_node("Mul", [source, add_const(model, "two", 2.0)], [t2], name="out_2p")
            )
            model.graph.node.insert(
                idx + 1, helper.make_node("Add", [t2, add_const(model, "minus_n", -float(hi))], [out], name="out_acc")
            )
            model.set_tensor_datatype(out, DataType[int_dtype(-hi, hi)])
        else:
            prod.output[0] = out
            model.set_tensor_datatype(out, DataType[int_dtype(lo, hi)])

"""Absorb the output chain: the last layer emits its integer accumulator, and the chain after it
becomes the documented output affine (metadata ``hw_bnn.output_affine``).

The accumulator ``a`` (``2 p - K`` for an XNOR layer) takes every value of a small integer
domain, so the affine ``y = float32(float32(a * scale) + bias)`` is fitted per channel in
float32 and confirmed bit-exact on that whole domain (:func:`fit_affine`).  With an exact
integer prefix first (the code correction ``alpha * acc + offset`` of ``IntegerizeLinear``) the
affine is fitted on the prefix: ``y = float32(float32((a * pre_scale + pre_offset) * scale) + bias)``.

A chain no such affine equals (TensorNorm's ``((a - mean) / std) * w + b``: four float32
roundings, as the ``bnn_pynq`` models of ``brevitas_examples`` end) is kept as it is, as
*output steps*: ``u = a``, then ``u = float32(u op c)`` for each ``Mul`` / ``Add`` / ``Sub`` /
``Div`` by a per-channel constant ``c``, in the exported order (:func:`chain_steps`), again
confirmed bit-exact on the whole domain.
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
from hw_bnn.ir.network import STEP_OPS, STEPS_FORMULA, apply_output_steps, steps_json


def fit_affine(acc: np.ndarray, y: np.ndarray):
    """float32 (s, b) with float32(float32(acc * s) + b) == y on every value, or None.

    The slope estimated from the end points is off by a few ulps (the outputs are rounded),
    so the float32 neighbours around it are tried."""
    acc32 = acc.astype(np.float32)
    probe = np.unique(np.linspace(0, len(acc) - 1, min(len(acc), 512)).astype(np.int64))  # a cheap first test
    s0 = np.float32((float(y[-1]) - float(y[0])) / (float(acc[-1]) - float(acc[0])))
    candidates = [s0]
    up = down = s0
    for _ in range(64):
        up, down = np.nextafter(up, np.float32(np.inf)), np.nextafter(down, np.float32(-np.inf))
        candidates += [up, down]
    i0 = int(np.argmin(np.abs(acc32)))  # where y - acc * s is closest to the bias
    for s in candidates:
        b0 = np.float32(y[i0] - np.float32(acc32[i0] * s))
        bs = [b0]
        up = down = b0
        for _ in range(4):
            up, down = np.nextafter(up, np.float32(np.inf)), np.nextafter(down, np.float32(-np.inf))
            bs += [up, down]
        prod_probe = (acc32[probe] * s).astype(np.float32)
        for b in bs:
            if np.array_equal((prod_probe + b).astype(np.float32), y[probe]) and np.array_equal(
                ((acc32 * s).astype(np.float32) + b).astype(np.float32), y
            ):
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


def chain_steps(model, chain: list, kind: str, hi: int, n_out: int):
    """The output chain as float32 steps on the accumulator ``a``, or None when it is not a
    sequence of ``Mul`` / ``Add`` / ``Sub`` / ``Div`` by constants of one value or one per channel
    (the tensor first, as a TensorNorm exports).  For an XNOR layer the chain starts from the
    popcount ``p``; its first two steps (``2 p``, ``- K``) make ``a`` and are left out."""
    steps, cur = [], None
    for n in chain:
        c = model.get_initializer(n.input[1]) if len(n.input) == 2 else None
        if n.op_type not in STEP_OPS or c is None or c.size not in (1, n_out) or (cur and n.input[0] != cur):
            return None
        steps.append((n.op_type, np.asarray(c, dtype=np.float32).reshape(-1)))
        cur = n.output[0]
    if kind == "xnor_dense":
        head = [(op, float(c[0]) if c.size == 1 else None) for op, c in steps[:2]]
        if head != [("Mul", 2.0), ("Add", -float(hi))]:
            return None
        steps = steps[2:]
    return steps


class AbsorbOutputChain(Transformation):
    """Last accumulator -> chain -> graph output  ==>  the integer accumulator as the output
    (``a = 2p - K`` for an XNOR layer, the integer product otherwise), plus the output affine
    ``y = float32(float32(a * scale) + bias)`` per channel (metadata ``hw_bnn.output_affine``),
    or, where no affine equals the chain, its float32 output steps; either confirmed bit-exact
    on the whole accumulator domain."""

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
        if any(f is None for f in fits):
            meta = self._steps(model, chain, kind, hi, acc, y, fits, names)
        else:
            scales, biases = [float(f[0]) for f in fits], [float(f[1]) for f in fits]
            if len(set(scales)) == 1 and len(set(biases)) == 1:
                scales, biases = scales[:1], biases[:1]
            meta = {**meta, "scale": scales, "bias": biases}
        self._integer_output(model, chain, source, prod, kind, lo, hi)
        model.set_metadata_prop(AFFINE_KEY, json.dumps(meta))
        return model, True

    @staticmethod
    def _steps(model, chain: list, kind: str, hi: int, acc: np.ndarray, y: np.ndarray, fits: list, names: str):
        """The metadata of the output steps, confirmed on the domain, or CompileError naming the
        first channel that no affine and no step list reproduces."""
        steps = chain_steps(model, chain, kind, hi, y.shape[1])
        if steps is not None:
            u = np.broadcast_to(apply_output_steps(acc[:, None], steps), y.shape)
            bad = np.flatnonzero(np.any(u != y, axis=0))
            if not bad.size:
                return {"formula": STEPS_FORMULA, "steps": steps_json(steps)}
        c = next((c for c, f in enumerate(fits) if f is None), 0) if steps is None else int(bad[0])
        raise CompileError(
            f"output chain [{names}]: channel {c} is not an exact float32 affine of the integer accumulator"
            + ("" if steps is None else ", nor do its float32 steps reproduce it")
            + " (expected Mul / Add / Sub / Div by constants after the last dense layer)"
        )

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

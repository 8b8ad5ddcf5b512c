"""Absorb the activation quantizers and their chains into thresholds.

Between an integer source ``a`` in ``[lo, hi]`` and a quantizer ``q`` sits an elementwise chain
``f`` (BatchNorm, scales, PReLU, ...).  ``code(a) = q(f(a))`` takes the levels ``0..L``.  The
chain and the quantizer are executed by qonnx on every ``a`` of the domain, in float32 exactly
as the exported model runs them (so ties fall the same way), and the table becomes
``MultiThreshold(a, T)`` with

    ``t_k = min{a : code(a) >= k}``,   so that   ``code(a) = sum_k [a >= t_k]``

on the whole domain (:func:`hw_bnn.ir.thresholds.thresholds_from_codes`).  Nothing is
approximated: a channel that is not monotone is refused.  A decreasing channel is made
increasing by negating its accumulator (``a' = -a``; a popcount ``p' = K - p``), either in the
weights or, when others read the tensor, by a ``Mul`` by -1 before the thresholds.  Domains of
more than :data:`MAX_DOMAIN` values are searched instead (:func:`thresholds_by_search`).
"""

from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.transformation.base import Transformation

from hw_bnn.compile.graph import (
    QONNX_DOMAIN,
    QUANTIZERS,
    add_const,
    attrs,
    int_dtype,
    n_minus,
    new_name,
    run_chain,
    scalar,
    source_info,
    walk_chain_up,
)
from hw_bnn.errors import CompileError, NonMonotoneError
from hw_bnn.ir import bits_for_range
from hw_bnn.ir.thresholds import thresholds_from_codes

MAX_DOMAIN = 1 << 20  # accumulator values evaluated exhaustively per chain; beyond: search
SEARCH_GRID = 4097  # points of the monotonicity check on larger domains


def quantizer_levels(model, q):
    """(levels L, code function v -> 0..L, out_scale, out_bias, out_dtype) of a quantizer node.

    BipolarQuant(s): ``code = [v > 0]``, value ``2 s code - s``.  Quant(s, z, b):
    ``y = (clip(round(v / s + z), qmin, qmax) - z) * s``, code ``= clip(...) - qmin``, value
    ``s * code + (qmin - z) * s``."""
    if q.op_type == "BipolarQuant":
        s = scalar(model, q.input[1], q)
        if s <= 0:
            raise CompileError(f"node {q.name} (BipolarQuant): scale {s} must be positive")
        return 1, (lambda v: (v > 0).astype(np.int64)), 2.0 * s, -s, "BIPOLAR" if s == 1.0 else "FLOAT32"
    s, z, b = (scalar(model, q.input[i], q) for i in (1, 2, 3))
    a = attrs(q)
    signed, narrow = int(a.get("signed", 1)), int(a.get("narrow", 0))
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


def flip_channels(model, kind: str, node, mask: np.ndarray) -> None:
    """Negate the accumulator of the channels in ``mask`` in the producer's weights
    (``a' = -a``; for popcounts ``p' = K - p``: the weight bits flip)."""
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
        model.set_initializer(add.input[1], n_minus(w))


def _search_bounds(grid, g_prime, pair_c, pair_k, lo: int, hi: int):
    """Per (channel, level) pair: ``lo_b < t <= hi_b`` around the threshold from the grid
    (``code'(hi_b) >= k > code'(lo_b)``)."""
    reached = g_prime[:, pair_c] >= pair_k  # (G, P)
    ever = reached.any(axis=0)
    first = np.argmax(reached, axis=0)
    hi_b = np.where(ever, grid[first], hi + 1).astype(np.int64)  # code' >= k here
    lo_b = np.where(first > 0, grid[np.maximum(first - 1, 0)], lo - 1).astype(np.int64)  # code' < k here
    lo_b = np.where(ever, lo_b, hi)
    return lo_b, hi_b


def thresholds_by_search(codes_at, lo: int, hi: int, levels: int, allow_flip: bool):
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
    lo_b, hi_b = _search_bounds(grid, g_prime, pair_c, pair_k, lo, hi)
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


class AbsorbQuantizerChains(Transformation):
    """Integer source -> elementwise chain -> quantizer  ==>  MultiThreshold(source, T).

    The chain and the quantizer are evaluated by qonnx on every value of the source's
    integer domain, in float32 exactly as the exported model runs them; the table is
    turned into thresholds (:mod:`hw_bnn.ir.thresholds`).  A decreasing channel of an
    accumulator is made increasing by negating that output channel's weights (for a
    popcount, ``p' = K - p``: its weight bits flip); where the tensor is kept or read by
    others, the thresholds compare ``-a`` instead (``code = sum_k [lo + hi - a >= T'_k] =
    sum_k [-a >= T'_k - lo - hi]``).  The MultiThreshold keeps the quantizer's output values
    (``out_scale``, ``out_bias``), so consumers are unchanged.
    """

    def apply(self, model):
        for q in list(model.graph.node):
            if q.op_type not in QUANTIZERS or model.get_initializer(q.input[0]) is not None:
                continue
            source, chain = walk_chain_up(model, q.input[0])
            if chain is None:
                continue
            self._absorb(model, q, source, chain)
            return model, True
        return model, False

    @staticmethod
    def _thresholds(model, q, source: str, chain: list, domain: tuple, levels: int, code_fn, allow_flip: bool):
        """(thresholds (C, L), flipped (C,)) of ``code = q(chain(source))`` on ``domain = (lo, hi)``."""
        lo, hi = domain
        n_ch = int(model.get_tensor_shape(source)[1])

        def codes_at(values):
            out = run_chain(model, source, chain + [q], q.output[0], np.asarray(values))
            c = code_fn(out).reshape(len(values), out.shape[1], -1)
            if c.shape[2] != 1:
                raise CompileError(f"node {q.name}: chain output is not per-channel")
            return np.broadcast_to(c[:, :, 0], (len(values), n_ch))

        try:
            if hi - lo + 1 <= MAX_DOMAIN:
                domain = np.arange(lo, hi + 1)
                return thresholds_from_codes(domain, codes_at(domain), levels, allow_flip=allow_flip)
            return thresholds_by_search(codes_at, lo, hi, levels, allow_flip)
        except NonMonotoneError as e:
            names = ", ".join(n.name for n in chain)
            raise CompileError(f"node {q.name}: the chain [{names}] before it: {e.reason}") from None

    @staticmethod
    def _negate_node(model, q, source: str, flipped: np.ndarray):
        """``source * (+-1 per channel)``: the thresholds of flipped channels compare ``-a``."""
        sign = (
            np.where(flipped, -1.0, 1.0)
            .astype(np.float32)
            .reshape([1, -1] + [1] * (len(model.get_tensor_shape(source)) - 2))
        )
        mt_in = new_name(model, f"{source}_negated")
        node = helper.make_node(
            "Mul",
            [source, add_const(model, f"{q.name}_negate", sign, "INT2")],
            [mt_in],
            name=f"{q.name}_negate",
        )
        return mt_in, node

    def _absorb(self, model, q, source: str, chain: list) -> None:
        lo, hi, kind, prod = source_info(model, source)
        levels, code_fn, out_scale, out_bias, out_dt = quantizer_levels(model, q)
        can_flip = kind not in ("input", "fixed", "concat") and model.get_tensor_fanout(source) == 1
        # else compare -x on decreasing channels (a tensor the hardware keeps and others read)
        can_negate = not can_flip and kind in ("fixed", "concat", "int")
        thr, flipped = self._thresholds(model, q, source, chain, (lo, hi), levels, code_fn, can_flip or can_negate)
        mt_in = source
        negate_node = None
        if flipped.any() and can_negate:
            thr = np.where(flipped[:, None], thr - lo - hi, thr)
            mt_in, negate_node = self._negate_node(model, q, source, flipped)
        elif flipped.any():
            flip_channels(model, kind, prod, flipped)
        if np.all(thr == thr[:1]):
            thr = thr[:1]
        tname = add_const(model, f"{q.name}_thresholds", thr, int_dtype(int(thr.min()), int(thr.max())))
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

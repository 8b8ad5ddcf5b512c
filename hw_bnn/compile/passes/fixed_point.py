"""Lower the real-valued shortcut tensors (residual networks) to fixed point.

A residual ``Add`` of two computed tensors, its inputs and its output (and max pooling of such
a tensor) are real-valued tensors the hardware stores; they become ``ap_fixed<W, W - F>``
codes ``c`` with value ``c * 2**-F``.  The chain into such a tensor, from an integer source
``x`` (an accumulator, ``a = 2 p - K`` for a popcount, or fixed-point codes with ``in_frac``
fraction bits, ``u = x * 2**-in_frac``), must be piecewise linear with one breakpoint per
channel:

    ``f(u) = Z + P * (u - G)`` for ``u >= G``,  ``Z + N * (u - G)`` below,

with ``G``, ``Z`` rounded to ``F`` fraction bits and the slopes ``P``, ``N`` to ``S``
(:func:`hw_bnn.compile.fixed_config.auto_slope_frac`).  The fit is checked against the float
chain on the source's whole domain.  The shortcut add is ``y = overflow(n + x)`` on the codes.
"""

from __future__ import annotations

import json

import numpy as np
from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation

from hw_bnn.compile.fixed_config import FixedPointConfig, auto_slope_frac
from hw_bnn.compile.graph import (
    HW_DOMAIN,
    add_const,
    is_residual_add,
    new_name,
    run_chain,
    source_info,
    walk_chain_up,
)
from hw_bnn.compile.metadata import FIXED_KEY
from hw_bnn.compile.passes.chains import MAX_DOMAIN, SEARCH_GRID
from hw_bnn.errors import CompileError
from hw_bnn.ir import FixedChainLayer, bits_for_range


def fit_pwl(u: np.ndarray, f: np.ndarray):
    """One-breakpoint piecewise-linear fit of ``f`` (D, C) sampled at increasing ``u`` (D,):
    per channel ``(g, pos_slope, neg_slope, z)`` with ``f(u) = z + slope * (u - g)``, the slope
    being ``pos_slope`` for ``u >= g``.  The slopes are secants over long baselines (the
    samples are float32): first over the outer sixteenths of the domain, then, once the
    breakpoint is roughly known, over everything on each side of it.  The breakpoint is where
    the two lines meet: ``g = (f_0 - a_l u_0 - f_n + a_r u_n) / (a_r - a_l)``."""
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


def _chain_samples(model: ModelWrapper, source: str, chain: list, t: str, lo: int, hi: int):
    """(domain, f): the chain's float values ``f`` (D, C) on every value of ``[lo, hi]`` (or, on
    a wider fixed-point source, an even grid of ``SEARCH_GRID * 16`` values)."""
    if hi - lo + 1 <= MAX_DOMAIN:
        domain = np.arange(lo, hi + 1)  # every value: the fit is checked exhaustively
    else:  # a wide fixed-point source: fit and check on an even grid of SEARCH_GRID * 16 values
        domain = np.unique(np.linspace(lo, hi, SEARCH_GRID * 16).round().astype(np.int64))
    f = run_chain(model, source, chain, t, domain.astype(np.float64))
    f = f.reshape(len(domain), f.shape[1], -1)
    if f.shape[2] != 1:
        raise CompileError(f"chain [{', '.join(n.name for n in chain)}]: not per-channel")
    f = f[:, :, 0].astype(np.float64)
    if not np.all(np.isfinite(f)):
        raise CompileError(f"chain [{', '.join(n.name for n in chain)}]: gives non-finite values on its input domain")
    return domain, f


def _fixed_fit(cfg: FixedPointConfig, x: np.ndarray, f: np.ndarray, in_frac: int, lo: int, hi: int, where: str):
    """``(G, P, N, Z, S, codes)`` of the fixed-point chain fitted to ``f`` at inputs ``x``; ``codes``
    is what the golden layer computes.  Every code must lie within ``1.5 LSB`` plus the slopes'
    and the breakpoint's rounding of the float value; otherwise a CompileError names ``where``."""
    u = x * 2.0**-in_frac
    g, a_pos, a_neg, z = fit_pwl(u, f)
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
    if bad.size:
        i, c = (int(v) for v in bad[0])
        raise CompileError(
            f"{where}: channel {c} is not a piecewise linear function with one breakpoint "
            f"of its input (at input {x[i]}: {f[i, c]:.6g}, the fixed-point fit gives {codes[i, c] * 2.0**-F:.6g}); "
            f"a real-valued shortcut tensor must be one (BatchNorm, RPReLU, FPReLU, PReLU)"
        )
    return G, P, N, Z, S, codes


class LowerFixedPoint(Transformation):
    """Real-valued shortcuts ==> fixed point (``FixedChain`` / ``FixedAdd`` of domain ``hw_bnn.custom_op``).

    A residual ``Add`` of two computed tensors, its inputs and its output (and max pooling of
    such a tensor) are the real-valued tensors the hardware stores; they become
    ``ap_fixed<W, W - F>`` codes.  The elementwise chain from an integer accumulator (or from
    another fixed-point tensor) to such a tensor -- BatchNorm, RPReLU, FPReLU, ... -- is
    evaluated on the source's whole integer domain, fitted by a one-breakpoint piecewise
    linear function with fixed-point parameters, and checked on that domain (an error names
    the chain when it is not one).  Every other reader of a fixed-point tensor gets its value
    ``code * 2**-F`` back through a ``Mul``, so the chains to the next quantizers are still
    absorbed into thresholds, now over the fixed-point codes.  Runs with the other absorbing
    passes until nothing changes; does nothing to networks without shortcuts."""

    def __init__(self, cfg: FixedPointConfig | None = None):
        super().__init__()
        self.cfg = cfg or FixedPointConfig()

    def apply(self, model):
        for n in list(model.graph.node):
            if not is_residual_add(model, n):
                continue
            for t in n.input:
                if source_info(model, t) is None or source_info(model, t)[2] != "fixed":
                    if self._lower_chain(model, t):
                        return model, True
            if all(source_info(model, t) is not None and source_info(model, t)[2] == "fixed" for t in n.input):
                self._lower_add(model, n)
                return model, True
        return model, False

    # -- helpers --------------------------------------------------------------------------
    def _width(self, lo: int, hi: int) -> int:
        """The configured width, or the smallest signed width (at least 2) holding ``[lo, hi]``."""
        if self.cfg.width is not None:
            return self.cfg.width
        return max(2, bits_for_range(min(lo, -1), hi)[0])

    def _code_range(self, lo: int, hi: int) -> tuple[int, int, int]:
        """(width, lo, hi) of a fixed-point tensor, the range clipped to a configured width."""
        width = self._width(lo, hi)
        if self.cfg.width is not None:
            lo, hi = max(lo, -(1 << (width - 1))), min(hi, (1 << (width - 1)) - 1)
        return width, lo, hi

    def _materialize(self, model: ModelWrapper, t: str, code: str) -> None:
        """Rewire the readers of the float tensor ``t`` to the fixed-point codes ``code``."""
        if t in [o.name for o in model.graph.output]:
            raise CompileError(f"tensor '{t}': the network output cannot be a fixed-point shortcut tensor")
        scale = 2.0**-self.cfg.frac
        for c in list(model.find_consumers(t)):
            if is_residual_add(model, c) or c.op_type == "FixedAdd":
                c.input[list(c.input).index(t)] = code
            elif c.op_type == "MaxPool":
                out = c.output[0]
                new = new_name(model, f"{c.name}_codes")
                c.input[0], c.output[0] = code, new
                model.set_tensor_datatype(new, model.get_tensor_datatype(code))
                model.set_tensor_shape(new, model.get_tensor_shape(out))
                self._materialize(model, out, new)
            else:
                view = new_name(model, f"{code}_value_for_{c.name}")
                idx = model.get_node_index(c)
                model.graph.node.insert(
                    idx,
                    helper.make_node(
                        "Mul",
                        [code, add_const(model, f"{code}_scale", np.float32(scale))],
                        [view],
                        name=new_name(model, f"{c.name}_fixed_view"),
                    ),
                )
                for k, i in enumerate(c.input):
                    if i == t:
                        c.input[k] = view

    def _replace(self, model: ModelWrapper, first, removed: list, node, code: str, width: int, t: str) -> None:
        """Put ``node`` (making ``code``) where ``removed`` were and rewire the readers of ``t``."""
        idx = model.get_node_index(first)
        for n in removed:
            model.graph.node.remove(n)
        model.graph.node.insert(idx, node)
        model.set_tensor_datatype(code, DataType[f"INT{width}"])
        model.set_tensor_shape(code, model.get_tensor_shape(t))
        self._materialize(model, t, code)
        self._note(model, code, width)

    def _lower_chain(self, model: ModelWrapper, t: str) -> bool:
        source, chain = walk_chain_up(model, t)
        if chain is None or not chain:
            return False
        lo, hi, kind, _ = source_info(model, source)
        cfg = self.cfg
        domain, f = _chain_samples(model, source, chain, t, lo, hi)
        xnor_k = hi if kind == "xnor_conv" or kind == "xnor_dense" else 0
        in_frac = cfg.frac if kind == "fixed" else 0
        x = 2 * domain - xnor_k if xnor_k else domain  # what the golden layer reads
        names = ", ".join(n.name for n in chain)
        G, P, N, Z, S, codes = _fixed_fit(cfg, x, f, in_frac, lo, hi, f"chain [{names}] -> '{t}'")
        width, c_lo, c_hi = self._code_range(int(codes.min()), int(codes.max()))
        code = new_name(model, f"{t}_fixed")
        node = helper.make_node(
            "FixedChain",
            [source] + [add_const(model, f"{code}_{k}", v) for k, v in (("G", G), ("P", P), ("N", N), ("Z", Z))],
            [code],
            domain=HW_DOMAIN,
            name=new_name(model, f"{chain[-1].name}_fixed"),
            in_frac=in_frac,
            frac=cfg.frac,
            slope_frac=S,
            width=width,
            rounding=cfg.rounding,
            overflow=cfg.overflow,
            xnor_k=int(xnor_k),
            lo=c_lo,
            hi=c_hi,
        )
        self._replace(model, chain[0], chain, node, code, width, t)
        return True

    def _lower_add(self, model: ModelWrapper, n) -> None:
        """``FixedAdd(a, b) = overflow(a + b)`` on the codes of two fixed-point tensors."""
        (alo, ahi, _, _), (blo, bhi, _, _) = (source_info(model, t) for t in n.input)
        width, lo, hi = self._code_range(alo + blo, ahi + bhi)
        out = n.output[0]
        code = new_name(model, f"{out}_fixed")
        node = helper.make_node(
            "FixedAdd",
            list(n.input),
            [code],
            domain=HW_DOMAIN,
            name=new_name(model, f"{n.name}_fixed"),
            width=width,
            overflow=self.cfg.overflow,
            lo=lo,
            hi=hi,
        )
        self._replace(model, n, [n], node, code, width, out)

    def _note(self, model: ModelWrapper, code: str, width: int) -> None:
        """Record the settings and the tensor's width in the ``hw_bnn.fixed_point`` metadata."""
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

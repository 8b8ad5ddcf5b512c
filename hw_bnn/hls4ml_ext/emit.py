"""Emit an hls4ml project for a golden hw-bnn network (our registered layers, see ``hw_bnn.hls4ml_ext.hls_ext``).

``emit_project`` builds an hls4ml ``ModelGraph`` from the golden model's layer list, writes the
project into a temporary sibling folder of ``out_dir`` and only then renames it to ``out_dir``
(an existing ``out_dir`` is moved aside first and deleted once the new project is in place), so
a folder named ``out_dir`` never holds a half-written project.

Image networks (``golden.input_shape = (C, H, W)``) are emitted as ``io_stream`` projects: the
input is a stream of H*W pixels in NHWC order (one transaction = the C channel values of a pixel,
as hls4ml streams a 3-D tensor), every conv / maxpool layer reads and writes such pixel streams and
a flatten layer turns one into the single vector a dense layer reads.  ``io_type=None`` (the
default) picks ``io_stream`` for image networks and ``io_parallel`` otherwise; an explicit
``io_parallel`` for an image network is refused.  Testbench inputs are given like
``golden.run`` takes them (NCHW for images) and written the way the hardware reads them (NHWC,
flattened per image); expected outputs are ``golden.run`` flattened (NHWC for image outputs).

Graphs (residual networks): a golden layer that names its ``inputs`` reads those layers' outputs,
any other layer the previous layer's output, as in ``IntegerNetwork.run``; the hls4ml layer dicts get
the same ``inputs``.  ``plan_network`` walks the list in order and keeps every tensor's shape,
range and fixed-point ``frac`` (0 for codes and accumulators), so each layer is checked against the
tensor it really reads: a named input must be an earlier layer, a ``FixedAddLayer`` reads two
tensors of equal shape and frac, a ``FixedChainLayer``'s ``in_frac`` is the frac of what it reads,
and every layer but the last must be read by some layer (an unread stream would stall the
hardware).  Per layer the plan records ``inputs`` (``None``: the network input), ``readers`` and
``frac``.  In ``io_stream`` a tensor with several readers (at most 7) is copied by hls4ml's
``clone_output`` pass (``nnet::clone_stream``).

Folding.  Every matrix-vector layer (golden kinds ``xnor_dense``, ``int_dense``, ``conv``; MW
inputs and MH outputs, for a conv MW = kernel * kernel * C_in and MH = C_out per output pixel)
folds by PE (outputs in parallel) and SIMD (inputs in parallel), as FINN's MVAU: NF = MH / PE
neuron folds of SF = MW / SIMD synapse folds, NF * SF cycles per vector (a conv: per output
pixel).  ``emit_project(..., folding={name: {"PE": p, "SIMD": s}})`` sets them per golden layer:
PE must divide MH and SIMD must divide MW (for a conv any divisor of kernel * kernel * C_in); a
missing key is fully parallel (PE = MH, SIMD = MW).  They reach hls4ml as the layer's ``Pe`` /
``Simd`` HLS-config keys (configurable attributes of our layers, see ``hw_bnn.hls4ml_ext.hls_ext``) with
``ReuseFactor = NF * SF`` (hls4ml's bookkeeping).  A matrix-vector layer that ``folding`` does not
name folds by its ``reuse_factor`` as before: PE = ceil(MH / RF), SIMD = MW (so the default
``reuse_factor=1`` is fully parallel; the last neuron fold may have idle PEs when PE does not
divide MH).  ``resolve_folding`` computes the folding of every matrix-vector layer (and checks it);
the project records it in ``hw_bnn_project.json`` (``folding``, and per layer ``pe``, ``simd``,
``nf``, ``sf``) and in ``hls4ml_config.yml`` (``Pe``, ``Simd``, ``ReuseFactor``).  Layers that are
not matrix-vector units (multithreshold, ...) keep their ReuseFactor folding.

FIFO depths (real synthesis; C simulation streams are unbounded): hls4ml gives every stream the
depth of a whole tensor (H*W pixel transactions), which always suffices.  The stream that carries a
shortcut to its ``FixedAddLayer`` must hold every pixel the residual branch takes in before it
gives out its first one: for a k x k, pad p, stride 1 conv in the branch (the line buffer reads
whole rows before it computes) about ``(k - p) * W`` pixels plus a few for the elementwise layers,
so ``2 W`` for 3x3 pad 1; hls4ml's FIFO depth optimization (co-simulation) may shrink the depths,
but not below that.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from hw_bnn.hls4ml_ext import hls_ext
from hw_bnn.hls4ml_ext.hls_ext import EmitError
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

__all__ = ["MVU_KINDS", "PROJECT_INFO", "EmitError", "emit_project", "plan_network", "resolve_folding"]

# The hls4ml bridge and testbench move values as float (tb_data is parsed with atof into floats):
# integers are exact only up to 2**24 in magnitude.
FLOAT_EXACT = 2**24
BACKENDS = {"vivado": "Vivado", "vitis": "Vitis"}
IO_TYPES = ("io_parallel", "io_stream")
PROJECT_INFO = "hw_bnn_project.json"
MAX_STREAM_READERS = 7  # hls4ml's nnet::clone_stream makes 2..7 copies of a stream
MVU_KINDS = ("xnor_dense", "int_dense", "conv")  # golden kinds folded by PE / SIMD
FOLDING_KEYS = ("PE", "SIMD")
_BAD_NAME = re.compile(r"[\"\\\x00-\x1f\x7f]")


def _rf_for(reuse_factor, name: str) -> int:
    if isinstance(reuse_factor, Mapping):
        rf = reuse_factor.get(name, reuse_factor.get("default", 1))
    else:
        rf = reuse_factor
    if isinstance(rf, bool) or not isinstance(rf, (int, np.integer)) or int(rf) < 1:
        raise EmitError(f"layer {name!r}: ReuseFactor must be a positive integer, got {rf!r}")
    return int(rf)


def _check_names(golden: IntegerNetwork) -> None:
    seen = {}
    for layer in golden.layers:
        name = layer.name
        if not isinstance(name, str) or not name:
            raise EmitError(f"layer name {name!r}: names must be non-empty strings")
        if name.lower() == "input" or _BAD_NAME.search(name):
            raise EmitError(
                f"layer {name!r}: name cannot be used in the hls4ml project "
                "('input' is reserved; quotes, backslashes and control characters are not allowed)"
            )
        if name.lower() in seen:
            raise EmitError(
                f"layer {name!r}: duplicate layer name (hls4ml configs are case-insensitive: {seen[name.lower()]!r})"
            )
        seen[name.lower()] = name


def _input_shape(golden: IntegerNetwork) -> tuple[int, ...]:
    """Hardware input shape: ``(C,)`` for vectors, ``(H, W, C)`` for images (golden input is CHW)."""
    if golden.input_shape:
        shape = tuple(int(v) for v in golden.input_shape)
        if len(shape) == 3:
            c, h, w = shape
            return (h, w, c)
        if len(shape) != 1:
            raise EmitError(f"golden model: input shape {shape} is neither flat (C,) nor an image (C, H, W)")
        return shape
    for layer in golden.layers:
        if isinstance(layer, (XnorDenseLayer, IntDenseLayer)):
            return (layer.mw,)
        if isinstance(layer, (ConvLayer, MaxPoolLayer, FlattenLayer)):
            return tuple(int(v) for v in layer.in_shape)
        if isinstance(layer, ThresholdLayer) and layer.thresholds.shape[0] != 1:
            return (int(layer.thresholds.shape[0]),)
    raise EmitError("golden model: cannot tell the input size (no input_shape and no layer that fixes it)")


def _check_int_thresholds(layer, n_units: int) -> int:
    t = np.asarray(layer.thresholds)
    if t.ndim != 2 or t.shape[0] != n_units or t.shape[1] < 1:
        raise EmitError(
            f"layer {layer.name!r}: thresholds of shape {t.shape} do not fit {n_units} outputs (need ({n_units}, L>=1))"
        )
    if not np.issubdtype(t.dtype, np.integer):
        raise EmitError(f"layer {layer.name!r}: thresholds must be integers, got {t.dtype}")
    return int(t.shape[1])


def _src_name(src: str | None) -> str:
    """How an error message names the tensor a layer reads: a layer's output or the network input."""
    return f"layer {src!r}" if src is not None else "the network input"


def _check_codes(src, layer, cur_lo, cur_hi, xnor: bool) -> None:
    if xnor and (cur_lo < 0 or cur_hi > 1):
        raise EmitError(
            f"layer {layer.name!r}: XNOR inputs must be bits (0..1), but {_src_name(src)} gives values in "
            f"[{cur_lo}, {cur_hi}]"
        )
    if not xnor:
        levels = max(1, int(layer.in_levels))
        if cur_lo < 0 or cur_hi > levels:
            raise EmitError(
                f"layer {layer.name!r}: {_src_name(src)} gives values in [{cur_lo}, {cur_hi}], outside the "
                f"layer's input codes 0..{levels} (in_levels)"
            )


def _mvu_weights(layer, rows: int, xnor: bool) -> np.ndarray:
    w = np.asarray(layer.weights)
    if w.ndim != 2 or w.shape[0] != rows:
        raise EmitError(f"layer {layer.name!r}: weights of shape {w.shape} do not fit the fan-in {rows}")
    if not np.issubdtype(w.dtype, np.integer) and not np.all(w == np.round(w)):
        raise EmitError(f"layer {layer.name!r}: weights must be integers, got {w.dtype}")
    if xnor and np.any((w != 0) & (w != 1)):
        raise EmitError(f"layer {layer.name!r}: weights must be bits (0/1)")
    return w.astype(np.int64)


def _check_image(src, layer, cur_shape) -> tuple[int, int, int]:
    want = tuple(int(v) for v in layer.in_shape)
    if len(cur_shape) != 3 or tuple(cur_shape) != want:
        raise EmitError(
            f"layer {layer.name!r}: expects an (H, W, C) = {want} input, but {_src_name(src)} gives "
            f"shape {tuple(cur_shape)}"
        )
    return want


def _fan_in(shape) -> int:
    return int(np.prod(shape))


def _threshold_negate(layer, n_chan: int):
    """The ThresholdLayer's per-channel ``negate`` flags as a bool array, or None when no channel is
    negated (then the emitted code is the plain multithreshold)."""
    neg = getattr(layer, "negate", None)
    if neg is None:
        return None
    neg = np.asarray(neg)
    if (
        neg.shape != (n_chan,)
        or not (neg.dtype == bool or np.issubdtype(neg.dtype, np.integer))
        or np.any((neg != 0) & (neg != 1))
    ):
        raise EmitError(
            f"layer {layer.name!r}: negate must be {n_chan} booleans (one per channel), got {neg.dtype} {neg.shape}"
        )
    neg = neg.astype(bool)
    return neg if neg.any() else None


_SUPPORTED = (
    ThresholdLayer,
    XnorDenseLayer,
    IntDenseLayer,
    ConvLayer,
    MaxPoolLayer,
    FlattenLayer,
    FixedChainLayer,
    FixedAddLayer,
    ConcatLayer,
)


def _layer_sources(layer, prev: str | None, tensors: dict) -> list:
    """The tensors a layer reads: its named ``inputs`` (earlier layers), else the previous layer's
    output (``None``: the network input).  A fixed-point add reads two tensors, every other layer one."""
    named = tuple(getattr(layer, "inputs", ()) or ())
    for n in named:
        if not isinstance(n, str) or n not in tensors or n is None:
            raise EmitError(
                f"layer {layer.name!r}: reads {n!r}, which is not the output of an earlier layer "
                "(inputs name layers that come before it in the list)"
            )
    if not isinstance(layer, _SUPPORTED):
        raise EmitError(f"layer {getattr(layer, 'name', '?')!r}: unsupported layer type {type(layer).__name__}")
    srcs = list(named) if named else [prev]
    want = 2 if isinstance(layer, (FixedAddLayer, ConcatLayer)) else 1
    if len(srcs) != want:
        raise EmitError(
            f"layer {layer.name!r}: reads {len(srcs)} tensor(s) {list(named)}, but a {layer.kind} layer reads {want}"
        )
    return srcs


def _check_fixed_format(layer, width, frac) -> None:
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or int(width) < 1:
        raise EmitError(f"layer {layer.name!r}: width must be a positive integer, got {width!r}")
    if not 0 <= int(frac) < int(width):
        raise EmitError(
            f"layer {layer.name!r}: the fixed-point format ap_fixed<{width}, {int(width) - int(frac)}> needs "
            f"0 <= frac < width (frac {frac}, width {width})"
        )
    if int(width) > 25:
        raise EmitError(
            f"layer {layer.name!r}: width {width} exceeds 25 bits (codes must stay within +-2**24 for the C-sim path)"
        )


def _plan_fixed_chain(layer, src, shape, lo, hi, frac) -> tuple[int, int]:
    """Check a FixedChainLayer against the tensor it reads; returns the range of the exact wide value
    ``p`` (its 'accumulator')."""
    if tuple(int(v) for v in layer.shape) != tuple(shape):
        raise EmitError(
            f"layer {layer.name!r}: declared shape {tuple(layer.shape)}, but {_src_name(src)} gives shape {tuple(shape)}"
        )
    for attr, modes in (("rounding", ROUNDING_MODES), ("overflow", OVERFLOW_MODES)):
        if getattr(layer, attr) not in modes:
            raise EmitError(f"layer {layer.name!r}: unknown {attr} mode {getattr(layer, attr)!r} ({', '.join(modes)})")
    _check_fixed_format(layer, layer.width, layer.frac)
    in_frac, sf = int(layer.in_frac), int(layer.slope_frac)
    if in_frac != frac:
        kind = "an integer tensor (frac 0)" if frac == 0 else f"a fixed-point tensor with frac {frac}"
        raise EmitError(f"layer {layer.name!r}: in_frac {in_frac}, but {_src_name(src)} gives {kind}")
    if not in_frac <= int(layer.frac) or not 0 <= sf <= hls_ext.MAX_SLOPE_FRAC:
        raise EmitError(
            f"layer {layer.name!r}: need in_frac <= frac and 0 <= slope_frac <= {hls_ext.MAX_SLOPE_FRAC} "
            f"(in_frac {in_frac}, frac {layer.frac}, slope_frac {sf})"
        )
    n_chan = int(shape[-1])
    for attr in ("breakpoint", "pos_slope", "neg_slope", "offset"):
        v = np.asarray(getattr(layer, attr))
        if v.shape != (n_chan,) or not np.issubdtype(v.dtype, np.integer):
            raise EmitError(
                f"layer {layer.name!r}: {attr} must hold {n_chan} integers (one per channel), got {v.dtype} {v.shape}"
            )
    l_lo, l_hi = (int(v) for v in layer.in_range)
    if lo < l_lo or hi > l_hi:
        raise EmitError(
            f"layer {layer.name!r}: {_src_name(src)} gives values in [{lo}, {hi}], outside the layer's input range [{l_lo}, {l_hi}]"
        )
    r = hls_ext.fixed_chain_ranges(
        lo, hi, in_frac, int(layer.frac), sf, layer.breakpoint, layer.pos_slope, layer.neg_slope, layer.offset
    )
    if r["mag"] >= hls_ext.GOLDEN_INT_LIMIT:
        raise EmitError(
            f"layer {layer.name!r}: intermediate values up to {r['mag']} exceed the golden model's int64 range"
        )
    return r["p"]


def _plan_fixed_add(layer, srcs, tensors) -> tuple[tuple[int, int], int]:
    """Check a FixedAddLayer's two inputs (same shape, same frac); returns (range of a + b, frac)."""
    (sa, alo, ahi, fa), (sb, blo, bhi, fb) = tensors[srcs[0]], tensors[srcs[1]]
    if tuple(sa) != tuple(sb):
        raise EmitError(
            f"layer {layer.name!r}: adds {_src_name(srcs[0])} of shape {tuple(sa)} and {_src_name(srcs[1])} of shape "
            f"{tuple(sb)} (need equal shapes)"
        )
    if tuple(int(v) for v in layer.shape) != tuple(sa):
        raise EmitError(
            f"layer {layer.name!r}: declared shape {tuple(layer.shape)}, but its inputs have shape {tuple(sa)}"
        )
    if fa != fb:
        raise EmitError(
            f"layer {layer.name!r}: adds {_src_name(srcs[0])} with frac {fa} and {_src_name(srcs[1])} with frac {fb} "
            "(need the same fixed-point frac)"
        )
    if layer.overflow not in OVERFLOW_MODES:
        raise EmitError(f"layer {layer.name!r}: unknown overflow mode {layer.overflow!r} ({', '.join(OVERFLOW_MODES)})")
    _check_fixed_format(layer, layer.width, fa)
    return (alo + blo, ahi + bhi), fa


def plan_network(golden: IntegerNetwork) -> dict:
    """Check that the golden network fits the hls4ml layers and compute every range, shape and width.

    Per layer: ``kind``, ``in_shape`` / ``out_shape`` (hardware layout: NHWC images without N),
    ``in_range`` / ``out_range`` and the widths ``in_width`` (input code), ``acc_width`` (popcount
    for thresholded XNOR units, else the accumulator), ``thr_width`` (stored thresholds, clipped
    to what can matter), ``out_width``; ``n_units`` is what ReuseFactor folds (``n_pe``/``n_fold``
    are added by ``emit_project``); matrix-vector layers add ``mw`` / ``mh`` (inputs and outputs
    of the unit: a conv's window size and filters).  Graph fields: ``inputs`` (the tensors the
    layer reads: layer names, ``None`` for the network input), ``readers`` (the layers that read
    its output) and ``frac`` (fraction bits of its output codes: 0 for codes and accumulators).
    Fixed-point layers add ``width``, ``overflow`` and (``fixed_chain``) ``in_frac``,
    ``slope_frac``, ``rounding`` and ``p_width`` (the exact wide value), or (``fixed_add``)
    ``sum_width``.  Raises ``EmitError`` (a ``ValueError``) naming the layer when something does
    not fit.
    """
    if not golden.layers:
        raise EmitError("golden model: no layers")
    _check_names(golden)
    lo, hi = (int(v) for v in golden.input_range)
    first = golden.layers[0].name
    if lo > hi:
        raise EmitError(f"layer {first!r}: empty input range [{lo}, {hi}]")
    if max(abs(lo), abs(hi)) > FLOAT_EXACT:
        raise EmitError(
            f"layer {first!r}: input range [{lo}, {hi}] does not fit the hls4ml C-sim path "
            f"(inputs travel as float; integers must be within +-2**24)"
        )
    in_shape = _input_shape(golden)
    in_width, in_signed = bits_for_range(lo, hi)
    layers = []
    # every tensor a layer can read: None = the network input, else a layer's output
    tensors: dict = {None: (tuple(in_shape), lo, hi, 0)}  # (shape, lo, hi, frac)
    readers: dict = {None: []}
    prev = None
    for i, layer in enumerate(golden.layers):
        srcs = _layer_sources(layer, prev, tensors)
        for s_ in srcs:
            readers[s_].append(layer.name)
        src = srcs[0]
        cur_shape, cur_lo, cur_hi, cur_frac = tensors[src]
        info = {
            "name": layer.name,
            "kind": layer.kind,
            "inputs": list(srcs),
            "in_shape": list(cur_shape),
            "in_range": [cur_lo, cur_hi],
            "n_in": _fan_in(cur_shape),
            "in_width": bits_for_range(cur_lo, cur_hi)[0],
        }
        acc = thr = None  # (lo, hi) of the accumulator / of the stored thresholds
        out_frac = 0  # codes and accumulators are integers (frac 0)
        if isinstance(layer, ThresholdLayer):
            t = np.asarray(layer.thresholds)
            n_chan = int(cur_shape[-1])
            if t.ndim != 2 or t.shape[1] < 1 or t.shape[0] not in (1, n_chan):
                raise EmitError(
                    f"layer {layer.name!r}: thresholds of shape {t.shape} do not fit {n_chan} channels (need ({n_chan} or 1, L>=1))"
                )
            if not np.issubdtype(t.dtype, np.integer):
                raise EmitError(f"layer {layer.name!r}: thresholds must be integers, got {t.dtype}")
            neg = _threshold_negate(layer, n_chan)
            # the compared values: x, or -x on the negated channels
            cmp_lo, cmp_hi = hls_ext.negated_range(cur_lo, cur_hi, neg)
            l_lo, l_hi = (int(v) for v in layer.in_range)
            if cmp_lo < l_lo or cmp_hi > l_hi:
                raise EmitError(
                    f"layer {layer.name!r}: incoming values [{cmp_lo}, {cmp_hi}]"
                    + (" (x and -x: some channels are negated)" if neg is not None else "")
                    + f" do not fit the layer's input range [{l_lo}, {l_hi}]"
                )
            acc = (cmp_lo, cmp_hi)
            tc = np.clip(t.astype(np.int64), cmp_lo, cmp_hi + 1)
            thr = (int(tc.min()), int(tc.max()))
            cur_lo, cur_hi = 0, int(t.shape[1])
            info.update(
                levels=int(t.shape[1]), shared=bool(t.shape[0] == 1), negated=0 if neg is None else int(neg.sum())
            )
            # vectors: ReuseFactor folds the channels; images: one pixel (all C channels) per cycle
            image = len(cur_shape) == 3
            info.update(n_units=n_chan if image else info["n_in"], folded=not image)
        elif isinstance(layer, (XnorDenseLayer, IntDenseLayer)):
            xnor = isinstance(layer, XnorDenseLayer)
            _check_codes(src, layer, cur_lo, cur_hi, xnor)
            if layer.mw != info["n_in"]:
                raise EmitError(
                    f"layer {layer.name!r}: fan-in MW={layer.mw} but {_src_name(src)} gives {info['n_in']} values"
                    + (f" (shape {tuple(cur_shape)}; add a flatten layer)" if len(cur_shape) > 1 else "")
                )
            if len(cur_shape) > 1:
                raise EmitError(
                    f"layer {layer.name!r}: a dense layer needs a flat input; add a flatten layer before it"
                )
            w = _mvu_weights(layer, layer.mw, xnor)
            if xnor:
                acc = (0, layer.mw) if layer.thresholds is not None else (-layer.mw, layer.mw)
            else:
                acc = hls_ext.int_acc_range(w, cur_hi)
            levels = 0
            if layer.thresholds is not None:
                levels = _check_int_thresholds(layer, layer.mh)
                tc = np.clip(np.asarray(layer.thresholds, dtype=np.int64), acc[0], acc[1] + 1)
                thr = (int(tc.min()), int(tc.max()))
                cur_lo, cur_hi = 0, levels
            else:
                cur_lo, cur_hi = acc
            cur_shape = (layer.mh,)
            info.update(levels=levels, n_units=layer.mh, folded=True, mw=int(layer.mw), mh=int(layer.mh))
            if xnor:
                info["pop_width"] = bits_for_range(0, layer.mw)[0]
        elif isinstance(layer, ConvLayer):
            h, w_, c = _check_image(src, layer, cur_shape)
            _check_codes(src, layer, cur_lo, cur_hi, layer.xnor)
            k, s, pad = int(layer.kernel), int(layer.stride), int(layer.pad)
            if k < 1 or s < 1 or pad < 0:
                raise EmitError(f"layer {layer.name!r}: bad kernel/stride/pad ({k}, {s}, {pad})")
            ho, wo, co = layer.out_shape
            if ho < 1 or wo < 1:
                raise EmitError(f"layer {layer.name!r}: the {k}x{k} kernel does not fit the {h}x{w_} input (pad {pad})")
            if pad and not cur_lo <= int(layer.pad_value) <= max(cur_hi, 1 if layer.xnor else cur_hi):
                raise EmitError(
                    f"layer {layer.name!r}: pad code {layer.pad_value} does not fit the input codes [{cur_lo}, {cur_hi}]"
                    + (" (XNOR: bits 0/1)" if layer.xnor else "")
                )
            w = _mvu_weights(layer, k * k * c, layer.xnor)
            if layer.xnor:
                n_k = k * k * c
                acc = (0, n_k) if layer.thresholds is not None else (-n_k, n_k)
            else:
                # the pad code is an input value too
                acc = hls_ext.int_acc_range(w, max(cur_hi, int(layer.pad_value) if pad else 0))
            levels = 0
            if layer.thresholds is not None:
                levels = _check_int_thresholds(layer, co)
                tc = np.clip(np.asarray(layer.thresholds, dtype=np.int64), acc[0], acc[1] + 1)
                thr = (int(tc.min()), int(tc.max()))
                cur_lo, cur_hi = 0, levels
            else:
                cur_lo, cur_hi = acc
            cur_shape = (ho, wo, co)
            info.update(
                levels=levels,
                n_units=co,
                folded=True,
                mw=k * k * c,
                mh=int(co),
                kernel=k,
                stride=s,
                pad=pad,
                pad_value=int(layer.pad_value),
                xnor=bool(layer.xnor),
            )
        elif isinstance(layer, MaxPoolLayer):
            h, w_, c = _check_image(src, layer, cur_shape)
            k, s = int(layer.kernel), int(layer.stride)
            if k < 1 or s < 1 or k > h or k > w_:
                raise EmitError(f"layer {layer.name!r}: bad pooling kernel/stride ({k}, {s}) for a {h}x{w_} input")
            cur_shape = tuple(int(v) for v in layer.out_shape)
            out_frac = cur_frac  # max of codes: the same fixed-point format
            info.update(n_units=c, folded=False, kernel=k, stride=s)
        elif isinstance(layer, FlattenLayer):
            c = _check_image(src, layer, cur_shape)[2]
            cur_shape = (_fan_in(cur_shape),)
            out_frac = cur_frac
            info.update(n_units=c, folded=False)
        elif isinstance(layer, FixedChainLayer):
            # the exact wide value p never leaves the kernel (no float-path limit): p_width, not acc_width
            p_lo, p_hi = _plan_fixed_chain(layer, src, cur_shape, cur_lo, cur_hi, cur_frac)
            # the codes it can really make (the stream type stays ap_int<width>)
            cur_lo, cur_hi = hls_ext.fixed_chain_out_range(
                cur_lo,
                cur_hi,
                int(layer.in_frac),
                int(layer.frac),
                int(layer.slope_frac),
                layer.breakpoint,
                layer.pos_slope,
                layer.neg_slope,
                layer.offset,
                int(layer.width),
                layer.rounding,
                layer.overflow,
            )
            out_frac = int(layer.frac)
            info.update(
                n_units=int(cur_shape[-1]),
                folded=False,
                in_frac=int(layer.in_frac),
                slope_frac=int(layer.slope_frac),
                width=int(layer.width),
                rounding=layer.rounding,
                overflow=layer.overflow,
                p_width=hls_ext.signed_width(p_lo, p_hi),
            )
        elif isinstance(layer, ConcatLayer):
            (sa, alo, ahi, fa), (sb, blo, bhi, fb) = tensors[srcs[0]], tensors[srcs[1]]
            if len(sa) != 3 or len(sb) != 3 or tuple(sa[:2]) != tuple(sb[:2]):
                raise EmitError(
                    f"layer {layer.name!r}: concatenates {_src_name(srcs[0])} of shape {tuple(sa)} and {_src_name(srcs[1])} of "
                    f"shape {tuple(sb)} (need images of the same height and width)"
                )
            if fa or fb:
                raise EmitError(
                    f"layer {layer.name!r}: concatenates fixed-point tensors (frac {fa}, {fb}); it takes integer codes"
                )
            cur_shape = (int(sa[0]), int(sa[1]), int(sa[2]) + int(sb[2]))
            if tuple(int(v) for v in layer.shape) != cur_shape:
                raise EmitError(
                    f"layer {layer.name!r}: declared shape {tuple(layer.shape)}, but its inputs give {cur_shape}"
                )
            cur_lo, cur_hi = min(alo, blo), max(ahi, bhi)
            info.update(n_units=int(cur_shape[-1]), folded=False, c1=int(sa[2]), c2=int(sb[2]))
        elif isinstance(layer, FixedAddLayer):
            (s_lo, s_hi), out_frac = _plan_fixed_add(layer, srcs, tensors)
            cur_lo, cur_hi = hls_ext.fixed_out_range(s_lo, s_hi, 0, "trn", int(layer.width), layer.overflow)
            info.update(
                n_units=int(cur_shape[-1]),
                folded=False,
                width=int(layer.width),
                overflow=layer.overflow,
                sum_width=hls_ext.signed_width(s_lo, s_hi),
            )
        else:
            raise EmitError(f"layer {getattr(layer, 'name', i)!r}: unsupported layer type {type(layer).__name__}")
        if max(abs(cur_lo), abs(cur_hi)) > FLOAT_EXACT or (
            acc is not None and max(abs(acc[0]), abs(acc[1])) >= FLOAT_EXACT
        ):
            raise EmitError(
                f"layer {layer.name!r}: values up to {max(abs(cur_lo), abs(cur_hi))} exceed the exact range 2**24"
            )
        info["out_shape"] = list(cur_shape)
        info["n_out"] = _fan_in(cur_shape)
        info["out_range"] = [cur_lo, cur_hi]
        info["frac"] = out_frac
        info["out_type"] = hls_ext.int_precision_str(cur_lo, cur_hi)
        info["out_width"] = bits_for_range(cur_lo, cur_hi)[0]
        if isinstance(layer, (FixedChainLayer, FixedAddLayer)):
            # out_range: the codes it can make; the stream carries the whole ap_fixed<width, .> code
            info["out_type"], info["out_width"] = hls_ext.int_type_str(int(layer.width), True), int(layer.width)
        info["acc_width"] = None if acc is None else bits_for_range(*acc)[0]
        info["thr_width"] = None if thr is None else bits_for_range(*thr)[0]
        layers.append(info)
        tensors[layer.name] = (tuple(int(v) for v in cur_shape), cur_lo, cur_hi, out_frac)
        readers[layer.name] = []
        prev = layer.name
    for name, who in readers.items():
        if name is not None and name != prev and not who:
            raise EmitError(
                f"layer {name!r}: its output is read by no later layer (a stream nobody reads would stall the "
                "hardware; drop the layer or read it)"
            )
    for info in layers:
        info["readers"] = readers[info["name"]]
    return {
        "input_shape": list(in_shape),
        "n_inputs": _fan_in(in_shape),
        "is_image": len(in_shape) == 3,
        "input_range": [lo, hi],
        "input_type": hls_ext.int_type_str(in_width, in_signed),
        "output_shape": list(cur_shape),
        "output_range": [cur_lo, cur_hi],
        "output_type": hls_ext.int_precision_str(cur_lo, cur_hi),
        "layers": layers,
    }


def resolve_folding(plan: dict, reuse_factor=1, folding=None) -> dict:
    """PE / SIMD of every matrix-vector layer of ``plan`` (``plan_network``), checked.

    ``folding``: ``None`` or a mapping ``{golden layer name: {"PE": p, "SIMD": s}}`` naming
    matrix-vector layers only; a missing key is fully parallel (PE = MH, SIMD = MW).  PE must
    divide MH and SIMD must divide MW (a conv's MW is kernel * kernel * C_in: any divisor of it).
    Layers it does not name fold by ``reuse_factor`` (an int, or ``{name: int, "default": int}``):
    PE = ceil(MH / RF), SIMD = MW.  A layer may not be named by both mappings.

    Returns ``{name: {"PE", "SIMD", "MH", "MW", "NF", "SF", "reuse_factor", "cycles_per_frame",
    "from"}}`` in network order: NF = ceil(MH / PE), SF = MW / SIMD, ``reuse_factor``: hls4ml's
    ReuseFactor of the layer (NF * SF when ``folding`` names it, else the ``reuse_factor``
    argument's), cycles per frame NF * SF (times the output pixels of a conv), ``from``:
    ``"folding"`` or ``"reuse_factor"``.
    Raises ``EmitError`` naming the layer, the value and what was expected.
    """
    infos = {info["name"]: info for info in plan["layers"]}
    mvus = [info["name"] for info in plan["layers"] if info["kind"] in MVU_KINDS]
    folding = {} if folding is None else folding
    if not isinstance(folding, Mapping):
        raise EmitError(
            f"folding must be a mapping {{layer name: {{'PE': p, 'SIMD': s}}}}, got {type(folding).__name__}"
        )
    listing = ", ".join(repr(n) for n in mvus) or "none"
    unknown = [n for n in folding if n not in infos]
    if unknown:
        raise EmitError(f"folding names unknown layers {unknown}; the matrix-vector layers are: {listing}")
    for name in folding:
        if name not in mvus:
            raise EmitError(
                f"layer {name!r}: folding (PE/SIMD) applies to matrix-vector layers ({', '.join(MVU_KINDS)}), not to a "
                f"{infos[name]['kind']} layer; the matrix-vector layers are: {listing}"
            )
        if isinstance(reuse_factor, Mapping) and name in reuse_factor:
            raise EmitError(
                f"layer {name!r}: named by both folding and reuse_factor (its ReuseFactor follows from the folding: "
                "NF * SF); give one of them"
            )
    out = {}
    for name in mvus:
        info = infos[name]
        mw, mh = int(info["mw"]), int(info["mh"])
        rf = _rf_for(reuse_factor, name)
        if name in folding:
            entry = folding[name]
            if not isinstance(entry, Mapping) or not entry or set(entry) - set(FOLDING_KEYS):
                raise EmitError(
                    f"layer {name!r}: a folding entry is a mapping with keys 'PE' and/or 'SIMD', got {entry!r}"
                )
            pe, simd = entry.get("PE", mh), entry.get("SIMD", mw)
            what = (
                f" (= {info['kernel']}*{info['kernel']}*{info['in_shape'][-1]}, kernel*kernel*C_in)"
                if info["kind"] == "conv"
                else ""
            )
            hls_ext.check_mvu_folding(name, mw, mh, pe, simd, mw_what=what)
            src = "folding"
        else:
            pe, simd, src = hls_ext.fold(mh, rf)[0], mw, "reuse_factor"
        nf, sf = hls_ext.mvu_folds(mw, mh, pe, simd)
        pixels = int(np.prod(info["out_shape"][:-1])) if info["kind"] == "conv" else 1
        out[name] = {
            "PE": int(pe),
            "SIMD": int(simd),
            "MH": mh,
            "MW": mw,
            "NF": nf,
            "SF": sf,
            "reuse_factor": nf * sf if src == "folding" else rf,
            "cycles_per_frame": nf * sf * pixels,
            "from": src,
        }
    return out


def _input_name(golden: IntegerNetwork) -> str:
    taken = {layer.name.lower() for layer in golden.layers}
    name, k = "hw_bnn_input", 0
    while name in taken:
        k += 1
        name = f"hw_bnn_input{k}"
    return name


def _thr_data(layer):
    return None if layer.thresholds is None else np.asarray(layer.thresholds, dtype=np.int64)


def _layer_list(golden: IntegerNetwork, plan: dict, input_name: str) -> list[dict]:
    out = [{"class_name": "InputLayer", "name": input_name, "input_shape": list(plan["input_shape"])}]
    for layer, info in zip(golden.layers, plan["layers"]):
        d = {"name": layer.name}
        if isinstance(layer, ThresholdLayer):
            t = np.asarray(layer.thresholds, dtype=np.int64)
            d.update(
                class_name=hls_ext.THRESHOLD_KIND,
                n_in=int(info["n_in"]),
                n_levels=int(t.shape[1]),
                shared=bool(t.shape[0] == 1),
                thresholds_data=t,
            )
            neg = _threshold_negate(layer, int(info["in_shape"][-1]))
            if neg is not None:
                d["negate_data"] = neg.astype(np.uint8)
        elif isinstance(layer, XnorDenseLayer):
            d.update(
                class_name=hls_ext.XNOR_DENSE_KIND,
                n_in=layer.mw,
                n_out=layer.mh,
                n_levels=int(info["levels"]),
                weight_data=np.asarray(layer.weights, dtype=np.uint8),
                thresholds_data=_thr_data(layer),
            )
        elif isinstance(layer, IntDenseLayer):
            d.update(
                class_name=hls_ext.INT_DENSE_KIND,
                n_in=layer.mw,
                n_out=layer.mh,
                n_levels=int(info["levels"]),
                in_hi=int(info["in_range"][1]),
                weight_data=np.asarray(layer.weights, dtype=np.int64),
                thresholds_data=_thr_data(layer),
            )
        elif isinstance(layer, ConvLayer):
            h, w, c = info["in_shape"]
            d.update(
                class_name=hls_ext.CONV_KIND,
                in_h=h,
                in_w=w,
                n_chan=c,
                n_filt=layer.n_out,
                kernel=int(layer.kernel),
                stride=int(layer.stride),
                pad=int(layer.pad),
                pad_value=int(layer.pad_value),
                xnor=bool(layer.xnor),
                n_levels=int(info["levels"]),
                in_hi=max(int(info["in_range"][1]), int(layer.pad_value) if layer.pad else 0),
                weight_data=np.asarray(layer.weights, dtype=np.int64),
                thresholds_data=_thr_data(layer),
            )
        elif isinstance(layer, MaxPoolLayer):
            h, w, c = info["in_shape"]
            d.update(
                class_name=hls_ext.MAXPOOL_KIND,
                in_h=h,
                in_w=w,
                n_chan=c,
                kernel=int(layer.kernel),
                stride=int(layer.stride),
            )
        elif isinstance(layer, FixedChainLayer):
            d.update(
                class_name=hls_ext.FIXED_CHAIN_KIND,
                n_in=int(info["n_in"]),
                n_chan=int(info["in_shape"][-1]),
                in_frac=int(layer.in_frac),
                frac=int(layer.frac),
                slope_frac=int(layer.slope_frac),
                width=int(layer.width),
                rounding=str(layer.rounding),
                overflow=str(layer.overflow),
                **{
                    f"{a}_data": np.asarray(getattr(layer, a), dtype=np.int64)
                    for a in ("breakpoint", "pos_slope", "neg_slope", "offset")
                },
            )
        elif isinstance(layer, ConcatLayer):
            h, w, _ = info["out_shape"]
            d.update(
                class_name=hls_ext.CONCAT_KIND,
                n_pix=int(h) * int(w),
                c1=int(info["c1"]),
                c2=int(info["c2"]),
                out_lo=int(info["out_range"][0]),
                out_hi=int(info["out_range"][1]),
            )
        elif isinstance(layer, FixedAddLayer):
            d.update(
                class_name=hls_ext.FIXED_ADD_KIND,
                n_in=int(info["n_in"]),
                frac=int(info["frac"]),
                width=int(layer.width),
                overflow=str(layer.overflow),
            )
        else:
            h, w, c = info["in_shape"]
            d.update(class_name=hls_ext.FLATTEN_KIND, in_h=h, in_w=w, n_chan=c)
        named = tuple(getattr(layer, "inputs", ()) or ())
        if named:
            # hls4ml's graph: a layer dict may name several inputs (else it reads the previous layer)
            d["inputs"] = [str(n) for n in named]
        out.append(d)
    return out


def resolve_io_type(plan: dict, io_type: str | None) -> str:
    """``None`` -> ``io_stream`` for image networks, ``io_parallel`` otherwise.  Image networks
    need ``io_stream`` (the window kernels read a pixel stream)."""
    if io_type is None:
        return "io_stream" if plan["is_image"] else "io_parallel"
    if plan["is_image"] and io_type != "io_stream":
        raise EmitError(
            f"io_type {io_type!r}: image networks (input (C, H, W)) are emitted as io_stream only "
            "(use io_type='io_stream' or None)"
        )
    return io_type


def golden_input_shape(plan: dict) -> tuple[int, ...]:
    """Per-sample input shape in the golden model's layout (CHW for images)."""
    shape = tuple(plan["input_shape"])
    if plan["is_image"]:
        h, w, c = shape
        return (c, h, w)
    return shape


def to_hardware_rows(plan: dict, x: np.ndarray) -> np.ndarray:
    """Golden-layout inputs ``(N, ...)`` -> ``(N, n_inputs)`` rows in the hardware order (NHWC)."""
    x = np.asarray(x)
    if plan["is_image"]:
        x = np.transpose(x, (0, 2, 3, 1))
    return np.ascontiguousarray(x.reshape(x.shape[0], -1))


def _write_dat(path: Path, rows: np.ndarray) -> None:
    with open(path, "w") as f:
        f.writelines(" ".join(str(int(v)) for v in row) + "\n" for row in rows)


def _replace_dir(tmp: Path, out_dir: Path) -> None:
    """Move ``tmp`` to ``out_dir``, replacing an existing ``out_dir`` (moved aside, then deleted)."""
    backup = None
    if out_dir.exists() or out_dir.is_symlink():
        backup = out_dir.with_name(f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}")
        os.rename(out_dir, backup)
    try:
        os.rename(tmp, out_dir)
    except BaseException:
        if backup is not None:
            os.rename(backup, out_dir)
        raise
    if backup is not None:
        if backup.is_dir() and not backup.is_symlink():
            shutil.rmtree(backup, ignore_errors=True)
        else:
            backup.unlink()


def emit_project(
    golden: IntegerNetwork,
    out_dir,
    backend: str = "Vitis",
    reuse_factor=1,
    part: str = "xc7z020clg400-1",
    clock_period=10,
    io_type: str | None = None,
    tb_inputs=None,
    trace: bool = False,
    *,
    project_name: str = "hw_bnn",
    hls_dir=None,
    folding=None,
):
    """Build and write the hls4ml project of ``golden``; returns the hls4ml ``ModelGraph``.

    ``reuse_factor``: an int for every layer, or a mapping ``{layer name: int}`` (key ``"default"``
    for the rest).  ``folding``: ``{golden layer name: {"PE": p, "SIMD": s}}`` for matrix-vector
    layers (``xnor_dense``, ``int_dense``, ``conv``); PE divides MH, SIMD divides MW (a conv:
    kernel * kernel * C_in), a missing key is fully parallel; such a layer gets hls4ml
    ``ReuseFactor = (MH / PE) * (MW / SIMD)``.  Matrix-vector layers it does not name fold by
    ``reuse_factor``: PE = ceil(MH / RF), SIMD = MW (see ``resolve_folding``; the default is fully
    parallel).  ``io_type``: ``None`` (auto: ``io_stream`` for image networks, else
    ``io_parallel``), ``"io_parallel"`` or ``"io_stream"``.  ``tb_inputs``: integer inputs in the
    golden layout (``(N, C)`` or NCHW images); they (NHWC rows for images) and
    ``golden.run(tb_inputs)`` become ``tb_data/tb_input_features.dat`` / ``tb_output_predictions.dat``.  ``trace``: enable hls4ml's
    per-layer trace in the generated code (``hw_bnn.sim.csim.csim_trace`` turns it on by itself).
    The hls4ml layer names are the golden layer names.  Raises ``EmitError`` (a ``ValueError`` and
    a ``HwBnnError``) when something does not fit, naming the layer.
    """
    backend_name = BACKENDS.get(str(backend).lower())
    if backend_name is None:
        raise EmitError(f"backend must be one of {sorted(BACKENDS.values())}, got {backend!r}")
    if io_type is not None and io_type not in IO_TYPES:
        raise EmitError(f"io_type must be one of {IO_TYPES} or None (auto), got {io_type!r}")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", project_name):
        raise EmitError(f"project_name must be a C identifier, got {project_name!r}")
    if project_name in (hls_ext.CPP_NAMESPACE, "nnet"):
        raise EmitError(f"project_name {project_name!r} clashes with a C++ namespace of the project")

    if isinstance(clock_period, np.generic):
        clock_period = clock_period.item()
    plan = plan_network(golden)
    io_type = resolve_io_type(plan, io_type)
    if io_type == "io_stream":
        for info in plan["layers"]:
            if len(info["readers"]) > MAX_STREAM_READERS:
                raise EmitError(
                    f"layer {info['name']!r}: its output is read by {len(info['readers'])} layers; io_stream copies a "
                    f"stream to at most {MAX_STREAM_READERS} readers (hls4ml clone_stream)"
                )
    rfs = {layer.name: _rf_for(reuse_factor, layer.name) for layer in golden.layers}
    if isinstance(reuse_factor, Mapping):
        unknown = set(reuse_factor) - set(rfs) - {"default"}
        if unknown:
            raise EmitError(f"reuse_factor names unknown layers: {sorted(unknown)}")
    folds = resolve_folding(plan, reuse_factor, folding)
    # hls4ml's ReuseFactor per layer: the argument's, or NF * SF for a layer that folding names
    hls_rf = {name: folds[name]["reuse_factor"] if name in folds else rf for name, rf in rfs.items()}

    tb = None
    if tb_inputs is not None:
        x = np.asarray(tb_inputs)
        want = golden_input_shape(plan)
        if x.ndim == len(want):
            x = x[None]
        if tuple(x.shape[1:]) != want:
            raise EmitError(f"tb_inputs: expected shape (N, {', '.join(map(str, want))}), got {np.shape(tb_inputs)}")
        try:
            x = golden.check_input(x).astype(np.int64)  # integer-valued floats are fine too
        except ValueError as e:
            raise EmitError(f"tb_inputs: {e}") from None
        y = np.asarray(golden.run(x)).reshape(x.shape[0], -1)
        # the testbench reads what the hardware reads: NHWC pixels, flattened
        tb = (to_hardware_rows(plan, x), y.astype(np.int64))

    hls_ext.register(hls_dir)
    from hls4ml.model.graph import ModelGraph
    from hls4ml.utils.config import create_config

    out_dir = Path(out_dir).expanduser().resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{uuid.uuid4().hex[:8]}")

    input_name = _input_name(golden)
    config = create_config(
        output_dir=str(tmp),
        project_name=project_name,
        backend=backend_name,
        part=part,
        clock_period=clock_period,
        io_type=io_type,
    )
    all_rf1 = all(rf == 1 for rf in hls_rf.values())
    layer_cfg = {input_name: {"Precision": {"result": plan["input_type"]}, "Trace": False}}
    for layer in golden.layers:
        layer_cfg[layer.name] = {"ReuseFactor": hls_rf[layer.name], "Trace": bool(trace)}
        f = folds.get(layer.name)
        if f is not None and f["from"] == "folding":  # our layers' configurable attributes pe / simd
            layer_cfg[layer.name].update(Pe=f["PE"], Simd=f["SIMD"])
    config["HLSConfig"] = {
        "Model": {
            "Precision": plan["input_type"],
            "ReuseFactor": 1,
            "Strategy": "Latency",
            # one pipelined top function when nothing is folded; DATAFLOW keeps the folded loops
            # (and is what io_stream layers need)
            "PipelineStyle": "pipeline" if (all_rf1 and io_type == "io_parallel") else "dataflow",
        },
        "LayerName": layer_cfg,
    }
    config["TraceOutput"] = bool(trace)

    try:
        hls_model = ModelGraph.from_layer_list(config, _layer_list(golden, plan, input_name))
        hls_model.write()
        tb_dir = tmp / "tb_data"
        tb_dir.mkdir(exist_ok=True)
        if tb is not None:
            _write_dat(tb_dir / "tb_input_features.dat", tb[0])
            _write_dat(tb_dir / "tb_output_predictions.dat", tb[1])
        info = {
            "project_name": project_name,
            "backend": backend_name,
            "io_type": io_type,
            "part": part,
            "clock_period": clock_period,
            "input_layer": input_name,
            "reuse_factor": rfs,  # the argument, per layer (folding: hls4ml's ReuseFactor of MVU layers)
            "folding": folds,
            "n_tb_samples": 0 if tb is None else int(tb[0].shape[0]),
            **plan,
        }
        for layer_info in info["layers"]:
            n_units = layer_info["n_units"]
            f = folds.get(layer_info["name"])
            if f is not None:  # n_pe / n_fold: outputs per step, steps per vector (pixel)
                layer_info.update(
                    pe=f["PE"], simd=f["SIMD"], nf=f["NF"], sf=f["SF"], n_pe=f["PE"], n_fold=f["NF"] * f["SF"]
                )
            elif layer_info["folded"]:
                layer_info["n_pe"], layer_info["n_fold"] = hls_ext.fold(n_units, rfs[layer_info["name"]])
            else:
                layer_info["n_pe"], layer_info["n_fold"] = n_units, 1
        (tmp / PROJECT_INFO).write_text(json.dumps(info, indent=2) + "\n")
        # the project moves to out_dir: the model (and its saved config) must point there
        hls_model.config.config["OutputDir"] = str(out_dir)
        _rewrite_yml(hls_model, tmp)
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return hls_model


def _rewrite_yml(hls_model, project_dir: Path) -> None:
    path = project_dir / "hls4ml_config.yml"
    if not path.exists():
        return
    import yaml

    with open(path, "w") as f:
        yaml.dump(hls_model.config.config, f)

"""The emit plan: every tensor's shape, range and width, checked against what the hls4ml layers take
(no hls4ml import; the folding is :mod:`hw_bnn.hls4ml_ext.folding`'s).

``plan_network`` walks the integer network in list order and keeps every tensor a layer can
read (``None``: the network input, else a layer's output) as a :class:`Tensor` (shape in the
hardware layout, NHWC images without N; integer range; fixed-point ``frac``, 0 for codes and
accumulators).  Each layer is checked against the tensor it really reads: a named input must be
an earlier layer, a ``FixedAddLayer`` reads two tensors of equal shape and frac, a
``FixedChainLayer``'s ``in_frac`` is the frac of what it reads, and every layer but the last must
be read by some layer (an unread stream would stall the hardware).  One planning step per layer
kind computes the output range with :mod:`hw_bnn.ir.ranges`:

=================  ===========================================================================
``threshold``      codes ``0..L``; compares ``x`` (or ``-x`` on negated channels)
``xnor_dense``     popcount ``[0, MW]`` with thresholds, else ``2 p - MW in [-MW, MW]``
``int_dense``      ``a = x @ W`` for the codes ``x`` it reads; thresholds on ``a``
``conv``           as the dense units; the pad code is an input value too
``maxpool``        the input's range and frac (max of codes)
``flatten``        the input's range and frac
``fixed_chain``    the codes it can reach (``fixed_chain_out_range``); ``p`` stays in the kernel
``fixed_add``      ``overflow(a + b)`` over the sum of the input ranges
``concat``         the union of the input ranges
=================  ===========================================================================

Every value that crosses the hls4ml C-sim bridge (inputs, layer outputs, accumulators) must stay
within ``+-2**24``: the bridge and the testbench move values as float.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

from hw_bnn.errors import EmitError
from hw_bnn.hls4ml_ext.hls_types import int_precision_str, int_type_str
from hw_bnn.ir import (
    FLOAT32_EXACT_LIMIT,
    GOLDEN_INT_LIMIT,
    MAX_SLOPE_FRAC,
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
    fixed_chain_out_range,
    fixed_chain_ranges,
    fixed_out_range,
    negated_range,
    signed_width,
    threshold_range,
    xnor_acc_range,
)

MAX_FIXED_WIDTH = 25  # fixed-point codes must stay within +-2**24 for the C-sim path
_BAD_NAME = re.compile(r"[\"\\\x00-\x1f\x7f]")
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


class Tensor(NamedTuple):
    """A tensor of the plan: hardware shape (NHWC without N), integer range, fraction bits."""

    shape: tuple
    lo: int
    hi: int
    frac: int = 0


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


# --------------------------------------------------------------------------------------------
# checks shared by the planning steps


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


def _check_mvu_weights(layer, rows: int, xnor: bool) -> None:
    w = np.asarray(layer.weights)
    if w.ndim != 2 or w.shape[0] != rows:
        raise EmitError(f"layer {layer.name!r}: weights of shape {w.shape} do not fit the fan-in {rows}")
    if not np.issubdtype(w.dtype, np.integer) and not np.all(w == np.round(w)):
        raise EmitError(f"layer {layer.name!r}: weights must be integers, got {w.dtype}")
    if xnor and np.any((w != 0) & (w != 1)):
        raise EmitError(f"layer {layer.name!r}: weights must be bits (0/1)")


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


def threshold_negate(layer, n_chan: int):
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
    if int(width) > MAX_FIXED_WIDTH:
        raise EmitError(
            f"layer {layer.name!r}: width {width} exceeds {MAX_FIXED_WIDTH} bits (codes must stay within +-2**24 "
            "for the C-sim path)"
        )


def _check_fixed_chain(layer, src, x: Tensor) -> None:
    """Check a FixedChainLayer against the tensor it reads (shape, modes, format, frac, parameters)."""
    if tuple(int(v) for v in layer.shape) != tuple(x.shape):
        raise EmitError(
            f"layer {layer.name!r}: declared shape {tuple(layer.shape)}, but {_src_name(src)} gives shape "
            f"{tuple(x.shape)}"
        )
    for attr, modes in (("rounding", ROUNDING_MODES), ("overflow", OVERFLOW_MODES)):
        if getattr(layer, attr) not in modes:
            raise EmitError(f"layer {layer.name!r}: unknown {attr} mode {getattr(layer, attr)!r} ({', '.join(modes)})")
    _check_fixed_format(layer, layer.width, layer.frac)
    in_frac, sf = int(layer.in_frac), int(layer.slope_frac)
    if in_frac != x.frac:
        kind = "an integer tensor (frac 0)" if x.frac == 0 else f"a fixed-point tensor with frac {x.frac}"
        raise EmitError(f"layer {layer.name!r}: in_frac {in_frac}, but {_src_name(src)} gives {kind}")
    if not in_frac <= int(layer.frac) or not 0 <= sf <= MAX_SLOPE_FRAC:
        raise EmitError(
            f"layer {layer.name!r}: need in_frac <= frac and 0 <= slope_frac <= {MAX_SLOPE_FRAC} "
            f"(in_frac {in_frac}, frac {layer.frac}, slope_frac {sf})"
        )
    n_chan = int(x.shape[-1])
    for attr in ("breakpoint", "pos_slope", "neg_slope", "offset"):
        v = np.asarray(getattr(layer, attr))
        if v.shape != (n_chan,) or not np.issubdtype(v.dtype, np.integer):
            raise EmitError(
                f"layer {layer.name!r}: {attr} must hold {n_chan} integers (one per channel), got {v.dtype} {v.shape}"
            )
    l_lo, l_hi = (int(v) for v in layer.in_range)
    if x.lo < l_lo or x.hi > l_hi:
        raise EmitError(
            f"layer {layer.name!r}: {_src_name(src)} gives values in [{x.lo}, {x.hi}], outside the layer's input "
            f"range [{l_lo}, {l_hi}]"
        )


def _chain_params(layer) -> tuple:
    """``(in_frac, frac, slope_frac, G, P, N, Z)`` of a FixedChainLayer (the range functions' order)."""
    return (
        int(layer.in_frac),
        int(layer.frac),
        int(layer.slope_frac),
        layer.breakpoint,
        layer.pos_slope,
        layer.neg_slope,
        layer.offset,
    )


# --------------------------------------------------------------------------------------------
# one planning step per layer kind: (layer, the tensors it reads, tensors, info) -> (output, acc, thr)
# acc: (lo, hi) of the hardware accumulator (None: no accumulator); thr: of the stored thresholds


def _plan_threshold(layer, srcs, tensors, info):
    x = tensors[srcs[0]]
    t = np.asarray(layer.thresholds)
    n_chan = int(x.shape[-1])
    if t.ndim != 2 or t.shape[1] < 1 or t.shape[0] not in (1, n_chan):
        raise EmitError(
            f"layer {layer.name!r}: thresholds of shape {t.shape} do not fit {n_chan} channels "
            f"(need ({n_chan} or 1, L>=1))"
        )
    if not np.issubdtype(t.dtype, np.integer):
        raise EmitError(f"layer {layer.name!r}: thresholds must be integers, got {t.dtype}")
    neg = threshold_negate(layer, n_chan)
    # the compared values: x, or -x on the negated channels
    cmp_lo, cmp_hi = negated_range(x.lo, x.hi, neg)
    l_lo, l_hi = (int(v) for v in layer.in_range)
    if cmp_lo < l_lo or cmp_hi > l_hi:
        raise EmitError(
            f"layer {layer.name!r}: incoming values [{cmp_lo}, {cmp_hi}]"
            + (" (x and -x: some channels are negated)" if neg is not None else "")
            + f" do not fit the layer's input range [{l_lo}, {l_hi}]"
        )
    thr = threshold_range(t, cmp_lo, cmp_hi)
    info.update(levels=int(t.shape[1]), shared=bool(t.shape[0] == 1), negated=0 if neg is None else int(neg.sum()))
    # vectors: the reuse factor schedules the channels; images: one pixel (all C channels) per cycle
    image = len(x.shape) == 3
    info.update(n_units=n_chan if image else info["n_in"], folded=not image)
    return Tensor(x.shape, 0, int(t.shape[1])), (cmp_lo, cmp_hi), thr


def _matrix_output(layer, acc, n_out: int):
    """(levels, output range, stored threshold range) of a matrix-vector unit with accumulator ``acc``."""
    if layer.thresholds is None:
        return 0, acc, None
    levels = _check_int_thresholds(layer, n_out)
    return levels, (0, levels), threshold_range(layer.thresholds, *acc)


def _plan_dense(layer, srcs, tensors, info):
    src, x = srcs[0], tensors[srcs[0]]
    xnor = isinstance(layer, XnorDenseLayer)
    _check_codes(src, layer, x.lo, x.hi, xnor)
    if layer.mw != info["n_in"]:
        raise EmitError(
            f"layer {layer.name!r}: fan-in MW={layer.mw} but {_src_name(src)} gives {info['n_in']} values"
            + (f" (shape {tuple(x.shape)}; add a flatten layer)" if len(x.shape) > 1 else "")
        )
    if len(x.shape) > 1:
        raise EmitError(f"layer {layer.name!r}: a dense layer needs a flat input; add a flatten layer before it")
    _check_mvu_weights(layer, layer.mw, xnor)
    acc = layer.acc_range(x.hi)  # popcount / bipolar sum, or x @ W over the codes it reads
    levels, (lo, hi), thr = _matrix_output(layer, acc, layer.mh)
    info.update(levels=levels, n_units=layer.mh, folded=True, mw=int(layer.mw), mh=int(layer.mh))
    if xnor:
        info["pop_width"] = bits_for_range(*xnor_acc_range(layer.mw, popcount=True))[0]
    return Tensor((layer.mh,), lo, hi), acc, thr


def _plan_conv(layer, srcs, tensors, info):
    src, x = srcs[0], tensors[srcs[0]]
    h, w_, c = _check_image(src, layer, x.shape)
    _check_codes(src, layer, x.lo, x.hi, layer.xnor)
    k, s, pad = int(layer.kernel), int(layer.stride), int(layer.pad)
    if k < 1 or s < 1 or pad < 0:
        raise EmitError(f"layer {layer.name!r}: bad kernel/stride/pad ({k}, {s}, {pad})")
    ho, wo, co = layer.out_shape
    if ho < 1 or wo < 1:
        raise EmitError(f"layer {layer.name!r}: the {k}x{k} kernel does not fit the {h}x{w_} input (pad {pad})")
    if pad and not x.lo <= int(layer.pad_value) <= max(x.hi, 1 if layer.xnor else x.hi):
        raise EmitError(
            f"layer {layer.name!r}: pad code {layer.pad_value} does not fit the input codes [{x.lo}, {x.hi}]"
            + (" (XNOR: bits 0/1)" if layer.xnor else "")
        )
    _check_mvu_weights(layer, k * k * c, layer.xnor)
    acc = layer.acc_range(x.hi)  # the pad code is an input value too
    levels, (lo, hi), thr = _matrix_output(layer, acc, co)
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
    return Tensor((ho, wo, co), lo, hi), acc, thr


def _plan_maxpool(layer, srcs, tensors, info):
    src, x = srcs[0], tensors[srcs[0]]
    h, w_, c = _check_image(src, layer, x.shape)
    k, s = int(layer.kernel), int(layer.stride)
    if k < 1 or s < 1 or k > h or k > w_:
        raise EmitError(f"layer {layer.name!r}: bad pooling kernel/stride ({k}, {s}) for a {h}x{w_} input")
    info.update(n_units=c, folded=False, kernel=k, stride=s)
    # max of codes: the same range and fixed-point format
    return Tensor(tuple(int(v) for v in layer.out_shape), x.lo, x.hi, x.frac), None, None


def _plan_flatten(layer, srcs, tensors, info):
    src, x = srcs[0], tensors[srcs[0]]
    c = _check_image(src, layer, x.shape)[2]
    info.update(n_units=c, folded=False)
    return Tensor((_fan_in(x.shape),), x.lo, x.hi, x.frac), None, None


def _plan_fixed_chain(layer, srcs, tensors, info):
    src, x = srcs[0], tensors[srcs[0]]
    _check_fixed_chain(layer, src, x)
    params = _chain_params(layer)
    r = fixed_chain_ranges(x.lo, x.hi, *params)
    if r["mag"] >= GOLDEN_INT_LIMIT:
        raise EmitError(
            f"layer {layer.name!r}: intermediate values up to {r['mag']} exceed the golden model's int64 range"
        )
    # the codes it can really make (the stream type stays ap_int<width>)
    lo, hi = fixed_chain_out_range(x.lo, x.hi, *params, int(layer.width), layer.rounding, layer.overflow)
    info.update(
        n_units=int(x.shape[-1]),
        folded=False,
        in_frac=int(layer.in_frac),
        slope_frac=int(layer.slope_frac),
        width=int(layer.width),
        rounding=layer.rounding,
        overflow=layer.overflow,
        p_width=signed_width(*r["p"]),  # the exact wide value p never leaves the kernel: no acc_width
    )
    return Tensor(x.shape, lo, hi, int(layer.frac)), None, None


def _plan_concat(layer, srcs, tensors, info):
    a, b = tensors[srcs[0]], tensors[srcs[1]]
    if len(a.shape) != 3 or len(b.shape) != 3 or tuple(a.shape[:2]) != tuple(b.shape[:2]):
        raise EmitError(
            f"layer {layer.name!r}: concatenates {_src_name(srcs[0])} of shape {tuple(a.shape)} and "
            f"{_src_name(srcs[1])} of shape {tuple(b.shape)} (need images of the same height and width)"
        )
    if a.frac or b.frac:
        raise EmitError(
            f"layer {layer.name!r}: concatenates fixed-point tensors (frac {a.frac}, {b.frac}); it takes integer codes"
        )
    shape = (int(a.shape[0]), int(a.shape[1]), int(a.shape[2]) + int(b.shape[2]))
    if tuple(int(v) for v in layer.shape) != shape:
        raise EmitError(f"layer {layer.name!r}: declared shape {tuple(layer.shape)}, but its inputs give {shape}")
    info.update(n_units=int(shape[-1]), folded=False, c1=int(a.shape[2]), c2=int(b.shape[2]))
    return Tensor(shape, min(a.lo, b.lo), max(a.hi, b.hi)), None, None


def _plan_fixed_add(layer, srcs, tensors, info):
    """Two inputs of the same shape and frac; the output is ``overflow(a + b)`` over the summed ranges."""
    a, b = tensors[srcs[0]], tensors[srcs[1]]
    if tuple(a.shape) != tuple(b.shape):
        raise EmitError(
            f"layer {layer.name!r}: adds {_src_name(srcs[0])} of shape {tuple(a.shape)} and {_src_name(srcs[1])} of "
            f"shape {tuple(b.shape)} (need equal shapes)"
        )
    if tuple(int(v) for v in layer.shape) != tuple(a.shape):
        raise EmitError(
            f"layer {layer.name!r}: declared shape {tuple(layer.shape)}, but its inputs have shape {tuple(a.shape)}"
        )
    if a.frac != b.frac:
        raise EmitError(
            f"layer {layer.name!r}: adds {_src_name(srcs[0])} with frac {a.frac} and {_src_name(srcs[1])} with frac "
            f"{b.frac} (need the same fixed-point frac)"
        )
    if layer.overflow not in OVERFLOW_MODES:
        raise EmitError(f"layer {layer.name!r}: unknown overflow mode {layer.overflow!r} ({', '.join(OVERFLOW_MODES)})")
    _check_fixed_format(layer, layer.width, a.frac)
    s_lo, s_hi = a.lo + b.lo, a.hi + b.hi
    lo, hi = fixed_out_range(s_lo, s_hi, 0, "trn", int(layer.width), layer.overflow)
    info.update(
        n_units=int(a.shape[-1]),
        folded=False,
        width=int(layer.width),
        overflow=layer.overflow,
        sum_width=signed_width(s_lo, s_hi),
    )
    return Tensor(a.shape, lo, hi, a.frac), None, None


_STEPS = (
    (ThresholdLayer, _plan_threshold),
    ((XnorDenseLayer, IntDenseLayer), _plan_dense),
    (ConvLayer, _plan_conv),
    (MaxPoolLayer, _plan_maxpool),
    (FlattenLayer, _plan_flatten),
    (FixedChainLayer, _plan_fixed_chain),
    (ConcatLayer, _plan_concat),
    (FixedAddLayer, _plan_fixed_add),
)


# --------------------------------------------------------------------------------------------
# the whole network


def _network_input(golden: IntegerNetwork) -> Tensor:
    if not golden.layers:
        raise EmitError("golden model: no layers")
    _check_names(golden)
    lo, hi = (int(v) for v in golden.input_range)
    first = golden.layers[0].name
    if lo > hi:
        raise EmitError(f"layer {first!r}: empty input range [{lo}, {hi}]")
    if max(abs(lo), abs(hi)) > FLOAT32_EXACT_LIMIT:
        raise EmitError(
            f"layer {first!r}: input range [{lo}, {hi}] does not fit the hls4ml C-sim path "
            f"(inputs travel as float; integers must be within +-2**24)"
        )
    return Tensor(tuple(_input_shape(golden)), lo, hi, 0)


def _plan_layer(layer, srcs, tensors) -> tuple[dict, Tensor]:
    """The plan entry of one layer (its kind's step, then the output fields) and its output tensor."""
    x = tensors[srcs[0]]
    info = {
        "name": layer.name,
        "kind": layer.kind,
        "inputs": list(srcs),
        "in_shape": list(x.shape),
        "in_range": [x.lo, x.hi],
        "n_in": _fan_in(x.shape),
        "in_width": bits_for_range(x.lo, x.hi)[0],
    }
    step = next(fn for cls, fn in _STEPS if isinstance(layer, cls))
    out, acc, thr = step(layer, srcs, tensors, info)
    if max(abs(out.lo), abs(out.hi)) > FLOAT32_EXACT_LIMIT or (
        acc is not None and max(abs(acc[0]), abs(acc[1])) >= FLOAT32_EXACT_LIMIT
    ):
        raise EmitError(
            f"layer {layer.name!r}: values up to {max(abs(out.lo), abs(out.hi))} exceed the exact range 2**24"
        )
    info["out_shape"] = list(out.shape)
    info["n_out"] = _fan_in(out.shape)
    info["out_range"] = [out.lo, out.hi]
    info["frac"] = out.frac
    info["out_type"] = int_precision_str(out.lo, out.hi)
    info["out_width"] = bits_for_range(out.lo, out.hi)[0]
    if isinstance(layer, (FixedChainLayer, FixedAddLayer)):
        # out_range: the codes it can make; the stream carries the whole ap_fixed<width, .> code
        info["out_type"], info["out_width"] = int_type_str(int(layer.width), True), int(layer.width)
    info["acc_width"] = None if acc is None else bits_for_range(*acc)[0]
    info["thr_width"] = None if thr is None else bits_for_range(*thr)[0]
    return info, out


def plan_network(golden: IntegerNetwork) -> dict:
    """Check that the golden network fits the hls4ml layers and compute every range, shape and width.

    Per layer: ``kind``, ``in_shape`` / ``out_shape`` (hardware layout: NHWC images without N),
    ``in_range`` / ``out_range`` and the widths ``in_width`` (input code), ``acc_width`` (popcount
    for thresholded XNOR units, else the accumulator), ``thr_width`` (stored thresholds, clipped
    to what can matter), ``out_width``; ``n_units`` is what the reuse factor schedules
    (``n_pe``/``n_fold`` are added by ``emit_project``; ``folded``: whether it does); matrix-vector
    layers add ``mw`` / ``mh`` (inputs and outputs of the unit: a conv's window size and filters).
    Graph fields: ``inputs`` (the tensors the layer reads: layer names, ``None`` for the network
    input), ``readers`` (the layers that read its output) and ``frac`` (fraction bits of its output
    codes: 0 for codes and accumulators).  Fixed-point layers add ``width``, ``overflow`` and
    (``fixed_chain``) ``in_frac``, ``slope_frac``, ``rounding`` and ``p_width`` (the exact wide
    value), or (``fixed_add``) ``sum_width``.  Raises ``EmitError`` (a ``ValueError``) naming the
    layer when something does not fit.
    """
    net_in = _network_input(golden)
    layers = []
    tensors: dict = {None: net_in}  # every tensor a layer can read
    readers: dict = {None: []}
    prev = None
    for layer in golden.layers:
        srcs = _layer_sources(layer, prev, tensors)
        for s_ in srcs:
            readers[s_].append(layer.name)
        info, out = _plan_layer(layer, srcs, tensors)
        layers.append(info)
        tensors[layer.name] = Tensor(tuple(int(v) for v in out.shape), out.lo, out.hi, out.frac)
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
    in_width, in_signed = bits_for_range(net_in.lo, net_in.hi)
    return {
        "input_shape": list(net_in.shape),
        "n_inputs": _fan_in(net_in.shape),
        "is_image": len(net_in.shape) == 3,
        "input_range": [net_in.lo, net_in.hi],
        "input_type": int_type_str(in_width, in_signed),
        "output_shape": list(out.shape),
        "output_range": [out.lo, out.hi],
        "output_type": int_precision_str(out.lo, out.hi),
        "layers": layers,
    }

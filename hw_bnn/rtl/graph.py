"""The network as a graph of kernel instances: which unit each layer becomes, and what feeds it.

:func:`rtl_units` walks ``golden.layers`` in list order (the order the golden model runs them).
A layer reads the layers its ``inputs`` name, else the layer before it; ``flatten`` is no unit
(streams are NHWC, the order the IR flattens in), so its readers read what it reads.  Each unit
records its ``sources``: the units whose outputs feed its ports (-1: the network input).

Values per beat: the network input is a pixel per beat (images) or the first matrix unit's SIMD
(vectors);
a threshold read only by a dense unit gives that unit's SIMD, every other elementwise unit as
many as it is given; matrix units give PE; a merge takes its first input's (an add) or a pixel
(a concatenation).  :mod:`hw_bnn.rtl.emit` puts width converters where a port's differs from its
stream's.
"""

from __future__ import annotations

import math

import numpy as np

from hw_bnn.errors import EmitError
from hw_bnn.rtl.elementwise import add_unit, concat_unit, fixed_chain_unit, threshold_unit
from hw_bnn.rtl.units import (
    RtlUnit,
    Stream,
    layer_folding,
    maxpool_unit,
    mvu_unit,
    signed_bits,
    unsigned_bits,
    window_unit,
)

SUPPORTED_KINDS = (
    "threshold",
    "xnor_dense",
    "int_dense",
    "conv",
    "maxpool",
    "flatten",
    "fixed_chain",
    "fixed_add",
    "concat",
)
MATRIX_KINDS = ("xnor_dense", "int_dense", "conv")


def layer_sources(golden) -> dict[str, list[str | None]]:
    """Layer name -> the tensors it reads (layer names; ``None``: the network input), with
    ``flatten`` layers looked through."""
    alias: dict = {None: None}
    sources, prev = {}, None
    for layer in golden.layers:
        named = list(getattr(layer, "inputs", ()) or ()) or [prev]
        for n in named:
            if n not in alias:
                raise EmitError(f"layer {layer.name}: reads {n!r}, which is not an earlier layer")
        srcs = [alias[n] for n in named]
        if layer.kind == "flatten":
            alias[layer.name] = srcs[0]
        else:
            alias[layer.name] = layer.name
            sources[layer.name] = srcs
        prev = layer.name
    sources[None] = [alias[prev]]  # the network output
    return sources


def _readers(sources: dict) -> dict:
    readers: dict = {}
    for name, srcs in sources.items():
        for s in srcs:
            readers.setdefault(s, []).append(name)
    return readers


def network_input(golden, folding: dict | None) -> Stream:
    """The input stream: a pixel per beat for images; for vectors as many values per beat as the
    first matrix unit takes (its SIMD), so the input keeps pace with it."""
    lo, hi = golden.input_range
    n = int(np.prod(golden.input_shape))
    if golden.is_image:
        elems = int(golden.input_shape[0])
    else:
        first = next((la for la in golden.layers if la.kind in MATRIX_KINDS), None)
        elems = math.gcd(layer_folding(first, folding)[1], n) if first is not None else 1
    return Stream(elems, signed_bits(lo, hi) if lo < 0 else unsigned_bits(hi), lo < 0, n)


def _check(golden, folding: dict | None) -> None:
    for layer in golden.layers:
        if layer.kind not in SUPPORTED_KINDS:
            raise EmitError(
                f"layer {layer.name}: {layer.kind} layers are not in the RTL backend "
                f"(it takes {', '.join(SUPPORTED_KINDS)})"
            )
    matrix = {layer.name for layer in golden.layers if layer.kind in MATRIX_KINDS}
    unknown = sorted(set(folding or {}) - matrix)
    if unknown:
        raise EmitError(f"folding names layers the network has no matrix unit for: {', '.join(unknown)}")


def _threshold_pe(layer, readers: list, by_name: dict, folding, stream: Stream) -> int:
    """A threshold read only by a dense unit gives its SIMD; else as many values as it is given."""
    if len(readers) == 1 and readers[0] is not None and by_name[readers[0]].kind in ("xnor_dense", "int_dense"):
        return layer_folding(by_name[readers[0]], folding)[1]
    return stream.elems


def _layer_units(layer, ins: list[Stream], readers, by_name, folding, ram) -> list[RtlUnit]:
    """The units of one layer, the last of which gives its output."""
    kind, s = layer.kind, ins[0]
    if kind == "threshold":
        # channels of the last axis: one threshold row or negate flag each (one shared row: any)
        rows, neg = int(layer.thresholds.shape[0]), layer.negate
        channels = rows if rows > 1 else (1 if neg is None else int(np.asarray(neg).size))
        pe = _threshold_pe(layer, readers.get(layer.name, []), by_name, folding, s)
        return [threshold_unit(layer, pe, s, channels)]
    if kind == "conv":
        pe, simd = layer_folding(layer, folding)
        ho, wo, _ = layer.out_shape
        win = window_unit(layer, simd, s)
        return [win, mvu_unit(layer, pe, simd, win.out, pixels=ho * wo, ram=ram.get(layer.name, "auto"))]
    if kind in ("xnor_dense", "int_dense"):
        return [mvu_unit(layer, *layer_folding(layer, folding), s, ram=ram.get(layer.name, "auto"))]
    if kind == "maxpool":
        return [maxpool_unit(layer, s)]
    if kind == "fixed_chain":
        return [fixed_chain_unit(layer, s)]
    if kind == "fixed_add":
        return [add_unit(layer, *ins)]
    return [concat_unit(layer, *ins)]


def rtl_units(golden, folding: dict | None = None, weight_ram: dict | None = None) -> list[RtlUnit]:
    """The kernel instances of ``golden`` (layers of the :data:`SUPPORTED_KINDS`) in order, each
    with its ``sources``; the last gives the network output.  ``weight_ram``: layer name -> memory
    style of its weights (:data:`hw_bnn.rtl.units.RAM_STYLES`; default ``auto``, the tool's)."""
    _check(golden, folding)
    sources = layer_sources(golden)
    readers = _readers(sources)
    for name in sources:
        if name is not None and not readers.get(name):
            raise EmitError(f"layer {name}: its output is read by no later layer (the stream would stall)")
    by_name = {layer.name: layer for layer in golden.layers}
    made: dict = {None: (-1, network_input(golden, folding))}  # tensor -> (unit index, stream)
    units: list[RtlUnit] = []
    for layer in golden.layers:
        if layer.kind == "flatten":
            continue
        feeds = [made[s] for s in sources[layer.name]]
        new = _layer_units(layer, [st for _, st in feeds], readers, by_name, folding, weight_ram or {})
        for k, u in enumerate(new):
            u.sources = tuple(i for i, _ in feeds) if k == 0 else (len(units) + k - 1,)
        units += new
        made[layer.name] = (len(units) - 1, new[-1].out)
    if made[sources[None][0]][0] != len(units) - 1:
        raise EmitError("the network's output is not its last unit")
    return units

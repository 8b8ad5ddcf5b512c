"""The integer graph's metadata: the output affine and the fixed-point settings.

``hw_bnn.output_affine`` (:data:`AFFINE_KEY`), written by ``AbsorbOutputChain``: the
per-channel float32 affine from the integer output accumulator ``a`` to the exported model's
output, ``y = float32(float32(a * scale) + bias)``, or with an exact prefix first
``y = float32(float32((a * pre_scale + pre_offset) * scale) + bias)``; or, where no affine equals
the exported chain, its ``steps`` (``u = float32(a)``, then ``u = float32(u op c)`` for each
``{"op": Mul | Add | Sub | Div, "const": c}``, per channel or one value) and no scale.

``hw_bnn.fixed_point`` (:data:`FIXED_KEY`), written by ``LowerFixedPoint``: ``frac``,
``slope_frac``, ``rounding``, ``overflow`` and the width of every fixed-point tensor; present
only in networks with fixed-point shortcuts.

``hw_bnn.float_scales`` (:data:`FLOAT_SCALES_KEY`), written by the weight and linear passes: the
nodes whose scale is not a power of two (``{"node", "what", "values"}`` each).  The exported
float graph then rounds its sums and is not exactly a function of the integer accumulators;
the integer graph computes the model's *integer semantics* (exact accumulators, then the
scales and the chain in float32), and its differences from the export are proven rounding
ties (:mod:`hw_bnn.compile.near_ties`).
"""

from __future__ import annotations

import json

import numpy as np

AFFINE_KEY = "hw_bnn.output_affine"
FIXED_KEY = "hw_bnn.fixed_point"
FLOAT_SCALES_KEY = "hw_bnn.float_scales"


def record_float_scale(model, v, node, what: str) -> None:
    """Note in the metadata that ``node``'s ``what`` (a scale) is not a power of two."""
    values = [float(x) for x in np.asarray(v, dtype=np.float64).reshape(-1)[:4]]
    notes = float_scales(model)
    if not any(n["node"] == node.name and n["what"] == what for n in notes):
        notes.append({"node": node.name, "what": what, "values": values})
        model.set_metadata_prop(FLOAT_SCALES_KEY, json.dumps(notes))


def float_scales(model) -> list:
    """The nodes with scales that are not powers of two (:func:`record_float_scale`), or []."""
    meta = model.get_metadata_prop(FLOAT_SCALES_KEY)
    return json.loads(meta) if meta else []


def output_affine(model):
    """(scale, bias, pre) of the documented output affine; ``pre`` is None or the exact
    ``(pre_scale, pre_offset)`` applied to the accumulator first."""
    meta = model.get_metadata_prop(AFFINE_KEY)
    if not meta:
        return None, None, None
    d = json.loads(meta)
    if "steps" in d:
        return None, None, None
    pre = None
    if "pre_scale" in d:
        pre = (np.float32(d["pre_scale"]), np.asarray(d["pre_offset"], dtype=np.float32))
    return np.asarray(d["scale"], dtype=np.float32), np.asarray(d["bias"], dtype=np.float32), pre


def output_steps(model) -> tuple | None:
    """The output steps ``((op, c float32), ...)`` of the output affine, or None."""
    meta = model.get_metadata_prop(AFFINE_KEY)
    steps = json.loads(meta).get("steps") if meta else None
    if steps is None:
        return None
    return tuple((str(s["op"]), np.asarray(s["const"], dtype=np.float32)) for s in steps)

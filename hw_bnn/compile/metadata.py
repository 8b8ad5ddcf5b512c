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
"""

from __future__ import annotations

import json

import numpy as np

AFFINE_KEY = "hw_bnn.output_affine"
FIXED_KEY = "hw_bnn.fixed_point"


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

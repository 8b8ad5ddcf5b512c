"""The integer graph's metadata: the output affine and the fixed-point settings.

``hw_bnn.output_affine`` (:data:`AFFINE_KEY`), written by ``AbsorbOutputChain``: the
per-channel float32 affine from the integer output accumulator ``a`` to the exported model's
output, ``y = float32(float32(a * scale) + bias)``, or with an exact prefix first
``y = float32(float32((a * pre_scale + pre_offset) * scale) + bias)``.

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
    pre = None
    if "pre_scale" in d:
        pre = (np.float32(d["pre_scale"]), np.asarray(d["pre_offset"], dtype=np.float32))
    return np.asarray(d["scale"], dtype=np.float32), np.asarray(d["bias"], dtype=np.float32), pre

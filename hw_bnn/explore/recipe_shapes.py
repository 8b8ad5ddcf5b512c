"""The matrix units of a recipe's network without training it (imports torch).

``hw-bnn fold --model`` and ``benchmarks/bench_fold.py`` fold networks that were never built:
their shapes come from the untrained Brevitas model.  This sits above :mod:`hw_bnn.dse`, whose
search never imports torch or the training stack.
"""

from __future__ import annotations

import math

from hw_bnn.dse.units import MVU
from hw_bnn.train.recipes import load_recipe
from hw_bnn.train.zoo import summarize


def recipe_mvu_layers(recipe_name: str) -> list[MVU]:
    """The matrix units of a recipe's network, from its untrained Brevitas model.

    Shapes and bit widths come from :func:`hw_bnn.train.zoo.summarize` (forward hooks on every
    QuantConv2d / QuantLinear): a weight of shape ``(MH, ...)`` gives ``MW = prod(shape[1:])``
    and ``pixels = MACs / (MH * MW)``.  Every unit but the last has ``2**act_bits - 1`` thresholds
    per channel, the last outputs its accumulator.  Accumulator widths are the worst case of the
    bit widths (a compiled integer network gives the exact ones through
    :func:`hw_bnn.dse.units.mvu_layers`)."""
    recipe = load_recipe(recipe_name)
    rows = summarize(recipe)["layers"]
    out = []
    for i, r in enumerate(rows):
        shape = r["shape"]
        mh, mw = int(shape[0]), math.prod(int(v) for v in shape[1:])
        pixels = r["macs"] // (mh * mw)
        levels = 0 if i == len(rows) - 1 else (1 << recipe.act_bits) - 1
        xnor = bool(r["binary"])
        kind = "conv" if len(shape) == 4 else ("xnor_dense" if xnor else "int_dense")
        out.append(
            MVU(r["name"], kind, mh, mw, pixels, int(r["weight_bits"]), int(r["input_bits"]), False, xnor, levels)
        )
    return out

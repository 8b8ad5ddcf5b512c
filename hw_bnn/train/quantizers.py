"""The Brevitas quantizers of the recipes' networks (torch and Brevitas; imported by
:mod:`hw_bnn.train.networks`).

Every scale is a power of two, so a quantized tensor is an integer code times a scale that
float arithmetic represents exactly:

* ``BinaryWeightUnitScale``: ``w_q = sign(w)`` in {-1, +1} (``sign(0) = +1``), scale 1;
* ``TernaryWeightUnitScale``: ``w_q = round(clip(w, -1, 1))`` in {-1, 0, 1}, scale 1;
* ``BinaryAct``: ``x_q = sign(x)`` in {-1, +1}, scale 1;
* ``TwoBitAct``: ``x_q = s * clip(round(x / s), -2, 1)`` with ``s = 1/2``, the levels
  {-1, -0.5, 0, 0.5};
* ``TransitionWeight`` / ``TransitionAct`` (BinaryDenseNet's 1x1 transitions): Brevitas'
  signed fixed-point weights and unsigned fixed-point activations, power-of-two scales, the bit
  widths set per layer (``transition_bits``, ``transition_act_bits``).

Gradients: the straight-through estimator inside the clipping range (``dL/dx = dL/dx_q *
1[|x| <= 1]`` for the binary ones).
"""

from __future__ import annotations

from brevitas.quant.base import IntQuant, NarrowIntQuant, PerTensorConstScaling2bit
from brevitas.quant.binary import SignedBinaryActPerTensorConst, SignedBinaryWeightPerTensorConst
from brevitas.quant.fixed_point import Int8WeightPerTensorFixedPoint, Uint8ActPerTensorFixedPoint
from brevitas.quant.solver import ActQuantSolver, WeightQuantSolver

from hw_bnn.errors import RecipeError


class BinaryWeightUnitScale(SignedBinaryWeightPerTensorConst):
    """sign(w) with a constant scale of 1: weights are exactly +-1 (clipped to [-1, 1])."""

    scaling_const = 1.0


class BinaryAct(SignedBinaryActPerTensorConst):
    """sign(x) (x >= 0 gives +1) with a constant scale of 1, straight-through gradient."""


class TernaryWeightUnitScale(NarrowIntQuant, PerTensorConstScaling2bit, WeightQuantSolver):
    """Narrow signed 2-bit weights: round(clip(w, -1, 1)) in {-1, 0, 1}, scale 1
    (straight-through gradient)."""

    scaling_const = 1.0


class TwoBitAct(IntQuant, PerTensorConstScaling2bit, ActQuantSolver):
    """Signed 2-bit activations: s * clip(round(x / s), -2, 1) with s = 1/2, i.e. the
    levels {-1, -0.5, 0, 0.5} (straight-through gradient inside the clipping range)."""

    scaling_const = 1.0
    min_val = -1.0
    max_val = 1.0


# BinaryDenseNet's transitions: Brevitas' own fixed-point quantizers; the layer sets the bits
TransitionWeight = Int8WeightPerTensorFixedPoint  # signed, power-of-two scale (weight_bit_width=)
TransitionAct = Uint8ActPerTensorFixedPoint  # unsigned, power-of-two scale (bit_width=)


def weight_quantizer(bits: int):
    """The weight quantizer of ``weight_bits``: 1 binary, 2 ternary."""
    if bits == 1:
        return BinaryWeightUnitScale
    if bits == 2:
        return TernaryWeightUnitScale
    raise RecipeError(f"weight_bits {bits!r} has no quantizer (1 or 2)")


def act_quantizer(bits: int):
    """The activation quantizer of ``act_bits``: 1 sign, 2 the signed 2-bit levels."""
    if bits == 1:
        return BinaryAct
    if bits == 2:
        return TwoBitAct
    raise RecipeError(f"act_bits {bits!r} has no quantizer (1 or 2)")

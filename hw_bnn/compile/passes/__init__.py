"""The compiler passes, one module per family, each a qonnx ``Transformation`` testable alone.

=================  ==========================================================================
``checks``         ``SetInputDatatype``, ``CheckSupportedOps``, ``CheckIntegerOnly``
``avgpool``        ``AvgPoolAsConv``: average pooling (global or k x k) -> a sum ``Conv`` and a ``Div``
``gemm``           ``GemmAsMatMul``: a ``QuantLinear`` with a bias (``Gemm``) -> ``MatMul`` + ``Add``
``layout``         ``SimplifyLayout``: Reshape / Flatten / Transpose out of the computation's way
``weights``        ``AbsorbWeightQuantizers``: quantized constant weights -> integer weights
``chains``         ``AbsorbQuantizerChains``: accumulator -> chain -> quantizer -> thresholds
``linear``         ``IntegerizeLinear``: MatMul / Conv on codes (XNOR-popcount or integer)
``fixed_point``    ``LowerFixedPoint``: residual shortcuts -> ``FixedChain`` / ``FixedAdd``
``concat``         ``LowerConcat``: ``Concat`` -> ``IntConcat`` of integer tensors
``output``         ``AbsorbOutputChain``: integer output accumulator plus the output affine
=================  ==========================================================================

:mod:`hw_bnn.compile.pipeline` runs them in order.
"""

from hw_bnn.compile.passes.avgpool import AvgPoolAsConv
from hw_bnn.compile.passes.chains import AbsorbQuantizerChains
from hw_bnn.compile.passes.checks import CheckIntegerOnly, CheckSupportedOps, SetInputDatatype
from hw_bnn.compile.passes.concat import LowerConcat
from hw_bnn.compile.passes.fixed_point import LowerFixedPoint
from hw_bnn.compile.passes.gemm import GemmAsMatMul
from hw_bnn.compile.passes.layout import SimplifyLayout
from hw_bnn.compile.passes.linear import IntegerizeLinear
from hw_bnn.compile.passes.output import AbsorbOutputChain
from hw_bnn.compile.passes.weights import AbsorbWeightQuantizers

__all__ = [
    "AbsorbOutputChain", "AbsorbQuantizerChains", "AbsorbWeightQuantizers", "CheckIntegerOnly", "CheckSupportedOps",
    "GemmAsMatMul", "AvgPoolAsConv", "IntegerizeLinear", "LowerConcat", "LowerFixedPoint", "SetInputDatatype",
    "SimplifyLayout",
]  # fmt: skip

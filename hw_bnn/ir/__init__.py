"""The integer IR: the network the compiler makes and every backend reads.

A network is a list of integer layers (:mod:`hw_bnn.ir.layers`: thresholds, XNOR-popcount and
integer matrix-vector units, convolutions, max pooling, flatten, fixed-point chains and adds,
concatenations) plus the documented output affine (:mod:`hw_bnn.ir.network`). Running it in
NumPy is the golden model, the bit-exact reference for the C and RTL simulations. The compiler
writes it as ``golden.npz``; the hls4ml backend, the cost model and the report read it.

This package imports NumPy only, so it can ship beside a hardware build and be trusted alone.

=======================  ====================================================================
``ranges``               value ranges and bit widths (accumulators, thresholds, fixed-point
                         chains), divisors; the limits every stage checks
``fixed``                ``ap_fixed`` rounding and overflow on int64 codes
``thresholds``           step functions on a finite integer domain -> MultiThreshold levels
``layers``               the layer kinds and their exact semantics
``network``              :class:`IntegerNetwork`: run (the golden model), predict, ``.npz`` I/O
=======================  ====================================================================
"""

from hw_bnn.ir.fixed import OVERFLOW_MODES, ROUNDING_MODES, ap_overflow, ap_round_shift
from hw_bnn.ir.layers import (
    SPATIAL_KINDS,
    ConcatLayer,
    ConvLayer,
    FixedAddLayer,
    FixedChainLayer,
    FlattenLayer,
    IntDenseLayer,
    Layer,
    MaxPoolLayer,
    ThresholdLayer,
    XnorDenseLayer,
    conv_out_size,
    im2col,
)
from hw_bnn.ir.network import IntegerNetwork
from hw_bnn.ir.ranges import (
    FLOAT32_EXACT_LIMIT,
    GOLDEN_INT_LIMIT,
    MATRIX_KINDS,
    MAX_SLOPE_FRAC,
    bits_for_range,
    clip_thresholds,
    code_range,
    divisors,
    fixed_chain_out_range,
    fixed_chain_ranges,
    fixed_out_range,
    int_acc_range,
    negated_range,
    partial_sum_bound,
    signed_range,
    signed_width,
    threshold_range,
    weight_range,
    xnor_acc_range,
)

__all__ = [
    "FLOAT32_EXACT_LIMIT", "GOLDEN_INT_LIMIT", "MATRIX_KINDS", "MAX_SLOPE_FRAC", "OVERFLOW_MODES", "ROUNDING_MODES",
    "SPATIAL_KINDS", "ConcatLayer", "ConvLayer", "FixedAddLayer", "FixedChainLayer", "FlattenLayer", "IntDenseLayer",
    "IntegerNetwork", "Layer", "MaxPoolLayer", "ThresholdLayer", "XnorDenseLayer", "ap_overflow", "ap_round_shift",
    "bits_for_range", "clip_thresholds", "code_range", "conv_out_size", "divisors", "fixed_chain_out_range",
    "fixed_chain_ranges", "fixed_out_range", "im2col", "int_acc_range", "negated_range", "partial_sum_bound",
    "signed_range", "signed_width", "threshold_range", "weight_range", "xnor_acc_range",
]  # fmt: skip

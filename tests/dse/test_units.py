"""Matrix units: folding legality, and the units of integer networks (compiled and hand-built)."""

import numpy as np
import pytest

from hw_bnn.dse.folding import fold_for_target, layer_candidates
from hw_bnn.dse.units import MVU, check_folding, mvu_layers
from hw_bnn.errors import FoldingError, HwBnnError
from hw_bnn.ir import ConvLayer, FlattenLayer, IntegerNetwork, MaxPoolLayer, XnorDenseLayer
from hw_bnn.ir.ranges import divisors

# --- folding legality ----------------------------------------------------------------


def test_check_folding_names_layer_and_legal_values():
    layers = [MVU.dense("fc0", mw=784, mh=64)]
    with pytest.raises(
        FoldingError, match=r"layer 'fc0': PE=5 does not divide MH=64; legal PE: 1, 2, 4, 8, 16, 32, 64$"
    ):
        check_folding(layers, {"fc0": {"PE": 5}})
    with pytest.raises(
        FoldingError, match=r"layer 'fc0': SIMD=3 does not divide MW=784; legal SIMD: 1, 2, 4, 7, 8, 14"
    ):
        check_folding(layers, {"fc0": {"SIMD": 3}})
    with pytest.raises(FoldingError, match=r"unknown layer\(s\) 'fc9'.*fc0"):
        check_folding(layers, {"fc9": {"PE": 1}})
    with pytest.raises(FoldingError, match="PE=0 must be a positive integer"):
        check_folding(layers, {"fc0": {"PE": 0}})
    with pytest.raises(FoldingError, match="unknown folding key"):
        check_folding(layers, {"fc0": {"pe": 2}})
    assert check_folding(layers, {}) == {"fc0": {"PE": 64, "SIMD": 784}}  # left out: fully parallel
    assert issubclass(FoldingError, HwBnnError) and issubclass(FoldingError, ValueError)


# --- units from golden models ---------------------------------------------------------


def test_mvu_layers_from_compiled_graph():
    from hw_bnn.compile.lower import lower_to_ir
    from hw_bnn.compile.pipeline import compile_model
    from tests.graphs import binary_mlp

    golden = lower_to_ir(compile_model(binary_mlp(np.random.default_rng(0), [30, 12, 12, 5])))
    units = mvu_layers(golden)
    mats = [layer for layer in golden.layers if layer.kind == "xnor_dense"]
    assert [u.name for u in units] == [layer.name for layer in mats]  # the input threshold is not a unit
    assert [(u.mw, u.mh, u.pixels) for u in units] == [(30, 12, 1), (12, 12, 1), (12, 5, 1)]
    assert all(u.xnor and u.weight_bits == 1 and u.in_bits == 1 for u in units)
    # hidden units: popcount [0, MW] (thresholds clipped to <= MW + 1): 30 -> 5 bits, 12 -> 4 bits
    assert [(u.acc_bits, u.acc_signed, u.n_thresholds, u.out_bits) for u in units[:2]] == [
        (5, False, 1, 1),
        (4, False, 1, 1),
    ]
    # last unit: the bipolar accumulator in [-12, 12] -> 5 bits signed, no thresholds
    assert (units[2].acc_bits, units[2].acc_signed, units[2].n_thresholds, units[2].out_bits) == (5, True, 0, None)


def test_mvu_layers_from_hand_built_cnn():
    c_out = 4
    conv = ConvLayer(
        "conv0", (6, 6, 1), 3, 1, 1, 0, np.ones((9, c_out), np.int8), False, np.full((c_out, 1), 100), in_levels=255
    )
    pool = MaxPoolLayer("pool0", (6, 6, c_out), 2, 2)
    flat = FlattenLayer("flat", (3, 3, c_out))
    fc = XnorDenseLayer("fc0", np.zeros((36, 10), np.uint8))
    golden = IntegerNetwork([conv, pool, flat, fc], input_shape=(1, 6, 6))
    u_conv, u_fc = mvu_layers(golden)
    # conv: MW = 3*3*1 = 9, MH = 4, 6x6 output pixels (pad 1); weights +1 only: one bipolar bit;
    # inputs 0..255: 8 bits; accumulator [0, 9 * 255 = 2295] -> 12 bits unsigned
    assert (u_conv.kind, u_conv.mw, u_conv.mh, u_conv.pixels) == ("conv", 9, 4, 36)
    assert (u_conv.weight_bits, u_conv.in_bits, u_conv.xnor, u_conv.acc_bits, u_conv.acc_signed) == (
        1,
        8,
        False,
        12,
        False,
    )
    assert (u_fc.kind, u_fc.mw, u_fc.mh, u_fc.acc_bits, u_fc.acc_signed) == ("xnor_dense", 36, 10, 7, True)
    assert (u_conv.in_channels, u_fc.in_channels) == (1, 0)


def test_simd_options_take_whole_pixel_parts():
    # 3x3 window over 12 channels: MW = 108; SIMD must divide 12 or be a multiple of it
    conv = MVU.conv("c", (8, 8), 12, 16, 3, pad=1)
    assert conv.simd_options() == [1, 2, 3, 4, 6, 12, 36, 108]
    assert {9, 18, 27, 54} & set(divisors(conv.mw)) == {9, 18, 27, 54}  # left out, though they divide MW
    assert MVU.dense("d", 108, 16).simd_options() == divisors(108)
    # the folders choose only from them
    folding = fold_for_target([conv], 8 * 8 * 16 * 108 // 9)
    assert folding["c"]["SIMD"] in conv.simd_options()
    assert {c.simd for c in layer_candidates(conv)} == set(conv.simd_options())


def test_mvu_rejects_bad_shapes():
    with pytest.raises(FoldingError, match="layer 'x'"):
        MVU("x", "maxpool", 4, 4)
    with pytest.raises(FoldingError, match="XNOR unit"):
        MVU("x", "xnor_dense", 4, 4, weight_bits=2)
    with pytest.raises(FoldingError, match="does not fit"):
        MVU.conv("c", (2, 2), 1, 1, kernel=5)

"""The matrix units of an untrained recipe network (shapes from forward hooks, worst-case widths)."""

from hw_bnn.dse.units import MVU
from hw_bnn.explore.recipe_shapes import recipe_mvu_layers


def test_tfc_units_are_the_four_xnor_layers():
    units = recipe_mvu_layers("tfc-w1a1")
    assert [(u.name, u.kind, u.mh, u.mw, u.pixels) for u in units] == [
        ("fc1", "xnor_dense", 64, 784, 1),
        ("fc2", "xnor_dense", 64, 64, 1),
        ("fc3", "xnor_dense", 64, 64, 1),
        ("fc4", "xnor_dense", 10, 64, 1),
    ]
    # hidden units: one threshold (1-bit codes), popcount [0, MW] -> 10 bits for MW = 784;
    # the last unit outputs its bipolar sum in [-64, 64]: 8 bits signed
    assert [(u.n_thresholds, u.acc_bits, u.acc_signed) for u in units] == [
        (1, 10, False),
        (1, 7, False),
        (1, 7, False),
        (0, 8, True),
    ]
    assert units[0] == MVU.dense("fc1", 784, 64)  # the same unit as built by shape


def test_conv_units_count_output_pixels():
    conv1, conv2, conv3, fc = recipe_mvu_layers("tcnv-digits-w1a1")
    # conv1 reads 8-bit pixels: an integer unit (MW = 3*3*1), 8x8 output pixels
    assert (conv1.kind, conv1.mh, conv1.mw, conv1.pixels, conv1.xnor, conv1.in_bits) == ("conv", 16, 9, 64, False, 8)
    assert (conv2.mh, conv2.mw, conv2.pixels, conv2.xnor) == (32, 16 * 9, 64, True)
    assert (conv3.mh, conv3.mw, conv3.pixels) == (32, 32 * 9, 4)
    assert (fc.kind, fc.mh, fc.mw, fc.n_thresholds) == ("xnor_dense", 10, 128, 0)

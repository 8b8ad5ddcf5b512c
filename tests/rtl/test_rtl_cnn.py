"""Convolutional networks in RTL against the golden model: the hls4ml tests' small CNNs (integer
and XNOR convolutions with padding codes, strides 1 and 2, kernels 1 to 3, max pooling with
kernel != stride, 2-bit codes, an image quantizer per channel, accumulator outputs), fully
parallel and folded, with back-pressure; cycles per frame as the cost model says."""

import pytest

from hw_bnn.dse.units import mvu_layers
from hw_bnn.rtl import emit_rtl
from hw_bnn.sim.rtlsim import verify_rtl
from tests.hls4ml_ext.test_emit_cnn import make_cnn_a, make_cnn_b, make_cnn_c
from tests.rtl.test_rtl_dense import predicted_interval

FOLDINGS = {
    "a": {"c0_int": {"PE": 3, "SIMD": 6}, "c1_xnor": {"PE": 2, "SIMD": 9}, "fc": {"PE": 3, "SIMD": 5}},
    "b": {"c0_w1a2": {"PE": 4, "SIMD": 2}, "c1_w2a2": {"PE": 5, "SIMD": 8}, "out_acc": {"PE": 1, "SIMD": 4}},
    "c": {"c0": {"PE": 5, "SIMD": 3}},
}
# SIMD a proper divisor of the input channels: each window's beat is a part of one pixel
# (hwbnn_window's pixel mux, parts G = C / SIMD of 2 to 4; stride 2, padding, 2-bit codes)
PARTS = {
    "a": {"c1_xnor": {"PE": 2, "SIMD": 3}, "c2_s2": {"PE": 1, "SIMD": 2}},
    "b": {"c1_w2a2": {"PE": 5, "SIMD": 4}},
    "c": {"c1_acc": {"SIMD": 1}},
}
NETS = {"a": make_cnn_a, "b": make_cnn_b, "c": make_cnn_c}


@pytest.mark.parametrize("name", sorted(NETS))
@pytest.mark.parametrize("folded", [None, "folded", "parts"], ids=["parallel", "folded", "parts"])
def test_cnn_is_bit_exact(tmp_path, name, folded):
    golden, x = NETS[name]()
    folding = {"folded": FOLDINGS, "parts": PARTS}[folded][name] if folded else None
    emit_rtl(golden, tmp_path / "rtl", folding)
    free = verify_rtl(golden, tmp_path / "rtl", x[:24])
    assert free["mismatched_images"] == 0, free.get("first_mismatch")
    assert free["interval_cycles"] == predicted_interval(golden, folding)
    if folded:
        pressed = verify_rtl(golden, tmp_path / "rtl", x[:12], seed=3, p_stall=0.3, p_gap=0.3)
        assert pressed["mismatched_images"] == 0


def test_the_cost_model_counts_these_units():
    assert [u.name for u in mvu_layers(make_cnn_a()[0])] == ["c0_int", "c1_xnor", "c2_s2", "c3_1x1", "fc", "logits"]


def test_a_max_pool_at_the_output_under_back_pressure(tmp_path):
    """A signed max pool as the last unit (its output register is the network's output, stalled at
    random by the harness): 0 mismatches.  Without stalls the interval is the cost model's 36
    cycles (the convolution's 36 pixels); the pool's 25 output beats (2 x 2, stride 1) at half
    rate would take 50."""
    import numpy as np

    from hw_bnn.ir import ConvLayer, IntegerNetwork, MaxPoolLayer, ThresholdLayer

    rng = np.random.default_rng(3)
    h, c_in, c = 6, 2, 4
    t0 = np.sort(rng.integers(40, 220, size=(c_in, 1)), axis=1).astype(np.int64)
    layers = [
        ThresholdLayer("q0", t0, (0, 255)),
        ConvLayer("c0", (h, h, c_in), 3, 1, 1, 0, rng.integers(0, 2, size=(9 * c_in, c)).astype(np.uint8), True),
        MaxPoolLayer("p0", (h, h, c), 2, 1, in_levels=18, in_lo=-18),
    ]
    net = IntegerNetwork(layers, input_shape=(c_in, h, h), input_range=(0, 255))
    emit_rtl(net, tmp_path / "rtl", {"c0": {"PE": 4, "SIMD": 18}})
    x = rng.integers(0, 256, size=(24, c_in, h, h))
    free = verify_rtl(net, tmp_path / "rtl", x)
    assert free["mismatched_elements"] == 0 and free["interval_cycles"] == free["predicted_interval_cycles"] == 36
    pressed = verify_rtl(net, tmp_path / "rtl", x, seed=5, p_stall=0.6)
    assert pressed["mismatched_elements"] == 0, pressed.get("first_mismatch")

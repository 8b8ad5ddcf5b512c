"""The FINN-R cost model against hand-computed cases, unit extraction from golden models, devices."""

import json

import numpy as np
import pytest

from hw_bnn.dse.cost import (
    MVU,
    CostParams,
    FoldingError,
    bram18_count,
    check_folding,
    layer_cost,
    mvu_layers,
    network_cost,
)
from hw_bnn.dse.devices import Device, DeviceError, fit, get_device
from hw_bnn.errors import HwBnnError
from hw_bnn.ir import ConvLayer, FlattenLayer, IntegerNetwork, MaxPoolLayer, XnorDenseLayer

# --- LUT / BRAM / cycles, worked by hand ---------------------------------------------


BLOCK = CostParams(weight_ram="block")  # the FINN-R BRAM formula; the default puts shallow memories in LUTs


def test_xnor_dense_finn_r_worked_example():
    u = MVU.dense("fc", mw=64, mh=32, n_thresholds=1)
    # popcount in [0, 64] -> 7 bits unsigned
    assert (u.acc_bits, u.acc_signed, u.out_bits, u.xnor) == (7, False, 1, True)
    c = layer_cost(u, pe=4, simd=8, params=BLOCK)
    # cycles = (MH/PE) * (MW/SIMD) = (32/4) * (64/8) = 8 * 8 = 64
    assert c.cycles == 64
    # mult  = SIMD XNORs                          = 8
    # adder = (W + A) * (2*SIMD - 1) = 2 * 15     = 30
    # acc   = 7
    # thr   = L * acc * ceil(TMEM/64), TMEM = 8   = 1 * 7 * 1 = 7
    # comp  = L * acc                             = 7
    assert (c.lut_mult, c.lut_adder, c.lut_acc, c.lut_thr, c.lut_comp) == (8, 30, 7, 7, 7)
    # LUT = 300 + 1.1 * PE * (8 + 30 + 7 + 7 + 7) = 300 + 1.1 * 4 * 59 = 300 + 259.6 = 559.6 -> 560
    assert c.lut == 560
    # weights: depth 32*64/(4*8) = 64, width 4*8*1 = 32 bits -> one RAMB18 as 36x512
    assert (c.wmem_depth, c.wmem_width, c.bram18, c.dsp) == (64, 32, 1, 0)


def test_integer_conv_finn_r_worked_example():
    # 8x8x2 input, 3x3 kernel, pad 1: MW = 3*3*2 = 18, MH = 4, pixels = 8*8 = 64
    u = MVU.conv("c", (8, 8), c_in=2, c_out=4, kernel=3, pad=1, weight_bits=2, in_bits=4, n_thresholds=3)
    assert (u.kind, u.mw, u.mh, u.pixels, u.xnor) == ("conv", 18, 4, 64, False)
    # weights in [-2, 1], inputs in [0, 15]: products in [-30, 15], sums over 18 in [-540, 270] -> 11 bits signed
    assert (u.acc_bits, u.acc_signed) == (11, True)
    assert u.out_bits == 2  # codes 0..3
    c = layer_cost(u, pe=2, simd=6, params=BLOCK)
    # cycles = (4/2) * (18/6) * 64 = 2 * 3 * 64 = 384
    assert c.cycles == 384
    # mult  = SIMD * (2*ceil((W+A)/6) - 1) * (W+A) = 6 * (2*1 - 1) * 6 = 36
    # adder = (W+A) * (2*SIMD - 1) = 6 * 11                            = 66
    # acc = 11; TMEM = 4/2 = 2; thr = 3 * 11 * ceil(2/64) = 33; comp = 3 * 11 = 33
    assert (c.lut_mult, c.lut_adder, c.lut_acc, c.lut_thr, c.lut_comp) == (36, 66, 11, 33, 33)
    # LUT = 300 + 1.1 * 2 * (36 + 66 + 11 + 33 + 33) = 300 + 2.2 * 179 = 300 + 393.8 = 693.8 -> 694
    assert c.lut == 694
    # weights: depth 4*18/(2*6) = 6, width 2*6*2 = 24 bits -> one RAMB18 (36x512); 2-bit x 4-bit: LUT multipliers
    assert (c.wmem_depth, c.wmem_width, c.bram18, c.dsp) == (6, 24, 1, 0)


def test_wide_products_and_dsp_rule():
    u = MVU.dense("fc", mw=16, mh=8, weight_bits=4, in_bits=4, n_thresholds=0)
    # LUT multipliers: mult = SIMD * (2*ceil(8/6) - 1) * 8 = 4 * 3 * 8 = 96
    lut_only = layer_cost(u, pe=2, simd=4, params=CostParams(res_type="lut"))
    assert (lut_only.lut_mult, lut_only.dsp) == (96, 0)
    # auto: both operands >= 4 bits -> DSPs, PE * SIMD * ceil(8/48) = 8 of them, no LUT multipliers
    auto = layer_cost(u, pe=2, simd=4, params=BLOCK)
    assert (auto.lut_mult, auto.dsp) == (0, 8)
    # no thresholds: no threshold memory or comparators
    assert (auto.lut_thr, auto.lut_comp, auto.out_bits) == (0, 0, None)
    # acc: 16 products of [-8, 7] x [0, 15] in [-120, 105] -> [-1920, 1680] -> 12 bits signed
    assert (u.acc_bits, auto.lut_acc) == (12, 12)
    # LUT = 300 + 1.1 * 2 * (0 + 8*7 + 12) = 300 + 2.2 * 68 = 449.6 -> 450
    assert auto.lut == 450


@pytest.mark.parametrize(
    "width,depth,expected",
    [
        (1, 20000, 2),  # 1x16384: ceil(20000/16384) = 2
        (40, 600, 3),  # 18x1024: ceil(40/18) * 1 = 3 (36x512 would take 2 * 2 = 4)
        (20, 100, 1),  # 36x512: 1
        (37, 512, 2),  # 36x512: 2 * 1 (18x1024 would take 3)
        (4, 4096, 1),  # 4x4096
        (5, 4096, 2),  # 9x2048: 1 * 2
        (784, 64, 22),  # 36x512: ceil(784/36) = 22
        (0, 10, 0),
    ],
)
def test_bram18_aspect_ratios(width, depth, expected):
    assert bram18_count(width, depth) == expected


def test_distributed_weights_cost_luts_not_bram():
    u = MVU.dense("fc", mw=64, mh=32)
    c = layer_cost(u, 4, 8, CostParams(weight_ram="distributed"))
    # LUTRAM: width 32 * ceil(depth 64 / 64) = 32 LUTs on top of 560
    assert (c.bram18, c.lut_wmem, c.lut) == (0, 32, 592)
    # the default (our kernels' embedded weights): depth 64 <= 128 -> LUTRAM, the same 592
    assert layer_cost(u, 4, 8).lut == 592 and layer_cost(u, 4, 8).weight_ram == "distributed"
    # a deep memory stays in block RAM: PE = SIMD = 1 -> depth 2048 > 128
    assert layer_cost(u, 1, 1).weight_ram == "block" and layer_cost(u, 1, 1).bram18 == 1
    auto = CostParams(weight_ram="auto", lutram_max_depth=64)
    assert layer_cost(u, 4, 8, auto).weight_ram == "distributed"  # depth 64 <= 64
    assert layer_cost(u, 2, 8, auto).weight_ram == "block"  # depth 128 > 64


def test_network_throughput_latency_and_json():
    layers = [MVU.dense("a", mw=16, mh=16), MVU.dense("b", mw=16, mh=4, n_thresholds=0)]
    nc = network_cost(layers, {"a": {"PE": 2, "SIMD": 2}, "b": {"PE": 1, "SIMD": 1}}, clock_mhz=200.0)
    # a: (16/2)*(16/2) = 64 cycles; b: 4*16 = 64; II = 64
    assert [c.cycles for c in nc.layers] == [64, 64]
    assert nc.max_cycles == 64 and nc.latency_cycles == 128
    assert nc.fps == pytest.approx(200e6 / 64)
    assert nc.latency_us == pytest.approx(128 / 200)
    # a unit left out (or a key left out) is fully parallel, as emit builds it: 1 cycle
    part = network_cost(layers, {"a": {"PE": 2}})
    assert part.folding == {"a": {"PE": 2, "SIMD": 16}, "b": {"PE": 4, "SIMD": 16}}
    assert [c.cycles for c in part.layers] == [8, 1]
    assert nc.lut == sum(c.lut for c in nc.layers) and nc.bram18 == sum(c.bram18 for c in nc.layers)
    d = json.loads(json.dumps(nc.to_dict()))
    assert d["folding"] == {"a": {"PE": 2, "SIMD": 2}, "b": {"PE": 1, "SIMD": 1}}
    assert len(d["layers"]) == 2 and "bottleneck" in d
    assert "II 64 cycles" in nc.table()


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
    from hw_bnn.compile.compiler import compile_model, lower_to_ir
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


def test_mvu_rejects_bad_shapes():
    with pytest.raises(FoldingError, match="layer 'x'"):
        MVU("x", "maxpool", 4, 4)
    with pytest.raises(FoldingError, match="XNOR unit"):
        MVU("x", "xnor_dense", 4, 4, weight_bits=2)
    with pytest.raises(FoldingError, match="does not fit"):
        MVU.conv("c", (2, 2), 1, 1, kernel=5)


# --- devices ----------------------------------------------------------------------------


def test_device_catalogue_and_aliases():
    assert get_device("PYNQ-Z2") is get_device("xc7z020") is get_device("pynq-z1")
    z2 = get_device("xc7z020")
    assert (z2.lut, z2.ff, z2.bram18, z2.bram36, z2.dsp) == (53_200, 106_400, 280, 140, 220)
    zcu = get_device("zcu104")
    assert (zcu.name, zcu.lut, zcu.bram18, zcu.uram, zcu.dsp) == ("xczu7ev", 230_400, 624, 96, 1_728)
    u250 = get_device("alveo-u250")
    assert (u250.lut, u250.ff, u250.bram36, u250.uram, u250.dsp) == (1_728_000, 3_456_000, 2_688, 1_280, 12_288)
    with pytest.raises(DeviceError, match=r"unknown device 'kintex'; known devices: xc7z020, pynq-z1, .*xcu250"):
        get_device("kintex")


def test_fit_reports_utilization_headroom_and_overshoot():
    tiny = Device("tiny", "tiny-1", (), lut=1000, ff=2000, bram18=2, uram=0, dsp=0)
    small = network_cost(
        [MVU.dense("fc", mw=64, mh=32)], {"fc": {"PE": 4, "SIMD": 8}}, params=BLOCK
    )  # 560 LUT, 1 BRAM18
    r = fit(small, tiny)
    assert r.fits and r["LUT"].used == 560 and r["LUT"].headroom == 440
    assert r["LUT"].utilization == pytest.approx(56.0) and r["BRAM18"].utilization == pytest.approx(50.0)
    assert not fit(small, tiny, limit=0.5).fits  # 560 > 500
    big = network_cost([MVU.dense("fc", mw=64, mh=32)], {"fc": {"PE": 32, "SIMD": 64}})
    r = fit(big, tiny)
    assert not r.fits and not r["LUT"].fits and r["LUT"].headroom == 1000 - big.lut < 0
    assert "does NOT fit" in r.table() and json.dumps(r.to_dict())

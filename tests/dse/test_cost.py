"""The FINN-R cost model against hand-computed cases."""

import json

import pytest

from hw_bnn.dse.cost import CostParams, bram18_count, layer_cost, network_cost
from hw_bnn.dse.units import MVU

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

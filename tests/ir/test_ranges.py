"""The IR's range and bit-width arithmetic (``hw_bnn.ir.ranges``) against brute force: every range
holds every value the golden layers compute, and is reached where the docstring says it is."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hw_bnn.ir import (
    ConvLayer,
    FixedAddLayer,
    FixedChainLayer,
    IntDenseLayer,
    XnorDenseLayer,
    clip_thresholds,
    code_range,
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


def test_widths_and_code_ranges():
    assert code_range(4, False) == (0, 15) and code_range(4, True) == (-8, 7) == signed_range(4)
    widths = [signed_width(lo, hi) for lo, hi in ((0, 0), (0, 1), (-1, 0), (0, 7), (-8, 7), (-9, 0))]
    assert widths == [1, 2, 1, 4, 4, 5]
    assert weight_range(np.array([[3, 5]])) == (0, 5) and weight_range(np.array([[-2, 1]])) == (-2, 1)


@pytest.mark.parametrize("seed", range(4))
def test_int_acc_range_is_reached_and_bounds_partial_sums(seed):
    rng = np.random.default_rng(seed)
    w = rng.integers(-3, 4, size=(4, 3))
    in_hi = int(rng.integers(0, 4))
    xs = np.asarray(list(itertools.product(range(in_hi + 1), repeat=4)))
    acc = xs @ w
    assert int_acc_range(w, in_hi) == (min(int(acc.min()), 0), max(int(acc.max()), 0))
    partial = np.cumsum(xs[:, :, None] * w[None], axis=1)
    assert np.abs(partial).max() <= partial_sum_bound(w, in_hi)
    layer = IntDenseLayer("d", w.astype(np.int8), in_levels=max(1, in_hi))
    assert layer.acc_range() == int_acc_range(w, max(1, in_hi)) and layer.acc_range(in_hi) == int_acc_range(w, in_hi)


def test_xnor_acc_range_is_the_popcount_or_the_bipolar_sum():
    w = np.ones((5, 2), dtype=np.uint8)
    assert xnor_acc_range(5, popcount=True) == (0, 5) and xnor_acc_range(5, popcount=False) == (-5, 5)
    assert XnorDenseLayer("x", w, thresholds=np.zeros((2, 1), dtype=np.int64)).acc_range() == (0, 5)
    assert XnorDenseLayer("x", w).acc_range() == (-5, 5)


def test_conv_acc_range_counts_the_pad_code():
    w = np.full((9, 1), -2, dtype=np.int8)
    conv = ConvLayer("c", (4, 4, 1), 3, 1, 1, pad_value=2, weights=w, xnor=False, in_levels=3)
    assert conv.acc_range() == int_acc_range(w, 3)  # the layer's own codes 0..3 cover the pad code
    assert conv.acc_range(1) == int_acc_range(w, 2) == (-36, 0)  # inputs 0..1, but the border is 2


@pytest.mark.parametrize("negate", [None, [False, False], [True, False], [True, True]])
def test_negated_range_covers_the_compared_values(negate):
    lo, hi = -3, 5
    x = np.arange(lo, hi + 1)[:, None].repeat(2, axis=1)
    cmp = np.where(np.asarray(negate if negate is not None else [False, False]), -x, x)
    assert negated_range(lo, hi, negate) == (int(cmp.min()), int(cmp.max()))


def test_clipped_thresholds_keep_the_function():
    rng = np.random.default_rng(0)
    lo, hi = -4, 6
    t = rng.integers(-20, 20, size=(3, 4))
    tc = clip_thresholds(t, lo, hi)
    v = np.arange(lo, hi + 1)[:, None, None]
    assert np.array_equal((v >= t).sum(-1), (v >= tc).sum(-1))
    assert threshold_range(t, lo, hi) == (int(tc.min()), int(tc.max())) and lo <= tc.min() and tc.max() <= hi + 1


def _chain(rng, *, in_frac, frac, sf, width, rounding, overflow, x_lo, x_hi, c=3):
    return FixedChainLayer(
        "f",
        (c,),
        breakpoint=rng.integers(-40, 40, size=c),
        pos_slope=rng.integers(-9, 10, size=c),
        neg_slope=rng.integers(-9, 10, size=c),
        offset=rng.integers(-30, 30, size=c),
        in_frac=in_frac,
        frac=frac,
        slope_frac=sf,
        width=width,
        in_range=(x_lo, x_hi),
        rounding=rounding,
        overflow=overflow,
    )


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("rounding,overflow", [("rnd_conv", "sat"), ("rnd", "wrap"), ("trn", "sat")])
def test_fixed_chain_ranges_hold_every_golden_value(seed, rounding, overflow):
    rng = np.random.default_rng(seed)
    in_frac = int(rng.integers(0, 3))
    frac, sf = in_frac + int(rng.integers(0, 3)), int(rng.integers(0, 4))
    x_lo, x_hi = -int(rng.integers(0, 30)), int(rng.integers(0, 30))
    layer = _chain(rng, in_frac=in_frac, frac=frac, sf=sf, width=9, rounding=rounding, overflow=overflow,
                   x_lo=x_lo, x_hi=x_hi)  # fmt: skip
    params = (in_frac, frac, sf, layer.breakpoint, layer.pos_slope, layer.neg_slope, layer.offset)
    x = np.arange(x_lo, x_hi + 1, dtype=np.int64)[:, None].repeat(3, axis=1)
    t = (x << (frac - in_frac)) - layer.breakpoint
    p = t * np.where(t >= 0, layer.pos_slope, layer.neg_slope) + (layer.offset << sf)
    r = fixed_chain_ranges(x_lo, x_hi, *params)
    assert r["t"] == (int(t.min()), int(t.max()))
    assert r["p"][0] <= p.min() and p.max() <= r["p"][1] and r["mag"] >= np.abs(p).max()
    y = layer.run(x)
    lo, hi = fixed_chain_out_range(x_lo, x_hi, *params, 9, rounding, overflow)
    assert lo <= y.min() and y.max() <= hi
    if frac == in_frac and overflow == "sat":  # every t is reached: the range is exact
        assert r["p"] == (int(p.min()), int(p.max()))
        assert (lo, hi) == (int(y.min()), int(y.max()))


@pytest.mark.parametrize("overflow", ["sat", "wrap"])
def test_fixed_out_range_of_an_add(overflow):
    add = FixedAddLayer("a", (1,), width=5, inputs=("x", "y"), overflow=overflow)
    a = np.arange(-16, 16)
    s = add.forward(a[:, None], a[None, :]).astype(np.int64)
    lo, hi = fixed_out_range(-32, 30, 0, "trn", 5, overflow)
    assert (lo, hi) == (int(s.min()), int(s.max())) == signed_range(5)
    assert fixed_out_range(-3, 4, 0, "trn", 5, overflow) == (-3, 4)  # nothing overflows

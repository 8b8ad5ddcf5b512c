"""Auto-folding: exact against brute force on small instances, targets, budgets and the baseline."""

import itertools

import numpy as np
import pytest

from hw_bnn.dse.cost import CostParams, layer_cost, network_cost
from hw_bnn.dse.devices import Device
from hw_bnn.dse.folding import (
    count_foldings,
    fold_for_budget,
    fold_for_target,
    greedy_setfolding,
    target_cycles_from_fps,
    tradeoff_curve,
)
from hw_bnn.dse.units import MVU
from hw_bnn.errors import FoldingError, InfeasibleTargetError

AUTO = CostParams(weight_ram="auto", lutram_max_depth=4)  # shallow memories in LUTRAM: LUT/BRAM trade-offs


def tfc() -> list[MVU]:
    """TFC-w1a1 (784-64-64-64-10), binarized input: four XNOR units, the last without thresholds."""
    return [
        MVU.dense("fc0", 784, 64),
        MVU.dense("fc1", 64, 64),
        MVU.dense("fc2", 64, 64),
        MVU.dense("fc3", 64, 10, n_thresholds=0),
    ]


def _divs(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _all_foldings(layers, params):
    """Every combination: (max cycles, LUT, BRAM18, folding), enumerated independently of the search."""
    per_layer = [
        [(pe, simd, layer_cost(u, pe, simd, params)) for pe in _divs(u.mh) for simd in _divs(u.mw)] for u in layers
    ]
    out = []
    for combo in itertools.product(*per_layer):
        folding = {u.name: {"PE": pe, "SIMD": simd} for u, (pe, simd, _) in zip(layers, combo)}
        out.append(
            (max(c.cycles for *_, c in combo), sum(c.lut for *_, c in combo), sum(c.bram18 for *_, c in combo), folding)
        )
    return out


def _spread(values: list, n: int) -> list:
    """Up to ``n`` values evenly spread over a sorted list, first and last included."""
    return sorted({values[int(i)] for i in np.linspace(0, len(values) - 1, n).round()})


def _random_instance(rng, n_layers=3):
    layers = []
    for i in range(n_layers):
        mh, mw = (int(v) for v in rng.choice([2, 3, 4, 6, 8, 12], size=2))
        pixels = int(rng.choice([1, 1, 4, 9]))
        if rng.random() < 0.3:
            layers.append(MVU(f"l{i}", "int_dense" if pixels == 1 else "conv", mh, mw, pixels, 2, 3, False, False, 1))
        else:
            layers.append(
                MVU(
                    f"l{i}",
                    "xnor_dense" if pixels == 1 else "conv",
                    mh,
                    mw,
                    pixels,
                    n_thresholds=int(rng.integers(0, 3)),
                )
            )
    return layers


# --- the FINN check -------------------------------------------------------------------


def test_tfc_finn_published_folding_and_ours():
    layers = tfc()
    # FINN's TFC-w1a1 end-to-end example: fc0 PE=16, SIMD=49 -> (64/16) * (784/49) = 4 * 16 = 64 cycles
    finn = {
        "fc0": {"PE": 16, "SIMD": 49},
        "fc1": {"PE": 8, "SIMD": 8},
        "fc2": {"PE": 8, "SIMD": 8},
        "fc3": {"PE": 10, "SIMD": 8},
    }
    finn_cost = network_cost(layers, finn)
    assert finn_cost.layers[0].cycles == 64 and finn_cost.max_cycles == 64
    ours = network_cost(layers, fold_for_target(layers, 64))
    greedy = network_cost(layers, greedy_setfolding(layers, 64))
    assert ours.max_cycles <= 64 and greedy.max_cycles <= 64
    assert ours.lut <= finn_cost.lut and ours.lut <= greedy.lut


@pytest.mark.parametrize("target", [5000, 1000, 300, 100, 64, 16])
def test_auto_fold_no_worse_than_greedy_on_tfc(target):
    layers = tfc()
    ours = network_cost(layers, fold_for_target(layers, target))
    greedy = network_cost(layers, greedy_setfolding(layers, target))
    assert ours.max_cycles <= target
    assert greedy.max_cycles > target or ours.lut <= greedy.lut


# --- exact against brute force -----------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_fold_for_target_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    layers = _random_instance(rng)
    every = _all_foldings(layers, AUTO)
    for target in _spread(sorted({t for t, *_ in every}), 12):
        best = min(lut for t, lut, _, _ in every if t <= target)
        got = network_cost(layers, fold_for_target(layers, target, params=AUTO), params=AUTO)
        assert got.max_cycles <= target and got.lut == best


def test_fold_for_target_with_device_equals_constrained_brute_force():
    """With a BRAM cap the per-unit cheapest choice may not fit; the DP must still find the optimum."""
    exercised = 0
    for seed in range(12):
        rng = np.random.default_rng(100 + seed)
        layers = _random_instance(rng)
        every = _all_foldings(layers, AUTO)
        for target in _spread(sorted({t for t, *_ in every}), 8):
            free = network_cost(layers, fold_for_target(layers, target, params=AUTO), params=AUTO)
            bram_cap = max(0, free.bram18 - 1)
            dev = Device("tiny", "tiny", (), lut=10**9, ff=0, bram18=bram_cap, uram=0, dsp=0)
            ok = [lut for t, lut, bram, _ in every if t <= target and bram <= bram_cap]
            if not ok:
                with pytest.raises(FoldingError, match="fits tiny"):
                    fold_for_target(layers, target, dev, params=AUTO)
                continue
            exercised += free.bram18 > bram_cap
            got = network_cost(layers, fold_for_target(layers, target, dev, params=AUTO), params=AUTO)
            assert got.max_cycles <= target and got.bram18 <= bram_cap and got.lut == min(ok)
    assert exercised >= 5  # the constrained (DP) path really ran


@pytest.mark.parametrize("seed", range(6))
def test_fold_for_budget_equals_brute_force(seed):
    rng = np.random.default_rng(200 + seed)
    layers = _random_instance(rng)
    every = _all_foldings(layers, AUTO)
    luts = sorted({lut for _, lut, _, _ in every})
    for budget in [luts[0], *rng.choice(luts, size=6), luts[-1]]:
        best = min(t for t, lut, _, _ in every if lut <= budget)
        got = network_cost(layers, fold_for_budget(layers, int(budget), params=AUTO), params=AUTO)
        assert got.lut <= budget and got.max_cycles == best
    with pytest.raises(FoldingError, match="no folding fits a budget"):
        fold_for_budget(layers, luts[0] - 1, params=AUTO)


def test_fold_for_budget_with_device_equals_brute_force():
    rng = np.random.default_rng(7)
    layers = _random_instance(rng)
    every = _all_foldings(layers, AUTO)
    brams = sorted({b for *_, b, _ in every})
    luts = sorted({lut for _, lut, _, _ in every})
    for bram_cap in brams[: len(brams) // 2 + 1]:
        dev = Device("tiny", "tiny", (), lut=10**9, ff=0, bram18=bram_cap, uram=0, dsp=0)
        for budget in _spread(luts, 6):
            ok = [t for t, lut, b, _ in every if lut <= budget and b <= bram_cap]
            if not ok:
                with pytest.raises(FoldingError):
                    fold_for_budget(layers, budget, dev, params=AUTO)
                continue
            got = network_cost(layers, fold_for_budget(layers, budget, dev, params=AUTO), params=AUTO)
            assert got.lut <= budget and got.bram18 <= bram_cap and got.max_cycles == min(ok)


# --- errors, baseline, helpers ----------------------------------------------------------------


def test_infeasible_target_names_bottleneck():
    layers = [MVU.dense("fc", 64, 16), MVU.conv("conv1", (14, 14), 8, 8, 3, pad=1)]
    # conv1 computes 14 * 14 = 196 output pixels: at least 196 cycles even fully parallel
    with pytest.raises(InfeasibleTargetError, match=r"layer 'conv1' .* needs at least 196 cycles"):
        fold_for_target(layers, 100)
    assert network_cost(layers, fold_for_target(layers, 196)).max_cycles == 196
    # a PE/SIMD cap raises the minimum: conv1 at PE = SIMD <= 4: (8/4) * (72/4) * 196 = 7056
    with pytest.raises(InfeasibleTargetError, match="needs at least 7056 cycles"):
        fold_for_target(layers, 7000, max_parallel=4)


def test_greedy_setfolding_simd_first_then_pe():
    layers = [MVU.dense("fc0", 784, 64)]
    # T=100: SIMD=392 gives 64 * 2 = 128 > 100, SIMD=784 gives 64 <= 100 -> PE stays 1
    assert greedy_setfolding(layers, 100) == {"fc0": {"PE": 1, "SIMD": 784}}
    # T=10: SIMD=784 (64 cycles), then PE: 4 -> 16 > 10, 8 -> 8 <= 10
    assert greedy_setfolding(layers, 10) == {"fc0": {"PE": 8, "SIMD": 784}}
    # T=1000: SIMD=49 -> 64 * 16 = 1024 > 1000; SIMD=56 -> 64 * 14 = 896
    assert greedy_setfolding(layers, 1000) == {"fc0": {"PE": 1, "SIMD": 56}}


def test_target_from_fps_and_candidate_count():
    assert target_cycles_from_fps(1e6, 100.0) == 100  # 100e6 / 1e6
    assert target_cycles_from_fps(3, 10.0) == 3_333_333  # floor(10e6 / 3)
    with pytest.raises(InfeasibleTargetError):
        target_cycles_from_fps(2e8, 100.0)
    # TFC: d(64) = 7, d(784) = 15, d(10) = 4 -> (7*15) * (7*7) * (7*7) * (4*7)
    assert count_foldings(tfc()) == 105 * 49 * 49 * 28
    # divisors <= 8: 64 -> 4 (1, 2, 4, 8); 784 -> 5 (1, 2, 4, 7, 8); 10 -> 3 (1, 2, 5)
    assert count_foldings(tfc(), max_parallel=8) == (4 * 5) * (4 * 4) * (4 * 4) * (3 * 4)


def test_max_parallel_is_respected_and_tradeoff_is_monotone():
    layers = tfc()
    f = fold_for_target(layers, 2000, max_parallel=8)
    assert all(v["PE"] <= 8 and v["SIMD"] <= 8 for v in f.values())
    curve = tradeoff_curve(layers)
    cycles, luts = [c for c, _, _ in curve], [lut for _, lut, _ in curve]
    assert cycles == sorted(cycles) and luts == sorted(luts, reverse=True) and len(set(luts)) == len(luts)
    assert cycles[0] == 1  # every unit fully parallel (PE = MH, SIMD = MW): one cycle per frame
    for c, lut, folding in curve[:5]:
        got = network_cost(layers, folding)
        assert (got.max_cycles, got.lut) == (c, lut)

"""Graphs in RTL against the golden model: residual networks with fixed-point shortcuts (every
rounding and overflow mode, ties, saturation and wrap-around, negated thresholds, max pooling of
signed codes, a tensor added to itself, two heads joined by an add) and a BinaryDenseNet-style
network (concatenations of accumulators that are read again downstream), fully parallel and
folded, with seeded back-pressure and input gaps: 0 mismatches, no deadlock, and the cost model's
cycles per frame."""

import numpy as np
import pytest

from hw_bnn.dse.folding import fold_for_target
from hw_bnn.dse.units import mvu_layers
from hw_bnn.ir import (
    ConcatLayer,
    ConvLayer,
    FixedAddLayer,
    FixedChainLayer,
    FlattenLayer,
    IntegerNetwork,
    MaxPoolLayer,
    ThresholdLayer,
    XnorDenseLayer,
)
from hw_bnn.rtl import emit_rtl
from hw_bnn.rtl.graph import rtl_units
from hw_bnn.sim.rtlsim import verify_rtl
from tests.hls4ml_ext.test_emit_fixed import make_dense, make_resnet
from tests.rtl.test_rtl_dense import predicted_interval


def _per_channel(rng, lo: int, hi: int, c: int, levels: int = 1) -> np.ndarray:
    return np.sort(rng.integers(lo, hi + 1, size=(c, levels)), axis=1).astype(np.int64)


def make_densenet(seed: int = 5) -> IntegerNetwork:
    """input threshold -> XNOR conv (accumulators) c0 -> [threshold -> XNOR conv c1] -> concat(c0, c1)
    -> [threshold -> XNOR conv c2] -> concat(cat1, c2) -> 2-bit threshold -> max pool -> integer 1x1
    conv -> flatten -> XNOR dense.  c0 and cat1 each have two readers."""
    rng = np.random.default_rng(seed)
    h, c_in, c, k = 6, 2, 4, 2
    bits = lambda rows, cols: rng.integers(0, 2, size=(rows, cols)).astype(np.uint8)  # noqa: E731
    L = [ThresholdLayer("q0", _per_channel(rng, 60, 200, c_in), (0, 255))]
    L.append(ConvLayer("c0", (h, h, c_in), 3, 1, 1, 0, bits(9 * c_in, c), xnor=True, thresholds=None))
    L.append(ThresholdLayer("q1", _per_channel(rng, -6, 6, c), (-18, 18)))
    L.append(ConvLayer("c1", (h, h, c), 3, 1, 1, 0, bits(9 * c, k), xnor=True, thresholds=None))
    L.append(ConcatLayer("cat1", (h, h, c + k), ("c0", "c1"), [(-18, 18), (-36, 36)]))
    L.append(ThresholdLayer("q2", _per_channel(rng, -10, 10, c + k), (-36, 36)))
    L.append(ConvLayer("c2", (h, h, c + k), 3, 1, 1, 0, bits(9 * (c + k), k), xnor=True, thresholds=None))
    L.append(ConcatLayer("cat2", (h, h, c + 2 * k), ("cat1", "c2"), [(-36, 36), (-54, 54)]))
    L.append(ThresholdLayer("q3", _per_channel(rng, -20, 20, c + 2 * k, 3), (-54, 54)))
    L.append(MaxPoolLayer("p3", (h, h, c + 2 * k), 2, 2, in_levels=3))
    w4 = rng.integers(-3, 4, size=(c + 2 * k, 5)).astype(np.int8)
    L.append(ConvLayer("t4", (3, 3, c + 2 * k), 1, 1, 0, 0, w4, xnor=False, in_levels=3, thresholds=None))
    L[-1].thresholds = _per_channel(rng, -10, 10, 5)
    L[-1]._prepare()
    L.append(FlattenLayer("fl", (3, 3, 5), in_levels=1))
    L.append(XnorDenseLayer("fc", bits(45, 6)))
    return IntegerNetwork(L, input_shape=(c_in, h, h), input_range=(0, 255))


def make_wide(seed: int = 9) -> IntegerNetwork:
    """Fixed-point outputs wider than the values they hold: a chain of 4-bit inputs with small
    slopes into 12 bits, and an add into 16 (saturation bounds beyond the sums' bits)."""
    rng = np.random.default_rng(seed)
    n = 8
    g, p, q, z = (rng.integers(-3, 4, size=n) for _ in range(4))
    L = [FixedChainLayer("f0", (n,), g, p, q, z, 0, 1, 1, 12, (0, 15), "rnd", "sat")]
    L.append(FixedChainLayer("f1", (n,), -g, q, p, z, 1, 1, 1, 12, (-2048, 2047), "trn", "wrap", inputs=("f0",)))
    L.append(FixedAddLayer("s", (n,), 16, ("f0", "f1"), "sat"))
    L.append(ThresholdLayer("t", _per_channel(rng, -30, 30, n), (-(2**15), 2**15 - 1)))
    L.append(XnorDenseLayer("d", rng.integers(0, 2, size=(n, 3)).astype(np.uint8)))
    return IntegerNetwork(L, input_shape=(n,), input_range=(0, 15))


def make_limbs(seed: int = 11) -> IntegerNetwork:
    """Fixed-point chains wider than one 18 x 18 multiplier (t of 25 and 23 bits, slopes of 22:
    the RTL cuts both into 17-bit limbs): the first rounds ties to even and saturates (some values
    at its bound), the second truncates, in wrap mode."""
    rng = np.random.default_rng(seed)
    n = 8
    wide = lambda b: rng.integers(-(2**b), 2**b, size=n)  # noqa: E731
    L = [
        FixedChainLayer("f0", (n,), wide(21), wide(21), wide(21), wide(11), 0, 14, 28, 16, (0, 255), "rnd_conv", "sat")
    ]
    f0_range = (-(2**15), 2**15 - 1)
    L.append(
        FixedChainLayer("f1", (n,), wide(20), wide(21), wide(21), wide(9), 14, 16, 24, 18, f0_range, "trn", "wrap")
    )
    L[-1].inputs = ("f0",)
    # the chain is the output: a threshold after it would hide most wrong products
    return IntegerNetwork(L, input_shape=(n,), input_range=(0, 255))


def test_wide_chains_are_bit_exact_through_their_limb_products(tmp_path):
    golden = make_limbs()
    chains = [u for u in rtl_units(golden) if u.module == "hwbnn_fixed_chain"]
    assert [u.params["T_BITS"] > 18 and u.params["S_BITS"] > 18 for u in chains] == [True, True]
    assert [u.latency for u in chains] == [7, 7]
    emit_rtl(golden, tmp_path / "rtl")
    x = _inputs(golden, 3, n=48)
    for options in ({}, {"seed": 5, "p_stall": 0.4, "p_gap": 0.3}):
        res = verify_rtl(golden, tmp_path / "rtl", x, **options)
        assert res["mismatched_images"] == 0, res.get("first_mismatch")


def _inputs(golden: IntegerNetwork, seed: int, n: int) -> np.ndarray:
    """Random inputs over the network's input range, the two ends first."""
    lo, hi = golden.input_range
    x = np.random.default_rng(seed).integers(lo, hi + 1, size=(n, *golden.input_shape)).astype(np.int64)
    x[0], x[1] = lo, hi
    return x


NETS = {"resnet": make_resnet, "dense": make_dense, "densenet": make_densenet, "wide": make_wide}


def _folding(golden, folded: bool):
    """Fully parallel, or the fewest-LUT folding at 4 cycles per output pixel of the largest image."""
    if not folded:
        return None
    units = mvu_layers(golden)
    return fold_for_target(units, 4 * max(u.pixels for u in units))


@pytest.mark.parametrize("name", sorted(NETS))
@pytest.mark.parametrize("folded", [False, True], ids=["parallel", "folded"])
def test_graph_is_bit_exact_and_deadlock_free(tmp_path, name, folded):
    golden = NETS[name]()
    folding = _folding(golden, folded)
    emit_rtl(golden, tmp_path / "rtl", folding)
    x = _inputs(golden, 3, n=24)
    free = verify_rtl(golden, tmp_path / "rtl", x)
    assert free["mismatched_images"] == 0, free.get("first_mismatch")
    assert free["interval_cycles"] == predicted_interval(golden, folding)
    pressed = verify_rtl(golden, tmp_path / "rtl", x[:12], seed=5, p_stall=0.4, p_gap=0.3)
    assert pressed["mismatched_images"] == 0, pressed.get("first_mismatch")


def test_the_graph_has_forks_merges_and_every_kernel():
    units = rtl_units(make_resnet())
    modules = {u.module for u in units}
    assert {"hwbnn_fixed_chain", "hwbnn_add", "hwbnn_threshold", "hwbnn_window", "hwbnn_mvu"} <= modules
    sources = [s for u in units for s in u.sources]
    assert max(sources.count(s) for s in set(sources)) == 6  # c0's accumulators read six ways
    dense = rtl_units(make_densenet())
    cats = [u for u in dense if u.module == "hwbnn_concat"]
    assert [u.params["C1"] for u in cats] == [4, 6] and all(u.out.signed for u in cats)


def test_merge_fifos_hold_a_frame_per_frame_holding_unit_on_the_other_path():
    """y2 = n2 + x1: n2's path has the window of conv c2 (a frame) and the fixed-point chain n2
    (four register stages more than one), x1's neither, so the FIFO on x1's edge holds two frames
    of x1 and four beats, and the one on n2's edge one frame of n2."""
    import re

    from hw_bnn.rtl.emit import top_level
    from hw_bnn.rtl.graph import network_input

    golden = make_resnet()
    units = rtl_units(golden)
    i = next(k for k, u in enumerate(units) if u.name == "y2")
    frame = units[i].out.frame // units[units[i].sources[1]].out.elems  # beats of x1 per frame
    text = top_level(units, network_input(golden, None))
    fifo = r"hwbnn_fifo #\(\.DEPTH\((\d+)\).*?\) (fifo_\w+)"
    depth = {m[1]: int(m[0]) for m in re.findall(fifo, text)}
    assert units[units[i].sources[0]].module == "hwbnn_fixed_chain"
    assert depth[f"fifo_{i}b"] == 2 * frame + 4
    assert depth[f"fifo_{i}a"] == units[i].out.frame // units[units[i].sources[0]].out.elems


def test_weight_memories_follow_the_cost_model(tmp_path):
    """The flow puts a matrix unit's weights in block RAM beyond 128 words, else in LUTs, and the
    emitted unit carries that style."""
    from hw_bnn.flow.stages import weight_memories

    golden = make_densenet()
    folding = {"fc": {"PE": 1, "SIMD": 1}}  # 6 neuron folds x 45 synapse folds = 270 words
    styles = weight_memories(golden, folding)
    assert styles == {"c0": "distributed", "c1": "distributed", "c2": "distributed", "t4": "distributed", "fc": "block"}
    emit_rtl(golden, tmp_path / "rtl", folding, styles)
    top = (tmp_path / "rtl" / "hwbnn_top.sv").read_text()
    assert top.count('.RAM_STYLE("block")') == 1 and top.count('.RAM_STYLE("distributed")') == 4

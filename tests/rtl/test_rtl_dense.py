"""The RTL kernels against the golden model (NumPy), through Verilator: random small networks of
every dense layer kind, fully parallel and folded (width converters of ratios that do not divide
each other), with seeded random back-pressure and input gaps; a corrupted weight is caught and
named; the measured interval between frames equals the cost model's cycles per frame."""

import copy

import numpy as np
import pytest

from hw_bnn.errors import EmitError
from hw_bnn.flow.stages import predicted_cycles
from hw_bnn.ir import IntDenseLayer, IntegerNetwork, ThresholdLayer, XnorDenseLayer
from hw_bnn.rtl import emit_rtl
from hw_bnn.rtl.units import signed_bits
from hw_bnn.sim.rtlsim import verify_rtl


def sorted_thresholds(rng, rows: int, levels: int, lo: int, hi: int) -> np.ndarray:
    return np.sort(rng.integers(lo, hi + 1, size=(rows, levels)), axis=1).astype(np.int64)


def mixed_network(seed: int, shared_input: bool) -> IntegerNetwork:
    """input threshold (one shared, or one per channel: XNOR inputs are bits) -> XNOR (thresholded)
    -> integer ternary (3 levels) -> integer (accumulators)."""
    rng = np.random.default_rng(seed)
    c, h1, h2, out = 12, 12, 6, 4
    t_in = sorted_thresholds(rng, 1 if shared_input else c, 1, 0, 255)
    layers = [
        ThresholdLayer("quant_in", t_in, (0, 255)),
        XnorDenseLayer("fc1", rng.integers(0, 2, size=(c, h1)).astype(np.uint8), None),
        IntDenseLayer("fc2", rng.integers(-1, 2, size=(h1, h2)).astype(np.int8), None, in_levels=1),
        IntDenseLayer("fc3", rng.integers(-1, 2, size=(h2, out)).astype(np.int8), None, in_levels=3),
    ]
    layers[1].thresholds = sorted_thresholds(rng, h1, 1, 0, c)
    layers[2].thresholds = sorted_thresholds(rng, h2, 3, -h1, h1)
    for layer in layers[1:]:
        layer._prepare()
    return IntegerNetwork(layers, input_shape=(c,), input_range=(0, 255))


def random_inputs(seed: int, n: int = 40) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 12))


FOLDED = {"fc1": {"PE": 3, "SIMD": 4}, "fc2": {"PE": 2, "SIMD": 6}, "fc3": {"PE": 2, "SIMD": 3}}


def predicted_interval(golden, folding) -> int:
    """The cost model's cycles per frame: the slowest matrix unit's NF * SF (flow's predicted_cycles)."""
    return predicted_cycles(golden, folding)


@pytest.mark.parametrize("folding", [None, FOLDED], ids=["parallel", "folded"])
def test_mixed_network_is_bit_exact_with_back_pressure(tmp_path, folding):
    golden = mixed_network(0, shared_input=folding is None)
    emit_rtl(golden, tmp_path / "rtl", folding)
    x = random_inputs(1)
    free = verify_rtl(golden, tmp_path / "rtl", x)
    assert free["mismatched_images"] == 0 and free["images"] == 40
    assert free["interval_cycles"] == predicted_interval(golden, folding)
    pressed = verify_rtl(golden, tmp_path / "rtl", x, seed=7, p_stall=0.4, p_gap=0.3)
    assert pressed["mismatched_images"] == 0 and pressed["latency_cycles"] >= free["latency_cycles"]


def test_a_reader_wider_than_its_producer_keeps_the_interval(tmp_path):
    """fc1 gives one value a beat (PE = 1), fc2 reads four (SIMD = 4) in its first neuron fold, a
    beat a cycle: the FIFO between them holds 4-value beats (the width converter before it), so
    fc2 takes its NF * SF = 18 cycles (24 with the FIFO before the converter)."""
    golden = mixed_network(2, shared_input=False)
    folding = {"fc1": {"PE": 1, "SIMD": 12}, "fc2": {"PE": 1, "SIMD": 4}, "fc3": {"PE": 1, "SIMD": 3}}
    emit_rtl(golden, tmp_path / "rtl", folding)
    res = verify_rtl(golden, tmp_path / "rtl", random_inputs(3, n=16))
    assert res["mismatched_images"] == 0
    assert res["interval_cycles"] == predicted_interval(golden, folding) == 18


def corrupt_one_weight(golden, x):
    """A copy of ``golden`` with one weight of fc2 changed, (i, j, new value), chosen so that the
    outputs on ``x`` change."""
    w = golden.layers[2].weights
    for j in range(w.shape[1]):
        for i in range(w.shape[0]):
            for new in (-1, 0, 1):
                if new == w[i, j]:
                    continue
                bad = copy.deepcopy(golden)
                bad.layers[2].weights = w.copy()
                bad.layers[2].weights[i, j] = new
                bad.layers[2]._prepare()
                if np.any(bad.run(x) != golden.run(x)):
                    return bad, i, j, new
    raise AssertionError("no single weight of fc2 changes an output")


def test_a_corrupted_weight_is_caught_and_named(tmp_path):
    """Change one weight in the RTL's memory image: the RTL then equals the golden model of the
    corrupted network, and differs from the true one on exactly those images, naming fc2."""
    golden = mixed_network(0, shared_input=False)
    emit_rtl(golden, tmp_path / "rtl", FOLDED)
    x = random_inputs(2, n=60)
    corrupted, i, j, new = corrupt_one_weight(golden, x)
    # fc2 is folded PE 2, SIMD 6 (SF 2), 2-bit weights: W[i, j] is in word (j // 2) * 2 + i // 6,
    # lane j % 2, element i % 6
    word, shift = (j // 2) * 2 + i // 6, ((j % 2) * 6 + i % 6) * 2
    mem = tmp_path / "rtl" / "fc2_w.mem"
    words = mem.read_text().split()
    words[word] = f"{(int(words[word], 16) & ~(0b11 << shift)) | ((new & 0b11) << shift):0{len(words[word])}x}"
    mem.write_text("\n".join(words) + "\n")
    differ = np.flatnonzero(np.any(golden.run(x) != corrupted.run(x), axis=1))
    res = verify_rtl(golden, tmp_path / "rtl", x)
    assert res["mismatched_images"] == len(differ) > 0
    assert res["first_mismatch"]["image"] == differ[0] and res["first_mismatch"]["layer"] == "fc2"
    assert verify_rtl(corrupted, tmp_path / "rtl", x)["mismatched_images"] == 0


def test_widths_are_exact():
    assert [signed_bits(lo, hi) for lo, hi in [(0, 1), (-2, 1), (-3, 3), (0, 784), (-784, 784)]] == [2, 2, 3, 11, 11]


def test_unsupported_layers_are_named(tmp_path):
    golden = mixed_network(0, shared_input=True)
    with pytest.raises(EmitError, match="PE 5 must divide MH 12"):
        emit_rtl(golden, tmp_path / "rtl", {"fc1": {"PE": 5}})
    with pytest.raises(EmitError, match="folding names layers the network has no matrix unit for: nope"):
        emit_rtl(golden, tmp_path / "rtl", {"nope": {"PE": 1}})
    assert not (tmp_path / "rtl").exists()


def deep_network(seed: int = 3) -> IntegerNetwork:
    """input threshold -> XNOR 96 x 192 (thresholded) -> integer 192 x 4: folded PE = SIMD = 1,
    fc1's 18,432 one-bit weight words are deeper than a block RAM (16K x 1)."""
    rng = np.random.default_rng(seed)
    c, h, out = 96, 192, 4
    layers = [
        ThresholdLayer("quant_in", sorted_thresholds(rng, c, 1, 0, 255), (0, 255)),
        XnorDenseLayer("fc1", rng.integers(0, 2, size=(c, h)).astype(np.uint8), None),
        IntDenseLayer("fc2", rng.integers(-1, 2, size=(h, out)).astype(np.int8), None, in_levels=1),
    ]
    layers[1].thresholds = sorted_thresholds(rng, h, 1, c // 2 - 6, c // 2 + 6)
    for layer in layers[1:]:
        layer._prepare()
    return IntegerNetwork(layers, input_shape=(c,), input_range=(0, 255))


def test_weights_deeper_than_a_block_ram_are_banked(tmp_path):
    """fc1's weights in two banks of 16,384 words (the last one padded), each read registered
    before the bank is selected: bit-exact at the cost model's interval, and the bank images are
    what the RTL reads (one flipped bit in the second bank is caught)."""
    golden = deep_network()
    folding = {"fc1": {"PE": 1, "SIMD": 1}, "fc2": {"PE": 1, "SIMD": 1}}
    project = emit_rtl(golden, tmp_path / "rtl", folding)
    fc1 = next(u for u in project["units"] if u["name"] == "fc1")
    assert (fc1["params"]["W_BANKS"], fc1["params"]["W_BANK_WORDS"]) == (2, 16384)
    assert not (tmp_path / "rtl" / "fc1_w.mem").exists()
    banks = [(tmp_path / "rtl" / f"b00{b}_fc1_w.mem").read_text().split() for b in (0, 1)]
    assert [len(b) for b in banks] == [16384, 16384] and set(banks[1][96 * 192 - 16384 :]) == {"0"}
    x = np.random.default_rng(4).integers(0, 256, size=(6, 96))
    res = verify_rtl(golden, tmp_path / "rtl", x)
    assert res["mismatched_images"] == 0 and res["interval_cycles"] == predicted_interval(golden, folding)
    # weight W[i, j] of a PE = SIMD = 1 unit is word j * 96 + i; flip one in the second bank
    for word in range(16384, 96 * 192):
        j, i = divmod(word, 96)
        bad = copy.deepcopy(golden)
        bad.layers[1].weights[i, j] ^= 1
        bad.layers[1]._prepare()
        if np.any(bad.run(x) != golden.run(x)):
            break
    else:
        raise AssertionError("no weight of fc1's second bank changes an output")
    words = banks[1]
    words[word - 16384] = "1" if words[word - 16384] == "0" else "0"
    (tmp_path / "rtl" / "b001_fc1_w.mem").write_text("\n".join(words) + "\n")
    assert verify_rtl(golden, tmp_path / "rtl", x)["first_mismatch"]["layer"] == "fc1"
    assert verify_rtl(bad, tmp_path / "rtl", x)["mismatched_images"] == 0

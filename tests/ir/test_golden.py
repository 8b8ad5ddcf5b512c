"""The NumPy golden model against a literal bit-level reference, and its packaging."""

import subprocess
import sys

import numpy as np
import pytest

from hw_bnn.ir import IntegerNetwork, ThresholdLayer, XnorDenseLayer, bits_for_range


def _reference_xnor(x_bits, w_bits, thresholds):
    """Literal definition: popcount of XNOR per output, then count thresholds passed."""
    n, mw = x_bits.shape
    mh = w_bits.shape[1]
    out = np.zeros((n, mh), dtype=np.int64)
    for j in range(mh):
        p = np.sum(x_bits == w_bits[:, j], axis=1)  # xnor = equality of bits
        out[:, j] = (2 * p - mw) if thresholds is None else np.sum(p[:, None] >= thresholds[j], axis=1)
    return out


def _random_net(rng, sizes, levels=1):
    layers = [ThresholdLayer("quant_in", np.array([[128]]), (0, 255))]
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = rng.integers(0, 2, size=(a, b)).astype(np.uint8)
        last = i == len(sizes) - 2
        thr = None if last else np.sort(rng.integers(0, a + 2, size=(b, levels)), axis=1)
        layers.append(XnorDenseLayer(f"fc{i + 1}", w, thr))
    return IntegerNetwork(layers, np.array([0.5], np.float32), np.array([-1.0], np.float32), (sizes[0],), (0, 255))


@pytest.mark.parametrize("sizes", [[7, 5, 3], [64, 33, 17, 10], [300, 128, 10]])
def test_golden_matches_literal_definition(sizes):
    rng = np.random.default_rng(len(sizes))
    g = _random_net(rng, sizes)
    x = rng.integers(0, 256, size=(50, sizes[0]))
    trace = g.run(x, trace=True)
    bits = (x >= 128).astype(np.int64)
    assert np.array_equal(trace["quant_in"], bits)
    cur = bits
    for layer in g.layers[1:]:
        cur = _reference_xnor(cur, layer.weights, layer.thresholds)
        assert np.array_equal(trace[layer.name], cur), layer.name
    assert np.array_equal(g.run(x), cur)  # the fast path agrees with the traced path


def test_multilevel_thresholds_and_constant_channels():
    rng = np.random.default_rng(1)
    w = rng.integers(0, 2, size=(9, 4)).astype(np.uint8)
    thr = np.array([[0, 0, 0], [10, 10, 10], [2, 5, 9], [0, 4, 10]])  # always 3, always 0, ...
    layer = XnorDenseLayer("fc", w, thr)
    x = rng.integers(0, 2, size=(64, 9))
    out = layer.run(x)
    assert np.all(out[:, 0] == 3) and np.all(out[:, 1] == 0)
    assert np.array_equal(out, _reference_xnor(x, w, thr))


def test_save_load_roundtrip(tmp_path):
    rng = np.random.default_rng(2)
    g = _random_net(rng, [20, 8, 4])
    g.save(tmp_path / "g.npz")
    h = IntegerNetwork.load(tmp_path / "g.npz")
    x = rng.integers(0, 256, size=(30, 20))
    assert np.array_equal(g.run(x), h.run(x))
    assert [layer.name for layer in h.layers] == ["quant_in", "fc1", "fc2"]
    assert np.array_equal(h.apply_output_affine(h.run(x)), g.apply_output_affine(g.run(x)))


def test_golden_rejects_bad_input():
    g = _random_net(np.random.default_rng(0), [6, 4, 2])
    with pytest.raises(ValueError, match=r"shape \(3, 7\).*\(N, 6\)"):
        g.run(np.zeros((3, 7)))
    with pytest.raises(ValueError, match="integers in"):
        g.run(np.full((3, 6), 256))


def test_golden_imports_numpy_only():
    code = (
        "import sys; import hw_bnn.ir; "
        "bad = [m for m in ('torch', 'onnx', 'onnxruntime', 'qonnx', 'brevitas', 'hls4ml') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize(
    "lo,hi,bits,signed",
    [(0, 1, 1, False), (0, 784, 10, False), (-64, 64, 8, True), (-1024, 1024, 12, True), (-1, 0, 1, True)],
)
def test_bits_for_range(lo, hi, bits, signed):
    assert bits_for_range(lo, hi) == (bits, signed)

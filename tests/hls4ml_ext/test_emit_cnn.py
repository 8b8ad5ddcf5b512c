"""hls4ml emission + C simulation of convolutional and multi-bit hw-bnn networks, bit-exact vs golden.

Random golden CNNs are built directly from the golden layer classes (no training); thresholds
sit at per-channel quantiles of the accumulators on the test images (so codes vary), plus
channels that are always on / never on.  Every network is compiled once per session, by
``csim_trace`` (hls4ml's ``trace()`` builds the project); ``csim_predict`` then uses that build.

  cnn_a  Vitis,  RF 1 (c2: RF 3)  int conv on 8-bit pixels (pad), XNOR convs stride 1/2 with and
                                  without pad, maxpool of bits k3 s2, 1x1 conv, flatten + XNOR
                                  dense head, accumulator output
  cnn_b  Vivado, RF 2             per-channel multi-threshold on pixels, w1a2 conv (pad code 2),
                                  maxpool of 2-bit codes k2 s2, w2a2 conv (pad code 0), maxpool
                                  k3 s1, flatten + int dense (thresholds, then accumulators)
  cnn_c  Vitis,  RF 1             shared input threshold, XNOR conv, even 2x2 XNOR conv with
                                  accumulator output (a 4-D NHWC network output), generated
                                  testbench (NHWC tb_data) built with g++
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hw_bnn.errors import EmitError, HwBnnError
from hw_bnn.hls4ml_ext.emit import PROJECT_INFO, emit_project
from hw_bnn.hls4ml_ext.plan import plan_network
from hw_bnn.ir import (
    ConvLayer,
    FlattenLayer,
    IntDenseLayer,
    IntegerNetwork,
    MaxPoolLayer,
    ThresholdLayer,
    XnorDenseLayer,
)
from hw_bnn.sim.csim import CsimError, csim_predict, csim_trace, load_csim
from tests.graphs import run_generated_testbench

N_SAMPLES = 40
ALWAYS_ON, NEVER_ON = 0, 1  # channels with constant outputs


# ------------------------------------------------------------------------------------------
# random networks


class _Builder:
    """Builds layers one by one, running the golden layer on sample images to place thresholds."""

    def __init__(self, rng, x_nchw: np.ndarray):
        self.rng = rng
        self.cur = np.transpose(x_nchw, (0, 2, 3, 1)).astype(np.float32)  # NHWC activations
        self.layers = []

    def _thresholds(self, acc: np.ndarray, levels: int, lo: int, hi: int) -> np.ndarray:
        """Per-channel quantiles of ``acc`` (last axis = channel), plus constant channels."""
        a = acc.reshape(-1, acc.shape[-1])
        qs = (np.arange(1, levels + 1) / (levels + 1))[None, :]
        t = np.quantile(a, qs[0], axis=0).T  # (C, L)
        t = np.sort(np.ceil(t).astype(np.int64), axis=1)
        t[ALWAYS_ON] = lo - 3  # below every value: always on (clipped by the emitter)
        t[NEVER_ON] = hi + 5  # above every value: never on
        return t

    def add(self, layer):
        self.layers.append(layer)
        self.cur = (layer.run(self.cur) if isinstance(layer, ThresholdLayer) else layer.forward(self.cur)).astype(
            np.float32
        )
        return layer

    def threshold(self, name, levels, shared=False):
        c = self.cur.shape[-1]
        v = self.cur.reshape(-1, c)
        qs = np.arange(1, levels + 1) / (levels + 1)
        t = np.ceil(np.quantile(v, qs, axis=0).T).astype(np.int64)
        if shared:
            t = t[:1]
        return self.add(ThresholdLayer(name, np.sort(t, axis=1), (0, 255)))

    def conv(
        self,
        name,
        c_out,
        k,
        s,
        pad,
        pad_value,
        xnor,
        levels,
        in_levels=1,
        wvals=(-1, 1),
    ):
        h, w, c = self.cur.shape[1:]
        rows = k * k * c
        if xnor:
            weights = self.rng.integers(0, 2, size=(rows, c_out)).astype(np.uint8)
        else:
            weights = self.rng.choice(np.asarray(wvals), size=(rows, c_out)).astype(np.int8)
        args = {
            "in_shape": (h, w, c),
            "kernel": k,
            "stride": s,
            "pad": pad,
            "pad_value": pad_value,
            "weights": weights,
            "xnor": xnor,
        }
        probe = ConvLayer(name, **args, thresholds=None, in_levels=in_levels)
        if not levels:
            return self.add(probe)
        acc = probe.forward(self.cur)
        lo, hi = probe.acc_range()
        if xnor:
            acc = (acc + rows) / 2  # thresholds act on the popcount
            lo, hi = 0, rows
        t = self._thresholds(acc, levels, lo, hi)
        return self.add(ConvLayer(name, **args, thresholds=t, in_levels=in_levels))

    def maxpool(self, name, k, s, in_levels=1):
        return self.add(MaxPoolLayer(name, self.cur.shape[1:], k, s, in_levels=in_levels))

    def flatten(self, name, in_levels=1):
        return self.add(FlattenLayer(name, self.cur.shape[1:], in_levels=in_levels))

    def dense(self, name, n_out, xnor, levels, in_levels=1, wvals=(-1, 0, 1)):
        n_in = self.cur.shape[-1]
        if xnor:
            w = self.rng.integers(0, 2, size=(n_in, n_out)).astype(np.uint8)
            probe = XnorDenseLayer(name, w, None)
        else:
            w = self.rng.choice(np.asarray(wvals), size=(n_in, n_out)).astype(np.int8)
            probe = IntDenseLayer(name, w, None, in_levels=in_levels)
        if not levels:
            return self.add(probe)
        acc = probe.forward(self.cur)
        lo, hi = probe.acc_range()
        if xnor:
            acc, lo, hi = (acc + n_in) / 2, 0, n_in
        t = self._thresholds(acc, levels, lo, hi)
        layer = XnorDenseLayer(name, w, t) if xnor else IntDenseLayer(name, w, t, in_levels=in_levels)
        return self.add(layer)


def _images(seed: int, shape, n: int = N_SAMPLES) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, *shape)).astype(np.int64)
    # smooth some images (neighbouring pixels alike, as in real images) and add the extremes
    x[2 : n // 2] = (x[2 : n // 2] + np.roll(x[2 : n // 2], 1, axis=-1) + np.roll(x[2 : n // 2], 1, axis=-2)) // 3
    x[0] = 0
    x[1] = 255
    return x


def make_cnn_a(seed: int = 1):
    x = _images(100 + seed, (2, 11, 11))
    b = _Builder(np.random.default_rng(seed), x)
    b.conv(
        "c0_int",
        6,
        k=3,
        s=1,
        pad=1,
        pad_value=0,
        xnor=False,
        levels=1,
        in_levels=255,
        wvals=(-3, -2, -1, 1, 2, 3),
    )
    b.conv("c1_xnor", 8, k=3, s=1, pad=1, pad_value=0, xnor=True, levels=1)  # pad bit 0 = -1
    b.maxpool("p1", k=3, s=2)  # 11 -> 5, bits, kernel != stride
    b.conv("c2_s2", 12, k=3, s=2, pad=0, pad_value=0, xnor=True, levels=1)  # 5 -> 2, no pad
    b.conv("c3_1x1", 10, k=1, s=1, pad=0, pad_value=0, xnor=True, levels=1)
    b.flatten("flat")
    b.dense("fc", 9, xnor=True, levels=1)
    b.dense("logits", 7, xnor=True, levels=0)
    return IntegerNetwork(b.layers, input_shape=(2, 11, 11), input_range=(0, 255)), x


def make_cnn_b(seed: int = 2):
    x = _images(100 + seed, (2, 9, 9))
    b = _Builder(np.random.default_rng(seed), x)
    b.threshold("q_in", levels=3)  # per-channel 2-bit input quantizer on an image
    b.conv(
        "c0_w1a2",
        8,
        k=3,
        s=1,
        pad=1,
        pad_value=2,
        xnor=False,
        levels=3,
        in_levels=3,
        wvals=(-1, 1),
    )
    b.maxpool("p0", k=2, s=2, in_levels=3)  # 2-bit codes, 9 -> 4
    b.conv(
        "c1_w2a2",
        10,
        k=3,
        s=1,
        pad=1,
        pad_value=0,
        xnor=False,
        levels=3,
        in_levels=3,
        wvals=(-1, 0, 1),
    )
    b.maxpool("p1", k=3, s=1, in_levels=3)  # 4 -> 2, kernel != stride
    b.flatten("flat", in_levels=3)
    b.dense("fc_int", 12, xnor=False, levels=3, in_levels=3)
    b.dense("out_acc", 5, xnor=False, levels=0, in_levels=3)
    return IntegerNetwork(b.layers, input_shape=(2, 9, 9), input_range=(0, 255)), x


def make_cnn_c(seed: int = 3):
    x = _images(100 + seed, (3, 7, 6))
    b = _Builder(np.random.default_rng(seed), x)
    b.threshold("q", levels=1, shared=True)
    b.conv("c0", 5, k=3, s=1, pad=1, pad_value=0, xnor=True, levels=1)
    b.conv("c1_acc", 4, k=2, s=1, pad=0, pad_value=0, xnor=True, levels=0)  # (6, 5, 4) accumulators
    return IntegerNetwork(b.layers, input_shape=(3, 7, 6), input_range=(0, 255)), x


# ------------------------------------------------------------------------------------------
# comparison helpers


def _first_mismatch(got: np.ndarray, want: np.ndarray) -> str:
    idx = tuple(int(i) for i in np.argwhere(got != want)[0])
    return f"first at {idx} (sample, ...; NHWC for images): csim {got[idx]} != golden {want[idx]}"


def assert_outputs_equal(got, golden: IntegerNetwork, x, label: str) -> None:
    want = np.asarray(golden.run(x)).astype(np.int64)
    assert got.dtype == np.int64
    assert got.shape == want.shape, f"{label}: output shape {got.shape} != golden {want.shape}"
    n_bad = int(np.sum(got != want))
    assert n_bad == 0, f"{label}: {n_bad} of {want.size} outputs differ; {_first_mismatch(got, want)}"


def assert_traces_equal(got: dict, golden: IntegerNetwork, x, label: str) -> None:
    want = golden.run(x, trace=True)
    assert list(got) == list(want), f"{label}: traced layers {list(got)} != golden {list(want)}"
    total = {name: int(np.sum(got[name] != np.asarray(want[name]))) for name in want}
    for name in want:
        w = np.asarray(want[name]).astype(np.int64)
        assert got[name].shape == w.shape, f"{label}: layer {name!r} shape {got[name].shape} != golden {w.shape}"
        if total[name]:
            raise AssertionError(
                f"{label}: first mismatching layer {name!r}: {total[name]} of {w.size} values differ, "
                f"{_first_mismatch(got[name], w)}; mismatches per layer: {total}"
            )


def assert_not_degenerate(golden: IntegerNetwork, x) -> None:
    for layer in golden.layers:
        y = np.asarray(golden.run(x, trace=True)[layer.name])
        flat = y.reshape(len(y), -1, y.shape[-1])  # (N, positions, channels)
        varying = (
            np.ptp(flat[..., 2:] if y.ndim == 4 and y.shape[-1] > 4 else flat, axis=0) > 0
        )  # channels 0, 1: constant
        assert varying.mean() >= 0.5, f"test network: layer {layer.name!r} is nearly constant ({varying.mean():.2f})"
        if getattr(layer, "thresholds", None) is not None and layer.kind != "threshold":
            assert np.all(flat[..., ALWAYS_ON] == layer.levels), f"{layer.name}: always-on channel is not on"
            assert np.all(flat[..., NEVER_ON] == 0), f"{layer.name}: never-on channel is not off"
            assert len(np.unique(flat[..., 2:])) == layer.levels + 1, f"{layer.name}: not every code occurs"


# ------------------------------------------------------------------------------------------
# session fixtures: one build per network


@pytest.fixture(scope="session")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hls_cnn")


def _build(work, name, maker, **kw):
    golden, x = maker()
    model = emit_project(golden, work / name, tb_inputs=x[:5], **kw)
    traces = csim_trace(model, x)  # compiles (hls4ml trace() builds the project)
    return golden, x, model, traces


@pytest.fixture(scope="session")
def cnn_a(work):
    return _build(
        work,
        "cnn_a",
        make_cnn_a,
        backend="Vitis",
        reuse_factor={"c2_s2": 3, "default": 1},
    )


@pytest.fixture(scope="session")
def cnn_b(work):
    return _build(work, "cnn_b", make_cnn_b, backend="Vivado", reuse_factor=2, io_type="io_stream")


@pytest.fixture(scope="session")
def cnn_c(work):
    return _build(work, "cnn_c", make_cnn_c, backend="Vitis")


# ------------------------------------------------------------------------------------------
# bit-exact C simulation


def test_test_networks_are_not_degenerate():
    for maker in (make_cnn_a, make_cnn_b, make_cnn_c):
        assert_not_degenerate(*maker())


@pytest.mark.slow
@pytest.mark.parametrize("net", ["cnn_a", "cnn_b", "cnn_c"])
def test_cnn_trace_and_csim_match_golden(net, request):
    golden, x, model, traces = request.getfixturevalue(net)
    assert_traces_equal(traces, golden, x, f"{net} trace")
    assert_outputs_equal(csim_predict(model, x), golden, x, f"{net} csim")
    # a single image (C, H, W) comes back as one sample
    assert_outputs_equal(csim_predict(model, x[5]), golden, x[5:6], f"{net} single image")


@pytest.mark.slow
def test_project_info_and_widths(cnn_a, cnn_b):
    _, _, model, _ = cnn_a
    prj = Path(model.config.get_output_dir())
    info = json.loads((prj / PROJECT_INFO).read_text())
    assert info["io_type"] == "io_stream" and info["input_shape"] == [11, 11, 2]
    layers = {entry["name"]: entry for entry in info["layers"]}
    c0 = layers["c0_int"]
    assert c0["in_shape"] == [11, 11, 2] and c0["out_shape"] == [11, 11, 6] and c0["in_width"] == 8
    assert c0["out_width"] == 1 and c0["acc_width"] >= 12
    c2 = layers["c2_s2"]  # K = 3*3*8 = 72: popcount 0..72 -> 7 bits; RF 3 over 12 filters
    assert (c2["n_pe"], c2["n_fold"], c2["acc_width"], c2["out_shape"]) == (
        4,
        3,
        7,
        [2, 2, 12],
    )
    assert c2["thr_width"] <= 7
    assert layers["p1"]["out_shape"] == [5, 5, 8] and layers["flat"]["out_shape"] == [40]
    params = (prj / "firmware" / "parameters.h").read_text()
    assert "static const unsigned pe = 4, simd = 72;\n    static const unsigned nf = 3, sf = 1;" in params
    hls_layers = {layer.name: layer for layer in model.get_layers()}
    assert str(hls_layers["c1_xnor"].get_output_variable().type.precision) == "uint<1>"
    # SIMD = K = 3*3*6 = 54 window bits per filter, packed into 32-bit words (32 + 22 bits)
    assert str(hls_layers["c1_xnor"].get_weights("weight").type.precision) == "uint<32>"
    assert str(hls_layers["logits"].get_output_variable().type.precision) == "int<5>"  # [-9, 9]

    golden_b, _, model_b, _ = cnn_b
    hls_b = {layer.name: layer for layer in model_b.get_layers()}
    assert str(hls_b["c0_w1a2"].get_output_variable().type.precision) == "uint<2>"  # codes 0..3
    assert str(hls_b["p0"].get_output_variable().type.precision) == "uint<2>"
    assert str(hls_b["c1_w2a2"].get_weights("weight").type.precision) == "int<2>"  # {-1, 0, 1}
    # w1a2 conv, K = 3*3*2 = 18, codes <= 3: accumulator in [-54, 54] -> 7 bits
    info_b = {
        entry["name"]: entry
        for entry in json.loads((Path(model_b.config.get_output_dir()) / PROJECT_INFO).read_text())["layers"]
    }
    assert info_b["c0_w1a2"]["acc_width"] == 7 and info_b["c0_w1a2"]["in_width"] == 2
    assert info_b["c0_w1a2"]["n_pe"] == 4 and info_b["c0_w1a2"]["n_fold"] == 2  # 8 filters, RF 2
    out = golden_b.layers[-1]
    lo, hi = out.acc_range()
    assert (
        str(hls_b["out_acc"].get_output_variable().type.precision)
        == f"int<{int(max(-lo, hi + 1) - 1).bit_length() + 1}>"
    )


@pytest.mark.slow
def test_generated_testbench_reads_nhwc(cnn_c, tmp_path):
    golden, x, model, _ = cnn_c
    prj = Path(model.config.get_output_dir())
    x_tb = np.loadtxt(prj / "tb_data" / "tb_input_features.dat", dtype=np.int64, ndmin=2)
    y_tb = np.loadtxt(prj / "tb_data" / "tb_output_predictions.dat", dtype=np.int64, ndmin=2)
    np.testing.assert_array_equal(x_tb, np.transpose(x[:5], (0, 2, 3, 1)).reshape(5, -1))
    np.testing.assert_array_equal(y_tb, golden.run(x[:5]).reshape(5, -1))
    got = run_generated_testbench(model, tmp_path)
    np.testing.assert_array_equal(got, y_tb)


@pytest.mark.slow
def test_csim_rejects_bad_image_inputs(cnn_c):
    _, x, model, _ = cnn_c
    with pytest.raises(CsimError, match="shape"):
        csim_predict(model, np.transpose(x, (0, 2, 3, 1)))  # NHWC instead of NCHW
    with pytest.raises(CsimError, match="integers in"):
        csim_predict(model, x + 0.5)


# ------------------------------------------------------------------------------------------
# emission checks (no compiles)


def test_image_nets_default_to_io_stream_and_refuse_io_parallel(tmp_path):
    golden, x = make_cnn_c()
    with pytest.raises(EmitError, match="io_stream"):
        emit_project(golden, tmp_path / "p", io_type="io_parallel")
    assert not (tmp_path / "p").exists()
    with pytest.raises(EmitError, match="tb_inputs"):
        emit_project(golden, tmp_path / "p", tb_inputs=np.transpose(x[:2], (0, 2, 3, 1)))
    model = emit_project(golden, tmp_path / "p", tb_inputs=x[:3])
    assert model.config.get_config_value("IOType") == "io_stream"
    # load_csim: same settings (auto io_type) accepted, the NHWC tb_data read back; a change refused
    load_csim(golden, tmp_path / "p", work_dir=tmp_path / "s1", build=False)
    changed, _ = make_cnn_c()
    changed.layers[1].weights[0, 0] ^= 1
    with pytest.raises(CsimError, match="differs"):
        load_csim(changed, tmp_path / "p", work_dir=tmp_path / "s2", build=False)


def test_bad_networks_name_the_layer(tmp_path):
    golden, _ = make_cnn_b()
    golden.layers[1].pad_value = 5  # codes are 0..3 (golden checked this only at construction)
    with pytest.raises(EmitError, match=r"layer 'c0_w1a2'.*(pad code|in_levels)") as err:
        emit_project(golden, tmp_path / "p")
    assert isinstance(err.value, HwBnnError)

    golden, _ = make_cnn_a()
    golden.layers[2] = MaxPoolLayer("p1", (10, 10, 8), 3, 2)  # wrong input shape
    with pytest.raises(EmitError, match=r"layer 'p1'.*\(10, 10, 8\)"):
        plan_network(golden)

    golden, _ = make_cnn_a()
    del golden.layers[5]  # no flatten before the dense head
    with pytest.raises(EmitError, match=r"layer 'fc'"):
        plan_network(golden)

    golden, _ = make_cnn_b()
    del golden.layers[0]  # 8-bit pixels straight into a conv declared for codes 0..3
    with pytest.raises(EmitError, match=r"layer 'c0_w1a2'.*0\.\.3"):
        plan_network(golden)

    golden, _ = make_cnn_c()
    golden.layers[1].xnor = True
    golden.layers = [golden.layers[1]]  # bits expected, 8-bit pixels given
    golden.layers[0].in_shape = (7, 6, 3)
    with pytest.raises(EmitError, match=r"layer 'c0'.*bits"):
        plan_network(golden)
    assert list(tmp_path.iterdir()) == []

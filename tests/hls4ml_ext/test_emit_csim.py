"""hls4ml project emission + C simulation of hw-bnn networks, checked bit-exactly against the golden model.

hls4ml builds (g++) are the slow part, so the projects are compiled once per session:
  net_a  Vitis,  io_parallel, ReuseFactor 1        compile_csim + csim_trace (a recompile)  -> 2 builds
  net_b  Vivado, io_parallel, ReuseFactor 3        csim_trace only (it compiles)            -> 1 build
  net_c  Vivado, io_stream,   per-layer ReuseFactor compile_csim                           -> 1 build
plus one plain g++ build of net_b's generated HLS testbench against its tb_data.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from hw_bnn.errors import HwBnnError
from hw_bnn.hls4ml_ext import emit as emit_mod
from hw_bnn.hls4ml_ext.emit import emit_project
from hw_bnn.hls4ml_ext.kinds import BACKENDS, HEADER_NAME, HLS_CLASS_OF
from hw_bnn.hls4ml_ext.register import layer_classes, register
from hw_bnn.ir import IntegerNetwork, ThresholdLayer, XnorDenseLayer
from hw_bnn.sim.csim import CsimError, compile_csim, csim_predict, csim_trace, load_csim
from tests.graphs import run_generated_testbench

N_SAMPLES = 64


# ------------------------------------------------------------------------------------------
# random networks


def _xnor_thresholds(rng, mw: int, mh: int, levels: int) -> np.ndarray:
    """Thresholds near MW/2 (so the bits are not constant) plus constant channels: 0 and MW+1,
    and out-of-range ones (negative, > MW+1) that must behave like 0 / MW+1."""
    half = mw // 2
    t = np.sort(rng.integers(half - 3, half + 4, size=(mh, levels)), axis=1).astype(np.int64)
    t[0, :] = 0  # always on
    t[1, :] = mw + 1  # always off
    t[2, :] = -4  # always on
    t[3, :] = mw + 9  # always off
    return t


def make_net_a(seed: int = 1) -> IntegerNetwork:
    """20 -> 16 -> 12 -> 10, shared single input threshold, signed accumulator output."""
    rng = np.random.default_rng(seed)
    layers = [ThresholdLayer("quant_in", np.array([[128]], dtype=np.int64), (0, 255))]
    sizes = [20, 16, 12, 10]
    for i, (mw, mh) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = rng.integers(0, 2, size=(mw, mh)).astype(np.uint8)
        last = i == len(sizes) - 2
        t = None if last else _xnor_thresholds(rng, mw, mh, 1)
        layers.append(XnorDenseLayer(f"fc{i}", w, t))
    return IntegerNetwork(layers, input_shape=(20,), input_range=(0, 255))


def make_net_b(seed: int = 2) -> IntegerNetwork:
    """37 -> 23 -> 13 (3 levels) -> threshold on codes -> 7: odd fan-ins, per-channel input
    thresholds (with constant and out-of-range channels), a multi-level XNOR layer."""
    rng = np.random.default_rng(seed)
    t_in = rng.integers(40, 216, size=(37, 1)).astype(np.int64)
    t_in[0, 0], t_in[1, 0], t_in[2, 0], t_in[3, 0] = 0, 256, -7, 999
    w0 = rng.integers(0, 2, size=(37, 23)).astype(np.uint8)
    w1 = rng.integers(0, 2, size=(23, 13)).astype(np.uint8)
    w2 = rng.integers(0, 2, size=(13, 7)).astype(np.uint8)
    t1 = _xnor_thresholds(rng, 23, 13, 3)
    t1[4] = [0, 12, 24]  # on, data dependent, off
    t_codes = rng.integers(1, 4, size=(13, 1)).astype(np.int64)
    t_codes[0, 0] = 0
    layers = [
        ThresholdLayer("pix_thr", t_in, (0, 255)),
        XnorDenseLayer("bin0", w0, _xnor_thresholds(rng, 37, 23, 1)),
        XnorDenseLayer("bin1.multi", w1, t1),
        ThresholdLayer("requant", t_codes, (0, 3)),
        XnorDenseLayer("logits", w2, None),
    ]
    return IntegerNetwork(layers, input_shape=(37,), input_range=(0, 255))


def make_net_c(seed: int = 5) -> IntegerNetwork:
    """24 -> 18 -> 11 -> 10 accumulators -> shared 4-level threshold on the signed accumulators
    (negative thresholds, out-of-range ones that must clip): codes 0..4 out."""
    rng = np.random.default_rng(seed)
    layers = [ThresholdLayer("q", np.array([[128]], dtype=np.int64), (0, 255))]
    for name, mw, mh in (("h0", 24, 18), ("h1", 18, 11)):
        w = rng.integers(0, 2, size=(mw, mh)).astype(np.uint8)
        layers.append(XnorDenseLayer(name, w, _xnor_thresholds(rng, mw, mh, 1)))
    layers.append(XnorDenseLayer("acc", rng.integers(0, 2, size=(11, 10)).astype(np.uint8), None))
    layers.append(ThresholdLayer("out_q", np.array([[-40, -2, 1, 40]], dtype=np.int64), (-11, 11)))
    return IntegerNetwork(layers, input_shape=(24,), input_range=(0, 255))


def _inputs(golden: IntegerNetwork, seed: int, n: int = N_SAMPLES) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, golden.input_shape[0])).astype(np.int64)
    x[0, :] = 0
    x[1, :] = 255
    first = golden.layers[0]
    if isinstance(first, ThresholdLayer) and n >= 5:  # pixels exactly at / next to the first thresholds
        t = np.broadcast_to(first.thresholds[:, 0], x.shape[1:])
        for row, delta in ((2, -1), (3, 0), (4, 1)):
            x[row, :] = np.clip(t + delta, 0, 255)
    return x


# ------------------------------------------------------------------------------------------
# comparison helpers (count mismatches, name the first one)


def _first_mismatch(got: np.ndarray, want: np.ndarray) -> str:
    idx = tuple(int(i) for i in np.argwhere(got != want)[0])
    return f"first at (sample, unit)={idx}: csim {got[idx]} != golden {want[idx]}"


def assert_outputs_equal(got: np.ndarray, golden: IntegerNetwork, x: np.ndarray, label: str) -> None:
    want = np.asarray(golden.run(x)).astype(np.int64)
    assert got.shape == want.shape, f"{label}: output shape {got.shape} != golden {want.shape}"
    n_bad = int(np.sum(got != want))
    if n_bad:
        raise AssertionError(
            f"{label}: {n_bad} of {want.size} outputs differ from golden; {_first_mismatch(got, want)} "
            f"in the output of layer {golden.layers[-1].name!r} (csim_trace localises the first bad layer)"
        )


def assert_traces_equal(got: dict, golden: IntegerNetwork, x: np.ndarray, label: str) -> None:
    want = golden.run(x, trace=True)
    assert list(got) == list(want), f"{label}: traced layers {list(got)} != golden layers {list(want)}"
    total = {name: int(np.sum(got[name] != np.asarray(want[name]))) for name in want}
    for name in want:  # first mismatching layer, in network order
        w = np.asarray(want[name]).astype(np.int64)
        assert got[name].shape == w.shape, f"{label}: layer {name!r} shape {got[name].shape} != golden {w.shape}"
        if total[name]:
            raise AssertionError(
                f"{label}: first mismatching layer {name!r}: {total[name]} of {w.size} values differ, "
                f"{_first_mismatch(got[name], w)}; mismatches per layer: {total}"
            )


def assert_not_degenerate(golden: IntegerNetwork, x: np.ndarray) -> None:
    """Guard against test networks whose layers are constant (a test that cannot fail)."""
    for name, y in golden.run(x, trace=True).items():
        varying = np.mean(np.ptp(np.asarray(y), axis=0) > 0)
        assert varying >= 0.4, f"test network: layer {name!r} is nearly constant over the inputs"


# ------------------------------------------------------------------------------------------
# session fixtures (each compile is a g++ build of the whole project)


@pytest.fixture(scope="session")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hls")


@pytest.fixture(scope="session")
def net_a_vitis(work):
    golden = make_net_a()
    x = _inputs(golden, 11)
    model = emit_project(golden, work / "a_vitis", backend="Vitis", reuse_factor=1, tb_inputs=x[:8])
    compile_csim(model)
    return golden, x, model


@pytest.fixture(scope="session")
def net_b_vivado(work):
    golden = make_net_b()
    x = _inputs(golden, 12)
    model = emit_project(golden, work / "b_vivado", backend="Vivado", reuse_factor=3, tb_inputs=x[:8], trace=True)
    traces = csim_trace(model, x)  # hls4ml trace() compiles the project itself
    return golden, x, model, traces


@pytest.fixture(scope="session")
def net_c_stream(work):
    golden = make_net_c()
    x = _inputs(golden, 13)
    model = emit_project(
        golden, work / "c_stream", backend="Vivado", io_type="io_stream", reuse_factor={"h0": 4, "default": 2}
    )
    compile_csim(model)
    return golden, x, model


# ------------------------------------------------------------------------------------------
# bit-exact C simulation


def test_test_networks_are_not_degenerate():
    for golden, seed in ((make_net_a(), 11), (make_net_b(), 12), (make_net_c(), 13)):
        assert_not_degenerate(golden, _inputs(golden, seed))


@pytest.mark.slow
def test_vitis_csim_matches_golden(net_a_vitis):
    golden, x, model = net_a_vitis
    y = csim_predict(model, x)
    assert y.dtype == np.int64
    assert_outputs_equal(y, golden, x, "Vitis RF=1")
    # a single sample (1-D input) comes back as one row
    assert_outputs_equal(csim_predict(model, x[3]), golden, x[3:4], "Vitis RF=1, single sample")


@pytest.mark.slow
def test_vitis_trace_matches_golden(net_a_vitis):
    golden, x, model = net_a_vitis
    traces = csim_trace(model, x[:16])
    assert_traces_equal(traces, golden, x[:16], "Vitis RF=1 trace")
    # the traced build still predicts
    assert_outputs_equal(csim_predict(model, x), golden, x, "Vitis RF=1 after trace")


@pytest.mark.slow
def test_vivado_rf3_trace_and_csim_match_golden(net_b_vivado):
    golden, x, model, traces = net_b_vivado
    assert_traces_equal(traces, golden, x, "Vivado RF=3 trace")
    assert_outputs_equal(csim_predict(model, x), golden, x, "Vivado RF=3")


@pytest.mark.slow
def test_io_stream_per_layer_reuse_matches_golden(net_c_stream):
    golden, x, model = net_c_stream
    assert_outputs_equal(csim_predict(model, x), golden, x, "Vivado io_stream")
    defines = (Path(model.config.get_output_dir()) / "firmware" / "defines.h").read_text()
    assert "ap_uint<3>" in defines  # output codes 0..4
    layers = {layer.name: layer for layer in model.get_layers()}
    # signed accumulators in [-11, 11] -> ap_int<5>; thresholds clipped to [-16, 16] -> ap_int<6>
    assert str(layers["acc"].get_output_variable().type.precision) == "int<5>"
    assert str(layers["out_q"].get_weights("thresholds").type.precision) == "int<6>"


@pytest.mark.slow
def test_reuse_factor_reaches_the_kernels(net_b_vivado, net_c_stream):
    _, _, model_b, _ = net_b_vivado
    params = (Path(model_b.config.get_output_dir()) / "firmware" / "parameters.h").read_text()
    # bin0: MH=23, RF=3 -> PE = 8 neurons per fold, 3 folds (the last one ragged), SIMD = MW = 37;
    # pix_thr: 37 channels -> 13 per fold, 3 folds
    for layer in model_b.get_layers():
        if layer.class_name in layer_classes():
            assert layer.get_attr("reuse_factor") == 3, layer.name
    assert "static const unsigned pe = 8, simd = 37;\n    static const unsigned nf = 3, sf = 1;" in params
    assert "static const unsigned n_pe = 13;\n    static const unsigned n_fold = 3;" in params
    assert "#pragma HLS DATAFLOW" in (Path(model_b.config.get_output_dir()) / "firmware" / "hw_bnn.cpp").read_text()
    _, _, model_s = net_c_stream
    rf = {layer.name: layer.get_attr("reuse_factor") for layer in model_s.get_layers()}
    assert rf["h0"] == 4 and rf["h1"] == 2 and rf["q"] == 2 and rf["out_q"] == 2


@pytest.mark.slow
def test_widths_are_minimal(net_b_vivado):
    golden, _, model, _ = net_b_vivado
    defines = (Path(model.config.get_output_dir()) / "firmware" / "defines.h").read_text()
    assert "typedef ap_uint<8> input_t;" in defines
    assert "typedef ap_int<5> result_t;" in defines  # accumulator of MW=13: [-13, 13]
    layers = {layer.name: layer for layer in model.get_layers()}
    assert str(layers["pix_thr"].get_weights("thresholds").type.precision) == "uint<9>"  # clipped to [0, 256]
    assert str(layers["bin1.multi"].get_output_variable().type.precision) == "uint<2>"  # codes 0..3
    assert str(layers["bin1.multi"].get_weights("thresholds").type.precision) == "uint<5>"  # 0..MW+1=24
    # SIMD = MW = 37 bits per neuron, packed into a 32-bit and a 5-bit word (unused high bits 0)
    assert str(layers["bin0"].get_weights("weight").type.precision) == "uint<32>"
    assert (
        "static const unsigned word_bits = 32, chunk_words = 2;"
        in (Path(model.config.get_output_dir()) / "firmware" / "parameters.h").read_text()
    )
    params = (Path(model.config.get_output_dir()) / "firmware" / "parameters.h").read_text()
    assert "typedef ap_uint<6> pop_t;" in params and "typedef ap_int<7> accum_t;" in params  # MW=37
    # hls4ml layer names are the golden layer names
    golden_names = [layer.name for layer in golden.layers]
    assert [name for name in layers if name in golden_names] == golden_names


@pytest.mark.slow
def test_generated_testbench_reproduces_golden(net_b_vivado, tmp_path):
    """tb_data comes from the golden model; the generated HLS testbench (C-sim) reproduces it."""
    golden, x, model, _ = net_b_vivado
    prj = Path(model.config.get_output_dir())
    x_tb = np.loadtxt(prj / "tb_data" / "tb_input_features.dat", dtype=np.int64, ndmin=2)
    y_tb = np.loadtxt(prj / "tb_data" / "tb_output_predictions.dat", dtype=np.int64, ndmin=2)
    np.testing.assert_array_equal(x_tb, x[:8])
    np.testing.assert_array_equal(y_tb, golden.run(x[:8]))
    got = run_generated_testbench(model, tmp_path)
    assert_outputs_equal(got, golden, x[:8], "generated testbench")


# ------------------------------------------------------------------------------------------
# input / output checks


@pytest.mark.slow
def test_csim_rejects_bad_inputs(net_a_vitis):
    golden, x, model = net_a_vitis
    with pytest.raises(ValueError, match="integers in"):
        csim_predict(model, x + 0.5)
    with pytest.raises(ValueError, match="integers in"):
        csim_predict(model, np.full_like(x, 256))
    with pytest.raises(ValueError, match="shape"):
        csim_predict(model, x[:, :5])


@pytest.mark.slow
def test_csim_refuses_non_integer_outputs(net_a_vitis, monkeypatch):
    golden, x, model = net_a_vitis
    real = model.predict
    monkeypatch.setattr(model, "predict", lambda xf: np.asarray(real(xf), dtype=np.float64) + 0.25)
    with pytest.raises(ValueError, match="non-integer"):
        csim_predict(model, x[:4])


# ------------------------------------------------------------------------------------------
# emission: errors, atomic output folder, registration (no compiles)


def test_non_fitting_input_range_names_the_layer(tmp_path):
    golden = make_net_a()
    golden.input_range = (0, 2**30)
    with pytest.raises(ValueError, match=r"layer 'quant_in'.*input range") as err:
        emit_project(golden, tmp_path / "prj")
    assert isinstance(err.value, HwBnnError)  # the CLI prints it as one line
    assert not (tmp_path / "prj").exists()
    assert list(tmp_path.iterdir()) == []

    golden = make_net_a()
    golden.input_range = (0, 1000)  # wider than the quantizer's declared in_range (0, 255)
    with pytest.raises(ValueError, match=r"layer 'quant_in'.*do not fit"):
        emit_project(golden, tmp_path / "prj")

    golden = make_net_a()
    golden.layers = golden.layers[1:]  # pixels straight into an XNOR layer
    with pytest.raises(ValueError, match=r"layer 'fc0'.*bits"):
        emit_project(golden, tmp_path / "prj")

    golden = make_net_b()
    del golden.layers[3]  # 3-level codes straight into an XNOR layer
    with pytest.raises(ValueError, match=r"layer 'logits'.*bits"):
        emit_project(golden, tmp_path / "prj")
    assert list(tmp_path.iterdir()) == []


def test_emit_writes_to_temp_sibling_then_renames(tmp_path, monkeypatch):
    golden = make_net_a()
    out = tmp_path / "prj"
    out.mkdir()
    (out / "OLD_MARKER").write_text("old project")
    seen = {}
    real_replace = emit_mod._replace_dir

    def spy(tmp, out_dir):
        seen["tmp"] = Path(tmp)
        seen["tmp_complete"] = (Path(tmp) / "firmware" / "hw_bnn.cpp").is_file() and (
            Path(tmp) / "tb_data" / "tb_output_predictions.dat"
        ).is_file()
        seen["out_still_old"] = (out_dir / "OLD_MARKER").is_file() and not (out_dir / "firmware").exists()
        return real_replace(tmp, out_dir)

    monkeypatch.setattr(emit_mod, "_replace_dir", spy)
    model = emit_project(golden, out, backend="Vivado", tb_inputs=_inputs(golden, 3, 4))
    assert seen["tmp"].parent == out.parent and seen["tmp"] != out
    assert seen["tmp_complete"] and seen["out_still_old"]
    assert not seen["tmp"].exists()
    assert (out / "firmware" / "hw_bnn.cpp").is_file() and not (out / "OLD_MARKER").exists()
    assert Path(model.config.get_output_dir()) == out.resolve()
    assert f"OutputDir: {out.resolve()}" in (out / "hls4ml_config.yml").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prj"]  # no temp or backup folders left


def test_failed_emit_leaves_previous_project_untouched(tmp_path, monkeypatch):
    golden = make_net_a()
    out = tmp_path / "prj"
    out.mkdir()
    (out / "OLD_MARKER").write_text("old project")

    def boom(*a, **k):
        raise RuntimeError("disk full (simulated)")

    monkeypatch.setattr(emit_mod, "_write_dat", boom)
    with pytest.raises(RuntimeError, match="simulated"):
        emit_project(golden, out, tb_inputs=_inputs(golden, 3, 4))
    assert sorted(p.name for p in out.iterdir()) == ["OLD_MARKER"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prj"]
    # and with no previous project, nothing named out_dir appears
    out2 = tmp_path / "fresh"
    with pytest.raises(RuntimeError, match="simulated"):
        emit_project(golden, out2, tb_inputs=_inputs(golden, 3, 4))
    assert not out2.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prj"]


def test_registration_is_idempotent_and_overridable(tmp_path):
    from hls4ml.backends import get_backend
    from hls4ml.model.layers import layer_map
    from hls4ml.model.optimizer import get_available_passes

    header = register()
    n_passes = len(get_available_passes())
    assert register() == header
    assert len(get_available_passes()) == n_passes
    for backend in BACKENDS:
        names = [p for p in get_available_passes() if p.startswith(backend.lower() + ":hwbnn")]
        n_layers = len(layer_classes())
        assert n_layers == 9  # threshold, xnor/int dense, conv, maxpool, flatten, fixed chain/add, concat
        assert set(layer_classes()) == set(HLS_CLASS_OF.values())  # one class per IR layer kind
        assert len(names) == 2 * n_layers, names  # config + function template for each layer
        assert get_backend(backend).get_custom_source()[f"nnet_utils{os.sep}{HEADER_NAME}"] == header
    for kind, cls in layer_classes().items():
        assert layer_map[kind] is cls
    # override: another header folder replaces the registered source
    alt = tmp_path / "alt_hls"
    alt.mkdir()
    shutil.copy(header, alt / HEADER_NAME)
    try:
        assert register(alt) == (alt / HEADER_NAME).resolve()
        for backend in BACKENDS:
            src = get_backend(backend).get_custom_source()[f"nnet_utils{os.sep}{HEADER_NAME}"]
            assert src == (alt / HEADER_NAME).resolve()
        assert len(get_available_passes()) == n_passes
    finally:
        register()
    with pytest.raises(FileNotFoundError):
        register(tmp_path / "missing")


def test_load_csim_checks_the_emitted_project(tmp_path):
    golden = make_net_a()
    x = _inputs(golden, 3, 6)
    hls = tmp_path / "build" / "hls"
    emit_project(golden, hls, backend="Vitis", reuse_factor=2, tb_inputs=x)
    before = {p: p.read_bytes() for p in hls.rglob("*") if p.is_file()}
    model = load_csim(golden, hls, backend="Vitis", reuse_factor=2, work_dir=tmp_path / "scratch", build=False)
    assert Path(model.config.get_output_dir()).parent == tmp_path / "scratch"
    assert {p: p.read_bytes() for p in hls.rglob("*") if p.is_file()} == before  # emitted folder untouched
    with pytest.raises(CsimError, match="reuse_factor"):
        load_csim(golden, hls, backend="Vitis", reuse_factor=1, work_dir=tmp_path / "s2", build=False)
    with pytest.raises(CsimError, match="backend"):
        load_csim(golden, hls, backend="Vivado", reuse_factor=2, work_dir=tmp_path / "s3", build=False)
    changed = make_net_a()
    changed.layers[2].weights[0, 0] ^= 1  # a stale project: the golden model changed since emit
    with pytest.raises(CsimError, match=r"firmware/weights/w4\.(h|txt)"):
        load_csim(changed, hls, backend="Vitis", reuse_factor=2, work_dir=tmp_path / "s4", build=False)
    with pytest.raises(CsimError, match="not an emitted"):
        load_csim(golden, tmp_path, work_dir=tmp_path / "s5", build=False)

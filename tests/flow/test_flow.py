"""End to end: data -> Brevitas training -> QONNX -> integer graph -> golden -> hls4ml C-sim."""

import json

import numpy as np
import pytest

from hw_bnn.flow.config import STAGES
from hw_bnn.flow.runner import run_flow
from hw_bnn.flow.stages import FlowConfig, step_compile, step_verify

pytestmark = pytest.mark.slow


def test_flow_end_to_end_zero_mismatches(tfc_flow):
    cfg, report = tfc_flow
    v = report["verify"]
    assert v["mismatches"] == 0
    val = v["splits"]["val"]
    assert val["images"] == 500 and val["mismatched_elements"] == 0
    assert val["accuracy"] > 0.5  # a 10-epoch TFC is far above chance (0.1)
    cc = report["compile_check"]["val"]
    assert cc["value_mismatches"] == 0 and cc["golden_vs_integer_mismatches"] == 0
    assert abs(cc["accuracy_exported"] - val["accuracy"]) < 1e-12
    names = [layer["name"] for layer in report["layers"]]
    assert names == ["quant_in", "fc1", "fc2", "fc3", "fc4"]
    fc1 = report["layers"][1]
    # the hardware accumulator of a thresholded XNOR layer is the popcount 0..784 (10 bits)
    assert fc1["input_range"] == [0, 784] and fc1["accumulator_bits"] == 10 and not fc1["accumulator_signed"]
    assert report["memory_bits"]["weights"] == 784 * 64 + 64 * 64 * 2 + 64 * 10
    md = (cfg.build / "report.md").read_text()
    assert "Verification: PASS" in md and "fc1" in md
    for f in ("train_curve.png", "memory.png", "integer.onnx", "exported.onnx", "hls"):
        assert (cfg.build / f).exists(), f


def test_integer_graph_is_integer_only(tfc_flow):
    from qonnx.core.modelwrapper import ModelWrapper

    cfg, _ = tfc_flow
    m = ModelWrapper(str(cfg.build / "integer.onnx"))
    assert [n.op_type for n in m.graph.node] == ["MultiThreshold"] + ["XnorPopcountMatMul", "MultiThreshold"] * 3 + [
        "XnorPopcountMatMul",
        "Mul",
        "Add",
    ]
    for init in m.graph.initializer:
        v = m.get_initializer(init.name)
        assert np.all(v == np.round(v)), init.name
    assert json.loads(m.get_metadata_prop("hw_bnn.output_affine"))["scale"]


def test_second_run_skips_every_stage(tfc_flow):
    cfg, _ = tfc_flow
    cfg2 = FlowConfig.load(str(cfg.build), progress=False)
    run_flow(cfg2, stages=STAGES[:-1])
    ran = [line for line in cfg2.log if not line.startswith("[synth] skipped (no targets")]  # synth is off
    assert len(ran) == len(STAGES) - 2 and all("up to date, skipped" in line for line in ran), cfg2.log


def test_failed_stage_leaves_the_folder_as_it_was(flow_copy):
    """A stage that fails leaves the build folder as it was: its old stamp (which no longer
    matches, so it runs again next time), its old outputs, no temporary folder."""
    cfg = flow_copy
    stamp = (cfg.build / ".stamps" / "compile.json").read_text()
    (cfg.build / "exported.onnx").write_bytes(b"garbage")  # the compile stage's input changes
    (cfg.build / "integer.onnx").unlink()
    from hw_bnn.errors import HwBnnError
    from hw_bnn.flow.stages import plan_compile

    with pytest.raises(HwBnnError, match="exported.onnx: not an ONNX model"):
        step_compile(cfg)
    assert (cfg.build / ".stamps" / "compile.json").read_text() == stamp
    assert not (cfg.build / "integer.onnx").exists()
    assert not any(p.name.startswith(".tmp-") for p in cfg.build.iterdir())
    st = plan_compile(cfg)
    assert not st.up_to_date() and st.reason == "its input exported.onnx changed"


def test_verify_reports_first_divergent_layer(flow_copy):
    """Corrupt one threshold of fc2 in the golden model: verify must count the mismatches and
    name fc2 (not fc1, not the output layer) as the first layer that diverges."""
    from hw_bnn.ir import IntegerNetwork

    cfg = flow_copy
    g = IntegerNetwork.load(cfg.build / "golden.npz")
    load_csim_golden = IntegerNetwork.load(cfg.build / "golden.npz")
    x = cfg_val_images(cfg)
    acts = g.run(x, trace=True)["fc1"]
    fc2 = g.layers[2]
    # pick the channel whose decision flips for the most images when its threshold moves by one
    xb, wb = acts.astype(np.int64), fc2.weights.astype(np.int64)
    p = xb @ wb + (1 - xb) @ (1 - wb)  # popcount of xnor
    hits = (p == fc2.thresholds[:, 0]).sum(0)
    ch = int(np.argmax(hits))
    assert hits[ch] > 0
    fc2.thresholds[ch, 0] += 1
    g.save(cfg.build / "golden.npz")
    # the hardware keeps the original (uncorrupted) project
    from hw_bnn.flow import stages as flow

    orig = flow.load_csim
    flow.load_csim = lambda c, _g, w=None: orig(c, load_csim_golden, w)
    try:
        res = step_verify(cfg)
    finally:
        flow.load_csim = orig
    val = res["splits"]["val"]
    assert val["mismatched_images"] > 0
    assert val["first_mismatch"]["layer"] == "fc2"
    assert val["first_mismatch"]["element"] == ch


def cfg_val_images(cfg):
    from hw_bnn.flow.stages import evaluate_splits

    return evaluate_splits(cfg)["val"].x


def test_official_test_set_bit_exact(mnist_test_dir, tfc_flow):
    """All 10k official test images: integer graph == exported (values) == golden, golden == C-sim."""
    from qonnx.core.modelwrapper import ModelWrapper

    from hw_bnn.flow import stages as flow
    from hw_bnn.ir import IntegerNetwork
    from hw_bnn.sim.csim import csim_predict
    from hw_bnn.train.data import load_idx_split

    cfg, _ = tfc_flow
    test = load_idx_split(mnist_test_dir)
    assert len(test) == 10000
    golden = IntegerNetwork.load(cfg.build / "golden.npz")
    integer = ModelWrapper(str(cfg.build / "integer.onnx"))
    res = flow.check_integer_graph(cfg.build / "exported.onnx", integer, golden, {"test": test})["test"]
    assert res["images"] == 10000 and res["value_mismatches"] == 0 and res["golden_vs_integer_mismatches"] == 0
    hls_model = flow.load_csim(cfg, golden)
    mism = np.any(csim_predict(hls_model, test.x) != golden.run(test.x), axis=1)
    assert int(mism.sum()) == 0, f"first mismatching image: {int(np.flatnonzero(mism)[0])}"

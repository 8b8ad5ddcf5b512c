"""CNNs through the whole flow: train -> export -> compile -> emit (io_stream) -> C-sim -> report."""

import json

import numpy as np
import yaml

from hw_bnn.flow import FlowConfig, run_flow
from hw_bnn.resources import recipes_dir


def _check_report(cfg, report, kinds):
    v = report["verify"]
    assert v["mismatches"] == 0
    val = v["splits"]["val"]
    assert val["images"] == 179 and val["mismatched_elements"] == 0
    assert val["accuracy"] > 0.3  # a few epochs on the digits are far above chance (0.1)
    cc = report["compile_check"]["val"]
    assert cc["value_mismatches"] == 0 and cc["golden_vs_integer_mismatches"] == 0
    assert abs(cc["accuracy_exported"] - val["accuracy"]) < 1e-12
    assert [(layer["name"], layer["kind"]) for layer in report["layers"]] == kinds
    assert report["hls"]["io_type"] == "io_stream"
    md = (cfg.build / "report.md").read_text()
    assert "Verification: PASS" in md and "conv1" in md and "(k3 s1 p1" in md


def test_tiny_cnn_end_to_end_zero_mismatches(tcnv_flow):
    cfg, report = tcnv_flow
    kinds = [
        ("conv1", "conv"),
        ("conv2", "conv"),
        ("pool1", "maxpool"),
        ("conv3", "conv"),
        ("flatten1", "flatten"),
        ("fc1", "xnor_dense"),
    ]
    _check_report(cfg, report, kinds)
    layers = {layer["name"]: layer for layer in report["layers"]}
    # first layer: 8-bit pixels x +-1 weights, 9 taps -> [-2295, 2295] at most (12-bit signed)
    assert layers["conv1"]["accumulator_signed"] and layers["conv1"]["accumulator_bits"] <= 13
    # XNOR conv: popcount of 3*3*16 = 144 -> 8 bits
    assert layers["conv2"]["input_range"] == [0, 144] and layers["conv2"]["accumulator_bits"] == 8
    info = json.loads((cfg.build / "hls" / "hw_bnn_project.json").read_text())
    assert info["io_type"] == "io_stream"


def test_tiny_cnn_w2a2_end_to_end(tmp_path):
    """A 2-bit-weight, 2-bit-activation variant of the digits CNN (recipe written here)."""
    recipe = yaml.safe_load((recipes_dir() / "tcnv-digits-w1a1.yaml").read_text())
    recipe.update(name="tcnv-digits-w2a2", weight_bits=2, act_bits=2)
    path = tmp_path / "tcnv-digits-w2a2.yaml"
    path.write_text(yaml.safe_dump(recipe))
    cfg = FlowConfig(model=str(path), out=str(tmp_path / "b"), epochs=3, progress=False)
    report = run_flow(cfg)
    kinds = [
        ("conv1", "conv"),
        ("conv2", "conv"),
        ("pool1", "maxpool"),
        ("conv3", "conv"),
        ("flatten1", "flatten"),
        ("fc1", "int_dense"),
    ]
    _check_report(cfg, report, kinds)
    layers = {layer["name"]: layer for layer in report["layers"]}
    assert layers["conv2"]["threshold_levels"] == 3 and layers["conv2"]["output_bits"] == 2
    assert layers["conv2"]["weight_bits"] == 2
    assert "pre_scale" in report["output_affine"]


def test_cnn_verify_rejects_flat_inputs(tcnv_flow, tmp_path, capsys):
    from hw_bnn.cli import main

    cfg, _ = tcnv_flow
    bad = tmp_path / "flat.npy"
    np.save(bad, np.zeros((2, 64), dtype=np.int64))
    assert main(["verify", "--out", str(cfg.build), "--inputs", str(bad)]) == 2
    assert "has shape (2, 64); the model takes (N, 1, 8, 8)" in capsys.readouterr().err

"""Residual (ReActNet-style, fixed-point shortcuts) and dense (BinaryDenseNet) networks through
the whole flow on the 8x8 digits: train -> export -> compile -> emit -> C-sim -> report, with
every matrix unit folded (PE/SIMD below full parallelism)."""

import json

import yaml

from hw_bnn.dse.folding import fold_for_target
from hw_bnn.dse.units import mvu_layers
from hw_bnn.flow import FlowConfig, run_flow
from hw_bnn.ir import IntegerNetwork


def _flow(tmp_path, name, **recipe):
    base = dict(
        name=name,
        hidden=[],
        weight_bits=1,
        act_bits=1,
        input_bits=8,
        dataset="digits",
        num_classes=10,
        train={"epochs": 3, "batch_size": 32, "lr": 0.01, "lr_schedule": "linear", "seed": 0},
    )
    base.update(recipe)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(base))
    cfg = FlowConfig(model=str(path), out=str(tmp_path / "b"), progress=False)
    # the hardware is folded: the fewest-LUT PE/SIMD for 4 cycles per output pixel of the
    # largest image, so every unit is folded (checked below) and the C-sim must stay exact
    run_flow(cfg, stages=("train", "export", "compile"))
    units = mvu_layers(IntegerNetwork.load(cfg.build / "golden.npz"))
    cfg.folding = fold_for_target(units, 4 * max(u.pixels for u in units))
    assert all(f["PE"] * f["SIMD"] < u.mh * u.mw for u, f in zip(units, cfg.folding.values()))
    report = run_flow(cfg)
    assert report["hardware"]["folding"] == cfg.folding
    # the emitted project uses that folding, and its cycle count is the cost model's
    emitted = json.loads((cfg.build / "hls" / "hw_bnn_project.json").read_text())["folding"]
    cycles = {row["name"]: row["cycles"] for row in report["hardware"]["cost"]["layers"]}
    for name, f in cfg.folding.items():
        assert (emitted[name]["PE"], emitted[name]["SIMD"]) == (f["PE"], f["SIMD"])
        assert emitted[name]["cycles_per_frame"] == cycles[name]
    return cfg, report


def _check(report, val_min=0.3):
    v = report["verify"]
    assert v["mismatches"] == 0
    val = v["splits"]["val"]
    assert val["images"] == 179 and val["mismatched_elements"] == 0
    assert val["accuracy"] > val_min
    cc = report["compile_check"]["val"]
    assert cc["golden_vs_integer_mismatches"] == 0
    assert abs(cc["accuracy_integer"] - val["accuracy"]) < 1e-12
    return cc


def test_reactnet_with_fixed_point_shortcuts_end_to_end(tmp_path):
    cfg, report = _flow(tmp_path, "tiny-reactnet", arch="reactnet", nonlin="rprelu", conv=[[8, 3, 1, 1], "R", "M", "R"])
    cc = _check(report)
    assert cc["fixed_point"]
    # the fixed-point format (8 fraction bits) costs (almost) no accuracy against the float
    # network; single decisions do move, mostly where the float outputs tie (popcount outputs)
    assert abs(cc["accuracy_integer"] - cc["accuracy_exported"]) <= 0.05, cc
    assert 0 <= cc["decision_mismatches"] < cc["images"]
    kinds = [layer["kind"] for layer in report["layers"]]
    assert kinds.count("fixed_add") == 2 and "fixed_chain" in kinds
    assert "ap_fixed<" in (cfg.build / "report.md").read_text()


def test_binary_densenet_end_to_end_bit_exact(tmp_path):
    cfg, report = _flow(
        tmp_path,
        "tiny-densenet",
        arch="densenet",
        conv=[[8, 3, 1, 1], "D4", "T8", "D4"],
        transition_bits=8,
        transition_act_bits=4,
    )
    cc = _check(report)
    assert not cc["fixed_point"] and cc["value_mismatches"] == 0
    kinds = [layer["kind"] for layer in report["layers"]]
    assert kinds.count("concat") == 2

"""``hw-bnn fold`` from the command line, and a folding it writes taken through emit + C-sim."""

import json
import shutil

import pytest

from hw_bnn.cli import main
from hw_bnn.dse.units import mvu_layers
from hw_bnn.flow.config import FlowConfig
from hw_bnn.ir import IntegerNetwork


def test_fold_a_recipe_to_a_target_fps_meets_it_and_beats_or_ties_greedy(capsys):
    # 1.5625 M frames/s at 100 MHz = 64 cycles per frame (FINN's published TFC-w1a1 point)
    assert (
        main(
            [
                "fold",
                "--model",
                "tfc-w1a1",
                "--target-fps",
                "1562500",
                "--clock-mhz",
                "100",
                "--device",
                "pynq-z2",
                "--json",
            ]
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["target_cycles"] == 64
    assert doc["cost"]["max_cycles"] <= 64
    assert doc["greedy"]["max_cycles"] <= 64 and doc["cost"]["lut"] <= doc["greedy"]["lut"]
    assert doc["fit"]["fits"] and doc["fit"]["device"] == "xc7z020"
    for row in doc["cost"]["layers"]:
        assert row["mh"] % row["pe"] == 0 and row["mw"] % row["simd"] == 0


def test_fold_to_a_lut_budget_stays_within_it(capsys):
    assert main(["fold", "--model", "tfc-w1a1", "--max-luts", "3000", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["cost"]["lut"] <= 3000
    # without --device: the fit on every catalogue device, each with the estimate's LUTs
    assert set(doc["fit_all"]) == {"xc7z020", "xczu7ev", "xcu250"}
    for f in doc["fit_all"].values():
        lut = next(r for r in f["resources"] if r["resource"] == "LUT")
        assert lut["used"] == doc["cost"]["lut"] and f["fits"]
    # one step faster would not fit: the next smaller cycle count of the bottleneck costs more
    assert main(["fold", "--model", "tfc-w1a1", "--target-cycles", str(doc["cost"]["max_cycles"] - 1), "--json"]) == 0
    faster = json.loads(capsys.readouterr().out)
    assert faster["cost"]["lut"] > 3000


def test_fold_errors_name_what_is_wrong(tmp_path, capsys):
    assert main(["fold", "--model", "tfc-w1a1", "--target-cycles", "64", "--device", "vu19p"]) == 2
    assert "unknown device 'vu19p'" in capsys.readouterr().err
    assert main(["fold", "--model", "tcnv-digits-w1a1", "--target-cycles", "1"]) == 2
    assert "layer 'conv1'" in capsys.readouterr().err  # a conv needs >= 1 cycle per output pixel: named
    assert main(["fold", "--out", str(tmp_path), "--target-cycles", "64"]) == 2
    assert "golden.npz" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"conv0": {"PE": 0}}')
    assert main(["flow", "--out", str(tmp_path), "--model", "tcnv-digits-w1a1", "--folding", str(bad)]) == 2
    assert "bad.json" in capsys.readouterr().err


def test_fold_writes_folding_json_that_the_flow_builds_bit_exact(tcnv_flow, tmp_path, capsys):
    cfg, _ = tcnv_flow
    build = tmp_path / "b"
    shutil.copytree(cfg.build, build)
    units = mvu_layers(IntegerNetwork.load(build / "golden.npz"))
    full = max(u.mh * u.mw * u.pixels for u in units)  # the slowest unit, fully folded
    target = full // 4
    assert main(["fold", "--out", str(build), "--target-cycles", str(target)]) == 0
    doc = json.loads((build / "folding.json").read_text())
    assert doc["cost"]["max_cycles"] <= target
    assert any(v["PE"] * v["SIMD"] > 1 for v in doc["folding"].values())
    assert any(v != {"PE": u.mh, "SIMD": u.mw} for u in units for k, v in doc["folding"].items() if k == u.name)
    capsys.readouterr()
    assert (
        main(["flow", "--out", str(build), "--folding", str(build / "folding.json"), "--csim-limit", "40", "--quiet"])
        == 0
    )
    verify = json.loads((build / "verify.json").read_text())
    assert verify["mismatches"] == 0 and sum(e["images"] for e in verify["splits"].values()) >= 40
    assert FlowConfig.load(str(build)).folding == doc["folding"]
    report = json.loads((build / "report.json").read_text())
    assert report["hardware"]["folding"] == doc["folding"]


@pytest.mark.parametrize("what", ["--target-cycles", "--max-luts"])
def test_fold_needs_one_goal_and_one_source(what, capsys):
    with pytest.raises(SystemExit):
        main(["fold", "--model", "tfc-w1a1"])
    with pytest.raises(SystemExit):
        main(["fold", "--model", "tfc-w1a1", "--out", "x", what, "100"])

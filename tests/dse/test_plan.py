"""One folding goal against the greedy baseline, and reading folding.json."""

import json

import pytest

from hw_bnn.dse.devices import fit_all
from hw_bnn.dse.folding import fold_for_budget, fold_for_target
from hw_bnn.dse.folding_file import load_folding
from hw_bnn.dse.plan import plan_folding
from hw_bnn.dse.units import MVU
from hw_bnn.errors import FoldingError


def tfc() -> list[MVU]:
    return [
        MVU.dense("fc0", 784, 64),
        MVU.dense("fc1", 64, 64),
        MVU.dense("fc2", 64, 64),
        MVU.dense("fc3", 64, 10, n_thresholds=0),
    ]


def test_plan_for_a_target_has_the_greedy_baseline():
    layers = tfc()
    plan = plan_folding(layers, target_cycles=64, device="pynq-z2", clock_mhz=200.0)
    assert plan.ours.folding == fold_for_target(layers, 64, "pynq-z2")
    assert plan.target_cycles == 64 and plan.ours.max_cycles <= 64 and plan.ours.clock_mhz == 200.0
    assert plan.greedy is not None and plan.greedy.max_cycles <= 64 and plan.ours.lut <= plan.greedy.lut
    assert plan.fit is not None and plan.fit.fits and plan.fit.device.name == "xc7z020"
    table = plan.comparison_table()
    assert table.splitlines()[0].startswith("layer") and "greedy:" in table.splitlines()[0]
    assert len(table.splitlines()) == 2 + len(layers) + 3
    assert "greedy SetFolding-style baseline needs" in table


def test_plan_for_a_budget_has_no_baseline_and_no_fit_without_device():
    layers = tfc()
    plan = plan_folding(layers, max_luts=3000)
    assert plan.ours.folding == fold_for_budget(layers, 3000) and plan.ours.lut <= 3000
    assert plan.greedy is None and plan.fit is None and plan.target_cycles is None
    fits = fit_all(plan.ours)
    assert set(fits) == {"xc7z020", "xczu7ev", "xcu250"} and all(f["LUT"].used == plan.ours.lut for f in fits.values())


def test_load_folding_takes_the_fold_document_or_a_bare_mapping(tmp_path):
    folding = {"fc0": {"PE": 16, "SIMD": 49}, "fc1": {"PE": 4}}
    doc = tmp_path / "folding.json"
    doc.write_text(json.dumps({"source": "x", "folding": folding, "cost": {}}))
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(folding))
    assert load_folding(doc) == folding == load_folding(str(bare))


@pytest.mark.parametrize(
    "text, what",
    [(None, "does not exist"), ("{", "not valid JSON"), ('{"fc0": {"PE": 0}}', "expected"), ("[1]", "expected")],
)
def test_load_folding_errors_name_the_file(tmp_path, text, what):
    p = tmp_path / "bad.json"
    if text is not None:
        p.write_text(text)
    with pytest.raises(FoldingError, match=f"bad.json: .*{what}"):
        load_folding(p)

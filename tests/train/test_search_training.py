"""benchmarks/search_training.py: a grid scored on the validation split, never the test set."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

import hw_bnn.train.data as D

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "search_training.py"


def _script():
    spec = importlib.util.spec_from_file_location("search_training", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_augment_strengths():
    assert _script().augment_of(2) == {"shift": 2.0, "rotate": 10.0, "scale": 0.1}
    assert _script().augment_of(0) == {"shift": 0.0, "rotate": 0.0, "scale": 0.0}


@pytest.mark.slow
def test_the_search_picks_the_best_validation_run_and_never_opens_the_test_set(tmp_path, monkeypatch, capsys):
    def no_test_set(*a, **k):
        raise AssertionError("the search opened the test set")

    monkeypatch.setattr(D, "load_idx_split", no_test_set)
    monkeypatch.setattr(D, "load_test_split", no_test_set)
    out = tmp_path / "s.json"
    args = ["--model", "tcnv-digits-w1a1", "--epochs", "1", "--lr", "0.0001", "0.02", "--augment", "0", "1"]
    assert _script().main([*args, "--jobs", "1", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert len(doc["runs"]) == 4 and {tuple(r["settings"]) for r in doc["runs"]} == {("lr", "augment")}
    best = max(doc["runs"], key=lambda r: r["val_acc"])
    assert doc["chosen"] == best["settings"]
    table = capsys.readouterr().out
    assert f"chosen: {best['settings']}" in table and table.count("\n| ") >= 5

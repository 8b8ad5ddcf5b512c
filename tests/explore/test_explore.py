"""hw-bnn explore: sweeps under the serial and Ray engines, failure isolation, resumability,
spec validation.  Tiny MLPs on the 8x8 digits (1 epoch), few C-simulation builds."""

import argparse
import copy
import csv
import json
import re
import shutil

import pytest

from hw_bnn.errors import HwBnnError, SpecError
from hw_bnn.explore import cli, point
from hw_bnn.explore.engines import resolve_engine
from hw_bnn.explore.results import COLUMNS, pareto_front
from hw_bnn.explore.spec import load_spec
from hw_bnn.explore.sweep import run_sweep

TINY = {
    "name": "tmlp",
    "arch": "fc",
    "hidden": [16],
    "input_bits": 1,
    "dataset": "digits",
    "num_classes": 10,
    "train": {"epochs": 1, "batch_size": 64, "lr": 0.02, "seed": 0},
}

# two network points x one target x one device: two C-simulation builds per engine
SPEC = {
    "name": "tiny",
    "recipes": [TINY],
    "bits": ["w1a1", "w1a2"],
    "targets": {"cycles": [64], "clock_mhz": 100},
    "devices": ["pynq-z2"],
    "csim_limit": 8,
    "verify_limit": 60,
}


def _spec(**changes) -> dict:
    s = copy.deepcopy(SPEC)
    s.update(changes)
    return s


def _csv_rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


# --------------------------------------------------------------------------------------
# (a) the same table under both engines


@pytest.fixture(scope="module")
def serial_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("explore") / "serial"
    return run_sweep(_spec(), out, engine="serial", progress=False), out


def test_serial_sweep_outputs(serial_sweep):
    res, out = serial_sweep
    assert res.engine == "serial" and res.failed == 0 and res.failed_nets == []
    assert sorted(res.ran) == ["tmlp-w1a1", "tmlp-w1a2"] and res.reused == []
    rows = _csv_rows(out / "results.csv")
    assert list(rows[0].keys()) == list(COLUMNS)
    assert [r["point"] for r in rows] == ["tmlp-w1a1/64cyc/xc7z020", "tmlp-w1a2/64cyc/xc7z020"]
    for r in rows:
        assert r["status"] == "ok", r["error"]
        assert r["device"] == "xc7z020"  # pynq-z2 is the board name of the xc7z020
        assert int(r["max_cycles"]) <= 64 and r["fits"] == "True"
        assert int(r["csim_images"]) == 8 and r["csim_mismatches"] == "0" and r["golden_vs_integer_mismatches"] == "0"
        assert 0.0 < float(r["accuracy"]) == float(r["val_acc"]) <= 1.0 and r["test_acc"] == ""
        folding = json.loads(r["folding"])
        assert set(folding) and all(set(v) == {"PE", "SIMD"} for v in folding.values())
        build = out / r["build"]
        assert build.name.startswith("fold-") and (build / "hls").is_dir()
        assert json.loads((build / "folding.json").read_text())["folding"] == folding
        assert json.loads((build / "verify.json").read_text())["mismatches"] == 0
        emitted = json.loads((build / "hls" / "hw_bnn_project.json").read_text())[
            "folding"
        ]  # the C-sim ran this folding
        assert {k: {"PE": emitted[k]["PE"], "SIMD": emitted[k]["SIMD"]} for k in folding} == folding
        # weight memory: sum of MH * MW * W over the matrix units (64 -> 16 -> 10, 1-bit weights)
        assert int(r["weight_memory_bits"]) == 64 * 16 + 16 * 10
    # the 2-bit activations make the second layer wider: more LUTs at the same target
    assert int(rows[1]["lut"]) > int(rows[0]["lut"])
    for name in ("results.json", "pareto_lut.png", "pareto_fps.png", "report.md", "report.html", "spec.yaml"):
        assert (out / name).is_file(), name
    doc = json.loads((out / "results.json").read_text())
    assert doc["counts"] == {"ok": 2, "infeasible": 0, "failed": 0}
    assert "timings" in doc and set(doc["timings"]["points"]) == {"tmlp-w1a1", "tmlp-w1a2"}
    assert not any(c.endswith("_s") or "time" in c for c in COLUMNS)  # timings stay out of the table
    md = (out / "report.md").read_text()
    assert "pareto_lut.png" in md and rows[0]["build"] in md and "| L" in md
    assert not list(out.glob(".*.tmp*")) and not list(out.glob(".results*"))  # no temporary files left


def test_ray_engine_gives_the_same_table(serial_sweep, tmp_path):
    pytest.importorskip("ray")
    _, serial_out = serial_sweep
    res = run_sweep(_spec(), tmp_path / "ray", engine="ray", workers=2, progress=False)
    assert res.engine == "ray" and res.failed == 0
    assert (tmp_path / "ray" / "results.csv").read_bytes() == (serial_out / "results.csv").read_bytes()
    pids = {v["pid"] for v in json.loads((tmp_path / "ray" / "results.json").read_text())["timings"]["points"].values()}
    import os

    assert os.getpid() not in pids  # the points ran in Ray workers


def test_ray_worker_crash_is_recorded(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")

    def crash(point, out):  # defined here: Ray ships it by value to the worker
        import os

        os._exit(3)

    monkeypatch.setattr(point, "run_net_point", crash)
    res = run_sweep(_spec(bits=["w1a1"]), tmp_path / "crash", engine="ray", progress=False)
    assert not ray.is_initialized()  # the instance the sweep started is shut down
    assert res.failed == 1 and res.failed_nets == ["tmlp-w1a1"]
    (row,) = _csv_rows(tmp_path / "crash" / "results.csv")
    assert row["status"] == "failed" and "Error" in row["error"]
    stored = json.loads((tmp_path / "crash" / "nets" / "tmlp-w1a1" / "result.json").read_text())
    assert stored["status"] == "failed"


# --------------------------------------------------------------------------------------
# (b) failure isolation and (c) resumability


BROKEN = {**TINY, "name": "broken", "dataset": "mnist"}  # mnist needs a data_dir: fails when training starts


@pytest.fixture(scope="module")
def mixed_sweep(tmp_path_factory):
    """A point that trains, one that breaks at training; one target that fits a device cut to
    5 % and one that cannot (1 cycle per frame needs every layer fully parallel).  No C-sim."""
    d = tmp_path_factory.mktemp("explore")
    spec = _spec(
        recipes=[TINY, BROKEN], bits=["w1a1"], targets={"cycles": [1, 1024]}, utilization_limit=0.05, csim_limit=0
    )
    res = run_sweep(spec, d / "mixed", engine="serial", progress=False)
    return spec, res, d / "mixed"


def test_failed_point_is_recorded_and_others_finish(mixed_sweep):
    _, res, out = mixed_sweep
    rows = {r["point"]: r for r in _csv_rows(out / "results.csv")}
    assert set(rows) == {f"{n}-w1a1/{t}/xc7z020" for n in ("tmlp", "broken") for t in ("1cyc", "1024cyc")}
    assert res.failed == 2 and res.failed_nets == ["broken-w1a1"]
    for t in ("1cyc", "1024cyc"):
        bad = rows[f"broken-w1a1/{t}/xc7z020"]
        assert bad["status"] == "failed"
        assert bad["error"].startswith("DataError: ") and "data-dir" in bad["error"]
        assert bad["build"] == "nets/broken-w1a1"
    ok = rows["tmlp-w1a1/1024cyc/xc7z020"]
    assert ok["status"] == "ok" and ok["fits"] == "True" and ok["csim_images"] == "" and ok["error"] == ""
    inf = rows["tmlp-w1a1/1cyc/xc7z020"]
    assert inf["status"] == "infeasible" and inf["fits"] == "False" and "fits xc7z020" in inf["error"]
    assert int(inf["lut"]) > 0.05 * 53_200  # the cheapest folding that meets the target, for the record
    assert float(inf["lut_util_pct"]) > 5.0
    assert ok["pareto_lut"] == "True" and inf["pareto_lut"] == "False"
    stored = json.loads((out / "nets" / "tmlp-w1a1" / "result.json").read_text())
    assert stored["status"] == "ok"  # one ok and one infeasible hardware point
    assert json.loads((out / "nets" / "broken-w1a1" / "result.json").read_text())["status"] == "failed"


def test_cli_rerun_skips_finished_points_retries_failed_and_force_redoes(mixed_sweep, tmp_path):
    spec, _, src = mixed_sweep
    out = tmp_path / "mixed"
    shutil.copytree(src, out)
    spec_path = tmp_path / "spec.yaml"
    import yaml

    spec_path.write_text(yaml.safe_dump(spec))
    ap = argparse.ArgumentParser(prog="hw-bnn")
    sub = ap.add_subparsers(dest="command")
    cli.add_explore_parser(sub)

    good = out / "nets" / "tmlp-w1a1" / "result.json"
    bad = out / "nets" / "broken-w1a1" / "result.json"
    before_good, before_bad = good.stat().st_mtime_ns, bad.stat().st_mtime_ns
    calls = []
    real = point.run_net_point

    def counting(point, o):
        calls.append(point["id"])
        return real(point, o)

    point.run_net_point = counting
    try:
        args = ap.parse_args(["explore", str(spec_path), "--out", str(out), "--engine", "serial", "--quiet"])
        assert cli.cmd_explore(args) == 1  # the broken point still fails: non-zero exit
        assert calls == ["broken-w1a1"]  # the finished point is not redone, the failed one is re-tried
        assert good.stat().st_mtime_ns == before_good and bad.stat().st_mtime_ns != before_bad
        assert _csv_rows(out / "results.csv") == _csv_rows(src / "results.csv")

        calls.clear()
        args = ap.parse_args(["explore", str(spec_path), "--out", str(out), "--engine", "serial", "--quiet", "--force"])
        assert cli.cmd_explore(args) == 1
        assert sorted(calls) == ["broken-w1a1", "tmlp-w1a1"]
        assert good.stat().st_mtime_ns != before_good
        assert _csv_rows(out / "results.csv") == _csv_rows(src / "results.csv")
    finally:
        point.run_net_point = real


def test_changed_settings_redo_a_finished_point(mixed_sweep, tmp_path):
    spec, _, src = mixed_sweep
    out = tmp_path / "mixed"
    shutil.copytree(src, out)
    res = run_sweep(
        _spec(recipes=[TINY], bits=["w1a1"], targets={"cycles": [1024]}, utilization_limit=0.05, csim_limit=0),
        out,
        engine="serial",
        progress=False,
    )
    assert res.ran == ["tmlp-w1a1"] and res.failed == 0  # another target list: the point is evaluated again
    (row,) = _csv_rows(out / "results.csv")  # only the points of this spec are in its table
    assert row["point"] == "tmlp-w1a1/1024cyc/xc7z020" and row["status"] == "ok"


# --------------------------------------------------------------------------------------
# (d) spec validation


@pytest.mark.parametrize(
    "change, key",
    [
        ({"colour": "red"}, "colour"),
        ({"bits": ["w3a1"]}, "bits"),
        ({"bits": "w1"}, "bits"),
        ({"widths": [0]}, "widths"),
        ({"widths": [[16, 8]], "depths": [2]}, "widths"),
        ({"depths": [-1]}, "depths"),
        ({"epochs": 0}, "epochs"),
        ({"targets": {"cycles": [0]}}, "targets.cycles"),
        ({"targets": {"fps": [-5]}}, "targets.fps"),
        ({"targets": {"cycle": [64]}}, "targets.cycle"),
        ({"targets": {"clock_mhz": 100}}, "targets"),
        ({"targets": {"fps": 1e9, "clock_mhz": 100}}, "targets.fps"),
        ({"devices": ["virtex-9"]}, "devices"),
        ({"devices": []}, "devices"),
        ({"recipes": ["no-such-recipe"]}, "recipes[0]"),
        ({"recipes": [{"arch": "fc"}]}, "recipes[0]"),
        ({"recipes": [{**TINY, "arch": "mlp"}]}, "recipes[0]"),
        ({"recipes": [TINY, TINY]}, "recipes"),
        ({"utilization_limit": 1.5}, "utilization_limit"),
        ({"csim_limit": -1}, "csim_limit"),
        ({"verify_limit": 0}, "verify_limit"),
        ({"data_dir": "/no/such/folder"}, "data_dir"),
        ({"threads_per_point": 0}, "threads_per_point"),
    ],
)
def test_spec_errors_name_the_key(change, key):
    with pytest.raises(SpecError, match=rf"^sweep spec: {re.escape(key)}(\[\d+\])?: "):
        load_spec(_spec(**change))


def test_spec_missing_key_and_file_errors(tmp_path):
    s = _spec()
    del s["devices"]
    with pytest.raises(SpecError, match=r"devices: required key is missing"):
        load_spec(s)
    p = tmp_path / "bad.yaml"
    p.write_text("recipes: [tfc-w1a1]\ntargets: {cycles: 64}\ndevices: [xc7z020]\nbitz: [w1a1]\n")
    with pytest.raises(SpecError, match=rf"{re.escape(str(p))}: bitz: unknown key \(did you mean bits\?\)"):
        load_spec(p)
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(tmp_path / "missing.yaml")


def test_spec_points_expand_the_axes():
    s = load_spec(_spec(recipes=["tfc-w1a1", TINY], bits=["w1a1", "W2A2"], widths=[32, 8], depths=[1, 2], epochs=3))
    pts = s.points()
    assert len(pts) == 2 * 2 * 2 * 2
    ids = [p["id"] for p in pts]
    assert "tfc-w2a2-h32x32" in ids and "tmlp-w1a1-h8" in ids and len(set(ids)) == len(ids)
    p = pts[ids.index("tfc-w2a2-h32x32")]
    assert p["recipe"]["hidden"] == [32, 32] and (p["recipe"]["weight_bits"], p["recipe"]["act_bits"]) == (2, 2)
    assert p["recipe"]["train"]["epochs"] == 3 and p["recipe"]["name"] == p["id"]
    fps = load_spec(_spec(targets={"fps": [1e6], "clock_mhz": 200})).targets
    assert fps == [{"label": "1000000fps", "cycles": 200, "clock_mhz": 200.0, "fps": 1e6}]
    # the settings of a point are its key: any change gives another key
    assert load_spec(_spec(csim_limit=9)).points()[0]["key"] != load_spec(_spec()).points()[0]["key"]


def test_engine_errors():
    with pytest.raises(SpecError, match="--address"):
        run_sweep(_spec(), "/nonexistent/never-created", engine="serial", address="auto", progress=False)
    with pytest.raises(SpecError, match="engine"):
        run_sweep(_spec(), "/nonexistent/never-created", engine="dask", progress=False)
    with pytest.raises(SpecError, match="workers must be an int >= 1"):
        run_sweep(_spec(), "/nonexistent/never-created", engine="serial", workers=0, progress=False)
    assert issubclass(SpecError, HwBnnError)


def test_auto_engine_without_ray_is_serial(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    assert resolve_engine("auto", None) == "serial"
    with pytest.raises(SpecError, match="Ray is not installed"):
        resolve_engine("ray", None)


def test_pareto_front():
    rows = [
        {"point": "a", "status": "ok", "accuracy": 0.9, "lut": 100, "fps": 10.0},
        {"point": "b", "status": "ok", "accuracy": 0.8, "lut": 50, "fps": 20.0},
        {"point": "c", "status": "ok", "accuracy": 0.8, "lut": 120, "fps": 5.0},  # dominated by a in both
        {"point": "d", "status": "ok", "accuracy": 0.9, "lut": 100, "fps": 10.0},  # a tie with a: both stay
        {"point": "e", "status": "infeasible", "accuracy": 0.99, "lut": 1, "fps": 1e9},  # not a design
        {"point": "f", "status": "ok", "accuracy": 0.7, "lut": 60, "fps": 30.0},
    ]
    assert pareto_front(rows, "lut", False) == {"a", "b", "d"}
    assert pareto_front(rows, "fps", True) == {"a", "b", "d", "f"}

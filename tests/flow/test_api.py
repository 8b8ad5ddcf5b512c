"""The Python API (hw_bnn.flow.run, train, ..., report) mirrors the CLI: the same keywords as
the options, the same artifacts bit for bit, and a clear HwBnnError for a bad keyword."""

import argparse

import numpy as np
import pytest

import hw_bnn.flow as flow
from hw_bnn.cli import build_parser, main
from hw_bnn.errors import HwBnnError, OptionError
from hw_bnn.flow.options import API_FUNCTION, COMMANDS

MODEL = "tcnv-digits-w1a1"


def _subparsers(parser: argparse.ArgumentParser) -> dict:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def test_every_cli_option_is_an_api_keyword():
    """The CLI's flow commands take exactly the options the API checks (one table)."""
    subs = _subparsers(build_parser())
    for command, (_, options) in COMMANDS.items():
        dests = [a.dest for a in subs[command]._actions if a.dest != "help"]
        assert dests == [o.name for o in options], command
        assert callable(getattr(flow, API_FUNCTION.get(command, command)))


def test_bad_option_name_is_a_clear_error(tmp_path):
    out = tmp_path / "b"
    with pytest.raises(HwBnnError, match=r"flow: unknown option 'reuse_factr' \(did you mean reuse_factor\?\)"):
        flow.run(MODEL, out=out, reuse_factr=2)
    with pytest.raises(OptionError, match="export: unknown option 'backend'; it takes out, data_dir"):
        flow.export(out=out, backend="Vitis")
    with pytest.raises(OptionError, match=r"train: epochs='2': expected int"):
        flow.train(MODEL, out=out, epochs="2")
    with pytest.raises(OptionError, match="emit: backend='vitis': expected one of Vitis, Vivado"):
        flow.emit(out=out, backend="vitis")
    with pytest.raises(OptionError, match="flow: out= is required"):
        flow.run(MODEL)
    with pytest.raises(OptionError, match="train: --model is required for a new build folder"):
        flow.train(out=out)
    assert not out.exists()  # nothing was written


def test_api_takes_the_folding_itself(tmp_path, flow_copy):
    """``folding=`` takes the dict as well as a folding.json; it is saved in flow.json once the
    command succeeds, and a rejected command leaves nothing behind."""
    out = tmp_path / "new"
    with pytest.raises(HwBnnError, match="the train stage has not run"):
        flow.emit(out=out, folding={"fc1": {"PE": 2, "SIMD": 4}}, quiet=True)
    assert not out.exists()
    flow.emit(out=flow_copy.build, folding={"fc1": {"PE": 2, "SIMD": 4}}, quiet=True)
    assert flow.FlowConfig.load(str(flow_copy.build)).folding == {"fc1": {"PE": 2, "SIMD": 4}}


@pytest.mark.slow
def test_api_gives_the_same_bits_as_the_cli(tmp_path, capsys):
    """hw_bnn.flow.run(...) and ``hw-bnn flow`` with the same options write the same golden.npz
    bytes; so do the per-stage functions."""
    api = flow.run(MODEL, out=tmp_path / "api", epochs=2, csim_limit=20, quiet=True)
    assert api["verify"]["mismatches"] == 0 and api["verify"]["splits"]["val"]["images"] == 20
    argv = ["flow", "--model", MODEL, "--out", str(tmp_path / "cli"), "--epochs", "2", "--csim-limit", "20", "--quiet"]
    assert main(argv) == 0
    assert "golden vs C simulation: 0 mismatches on 20 images" in capsys.readouterr().out

    stages = tmp_path / "stages"
    summary = flow.train(MODEL, out=stages, epochs=2, quiet=True)
    assert summary["val_acc"] == api["training"]["val_acc"]
    assert flow.export(out=stages, quiet=True)["images"] == api["export_check"]["images"]
    assert flow.compile(out=stages, quiet=True) == api["compile_check"]

    golden = (tmp_path / "api" / "golden.npz").read_bytes()
    for other in ("cli", "stages"):
        assert (tmp_path / other / "golden.npz").read_bytes() == golden, other
        with np.load(tmp_path / other / "golden.npz") as a, np.load(tmp_path / "api" / "golden.npz") as b:
            assert sorted(a.files) == sorted(b.files)

    # the later stages on the API's folder are up to date; the report is the same
    again = flow.verify(out=tmp_path / "api", quiet=True)
    assert again == api["verify"]
    assert flow.report(out=tmp_path / "api", quiet=True)["layers"] == api["layers"]

"""A build folder you can trust: each test reproduces one way the flow used to be fooled or to
fail with a traceback, on a copy of the tiny digits CNN's finished build.

Edited artifacts are rebuilt (or refused with ``protect_edits``), a stage run alone refuses
stale inputs, ad-hoc verifications never replace the build's record, one run at a time holds a
folder, a rejected option changes nothing, and interrupted runs leave nothing behind."""

import json
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import hw_bnn.flow as flow
from hw_bnn.cli import main
from hw_bnn.errors import BuildFolderError, HwBnnError
from hw_bnn.flow import FlowConfig, run_flow
from hw_bnn.flow.session import build_session
from hw_bnn.flow.stamps import tree_sha

ARTIFACTS = ("integer.onnx", "golden.npz", "hls", "verify.json", "report.json")


@pytest.fixture
def cnv(tcnv_flow, tmp_path):
    """A private copy of the session's finished tcnv-digits-w1a1 build."""
    cfg, _ = tcnv_flow
    shutil.copytree(cfg.build, tmp_path / "b")
    return FlowConfig.load(str(tmp_path / "b"), progress=False)


def hashes(b) -> dict:
    return {a: tree_sha(b / a) for a in ARTIFACTS}


def rerun(cfg) -> list[str]:
    """``hw-bnn flow --out B`` on the folder: the stage messages (but the synth stage's, which is
    off without ``--synth``)."""
    again = FlowConfig.load(str(cfg.build), progress=False)
    run_flow(again)
    return [m for m in again.log if not m.startswith("[synth] skipped (no targets")]


def add_50_to_a_threshold(path) -> None:
    m = onnx.load(str(path))
    inputs = {n.input[1] for n in m.graph.node if n.op_type == "MultiThreshold"}
    init = next(i for i in m.graph.initializer if i.name in inputs)
    a = numpy_helper.to_array(init).copy()
    a.flat[0] += 50
    init.CopyFrom(numpy_helper.from_array(a, init.name))
    onnx.save(m, str(path))


# --- outputs are covered by the stamps ----------------------------------------------------


def test_edited_integer_graph_is_rebuilt(cnv):
    before = hashes(cnv.build)
    add_50_to_a_threshold(cnv.build / "integer.onnx")
    log = rerun(cnv)
    assert "[compile] re-running: integer.onnx changed since the compile stage wrote it" in log
    assert hashes(cnv.build) == before  # rebuilt as it was; emit and verify then had nothing to do
    assert "[emit] up to date, skipped" in log and "[verify] up to date, skipped" in log


def test_edited_golden_model_is_rebuilt(cnv):
    before = hashes(cnv.build)
    with np.load(cnv.build / "golden.npz") as z:
        arrays = dict(z)
    key = next(k for k in arrays if k.endswith("_thresholds"))
    arrays[key] = arrays[key] + 50
    np.savez(cnv.build / "golden.npz", **arrays)
    log = rerun(cnv)
    assert "[compile] re-running: golden.npz changed since the compile stage wrote it" in log
    assert hashes(cnv.build) == before


def test_truncated_golden_model_is_rebuilt(cnv):
    data = (cnv.build / "golden.npz").read_bytes()
    (cnv.build / "golden.npz").write_bytes(data[: len(data) // 2])
    log = rerun(cnv)
    assert "[compile] re-running: golden.npz changed since the compile stage wrote it" in log
    assert (cnv.build / "golden.npz").read_bytes() == data


def test_edited_hardware_source_is_rebuilt_or_refused(cnv):
    before = tree_sha(cnv.build / "hls" / "firmware")
    cpp = cnv.build / "hls" / "firmware" / "hw_bnn.cpp"
    cpp.write_text(cpp.read_text() + "// edited\n")
    with pytest.raises(BuildFolderError, match=r"hls: changed since the emit stage wrote it; it is kept"):
        flow.run(out=cnv.build, protect_edits=True, quiet=True)
    assert cpp.read_text().endswith("// edited\n")  # kept, as asked
    log = rerun(cnv)
    assert "[emit] re-running: hls changed since the emit stage wrote it" in log
    assert tree_sha(cnv.build / "hls" / "firmware") == before
    # this copy of the build lives elsewhere, so its hls4ml_config.yml (OutputDir) differs: verified again
    assert "[verify] re-running: its input hls changed" in log
    assert json.loads((cnv.build / "verify.json").read_text())["mismatches"] == 0


def test_report_names_what_it_verified(cnv):
    report = json.loads((cnv.build / "report.json").read_text())
    checked = report["verified"]["artifacts"]
    assert checked == {"golden.npz": tree_sha(cnv.build / "golden.npz"), "hls": tree_sha(cnv.build / "hls")}
    assert set(report["verified"]["splits"]) == {"val"} and report["verified"]["splits"]["val"]["inputs_sha256"]
    assert "Checked: `golden.npz` sha256 " + checked["golden.npz"][:16] in (cnv.build / "report.md").read_text()


# --- stages run alone ---------------------------------------------------------------------


def test_compile_of_another_onnx_is_not_mistaken_for_the_build(cnv, tfc_flow):
    other = tfc_flow[0].build / "exported.onnx"
    flow.compile(out=cnv.build, onnx=other, quiet=True)
    with pytest.raises(BuildFolderError, match="the emit stage is out of date .its input golden.npz changed"):
        flow.report(out=cnv.build, quiet=True)
    log = rerun(cnv)  # the flow compiles the build's own exported.onnx again
    assert any(m.startswith("[compile] re-running: it read other inputs (/") for m in log), log
    assert json.loads((cnv.build / "report.json").read_text())["compiled_from"] is None


def test_training_alone_makes_the_later_stages_refuse(cnv):
    before = (cnv.build / "verify.json").read_text()
    flow.train(out=cnv.build, epochs=1, force=True, quiet=True)
    for command in (flow.verify, flow.report):
        with pytest.raises(BuildFolderError, match=r"the export stage is out of date \(its input checkpoint.pt"):
            command(out=cnv.build, force=True, quiet=True)
    assert (cnv.build / "verify.json").read_text() == before


@pytest.mark.slow
def test_adhoc_verification_is_recorded_apart(cnv):
    before = (cnv.build / "verify.json").read_bytes()
    x = np.zeros((5, 1, 8, 8), dtype=np.int64)
    res = flow.verify(out=cnv.build, inputs=x, quiet=True)
    assert res["mismatches"] == 0 and res["splits"]["inputs"]["images"] == 5
    assert (cnv.build / "verify.json").read_bytes() == before
    record = json.loads(open(res["record"]).read())
    assert record["artifacts"]["golden.npz"] == tree_sha(cnv.build / "golden.npz")
    report = flow.report(out=cnv.build, quiet=True)
    assert set(report["verify"]["splits"]) == {"val"}


# --- one run per folder, rejected options, read-only folders ---------------------------------


def test_a_folder_in_use_is_refused(cnv):
    with build_session(FlowConfig.load(str(cnv.build), progress=False)):
        with pytest.raises(BuildFolderError, match=r"in use by another hw-bnn run \(pid \d+"):
            flow.run(out=cnv.build, quiet=True)
    rerun(cnv)  # free again


@pytest.mark.parametrize(
    "option, error",
    [
        ({"folding": {"nope": {"PE": 1, "SIMD": 1}}}, "folding=: folding names unknown layers"),
        ({"folding": {"conv1": {"PE": 1, "SMID": 1}}}, r"SMID: unknown key \(did you mean SIMD\?\)"),
        ({"acc_bits": 2}, "need"),
        ({"reuse_factor": 0}, "reuse_factor"),
    ],
)
def test_a_rejected_option_changes_nothing(cnv, option, error):
    files = {p.name: tree_sha(p) for p in cnv.build.iterdir() if p.name != ".lock"}
    with pytest.raises(HwBnnError, match=error):
        flow.run(out=cnv.build, quiet=True, **option)
    assert {p.name: tree_sha(p) for p in cnv.build.iterdir() if p.name != ".lock"} == files
    assert all(m.endswith("up to date, skipped") for m in rerun(cnv))


def test_folding_none_clears_a_saved_folding(cnv):
    cfg = FlowConfig.load(str(cnv.build))
    cfg.folding = {"conv1": {"PE": 1}}
    (cnv.build / "flow.json").write_text(json.dumps(cfg.settings()))
    with pytest.raises(HwBnnError):
        flow.emit(out=cnv.build, folding="nope.json", quiet=True)
    flow.emit(out=cnv.build, folding="none", quiet=True)
    assert FlowConfig.load(str(cnv.build)).folding is None


def test_a_read_only_folder_is_used_without_writing(cnv, monkeypatch):
    import hw_bnn.flow.session as session

    monkeypatch.setattr(session.os, "access", lambda path, mode: False)
    files = {p.name: p.stat().st_mtime_ns for p in cnv.build.iterdir()}
    flow.run(out=cnv.build, quiet=True)  # every stage is up to date: nothing to write
    assert {p.name: p.stat().st_mtime_ns for p in cnv.build.iterdir()} == files
    with pytest.raises(BuildFolderError, match=r"read-only, and the train stage must run \(--force\)"):
        flow.run(out=cnv.build, force=True, quiet=True)


# --- interrupted runs ---------------------------------------------------------------------


def test_leftovers_of_a_killed_run_are_removed(cnv):
    (cnv.build / ".tmp-verify-abc" / "hls").mkdir(parents=True)
    (cnv.build / ".old-hls-123").mkdir()
    rerun(cnv)
    assert not [p.name for p in cnv.build.iterdir() if p.name.startswith((".tmp-", ".old-"))]


def test_sigint_leaves_no_temporary_folder(tmp_path):
    out = tmp_path / "b"
    # 1,000 epochs: the run is still training when the signal comes, however fast the machine (with
    # the recipe's few epochs a loaded CI machine once finished, exit 0, between poll and signal)
    cmd = [sys.executable, "-m", "hw_bnn.cli", "train", "--model", "tcnv-digits-w1a1", "--epochs", "1000"]
    cmd += ["--out", str(out)]
    # the child gets SIGINT's default action: a shell running the suite in the background (a CI
    # job, `make test &`) starts it with SIGINT ignored, and Python keeps an ignored SIGINT ignored
    restore = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=restore)
    # wait for the first epoch's resumable state, so the training loop is running: under load, a
    # SIGINT sent while the stage was still starting was once lost and the run ended with exit 0
    deadline = time.time() + 180
    while time.time() < deadline and not (out / "checkpoint.partial.pt").exists():
        time.sleep(0.05)
    assert any(out.glob(".tmp-train-*")), "the train stage did not start"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert not [p.name for p in out.iterdir() if p.name.startswith((".tmp-", ".old-"))]


# --- every failure is one line -----------------------------------------------------------


def test_an_internal_error_is_one_line_with_exit_1(cnv, capsys, monkeypatch):
    from hw_bnn.flow import stages

    def broken(cfg):
        raise RuntimeError("boom")

    monkeypatch.setitem(stages.STEP_FUNCTIONS, "train", broken)
    assert main(["flow", "--out", str(cnv.build)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hw-bnn: internal error: RuntimeError: boom (at runner.py:")
    assert "--debug" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    with pytest.raises(RuntimeError, match="boom"):
        main(["--debug", "flow", "--out", str(cnv.build)])


@pytest.mark.parametrize(
    "x, message",
    [
        (np.full((2, 1, 8, 8), 0.5), "has dtype float64; expected an integer array"),
        (np.full((2, 1, 8, 8), np.nan), "has dtype float64"),
        (np.full((2, 1, 8, 8), -1), r"values must lie in \[0, 255\].*the first is input 0"),
        (np.full((2, 1, 8, 8), 300), r"values must lie in \[0, 255\]"),
        (np.zeros((0, 1, 8, 8), dtype=np.int64), "holds no inputs"),
        (np.full((2, 1, 8, 8), "a"), "has dtype <U1"),
        (np.zeros((2, 64), dtype=np.int64), r"has shape \(2, 64\); the model takes \(N, 1, 8, 8\)"),
    ],
)
def test_bad_inputs_are_named_before_anything_runs(cnv, capsys, tmp_path, x, message):
    path = tmp_path / "x.npy"
    np.save(path, x)
    assert main(["verify", "--out", str(cnv.build), "--inputs", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hw-bnn: error: {path}: ") and len(err.strip().splitlines()) == 1
    import re

    assert re.search(message, err), err
    assert not (cnv.build / "adhoc").exists()

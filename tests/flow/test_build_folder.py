"""Build folders: stage stamps (skip, atomic publish) and folders an older hw-bnn wrote."""

import json

import pytest

import hw_bnn.flow as flow
from hw_bnn.cli import main
from hw_bnn.errors import BuildFolderError
from hw_bnn.flow.config import FlowConfig
from hw_bnn.flow.stages import step_compile
from hw_bnn.flow.stamps import StageRun, stage_key, tree_sha


def _old_folder(path, stamp: bool = False):
    """A build folder as hw-bnn wrote it before the integer graph was named integer.onnx."""
    path.mkdir()
    (path / "flow.json").write_text(json.dumps({"model": "tcnv-digits-w1a1", "out": str(path)}))
    if stamp:
        (path / ".stamps").mkdir()
        (path / ".stamps" / "compile.json").write_text(json.dumps({"key": "k", "outputs": ["folded.onnx"]}))
    else:
        (path / "folded.onnx").write_bytes(b"an integer graph")
    return path


@pytest.mark.parametrize("command", ["flow", "train", "export", "compile", "emit", "verify", "report"])
def test_old_build_folder_is_refused_by_every_command(command, tmp_path, capsys):
    old = _old_folder(tmp_path / "old")
    assert main([command, "--out", str(old)]) == 2
    err = capsys.readouterr().err
    assert f"{old}: written by an older hw-bnn (it holds folded.onnx; folded.onnx is now integer.onnx)" in err
    assert "re-run with --force" in err and "new --out" in err and "Traceback" not in err
    assert (old / "folded.onnx").exists()


def test_old_stamp_is_refused(tmp_path):
    old = _old_folder(tmp_path / "old", stamp=True)
    with pytest.raises(BuildFolderError, match=r"it holds \.stamps/compile\.json"):
        flow.run(out=old)
    with pytest.raises(BuildFolderError, match="written by an older hw-bnn"):
        step_compile(FlowConfig.load(str(old), progress=False))  # the stages refuse it too


def test_force_clears_the_old_artifacts(tmp_path, capsys):
    old = _old_folder(tmp_path / "old")
    assert main(["report", "--out", str(old), "--force"]) == 2  # runs, and stops at the missing input
    assert "the train stage has not run" in capsys.readouterr().err
    assert not (old / "folded.onnx").exists()


def test_flow_json_of_another_version_is_refused(tmp_path):
    b = tmp_path / "b"
    b.mkdir()
    (b / "flow.json").write_text(json.dumps({"model": "tfc-w1a1", "fold_bn": True}))
    with pytest.raises(
        BuildFolderError,
        match=r"flow\.json: unknown settings fold_bn \(did you mean folding\?\); written by another hw-bnn version",
    ):
        FlowConfig.load(str(b))


def test_stage_publishes_every_output_at_once(tmp_path):
    cfg = FlowConfig(out=str(tmp_path / "b"), progress=False)
    st = StageRun(cfg, "demo", stage_key("inputs", 1), ["a.txt", "d"])
    assert not st.up_to_date()
    with st:
        (st.tmp / "a.txt").write_text("one")
        (st.tmp / "d").mkdir()
        (st.tmp / "d" / "f").write_text("two")
    assert st.up_to_date()
    stamp = json.loads((cfg.build / ".stamps" / "demo.json").read_text())
    sha = tree_sha(cfg.build / "d")
    assert stamp["outputs"] == {"a.txt": tree_sha(cfg.build / "a.txt"), "d": sha} and stamp["inputs"] == {}
    assert not StageRun(cfg, "demo", stage_key("inputs", 2), ["a.txt", "d"]).up_to_date()

    # a stage that fails publishes nothing: its old outputs and their stamp stay
    with pytest.raises(ValueError, match="boom"):
        with StageRun(cfg, "demo", stage_key("inputs", 3), ["a.txt", "d"]) as st:
            (st.tmp / "a.txt").write_text("three")
            raise ValueError("boom")
    assert (cfg.build / "a.txt").read_text() == "one" and tree_sha(cfg.build / "d") == sha
    assert StageRun(cfg, "demo", stage_key("inputs", 1), ["a.txt", "d"]).up_to_date()
    assert not any(p.name.startswith((".tmp-", ".old-")) for p in cfg.build.iterdir())

    # a folder output is replaced as a whole
    with StageRun(cfg, "demo", stage_key("inputs", 4), ["a.txt", "d"]) as st:
        (st.tmp / "a.txt").write_text("four")
        (st.tmp / "d").mkdir()
        (st.tmp / "d" / "g").write_text("new")
    assert sorted(p.name for p in (cfg.build / "d").iterdir()) == ["g"]
    assert FlowConfig(out=str(cfg.build), force=True).build == cfg.build
    assert not StageRun(
        FlowConfig(out=str(cfg.build), force=True), "demo", stage_key("inputs", 4), ["a.txt"]
    ).up_to_date()

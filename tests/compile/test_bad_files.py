"""Bad ONNX files give a one-line CompileError (ExportError for exported.onnx) naming the file."""

import re

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from hw_bnn.compile.export import check_export, read_exported
from hw_bnn.compile.pipeline import load_onnx
from hw_bnn.errors import CompileError, ExportError


def _model(nodes=True) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 4], np.eye(4, dtype=np.float32).ravel().tolist())
    node = helper.make_node("MatMul", ["x", "w"], ["y"])
    graph = helper.make_graph([node] if nodes else [], "g", [x], [y], initializer=[w])
    return helper.make_model(graph)


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "good.onnx"
    onnx.save(_model(), str(path))
    return path


def test_valid_model_loads(good):
    assert len(load_onnx(good).graph.node) == 1


def _bad(tmp_path, good, kind):
    path = tmp_path / "x.onnx"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("this is not an ONNX model\n")
    elif kind == "truncated":
        data = good.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "binary garbage":
        path.write_bytes(bytes(range(256)) * 4)
    elif kind == "directory":
        path.mkdir()
    elif kind == "no nodes":
        onnx.save(_model(nodes=False), str(path))
    return path


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("empty", r"not an ONNX model \(0 bytes\)"),
        ("text", r"not an ONNX model \(a text file, starting 'this is not"),
        ("truncated", r"not a valid ONNX model \(truncated or corrupt: "),
        ("binary garbage", r"not a valid ONNX model \(truncated or corrupt: "),
        ("directory", r"is a directory, not an ONNX model file"),
        ("missing", r"file does not exist"),
        ("no nodes", r"the ONNX graph has no nodes"),
    ],
)
def test_bad_onnx_is_a_compile_error_naming_the_file(tmp_path, good, kind, expected):
    path = _bad(tmp_path, good, kind)
    with pytest.raises(CompileError, match=f"^{re.escape(str(path))}: {expected}") as e:
        load_onnx(path)
    assert "\n" not in str(e.value)


def test_unreadable_exported_onnx_is_an_export_error(tmp_path, good, monkeypatch):
    path = _bad(tmp_path, good, "truncated")
    with pytest.raises(
        ExportError, match=rf"^{re.escape(str(path))}: not a valid ONNX model .*hw-bnn export --out BUILD --force"
    ):
        read_exported(path)

    import hw_bnn.train.trainer as trainer

    monkeypatch.setattr(trainer, "load_checkpoint", lambda ck: (None, {}))  # the checkpoint itself is fine
    with pytest.raises(ExportError, match=rf"^{re.escape(str(path))}: not a valid ONNX model"):
        check_export(tmp_path / "checkpoint.pt", path, np.zeros((1, 4), dtype=np.float32))

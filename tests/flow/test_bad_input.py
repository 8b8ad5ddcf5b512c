"""Each bad input gets one clear line naming the file, node or layer, a non-zero exit and no
traceback (hw_bnn.cli.main, as the console script runs it)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from hw_bnn.cli import main
from tests.graphs import GraphBuilder, binary_mlp


def _run(capsys, *argv):
    code = main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_missing_file(capsys, tmp_path):
    code, err = _run(capsys, "compile", "--out", str(tmp_path / "b"), "--onnx", str(tmp_path / "nope.onnx"))
    assert code == 2 and "nope.onnx: file does not exist" in err


def test_not_an_onnx_file(capsys, tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_text("this is not protobuf\n" * 10)
    code, err = _run(capsys, "compile", "--out", str(tmp_path / "b"), "--onnx", str(bad))
    assert code == 2 and "model.onnx: not an ONNX model" in err


def test_unsupported_op(capsys, tmp_path):
    b = GraphBuilder()
    y = b.node("Softmax", [b.bipolar("x")], axis=1)
    path = tmp_path / "softmax.onnx"
    b.model("x", [1, 4], y).save(str(path))
    code, err = _run(capsys, "compile", "--out", str(tmp_path / "b"), "--onnx", str(path))
    assert code == 2 and "node Softmax_" in err and "(op Softmax) is not supported" in err


def test_float_model(capsys, tmp_path):
    b = GraphBuilder()
    y = b.node("MatMul", ["x", b.const(np.random.default_rng(0).normal(size=(4, 3)))])
    path = tmp_path / "float.onnx"
    b.model("x", [1, 4], y).save(str(path))
    code, err = _run(capsys, "compile", "--out", str(tmp_path / "b"), "--onnx", str(path))
    assert code == 2 and "node MatMul_" in err and "not quantized" in err


def test_weight_scale_that_is_not_positive(capsys, tmp_path):
    b = GraphBuilder()
    w = b.node(
        "Quant",
        [b.const(np.random.default_rng(0).normal(size=(4, 3))), b.const(-0.3), b.const(0.0), b.const(2.0)],
        domain="qonnx.custom_op.general",
        signed=1,
        narrow=0,
        rounding_mode="ROUND",
    )
    y = b.node("MatMul", [b.bipolar("x"), w])
    path = tmp_path / "w2.onnx"
    b.model("x", [1, 4], y).save(str(path))
    code, err = _run(capsys, "compile", "--out", str(tmp_path / "b"), "--onnx", str(path))
    assert code == 2 and "node Quant_" in err and "weight scale -0.3 must be positive and finite" in err


def test_non_bipolar_weight_values(capsys, tmp_path):
    m = binary_mlp(np.random.default_rng(0), [6, 4, 3])
    # replace the first weight quantizer's output by a constant holding a 0.5
    q = next(n for n in m.graph.node if n.op_type == "BipolarQuant" and m.get_initializer(n.input[0]) is not None)
    mm = m.find_consumer(q.output[0])
    w = np.ones((6, 4), np.float32)
    w[2, 1] = 0.5
    m.set_initializer("bad_w", w)
    mm.input[1] = "bad_w"
    m.graph.node.remove(q)
    path = tmp_path / "nonbipolar.onnx"
    m.save(str(path))
    code, err = _run(capsys, "compile", "--out", str(tmp_path / "b"), "--onnx", str(path))
    assert code == 2 and "node MatMul_" in err and "not integers" in err


def test_accumulator_does_not_fit_chosen_width(capsys, tmp_path):
    path = tmp_path / "mlp.onnx"
    binary_mlp(np.random.default_rng(0), [40, 8, 4]).save(str(path))
    code, err = _run(capsys, "compile", "--out", str(tmp_path / "b"), "--onnx", str(path), "--acc-bits", "4")
    assert code == 2 and "layer " in err and "more than the chosen 4-bit width" in err
    # and the same model fits with enough bits
    assert main(["compile", "--out", str(tmp_path / "c"), "--onnx", str(path), "--acc-bits", "12"]) == 0


def test_rtlsim_needs_only_the_compiled_network(capsys, tmp_path):
    """The RTL is written from golden.npz: ``rtlsim`` runs after ``compile`` without the hls4ml stages."""
    path = tmp_path / "mlp.onnx"
    binary_mlp(np.random.default_rng(1), [784, 16, 10]).save(str(path))
    assert main(["compile", "--out", str(tmp_path / "b"), "--onnx", str(path), "--quiet"]) == 0
    assert main(["rtlsim", "--out", str(tmp_path / "b"), "--quiet"]) == 0
    res = json.loads((tmp_path / "b" / "rtlsim.json").read_text())
    assert res["simulated"] and res["mismatches"] == 0


def test_unknown_model_recipe(capsys, tmp_path):
    code, err = _run(capsys, "train", "--model", "no-such-net", "--out", str(tmp_path / "b"))
    assert code == 2 and "unknown model 'no-such-net'" in err and "tfc-w1a1" in err


def test_stage_without_its_input(capsys, tmp_path):
    code, err = _run(capsys, "emit", "--out", str(tmp_path / "empty"))
    assert code == 2 and "the train stage has not run; run 'hw-bnn flow --out" in err and "before 'emit'" in err


def test_console_script_exit_code_and_no_traceback(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "hw_bnn.cli", "compile", "--out", str(tmp_path), "--onnx", str(tmp_path / "x.onnx")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert "x.onnx: file does not exist" in r.stderr and "Traceback" not in r.stderr


def test_bad_idx_file(tmp_path):
    from hw_bnn.errors import HwBnnError
    from hw_bnn.train.data import load_idx_split

    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x09\x03" + b"\x00" * 20)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x00")
    with pytest.raises(HwBnnError, match="t10k-images-idx3-ubyte: not an unsigned-byte IDX file"):
        load_idx_split(tmp_path)


@pytest.mark.slow
def test_verify_wrong_input_shape(capsys, tfc_flow, tmp_path):
    cfg, _ = tfc_flow
    bad = tmp_path / "x.npy"
    np.save(bad, np.zeros((5, 10), dtype=np.uint8))
    code, err = _run(capsys, "verify", "--out", str(cfg.build), "--inputs", str(bad))
    assert code == 2 and "x.npy: has shape (5, 10); the model takes (N, 784)" in err

"""``hw-bnn import``: a model the project did not make, through compile, emit, the C and RTL
simulations and the report, from a QONNX file (the CLI) and from a Brevitas module (the API)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("brevitas_examples.bnn_pynq")

from hw_bnn import flow  # noqa: E402
from hw_bnn.errors import DataError, OptionError, VerifyError  # noqa: E402
from tests.compile.test_bnn_pynq import _export, randomise_norms  # noqa: E402


def _small_mlp() -> torch.nn.Module:
    """Brevitas' stock fixed-point quantizers (tests.compile.test_stock_quantizers.mlp_net), with
    random BatchNorm statistics."""
    from tests.compile.test_stock_quantizers import mlp_net

    net = mlp_net()
    with torch.no_grad():
        bn = net[2]
        bn.running_mean.normal_(0, 0.5), bn.running_var.uniform_(0.2, 2), bn.weight.normal_(), bn.bias.normal_()
    return net.eval()


def test_a_bnn_pynq_tfc_imports_from_the_command_line(tmp_path):
    from brevitas_examples.bnn_pynq.models import model_with_cfg

    torch.manual_seed(0)
    model, _ = model_with_cfg("TFC_1W1A", pretrained=False)
    onnx = _export(randomise_norms(model), tmp_path / "tfc.onnx")
    out = tmp_path / "b"
    cmd = [sys.executable, "-m", "hw_bnn.cli", "import", "--onnx", str(onnx), "--out", str(out)]
    done = subprocess.run([*cmd, "--input-domain", "unit", "--quiet"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "0 value mismatches on 16 inputs; golden vs C simulation: 0 mismatches; golden vs RTL simulation: 0" in (
        done.stdout
    )
    check = json.loads((out / "import_check.json").read_text())
    assert (check["images"], check["value_mismatches"], check["input_domain"]) == (16, 0, "x = p / 255, p = 0..255")
    report = (out / "report.md").read_text()
    assert "Imported from" in report and "Input domain: `x = p / 255" in report
    rt = json.loads((out / "rtlsim.json").read_text())
    assert rt["splits"]["inputs"]["interval_cycles"] == rt["predicted_interval_cycles"] == 784  # a pixel a beat


def test_a_brevitas_module_imports_from_python_with_labels(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, size=(40, 16))
    y = x[:, 0] % 4
    report = flow.import_model(
        _small_mlp(), out=tmp_path / "b", input_shape=(1, 16), inputs=x, labels=y, input_domain="unit", quiet=True
    )
    ic = report["import_check"]
    assert (ic["images"], ic["value_mismatches"], ic["golden_vs_integer_mismatches"]) == (40, 0, 0)
    assert report["verify"]["mismatches"] == 0 and report["rtlsim"]["mismatches"] == 0
    assert report["verify"]["splits"]["inputs"]["accuracy"] == pytest.approx(ic["accuracy_integer"])
    assert (tmp_path / "b" / "imported.onnx").is_file()


def _idx_test_set(folder, n: int, side: int):
    """An IDX ``t10k`` test set of ``n`` random ``side`` x ``side`` images, labels ``0..3``."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in (
        ("t10k-images-idx3-ubyte", rng.integers(0, 256, (n, side, side), dtype=np.uint8)),
        ("t10k-labels-idx1-ubyte", rng.integers(0, 4, n, dtype=np.uint8)),
    ):
        head = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
        (folder / name).write_bytes(head + arr.tobytes())
    return folder


def test_a_data_dir_gives_the_test_set_and_its_labels(tmp_path):
    data = _idx_test_set(tmp_path / "data", 12, 4)  # 4x4 images: the 16 inputs of the MLP
    report = flow.import_model(
        _small_mlp(), out=tmp_path / "b", input_shape=(1, 16), data_dir=data, input_domain="unit", quiet=True
    )
    ic = report["import_check"]
    assert (ic["images"], ic["value_mismatches"], ic["inputs"]) == (12, 0, f"{data} (test set)")
    labels = np.frombuffer((data / "t10k-labels-idx1-ubyte").read_bytes()[8:], dtype=np.uint8)
    assert np.array_equal(np.load(tmp_path / "b" / "inputs.npz")["y"], labels)
    assert report["verify"]["mismatches"] == 0 and report["verify"]["splits"]["inputs"]["accuracy"] >= 0


def test_import_errors_name_what_is_wrong(tmp_path):
    with pytest.raises(OptionError, match=r"import: a module needs input_shape="):
        flow.import_model(_small_mlp(), out=tmp_path / "a")
    with pytest.raises(OptionError, match=r"import: unknown option 'reuse_factr'"):
        flow.import_model(_small_mlp(), out=tmp_path / "a", input_shape=(1, 16), reuse_factr=2)
    assert not (tmp_path / "a").exists()  # the export waited for the options to be checked
    onnx = tmp_path / "m.onnx"
    from hw_bnn.flow.imported import export_module

    export_module(_small_mlp(), (1, 16), onnx)
    bad = np.zeros((3, 15), dtype=np.int64)
    with pytest.raises(VerifyError, match=r"inputs: has shape \(3, 15\); the model takes \(N, 16\)"):
        flow.import_model(onnx, out=tmp_path / "b", inputs=bad, quiet=True)
    with pytest.raises(VerifyError, match=r"values must lie in \[0, 255\]"):
        flow.import_model(onnx, out=tmp_path / "c", inputs=np.full((2, 16), 300), quiet=True)
    with pytest.raises(OptionError, match=r"import: give --inputs \(with --labels\) or --data-dir, not both"):
        flow.import_model(onnx, out=tmp_path / "e", inputs=np.ones((2, 16), int), data_dir=tmp_path, quiet=True)
    mnist = _idx_test_set(tmp_path / "mnist", 2, 28)
    with pytest.raises(DataError, match=r"its test images have 784 values \(1, 28, 28\); the model takes \(16,\)"):
        flow.import_model(onnx, out=tmp_path / "f", data_dir=mnist, quiet=True)
    with pytest.raises(DataError, match=r"labels must be 2 integers, one per input"):
        flow.import_model(onnx, out=tmp_path / "d", inputs=np.ones((2, 16), int), labels=np.ones(3, int), quiet=True)


def test_a_briefly_trained_bnn_pynq_tfc_keeps_its_accuracy_in_hardware(tmp_path):
    """TFC_1W1A, two epochs on the built-in MNIST 5k (x = p / 255), imported on 200 held-out
    images with labels: PyTorch, the export, the golden model and the C simulation agree."""
    import importlib.util
    from pathlib import Path

    from brevitas_examples.bnn_pynq.models import model_with_cfg

    from hw_bnn.train.data import train_val_split

    spec = importlib.util.spec_from_file_location(
        "tfc", Path(__file__).parents[2] / "scripts" / "train_bnn_pynq_tfc.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    torch.manual_seed(0)
    model, _ = model_with_cfg("TFC_1W1A", pretrained=False)
    tr, val = train_val_split("mnist5k", 0.1, seed=0)
    script.train(model, tr.inputs((1, 28, 28)), tr.y, epochs=2)
    x, y = val.inputs((1, 28, 28))[:200].astype(np.int64), val.y[:200]
    with torch.no_grad():
        torch_acc = float((model(torch.tensor(x, dtype=torch.float32) / 255.0).argmax(1).numpy() == y).mean())
    report = flow.import_model(
        model, out=tmp_path / "b", input_shape=(1, 1, 28, 28), inputs=x, labels=y, input_domain="unit", quiet=True
    )
    assert torch_acc > 0.5  # it learned something
    assert report["import_check"]["value_mismatches"] == 0
    assert report["import_check"]["accuracy_exported"] == pytest.approx(torch_acc)
    assert report["verify"]["mismatches"] == 0 and report["rtlsim"]["mismatches"] == 0
    assert report["verify"]["splits"]["inputs"]["accuracy"] == pytest.approx(torch_acc)


def test_global_average_pooling_reaches_hardware(tmp_path):
    """AdaptiveAvgPool2d(1) over 7x7 (a division by 49, as the export computes it), then a
    quantizer: 0 mismatches through the export check, the C and the RTL simulations."""
    from tests.compile.test_stock_quantizers import gap_net

    net = gap_net()
    r = flow.import_model(net, out=tmp_path / "b", input_shape=(1, 1, 7, 7), input_domain="unit", quiet=True)
    assert r["import_check"]["value_mismatches"] == 0
    assert r["verify"]["mismatches"] == 0 and r["rtlsim"]["mismatches"] == 0
    assert [row["kind"] for row in r["layers"]].count("conv") == 2  # the 3x3 and the 7x7 sum


def test_learned_float_scales_reach_hardware_with_their_near_tie(tmp_path):
    """Brevitas' *Float quantizers: the C and RTL simulations equal the integer semantics bit
    for bit, on inputs that include an image where the float export rounds across a quantizer
    boundary; the report proves it a rounding tie."""
    from tests.compile.test_float_scales import TIE_IMAGE, float_mlp, pixels
    from tests.compile.test_stock_quantizers import randomise

    x = pixels(TIE_IMAGE + 4)[TIE_IMAGE - 3 :].astype(np.int64)
    r = flow.import_model(
        randomise(float_mlp()), out=tmp_path / "b", input_shape=(1, 256), inputs=x, input_domain="unit", quiet=True
    )
    ties = r["import_check"]["float_scales"]
    assert [n["what"] for n in ties["nodes"]] == ["weight scale", "weight scale", "activation scale"]
    assert (ties["images"], ties["code_differences"], ties["first"]["image"]) == (7, 1, 3)
    assert r["import_check"]["golden_vs_integer_mismatches"] == 0
    assert r["verify"]["mismatches"] == 0 and r["rtlsim"]["mismatches"] == 0
    assert "proven a rounding tie" in (tmp_path / "b" / "report.md").read_text()


def test_average_pooling_over_windows_reaches_hardware(tmp_path):
    """AvgPool2d(2): a 2x2 sum convolution of stride 2 in hardware, 0 mismatches everywhere."""
    from tests.compile.test_stock_quantizers import avgpool_net, randomise

    net = randomise(avgpool_net(torch.nn.AvgPool2d(2)))
    r = flow.import_model(net, out=tmp_path / "b", input_shape=(1, 1, 8, 8), input_domain="unit", quiet=True)
    assert r["import_check"]["value_mismatches"] == 0
    assert r["verify"]["mismatches"] == 0 and r["rtlsim"]["mismatches"] == 0
    assert [row["kind"] for row in r["layers"]].count("conv") == 3  # two 3x3 and the 2x2 sum


@pytest.mark.parametrize("seed", [0, 1], ids=["mlp", "cnn"])
def test_random_float_scale_models_reach_hardware(tmp_path, seed):
    """The property test's float-scale models (tests.compile.test_stock_random): integer semantics
    = golden = C simulation = RTL simulation, every difference from the export proven."""
    from tests.compile.test_stock_quantizers import randomise
    from tests.compile.test_stock_random import FLOAT, random_model

    model, shape = random_model(seed, FLOAT)
    r = flow.import_model(randomise(model), out=tmp_path / "b", input_shape=shape, input_domain="unit", quiet=True)
    ic = r["import_check"]
    assert ic["golden_vs_integer_mismatches"] == 0 and ic["float_scales"]["images"] == 16
    assert r["verify"]["mismatches"] == 0 and r["rtlsim"]["mismatches"] == 0

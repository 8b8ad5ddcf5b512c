"""The export check: PyTorch against QONNX, where only quantizer ties may break differently."""

import numpy as np
import pytest
import torch

from hw_bnn.compile.export import check_export, export_checkpoint, tie_images
from hw_bnn.errors import HwBnnError
from hw_bnn.train.networks import build_model
from hw_bnn.train.recipes import Recipe

RECIPE = Recipe(
    name="tie-mlp",
    arch="fc",
    hidden=[16, 16],
    weight_bits=1,
    act_bits=2,
    input_bits=1,
    dataset="digits",
    train={"in_dropout": 0.0, "hidden_dropout": 0.0},
)


def _model(seed=0):
    torch.manual_seed(seed)
    m = build_model(RECIPE, (64,))
    with torch.no_grad():
        for bn in (x for x in m.modules() if isinstance(x, torch.nn.BatchNorm1d)):
            bn.running_mean.uniform_(-4, 4)
            bn.running_var.uniform_(4, 16)
    return m.eval()


def _checkpoint(model, path):
    torch.save({"recipe": RECIPE.to_dict(), "state_dict": model.state_dict(), "input_shape": [64]}, path)
    return path


X = np.random.default_rng(0).integers(0, 256, size=(60, 64)).astype(np.float32)


def test_a_quantizer_input_on_a_rounding_boundary_is_found():
    m = _model()
    assert tie_images(m, X, np.arange(len(X))) == {}  # random statistics: no exact ties
    # neuron 5 of the first hidden layer: BN output exactly 0.25 for every image, which the
    # 2-bit quantizer (scale 0.5) sees as 0.5 steps: a tie
    bn = m.features[1]
    with torch.no_grad():
        bn.weight[5] = 0.0
        bn.bias[5] = 0.25
    found = tie_images(m, X, np.array([3, 7]))
    assert set(found) == {3, 7}
    assert found[3] == ("features.3", 5)


def test_export_check_passes_an_exact_export_and_names_an_unexplained_difference(tmp_path):
    m = _model()
    ck = _checkpoint(m, tmp_path / "a.pt")
    export_checkpoint(ck, tmp_path / "a.onnx")
    res = check_export(ck, tmp_path / "a.onnx", X)
    assert res["value_mismatches_over_tol"] == 0 and res["tie_images"] == 0
    # another network's export: differences that no tie explains are an error naming an image
    other = _checkpoint(_model(seed=1), tmp_path / "b.pt")
    with pytest.raises(
        HwBnnError, match=r"a\.onnx: QONNX output differs from PyTorch on \d+ of 60 images with no quantizer tie"
    ):
        check_export(other, tmp_path / "a.onnx", X)

"""The recipes' networks as module-level classes: build_model's dispatch, direct use, errors,
and recipes that read without torch."""

import subprocess
import sys

import pytest
import torch

from hw_bnn.errors import RecipeError
from hw_bnn.train.data import dataset_image_shape
from hw_bnn.train.networks import BinaryCNN, BinaryMLP, DenseCNN, Precision, ReActCNN, TensorNorm, build_model
from hw_bnn.train.recipes import Recipe, load_recipe, model_input_shape


@pytest.mark.parametrize(
    "name, cls",
    [
        ("tfc-w1a1", BinaryMLP),
        ("tcnv-digits-w1a1", BinaryCNN),
        ("reactnet-mnist", ReActCNN),
        ("densenet-mnist", DenseCNN),
    ],
)
def test_build_model_dispatches_on_arch(name, cls):
    r = load_recipe(name)
    shape = model_input_shape(r, dataset_image_shape(r.dataset))
    net = build_model(r, shape)
    assert type(net) is cls and net.input_shape == shape and isinstance(net.out_norm, TensorNorm)
    net.eval()
    with torch.no_grad():
        assert net(torch.zeros(2, *shape)).shape == (2, r.num_classes)


def test_the_same_seed_builds_the_same_state_dict():
    r = load_recipe("reactnet-mnist")
    sds = []
    for _ in range(2):
        torch.manual_seed(5)
        sds.append(build_model(r, (1, 28, 28)).state_dict())
    assert sds[0].keys() == sds[1].keys() and all(torch.equal(sds[0][k], sds[1][k]) for k in sds[0])


def test_networks_are_usable_without_a_recipe():
    net = BinaryCNN((1, 8, 8), [[8, 3, 1, 1], "M"], [16], 10, Precision(weight_bits=2, act_bits=2))
    assert [type(m).__name__ for m in net.features][:3] == ["QuantConv2d", "BatchNorm2d", "QuantIdentity"]
    teacher = ReActCNN((1, 8, 8), [[8, 3, 1, 1], "R"], [], 10, Precision(float_weights=True, float_acts=True))
    assert any(isinstance(m, torch.nn.Hardtanh) for m in teacher.modules())
    with pytest.raises(RecipeError, match="BinaryCNN: the conv stack shrinks"):
        BinaryCNN((1, 4, 4), [[8, 3, 2, 0], [8, 3, 2, 0]], [], 10)


def test_bad_networks_name_the_recipe():
    r = Recipe(name="tiny", arch="cnv", hidden=[], input_bits=8, conv=[[8, 3, 2, 0], [8, 3, 2, 0]], train={})
    with pytest.raises(RecipeError, match="recipe tiny: the conv stack shrinks the"):
        build_model(r, (1, 4, 4))
    d = Recipe(name="dn", arch="densenet", hidden=[], input_bits=8, conv=[[8, 3, 1, 1], [8, 3, 1, 1]], train={})
    with pytest.raises(RecipeError, match=r"recipe dn: conv entry \[8, 3, 1, 1\] is not a densenet entry"):
        build_model(d, (1, 8, 8))
    with pytest.raises(ValueError, match="weights and acts"):
        build_model(r, (1, 8, 8), weights="half")


def test_recipes_read_without_torch():
    code = (
        "import sys; from hw_bnn.train.recipes import load_recipe; load_recipe('tfc-w1a1'); "
        "bad = [m for m in ('torch', 'brevitas') if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

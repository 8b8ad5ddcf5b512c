"""The recipe schema: each bad key is a RecipeError that names the file and the key."""

import dataclasses
import re

import pytest
import yaml

from hw_bnn.errors import RecipeError
from hw_bnn.train.data import DATASET_IMAGE_SHAPES
from hw_bnn.train.recipes import (
    DATASET_CLASSES,
    TRAIN_DEFAULTS,
    Recipe,
    RecipeFile,
    TrainSettings,
    available_models,
    check_train,
    load_recipe,
    recipe_from_mapping,
)

TINY = {
    "name": "tiny",
    "arch": "fc",
    "hidden": [16, 16],
    "input_bits": 1,
    "dataset": "mnist5k",
    "num_classes": 10,
    "train": {"epochs": 2, "batch_size": 32, "lr": 0.01, "seed": 0},
}


def _write(tmp_path, **changes):
    """TINY with ``changes`` (a ``train`` dict updates TINY's) as ``tmp_path/x.yaml``."""
    d = {**TINY, **changes, "train": {**TINY["train"], **changes.get("train", {})}}
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    return path


def _refused(path, key: str, words: str = "") -> str:
    with pytest.raises(RecipeError) as e:
        load_recipe(str(path))
    msg = str(e.value)
    assert msg.startswith(f"{path}: ") and re.search(rf"(^|: |; ){re.escape(key)}: ", msg), msg
    assert words in msg, msg
    return msg


def test_every_shipped_recipe_loads():
    names = available_models()
    assert len(names) >= 10
    for name in names:
        r = load_recipe(name)
        assert r.name and r.source.endswith(f"{name}.yaml") and r.train.keys() == TRAIN_DEFAULTS.keys()


def test_the_tiny_recipe_loads(tmp_path):
    r = load_recipe(str(_write(tmp_path)))
    assert r.hidden == [16, 16] and r.train["epochs"] == 2 and r.train["optimizer"] == "adam"


def test_typo_top_level_key(tmp_path):
    _refused(_write(tmp_path, hiden=[999]), "hiden", "unknown key (did you mean hidden?)")


def test_typo_train_key(tmp_path):
    _refused(_write(tmp_path, train={"epoch": 3}), "train.epoch", "unknown key (did you mean epochs?)")


def test_hidden_not_a_list(tmp_path):
    _refused(_write(tmp_path, hidden="abc"), "hidden", "'abc'")


def test_hidden_width_zero(tmp_path):
    _refused(_write(tmp_path, hidden=[16, 0]), "hidden[1]", "greater than or equal to 1")


def test_hidden_width_huge(tmp_path):
    _refused(_write(tmp_path, hidden=[100000000]), "hidden[0]", "less than or equal to 65536")


def test_conv_out_channels_huge(tmp_path):
    path = _write(tmp_path, arch="cnv", input_bits=8, hidden=[], conv=[[8, 3, 1, 1], [100000, 3, 1, 1]])
    _refused(path, "conv[1]", "out_channels <= 4096")


def test_batch_size_zero(tmp_path):
    _refused(_write(tmp_path, train={"batch_size": 0}), "train.batch_size", "(got 0)")


@pytest.mark.parametrize("fraction", [0, 1, 0.0, 1.0])
def test_val_fraction_outside_zero_one(tmp_path, fraction):
    _refused(_write(tmp_path, train={"val_fraction": fraction}), "train.val_fraction")


def test_epochs_zero(tmp_path):
    _refused(_write(tmp_path, train={"epochs": 0}), "train.epochs", "greater than or equal to 1")


def test_negative_lr(tmp_path):
    _refused(_write(tmp_path, train={"lr": -0.1}), "train.lr", "greater than 0")


def test_num_classes_not_the_datasets(tmp_path):
    _refused(_write(tmp_path, num_classes=3), "num_classes", "dataset mnist5k has 10 classes")


def test_unknown_dataset(tmp_path):
    msg = _refused(_write(tmp_path, dataset="imagenet"), "dataset", "unknown dataset")
    assert all(name in msg for name in DATASET_CLASSES)


def test_bool_for_an_int(tmp_path):
    _refused(_write(tmp_path, weight_bits=True), "weight_bits", "valid integer")
    _refused(_write(tmp_path, train={"seed": False}), "train.seed", "valid integer")


def test_int_for_a_float_is_kept_as_written(tmp_path):
    r = load_recipe(str(_write(tmp_path, train={"lr": 1, "weight_decay": 0})))
    assert r.train["lr"] == 1 and type(r.train["lr"]) is int and r.to_dict()["train"]["weight_decay"] == 0


def test_cross_key_rules_name_the_file(tmp_path):
    path = _write(tmp_path, input_bits=8)
    with pytest.raises(RecipeError, match=re.escape(f"{path}: arch fc takes a binarized input (input_bits: 1)")):
        load_recipe(str(path))


def test_first_weight_bits_only_on_cnns_and_only_the_supported_widths(tmp_path):
    path = _write(tmp_path, first_weight_bits=8)
    with pytest.raises(RecipeError, match=re.escape(f"{path}: arch fc takes") + ".*no first_weight_bits"):
        load_recipe(str(path))
    cnn = {"arch": "cnv", "input_bits": 8, "conv": [[8, 3, 1, 1]]}
    _refused(_write(tmp_path, **cnn, first_weight_bits=3), "first_weight_bits", "must be 0 or 1 or 2 or 4 or 8 (got 3)")
    r = load_recipe(str(_write(tmp_path, **cnn, first_weight_bits=8)))
    assert r.first_weight_bits == 8 and r.to_dict()["first_weight_bits"] == 8
    assert "first_weight_bits" not in load_recipe(str(_write(tmp_path, **cnn))).to_dict()  # old results keep their key


def test_recipe_from_mapping_names_the_source():
    r = recipe_from_mapping(TINY, "spec.yaml: inline recipe")
    assert r.source == "spec.yaml: inline recipe" and r.to_dict()["train"]["lr"] == 0.01
    with pytest.raises(RecipeError, match=r"^spec.yaml: inline recipe: hidden: required key is missing"):
        recipe_from_mapping({"name": "x", "arch": "fc"}, "spec.yaml: inline recipe")


def test_check_train_after_an_override():
    r = recipe_from_mapping(TINY, "x.yaml")
    r.train["epochs"] = 0
    with pytest.raises(RecipeError, match=r"^x.yaml: train.epochs: "):
        check_train(r.train, r.where)


def test_schema_matches_recipe_and_data():
    assert TRAIN_DEFAULTS == TrainSettings().model_dump()
    defaults = {f.name: f.default for f in dataclasses.fields(Recipe) if f.default is not dataclasses.MISSING}
    for key, f in RecipeFile.model_fields.items():
        if key in defaults:
            assert f.default == defaults[key], key
    assert set(DATASET_CLASSES) == set(DATASET_IMAGE_SHAPES)

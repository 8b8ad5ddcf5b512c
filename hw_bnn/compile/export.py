"""Export: a trained checkpoint -> QONNX (``exported.onnx``), checked against PyTorch."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from hw_bnn.errors import CompileError, ExportError


def read_exported(onnx_path):
    """``exported.onnx`` as a ``ModelWrapper``; an unreadable one is an ExportError naming it."""
    from hw_bnn.compile.pipeline import load_onnx

    try:
        return load_onnx(onnx_path)
    except CompileError as e:
        raise ExportError(f"{e}; re-run the export stage (hw-bnn export --out BUILD --force)") from None


def export_checkpoint(checkpoint, out_path) -> None:
    """Brevitas QONNX export (TorchScript path: ``dynamo=False``) plus qonnx cleanup."""
    import torch
    from brevitas.export import export_qonnx
    from qonnx.util.cleanup import cleanup_model

    from hw_bnn.compile.pipeline import load_onnx
    from hw_bnn.train.trainer import load_checkpoint

    model, ck = load_checkpoint(checkpoint)
    out_path = Path(out_path)
    try:
        with tempfile.TemporaryDirectory(dir=out_path.parent) as tmp:
            raw = os.path.join(tmp, "raw.onnx")
            # dynamo=False: the dynamo exporter writes Gemm without bias, which qonnx's
            # GemmToMatMul and hls4ml reject.
            export_qonnx(model, torch.zeros(1, *model.input_shape), export_path=raw, dynamo=False)
            try:
                clean = cleanup_model(load_onnx(raw))
            except CompileError as e:
                raise ExportError(f"{checkpoint}: the Brevitas export of this checkpoint is unreadable ({e})") from None
            clean.set_metadata_prop("hw_bnn.model", ck["recipe"]["name"])
            tmp_out = os.path.join(tmp, "exported.onnx")
            clean.save(tmp_out)
            os.replace(tmp_out, out_path)
    except OSError as e:
        raise ExportError(f"{out_path}: cannot write the QONNX export ({e.strerror or e})") from None


def tie_images(model, x: np.ndarray, images: np.ndarray, rel: float = 1e-6, eps: float = 1e-6) -> dict:
    """For each of ``images``: the first activation quantizer (module name, element) whose input
    lies at a rounding boundary, up to float rounding: nudging the input by a relative ``rel``
    (a few float32 ulps) or an absolute ``eps`` either way changes the quantized value.  There
    PyTorch and onnxruntime, which order the float operations before the quantizer differently,
    may legitimately round to different sides."""
    import torch
    from brevitas.nn import QuantIdentity, QuantReLU

    quants = [(n, m) for n, m in model.named_modules() if isinstance(m, (QuantIdentity, QuantReLU))]
    seen: dict[str, torch.Tensor] = {}
    hooks = [
        m.register_forward_pre_hook(lambda mod, inp, n=n: seen.__setitem__(n, inp[0].detach().clone()))
        for n, m in quants
    ]
    try:
        with torch.no_grad():
            model(torch.from_numpy(x[images].astype(np.float32)))
        found = {}
        with torch.no_grad():
            for n, m in quants:
                v = seen.get(n)
                if v is None:
                    continue
                outs = [m(v * (1 + rel)), m(v * (1 - rel)), m(v + eps), m(v - eps)]
                moved = torch.zeros_like(v, dtype=torch.bool)
                for a in outs[1:]:
                    moved |= a != outs[0]
                for k, img in enumerate(images.tolist()):
                    hit = torch.nonzero(moved[k].reshape(-1))
                    if img not in found and len(hit):
                        found[img] = (n, int(hit[0]))
    finally:
        for h in hooks:
            h.remove()
    return found


def check_export(checkpoint, onnx_path, x: np.ndarray) -> dict:
    """Compare the QONNX model (qonnx ``execute_onnx``) with PyTorch on real inputs.

    PyTorch and onnxruntime may order float operations differently, so values are compared
    with a tolerance relative to the output scale, and decisions exactly.  An image whose
    outputs differ is accepted only when an activation quantizer's input in it sits at a
    rounding boundary (a tie that the two float orders may break differently: :func:`tie_images`);
    those images are counted (``tie_images``) and the first one is named.  Any other difference
    is an error naming the first image."""
    import torch

    from hw_bnn.compile.qonnx_run import run_qonnx
    from hw_bnn.train.trainer import load_checkpoint

    model, _ = load_checkpoint(checkpoint)
    exported = read_exported(onnx_path)
    x = x.reshape(len(x), *model.input_shape)
    with torch.no_grad():
        y_torch = model(torch.from_numpy(x.astype(np.float32))).numpy()
    y_onnx = run_qonnx(exported, x)
    diff = np.abs(y_torch - y_onnx)
    scale = float(np.abs(y_torch).max()) or 1.0
    differ = np.flatnonzero((diff > 1e-4 * scale).any(axis=1))
    ties = tie_images(model, x, differ) if len(differ) else {}
    result = {
        "images": len(x),
        "max_abs_diff": float(diff.max()),
        "max_rel_diff": float(diff.max() / scale),
        "decision_mismatches": int((y_torch.argmax(1) != y_onnx.argmax(1)).sum()),
        "value_mismatches_over_tol": len(differ),
        "tie_images": len(ties),
    }
    if ties:
        i = min(ties)
        result["first_tie"] = {"image": int(i), "quantizer": ties[i][0], "element": ties[i][1]}
    unexplained = [int(i) for i in differ if int(i) not in ties]
    if unexplained:
        i = unexplained[0]
        raise ExportError(
            f"{onnx_path}: QONNX output differs from PyTorch on {len(unexplained)} of {len(x)} images with no "
            f"quantizer tie to explain it (first: image {i}, max |diff| {diff[i].max():.3g})"
        )
    return result

"""Batched execution of a (Q)ONNX model with qonnx, the reference every check runs against."""

from __future__ import annotations

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper


def run_qonnx(model: ModelWrapper, x: np.ndarray, batch_size: int | None = None) -> np.ndarray:
    """Execute a (Q)ONNX model with qonnx ``execute_onnx`` on a batch of inputs.

    qonnx runs batch-1 graphs; ``ChangeBatchSize`` re-shapes the graph to the batch first."""
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.change_batchsize import ChangeBatchSize
    from qonnx.transformation.infer_shapes import InferShapes

    x = np.asarray(x, dtype=np.float32)
    bs = batch_size or len(x)
    iname, oname = model.graph.input[0].name, model.graph.output[0].name
    outs = []
    batched = None
    for i in range(0, len(x), bs):
        chunk = x[i : i + bs]
        if batched is None or len(chunk) != batched[0]:
            batched = (len(chunk), model.transform(ChangeBatchSize(len(chunk))).transform(InferShapes()))
        outs.append(execute_onnx(batched[1], {iname: chunk})[oname])
    return np.concatenate(outs, axis=0)

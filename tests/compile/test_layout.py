"""SimplifyLayout: layout-only ops moved out of the way, exactly; reordering transposes refused."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import numpy_helper

from hw_bnn.compile.lower import lower_to_ir
from hw_bnn.compile.passes.layout import is_pure_layout_perm
from hw_bnn.compile.pipeline import compile_model
from hw_bnn.compile.qonnx_run import run_qonnx
from hw_bnn.errors import CompileError
from tests.graphs import GraphBuilder


def _int64(b: GraphBuilder, value) -> str:
    b.k += 1
    name = f"i{b.k}"
    b.inits.append(numpy_helper.from_array(np.asarray(value, dtype=np.int64), name))
    return name


def _mlp_after(layout, in_shape, rng) -> object:
    """``layout`` ops on the image, then scale, shift, sign, one XNOR layer and an affine out."""
    b = GraphBuilder()
    x = "x"
    for op, kw in layout:
        x = b.node("Reshape", [x, _int64(b, kw)]) if op == "Reshape" else b.node(op, [x], **kw)
    x = b.node("Mul", [x, b.const(np.float32(2.0 / 255.0))])
    x = b.node("Sub", [x, b.const(np.float32(1.0))])
    x = b.bipolar(x)
    x = b.node("MatMul", [x, b.bipolar(b.const(rng.uniform(-1, 1, size=(int(np.prod(in_shape[1:])), 5))))])
    x = b.node("Mul", [x, b.const([0.5])])
    x = b.node("Add", [x, b.const([0.25])])
    return b.model("x", list(in_shape), x)


def test_pure_layout_perm():
    assert is_pure_layout_perm([1, 1, 28, 28], [0, 2, 3, 1])  # only the size-1 channel moves
    assert is_pure_layout_perm([1, 3, 1, 1], [0, 2, 3, 1])
    assert not is_pure_layout_perm([1, 3, 4, 4], [0, 2, 3, 1])
    assert not is_pure_layout_perm([1, 4, 5], [0, 2, 1])


@pytest.mark.parametrize(
    "layout",
    [
        [("Reshape", [1, -1])],
        [("Flatten", {"axis": 1})],
        [("Transpose", {"perm": [0, 2, 3, 1]}), ("Reshape", [1, -1])],
        [("Reshape", [1, 1, 36]), ("Flatten", {"axis": 1}), ("Reshape", [1, -1])],
    ],
    ids=["reshape", "flatten", "transpose", "chained"],
)
def test_layout_ops_before_the_input_quantizer_compile_exactly(layout):
    rng = np.random.default_rng(0)
    model = _mlp_after(layout, (1, 1, 6, 6), rng)
    x = (rng.integers(0, 256, size=(40, 1, 6, 6)) * (rng.random((40, 1, 6, 6)) < 0.5)).astype(np.float32)
    y_ref = run_qonnx(model, x)
    integer = compile_model(model)
    golden = lower_to_ir(integer)
    assert [layer.kind for layer in golden.layers] == ["threshold", "flatten", "xnor_dense"]
    assert np.array_equal(golden.apply_output_affine(golden.run(x)), y_ref)
    assert np.array_equal(run_qonnx(integer, x), golden.run(x))


def test_a_transpose_that_reorders_elements_is_refused_naming_it():
    model = _mlp_after(
        [("Transpose", {"perm": [0, 2, 3, 1]}), ("Reshape", [1, -1])], (1, 2, 3, 3), np.random.default_rng(0)
    )
    with pytest.raises(
        CompileError, match=r"node Transpose_\d+ \(Transpose\): perm \[0, 2, 3, 1\] of shape \[1, 2, 3, 3\] reorders"
    ):
        compile_model(model)

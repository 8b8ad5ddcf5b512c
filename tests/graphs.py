"""Small QONNX graphs built by hand, shaped like Brevitas' export, for testing passes alone."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.infer_shapes import InferShapes

QD = "qonnx.custom_op.general"


class GraphBuilder:
    def __init__(self):
        self.nodes, self.inits, self.k = [], [], 0

    def const(self, value, name=None) -> str:
        self.k += 1
        name = name or f"c{self.k}"
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    def node(self, op, inputs, domain="", **attrs) -> str:
        self.k += 1
        out = f"t{self.k}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=f"{op}_{self.k}", domain=domain, **attrs))
        return out

    def bipolar(self, x, scale=1.0) -> str:
        return self.node("BipolarQuant", [x, self.const(scale)], domain=QD)

    def bn(self, x, gamma, beta, mean, var, eps=1e-5) -> str:
        return self.node(
            "BatchNormalization",
            [x, self.const(gamma), self.const(beta), self.const(mean), self.const(var)],
            epsilon=float(eps),
        )

    def model(self, inp: str, in_shape, out: str, in_dtype: str | None = None) -> ModelWrapper:
        g = helper.make_graph(
            self.nodes,
            "test",
            [helper.make_tensor_value_info(inp, TensorProto.FLOAT, list(in_shape))],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)],
            self.inits,
        )
        m = ModelWrapper(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QD, 1)]))
        m = m.transform(InferShapes())
        if in_dtype:
            m.set_tensor_datatype(inp, DataType[in_dtype])
        return m


def binary_mlp(rng: np.random.Generator, sizes, gammas=None, out_scale=0.5, out_bias=0.25) -> ModelWrapper:
    """Brevitas-like binary MLP on 0..255 pixels: Mul, Sub, BipolarQuant, then per layer
    MatMul(BipolarQuant(W)), BatchNormalization, BipolarQuant, and a final MatMul, Mul, Add."""
    b = GraphBuilder()
    x = b.node("Mul", ["x", b.const(np.float32(2.0 / 255.0))])
    x = b.node("Sub", [x, b.const(np.float32(1.0))])
    x = b.bipolar(x)
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = b.bipolar(b.const(rng.uniform(-1, 1, size=(n_in, n_out))))
        x = b.node("MatMul", [x, w])
        if i < len(sizes) - 2:
            g = rng.normal(size=n_out) if gammas is None else gammas[i]
            x = b.bn(
                x,
                g,
                rng.normal(size=n_out),
                rng.normal(scale=np.sqrt(n_in), size=n_out),
                rng.uniform(0.5, 2, size=n_out) * n_in,
            )
            x = b.bipolar(x)
    x = b.node("Mul", [x, b.const([out_scale])])
    x = b.node("Add", [x, b.const([out_bias])])
    return b.model("x", [1, sizes[0]], x)


def onnx_bytes(m: ModelWrapper) -> bytes:
    return m.model.SerializeToString()


def load(data: bytes) -> ModelWrapper:
    return ModelWrapper(onnx.load_from_string(data))


def run_generated_testbench(model, tmp_path) -> np.ndarray:
    """Build the hls4ml project's own C++ testbench with g++, run it on its tb_data and return
    the integer outputs it logs (skips when g++ is missing)."""
    import shutil
    import subprocess
    from pathlib import Path

    import pytest

    if shutil.which("g++") is None:
        pytest.skip("g++ not available")
    prj = Path(model.config.get_output_dir())
    exe = tmp_path / "tb"
    name = model.config.get_project_name()
    cmd = [
        "g++", "-O1", "-std=c++14", "-Ifirmware/ap_types", "-Ifirmware",
        f'-DWEIGHTS_DIR="{prj / "firmware" / "weights"}"',
        f"{name}_test.cpp", f"firmware/{name}.cpp", "-o", str(exe),
    ]  # fmt: skip
    subprocess.run(cmd, cwd=prj, check=True, capture_output=True, text=True)
    subprocess.run([str(exe)], cwd=prj, check=True, capture_output=True, text=True)
    return np.loadtxt(prj / "tb_data" / "csim_results.log", dtype=np.int64, ndmin=2)

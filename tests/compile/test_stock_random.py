"""Random models of Brevitas' stock layers and power-of-two quantizers (a property test over
seeds): bit widths of weights and activations, signed and unsigned activations, per-tensor and
per-channel scales, biases, BatchNorm, MLPs and CNNs.  Each compiles, and its golden model
equals the export value for value on random pixels in the unit domain, and equals the integer
graph."""

from __future__ import annotations

import numpy as np
import pytest
import torch

brevitas_quant = pytest.importorskip("brevitas.quant")

from brevitas.nn import QuantConv2d, QuantHardTanh, QuantIdentity, QuantLinear, QuantReLU  # noqa: E402

from hw_bnn.compile.input_domain import InputDomain  # noqa: E402
from hw_bnn.compile.lower import lower_to_ir  # noqa: E402
from hw_bnn.compile.pipeline import compile_model, load_onnx  # noqa: E402
from hw_bnn.compile.qonnx_run import run_qonnx  # noqa: E402
from tests.compile.test_stock_quantizers import _export  # noqa: E402

W_QUANTS = (brevitas_quant.Int8WeightPerTensorFixedPoint, brevitas_quant.Int8WeightPerChannelFixedPointMSE)
FIXED = {"w": W_QUANTS, "u": brevitas_quant.Uint8ActPerTensorFixedPoint, "s": brevitas_quant.Int8ActPerTensorFixedPoint}
FLOAT = {  # learned float scales: per tensor and per channel weights, float activation scales
    "w": (brevitas_quant.Int8WeightPerTensorFloat, brevitas_quant.Int8WeightPerChannelFloat),
    "u": brevitas_quant.Uint8ActPerTensorFloat,
    "s": brevitas_quant.Int8ActPerTensorFloat,
}


def _act(rng: np.random.Generator, min_bits: int = 1, q: dict = FIXED) -> torch.nn.Module:
    """An activation quantizer of ``min_bits`` to 8 bits: unsigned ReLU, signed HardTanh or
    identity (a 1-bit ReLU exports as BipolarQuant: +-s, which zero padding cannot code)."""
    bits = int(rng.integers(min_bits, 9))
    kind = rng.choice(["relu", "hardtanh", "identity"]) if bits > 1 else "relu"
    if kind == "relu":
        return QuantReLU(act_quant=q["u"], bit_width=bits)
    if kind == "hardtanh":
        return QuantHardTanh(act_quant=q["s"], bit_width=bits, max_val=1.0, min_val=-1.0)
    return QuantIdentity(act_quant=q["s"], bit_width=bits)


def _weights(rng: np.random.Generator, q: dict = FIXED) -> dict:
    return {"weight_quant": q["w"][int(rng.integers(2))], "weight_bit_width": int(rng.integers(2, 9))}


def random_model(seed: int, q: dict = FIXED) -> tuple[torch.nn.Module, tuple]:
    """A small random MLP (even seeds) or CNN (odd seeds) and its input shape, with the
    quantizers ``q`` (:data:`FIXED`: power-of-two scales, or :data:`FLOAT`)."""
    rng = np.random.default_rng(seed)
    first = QuantIdentity(act_quant=q["u"], bit_width=int(rng.integers(2, 9)))
    layers: list[torch.nn.Module] = [first]
    if seed % 2 == 0:
        width, shape = 12, (1, 12)
        for _ in range(int(rng.integers(1, 3))):
            out = int(rng.integers(3, 9))
            layers += [QuantLinear(width, out, bias=bool(rng.integers(2)), **_weights(rng, q))]
            layers += [torch.nn.BatchNorm1d(out)] if rng.integers(2) else []
            layers += [_act(rng, q=q)]
            width = out
    else:
        c, size, shape = 1, 8, (1, 1, 8, 8)
        for _ in range(int(rng.integers(1, 3))):
            out, stride = int(rng.integers(2, 5)), int(rng.integers(1, 3))
            layers += [QuantConv2d(c, out, 3, stride=stride, padding=1, bias=bool(rng.integers(2)), **_weights(rng, q))]
            layers += [torch.nn.BatchNorm2d(out)] if rng.integers(2) else []
            layers += [_act(rng, min_bits=2, q=q)]
            c, size = out, (size + 2 - 3) // stride + 1
        layers += [torch.nn.Flatten()]
        width = c * size * size
    layers += [QuantLinear(width, 3, bias=bool(rng.integers(2)), **_weights(rng, q))]
    torch.manual_seed(seed)
    return torch.nn.Sequential(*layers), shape


@pytest.mark.parametrize("seed", range(12))
def test_random_stock_models_equal_their_export(tmp_path, seed):
    model, shape = random_model(seed)
    path = _export(model, shape, tmp_path / "m.onnx")
    dom = InputDomain.parse("unit")
    integer = compile_model(load_onnx(path), domain=dom)
    golden = lower_to_ir(integer)
    x = np.random.default_rng(seed).integers(0, 256, size=(48, *shape[1:])).astype(np.float32)
    y_ref = run_qonnx(load_onnx(path), dom.to_model(x))
    acc = golden.run(x)
    assert int(np.any(golden.apply_output_affine(acc) != y_ref, axis=1).sum()) == 0
    assert np.array_equal(run_qonnx(integer, x), acc)


@pytest.mark.parametrize("seed", range(8))
def test_random_float_scale_models_differ_from_their_export_only_by_proven_ties(tmp_path, seed):
    """Learned float scales: the golden model equals the integer graph (the integer semantics),
    and every difference from the export is proven a rounding tie."""
    from hw_bnn.compile.metadata import float_scales
    from hw_bnn.compile.near_ties import compare_with_export

    model, shape = random_model(seed, FLOAT)
    path = _export(model, shape, tmp_path / "m.onnx")
    dom = InputDomain.parse("unit")
    integer = compile_model(load_onnx(path), domain=dom)
    assert float_scales(integer)
    golden = lower_to_ir(integer)
    x = np.random.default_rng(seed).integers(0, 256, size=(256, *shape[1:])).astype(np.float32)
    assert np.array_equal(run_qonnx(integer, x), golden.run(x))
    res = compare_with_export(load_onnx(path), integer, golden, dom.to_model(x), x)
    assert res["images"] == 256 and res["quantizers_compared"] >= 2

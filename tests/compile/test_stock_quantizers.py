"""Models written with Brevitas' stock layers and quantizers, as its tutorials write them: what
compiles equals its export value for value on the pixels' domain, and each refusal names the
node and what to change."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

brevitas_quant = pytest.importorskip("brevitas.quant")

from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear, QuantReLU  # noqa: E402

from hw_bnn.compile.input_domain import InputDomain  # noqa: E402
from hw_bnn.compile.lower import lower_to_ir  # noqa: E402
from hw_bnn.compile.pipeline import compile_model, load_onnx  # noqa: E402
from hw_bnn.compile.qonnx_run import run_qonnx  # noqa: E402
from hw_bnn.errors import CompileError  # noqa: E402

W_TENSOR = brevitas_quant.Int8WeightPerTensorFixedPoint
W_CHANNEL = brevitas_quant.Int8WeightPerChannelFixedPointMSE  # a power-of-two scale per channel
A_UNSIGNED = brevitas_quant.Uint8ActPerTensorFixedPoint


def randomise(net: torch.nn.Module) -> torch.nn.Module:
    """Random BatchNorm statistics and biases (seed 1), as a trained model has; in eval mode."""
    torch.manual_seed(1)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.5), m.running_var.uniform_(0.2, 2), m.weight.normal_(), m.bias.normal_()
            if isinstance(m, QuantLinear | QuantConv2d) and m.bias is not None:
                m.bias.normal_(0, 0.5)
    return net.eval()


def _export(net: torch.nn.Module, shape, path: Path) -> Path:
    from brevitas.export import export_qonnx

    export_qonnx(randomise(net), torch.zeros(shape), export_path=str(path), dynamo=False)
    return path


def _equal_on_pixels(path: Path, shape, domain: str = "unit", n: int = 64) -> None:
    dom = InputDomain.parse(domain)
    golden = lower_to_ir(compile_model(load_onnx(path), domain=dom))
    x = np.random.default_rng(0).integers(0, 256, size=(n, *shape[1:])).astype(np.float32)
    y_ref = run_qonnx(load_onnx(path), dom.to_model(x))
    y = golden.apply_output_affine(golden.run(x))
    assert len(np.unique(y_ref, axis=0)) > 1
    assert int(np.any(y != y_ref, axis=1).sum()) == 0


def mlp_net(w_quant=W_TENSOR, bias: bool = False) -> torch.nn.Sequential:
    """16 -> 8 -> 4: a 4-bit input quantizer, 3- and 4-bit weights, a BatchNorm, a 2-bit ReLU."""
    torch.manual_seed(0)
    return torch.nn.Sequential(
        QuantIdentity(act_quant=A_UNSIGNED, bit_width=4),
        QuantLinear(16, 8, bias=bias, weight_quant=w_quant, weight_bit_width=3),
        torch.nn.BatchNorm1d(8),
        QuantReLU(act_quant=A_UNSIGNED, bit_width=2),
        QuantLinear(8, 4, bias=bias, weight_quant=w_quant, weight_bit_width=4),
    )


@pytest.mark.parametrize("w_quant", [W_TENSOR, W_CHANNEL], ids=["per-tensor", "per-channel"])
def test_quant_linear_with_bias_exports_as_gemm_and_compiles(tmp_path, w_quant):
    path = _export(mlp_net(w_quant, bias=True), (1, 16), tmp_path / "gemm.onnx")
    assert {n.op_type for n in load_onnx(path).graph.node} >= {"Gemm"}  # the export Brevitas makes
    _equal_on_pixels(path, (1, 16))


def test_quant_conv_with_bias_stride_and_padding(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        QuantIdentity(act_quant=A_UNSIGNED, bit_width=8),
        QuantConv2d(1, 4, 3, stride=2, padding=1, bias=True, weight_quant=W_CHANNEL, weight_bit_width=2),
        torch.nn.BatchNorm2d(4),
        QuantReLU(act_quant=A_UNSIGNED, bit_width=3),
        torch.nn.Flatten(),
        QuantLinear(4 * 4 * 4, 3, bias=True, weight_quant=W_TENSOR, weight_bit_width=4),
    )
    path = _export(net, (1, 1, 8, 8), tmp_path / "conv.onnx")
    _equal_on_pixels(path, (1, 1, 8, 8), domain="unit:mean=0.5:std=0.25", n=16)


def _refused(tmp_path, net, shape, match: str) -> None:
    path = _export(net, shape, tmp_path / "m.onnx")
    with pytest.raises(CompileError, match=match):
        compile_model(load_onnx(path))


def gap_net() -> torch.nn.Sequential:
    """A 3x3 conv with bias, a 3-bit ReLU, AdaptiveAvgPool2d(1), a 4-bit quantizer, a linear layer."""
    torch.manual_seed(0)
    return torch.nn.Sequential(
        QuantIdentity(act_quant=A_UNSIGNED, bit_width=4),
        QuantConv2d(1, 4, 3, padding=1, bias=True, weight_quant=W_TENSOR, weight_bit_width=3),
        QuantReLU(act_quant=A_UNSIGNED, bit_width=3),
        torch.nn.AdaptiveAvgPool2d(1),
        QuantIdentity(act_quant=A_UNSIGNED, bit_width=4),
        torch.nn.Flatten(),
        QuantLinear(4, 2, bias=True, weight_quant=W_TENSOR, weight_bit_width=3),
    )


@pytest.mark.parametrize("size", [4, 7], ids=["4x4 (a power of two)", "7x7"])
def test_global_average_pooling_compiles(tmp_path, size):
    path = _export(gap_net(), (1, 1, size, size), tmp_path / "gap.onnx")
    assert "GlobalAveragePool" in {n.op_type for n in load_onnx(path).graph.node}
    _equal_on_pixels(path, (1, 1, size, size), n=64)


def avgpool_net(pool: torch.nn.Module, w_quant=W_TENSOR, a_quant=A_UNSIGNED) -> torch.nn.Sequential:
    """An 8x8 input, a 3x3 conv, a 3-bit ReLU, ``pool``, a 4-bit quantizer, a 3x3 conv, a
    linear layer."""
    torch.manual_seed(0)
    return torch.nn.Sequential(
        QuantIdentity(act_quant=a_quant, bit_width=4),
        QuantConv2d(1, 4, 3, padding=1, bias=True, weight_quant=w_quant, weight_bit_width=3),
        QuantReLU(act_quant=a_quant, bit_width=3),
        pool,
        QuantIdentity(act_quant=a_quant, bit_width=4),
        QuantConv2d(4, 4, 3, padding=1, bias=False, weight_quant=w_quant, weight_bit_width=3),
        QuantReLU(act_quant=a_quant, bit_width=2),
        torch.nn.Flatten(),
        QuantLinear(4 * 4 * 4, 3, bias=True, weight_quant=w_quant, weight_bit_width=3),
    )


def test_average_pooling_over_windows_compiles(tmp_path):
    """AvgPool2d(2) on 8x8 maps: a 2x2 sum convolution of stride 2, then Div(4), exactly."""
    path = _export(avgpool_net(torch.nn.AvgPool2d(2)), (1, 1, 8, 8), tmp_path / "avg.onnx")
    assert "AveragePool" in {n.op_type for n in load_onnx(path).graph.node}
    _equal_on_pixels(path, (1, 1, 8, 8), n=64)


def test_padded_average_pooling_is_refused(tmp_path):
    _refused(
        tmp_path,
        avgpool_net(torch.nn.AvgPool2d(3, stride=2, padding=1)),
        (1, 1, 8, 8),
        r"node AveragePool_0 \(AveragePool\): padding \[1, 1, 1, 1\] and ceil_mode are not supported",
    )


def test_global_average_pooling_into_a_linear_layer_is_refused(tmp_path):
    """Without a quantizer after the pooling, the linear layer's input is not a code."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        QuantIdentity(act_quant=A_UNSIGNED, bit_width=4),
        QuantConv2d(1, 4, 3, bias=False, weight_quant=W_TENSOR, weight_bit_width=3),
        QuantReLU(act_quant=A_UNSIGNED, bit_width=2),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        QuantLinear(4, 2, bias=False, weight_quant=W_TENSOR, weight_bit_width=3),
    )
    _refused(
        tmp_path,
        net,
        (1, 1, 8, 8),
        r"node GlobalAveragePool_0 \(GlobalAveragePool\): its mean goes into MatMul \S+ unquantized; put an activation",
    )


def test_an_unquantized_linear_is_refused_naming_its_weights(tmp_path):
    net = torch.nn.Sequential(QuantIdentity(act_quant=A_UNSIGNED, bit_width=4), torch.nn.Linear(16, 4, bias=False))
    _refused(tmp_path, net, (1, 16), r"node MatMul_0 \(MatMul\): weights '\S+' are float, not integers")

"""Learned float scales (Brevitas' ``*Float`` quantizers): the integer graph computes the model's
integer semantics, and every difference from the float export is a proven rounding tie; a wrong
threshold or output stage is not one, and is named."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

brevitas_quant = pytest.importorskip("brevitas.quant")

from brevitas.nn import QuantIdentity, QuantLinear, QuantReLU  # noqa: E402

from hw_bnn.compile.input_domain import InputDomain  # noqa: E402
from hw_bnn.compile.lower import lower_to_ir  # noqa: E402
from hw_bnn.compile.metadata import AFFINE_KEY, float_scales  # noqa: E402
from hw_bnn.compile.near_ties import compare_with_export  # noqa: E402
from hw_bnn.compile.pipeline import compile_model, load_onnx  # noqa: E402
from hw_bnn.compile.qonnx_run import run_qonnx  # noqa: E402
from hw_bnn.errors import CompileError  # noqa: E402
from tests.compile.test_stock_quantizers import _export  # noqa: E402

DOMAIN = InputDomain.parse("unit")
TIE_IMAGES = 5000  # random pixel images (:func:`pixels`) among which float_mlp has a near-tie
TIE_IMAGE = 1413


def float_mlp() -> torch.nn.Sequential:
    """256 -> 64 -> 10 with learned float scales everywhere: an 8-bit input quantizer, 8-bit
    weights (per tensor, then per channel), biases, a BatchNorm and an 8-bit ReLU."""
    torch.manual_seed(0)
    return torch.nn.Sequential(
        QuantIdentity(act_quant=brevitas_quant.Int8ActPerTensorFloat, bit_width=8),
        QuantLinear(256, 64, bias=True, weight_quant=brevitas_quant.Int8WeightPerTensorFloat, weight_bit_width=8),
        torch.nn.BatchNorm1d(64),
        QuantReLU(act_quant=brevitas_quant.Uint8ActPerTensorFloat, bit_width=8),
        QuantLinear(64, 10, bias=True, weight_quant=brevitas_quant.Int8WeightPerChannelFloat, weight_bit_width=8),
    )


def pixels(n: int, shape=(256,)) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(n, *shape)).astype(np.float32)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    path = _export(float_mlp(), (1, 256), tmp_path_factory.mktemp("float") / "m.onnx")
    integer = compile_model(load_onnx(path), domain=DOMAIN)
    return path, integer, lower_to_ir(integer)


def test_float_scales_compile_and_are_recorded(compiled):
    path, integer, golden = compiled
    notes = float_scales(integer)
    assert [n["what"] for n in notes] == ["weight scale", "weight scale", "activation scale"]
    assert all(v > 0 and np.frexp(v)[0] != 0.5 for n in notes for v in n["values"])
    x = pixels(256)
    assert np.array_equal(run_qonnx(integer, x), golden.run(x))  # the integer semantics, twice
    y_ref = run_qonnx(load_onnx(path), DOMAIN.to_model(x))
    # the export rounds its float sums: outputs differ in the last bits, decisions do not
    y = golden.apply_output_affine(golden.run(x))
    assert np.any(y != y_ref) and np.abs(y - y_ref).max() < 1e-5


def test_every_difference_from_the_export_is_a_proven_rounding_tie(compiled):
    path, integer, golden = compiled
    x = pixels(TIE_IMAGES)
    res = compare_with_export(load_onnx(path), integer, golden, DOMAIN.to_model(x), x)
    assert res["images"] == TIE_IMAGES and res["quantizers_compared"] == 2
    assert res["code_differences"] >= 1 and res["near_ties"] >= res["code_differences"]
    f = res["first"]
    assert f["image"] == TIE_IMAGE
    lo, hi = f["codes_in_bound"]
    assert lo < hi and lo <= f["export"] <= hi and lo <= f["integer"] <= hi and f["export"] != f["integer"]
    assert 0 < f["bound"] < 1e-3  # a float32 rounding window, not a tolerance


def _tampered_thresholds(integer, levels: int):
    """The integer graph with the hidden layer's thresholds moved by ``levels`` steps of the
    quantizer (one step of the accumulator would be a rounding tie)."""
    from qonnx.core.modelwrapper import ModelWrapper

    bad = ModelWrapper(integer.model.__deepcopy__())
    mts = [n for n in bad.graph.node if n.op_type == "MultiThreshold"]
    t = bad.get_initializer(mts[1].input[1]).copy()
    t += levels * np.median(np.diff(t, axis=1), axis=1, keepdims=True)
    bad.set_initializer(mts[1].input[1], t)
    return bad


def test_a_wrong_threshold_is_not_a_rounding_tie(compiled):
    path, integer, _ = compiled
    bad = _tampered_thresholds(integer, -3)
    x = pixels(64)
    with pytest.raises(CompileError, match=r"image \d+: .* differ at node \S+ \(Quant\) element \d+, and it is not a"):
        compare_with_export(load_onnx(path), bad, lower_to_ir(bad), DOMAIN.to_model(x), x)


def test_a_wrong_output_stage_is_not_a_rounding_tie(compiled):
    path, integer, _ = compiled
    from qonnx.core.modelwrapper import ModelWrapper

    bad = ModelWrapper(integer.model.__deepcopy__())
    meta = json.loads(bad.get_metadata_prop(AFFINE_KEY))
    key = "scale" if "scale" in meta else "steps"
    if key == "scale":
        meta["scale"] = [s * (1 + 1e-4) for s in meta["scale"]]
    else:
        meta["steps"][0]["const"] = (np.asarray(meta["steps"][0]["const"]) * (1 + 1e-4)).tolist()
    bad.set_metadata_prop(AFFINE_KEY, json.dumps(meta))
    x = pixels(16)
    with pytest.raises(CompileError, match=r"image 0: .* differ at output \d+, and it is not a float rounding tie"):
        compare_with_export(load_onnx(path), bad, lower_to_ir(bad), DOMAIN.to_model(x), x)


def test_a_negative_scale_is_refused_naming_the_node(tmp_path):
    path = _export(float_mlp(), (1, 256), tmp_path / "m.onnx")
    model = load_onnx(path)
    q = next(n for n in model.graph.node if n.op_type == "Quant" and model.get_initializer(n.input[0]) is not None)
    model.set_initializer(q.input[1], -model.get_initializer(q.input[1]))
    with pytest.raises(CompileError, match=r"node \S+ \(Quant\): weight scale -\S+ must be positive and finite"):
        compile_model(model, domain=DOMAIN)


def test_a_quantized_bias_folds_into_the_chain(tmp_path):
    """``bias_quant=Int32Bias`` (the bias quantized to the input scale times the weight scale)
    exports as a Quant on the bias constant: its float32 value joins the chain."""
    from brevitas.quant import Int32Bias

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        QuantIdentity(act_quant=brevitas_quant.Int8ActPerTensorFloat, bit_width=8, return_quant_tensor=True),
        QuantLinear(
            32,
            8,
            bias=True,
            weight_quant=brevitas_quant.Int8WeightPerTensorFloat,
            weight_bit_width=4,
            bias_quant=Int32Bias,
        ),
        torch.nn.BatchNorm1d(8),
        QuantReLU(act_quant=brevitas_quant.Uint8ActPerTensorFloat, bit_width=4, return_quant_tensor=True),
        QuantLinear(8, 3, bias=True, weight_quant=brevitas_quant.Int8WeightPerTensorFloat, bias_quant=Int32Bias),
    )
    path = _export(net, (1, 32), tmp_path / "m.onnx")
    quantized = [n for n in load_onnx(path).graph.node if n.op_type == "Quant"]
    assert len(quantized) == 6  # two activations, two weights, two biases
    integer = compile_model(load_onnx(path), domain=DOMAIN)
    golden = lower_to_ir(integer)
    x = pixels(512, (32,))
    assert np.array_equal(run_qonnx(integer, x), golden.run(x))
    res = compare_with_export(load_onnx(path), integer, golden, DOMAIN.to_model(x), x)
    assert res["images"] == 512 and res["quantizers_compared"] == 2
    assert not {n.op_type for n in integer.graph.node} & {"Quant", "BipolarQuant"}


def test_average_pooling_with_float_scales(tmp_path):
    """AvgPool2d(2) between float-scale quantizers: the pooled mean's rounding is bounded like a
    linear layer's (weights 1/4), every difference proven."""
    from tests.compile.test_stock_quantizers import avgpool_net

    net = avgpool_net(
        torch.nn.AvgPool2d(2), brevitas_quant.Int8WeightPerTensorFloat, brevitas_quant.Uint8ActPerTensorFloat
    )
    path = _export(net, (1, 1, 8, 8), tmp_path / "m.onnx")
    integer = compile_model(load_onnx(path), domain=DOMAIN)
    golden = lower_to_ir(integer)
    x = pixels(256, (1, 8, 8))
    assert np.array_equal(run_qonnx(integer, x), golden.run(x))
    res = compare_with_export(load_onnx(path), integer, golden, DOMAIN.to_model(x), x)
    assert res["images"] == 256 and res["quantizers_compared"] == 4

"""BinaryDenseNet: concatenations become IntConcat stream merges, transitions integer MVUs;
the integer graph equals the exported one exactly and the golden model equals the integer graph."""

import numpy as np
import pytest
import torch
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.util.cleanup import cleanup_model

from hw_bnn.compile.lower import lower_to_ir
from hw_bnn.compile.pipeline import compile_model
from hw_bnn.compile.qonnx_run import run_qonnx
from hw_bnn.errors import CompileError, HwBnnError
from hw_bnn.train.networks import build_model
from hw_bnn.train.recipes import Recipe, check_recipe

IMAGES = np.random.default_rng(3).integers(0, 256, size=(300, 1, 8, 8))


def _recipe(**kw):
    r = dict(
        name="tiny-densenet",
        arch="densenet",
        hidden=[],
        weight_bits=1,
        act_bits=1,
        input_bits=8,
        dataset="digits",
        conv=[[8, 3, 1, 1], "D4", "D4", "T8", "D4"],
        transition_bits=8,
        transition_act_bits=4,
    )
    r.update(kw)
    return Recipe(**r)


def _trained_looking(recipe, seed=0):
    torch.manual_seed(seed)
    net = build_model(recipe, (1, 8, 8))
    net.train()
    with torch.no_grad():
        for _ in range(3):  # BatchNorm statistics and the activation quantizers' scales
            net(torch.randint(0, 256, (64, 1, 8, 8)).float())
        g = torch.Generator().manual_seed(seed)
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):  # some negative scales: decreasing channels
                m.weight.copy_(torch.rand(m.num_features, generator=g) * 2.5 - 1.0)
                m.bias.copy_(torch.rand(m.num_features, generator=g) - 0.5)
    net.eval()
    return net


def _export(net, path):
    from brevitas.export import export_qonnx

    export_qonnx(net, torch.zeros(1, 1, 8, 8), export_path=str(path), dynamo=False)
    return cleanup_model(ModelWrapper(str(path)))


@pytest.mark.parametrize("tbits", [8, 3])
def test_densenet_compiles_exactly_and_golden_matches(tmp_path, tbits):
    exported = _export(_trained_looking(_recipe(transition_bits=tbits)), tmp_path / "dn.onnx")
    integer = compile_model(exported)
    ops = [n.op_type for n in integer.graph.node]
    assert ops.count("IntConcat") == 3
    assert "Concat" not in ops
    golden = lower_to_ir(integer)
    kinds = [layer.kind for layer in golden.layers]
    assert kinds.count("concat") == 3
    assert any(layer.kind == "threshold" and layer.negate is not None and layer.negate.any() for layer in golden.layers)
    # the 1x1 transition: an integer (not XNOR) convolution on the 4-bit codes
    trans = [layer for layer in golden.layers if layer.kind == "conv" and layer.kernel == 1]
    assert len(trans) == 1 and not trans[0].xnor and np.abs(trans[0].weights).max() > 1
    acc = golden.run(IMAGES)
    acc_integer = run_qonnx(integer, IMAGES)
    bad = np.flatnonzero(np.any(acc != acc_integer, axis=1))
    assert bad.size == 0, f"{bad.size} golden/integer mismatches, first image {bad[:1]}"
    y = golden.apply_output_affine(acc)
    y_ref = run_qonnx(exported, IMAGES)
    bad = np.flatnonzero(np.any(y != y_ref, axis=1))
    assert bad.size == 0, f"{bad.size} images differ from exported.onnx, first {bad[:1]}"


def test_golden_concat_layer_round_trips(tmp_path):
    exported = _export(_trained_looking(_recipe()), tmp_path / "dn.onnx")
    golden = lower_to_ir(compile_model(exported))
    golden.save(tmp_path / "g.npz")
    from hw_bnn.ir import IntegerNetwork

    again = IntegerNetwork.load(tmp_path / "g.npz")
    assert [layer.inputs for layer in again.layers] == [layer.inputs for layer in golden.layers]
    assert np.array_equal(again.run(IMAGES[:50]), golden.run(IMAGES[:50]))


def test_a_concatenated_input_that_is_not_an_integer_affine_is_refused(tmp_path):
    net = _trained_looking(_recipe(conv=[[8, 3, 1, 1], "D4"]))
    net.blocks[0].conv = torch.nn.Sequential(net.blocks[0].conv, torch.nn.Tanh())  # a stem with tanh
    with pytest.raises(CompileError, match="Concat"):
        compile_model(_export(net, tmp_path / "bad.onnx"))


def test_densenet_recipes_are_checked():
    with pytest.raises(HwBnnError, match="densenet"):
        check_recipe(_recipe(arch="cnv"))
    with pytest.raises(HwBnnError, match="transition_bits"):
        check_recipe(_recipe(transition_bits=1))

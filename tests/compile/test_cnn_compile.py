"""CNNs through export and compile: Brevitas w1a1 / w1a2 / w2a2 networks with stride 1 and 2,
padding, 1x1 and 3x3 kernels and max pooling; integer == exported exactly, golden == integer,
and the conv / pooling settings the hardware cannot do are refused naming the node."""

import numpy as np
import pytest

from hw_bnn.compile.lower import lower_to_ir
from hw_bnn.compile.pipeline import compile_model, load_onnx
from hw_bnn.compile.qonnx_run import run_qonnx
from hw_bnn.errors import CompileError
from hw_bnn.ir import ConvLayer, IntegerNetwork, MaxPoolLayer, im2col
from hw_bnn.train.networks import build_model
from hw_bnn.train.recipes import Recipe, check_recipe
from tests.graphs import GraphBuilder

SMALL_CONV = [[8, 3, 2, 1], [8, 3, 1, 1], "M3s2", [12, 3, 1, 0], [12, 1, 1, 0]]  # 14 -> 7 -> 7 -> 3 -> 1 -> 1


def _export(tmp_path, wbits, abits, conv=SMALL_CONV, hidden=(16,), shape=(1, 14, 14), first_bits=0):
    import torch
    from brevitas.export import export_qonnx

    r = Recipe(
        name=f"t-w{wbits}a{abits}",
        arch="cnv",
        hidden=list(hidden),
        weight_bits=wbits,
        act_bits=abits,
        input_bits=8,
        conv=conv,
        train={},
        first_weight_bits=first_bits,
    )
    check_recipe(r)
    torch.manual_seed(wbits * 10 + abits)
    m = build_model(r, shape)
    m.train()
    with torch.no_grad():  # give BatchNorm real statistics (and some negative gammas)
        for _ in range(3):
            m(torch.randint(0, 256, (32, *shape)).float())
        for mod in m.modules():
            if isinstance(mod, (torch.nn.BatchNorm2d, torch.nn.BatchNorm1d)):
                mod.weight.mul_(torch.where(torch.rand_like(mod.weight) < 0.3, -1.0, 1.0))
    m.eval()
    path = tmp_path / f"{r.name}.onnx"
    export_qonnx(m, torch.zeros(1, *shape), export_path=str(path), dynamo=False)
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    cleanup_model(ModelWrapper(str(path))).save(str(path))
    return path, m


@pytest.mark.parametrize("wbits,abits,first_bits", [(1, 1, 0), (1, 2, 0), (2, 2, 0), (1, 1, 8)])
def test_cnn_compiles_exactly(tmp_path, wbits, abits, first_bits):
    import torch

    path, torch_model = _export(tmp_path, wbits, abits, first_bits=first_bits)
    exported = load_onnx(path)
    integer = compile_model(load_onnx(path))
    golden = lower_to_ir(integer)
    kinds = [(layer.kind, getattr(layer, "xnor", None)) for layer in golden.layers]
    # first layer: integer conv on the pixels; later convs XNOR only for w1a1
    assert kinds[0] == ("conv", False)
    # an 8-bit first layer: its integer weights span more than the ternary levels, within 8 bits
    stem = np.abs(np.asarray(golden.layers[0].weights))
    assert (stem.max() > 1) == (first_bits == 8) and stem.max() <= 128
    assert ("conv", True) in kinds if (wbits, abits) == (1, 1) else ("conv", True) not in kinds
    assert ("maxpool", None) in kinds and kinds[-1][0] in ("xnor_dense", "int_dense")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(300, 1, 14, 14)).astype(np.float32)
    x[:20] = 0
    x[20:40] = 255
    ref = run_qonnx(exported, x, batch_size=100)
    acc = run_qonnx(integer, x, batch_size=100)
    g = golden.run(x)
    bad = np.flatnonzero(np.any(g != acc, axis=1))
    assert len(bad) == 0, f"golden != integer graph on {len(bad)} images, first {bad[:1]}"
    y = golden.apply_output_affine(g)
    bad = np.flatnonzero(np.any(y != ref, axis=1))
    assert len(bad) == 0, f"integer graph != exported on {len(bad)} images, first {bad[:1]}"
    assert len(np.unique(g.argmax(1))) > 1  # not degenerate
    with torch.no_grad():
        yt = torch_model(torch.from_numpy(x)).numpy()
    assert np.abs(yt - y).max() <= 1e-4 * np.abs(yt).max()


def test_golden_conv_and_pool_match_a_direct_loop(tmp_path):
    rng = np.random.default_rng(1)
    h, w, c, co, k, s, p = 7, 6, 3, 4, 3, 2, 1
    x = rng.integers(0, 4, size=(2, h, w, c)).astype(np.float32)
    wt = rng.integers(-1, 2, size=(k * k * c, co)).astype(np.int8)
    layer = ConvLayer("c", (h, w, c), k, s, p, 2, wt, False, None, in_levels=3)
    got = layer.forward(x)
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), constant_values=2)
    ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    want = np.zeros((2, ho, wo, co))
    for i in range(ho):
        for j in range(wo):
            win = xp[:, i * s : i * s + k, j * s : j * s + k, :].reshape(2, -1)
            want[:, i, j] = win @ wt
    assert np.array_equal(got, want)
    assert im2col(x, 1, 1, 0, 0).shape == (2, h, w, c)
    pool = MaxPoolLayer("p", (h, w, c), 3, 2, 3)
    pw = pool.forward(x)
    assert pw.shape == (2, 3, 2, c) and pw[0, 1, 1, 2] == x[0, 2:5, 2:5, 2].max()
    g = IntegerNetwork([layer], input_shape=(c, h, w), input_range=(0, 3))
    g.save(tmp_path / "g.npz")
    g2 = IntegerNetwork.load(tmp_path / "g.npz")
    xn = np.transpose(x, (0, 3, 1, 2)).astype(np.int64)
    assert np.array_equal(g.run(xn), g2.run(xn))


def _conv_graph(tmp_path, **conv_attrs):
    b = GraphBuilder()
    w = b.bipolar(b.const(np.random.default_rng(0).uniform(-1, 1, size=(4, 1, 3, 3))))
    attrs = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [1, 1]}
    attrs.update(conv_attrs)
    y = b.node("Conv", [b.node("Mul", ["x", b.const(np.float32(1 / 256))]), w], **attrs)
    y = b.bipolar(y)
    path = tmp_path / "conv.onnx"
    b.model("x", [1, 1, 8, 8], y).save(str(path))
    return path


@pytest.mark.parametrize(
    "attrs,expect",
    [
        ({"strides": [3, 3]}, "stride [3, 3] is not supported"),
        ({"strides": [1, 2]}, "stride [1, 2] is not supported"),
        ({"dilations": [2, 2], "pads": [2, 2, 2, 2]}, "dilation [2, 2] is not supported"),
        ({"pads": [1, 1, 0, 0]}, "padding [1, 1, 0, 0] is asymmetric"),
        ({"kernel_shape": [3, 1]}, "kernel [3, 1] is not square"),
    ],
)
def test_unsupported_conv_settings_name_the_node(tmp_path, attrs, expect):
    with pytest.raises(CompileError) as e:
        compile_model(load_onnx(_conv_graph(tmp_path, **attrs)))
    assert "node Conv_" in str(e.value) and expect in str(e.value)


def test_grouped_conv_is_refused(tmp_path):
    b = GraphBuilder()
    w = b.bipolar(b.const(np.ones((4, 1, 3, 3))))
    y = b.bipolar(b.node("Conv", ["x", w], kernel_shape=[3, 3], group=2, pads=[0, 0, 0, 0]))
    with pytest.raises(CompileError, match=r"node Conv_\d+ \(Conv\): group=2 is not supported"):
        compile_model(b.model("x", [1, 2, 6, 6], y))


def test_zero_padding_of_binary_activations_is_refused(tmp_path):
    b = GraphBuilder()
    x = b.bipolar(b.node("Add", ["x", b.const(np.float32(-128))]))
    w = b.bipolar(b.const(np.ones((2, 1, 3, 3))))
    y = b.node("Conv", [x, w], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    y = b.bipolar(b.bn(y, [1.0, -1.0], [0.0, 0.0], [0.5, 0.0], [1.0, 1.0]))
    with pytest.raises(CompileError) as e:
        compile_model(b.model("x", [1, 1, 6, 6], y))
    assert "node Conv_" in str(e.value) and "zero padding value 0 is not one of the input's levels" in str(e.value)
    assert "pad with -1" in str(e.value)


def test_asymmetric_pad_node_is_refused(tmp_path):
    b = GraphBuilder()
    x = b.bipolar(b.node("Add", ["x", b.const(np.float32(-128))]))
    pads = b.const(np.array([0, 0, 1, 0, 0, 0, 1, 1]))
    x = b.node("Pad", [x, pads, b.const(np.float32(-1.0))], mode="constant")
    from onnx import numpy_helper

    b.inits[-2] = numpy_helper.from_array(np.array([0, 0, 1, 0, 0, 0, 1, 1], dtype=np.int64), pads)
    w = b.bipolar(b.const(np.ones((2, 1, 3, 3))))
    y = b.bipolar(b.node("Conv", [x, w], kernel_shape=[3, 3], pads=[0, 0, 0, 0]))
    with pytest.raises(CompileError, match=r"node Pad_\d+ \(Pad\): pads .* are not symmetric"):
        compile_model(b.model("x", [1, 1, 6, 6], y))


def test_maxpool_before_the_quantizer_is_refused_with_a_hint(tmp_path):
    b = GraphBuilder()
    w = b.bipolar(b.const(np.ones((2, 1, 3, 3))))
    y = b.node("Conv", [b.node("Mul", ["x", b.const(np.float32(1 / 256))]), w], kernel_shape=[3, 3], pads=[0, 0, 0, 0])
    y = b.node("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2])
    y = b.bipolar(y)
    with pytest.raises(CompileError) as e:
        compile_model(b.model("x", [1, 1, 6, 6], y))
    assert (
        "BipolarQuant" in str(e.value)
        and "MaxPool" in str(e.value)
        and "after the activation quantizer" in str(e.value)
    )

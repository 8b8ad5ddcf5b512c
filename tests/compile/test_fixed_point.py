"""Residual networks with real-valued shortcuts: RSign / RPReLU / FPReLU chains, fixed-point
lowering (FixedChain / FixedAdd) and the golden model against the integer graph."""

import numpy as np
import pytest
import torch
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.util.cleanup import cleanup_model

from hw_bnn.compile.fixed_config import FixedPointConfig
from hw_bnn.compile.lower import lower_to_ir
from hw_bnn.compile.metadata import FIXED_KEY
from hw_bnn.compile.pipeline import compile_model
from hw_bnn.compile.qonnx_run import run_qonnx
from hw_bnn.errors import CompileError
from hw_bnn.train.layers import FPReLU, RPReLU, RSign
from hw_bnn.train.networks import build_model
from hw_bnn.train.recipes import Recipe


def _recipe(nonlin="rprelu", conv=None):
    return Recipe(
        name="tiny-reactnet",
        arch="reactnet",
        hidden=[],
        weight_bits=1,
        act_bits=1,
        input_bits=8,
        dataset="digits",
        conv=conv or [[8, 3, 1, 1], "R", "M", [12, 3, 1, 1], "R"],
        nonlin=nonlin,
    )


def _randomized(recipe, seed=0, neg_slopes=False):
    """A network with trained-looking statistics (random BN moments, shifts and slopes)."""
    torch.manual_seed(seed)
    net = build_model(recipe, (1, 8, 8))
    g = torch.Generator().manual_seed(seed)

    def u(shape, lo, hi):
        return torch.rand(shape, generator=g) * (hi - lo) + lo

    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(u(c, -6, 6))
                m.running_var.copy_(u(c, 2, 30))
                m.weight.copy_(u(c, 0.2, 1.5))
                m.bias.copy_(u(c, -1, 1))
            elif isinstance(m, RPReLU):
                c = m.gamma.numel()
                m.gamma.copy_(u(c, -0.5, 0.5))
                m.beta.copy_(u(c, 0.05, 0.6))
                m.zeta.copy_(u(c, -0.5, 0.5))
            elif isinstance(m, FPReLU):
                c = m.pos.numel()
                m.pos.copy_(u(c, 0.5, 1.5))
                m.neg.copy_(u(c, -0.4, -0.1) if neg_slopes else u(c, 0.05, 0.5))
            elif isinstance(m, RSign):
                m.alpha.copy_(u(m.alpha.numel(), -0.3, 0.3))
    net.eval()
    return net


def _export(net, tmp_path, name="net.onnx"):
    from brevitas.export import export_qonnx

    path = tmp_path / name
    export_qonnx(net, torch.zeros(1, 1, 8, 8), export_path=str(path), dynamo=False)
    return cleanup_model(ModelWrapper(str(path)))


@pytest.fixture(scope="module")
def rprelu_net(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rprelu")
    return _export(_randomized(_recipe("rprelu")), tmp)


IMAGES = np.random.default_rng(1).integers(0, 256, size=(300, 1, 8, 8))


def _golden_equals_integer(integer):
    golden = lower_to_ir(integer)
    a = golden.run(IMAGES)
    b = run_qonnx(integer, IMAGES)
    bad = np.flatnonzero(np.any(a != b, axis=1))
    assert bad.size == 0, f"{bad.size} golden/integer mismatches, first image {bad[:1]}"
    return golden, a


def test_residual_network_lowers_to_fixed_point_and_golden_matches(rprelu_net):
    integer = compile_model(rprelu_net)
    ops = [n.op_type for n in integer.graph.node]
    assert ops.count("FixedAdd") == 2 and "FixedChain" in ops
    assert integer.get_metadata_prop(FIXED_KEY)
    golden, acc = _golden_equals_integer(integer)
    kinds = [layer.kind for layer in golden.layers]
    assert kinds.count("fixed_add") == 2 and kinds[-1] == "xnor_dense"
    adds = [layer for layer in golden.layers if layer.kind == "fixed_add"]
    assert all(len(layer.inputs) == 2 for layer in adds)
    # the fixed-point network decides (almost) like the float one
    y_float = run_qonnx(rprelu_net, IMAGES)
    agree = (golden.apply_output_affine(acc).argmax(1) == y_float.argmax(1)).mean()
    assert agree >= 0.9, agree


def test_more_fraction_bits_track_the_float_model_closer(rprelu_net):
    y_float = run_qonnx(rprelu_net, IMAGES)
    errs = []
    for frac in (2, 10):
        golden, acc = _golden_equals_integer(compile_model(rprelu_net, fixed=FixedPointConfig(frac=frac)))
        errs.append(float(np.abs(golden.apply_output_affine(acc) - y_float).mean()))
    assert errs[1] < errs[0], errs


@pytest.mark.parametrize("rounding", ["rnd", "trn"])
def test_rounding_modes_and_saturation_stay_exact(rprelu_net, rounding):
    # a width too small for the values: saturation (or wrap-around) really happens
    for overflow in ("sat", "wrap"):
        cfg = FixedPointConfig(frac=4, width=8, rounding=rounding, overflow=overflow)
        integer = compile_model(rprelu_net, fixed=cfg)
        golden, _ = _golden_equals_integer(integer)
        trace = golden.run(IMAGES, trace=True)
        adds = [layer.name for layer in golden.layers if layer.kind == "fixed_add"]
        assert max(np.abs(trace[n]).max() for n in adds) >= 127  # the 8-bit range is reached


def test_fprelu_network_compiles_and_a_non_monotone_sign_chain_names_its_channel(tmp_path):
    integer = compile_model(_export(_randomized(_recipe("fprelu")), tmp_path, "pos.onnx"))
    _golden_equals_integer(integer)
    with pytest.raises(CompileError, match=r"channel \d+"):
        compile_model(_export(_randomized(_recipe("fprelu"), neg_slopes=True), tmp_path, "neg.onnx"))


def test_a_shortcut_chain_that_is_not_piecewise_linear_is_refused(tmp_path):
    net = _randomized(_recipe("rprelu"))
    net.blocks[0].norm = torch.nn.Sequential(net.blocks[0].norm, torch.nn.Tanh())  # stem output: tanh(BN(acc))
    with pytest.raises(CompileError, match="not a piecewise linear function"):
        compile_model(_export(net, tmp_path))


def test_bad_fixed_point_settings_are_refused(rprelu_net):
    with pytest.raises(CompileError, match="rounding"):
        compile_model(rprelu_net, fixed=FixedPointConfig(rounding="nearest"))
    with pytest.raises(CompileError, match="width"):
        compile_model(rprelu_net, fixed=FixedPointConfig(frac=8, width=6))


def test_rsign_rprelu_fprelu_follow_their_equations():
    torch.manual_seed(0)
    x = torch.randn(5, 3, 4, 4, requires_grad=True)
    r = RPReLU(3)
    with torch.no_grad():
        r.gamma.copy_(torch.tensor([0.1, -0.2, 0.3]))
        r.beta.copy_(torch.tensor([0.25, 0.5, -0.1]))
        r.zeta.copy_(torch.tensor([0.0, 0.4, -0.3]))
    y = r(x)
    t = x - r.gamma.view(1, -1, 1, 1)
    want = torch.where(t > 0, t, r.beta.view(1, -1, 1, 1) * t) + r.zeta.view(1, -1, 1, 1)
    assert torch.allclose(y, want)
    y.sum().backward()
    # dy/dbeta_c = sum of t over t <= 0
    assert torch.allclose(
        r.beta.grad, torch.where(t <= 0, t, torch.zeros_like(t)).sum(dim=(0, 2, 3)).detach(), atol=1e-5
    )
    assert torch.allclose(r.zeta.grad, torch.full((3,), 5 * 16.0))
    f = FPReLU(3)
    with torch.no_grad():
        f.pos.copy_(torch.tensor([1.0, 2.0, -1.0]))
        f.neg.copy_(torch.tensor([0.25, -0.5, 0.1]))
    x2 = x.detach().clone().requires_grad_(True)
    y2 = f(x2)
    a, b = f.pos.view(1, -1, 1, 1), f.neg.view(1, -1, 1, 1)
    assert torch.allclose(y2, torch.where(x2 > 0, a * x2, b * x2))
    y2.sum().backward()
    assert torch.allclose(x2.grad, torch.where(x2 > 0, a, b).expand_as(x2).detach())
    assert torch.allclose(
        f.neg.grad, torch.where(x2 <= 0, x2, torch.zeros_like(x2)).sum(dim=(0, 2, 3)).detach(), atol=1e-5
    )
    # RSign: sign(x - alpha) with the clipped straight-through gradient
    from brevitas.nn import QuantIdentity
    from brevitas.quant.binary import SignedBinaryActPerTensorConst

    s = RSign(3, QuantIdentity(act_quant=SignedBinaryActPerTensorConst, return_quant_tensor=False))
    with torch.no_grad():
        s.alpha.copy_(torch.tensor([0.5, -0.5, 0.0]))
    x3 = (torch.randn(4, 3, 2, 2) * 1.5).requires_grad_(True)
    b3 = s(x3)
    shifted = x3 - s.alpha.view(1, -1, 1, 1)
    assert torch.equal(b3, torch.where(shifted >= 0, 1.0, -1.0))
    b3.sum().backward()
    inside = (shifted.abs() <= 1).float()
    assert torch.allclose(x3.grad, inside)


@pytest.mark.parametrize("frac", [8, 16])
def test_stem_fixed_point_tensor_is_within_one_lsb_of_the_float_chain(rprelu_net, frac):
    """The stem's chain reads an accumulator of up to 9 * 255: the slopes need more fraction
    bits than the tensor (auto slope_frac); a fixed 16 would put the codes thousands of LSBs
    off at frac 16.  Compared per element with the float tensor of the exported graph."""
    from qonnx.core.onnx_exec import execute_onnx

    integer = compile_model(rprelu_net, fixed=FixedPointConfig(frac=frac))
    stem = next(n for n in integer.graph.node if n.op_type == "FixedChain")
    float_name = stem.output[0].rsplit("_fixed", 1)[0]
    x = IMAGES[:20].astype(np.float32)
    fx = execute_onnx(integer, {integer.graph.input[0].name: x[:1]}, return_full_exec_context=True)
    fl = execute_onnx(rprelu_net, {rprelu_net.graph.input[0].name: x[:1]}, return_full_exec_context=True)
    assert float_name in fl, f"no float tensor {float_name} in the exported graph"
    err = np.abs(fx[stem.output[0]] * 2.0**-frac - fl[float_name]) * 2.0**frac
    assert err.max() <= 1.0, f"stem codes are up to {err.max():.1f} LSB off the float chain"


def test_a_fresh_interpreter_that_imports_hw_bnn_compile_executes_fixed_point_nodes(rprelu_net, tmp_path):
    """The integer graph's own nodes keep the ONNX domain ``hw_bnn.custom_op`` (it is inside
    every ``integer.onnx``); importing ``hw_bnn.compile`` alone lets qonnx ``execute_onnx`` find
    them (the domain alias to ``hw_bnn.compile.custom_op``)."""
    import subprocess
    import sys

    integer = compile_model(rprelu_net)
    domains = {n.domain for n in integer.graph.node if n.op_type in ("FixedChain", "FixedAdd")}
    assert domains == {"hw_bnn.custom_op"}
    integer.save(str(tmp_path / "integer.onnx"))
    x = IMAGES[:1].astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    script = (
        "import sys, numpy as np, hw_bnn.compile\n"
        "from qonnx.core.modelwrapper import ModelWrapper\n"
        "from qonnx.core.onnx_exec import execute_onnx\n"
        "assert 'hw_bnn.compile.pipeline' not in sys.modules\n"
        f"m = ModelWrapper({str(tmp_path / 'integer.onnx')!r})\n"
        f"x = np.load({str(tmp_path / 'x.npy')!r})\n"
        "y = execute_onnx(m, {m.graph.input[0].name: x})[m.graph.output[0].name]\n"
        f"np.save({str(tmp_path / 'y.npy')!r}, y)\n"
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert np.array_equal(np.load(tmp_path / "y.npy"), run_qonnx(integer, x))

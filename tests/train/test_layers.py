"""Batch Kalman Normalization: forward against its equations, gradients, and exact folding."""

import math

import numpy as np
import pytest
import torch

from hw_bnn.train.layers import BatchKalmanNorm, link_kalman_norms, make_norm
from hw_bnn.train.networks import build_model
from hw_bnn.train.recipes import load_recipe


def _two_layer_net():
    from brevitas.nn import QuantLinear

    r = load_recipe("tfc-bkn-w1a1")
    net = build_model(r, (784,))
    lins = [m for m in net.modules() if isinstance(m, QuantLinear)]
    bkns = [m for m in net.modules() if isinstance(m, BatchKalmanNorm)]
    return net, lins, bkns


def test_links_follow_the_network_order():
    _, lins, bkns = _two_layer_net()
    assert len(bkns) == 3
    assert bkns[0]._prev is None and bkns[1]._prev is bkns[0] and bkns[2]._prev is bkns[1]
    assert [b._linear for b in bkns] == lins[:3]
    assert "._prev" not in " ".join(k for k in _two_layer_net()[0].state_dict())


def test_forward_matches_the_kalman_equations():
    torch.manual_seed(0)
    _, lins, bkns = _two_layer_net()
    prev, k = bkns[0], bkns[1]
    with torch.no_grad():
        prev.weight.copy_(torch.randn(64) * 2)
        prev.bias.copy_(torch.randn(64))
        k.gain_logit.fill_(0.3)
    k.train()
    x = torch.randn(4, 64) * 5 + 1  # a micro-batch of 4
    y = k(x)
    # by hand, from the equations in the hw_bnn.train.layers docstring
    m = torch.erf(prev.bias / (prev.weight.abs() * math.sqrt(2)))
    v = 1 - m * m
    w = lins[1].quant_weight().value
    mu_pred, var_pred = w @ m, (w * w) @ v
    mu_obs, var_obs = x.mean(0), x.var(0, unbiased=False)
    p = torch.sigmoid(torch.tensor(0.3))
    mu = p * mu_pred + (1 - p) * mu_obs
    var = p * var_pred + (1 - p) * var_obs + p * (1 - p) * (mu_obs - mu_pred) ** 2
    want = (x - mu) / torch.sqrt(var + k.eps) * k.weight + k.bias
    assert torch.allclose(y, want, atol=1e-5)
    assert torch.allclose(k.running_mean, 0.1 * mu.detach(), atol=1e-6)


def test_first_layer_predicts_from_its_running_statistics_and_eval_is_an_affine():
    torch.manual_seed(1)
    bkn = BatchKalmanNorm(6)
    with torch.no_grad():
        bkn.running_mean.copy_(torch.randn(6) * 3)
        bkn.running_var.copy_(torch.rand(6) * 4 + 0.5)
        bkn.gain_logit.fill_(-0.4)
    mu_pred, var_pred = bkn.running_mean.clone(), bkn.running_var.clone()
    x = torch.randn(3, 6, 4, 4) * 2 - 1
    y = bkn.train()(x)
    # the Kalman update with the running statistics as the prediction
    mu_obs, var_obs = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)
    p = torch.sigmoid(torch.tensor(-0.4))
    mu = p * mu_pred + (1 - p) * mu_obs
    var = p * var_pred + (1 - p) * var_obs + p * (1 - p) * (mu_obs - mu_pred) ** 2
    want = (x - mu.view(1, -1, 1, 1)) / torch.sqrt(var.view(1, -1, 1, 1) + bkn.eps)
    assert torch.allclose(y, want, atol=1e-5)
    assert not torch.allclose(y, torch.nn.BatchNorm2d(6).train()(x), atol=1e-2)  # not plain BN
    assert torch.allclose(bkn.running_mean, 0.9 * mu_pred + 0.1 * mu.detach(), atol=1e-6)
    with torch.no_grad():
        bkn.running_mean.copy_(torch.randn(6))
        bkn.running_var.copy_(torch.rand(6) + 0.5)
        bkn.weight.copy_(torch.randn(6))
    bkn.eval()
    s = bkn.weight / torch.sqrt(bkn.running_var + bkn.eps)
    want = (x - bkn.running_mean.view(1, -1, 1, 1)) * s.view(1, -1, 1, 1) + bkn.bias.view(1, -1, 1, 1)
    assert torch.allclose(bkn(x), want, atol=1e-5)


def test_gradients_reach_gain_and_affine_but_not_the_previous_layer_through_its_statistics():
    _, _, bkns = _two_layer_net()
    prev, k = bkns[0], bkns[1]
    k.train()
    (k(torch.randn(4, 64)) ** 2).sum().backward()
    assert k.gain_logit.grad is not None and k.weight.grad is not None and k.bias.grad is not None
    assert prev.weight.grad is None and prev.bias.grad is None


def test_bkn_network_folds_exactly(tmp_path):
    from brevitas.export import export_qonnx
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    from hw_bnn.compile.lower import lower_to_ir
    from hw_bnn.compile.pipeline import compile_model
    from hw_bnn.compile.qonnx_run import run_qonnx

    torch.manual_seed(2)
    net, _, bkns = _two_layer_net()
    with torch.no_grad():
        for b in bkns:  # inference statistics with negative and zero gammas
            b.running_mean.copy_(torch.randn(64) * 8)
            b.running_var.copy_(torch.rand(64) * 60 + 1)
            b.weight.copy_(torch.randn(64) * torch.where(torch.rand(64) < 0.1, 0.0, 1.0))
    net.eval()
    path = tmp_path / "bkn.onnx"
    export_qonnx(net, torch.zeros(1, 784), export_path=str(path), dynamo=False)
    exported = cleanup_model(ModelWrapper(str(path)))
    assert "BatchNormalization" in [n.op_type for n in exported.graph.node]
    folded = compile_model(exported)
    g = lower_to_ir(folded)
    x = np.random.default_rng(0).integers(0, 256, size=(300, 784)).astype(np.float32)
    assert np.array_equal(g.apply_output_affine(g.run(x)), run_qonnx(exported, x))


def test_make_norm_kinds():
    assert isinstance(make_norm("bn", 4, spatial=True), torch.nn.BatchNorm2d)
    assert isinstance(make_norm("gn", 16, spatial=False), torch.nn.GroupNorm)
    with pytest.raises(ValueError, match="unknown norm"):
        make_norm("ln", 4, spatial=False)
    link_kalman_norms(torch.nn.Sequential())  # nothing to link is fine

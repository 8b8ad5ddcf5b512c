"""Training layers from the project's source papers (torch; used by hw_bnn.train.networks).

``BatchKalmanNorm`` -- Batch Kalman Normalization (Wang et al. 2018), for micro-batches.

Forward (training), channel ``c`` of layer ``k``, input ``x`` of shape ``(N, C)`` or
``(N, C, H, W)``:

* observed moments over the batch (and space): ``mu_obs = E[x]``, ``var_obs = Var[x]``;
* prediction from the previous normalized layer ``k-1`` through this layer's weights ``W``
  (``W[c, j]``, conv kernels summed over space): with ``m_j, v_j`` the estimated mean and
  variance of layer ``k-1``'s sign activation,
  ``mu_pred[c] = sum_j W[c, j] m_j`` and ``var_pred[c] = sum_j W[c, j]^2 v_j``
  (independent inputs); the activation moments come from the previous layer's normalized
  output ``y ~ N(beta, gamma^2)``: ``m = erf(beta / (|gamma| sqrt 2))``, ``v = 1 - m^2``;
* Kalman update with the gain ``p = sigmoid(q)`` (``q`` learnable, one per layer):
  ``mu = p mu_pred + (1 - p) mu_obs``,
  ``var = p var_pred + (1 - p) var_obs + p (1 - p) (mu_obs - mu_pred)^2``;
  the first normalized layer has no previous layer: its prediction is its own estimate of the
  steps before, the running statistics (``mu_pred = running_mean``, ``var_pred =
  running_var``, a Kalman prior across steps instead of across depth; our extension: at
  batch 2 it lifts TFC-w1a1 from 0.67 to 0.85, docs/experiments.md);
* ``y = gamma (x - mu) / sqrt(var + eps) + beta``; the running statistics follow ``mu, var``
  with momentum, as BatchNorm's do.

Backward: autograd through the observed moments, the gain ``q`` and ``gamma, beta``; the
prediction ``mu_pred, var_pred`` is treated as a constant (no gradient into the previous
layer through its statistics).  Between layers a max pool or padding is ignored by the
prediction (it only steers the training statistics; exactness is untouched).

Inference: ``y = gamma (x - running_mean) / sqrt(running_var + eps) + beta`` -- a per-channel
affine, computed with ``F.batch_norm`` so that it exports as ONNX ``BatchNormalization`` and
is absorbed into thresholds exactly like BatchNorm.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from hw_bnn.errors import RecipeError


class BatchKalmanNorm(nn.Module):
    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, gain_init: float = 0.5):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.gain_logit = nn.Parameter(torch.tensor(math.log(gain_init / (1 - gain_init))))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        # set by link_kalman_norms: the layer whose weights carry the previous estimate here
        self._linear = None
        self._prev = None

    @property
    def gain(self) -> torch.Tensor:
        return torch.sigmoid(self.gain_logit)

    def activation_moments(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Estimated mean and variance of sign(y) per channel, y ~ N(beta, gamma^2)."""
        g = self.weight.detach().abs().clamp_min(1e-6)
        m = torch.erf(self.bias.detach() / (g * math.sqrt(2.0)))
        return m, (1.0 - m * m).clamp_min(0.0)

    def predicted_moments(self):
        """(mu_pred, var_pred) from the previous normalized layer; for the first one (or one
        without a quantized layer before it) the running statistics, the estimate of the steps
        before."""
        if self._prev is None or self._linear is None:
            return self.running_mean.clone(), self.running_var.clone()
        m, v = self._prev.activation_moments()
        w = self._linear.quant_weight().value.detach()  # the quantized weights the layer uses
        if w.dim() == 4:  # conv (C, Cin, kh, kw): sum the kernel over space
            w2 = (w * w).sum(dim=(2, 3))
            w = w.sum(dim=(2, 3))
        else:
            w2 = w * w
        if w.shape[1] != m.shape[0]:  # a flatten between: each channel repeats over the pixels
            rep = w.shape[1] // m.shape[0]
            m, v = m.repeat_interleave(rep), v.repeat_interleave(rep)
        return w @ m, w2 @ v

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        dims = [0] + list(range(2, x.dim()))
        mu_obs = x.mean(dim=dims)
        var_obs = x.var(dim=dims, unbiased=False)
        mu_pred, var_pred = self.predicted_moments()
        p = self.gain
        mu = p * mu_pred + (1 - p) * mu_obs
        var = p * var_pred + (1 - p) * var_obs + p * (1 - p) * (mu_obs - mu_pred) ** 2
        with torch.no_grad():
            self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mu.detach())
            self.running_var.mul_(1 - self.momentum).add_(self.momentum * var.detach())
        shape = [1, -1] + [1] * (x.dim() - 2)
        xhat = (x - mu.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        return xhat * self.weight.view(shape) + self.bias.view(shape)


def link_kalman_norms(module: nn.Module) -> None:
    """Connect every BatchKalmanNorm to the quantized layer before it and to the previous
    BatchKalmanNorm, in module order (the order of a sequential network)."""
    from brevitas.nn import QuantConv2d, QuantLinear

    last_linear, prev = None, None
    for m in module.modules():
        if isinstance(m, (QuantConv2d, QuantLinear)):
            last_linear = m
        elif isinstance(m, BatchKalmanNorm):
            # plain attributes (not submodules): object.__setattr__ keeps them out of state_dict
            object.__setattr__(m, "_linear", last_linear)
            object.__setattr__(m, "_prev", prev)
            prev = m


def make_norm(kind: str, channels: int, spatial: bool) -> nn.Module:
    """The normalization a recipe asks for: ``bn`` (BatchNorm), ``bkn`` (Batch Kalman Norm)
    or ``gn`` (GroupNorm with 8 groups, batch-free; it is not absorbed into thresholds, so
    its networks train but cannot be compiled)."""
    if kind == "bn":
        return nn.BatchNorm2d(channels) if spatial else nn.BatchNorm1d(channels)
    if kind == "bkn":
        return BatchKalmanNorm(channels)
    if kind == "gn":
        return nn.GroupNorm(min(8, channels), channels)
    raise RecipeError(f"unknown norm {kind!r} (bn, bkn or gn)")


# --------------------------------------------------------------------------------------
# ReActNet (Liu et al. 2020; used by Liu et al. 2021, "How do Adam and training strategies
# help BNNs optimization?") and FTBNN (Su et al. 2020) non-linearities.


class RSign(nn.Module):
    """ReActNet's RSign: a learnable per-channel shift before the sign.

    Forward: ``b = sign(x - alpha_c)`` (``sign(0) = +1``), ``alpha`` initialised to 0.
    Backward (the binary quantizer's clipped straight-through estimator, scale 1):
    ``dL/dx = dL/db * 1[|x - alpha_c| <= 1]`` and ``dL/dalpha_c = -sum dL/dx`` over the
    batch and pixels of channel ``c``.

    Export: ``Sub(alpha)`` then the binary ``Quant`` -- an elementwise chain in front of a
    quantizer, which the compiler absorbs into the threshold of the tensor it reads."""

    def __init__(self, channels: int, quant: nn.Module):
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(channels))
        self.quant = quant

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = [1, -1] + [1] * (x.dim() - 2)
        return self.quant(x - self.alpha.view(shape))


class RPReLU(nn.Module):
    """ReActNet's RPReLU: a shift, a PReLU with a learnable per-channel slope, and a shift.

    Forward, channel ``c``: ``t = x - gamma_c``;
    ``y = t + zeta_c`` if ``t > 0`` else ``beta_c * t + zeta_c``
    (``gamma = zeta = 0``, ``beta = 0.25`` at initialisation).
    Backward: ``dy/dx = 1[t > 0] + beta_c 1[t <= 0]``, ``dy/dgamma_c = -dy/dx``,
    ``dy/dbeta_c = t 1[t <= 0]``, ``dy/dzeta_c = 1``.

    Export: ``Sub(gamma)``, ``PRelu(beta)``, ``Add(zeta)``."""

    def __init__(self, channels: int, beta_init: float = 0.25):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(channels))
        self.beta = nn.Parameter(torch.full((channels,), float(beta_init)))
        self.zeta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = [1, -1] + [1] * (x.dim() - 2)
        t = x - self.gamma.view(shape)
        return F.prelu(t, self.beta) + self.zeta.view(shape)


class FPReLU(nn.Module):
    """FTBNN's fully parametric PReLU: a learnable per-channel slope on each side of zero.

    Forward, channel ``c``: ``y = a_c x`` if ``x > 0`` else ``b_c x``
    (``a = 1``, ``b = 0.25`` at initialisation, as a PReLU starts).
    Backward: ``dy/dx = a_c 1[x > 0] + b_c 1[x <= 0]``, ``dy/da_c = x 1[x > 0]``,
    ``dy/db_c = x 1[x <= 0]``.

    Either slope may become negative while training; then the function is not monotone and
    ``sign(FPReLU(y) - alpha)`` may be +1 on an interval only.  The compiler refuses such a
    channel where it absorbs the chain into thresholds (the error names the node and the
    channel); the fixed-point shortcut (which computes FPReLU itself) takes any slopes.
    ``train.fprelu_monotone: true`` keeps every channel foldable: after each optimizer step
    :meth:`clamp_monotone` sets ``a_c, b_c >= 0``.

    Export: ``Greater(x, 0)``, ``Mul(a)``, ``Mul(b)``, ``Where`` -- a small elementwise
    graph over one input, which the compiler evaluates as a whole."""

    def __init__(self, channels: int, pos_init: float = 1.0, neg_init: float = 0.25):
        super().__init__()
        self.pos = nn.Parameter(torch.full((channels,), float(pos_init)))
        self.neg = nn.Parameter(torch.full((channels,), float(neg_init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = [1, -1] + [1] * (x.dim() - 2)
        return torch.where(x > 0, x * self.pos.view(shape), x * self.neg.view(shape))

    @torch.no_grad()
    def clamp_monotone(self) -> None:
        """``a_c, b_c >= 0``: a non-decreasing function in every channel."""
        self.pos.clamp_(min=0.0)
        self.neg.clamp_(min=0.0)


def make_nonlin(kind: str, channels: int) -> nn.Module:
    """The block non-linearity a recipe asks for: ``rprelu``, ``fprelu`` or ``none``."""
    if kind == "rprelu":
        return RPReLU(channels)
    if kind == "fprelu":
        return FPReLU(channels)
    if kind == "none":
        return nn.Identity()
    raise RecipeError(f"unknown nonlin {kind!r} (rprelu, fprelu or none)")

"""The Brevitas networks the recipes describe, as module-level ``nn.Module`` classes.

=============  ============  ===========================================================
class          ``arch``      network
=============  ============  ===========================================================
``BinaryMLP``  ``fc``        FINN-style binary MLP (TFC / SFC / LFC) on binarized pixels
``BinaryCNN``  ``cnv``       FINN-CNV-style binary / low-bit CNN on 8-bit pixels
``ReActCNN``   ``reactnet``  ReActNet-style binary CNN with real-valued residual shortcuts
``DenseCNN``   ``densenet``  BinaryDenseNet: concatenations and low-bit 1x1 transitions
=============  ============  ===========================================================

Every network ends in the binary classifier and a scalar :class:`TensorNorm`, takes raw
integer pixels (0..255) and has ``input_shape`` (what :func:`hw_bnn.train.recipes.model_input_shape`
gives).  :func:`build_model` builds the one a recipe names.

Initialisation: the binary layers' latent weights start uniform in the sign's clipping range,
``w ~ U(-1, 1)``, drawn after the whole network is built, in module order (the module tree,
the attribute names and the construction order are part of the contract: with the same seed
they give the same state_dict).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear, QuantReLU
from torch import nn

from hw_bnn.errors import RecipeError
from hw_bnn.train.layers import RSign, link_kalman_norms, make_nonlin, make_norm
from hw_bnn.train.quantizers import BinaryAct, TransitionAct, TransitionWeight, act_quantizer, weight_quantizer
from hw_bnn.train.recipes import Recipe, conv_output_size, parse_conv_spec


@dataclass(frozen=True)
class Precision:
    """The quantizers of a network's layers (see :mod:`hw_bnn.train.quantizers`).

    ``weight_bits`` / ``act_bits``: 1 (binary) or 2 (ternary weights, 2-bit activations).
    ``first_weight_bits``: the CNN's first convolution, 0 (as ``weight_bits``) or 4, 8: signed
    fixed-point weights ``w_q = 2^-f * clip(round(w * 2^f), -2^(b-1), 2^(b-1) - 1)``, a
    power-of-two scale from the weights' range (Brevitas' ``Int8WeightPerTensorFixedPoint``).
    ``float_weights`` keeps full-precision weights (step 1 of the two-step recipe);
    ``float_acts`` replaces every activation quantizer by a hardtanh (a real-valued teacher of
    the same shape).  Only the default (both quantized) compiles to hardware."""

    weight_bits: int = 1
    act_bits: int = 1
    float_weights: bool = False
    float_acts: bool = False
    first_weight_bits: int = 0

    @property
    def weight_quant(self):
        """The weight quantizer of the binary / low-bit layers (None: real weights)."""
        return None if self.float_weights else weight_quantizer(self.weight_bits)

    def first_conv(self, c: int, out: int, k: int, stride: int, padding: int) -> QuantConv2d:
        """The CNN's first convolution (of the 8-bit pixels), with ``first_weight_bits``."""
        bits = self.first_weight_bits
        if self.float_weights or bits in (0, self.weight_bits):
            quant = {"weight_quant": self.weight_quant}
        elif bits in (1, 2):
            quant = {"weight_quant": weight_quantizer(bits)}
        else:
            quant = {"weight_quant": TransitionWeight, "weight_bit_width": bits}
        return QuantConv2d(c, out, k, stride=stride, padding=padding, bias=False, **quant)

    def act(self) -> nn.Module:
        """A new activation: the ``act_bits`` quantizer, or a hardtanh with ``float_acts``."""
        if self.float_acts:
            return nn.Hardtanh()
        return QuantIdentity(act_quant=act_quantizer(self.act_bits), return_quant_tensor=False)


class TensorNorm(nn.Module):
    """Scalar output norm: y = (x - mean) / sqrt(var + eps) * weight + bias, one mean and
    variance over the whole tensor.  In eval mode it is the scalar affine
    ``y = x * s + b`` with ``s = weight / sqrt(var + eps)``, ``b = bias - mean * s``,
    computed as one Mul then one Add (this is the network's documented output affine)."""

    def __init__(self, eps=1e-4, momentum=0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(1))
        self.bias = nn.Parameter(torch.zeros(1))
        self.register_buffer("running_mean", torch.zeros(1))
        self.register_buffer("running_var", torch.ones(1))

    def forward(self, x):
        if self.training:
            mean, var = x.mean(), x.var(unbiased=False)
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean.detach())
                self.running_var.mul_(1 - self.momentum).add_(self.momentum * var.detach())
            return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias
        s = self.weight / torch.sqrt(self.running_var + self.eps)
        b = self.bias - self.running_mean * s
        return x * s + b


def binary_head(features: int, hidden, num_classes: int, precision: Precision, norm: str):
    """``(head, classifier, out_norm)``: the flattened features' binary dense layers (each
    ``QuantLinear -> norm -> activation``), the binary classifier and the scalar output norm."""
    head = []
    for n in hidden:
        head += [
            QuantLinear(features, n, bias=False, weight_quant=precision.weight_quant),
            make_norm(norm, n, spatial=False),
            precision.act(),
        ]
        features = n
    return (
        nn.Sequential(*head),
        QuantLinear(features, num_classes, bias=False, weight_quant=precision.weight_quant),
        TensorNorm(),
    )


def check_feature_size(h: int, w: int, in_shape, where: str) -> None:
    """Raise :class:`RecipeError` when the conv stack leaves no pixel of the input."""
    if h < 1 or w < 1:
        raise RecipeError(f"{where}: the conv stack shrinks the {in_shape} input to nothing")


def init_binary_weights(net: nn.Module, keep=lambda m: True) -> None:
    """``w ~ U(-1, 1)`` for every QuantLinear / QuantConv2d that ``keep`` selects, in module order."""
    for m in net.modules():
        if isinstance(m, (QuantLinear, QuantConv2d)) and keep(m):
            nn.init.uniform_(m.weight, -1.0, 1.0)


class BinaryMLP(nn.Module):
    """FINN/Brevitas-style binary MLP (TFC/SFC/LFC): binarized 8-bit input, then per
    hidden layer a binary QuantLinear without bias, BatchNorm and a binary activation,
    then a binary QuantLinear and a scalar TensorNorm.

    Input: raw pixels ``p`` in 0..255, ``x = sign(p * 2/255 - 1)`` (the input quantizer, which
    the compiler absorbs into one threshold on the 8-bit pixel); layer ``l``:
    ``x_l = act(norm(W_l x_{l-1}))``; output ``TensorNorm(W_out x_L)``."""

    def __init__(
        self,
        in_features: int,
        hidden,
        num_classes: int,
        precision: Precision = Precision(),
        norm: str = "bn",
        in_dropout: float = 0.0,
        hidden_dropout: float = 0.0,
    ):
        super().__init__()
        self.in_features = in_features
        self.input_shape = (in_features,)
        self.input_quant = QuantIdentity(act_quant=BinaryAct, return_quant_tensor=False)
        self.in_dropout = nn.Dropout(in_dropout)
        layers = []
        prev = in_features
        for h in hidden:
            layers += [
                QuantLinear(prev, h, bias=False, weight_quant=precision.weight_quant),
                make_norm(norm, h, spatial=False),
                nn.Dropout(hidden_dropout),
                precision.act(),
            ]
            prev = h
        self.features = nn.Sequential(*layers)
        self.classifier = QuantLinear(prev, num_classes, bias=False, weight_quant=precision.weight_quant)
        self.out_norm = TensorNorm()
        init_binary_weights(self)

    def forward(self, x):
        x = x * (2.0 / 255.0) - 1.0  # pixels 0..255 -> [-1, 1]
        x = self.input_quant(x)
        x = self.in_dropout(x)
        x = self.features(x)
        return self.out_norm(self.classifier(x))


class BinaryCNN(nn.Module):
    """FINN-CNV-style binary / low-bit CNN on raw 8-bit pixels.

    Input: pixels 0..255 (NCHW), scaled by 1/256 (exact in float).  Per conv entry:
    a QuantConv2d without bias, BatchNorm2d and the activation quantizer,
    ``x_l = act(norm(W_l * x_{l-1}))``; an ``M`` entry max-pools the quantized activations.
    Then flatten, the hidden QuantLinear + BN + activation layers and a QuantLinear classifier
    with a scalar TensorNorm.

    Padding: the first convolution pads the pixels with 0 (pixel value 0).  With binary
    activations a zero has no +-1 code, so later convolutions pad with -1 (an explicit
    ``ConstantPad2d(pad, -1)``, in training and in hardware alike: bit 0 in the border).
    With 2-bit activations 0 is a level, so they pad with 0 (code 2)."""

    def __init__(
        self, in_shape, conv, hidden, num_classes: int, precision: Precision = Precision(), norm: str = "bn", where=None
    ):
        super().__init__()
        where = where or type(self).__name__
        self.input_shape = tuple(in_shape)
        c, h, w = in_shape
        layers = []
        first = True
        for entry in conv:
            spec = parse_conv_spec(entry, where)
            if spec[0] == "pool":
                _, k, st = spec
                layers.append(nn.MaxPool2d(k, st))
                h, w = conv_output_size(h, k, st), conv_output_size(w, k, st)
                continue
            _, out, k, st, pad = spec
            conv_pad = pad
            if pad and not first and precision.act_bits == 1:
                layers.append(nn.ConstantPad2d(pad, -1.0))
                conv_pad = 0
            conv_layer = (
                precision.first_conv(c, out, k, st, conv_pad)
                if first
                else QuantConv2d(
                    c, out, k, stride=st, padding=conv_pad, bias=False, weight_quant=precision.weight_quant
                )
            )
            layers += [
                conv_layer,
                make_norm(norm, out, spatial=True),
                precision.act(),
            ]
            c, h, w = out, conv_output_size(h, k, st, pad), conv_output_size(w, k, st, pad)
            first = False
        check_feature_size(h, w, in_shape, where)
        self.features = nn.Sequential(*layers)
        self.head, self.classifier, self.out_norm = binary_head(c * h * w, hidden, num_classes, precision, norm)
        init_binary_weights(self)

    def forward(self, x):
        x = x * (1.0 / 256.0)  # a power of two: the first convolution's sums stay exact
        x = self.features(x)
        x = self.head(torch.flatten(x, 1))
        return self.out_norm(self.classifier(x))


class ReActCNN(nn.Module):
    """A small ReActNet-style binary CNN with real-valued (in hardware: fixed-point) shortcuts.

    The ``conv`` list: the first entry is the stem, a binary-weight convolution of the
    8-bit pixels (scaled by 1/256) and BatchNorm, giving the real tensor ``y``.  Then:

    * ``[out, k, stride, pad]``, a transition: ``x = act(y)``, ``b = RSign(x)``,
      ``y = BN(conv(b))`` (binary conv, -1 padding);
    * ``R``, a residual block (3x3, pad 1, same channels): ``x = act(y)``,
      ``b = RSign(x)``, ``y = BN(conv(b)) + x``;
    * ``M``, max pooling of ``y``.

    ``act`` is the block non-linearity (``nonlin``: RPReLU, FPReLU or none), one per block,
    applied where the block reads ``y`` (ReActNet applies it at the end of the previous
    block: the same function, reparametrised so that every real tensor the hardware
    stores is a block output ``y``).  Head: ``act``, RSign, flatten, the binary ``hidden``
    layers and the binary classifier with a scalar TensorNorm."""

    def __init__(
        self,
        in_shape,
        conv,
        hidden,
        num_classes: int,
        precision: Precision = Precision(),
        norm: str = "bn",
        nonlin: str = "none",
        where=None,
    ):
        super().__init__()
        where = where or type(self).__name__
        self.input_shape = tuple(in_shape)
        c, h, w = in_shape
        self.blocks = nn.ModuleList()
        for i, entry in enumerate(conv):
            spec = parse_conv_spec(entry, where)
            if spec[0] == "pool":
                _, k, st = spec
                self.blocks.append(nn.MaxPool2d(k, st))
                h, w = conv_output_size(h, k, st), conv_output_size(w, k, st)
                continue
            out, k, st, pad = (c, 3, 1, 1) if spec[0] == "res" else spec[1:]
            self.blocks.append(self._block(c, out, k, st, pad, spec[0] == "res", i == 0, precision, norm, nonlin))
            c, h, w = out, conv_output_size(h, k, st, pad), conv_output_size(w, k, st, pad)
        check_feature_size(h, w, in_shape, where)
        self.head_act = make_nonlin(nonlin, c)
        self.head_sign = RSign(c, precision.act())
        self.head, self.classifier, self.out_norm = binary_head(c * h * w, hidden, num_classes, precision, norm)
        init_binary_weights(self)

    @staticmethod
    def _block(c, out, k, st, pad, residual, stem, precision, norm, nonlin) -> nn.Module:
        """One block: ``act``, ``sign``, ``pad``, ``conv``, ``norm`` (the stem: the conv of the
        pixels with zero padding, no activation or sign)."""
        blk = nn.Module()
        blk.residual = residual
        if stem:
            blk.act, blk.sign, blk.pad = nn.Identity(), nn.Identity(), nn.Identity()
            blk.conv = precision.first_conv(c, out, k, st, pad)
        else:
            blk.act = make_nonlin(nonlin, c)
            blk.sign = RSign(c, precision.act())
            blk.pad = nn.ConstantPad2d(pad, -1.0) if pad else nn.Identity()
            blk.conv = QuantConv2d(c, out, k, stride=st, padding=0, bias=False, weight_quant=precision.weight_quant)
        blk.norm = make_norm(norm, out, spatial=True)
        return blk

    def forward(self, x):
        y = x * (1.0 / 256.0)
        for blk in self.blocks:
            if isinstance(blk, nn.MaxPool2d):
                y = blk(y)
                continue
            xr = blk.act(y)
            out = blk.norm(blk.conv(blk.pad(blk.sign(xr))))
            y = out + xr if blk.residual else out
        b = self.head_sign(self.head_act(y))
        return self.out_norm(self.classifier(self.head(torch.flatten(b, 1))))


class DenseCNN(nn.Module):
    """BinaryDenseNet (Bethge et al. 2018), small, trained from scratch without scaling factors.

    ``conv`` list: the stem ``[out, k, stride, pad]`` (binary-weight convolution of the
    8-bit pixels scaled by 1/256, no normalization: the dense layers normalize what they
    read), then

    * ``D<k>``, a dense layer: ``BN -> sign -> binary 3x3 conv (k channels, -1 padding)``,
      its output concatenated to its input (``C -> C + k`` channels):
      ``y = concat(y, conv(sign(BN(y))))``;
    * ``T<c>``, a transition: ``BN -> ReLU -> unsigned fixed-point quantizer
      (transition_act_bits) -> 2x2 max pooling -> 1x1 conv with transition_bits-bit
      weights (power-of-two scale) to c channels``.  ReLU comes before the pooling (the
      paper pools first): the quantized codes are what the hardware pools, and with a
      non-negative BatchNorm scale the two orders give the same values;
    * ``M``: max pooling of the features (before a transition it would pool accumulators).

    Head: BN, sign, flatten, the binary ``hidden`` layers and the binary classifier with a
    scalar TensorNorm.  In hardware a concatenation is a stream merge; the transition is an
    integer matrix-vector unit."""

    def __init__(
        self,
        in_shape,
        conv,
        hidden,
        num_classes: int,
        precision: Precision = Precision(),
        norm: str = "bn",
        transition_bits: int = 8,
        transition_act_bits: int = 4,
        where=None,
    ):
        super().__init__()
        where = where or type(self).__name__
        self.input_shape = tuple(in_shape)
        c, h, w = in_shape
        self.blocks = nn.ModuleList()
        for i, entry in enumerate(conv):
            spec = parse_conv_spec(entry, where)
            blk = nn.Module()
            blk.kind = spec[0]
            if spec[0] == "pool":
                _, k, st = spec
                blk.pool = nn.MaxPool2d(k, st)
                h, w = conv_output_size(h, k, st), conv_output_size(w, k, st)
            elif i == 0 and spec[0] == "conv":
                _, out, k, st, pad = spec
                blk.conv = precision.first_conv(c, out, k, st, pad)
                c, h, w = out, conv_output_size(h, k, st, pad), conv_output_size(w, k, st, pad)
            elif spec[0] == "dense":
                self._dense_layer(blk, c, spec[1], precision, norm)
                c += spec[1]
            elif spec[0] == "trans":
                self._transition(blk, c, spec[1], precision, norm, transition_bits, transition_act_bits)
                c, h, w = spec[1], h // 2, w // 2
            else:
                raise RecipeError(f"{where}: conv entry {entry!r} is not a densenet entry (stem, D<k>, T<c>, M)")
            self.blocks.append(blk)
        check_feature_size(h, w, in_shape, where)
        self.head_norm = make_norm(norm, c, spatial=True)
        self.head_sign = precision.act()
        self.head, self.classifier, self.out_norm = binary_head(c * h * w, hidden, num_classes, precision, norm)
        # binary layers start uniform in the sign's clipping range; the 1x1 transitions keep theirs
        init_binary_weights(self, keep=lambda m: isinstance(m, QuantLinear) or m.kernel_size != (1, 1))

    @staticmethod
    def _dense_layer(blk, c, growth, precision, norm) -> None:
        """``norm``, ``sign``, ``pad`` (-1; 0 for a real-valued teacher), ``conv`` (3x3 to ``growth``)."""
        blk.norm = make_norm(norm, c, spatial=True)
        blk.sign = precision.act()
        blk.pad = nn.ConstantPad2d(1, 0.0 if precision.float_acts else -1.0)
        blk.conv = QuantConv2d(c, growth, 3, padding=0, bias=False, weight_quant=precision.weight_quant)

    @staticmethod
    def _transition(blk, c, out, precision, norm, transition_bits, transition_act_bits) -> None:
        """``norm``, ``relu`` (quantized to ``transition_act_bits``), ``pool`` (2x2), ``conv`` (1x1
        with ``transition_bits``-bit weights)."""
        blk.norm = make_norm(norm, c, spatial=True)
        if precision.float_acts:
            blk.relu = nn.ReLU()
        else:
            blk.relu = QuantReLU(act_quant=TransitionAct, bit_width=transition_act_bits, return_quant_tensor=False)
        blk.pool = nn.MaxPool2d(2, 2)
        if precision.float_weights:
            blk.conv = QuantConv2d(c, out, 1, bias=False, weight_quant=None)
        else:
            blk.conv = QuantConv2d(
                c, out, 1, bias=False, weight_quant=TransitionWeight, weight_bit_width=transition_bits
            )

    def forward(self, x):
        y = x * (1.0 / 256.0)
        for blk in self.blocks:
            if blk.kind == "pool":
                y = blk.pool(y)
            elif blk.kind == "conv":
                y = blk.conv(y)
            elif blk.kind == "dense":
                y = torch.cat([y, blk.conv(blk.pad(blk.sign(blk.norm(y))))], dim=1)
            else:
                y = blk.conv(blk.pool(blk.relu(blk.norm(y))))
        b = self.head_sign(self.head_norm(y))
        return self.out_norm(self.classifier(self.head(torch.flatten(b, 1))))


def build_model(recipe: Recipe, input_shape, weights: str = "quant", acts: str = "quant") -> nn.Module:
    """The Brevitas network a recipe describes; ``input_shape`` is
    :func:`~hw_bnn.train.recipes.model_input_shape` (an int is taken as the flat MLP input size).

    ``weights="float"`` keeps full-precision weights (step 1 of the two-step recipe);
    ``acts="float"`` replaces every activation quantizer by a hardtanh (a real-valued teacher
    of the same shape).  Only the default (both quantized) compiles to hardware."""
    if weights not in ("quant", "float") or acts not in ("quant", "float"):
        raise ValueError(f"weights and acts are 'quant' or 'float' (got {weights!r}, {acts!r})")
    if isinstance(input_shape, int):
        input_shape = (input_shape,)
    precision = Precision(
        recipe.weight_bits, recipe.act_bits, weights == "float", acts == "float", recipe.first_weight_bits
    )
    where = f"recipe {recipe.name}"
    args = (tuple(input_shape), recipe.conv, recipe.hidden, recipe.num_classes, precision, recipe.norm)
    if recipe.arch == "densenet":
        net = DenseCNN(*args, recipe.transition_bits, recipe.transition_act_bits, where=where)
    elif recipe.arch == "reactnet":
        net = ReActCNN(*args, recipe.nonlin, where=where)
    elif recipe.arch == "cnv":
        net = BinaryCNN(*args, where=where)
    else:
        t = recipe.train
        net = BinaryMLP(
            int(input_shape[0]),
            recipe.hidden,
            recipe.num_classes,
            precision,
            recipe.norm,
            t["in_dropout"],
            t["hidden_dropout"],
        )
    link_kalman_norms(net)
    return net

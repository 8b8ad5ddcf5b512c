"""Model recipes (``models/*.yaml``) and the Brevitas networks they describe.

A recipe names the architecture, the bit widths, the dataset and the training settings::

    name: tfc-w1a1
    arch: fc                 # fc: MLP on a binarized input; cnv: CNN on 8-bit pixels
    hidden: [64, 64, 64]     # hidden fully connected layers (the CNN's head)
    conv: []                 # cnv only: [out_channels, kernel, stride, pad] or "M" / "M<k>s<s>"
    weight_bits: 1           # 1: +-1 (binary); 2: {-1, 0, 1} (ternary, narrow 2-bit)
    act_bits: 1              # 1: +-1 (sign); 2: {-1, -0.5, 0, 0.5} (signed 2-bit, scale 1/2)
    input_bits: 1            # fc: 1 (binarized pixels); cnv: 8 (the integer pixel is the input)
    dataset: mnist5k
    train: {epochs: 20, batch_size: 100, lr: 0.01, seed: 0, ...}

Every scale is a power of two (weights 1, 2-bit activations 1/2, CNN input 1/256), so the
exported float graph computes its integer sums without rounding and the compiled integer
graph can be exactly equal to it.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hw_bnn.errors import HwBnnError
from hw_bnn.resources import recipes_dir

TRAIN_DEFAULTS = {
    "epochs": 20,
    "batch_size": 100,
    "lr": 0.01,
    "lr_schedule": "cosine",  # cosine | linear | constant
    "weight_decay": 0.0,
    "seed": 0,
    "val_fraction": 0.1,
    "in_dropout": 0.0,
    "hidden_dropout": 0.0,
    # the AdamBNN recipe (Liu et al. 2021); see hw_bnn.train.trainer
    "optimizer": "adam",  # adam | sgd (momentum 0.9)
    "two_step": False,  # step 1: real weights, binary activations; step 2: binary weights too
    "step1_epochs": 0,  # epochs of step 1 (two_step only; 0: the same as epochs)
    "step1_weight_decay": 5e-6,  # weight decay of step 1 (step 2 uses weight_decay, normally 0)
    "teacher": "none",  # none | float: distribution loss from a real-valued teacher of the same shape
    "teacher_epochs": 0,  # epochs of the teacher's own training (0: the same as epochs)
    "kd_weight": 1.0,  # loss = kd_weight * KL(teacher || student) + (1 - kd_weight) * cross-entropy
}


@dataclass
class Recipe:
    name: str
    arch: str
    hidden: list[int]
    weight_bits: int = 1
    act_bits: int = 1
    input_bits: int = 1
    dataset: str = "mnist5k"
    num_classes: int = 10
    train: dict = field(default_factory=dict)
    source: str = ""
    conv: list = field(default_factory=list)
    # measured results, for `hw-bnn zoo` (not a training setting: not part of to_dict)
    recorded: dict = field(default_factory=dict)
    norm: str = "bn"  # bn | bkn (Batch Kalman Norm) | gn (GroupNorm, training only)
    nonlin: str = "none"  # reactnet only: rprelu | fprelu | none (the block non-linearity)
    transition_bits: int = 8  # densenet only: weight bits of the 1x1 transition convolutions
    transition_act_bits: int = 4  # densenet only: bits of the ReLU activations into them

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "arch": self.arch,
            "hidden": list(self.hidden),
            "conv": copy.deepcopy(self.conv),
            **({"norm": self.norm} if self.norm != "bn" else {}),
            **({"nonlin": self.nonlin} if self.nonlin != "none" else {}),
            **(
                {"transition_bits": self.transition_bits, "transition_act_bits": self.transition_act_bits}
                if self.arch == "densenet"
                else {}
            ),
            "weight_bits": self.weight_bits,
            "act_bits": self.act_bits,
            "input_bits": self.input_bits,
            "dataset": self.dataset,
            "num_classes": self.num_classes,
            "train": dict(self.train),
        }


def available_models() -> list[str]:
    return sorted(p.stem for p in recipes_dir().glob("*.yaml"))


def load_recipe(name_or_path: str) -> Recipe:
    """A recipe by name (``tfc-w1a1``) from ``models/``, or by path to a YAML file."""
    path = Path(name_or_path)
    if not path.suffix:
        path = recipes_dir() / f"{name_or_path}.yaml"
        if not path.exists():
            raise HwBnnError(
                f"unknown model {name_or_path!r}; available: {', '.join(available_models())} "
                f"(or give a path to a recipe .yaml)"
            )
    if not path.exists():
        raise HwBnnError(f"{path}: recipe file does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise HwBnnError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(raw, dict):
        raise HwBnnError(f"{path}: expected a mapping of recipe fields")
    for key in ("name", "arch", "hidden"):
        if key not in raw:
            raise HwBnnError(f"{path}: recipe misses the field {key!r}")
    train = copy.deepcopy(TRAIN_DEFAULTS)
    unknown = set(raw.get("train") or {}) - set(TRAIN_DEFAULTS)
    if unknown:
        raise HwBnnError(f"{path}: unknown train settings {sorted(unknown)}; known: {sorted(TRAIN_DEFAULTS)}")
    train.update(raw.get("train") or {})
    r = Recipe(
        name=str(raw["name"]),
        arch=str(raw["arch"]),
        hidden=[int(h) for h in raw["hidden"]],
        weight_bits=int(raw.get("weight_bits", 1)),
        act_bits=int(raw.get("act_bits", 1)),
        input_bits=int(raw.get("input_bits", 1)),
        dataset=str(raw.get("dataset", "mnist5k")),
        num_classes=int(raw.get("num_classes", 10)),
        train=train,
        source=str(path),
        conv=list(raw.get("conv") or []),
        recorded=dict(raw.get("recorded") or {}),
        norm=str(raw.get("norm", "bn")),
        nonlin=str(raw.get("nonlin", "none")),
        transition_bits=int(raw.get("transition_bits", 8)),
        transition_act_bits=int(raw.get("transition_act_bits", 4)),
    )
    check_recipe(r, path)
    return r


def parse_conv_spec(entry, where="recipe"):
    """One ``conv`` entry -> ``("conv", out, kernel, stride, pad)``, ``("pool", kernel, stride)``
    or (``reactnet`` only) ``("res",)`` for ``R``, a residual block, or (``densenet`` only)
    ``("dense", k)`` for ``D<k>`` (a dense layer of growth rate k) and ``("trans", c)`` for
    ``T<c>`` (a transition to c channels)."""
    if entry == "R":
        return ("res",)
    if isinstance(entry, str) and re.fullmatch(r"[DT]\d+", entry.strip()):
        n = int(entry.strip()[1:])
        if n < 1:
            raise HwBnnError(f"{where}: {entry!r} needs a positive number")
        return ("dense" if entry.strip()[0] == "D" else "trans", n)
    if isinstance(entry, str):
        m = re.fullmatch(r"M(?:(\d+)s(\d+))?", entry.strip())
        if not m:
            raise HwBnnError(f"{where}: conv entry {entry!r} must be 'M' (max pool 2x2) or 'M<k>s<s>'")
        k, st = (int(m.group(1)), int(m.group(2))) if m.group(1) else (2, 2)
        if k < 1 or st < 1:
            raise HwBnnError(f"{where}: pool {entry!r} needs kernel and stride >= 1")
        return ("pool", k, st)
    if not isinstance(entry, (list, tuple)) or len(entry) != 4 or not all(isinstance(v, int) for v in entry):
        raise HwBnnError(f"{where}: conv entry {entry!r} must be [out_channels, kernel, stride, pad]")
    out, k, st, pad = entry
    if out < 1 or k not in (1, 3) or st not in (1, 2) or not 0 <= pad < k:
        raise HwBnnError(
            f"{where}: conv entry {entry!r}: need out_channels >= 1, kernel 1 or 3, stride 1 or 2 and 0 <= pad < kernel"
        )
    return ("conv", out, k, st, pad)


def check_recipe(r: Recipe, path="recipe") -> None:
    if r.norm not in ("bn", "bkn", "gn"):
        raise HwBnnError(f"{path}: norm {r.norm!r} is not supported (bn, bkn or gn)")
    if r.arch not in ("fc", "cnv", "reactnet", "densenet"):
        raise HwBnnError(f"{path}: arch {r.arch!r} is not supported (supported: fc, cnv, reactnet, densenet)")
    if r.nonlin not in ("none", "rprelu", "fprelu") or (r.nonlin != "none" and r.arch != "reactnet"):
        raise HwBnnError(f"{path}: nonlin {r.nonlin!r}: rprelu, fprelu or none, and only with arch reactnet")
    if r.weight_bits not in (1, 2) or r.act_bits not in (1, 2):
        raise HwBnnError(
            f"{path}: weight_bits and act_bits must be 1 or 2 (got weight_bits={r.weight_bits}, act_bits={r.act_bits})"
        )
    if r.arch == "fc":
        if r.input_bits != 1 or r.conv:
            raise HwBnnError(f"{path}: arch fc takes a binarized input (input_bits: 1) and no conv layers")
    else:
        if r.input_bits != 8:
            raise HwBnnError(
                f"{path}: arch cnv convolves the 8-bit pixels directly (input_bits: 8), got {r.input_bits}"
            )
        specs = [parse_conv_spec(e, str(path)) for e in r.conv]
        if not specs or specs[0][0] != "conv":
            raise HwBnnError(f"{path}: arch {r.arch} needs a conv list that starts with a convolution")
        if r.arch != "reactnet" and any(s[0] == "res" for s in specs):
            raise HwBnnError(f"{path}: residual blocks (R) need arch reactnet")
        if r.arch != "densenet" and any(s[0] in ("dense", "trans") for s in specs):
            raise HwBnnError(f"{path}: dense layers (D<k>) and transitions (T<c>) need arch densenet")
        if r.arch == "densenet":
            if (r.weight_bits, r.act_bits) != (1, 1):
                raise HwBnnError(f"{path}: arch densenet is binary (weight_bits: 1, act_bits: 1)")
            if not 2 <= r.transition_bits <= 8 or not 2 <= r.transition_act_bits <= 8:
                raise HwBnnError(f"{path}: transition_bits and transition_act_bits must be 2..8")
        if r.arch == "reactnet" and (r.weight_bits, r.act_bits) != (1, 1):
            raise HwBnnError(f"{path}: arch reactnet is binary (weight_bits: 1, act_bits: 1)")


def model_input_shape(recipe: Recipe, image_shape) -> tuple[int, ...]:
    """What the network takes: flat pixels for MLPs, (C, H, W) images for CNNs."""
    c, h, w = (int(v) for v in image_shape)
    return (c * h * w,) if recipe.arch == "fc" else (c, h, w)


# --------------------------------------------------------------------------------------
# Brevitas networks (torch and brevitas are imported lazily: the golden model and the
# compiler's NumPy parts must not depend on them).


def build_model(recipe: Recipe, input_shape, weights: str = "quant", acts: str = "quant"):
    """The Brevitas network a recipe describes; ``input_shape`` is :func:`model_input_shape`
    (an int is taken as the flat MLP input size).

    ``weights="float"`` keeps full-precision weights (step 1 of the two-step recipe);
    ``acts="float"`` replaces every activation quantizer by a hardtanh (a real-valued teacher
    of the same shape).  Only the default (both quantized) compiles to hardware."""
    if weights not in ("quant", "float") or acts not in ("quant", "float"):
        raise ValueError(f"weights and acts are 'quant' or 'float' (got {weights!r}, {acts!r})")
    from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear
    from brevitas.quant.base import IntQuant, NarrowIntQuant, PerTensorConstScaling2bit
    from brevitas.quant.binary import (
        SignedBinaryActPerTensorConst,
        SignedBinaryWeightPerTensorConst,
    )
    from brevitas.quant.solver import ActQuantSolver, WeightQuantSolver
    from torch import nn

    from hw_bnn.train.layers import RSign, link_kalman_norms, make_nonlin, make_norm

    if isinstance(input_shape, int):
        input_shape = (input_shape,)

    class BinaryWeightUnitScale(SignedBinaryWeightPerTensorConst):
        """sign(w) with a constant scale of 1: weights are exactly +-1 (clipped to [-1, 1])."""

        scaling_const = 1.0

    class BinaryAct(SignedBinaryActPerTensorConst):
        """sign(x) (x >= 0 gives +1) with a constant scale of 1, straight-through gradient."""

    class TernaryWeightUnitScale(NarrowIntQuant, PerTensorConstScaling2bit, WeightQuantSolver):
        """Narrow signed 2-bit weights: round(clip(w, -1, 1)) in {-1, 0, 1}, scale 1
        (straight-through gradient)."""

        scaling_const = 1.0

    class TwoBitAct(IntQuant, PerTensorConstScaling2bit, ActQuantSolver):
        """Signed 2-bit activations: s * clip(round(x / s), -2, 1) with s = 1/2, i.e. the
        levels {-1, -0.5, 0, 0.5} (straight-through gradient inside the clipping range)."""

        scaling_const = 1.0
        min_val = -1.0
        max_val = 1.0

    weight_quant = BinaryWeightUnitScale if recipe.weight_bits == 1 else TernaryWeightUnitScale
    if weights == "float":
        weight_quant = None
    act_quant = BinaryAct if recipe.act_bits == 1 else TwoBitAct

    def act():
        if acts == "float":
            return nn.Hardtanh()
        return QuantIdentity(act_quant=act_quant, return_quant_tensor=False)

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

    import torch

    def binary_head(features, hidden, num_classes):
        """The flattened features' binary dense layers (+ norm + activation), the binary
        classifier and the scalar output norm."""
        head = []
        for n in hidden:
            head += [
                QuantLinear(features, n, bias=False, weight_quant=weight_quant),
                make_norm(recipe.norm, n, spatial=False),
                act(),
            ]
            features = n
        return (
            nn.Sequential(*head),
            QuantLinear(features, num_classes, bias=False, weight_quant=weight_quant),
            TensorNorm(),
        )

    def _check_size(h, w, in_shape):
        if h < 1 or w < 1:
            raise HwBnnError(f"recipe {recipe.name}: the conv stack shrinks the {in_shape} input to nothing")

    class BinaryFC(nn.Module):
        """FINN/Brevitas-style binary MLP (TFC/SFC/LFC): binarized 8-bit input, then per
        hidden layer a binary QuantLinear without bias, BatchNorm and a binary activation,
        then a binary QuantLinear and a scalar TensorNorm.  Input: raw pixels 0..255."""

        def __init__(self, in_features, hidden, num_classes, in_dropout, hidden_dropout):
            super().__init__()
            self.in_features = in_features
            self.input_shape = (in_features,)
            self.input_quant = QuantIdentity(act_quant=BinaryAct, return_quant_tensor=False)
            self.in_dropout = nn.Dropout(in_dropout)
            layers = []
            prev = in_features
            for h in hidden:
                layers += [
                    QuantLinear(prev, h, bias=False, weight_quant=weight_quant),
                    make_norm(recipe.norm, h, spatial=False),
                    nn.Dropout(hidden_dropout),
                    act(),
                ]
                prev = h
            self.features = nn.Sequential(*layers)
            self.classifier = QuantLinear(prev, num_classes, bias=False, weight_quant=weight_quant)
            self.out_norm = TensorNorm()
            for m in self.modules():
                if isinstance(m, QuantLinear):
                    nn.init.uniform_(m.weight, -1.0, 1.0)

        def forward(self, x):
            x = x * (2.0 / 255.0) - 1.0  # pixels 0..255 -> [-1, 1]
            x = self.input_quant(x)
            x = self.in_dropout(x)
            x = self.features(x)
            return self.out_norm(self.classifier(x))

    class BinaryCNV(nn.Module):
        """FINN-CNV-style binary / low-bit CNN on raw 8-bit pixels.

        Input: pixels 0..255 (NCHW), scaled by 1/256 (exact in float).  Per conv entry:
        a QuantConv2d without bias, BatchNorm2d and the activation quantizer; an ``M`` entry
        max-pools the quantized activations.  Then flatten, the hidden QuantLinear + BN +
        activation layers and a QuantLinear classifier with a scalar TensorNorm.

        Padding: the first convolution pads the pixels with 0 (pixel value 0).  With binary
        activations a zero has no +-1 code, so later convolutions pad with -1 (an explicit
        ``ConstantPad2d(pad, -1)``, in training and in hardware alike: bit 0 in the border).
        With 2-bit activations 0 is a level, so they pad with 0 (code 2)."""

        def __init__(self, in_shape, conv, hidden, num_classes):
            super().__init__()
            self.input_shape = tuple(in_shape)
            c, h, w = in_shape
            layers = []
            first = True
            for entry in conv:
                spec = parse_conv_spec(entry)
                if spec[0] == "pool":
                    _, k, st = spec
                    layers.append(nn.MaxPool2d(k, st))
                    h, w = (h - k) // st + 1, (w - k) // st + 1
                    continue
                _, out, k, st, pad = spec
                conv_pad = pad
                if pad and not first and recipe.act_bits == 1:
                    layers.append(nn.ConstantPad2d(pad, -1.0))
                    conv_pad = 0
                layers += [
                    QuantConv2d(c, out, k, stride=st, padding=conv_pad, bias=False, weight_quant=weight_quant),
                    make_norm(recipe.norm, out, spatial=True),
                    act(),
                ]
                c, h, w = out, (h + 2 * pad - k) // st + 1, (w + 2 * pad - k) // st + 1
                first = False
            _check_size(h, w, in_shape)
            self.features = nn.Sequential(*layers)
            self.head, self.classifier, self.out_norm = binary_head(c * h * w, hidden, num_classes)
            for m in self.modules():
                if isinstance(m, (QuantLinear, QuantConv2d)):
                    nn.init.uniform_(m.weight, -1.0, 1.0)

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

        def __init__(self, in_shape, conv, hidden, num_classes):
            super().__init__()
            self.input_shape = tuple(in_shape)
            c, h, w = in_shape
            self.blocks = nn.ModuleList()
            for i, entry in enumerate(conv):
                spec = parse_conv_spec(entry)
                if spec[0] == "pool":
                    _, k, st = spec
                    self.blocks.append(nn.MaxPool2d(k, st))
                    h, w = (h - k) // st + 1, (w - k) // st + 1
                    continue
                if spec[0] == "res":
                    out, k, st, pad = c, 3, 1, 1
                else:
                    _, out, k, st, pad = spec
                blk = nn.Module()
                blk.residual = spec[0] == "res"
                if i == 0:
                    blk.act, blk.sign, blk.pad = nn.Identity(), nn.Identity(), nn.Identity()
                    blk.conv = QuantConv2d(c, out, k, stride=st, padding=pad, bias=False, weight_quant=weight_quant)
                else:
                    blk.act = make_nonlin(recipe.nonlin, c)
                    blk.sign = RSign(c, act()) if acts == "quant" else RSign(c, nn.Hardtanh())
                    blk.pad = nn.ConstantPad2d(pad, -1.0) if pad else nn.Identity()
                    blk.conv = QuantConv2d(c, out, k, stride=st, padding=0, bias=False, weight_quant=weight_quant)
                blk.norm = make_norm(recipe.norm, out, spatial=True)
                self.blocks.append(blk)
                c, h, w = out, (h + 2 * pad - k) // st + 1, (w + 2 * pad - k) // st + 1
            _check_size(h, w, in_shape)
            self.head_act = make_nonlin(recipe.nonlin, c)
            self.head_sign = RSign(c, act()) if acts == "quant" else RSign(c, nn.Hardtanh())
            self.head, self.classifier, self.out_norm = binary_head(c * h * w, hidden, num_classes)
            for m in self.modules():
                if isinstance(m, (QuantLinear, QuantConv2d)):
                    nn.init.uniform_(m.weight, -1.0, 1.0)

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
          its output concatenated to its input (``C -> C + k`` channels);
        * ``T<c>``, a transition: ``BN -> ReLU -> unsigned fixed-point quantizer
          (transition_act_bits) -> 2x2 max pooling -> 1x1 conv with transition_bits-bit
          weights (power-of-two scale) to c channels``.  ReLU comes before the pooling (the
          paper pools first): the quantized codes are what the hardware pools, and with a
          non-negative BatchNorm scale the two orders give the same values;
        * ``M``: max pooling of the features (before a transition it would pool accumulators).

        Head: BN, sign, flatten, the binary ``hidden`` layers and the binary classifier with a
        scalar TensorNorm.  In hardware a concatenation is a stream merge; the transition is an
        integer matrix-vector unit."""

        def __init__(self, in_shape, conv, hidden, num_classes):
            super().__init__()
            from brevitas.nn import QuantReLU
            from brevitas.quant.fixed_point import Int8WeightPerTensorFixedPoint, Uint8ActPerTensorFixedPoint

            self.input_shape = tuple(in_shape)
            c, h, w = in_shape
            self.blocks = nn.ModuleList()
            for i, entry in enumerate(conv):
                spec = parse_conv_spec(entry)
                blk = nn.Module()
                blk.kind = spec[0]
                if spec[0] == "pool":
                    _, k, st = spec
                    blk.pool = nn.MaxPool2d(k, st)
                    h, w = (h - k) // st + 1, (w - k) // st + 1
                elif i == 0 and spec[0] == "conv":
                    _, out, k, st, pad = spec
                    blk.conv = QuantConv2d(c, out, k, stride=st, padding=pad, bias=False, weight_quant=weight_quant)
                    c, h, w = out, (h + 2 * pad - k) // st + 1, (w + 2 * pad - k) // st + 1
                elif spec[0] == "dense":
                    blk.norm = make_norm(recipe.norm, c, spatial=True)
                    blk.sign = act()
                    blk.pad = nn.ConstantPad2d(1, -1.0 if acts == "quant" else 0.0)
                    blk.conv = QuantConv2d(c, spec[1], 3, padding=0, bias=False, weight_quant=weight_quant)
                    c += spec[1]
                elif spec[0] == "trans":
                    blk.norm = make_norm(recipe.norm, c, spatial=True)
                    if acts == "quant":
                        blk.relu = QuantReLU(
                            act_quant=Uint8ActPerTensorFixedPoint,
                            bit_width=recipe.transition_act_bits,
                            return_quant_tensor=False,
                        )
                    else:
                        blk.relu = nn.ReLU()
                    blk.pool = nn.MaxPool2d(2, 2)
                    tq = None if weights == "float" else Int8WeightPerTensorFixedPoint
                    kw = {} if tq is None else {"weight_bit_width": recipe.transition_bits}
                    blk.conv = QuantConv2d(c, spec[1], 1, bias=False, weight_quant=tq, **kw)
                    c, h, w = spec[1], h // 2, w // 2
                else:
                    raise HwBnnError(
                        f"recipe {recipe.name}: conv entry {entry!r} is not a densenet entry (stem, D<k>, T<c>, M)"
                    )
                self.blocks.append(blk)
            _check_size(h, w, in_shape)
            self.head_norm = make_norm(recipe.norm, c, spatial=True)
            self.head_sign = act()
            self.head, self.classifier, self.out_norm = binary_head(c * h * w, hidden, num_classes)
            for m in self.modules():  # binary layers start uniform in the sign's clipping range
                if isinstance(m, QuantLinear) or (isinstance(m, QuantConv2d) and m.kernel_size != (1, 1)):
                    nn.init.uniform_(m.weight, -1.0, 1.0)

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

    t = recipe.train
    if recipe.arch == "densenet":
        net = DenseCNN(tuple(input_shape), recipe.conv, recipe.hidden, recipe.num_classes)
    elif recipe.arch == "reactnet":
        net = ReActCNN(tuple(input_shape), recipe.conv, recipe.hidden, recipe.num_classes)
    elif recipe.arch == "cnv":
        net = BinaryCNV(tuple(input_shape), recipe.conv, recipe.hidden, recipe.num_classes)
    else:
        net = BinaryFC(int(input_shape[0]), recipe.hidden, recipe.num_classes, t["in_dropout"], t["hidden_dropout"])
    link_kalman_norms(net)
    return net

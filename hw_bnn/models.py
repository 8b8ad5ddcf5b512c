"""Model recipes (``models/*.yaml``) and the Brevitas networks they describe.

A recipe names the architecture, the bit widths, the dataset and the training settings::

    name: tfc-w1a1
    arch: fc
    hidden: [64, 64, 64]
    weight_bits: 1
    act_bits: 1
    input_bits: 1
    dataset: mnist5k
    train: {epochs: 20, batch_size: 100, lr: 0.01, seed: 0, ...}
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hw_bnn.errors import HwBnnError

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"

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

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "arch": self.arch,
            "hidden": list(self.hidden),
            "weight_bits": self.weight_bits,
            "act_bits": self.act_bits,
            "input_bits": self.input_bits,
            "dataset": self.dataset,
            "num_classes": self.num_classes,
            "train": dict(self.train),
        }


def available_models() -> list[str]:
    return sorted(p.stem for p in MODELS_DIR.glob("*.yaml"))


def load_recipe(name_or_path: str) -> Recipe:
    """A recipe by name (``tfc-w1a1``) from ``models/``, or by path to a YAML file."""
    path = Path(name_or_path)
    if not path.suffix:
        path = MODELS_DIR / f"{name_or_path}.yaml"
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
    )
    if r.arch != "fc":
        raise HwBnnError(f"{path}: arch {r.arch!r} is not supported yet (supported: fc)")
    if (r.weight_bits, r.act_bits, r.input_bits) != (1, 1, 1):
        raise HwBnnError(
            f"{path}: only w1a1 with a binarized input is supported so far "
            f"(got weight_bits={r.weight_bits}, act_bits={r.act_bits}, input_bits={r.input_bits})"
        )
    return r


# --------------------------------------------------------------------------------------
# Brevitas networks (torch and brevitas are imported lazily: the golden model and the
# compiler's NumPy parts must not depend on them).


def build_model(recipe: Recipe, in_features: int):
    """The Brevitas network a recipe describes."""
    import torch.nn as nn
    from brevitas.nn import QuantIdentity, QuantLinear
    from brevitas.quant.binary import SignedBinaryActPerTensorConst, SignedBinaryWeightPerTensorConst

    class BinaryWeightUnitScale(SignedBinaryWeightPerTensorConst):
        """sign(w) with a constant scale of 1: weights are exactly +-1 (clipped to [-1, 1])."""

        scaling_const = 1.0

    class BinaryAct(SignedBinaryActPerTensorConst):
        """sign(x) (x >= 0 gives +1) with a constant scale of 1, straight-through gradient."""

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

    class BinaryFC(nn.Module):
        """FINN/Brevitas-style binary MLP (TFC/SFC/LFC): binarized 8-bit input, then per
        hidden layer a binary QuantLinear without bias, BatchNorm and a binary activation,
        then a binary QuantLinear and a scalar TensorNorm.  Input: raw pixels 0..255."""

        def __init__(self, in_features, hidden, num_classes, in_dropout, hidden_dropout):
            super().__init__()
            self.in_features = in_features
            self.input_quant = QuantIdentity(act_quant=BinaryAct, return_quant_tensor=False)
            self.in_dropout = nn.Dropout(in_dropout)
            layers = []
            prev = in_features
            for h in hidden:
                layers += [
                    QuantLinear(prev, h, bias=False, weight_quant=BinaryWeightUnitScale),
                    nn.BatchNorm1d(h),
                    nn.Dropout(hidden_dropout),
                    QuantIdentity(act_quant=BinaryAct, return_quant_tensor=False),
                ]
                prev = h
            self.features = nn.Sequential(*layers)
            self.classifier = QuantLinear(prev, num_classes, bias=False, weight_quant=BinaryWeightUnitScale)
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

    t = recipe.train
    return BinaryFC(in_features, recipe.hidden, recipe.num_classes, t["in_dropout"], t["hidden_dropout"])

"""Model recipes (``models/*.yaml``): what a network is and how it is trained.

A recipe names the architecture, the bit widths, the dataset and the training settings::

    name: tfc-w1a1
    arch: fc                 # fc: MLP on a binarized input; cnv: CNN on 8-bit pixels
    hidden: [64, 64, 64]     # hidden fully connected layers (the CNN's head)
    conv: []                 # cnv only: [out_channels, kernel, stride, pad] or "M" / "M<k>s<s>"
    weight_bits: 1           # 1: +-1 (binary); 2: {-1, 0, 1} (ternary, narrow 2-bit)
    act_bits: 1              # 1: +-1 (sign); 2: {-1, -0.5, 0, 0.5} (signed 2-bit, scale 1/2)
    input_bits: 1            # fc: 1 (binarized pixels); cnv: 8 (the integer pixel is the input)
    first_weight_bits: 0     # CNNs: the first convolution's weights (0: weight_bits; 4, 8:
                             # signed fixed point with a power-of-two scale, as ReActNet's stem)
    dataset: mnist5k
    train: {epochs: 20, batch_size: 100, lr: 0.01, seed: 0, ...}

Every scale is a power of two (weights 1, fixed-point weights 2^-f, 2-bit activations 1/2, CNN
input 1/256), so the exported float graph computes its integer sums without rounding and the
compiled integer graph can be exactly equal to it.

A recipe file is checked in two steps: :class:`RecipeFile` (a pydantic schema: every key, its
type and range; an unknown key is an error with a "did you mean" hint), then
:func:`check_recipe` (the rules between keys: which arch takes which bits and conv entries).
The :class:`Recipe` holds the values as the file wrote them (``lr: 1`` stays the int 1), so a
recipe's :meth:`Recipe.to_dict`, which training results are keyed by, does not depend on the
schema.

This module reads and checks recipes only; it imports neither torch nor Brevitas (the DSE and
the CLI read recipes without them).  The networks a recipe describes are built by
:func:`hw_bnn.train.networks.build_model`.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from hw_bnn.errors import RecipeError
from hw_bnn.resources import recipes_dir
from hw_bnn.schema import Strict, read_document, validate

ARCHS = ("fc", "cnv", "reactnet", "densenet")
NORMS = ("bn", "bkn", "gn")
NONLINS = ("none", "rprelu", "fprelu")
# the classes of each dataset hw_bnn.train.data reads (the same names as its DATASET_IMAGE_SHAPES)
DATASET_CLASSES = {"mnist5k": 10, "digits": 10, "mnist": 10, "fashion-mnist": 10, "cifar10": 10}
MAX_WIDTH = 65536  # neurons of one hidden layer
MAX_CHANNELS = 4096  # output channels of one convolution, growth rate or transition
MAX_EPOCHS = 10000


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
    first_weight_bits: int = 0  # CNNs: weight bits of the first convolution (0: weight_bits; 4, 8: fixed point)

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
            **({"first_weight_bits": self.first_weight_bits} if self.first_weight_bits else {}),
            "weight_bits": self.weight_bits,
            "act_bits": self.act_bits,
            "input_bits": self.input_bits,
            "dataset": self.dataset,
            "num_classes": self.num_classes,
            "train": dict(self.train),
        }

    @property
    def where(self) -> str:
        """What an error message names: the recipe file, or the recipe's name."""
        return self.source or f"recipe {self.name!r}"


# --------------------------------------------------------------------------------------
# conv entries


def _conv_entry(entry) -> tuple:
    """:func:`parse_conv_spec` without the place: a ``ValueError`` says what is wrong."""
    if entry == "R":
        return ("res",)
    if isinstance(entry, str) and re.fullmatch(r"[DT]\d+", entry.strip()):
        n = int(entry.strip()[1:])
        if n < 1:
            raise ValueError(f"{entry!r} needs a positive number")
        if n > MAX_CHANNELS:
            raise ValueError(f"{entry!r}: at most {MAX_CHANNELS} channels")
        return ("dense" if entry.strip()[0] == "D" else "trans", n)
    if isinstance(entry, str):
        m = re.fullmatch(r"M(?:(\d+)s(\d+))?", entry.strip())
        if not m:
            raise ValueError(f"conv entry {entry!r} must be 'M' (max pool 2x2) or 'M<k>s<s>'")
        k, st = (int(m.group(1)), int(m.group(2))) if m.group(1) else (2, 2)
        if k < 1 or st < 1:
            raise ValueError(f"pool {entry!r} needs kernel and stride >= 1")
        return ("pool", k, st)
    if (
        not isinstance(entry, (list, tuple))
        or len(entry) != 4
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in entry)
    ):
        raise ValueError(f"conv entry {entry!r} must be [out_channels, kernel, stride, pad]")
    out, k, st, pad = entry
    if not 1 <= out <= MAX_CHANNELS or k not in (1, 3) or st not in (1, 2) or not 0 <= pad < k:
        raise ValueError(
            f"conv entry {entry!r}: need 1 <= out_channels <= {MAX_CHANNELS}, kernel 1 or 3, stride 1 or 2 "
            f"and 0 <= pad < kernel"
        )
    return ("conv", out, k, st, pad)


def parse_conv_spec(entry, where="recipe"):
    """One ``conv`` entry -> ``("conv", out, kernel, stride, pad)``, ``("pool", kernel, stride)``
    or (``reactnet`` only) ``("res",)`` for ``R``, a residual block, or (``densenet`` only)
    ``("dense", k)`` for ``D<k>`` (a dense layer of growth rate k) and ``("trans", c)`` for
    ``T<c>`` (a transition to c channels).  A bad entry is a :class:`RecipeError` naming ``where``."""
    try:
        return _conv_entry(entry)
    except ValueError as e:
        raise RecipeError(f"{where}: {e}") from None


def _checked_conv_entry(entry):
    _conv_entry(entry)
    return entry


def conv_output_size(n: int, kernel: int, stride: int = 1, pad: int = 0) -> int:
    """Output size of a convolution or pooling window along one axis: ``(n + 2 pad - k) // s + 1``."""
    return (n + 2 * pad - kernel) // stride + 1


# --------------------------------------------------------------------------------------
# the schema


def _one_of(*allowed: int) -> AfterValidator:
    """An int that must be one of ``allowed`` (``Literal[1, 2]`` would take ``true`` for 1)."""

    def check(v: int) -> int:
        if v not in allowed:
            raise ValueError(f"must be {' or '.join(str(a) for a in allowed)}")
        return v

    return AfterValidator(check)


EpochsOrZero = Annotated[int, Field(ge=0, le=MAX_EPOCHS)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Dropout = Annotated[float, Field(ge=0, lt=1)]


def _choice(*allowed: str) -> type:
    """A string that must be one of ``allowed``; the message lists them."""

    def check(v: str) -> str:
        if v not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}")
        return v

    return Annotated[str, AfterValidator(check)]


class AugmentSettings(Strict):
    """The ``train.augment`` block: a random affine map per image and epoch (hw_bnn.train.augment)."""

    shift: Annotated[float, Field(ge=0, le=8)] = 0.0  # pixels, each direction
    rotate: Annotated[float, Field(ge=0, le=45)] = 0.0  # degrees
    scale: Annotated[float, Field(ge=0, le=0.5)] = 0.0  # zoom 1 +- scale


class TrainSettings(Strict):
    """The ``train:`` block; :data:`TRAIN_DEFAULTS` are its defaults."""

    epochs: Annotated[int, Field(ge=1, le=MAX_EPOCHS)] = 20
    batch_size: Annotated[int, Field(ge=1, le=1 << 20)] = 100
    lr: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 0.01
    lr_schedule: _choice("cosine", "linear", "constant") = "cosine"
    weight_decay: NonNegative = 0.0
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 0
    val_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.1
    in_dropout: Dropout = 0.0
    hidden_dropout: Dropout = 0.0
    # the AdamBNN recipe (Liu et al. 2021); see hw_bnn.train.trainer
    optimizer: _choice("adam", "adamw", "sgd") = "adam"  # sgd: momentum 0.9; adamw: decoupled weight decay
    two_step: bool = False  # step 1: real weights, binary activations; step 2: binary weights too
    step1_epochs: EpochsOrZero = 0  # epochs of step 1 (two_step only; 0: the same as epochs)
    step1_weight_decay: NonNegative = 5e-6  # weight decay of step 1 (step 2 uses weight_decay, normally 0)
    teacher: _choice("none", "float") = "none"  # float: distribution loss from a real-valued teacher of the same shape
    teacher_epochs: EpochsOrZero = 0  # epochs of the teacher's own training (0: the same as epochs)
    kd_weight: Annotated[float, Field(ge=0, le=1)] = 1.0  # loss = kd * KL(teacher || student) + (1 - kd) * CE
    # regularisation and optimisation (hw_bnn.train.optim, hw_bnn.train.augment)
    augment: AugmentSettings = AugmentSettings()  # random shifts, rotations and zooms of the images
    label_smoothing: Annotated[float, Field(ge=0, lt=1)] = 0.0  # CE against (1 - e) onehot + e / K
    warmup_epochs: EpochsOrZero = 0  # linear warm-up of the learning rate, then lr_schedule
    grad_clip: NonNegative = 0.0  # clip the gradients' global L2 norm to this (0: off)
    latent_clip: Annotated[float, Field(gt=0, le=16, allow_inf_nan=False)] = 1.0  # binary weights: clip to +-this
    ema: Annotated[float, Field(ge=0, lt=1)] = 0.0  # moving average of the weights, kept if it validates better
    fprelu_monotone: bool = False  # FPReLU slopes clamped to >= 0 after each step (foldable thresholds)


TRAIN_DEFAULTS = TrainSettings().model_dump()


class RecipeFile(Strict):
    """A recipe file's keys, each with its type and range; the defaults are :class:`Recipe`'s."""

    name: Annotated[str, Field(min_length=1)]
    arch: Literal[ARCHS]
    hidden: list[Annotated[int, Field(ge=1, le=MAX_WIDTH)]]
    conv: list[Annotated[Any, AfterValidator(_checked_conv_entry)]] | None = None
    weight_bits: Annotated[int, _one_of(1, 2)] = 1
    act_bits: Annotated[int, _one_of(1, 2)] = 1
    input_bits: Annotated[int, _one_of(1, 8)] = 1
    dataset: str = "mnist5k"
    num_classes: Annotated[int, Field(ge=2, le=MAX_WIDTH)] = 10
    train: TrainSettings = TrainSettings()
    recorded: dict | None = None  # measured results, free-form
    norm: Literal[NORMS] = "bn"
    nonlin: Literal[NONLINS] = "none"
    transition_bits: Annotated[int, Field(ge=2, le=8)] = 8
    transition_act_bits: Annotated[int, Field(ge=2, le=8)] = 4
    first_weight_bits: Annotated[int, _one_of(0, 1, 2, 4, 8)] = 0

    @field_validator("train", mode="before")
    @classmethod
    def _no_train(cls, v):
        return {} if v is None else v

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, v: str) -> str:
        if v not in DATASET_CLASSES:
            raise ValueError(f"unknown dataset; known: {', '.join(DATASET_CLASSES)}")
        return v

    @field_validator("num_classes")
    @classmethod
    def _dataset_classes(cls, v: int, info: ValidationInfo) -> int:
        dataset = info.data.get("dataset")
        if dataset in DATASET_CLASSES and v != DATASET_CLASSES[dataset]:
            raise ValueError(f"dataset {dataset} has {DATASET_CLASSES[dataset]} classes")
        return v


class _TrainOnly(Strict):
    train: TrainSettings


def check_train(train: dict, where: str = "recipe") -> None:
    """Raise :class:`RecipeError` (naming ``where`` and ``train.<key>``) for a bad ``train`` dict,
    e.g. after an override of the loaded recipe's settings."""
    validate(_TrainOnly, {"train": train}, where, RecipeError)


# --------------------------------------------------------------------------------------
# reading recipes


def available_models() -> list[str]:
    return sorted(p.stem for p in recipes_dir().glob("*.yaml"))


def recipe_from_mapping(raw: dict, source: str) -> Recipe:
    """The :class:`Recipe` of a recipe mapping (a parsed file, or an inline recipe); every
    error is a :class:`RecipeError` that starts with ``source``, which becomes the recipe's
    ``source``."""
    validate(RecipeFile, raw, source, RecipeError)
    raw = copy.deepcopy(raw)
    train = copy.deepcopy(TRAIN_DEFAULTS)
    train.update(raw.pop("train", None) or {})
    conv = list(raw.pop("conv", None) or [])
    recorded = dict(raw.pop("recorded", None) or {})
    # the other values as written (the schema checked them); a key left out takes Recipe's default
    r = Recipe(**raw, train=train, source=str(source), conv=conv, recorded=recorded)
    check_recipe(r, source)
    return r


def load_recipe(name_or_path: str) -> Recipe:
    """A recipe by name (``tfc-w1a1``) from ``models/``, or by path to a YAML file."""
    path = Path(name_or_path)
    if not path.suffix:
        path = recipes_dir() / f"{name_or_path}.yaml"
        if not path.exists():
            raise RecipeError(
                f"unknown model {name_or_path!r}; available: {', '.join(available_models())} "
                f"(or give a path to a recipe .yaml)"
            )
    return recipe_from_mapping(read_document(path, RecipeError, "recipe file"), str(path))


# --------------------------------------------------------------------------------------
# the rules between keys


def check_recipe(r: Recipe, path="recipe") -> None:
    """Raise :class:`RecipeError` (naming ``path`` and the field) for a recipe no network has."""
    if r.norm not in NORMS:
        raise RecipeError(f"{path}: norm {r.norm!r} is not supported (bn, bkn or gn)")
    if r.arch not in ARCHS:
        raise RecipeError(f"{path}: arch {r.arch!r} is not supported (supported: fc, cnv, reactnet, densenet)")
    if r.nonlin not in NONLINS or (r.nonlin != "none" and r.arch != "reactnet"):
        raise RecipeError(f"{path}: nonlin {r.nonlin!r}: rprelu, fprelu or none, and only with arch reactnet")
    if r.weight_bits not in (1, 2) or r.act_bits not in (1, 2):
        raise RecipeError(
            f"{path}: weight_bits and act_bits must be 1 or 2 (got weight_bits={r.weight_bits}, act_bits={r.act_bits})"
        )
    if r.arch == "fc":
        if r.input_bits != 1 or r.conv or r.first_weight_bits:
            raise RecipeError(
                f"{path}: arch fc takes a binarized input (input_bits: 1), no conv layers and no first_weight_bits"
            )
    else:
        _check_conv_recipe(r, path)


def _check_conv_recipe(r: Recipe, path) -> None:
    """The CNN part of :func:`check_recipe`: input bits, the conv list, the per-arch bit widths."""
    if r.input_bits != 8:
        raise RecipeError(f"{path}: arch cnv convolves the 8-bit pixels directly (input_bits: 8), got {r.input_bits}")
    specs = [parse_conv_spec(e, str(path)) for e in r.conv]
    if not specs or specs[0][0] != "conv":
        raise RecipeError(f"{path}: arch {r.arch} needs a conv list that starts with a convolution")
    if r.arch != "reactnet" and any(s[0] == "res" for s in specs):
        raise RecipeError(f"{path}: residual blocks (R) need arch reactnet")
    if r.arch != "densenet" and any(s[0] in ("dense", "trans") for s in specs):
        raise RecipeError(f"{path}: dense layers (D<k>) and transitions (T<c>) need arch densenet")
    if r.arch == "densenet":
        if (r.weight_bits, r.act_bits) != (1, 1):
            raise RecipeError(f"{path}: arch densenet is binary (weight_bits: 1, act_bits: 1)")
        if not 2 <= r.transition_bits <= 8 or not 2 <= r.transition_act_bits <= 8:
            raise RecipeError(f"{path}: transition_bits and transition_act_bits must be 2..8")
    if r.arch == "reactnet" and (r.weight_bits, r.act_bits) != (1, 1):
        raise RecipeError(f"{path}: arch reactnet is binary (weight_bits: 1, act_bits: 1)")
    if r.first_weight_bits not in (0, 1, 2, 4, 8):
        raise RecipeError(
            f"{path}: first_weight_bits must be 0 (as weight_bits), 1, 2, 4 or 8, got {r.first_weight_bits}"
        )


def model_input_shape(recipe: Recipe, image_shape) -> tuple[int, ...]:
    """What the network takes: flat pixels for MLPs, (C, H, W) images for CNNs."""
    c, h, w = (int(v) for v in image_shape)
    return (c * h * w,) if recipe.arch == "fc" else (c, h, w)

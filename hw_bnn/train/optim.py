"""The optimizer side of training: parameter groups, the optimizers, the learning-rate
schedule with warm-up, the loss with label smoothing, and the exponential moving average of
the weights.

Weight decay applies to the latent weights of the convolutions and linear layers only (the
parameters named ``weight`` of 2 or 4 dimensions), as in the ReActNet / AdamBNN code; norms,
RSign shifts, RPReLU / FPReLU parameters and the output TensorNorm get none.  ``adam`` and
``sgd`` add it to the gradient (``g += wd * w``, L2); ``adamw`` decays the weight itself
(``w -= lr * wd * w``, decoupled, Loshchilov and Hutter 2019).

Learning rate at optimizer step ``s`` of ``S`` (per phase), ``W`` warm-up steps:

* ``s < W``: ``lr * (s + 1) / W`` (linear warm-up);
* otherwise ``lr * f((s - W) / (S - W))`` with ``f`` from ``lr_schedule``: 1 (constant),
  ``1 - t`` (linear) or ``(1 + cos(pi t)) / 2`` (cosine).

Loss with label smoothing ``e`` over ``K`` classes: the cross-entropy against the target
``(1 - e) onehot(y) + e / K`` (``torch.nn.functional.cross_entropy(label_smoothing=e)``).

Exponential moving average (``ema: d``): after every step ``theta_ema = d theta_ema +
(1 - d) theta`` for every floating-point entry of the state_dict (weights, norm parameters and
running statistics); the integer ones (a BatchNorm's step count) are copied.
"""

from __future__ import annotations

import math

from hw_bnn.errors import RecipeError

OPTIMIZERS = ("adam", "adamw", "sgd")
LR_SCHEDULES = ("cosine", "linear", "constant")
SGD_MOMENTUM = 0.9


def lr_factor(schedule: str, step: int, total: int, warmup: int = 0) -> float:
    """The learning rate's factor at ``step`` of ``total`` with ``warmup`` warm-up steps (module docstring)."""
    if schedule not in LR_SCHEDULES:
        raise RecipeError(f"unknown lr_schedule {schedule!r} (cosine, linear or constant)")
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    frac = min((step - warmup) / max(total - warmup, 1), 1.0)
    if schedule == "linear":
        return 1.0 - frac
    return 0.5 * (1.0 + math.cos(math.pi * frac))


def decay_param_names(model) -> set[str]:
    """The latent conv / linear weights: the only parameters that get weight decay."""
    return {n for n, p in model.named_parameters() if n.endswith("weight") and p.dim() in (2, 4)}


def make_optimizer(model, recipe, weight_decay: float):
    """The recipe's optimizer over ``model``'s parameters: weight decay ``weight_decay`` on the
    conv / linear weights, none on the others (two parameter groups, in that order)."""
    import torch

    t = recipe.train
    decay = decay_param_names(model)
    groups = [
        {"params": [p for n, p in model.named_parameters() if n in decay], "weight_decay": weight_decay},
        {"params": [p for n, p in model.named_parameters() if n not in decay], "weight_decay": 0.0},
    ]
    kind = t.get("optimizer", "adam")
    if kind == "adam":
        return torch.optim.Adam(groups, lr=t["lr"])
    if kind == "adamw":
        return torch.optim.AdamW(groups, lr=t["lr"])
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=t["lr"], momentum=SGD_MOMENTUM)
    raise RecipeError(f"{recipe.where}: train.optimizer {kind!r} is not supported (allowed: {', '.join(OPTIMIZERS)})")


class WeightEMA:
    """The exponential moving average of a model's state_dict (module docstring)."""

    def __init__(self, model, decay: float):
        self.decay = float(decay)
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def update(self, model) -> None:
        import torch

        with torch.no_grad():
            for k, v in model.state_dict().items():
                avg = self.state[k]
                if avg.dtype.is_floating_point:
                    avg.mul_(self.decay).add_(v.detach(), alpha=1.0 - self.decay)
                else:
                    avg.copy_(v)

    def state_dict(self) -> dict:
        return self.state

    def load_state_dict(self, state: dict) -> None:
        self.state = {k: v.clone() for k, v in state.items()}

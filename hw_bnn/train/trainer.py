"""Training: Adam or SGD with a learning-rate schedule, fixed seed, progress bar, CSV log,
resumable; optionally the AdamBNN two-step recipe and a real-valued teacher.

``train(recipe, out_dir)`` writes ``checkpoint.pt`` (the final, fully quantized model) and
``train_log.csv``.  While it runs it keeps ``checkpoint.partial.pt`` after every epoch (the
phase, model, optimizer, schedule and RNG state, and the results of the phases already
finished); a later call with the same recipe resumes there, in the same phase.

Phases (:func:`training_phases`), run in this order, each with its own optimizer and its own
learning-rate schedule restarting from ``lr``:

``teacher`` (``teacher: float``)
    A real-valued network of the same shape (``build_model(weights="float", acts="float")``:
    real weights, hardtanh instead of every sign), trained with cross-entropy for
    ``teacher_epochs`` epochs (0: ``epochs``), weight decay ``step1_weight_decay``.
``step1`` (``two_step: true``)
    Binary activations, real weights (``weights="float"``), ``step1_epochs`` epochs
    (0: ``epochs``), weight decay ``step1_weight_decay`` (AdamBNN: 5e-6).
``step2`` (``two_step: true``) or ``train`` (one step)
    Binary weights and activations (the deployable model), ``epochs`` epochs, weight decay
    ``weight_decay`` (the AdamBNN recipes set 0).  ``step2`` starts from step 1's final
    weights (every state_dict entry: weights, norms, RSign / RPReLU / FPReLU parameters);
    its quantized weights are those of the real ones (``sign(w)`` for binary weights).

Loss of a student phase (``step1``, ``step2``, ``train``), logits ``s`` of the student and
``t`` of the fixed teacher (eval mode, no gradient), ``N`` images in the batch, label ``y``:

* without a teacher: ``L = CE(s, y) = -1/N sum_n log softmax(s_n)[y_n]``;
* with ``teacher: float`` (the ReActNet / AdamBNN distribution loss, temperature 1):
  ``L = kd_weight * KL + (1 - kd_weight) * CE(s, y)`` with
  ``KL = 1/N sum_n sum_k p_nk (log p_nk - log q_nk)``, ``p = softmax(t)``,
  ``q = softmax(s)``.  (ReActNet writes ``-1/N sum p log q``, the soft cross-entropy: it
  differs from ``KL`` by the teacher's entropy, a constant, so the gradient is the same.)

Weight decay (L2 added to the gradient, ``g += wd * w``, as ``torch.optim.Adam`` / ``SGD``
do) applies to the latent weights of the convolutions and linear layers only (the
parameters named ``weight`` of 2 or 4 dimensions), as in the ReActNet / AdamBNN code; norms,
RSign shifts, RPReLU / FPReLU parameters and the output TensorNorm get none.

Optimizer (``optimizer``): ``adam`` (``torch.optim.Adam``, default betas) or ``sgd``
(``torch.optim.SGD``, momentum 0.9); the learning rate is ``lr * f(step / total_steps)``
with ``f`` from ``lr_schedule`` (cosine, linear or constant), per phase.

After every optimizer step of a phase with binary weights (``step2`` / ``train``) the latent
weights are clipped to [-1, 1] (the clipping range of the sign's straight-through
estimator); real weights (``teacher``, ``step1``) are left alone.
"""

from __future__ import annotations

import csv
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hw_bnn.errors import HwBnnError
from hw_bnn.train.data import Split, train_val_split
from hw_bnn.train.recipes import Recipe, build_model, model_input_shape

OPTIMIZERS = ("adam", "sgd")
TEACHERS = ("none", "float")
LR_SCHEDULES = ("cosine", "linear", "constant")
SGD_MOMENTUM = 0.9
LOG_FIELDS = ["phase", "epoch", "phase_epoch", "loss", "val_acc", "lr"]


def _lr_factor(schedule: str, step: int, total: int) -> float:
    if schedule == "constant":
        return 1.0
    frac = min(step / max(total, 1), 1.0)
    if schedule == "linear":
        return 1.0 - frac
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * frac))
    raise ValueError(f"unknown lr_schedule {schedule!r} (cosine, linear or constant)")


def _seed_all(seed: int) -> None:
    import random

    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def evaluate(model, split: Split, batch_size: int = 250) -> float:
    """Top-1 accuracy of a torch model on a split (eval mode, no gradient).  Batches of 250:
    on one CPU thread the ReActNet CNN runs twice as fast as in batches of 1000."""
    import torch

    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(split), batch_size):
            xb = torch.from_numpy(split.inputs(model.input_shape)[i : i + batch_size].astype(np.float32))
            pred = model(xb).argmax(dim=1).numpy()
            correct += int((pred == split.y[i : i + batch_size]).sum())
    return correct / max(len(split), 1)


def load_checkpoint(path):
    """(model in eval mode, checkpoint dict) from a ``checkpoint.pt``."""
    import torch

    from hw_bnn.train.recipes import Recipe

    path = Path(path)
    if not path.exists():
        raise HwBnnError(f"{path}: checkpoint does not exist (run the train stage first)")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a bad file
        raise HwBnnError(f"{path}: not a hw-bnn checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(ck, dict) or "recipe" not in ck or "state_dict" not in ck:
        raise HwBnnError(f"{path}: not a hw-bnn checkpoint (missing recipe or state_dict)")
    recipe = Recipe(**{k: v for k, v in ck["recipe"].items()})
    model = build_model(recipe, ck.get("input_shape", ck.get("in_features")))
    model.load_state_dict(ck["state_dict"])
    model.eval()
    return model, ck


# --------------------------------------------------------------------------------------
# recipe settings -> phases


@dataclass(frozen=True)
class Phase:
    """One training run inside :func:`train` (see the module docstring)."""

    name: str  # teacher | step1 | step2 | train
    label: str  # progress-bar suffix ("" for a plain one-step run)
    weights: str  # build_model weights=: quant | float
    acts: str  # build_model acts=: quant | float
    epochs: int
    weight_decay: float
    distill: bool  # the loss uses the teacher
    init_from: str | None  # the phase whose final state_dict initialises this one

    @property
    def clamp(self) -> bool:
        """Clip the latent weights to [-1, 1] after each step: binary weights only."""
        return self.weights == "quant"


def _where(recipe: Recipe) -> str:
    return recipe.source or f"recipe {recipe.name!r}"


def check_train_settings(recipe: Recipe) -> None:
    """Raise :class:`HwBnnError` (naming the recipe file) for settings train() cannot run."""
    t = recipe.train
    where = _where(recipe)
    if t.get("optimizer", "adam") not in OPTIMIZERS:
        raise HwBnnError(
            f"{where}: train.optimizer {t['optimizer']!r} is not supported (allowed: {', '.join(OPTIMIZERS)})"
        )
    if t.get("teacher", "none") not in TEACHERS:
        raise HwBnnError(f"{where}: train.teacher {t['teacher']!r} is not supported (allowed: {', '.join(TEACHERS)})")
    if t.get("lr_schedule", "cosine") not in LR_SCHEDULES:
        raise HwBnnError(
            f"{where}: train.lr_schedule {t['lr_schedule']!r} is not supported (allowed: {', '.join(LR_SCHEDULES)})"
        )
    if not isinstance(t.get("two_step", False), bool):
        raise HwBnnError(f"{where}: train.two_step must be true or false (got {t['two_step']!r})")
    kd = t.get("kd_weight", 1.0)
    if not isinstance(kd, (int, float)) or not 0.0 <= float(kd) <= 1.0:
        raise HwBnnError(f"{where}: train.kd_weight must be a number in [0, 1] (got {kd!r})")
    for key in ("epochs", "step1_epochs", "teacher_epochs"):
        v = t.get(key, 0)
        if not isinstance(v, int) or isinstance(v, bool) or v < 0 or (key == "epochs" and v < 1):
            raise HwBnnError(f"{where}: train.{key} must be an integer >= {1 if key == 'epochs' else 0} (got {v!r})")


def training_phases(recipe: Recipe) -> list[Phase]:
    """The phases :func:`train` runs for a recipe, in order (the last one is deployable)."""
    check_train_settings(recipe)
    t = recipe.train
    epochs = int(t["epochs"])
    teacher = t.get("teacher", "none") == "float"
    two_step = bool(t.get("two_step", False))
    real_wd = float(t.get("step1_weight_decay", 5e-6))
    phases = []
    if teacher:
        phases.append(
            Phase(
                "teacher",
                "teacher (real-valued)",
                "float",
                "float",
                int(t.get("teacher_epochs", 0)) or epochs,
                real_wd,
                False,
                None,
            )
        )
    if two_step:
        phases.append(
            Phase(
                "step1", "step 1/2", "float", "quant", int(t.get("step1_epochs", 0)) or epochs, real_wd, teacher, None
            )
        )
        phases.append(Phase("step2", "step 2/2", "quant", "quant", epochs, float(t["weight_decay"]), teacher, "step1"))
    else:
        phases.append(
            Phase(
                "train", "student" if teacher else "", "quant", "quant", epochs, float(t["weight_decay"]), teacher, None
            )
        )
    return phases


# --------------------------------------------------------------------------------------
# pieces of a phase


def distribution_loss(student_logits, teacher_logits, targets=None, kd_weight: float = 1.0):
    """``kd_weight * KL(softmax(t) || softmax(s)) + (1 - kd_weight) * CE(s, y)``, batch mean.

    ``KL = 1/N sum_n sum_k p_nk (log p_nk - log q_nk)`` with ``p = softmax(t)``,
    ``q = softmax(s)`` (temperature 1).  ``targets`` is needed only when ``kd_weight < 1``."""
    import torch.nn.functional as F

    kl = F.kl_div(
        F.log_softmax(student_logits, dim=1),
        F.log_softmax(teacher_logits, dim=1),
        reduction="batchmean",
        log_target=True,
    )
    if kd_weight >= 1.0:
        return kl
    return kd_weight * kl + (1.0 - kd_weight) * F.cross_entropy(student_logits, targets)


def _decay_param_names(model) -> set[str]:
    """The latent conv / linear weights: the only parameters that get weight decay."""
    return {n for n, p in model.named_parameters() if n.endswith("weight") and p.dim() in (2, 4)}


def make_optimizer(model, recipe: Recipe, weight_decay: float):
    """The recipe's optimizer over ``model``'s parameters: weight decay ``weight_decay`` on the
    conv / linear weights, none on the others (two parameter groups, in that order)."""
    import torch

    t = recipe.train
    decay = _decay_param_names(model)
    groups = [
        {"params": [p for n, p in model.named_parameters() if n in decay], "weight_decay": weight_decay},
        {"params": [p for n, p in model.named_parameters() if n not in decay], "weight_decay": 0.0},
    ]
    kind = t.get("optimizer", "adam")
    if kind == "adam":
        return torch.optim.Adam(groups, lr=t["lr"])
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=t["lr"], momentum=SGD_MOMENTUM)
    raise HwBnnError(f"{_where(recipe)}: train.optimizer {kind!r} is not supported (allowed: {', '.join(OPTIMIZERS)})")


def load_matching(model, state_dict, what: str = "weights") -> dict:
    """Load the entries of ``state_dict`` whose name and shape match ``model``'s; warn about
    the rest.  Returns ``{"loaded": n, "missing": [...], "unexpected": [...], "mismatched": [...]}``."""
    import torch

    own = model.state_dict()
    ok = {k: v for k, v in state_dict.items() if k in own and own[k].shape == v.shape}
    report = {
        "loaded": len(ok),
        "missing": sorted(k for k in own if k not in ok and k not in state_dict),
        "unexpected": sorted(k for k in state_dict if k not in own),
        "mismatched": sorted(k for k in state_dict if k in own and own[k].shape != state_dict[k].shape),
    }
    with torch.no_grad():
        model.load_state_dict(ok, strict=False)
    if report["missing"] or report["unexpected"] or report["mismatched"]:
        warnings.warn(
            f"{what}: loaded {len(ok)} of {len(own)} entries; not in the source (kept at their initial "
            f"value): {report['missing']}; not in the model (ignored): {report['unexpected']}; "
            f"shape differs (kept at their initial value): {report['mismatched']}",
            stacklevel=2,
        )
    return report


def _build(recipe, input_shape, phase: Phase):
    return build_model(recipe, input_shape, weights=phase.weights, acts=phase.acts)


def _run_phase(phase, recipe, ctx, done, resume, progress, partial, log_rows, epoch_offset):
    """Train one phase (resuming from ``resume`` when it is this phase's partial state);
    returns (model, its final state_dict result, the log rows so far)."""
    import torch
    from tqdm import tqdm

    t = recipe.train
    seed = int(t["seed"])
    bs = int(t["batch_size"])
    x_all, y_all, val_split, input_shape = ctx["x"], ctx["y"], ctx["val"], ctx["input_shape"]

    teacher_logits = None
    if phase.distill:
        teacher = build_model(recipe, input_shape, weights="float", acts="float")
        teacher.load_state_dict(done["teacher"]["state_dict"])
        teacher.eval()
        # the teacher is fixed (eval mode): its logits for every training image, once
        with torch.no_grad():
            teacher_logits = torch.cat([teacher(x_all[i : i + 250]) for i in range(0, len(x_all), 250)])
        del teacher

    _seed_all(seed)
    model = _build(recipe, input_shape, phase)
    init_report = None
    if phase.init_from:
        init_report = load_matching(
            model, done[phase.init_from]["state_dict"], f"{phase.name}: init from {phase.init_from}"
        )
    opt = make_optimizer(model, recipe, phase.weight_decay)
    steps_per_epoch = math.ceil(len(x_all) / bs)
    total_steps = phase.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(t["lr_schedule"], s, total_steps))
    gen = torch.Generator().manual_seed(seed)
    start_epoch = 0
    if resume is not None:
        model.load_state_dict(resume["state_dict"])
        opt.load_state_dict(resume["optimizer"])
        sched.load_state_dict(resume["scheduler"])
        gen.set_state(resume["generator"])
        torch.set_rng_state(resume["torch_rng"])
        start_epoch = resume["epoch"]
        init_report = resume.get("init_report", init_report)

    loss_fn = torch.nn.CrossEntropyLoss()
    kd_weight = float(t.get("kd_weight", 1.0))
    latent = [p for n, p in model.named_parameters() if n in _decay_param_names(model)]
    bar = tqdm(
        total=total_steps,
        initial=start_epoch * steps_per_epoch,
        desc=f"train {recipe.name}" + (f" {phase.label}" if phase.label else ""),
        disable=not progress,
        unit="step",
    )
    for epoch in range(start_epoch, phase.epochs):
        model.train()
        perm = torch.randperm(len(x_all), generator=gen)
        loss_sum, seen = 0.0, 0
        for i in range(0, len(perm), bs):
            idx = perm[i : i + bs]
            out = model(x_all[idx])
            if teacher_logits is not None:
                loss = distribution_loss(out, teacher_logits[idx], y_all[idx], kd_weight)
            else:
                loss = loss_fn(out, y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            if phase.clamp:
                # keep latent binary weights in the clipping range of the sign's STE
                with torch.no_grad():
                    for p in latent:
                        p.clamp_(-1.0, 1.0)
            loss_sum += loss.item() * len(idx)
            seen += len(idx)
            bar.update(1)
        val_acc = evaluate(model, val_split)
        row = {
            "phase": phase.name,
            "epoch": epoch_offset + epoch + 1,
            "phase_epoch": epoch + 1,
            "loss": loss_sum / seen,
            "val_acc": val_acc,
            "lr": sched.get_last_lr()[0],
        }
        log_rows.append(row)
        bar.set_postfix(loss=f"{row['loss']:.3f}", val_acc=f"{val_acc:.4f}")
        tmp = partial.with_suffix(".tmp")
        torch.save(
            {
                "recipe": recipe.to_dict(),
                "phase": phase.name,
                "done": done,
                "state_dict": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "generator": gen.get_state(),
                "torch_rng": torch.get_rng_state(),
                "log": log_rows,
                "epoch": epoch + 1,
                "init_report": init_report,
            },
            tmp,
        )
        os.replace(tmp, partial)
    bar.close()
    return model, init_report


def train(
    recipe: Recipe, out_dir, test_split: Split | None = None, progress: bool = True, state_dir=None, data_dir=None
) -> dict:
    """Train ``recipe`` into ``out_dir``; returns the summary stored in the checkpoint.

    Runs :func:`training_phases` (see the module docstring for the losses, weight decays and
    optimizers).  The resumable per-epoch state lives in ``state_dir`` (default: ``out_dir``);
    it records the phase it belongs to, so a resume continues that phase (and never starts
    another one from it).  ``data_dir`` holds the training data of the folder datasets
    (``mnist``, ``fashion-mnist``, ``cifar10``).

    Summary: ``val_acc`` (and ``test_acc`` with ``test_split``) of the final, deployable model;
    for each earlier phase ``<phase>_val_acc`` (and ``<phase>_test_acc``), e.g.
    ``teacher_val_acc``, ``step1_val_acc``; ``phases`` (name and epochs of each); and
    ``step2_init`` (how many entries of step 1's state_dict step 2 loaded, and any that did
    not match) for two-step recipes."""
    import torch

    phases = training_phases(recipe)  # raises on bad settings before any data is read
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t = recipe.train
    train_split, val_split = train_val_split(recipe.dataset, t["val_fraction"], seed=0, data_dir=data_dir)
    input_shape = model_input_shape(recipe, train_split.image_shape)
    ctx = {
        "x": torch.from_numpy(train_split.inputs(input_shape).astype(np.float32)),
        "y": torch.from_numpy(train_split.y),
        "val": val_split,
        "input_shape": input_shape,
    }

    partial = Path(state_dir or out_dir) / "checkpoint.partial.pt"
    state = None
    if partial.exists():
        st = torch.load(partial, map_location="cpu", weights_only=False)
        if isinstance(st, dict) and st.get("recipe") == recipe.to_dict():
            # a partial state from before the phases existed belongs to the one-step phase
            st.setdefault("phase", phases[-1].name if len(phases) == 1 else None)
            st.setdefault("done", {})
            if st["phase"] in {p.name for p in phases}:
                state = st
    done: dict = state["done"] if state else {}
    log_rows: list[dict] = list(state["log"]) if state else []
    for row in log_rows:  # rows of an old partial state
        row.setdefault("phase", phases[-1].name)
        row.setdefault("phase_epoch", row["epoch"])

    init_reports: dict = {}
    model = None
    epoch_offset = 0
    for ph in phases:
        if ph.name in done:
            epoch_offset += ph.epochs
            continue
        resume = state if state is not None and state["phase"] == ph.name else None
        model, init_report = _run_phase(ph, recipe, ctx, done, resume, progress, partial, log_rows, epoch_offset)
        epoch_offset += ph.epochs
        if ph is not phases[-1]:
            done[ph.name] = {
                "state_dict": {k: v.clone() for k, v in model.state_dict().items()},
                "val_acc": evaluate(model, val_split),
            }
            if test_split is not None:
                done[ph.name]["test_acc"] = evaluate(model, test_split)
        if init_report is not None:
            init_reports[f"{ph.name}_init"] = init_report

    summary = {
        "val_acc": evaluate(model, val_split),
        "val_images": len(val_split),
        "train_images": len(train_split),
    }
    if test_split is not None:
        summary["test_acc"] = evaluate(model, test_split)
        summary["test_images"] = len(test_split)
    for ph in phases[:-1]:
        summary[f"{ph.name}_val_acc"] = done[ph.name]["val_acc"]
        if "test_acc" in done[ph.name]:
            summary[f"{ph.name}_test_acc"] = done[ph.name]["test_acc"]
    summary["phases"] = [
        {"name": ph.name, "epochs": ph.epochs, "weights": ph.weights, "acts": ph.acts} for ph in phases
    ]
    summary.update(init_reports)
    ck = {
        "recipe": recipe.to_dict(),
        "state_dict": model.state_dict(),
        "input_shape": list(input_shape),
        "image_shape": list(train_split.image_shape),
        "summary": summary,
    }
    tmp = out_dir / "checkpoint.pt.tmp"
    torch.save(ck, tmp)
    with open(out_dir / "train_log.csv.tmp", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=LOG_FIELDS)
        w.writeheader()
        w.writerows(log_rows)
    os.replace(out_dir / "train_log.csv.tmp", out_dir / "train_log.csv")
    os.replace(tmp, out_dir / "checkpoint.pt")
    partial.unlink(missing_ok=True)
    return summary

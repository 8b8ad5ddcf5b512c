"""Training: Adam or SGD with a learning-rate schedule, fixed seed, progress (a bar on a
terminal, a line per epoch in a log), CSV log, resumable; optionally the AdamBNN two-step
recipe and a real-valued teacher.

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

Optimizer (``optimizer``: ``adam``, ``adamw`` or ``sgd``), weight decay (the latent conv /
linear weights only), the learning-rate schedule with ``warmup_epochs``, label smoothing and
the moving average of the weights (``ema``) are :mod:`hw_bnn.train.optim`'s; each phase has
its own optimizer and schedule.  ``augment`` draws a random affine map per training image
and epoch (:mod:`hw_bnn.train.augment`); ``grad_clip`` clips the gradients' global L2 norm.

After every optimizer step of a phase with binary weights (``step2`` / ``train``) the latent
weights are clipped to ``[-latent_clip, latent_clip]`` (1: the clipping range of the sign's
straight-through estimator); real weights (``teacher``, ``step1``) are left alone.
``fprelu_monotone`` clamps every FPReLU slope to ``>= 0`` after each step.  With
``ema`` the phase ends with the average weights when they validate at least as well as the
last ones (``<phase>_ema`` in the summary says which, with both accuracies).
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from hw_bnn.errors import ExportError, RecipeError
from hw_bnn.files import write_bytes_atomic
from hw_bnn.train.augment import Augment
from hw_bnn.train.data import Split, train_val_split
from hw_bnn.train.layers import FPReLU
from hw_bnn.train.networks import build_model
from hw_bnn.train.optim import LR_SCHEDULES, OPTIMIZERS, WeightEMA, decay_param_names, lr_factor, make_optimizer
from hw_bnn.train.progress import EpochProgress, progress_mode
from hw_bnn.train.recipes import Recipe, model_input_shape

TEACHERS = ("none", "float")
LOG_FIELDS = ["phase", "epoch", "phase_epoch", "loss", "val_acc", "lr"]
EVAL_BATCH = 250  # images per forward pass when evaluating or computing the teacher's logits


def _seed_all(seed: int) -> None:
    import random

    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def evaluate(model, split: Split, batch_size: int = EVAL_BATCH) -> float:
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


def _torch_load(path: Path, fix: str):
    """``torch.load`` of a file :func:`train` wrote; ExportError naming it (and ``fix``) otherwise."""
    import torch

    if path.is_file() and path.stat().st_size == 0:
        raise ExportError(f"{path}: not a torch checkpoint (0 bytes); {fix}")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a bad file
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:120]
        raise ExportError(f"{path}: not a readable torch checkpoint (truncated or corrupt: {reason}); {fix}") from None


def load_checkpoint(path):
    """(model in eval mode, checkpoint dict) from a ``checkpoint.pt``."""
    path = Path(path)
    fix = f"re-run the train stage (hw-bnn train --out {path.parent} --force)"
    if not path.exists():
        raise ExportError(f"{path}: checkpoint does not exist (run the train stage first)")
    ck = _torch_load(path, fix)
    if not isinstance(ck, dict) or "recipe" not in ck or "state_dict" not in ck:
        raise ExportError(f"{path}: not a hw-bnn checkpoint (missing recipe or state_dict); {fix}")
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
    label: str  # progress suffix ("" for a plain one-step run)
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


def check_train_settings(recipe: Recipe) -> None:
    """Raise :class:`RecipeError` (naming the recipe file and the key) for settings train() cannot run."""
    t = recipe.train
    where = recipe.where
    for key, allowed, default in (
        ("optimizer", OPTIMIZERS, "adam"),
        ("teacher", TEACHERS, "none"),
        ("lr_schedule", LR_SCHEDULES, "cosine"),
    ):
        if t.get(key, default) not in allowed:
            raise RecipeError(f"{where}: train.{key} {t[key]!r} is not supported (allowed: {', '.join(allowed)})")
    if not isinstance(t.get("two_step", False), bool):
        raise RecipeError(f"{where}: train.two_step must be true or false (got {t['two_step']!r})")
    kd = t.get("kd_weight", 1.0)
    if not isinstance(kd, (int, float)) or not 0.0 <= float(kd) <= 1.0:
        raise RecipeError(f"{where}: train.kd_weight must be a number in [0, 1] (got {kd!r})")
    for key in ("epochs", "step1_epochs", "teacher_epochs"):
        v = t.get(key, 0)
        if not isinstance(v, int) or isinstance(v, bool) or v < 0 or (key == "epochs" and v < 1):
            raise RecipeError(f"{where}: train.{key} must be an integer >= {1 if key == 'epochs' else 0} (got {v!r})")


def training_phases(recipe: Recipe) -> list[Phase]:
    """The phases :func:`train` runs for a recipe, in order (the last one is deployable)."""
    check_train_settings(recipe)
    t = recipe.train
    epochs = int(t["epochs"])
    teacher = t.get("teacher", "none") == "float"
    real_wd = float(t.get("step1_weight_decay", 5e-6))
    wd = float(t["weight_decay"])
    phases = []
    if teacher:
        teacher_epochs = int(t.get("teacher_epochs", 0)) or epochs
        phases.append(Phase("teacher", "teacher (real-valued)", "float", "float", teacher_epochs, real_wd, False, None))
    if bool(t.get("two_step", False)):
        step1_epochs = int(t.get("step1_epochs", 0)) or epochs
        phases.append(Phase("step1", "step 1/2", "float", "quant", step1_epochs, real_wd, teacher, None))
        phases.append(Phase("step2", "step 2/2", "quant", "quant", epochs, wd, teacher, "step1"))
    else:
        phases.append(Phase("train", "student" if teacher else "", "quant", "quant", epochs, wd, teacher, None))
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


def _torch_bytes(obj) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


@dataclass
class TrainingRun:
    """What the phases of one :func:`train` call share: the recipe, the training images as
    tensors, the validation split, the resumable state's path, the results of the phases
    already finished (``done``) and the log rows so far."""

    recipe: Recipe
    x: object  # float32 tensor (N, C, H, W): the pixels, before any augmentation
    y: object  # int64 tensor (N,)
    val: Split
    input_shape: tuple
    partial: Path
    progress: bool = True
    done: dict = field(default_factory=dict)
    log_rows: list = field(default_factory=list)
    speed: dict = field(default_factory=dict)  # phase -> training throughput (train_speed.json)

    @cached_property
    def augment(self) -> Augment:
        return Augment.from_settings(self.recipe.train.get("augment"))

    def batch(self, idx, generator):
        """The network inputs of the training images ``idx`` (augmented when the recipe says so)."""
        return self.augment(self.x[idx], generator).reshape(len(idx), *self.input_shape)


@dataclass
class PhaseState:
    """The resumable state of a phase: model, optimizer, schedule, shuffling and augmentation
    generator, the moving average of the weights (or None)."""

    model: object
    opt: object
    sched: object
    gen: object
    start_epoch: int
    init_report: dict | None
    ema: WeightEMA | None = None


class Teacher:
    """The fixed real-valued teacher (eval mode, no gradient).  Without augmentation its logits
    for every training image are computed once; with it, on each augmented batch."""

    def __init__(self, run: TrainingRun):
        import torch

        self.model = build_model(run.recipe, run.input_shape, weights="float", acts="float")
        self.model.load_state_dict(run.done["teacher"]["state_dict"])
        self.model.eval()
        self.cached = None
        if not run.augment.active:
            with torch.no_grad():
                flat = run.x.reshape(len(run.x), *run.input_shape)
                self.cached = torch.cat([self.model(flat[i : i + EVAL_BATCH]) for i in range(0, len(flat), EVAL_BATCH)])

    def logits(self, idx, xb):
        import torch

        if self.cached is not None:
            return self.cached[idx]
        with torch.no_grad():
            return self.model(xb)


def _start_phase(phase: Phase, run: TrainingRun, resume, total_steps: int) -> PhaseState:
    """Seed, build the phase's model (initialised from ``phase.init_from``), its optimizer and
    schedule; then, when resuming, load the partial state over them."""
    import torch

    t = run.recipe.train
    seed = int(t["seed"])
    _seed_all(seed)
    model = build_model(run.recipe, run.input_shape, weights=phase.weights, acts=phase.acts)
    init_report = None
    if phase.init_from:
        init_report = load_matching(
            model, run.done[phase.init_from]["state_dict"], f"{phase.name}: init from {phase.init_from}"
        )
    opt = make_optimizer(model, run.recipe, phase.weight_decay)
    warmup = int(t.get("warmup_epochs", 0)) * math.ceil(len(run.x) / int(t["batch_size"]))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(t["lr_schedule"], s, total_steps, warmup))
    gen = torch.Generator().manual_seed(seed)
    ema = WeightEMA(model, t["ema"]) if t.get("ema", 0.0) else None
    st = PhaseState(model, opt, sched, gen, 0, init_report, ema)
    if resume is not None:
        model.load_state_dict(resume["state_dict"])
        opt.load_state_dict(resume["optimizer"])
        sched.load_state_dict(resume["scheduler"])
        gen.set_state(resume["generator"])
        torch.set_rng_state(resume["torch_rng"])
        st.start_epoch = resume["epoch"]
        st.init_report = resume.get("init_report", init_report)
        if ema is not None:
            ema.load_state_dict(resume["ema"])
    return st


def _train_epoch(phase: Phase, run: TrainingRun, st: PhaseState, teacher: Teacher | None, bar: EpochProgress) -> float:
    """One pass over the shuffled (and augmented) training images; the mean loss.  After each
    step of a phase with binary weights the latent weights are clipped to ``+-latent_clip``."""
    import torch
    import torch.nn.functional as F

    t = run.recipe.train
    bs = int(t["batch_size"])
    kd_weight = float(t.get("kd_weight", 1.0))
    smoothing, grad_clip = float(t.get("label_smoothing", 0.0)), float(t.get("grad_clip", 0.0))
    bound = float(t.get("latent_clip", 1.0))
    latent = [p for n, p in st.model.named_parameters() if n in decay_param_names(st.model)]
    fprelus = [m for m in st.model.modules() if isinstance(m, FPReLU)] if t.get("fprelu_monotone") else []
    st.model.train()
    perm = torch.randperm(len(run.x), generator=st.gen)
    loss_sum, seen = 0.0, 0
    for i in range(0, len(perm), bs):
        idx = perm[i : i + bs]
        xb = run.batch(idx, st.gen)
        out = st.model(xb)
        if teacher is not None:
            loss = distribution_loss(out, teacher.logits(idx, xb), run.y[idx], kd_weight)
        else:
            loss = F.cross_entropy(out, run.y[idx], label_smoothing=smoothing)
        st.opt.zero_grad()
        loss.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(st.model.parameters(), grad_clip)
        st.opt.step()
        st.sched.step()
        if phase.clamp:
            with torch.no_grad():
                for p in latent:
                    p.clamp_(-bound, bound)
        for m in fprelus:
            m.clamp_monotone()
        if st.ema is not None:
            st.ema.update(st.model)
        loss_sum += loss.item() * len(idx)
        seen += len(idx)
        bar.step()
    return loss_sum / seen


def _save_partial(phase: Phase, run: TrainingRun, st: PhaseState, epoch: int) -> None:
    """The resumable state after ``epoch`` epochs of ``phase`` (``checkpoint.partial.pt``)."""
    import torch

    state = {
        "recipe": run.recipe.to_dict(),
        "phase": phase.name,
        "done": run.done,
        "state_dict": st.model.state_dict(),
        "optimizer": st.opt.state_dict(),
        "scheduler": st.sched.state_dict(),
        "generator": st.gen.get_state(),
        "torch_rng": torch.get_rng_state(),
        "log": run.log_rows,
        "epoch": epoch,
        "init_report": st.init_report,
        "ema": st.ema.state_dict() if st.ema is not None else None,
    }
    write_bytes_atomic(run.partial, _torch_bytes(state))


def _keep_average(run: TrainingRun, st: PhaseState) -> dict:
    """With ``ema``: load the average weights into the model when they validate at least as
    well as the last ones; returns both accuracies and which were kept."""
    last = {k: v.clone() for k, v in st.model.state_dict().items()}
    last_acc = evaluate(st.model, run.val)
    st.model.load_state_dict(st.ema.state_dict())
    ema_acc = evaluate(st.model, run.val)
    kept = "ema" if ema_acc >= last_acc else "last"
    if kept == "last":
        st.model.load_state_dict(last)
    return {"last_val_acc": last_acc, "ema_val_acc": ema_acc, "kept": kept}


def _run_phase(phase: Phase, run: TrainingRun, resume, epoch_offset: int):
    """Train one phase (resuming from ``resume`` when it is this phase's partial state);
    returns (model, its report: ``init`` from an earlier phase, ``ema``).  Its throughput goes
    to ``run.speed``."""
    teacher = Teacher(run) if phase.distill else None
    steps_per_epoch = math.ceil(len(run.x) / int(run.recipe.train["batch_size"]))
    st = _start_phase(phase, run, resume, phase.epochs * steps_per_epoch)
    desc = f"train {run.recipe.name}" + (f" {phase.label}" if phase.label else "")
    bar = EpochProgress(desc, phase.epochs, steps_per_epoch, st.start_epoch, progress_mode(run.progress))
    train_seconds = 0.0
    for epoch in range(st.start_epoch, phase.epochs):
        t0 = time.perf_counter()
        loss = _train_epoch(phase, run, st, teacher, bar)
        train_seconds += time.perf_counter() - t0
        val_acc = evaluate(st.model, run.val)
        row = {
            "phase": phase.name,
            "epoch": epoch_offset + epoch + 1,
            "phase_epoch": epoch + 1,
            "loss": loss,
            "val_acc": val_acc,
            "lr": st.sched.get_last_lr()[0],
        }
        run.log_rows.append(row)
        bar.epoch_done(epoch + 1, loss, val_acc)
        _save_partial(phase, run, st, epoch + 1)
    bar.close()
    report = {"init": st.init_report}
    if train_seconds:
        images = (phase.epochs - st.start_epoch) * len(run.x)
        run.speed[phase.name] = {
            "images": images,
            "seconds": round(train_seconds, 2),
            "images_per_s": round(images / train_seconds, 1),
        }
    if st.ema is not None:
        report["ema"] = _keep_average(run, st)
    return st.model, report


# --------------------------------------------------------------------------------------
# the whole run


def _load_partial(path: Path, recipe: Recipe, phases: list[Phase]) -> dict | None:
    """The partial state at ``path`` if it belongs to this recipe and one of its phases."""
    if not path.exists():
        return None
    st = _torch_load(path, "delete it to train from the first epoch")
    if not isinstance(st, dict) or st.get("recipe") != recipe.to_dict():
        return None
    # a partial state from before the phases existed belongs to the one-step phase
    st.setdefault("phase", phases[-1].name if len(phases) == 1 else None)
    st.setdefault("done", {})
    if st["phase"] not in {p.name for p in phases}:
        return None
    for row in st.get("log", []):  # rows of an old partial state
        row.setdefault("phase", phases[-1].name)
        row.setdefault("phase_epoch", row["epoch"])
    return st


def _summary(model, phases, run: TrainingRun, train_split: Split, test_split, reports: dict) -> dict:
    summary = {
        "val_acc": evaluate(model, run.val),
        "val_images": len(run.val),
        "train_images": len(train_split),
    }
    if test_split is not None:
        summary["test_acc"] = evaluate(model, test_split)
        summary["test_images"] = len(test_split)
    for ph in phases[:-1]:
        summary[f"{ph.name}_val_acc"] = run.done[ph.name]["val_acc"]
        if "test_acc" in run.done[ph.name]:
            summary[f"{ph.name}_test_acc"] = run.done[ph.name]["test_acc"]
    summary["phases"] = [
        {"name": ph.name, "epochs": ph.epochs, "weights": ph.weights, "acts": ph.acts} for ph in phases
    ]
    summary.update(reports)
    return summary


def _log_csv(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=LOG_FIELDS)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue().encode()


def train(
    recipe: Recipe, out_dir, test_split: Split | None = None, progress: bool = True, state_dir=None, data_dir=None
) -> dict:
    """Train ``recipe`` into ``out_dir``; returns the summary stored in the checkpoint.

    Runs :func:`training_phases` (see the module docstring for the losses, weight decays and
    optimizers).  The resumable per-epoch state lives in ``state_dir`` (default: ``out_dir``);
    it records the phase it belongs to, so a resume continues that phase (and never starts
    another one from it).  ``data_dir`` holds the training data of the folder datasets
    (``mnist``, ``fashion-mnist``, ``cifar10``).  ``progress``: a bar on a terminal, a line
    per epoch otherwise (:mod:`hw_bnn.train.progress`); ``False`` is silent.

    Summary: ``val_acc`` (and ``test_acc`` with ``test_split``) of the final, deployable model;
    for each earlier phase ``<phase>_val_acc`` (and ``<phase>_test_acc``), e.g.
    ``teacher_val_acc``, ``step1_val_acc``; ``phases`` (name and epochs of each); and
    ``step2_init`` (how many entries of step 1's state_dict step 2 loaded, and any that did
    not match) for two-step recipes; with ``ema``, ``<phase>_ema`` (both validation accuracies
    and which weights were kept).  The training throughput of each phase (images per second,
    without the per-epoch validation) goes to ``train_speed.json``, not to the checkpoint:
    the same seed gives the same checkpoint bytes."""
    import torch

    phases = training_phases(recipe)  # raises on bad settings before any data is read
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train_split, val_split = train_val_split(recipe.dataset, recipe.train["val_fraction"], seed=0, data_dir=data_dir)
    input_shape = model_input_shape(recipe, train_split.image_shape)
    partial = Path(state_dir or out_dir) / "checkpoint.partial.pt"
    state = _load_partial(partial, recipe, phases)
    run = TrainingRun(
        recipe,
        torch.from_numpy(train_split.inputs(train_split.image_shape).astype(np.float32)),
        torch.from_numpy(train_split.y),
        val_split,
        input_shape,
        partial,
        progress,
        state["done"] if state else {},
        list(state["log"]) if state else [],
    )

    reports: dict = {}
    model = None
    epoch_offset = 0
    for ph in phases:
        if ph.name in run.done:
            epoch_offset += ph.epochs
            continue
        resume = state if state is not None and state["phase"] == ph.name else None
        model, report = _run_phase(ph, run, resume, epoch_offset)
        epoch_offset += ph.epochs
        if ph is not phases[-1]:
            run.done[ph.name] = {
                "state_dict": {k: v.clone() for k, v in model.state_dict().items()},
                "val_acc": evaluate(model, val_split),
            }
            if test_split is not None:
                run.done[ph.name]["test_acc"] = evaluate(model, test_split)
        for key, value in report.items():
            if value is not None:
                reports[f"{ph.name}_{key}"] = value

    summary = _summary(model, phases, run, train_split, test_split, reports)
    ck = {
        "recipe": recipe.to_dict(),
        "state_dict": model.state_dict(),
        "input_shape": list(input_shape),
        "image_shape": list(train_split.image_shape),
        "summary": summary,
    }
    write_bytes_atomic(out_dir / "train_log.csv", _log_csv(run.log_rows))
    write_bytes_atomic(out_dir / "train_speed.json", json.dumps(run.speed, indent=1).encode())
    write_bytes_atomic(out_dir / "checkpoint.pt", _torch_bytes(ck))
    partial.unlink(missing_ok=True)
    return summary

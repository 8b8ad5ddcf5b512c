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
import io
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hw_bnn.errors import ExportError, RecipeError
from hw_bnn.files import write_bytes_atomic
from hw_bnn.train.data import Split, train_val_split
from hw_bnn.train.networks import build_model
from hw_bnn.train.progress import EpochProgress, progress_mode
from hw_bnn.train.recipes import Recipe, model_input_shape

OPTIMIZERS = ("adam", "sgd")
TEACHERS = ("none", "float")
LR_SCHEDULES = ("cosine", "linear", "constant")
SGD_MOMENTUM = 0.9
LOG_FIELDS = ["phase", "epoch", "phase_epoch", "loss", "val_acc", "lr"]
EVAL_BATCH = 250  # images per forward pass when evaluating or computing the teacher's logits


def lr_factor(schedule: str, step: int, total: int) -> float:
    """``f(step / total)``: 1 (constant), ``1 - t`` (linear) or ``(1 + cos(pi t)) / 2`` (cosine)."""
    if schedule == "constant":
        return 1.0
    frac = min(step / max(total, 1), 1.0)
    if schedule == "linear":
        return 1.0 - frac
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * frac))
    raise RecipeError(f"unknown lr_schedule {schedule!r} (cosine, linear or constant)")


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


def decay_param_names(model) -> set[str]:
    """The latent conv / linear weights: the only parameters that get weight decay."""
    return {n for n, p in model.named_parameters() if n.endswith("weight") and p.dim() in (2, 4)}


def make_optimizer(model, recipe: Recipe, weight_decay: float):
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
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=t["lr"], momentum=SGD_MOMENTUM)
    raise RecipeError(f"{recipe.where}: train.optimizer {kind!r} is not supported (allowed: {', '.join(OPTIMIZERS)})")


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
    x: object  # float32 tensor (N, *input_shape)
    y: object  # int64 tensor (N,)
    val: Split
    input_shape: tuple
    partial: Path
    progress: bool = True
    done: dict = field(default_factory=dict)
    log_rows: list = field(default_factory=list)


@dataclass
class PhaseState:
    """The resumable state of a phase: model, optimizer, schedule, shuffling generator."""

    model: object
    opt: object
    sched: object
    gen: object
    start_epoch: int
    init_report: dict | None


def _teacher_logits(run: TrainingRun):
    """The fixed teacher's (eval mode) logits for every training image, computed once."""
    import torch

    teacher = build_model(run.recipe, run.input_shape, weights="float", acts="float")
    teacher.load_state_dict(run.done["teacher"]["state_dict"])
    teacher.eval()
    with torch.no_grad():
        return torch.cat([teacher(run.x[i : i + EVAL_BATCH]) for i in range(0, len(run.x), EVAL_BATCH)])


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
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(t["lr_schedule"], s, total_steps))
    gen = torch.Generator().manual_seed(seed)
    st = PhaseState(model, opt, sched, gen, 0, init_report)
    if resume is not None:
        model.load_state_dict(resume["state_dict"])
        opt.load_state_dict(resume["optimizer"])
        sched.load_state_dict(resume["scheduler"])
        gen.set_state(resume["generator"])
        torch.set_rng_state(resume["torch_rng"])
        st.start_epoch = resume["epoch"]
        st.init_report = resume.get("init_report", init_report)
    return st


def _train_epoch(phase: Phase, run: TrainingRun, st: PhaseState, teacher_logits, bar: EpochProgress) -> float:
    """One pass over the shuffled training images; the mean loss.  After each step of a phase
    with binary weights the latent weights are clipped to [-1, 1] (the sign's STE range)."""
    import torch

    t = run.recipe.train
    bs = int(t["batch_size"])
    kd_weight = float(t.get("kd_weight", 1.0))
    loss_fn = torch.nn.CrossEntropyLoss()
    latent = [p for n, p in st.model.named_parameters() if n in decay_param_names(st.model)]
    st.model.train()
    perm = torch.randperm(len(run.x), generator=st.gen)
    loss_sum, seen = 0.0, 0
    for i in range(0, len(perm), bs):
        idx = perm[i : i + bs]
        out = st.model(run.x[idx])
        if teacher_logits is not None:
            loss = distribution_loss(out, teacher_logits[idx], run.y[idx], kd_weight)
        else:
            loss = loss_fn(out, run.y[idx])
        st.opt.zero_grad()
        loss.backward()
        st.opt.step()
        st.sched.step()
        if phase.clamp:
            with torch.no_grad():
                for p in latent:
                    p.clamp_(-1.0, 1.0)
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
    }
    write_bytes_atomic(run.partial, _torch_bytes(state))


def _run_phase(phase: Phase, run: TrainingRun, resume, epoch_offset: int):
    """Train one phase (resuming from ``resume`` when it is this phase's partial state);
    returns (model, the report of its initialisation from an earlier phase or None)."""
    teacher_logits = _teacher_logits(run) if phase.distill else None
    steps_per_epoch = math.ceil(len(run.x) / int(run.recipe.train["batch_size"]))
    st = _start_phase(phase, run, resume, phase.epochs * steps_per_epoch)
    desc = f"train {run.recipe.name}" + (f" {phase.label}" if phase.label else "")
    bar = EpochProgress(desc, phase.epochs, steps_per_epoch, st.start_epoch, progress_mode(run.progress))
    for epoch in range(st.start_epoch, phase.epochs):
        loss = _train_epoch(phase, run, st, teacher_logits, bar)
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
    return st.model, st.init_report


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


def _summary(model, phases, run: TrainingRun, train_split: Split, test_split, init_reports: dict) -> dict:
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
    summary.update(init_reports)
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
    not match) for two-step recipes."""
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
        torch.from_numpy(train_split.inputs(input_shape).astype(np.float32)),
        torch.from_numpy(train_split.y),
        val_split,
        input_shape,
        partial,
        progress,
        state["done"] if state else {},
        list(state["log"]) if state else [],
    )

    init_reports: dict = {}
    model = None
    epoch_offset = 0
    for ph in phases:
        if ph.name in run.done:
            epoch_offset += ph.epochs
            continue
        resume = state if state is not None and state["phase"] == ph.name else None
        model, init_report = _run_phase(ph, run, resume, epoch_offset)
        epoch_offset += ph.epochs
        if ph is not phases[-1]:
            run.done[ph.name] = {
                "state_dict": {k: v.clone() for k, v in model.state_dict().items()},
                "val_acc": evaluate(model, val_split),
            }
            if test_split is not None:
                run.done[ph.name]["test_acc"] = evaluate(model, test_split)
        if init_report is not None:
            init_reports[f"{ph.name}_init"] = init_report

    summary = _summary(model, phases, run, train_split, test_split, init_reports)
    ck = {
        "recipe": recipe.to_dict(),
        "state_dict": model.state_dict(),
        "input_shape": list(input_shape),
        "image_shape": list(train_split.image_shape),
        "summary": summary,
    }
    write_bytes_atomic(out_dir / "train_log.csv", _log_csv(run.log_rows))
    write_bytes_atomic(out_dir / "checkpoint.pt", _torch_bytes(ck))
    partial.unlink(missing_ok=True)
    return summary

"""The training recipes of hw_bnn.train.trainer: optimizer, the AdamBNN two-step recipe, the
real-valued teacher's distribution loss, determinism and per-phase resume.

Small and fast: the ReActNet-style CNN on scikit-learn's 8x8 digits, 1-2 epochs per phase."""

from __future__ import annotations

import copy
import csv
import io
import re
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import hw_bnn.train.trainer as T
from hw_bnn.errors import HwBnnError
from hw_bnn.train.progress import EpochProgress, progress_mode
from hw_bnn.train.recipes import TRAIN_DEFAULTS, Recipe, check_recipe, load_recipe

torch.set_num_threads(1)


def tiny_reactnet(**train) -> Recipe:
    """conv [[8,3,1,1], R, M, R] with RPReLU on the 8x8 digits: a fraction of a second per epoch."""
    t = copy.deepcopy(TRAIN_DEFAULTS)
    t.update(epochs=1, batch_size=64, lr=0.01, lr_schedule="linear", seed=0)
    t.update(train)
    r = Recipe(
        name="tiny-reactnet",
        arch="reactnet",
        hidden=[],
        conv=[[8, 3, 1, 1], "R", "M", "R"],
        nonlin="rprelu",
        input_bits=8,
        dataset="digits",
        train=t,
    )
    check_recipe(r)
    return r


def _sd_copy(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _latent(model):
    """(name, latent weight, effective weight the forward uses) of every conv / linear layer."""
    from brevitas.nn import QuantConv2d, QuantLinear

    out = []
    for name, m in model.named_modules():
        if isinstance(m, (QuantConv2d, QuantLinear)):
            q = m.quant_weight()
            out.append((name, m.weight.detach(), getattr(q, "value", q).detach()))
    return out


@pytest.fixture
def spy(monkeypatch):
    """Records, per phase, the model at optimizer creation (its initial state) and at the end."""
    rec = {"init": [], "final": [], "opt": [], "models": []}
    make_opt, run_phase = T.make_optimizer, T._run_phase

    def make_optimizer(model, recipe, weight_decay):
        opt = make_opt(model, recipe, weight_decay)
        rec["init"].append(_sd_copy(model))
        rec["opt"].append((opt, weight_decay))
        rec["models"].append(model)
        return opt

    def _run_phase(phase, *a, **k):
        model, init = run_phase(phase, *a, **k)
        rec["final"].append((phase.name, _sd_copy(model)))
        return model, init

    monkeypatch.setattr(T, "make_optimizer", make_optimizer)
    monkeypatch.setattr(T, "_run_phase", _run_phase)
    return rec


# --------------------------------------------------------------------------------------
# phases and settings


def test_phases_of_each_recipe():
    names = lambda r: [(p.name, p.weights, p.acts, p.epochs, p.clamp, p.distill) for p in T.training_phases(r)]  # noqa: E731
    assert names(tiny_reactnet(epochs=3)) == [("train", "quant", "quant", 3, True, False)]
    assert names(tiny_reactnet(epochs=3, two_step=True)) == [
        ("step1", "float", "quant", 3, False, False),
        ("step2", "quant", "quant", 3, True, False),
    ]
    assert names(tiny_reactnet(epochs=3, two_step=True, step1_epochs=2, teacher="float", teacher_epochs=5)) == [
        ("teacher", "float", "float", 5, False, False),
        ("step1", "float", "quant", 2, False, True),
        ("step2", "quant", "quant", 3, True, True),
    ]
    ph = T.training_phases(tiny_reactnet(two_step=True, weight_decay=0.0, step1_weight_decay=1e-5))
    assert [p.weight_decay for p in ph] == [1e-5, 0.0]
    assert ph[1].init_from == "step1"


@pytest.mark.parametrize(
    "key, value, allowed",
    [
        ("optimizer", "foo", "adam, adamw, sgd"),
        ("teacher", "bar", "none, float"),
        ("lr_schedule", "step", "cosine, linear, constant"),
    ],
)
def test_unknown_values_name_the_file_and_the_choices(tmp_path, key, value, allowed):
    src = load_recipe("tcnv-digits-w1a1").source
    path = tmp_path / "bad.yaml"
    # the recipe file with the bad value in its train: block
    lines = open(src).read().splitlines()
    i = lines.index("train:")
    lines = [ln for ln in lines if not ln.startswith(f"  {key}:")]
    lines.insert(i + 1, f"  {key}: {value}")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(HwBnnError) as e:  # refused when the recipe is read, before any training
        load_recipe(str(path))
    msg = str(e.value)
    assert str(path) in msg and f"train.{key}" in msg and repr(value) in msg and allowed in msg


def test_bad_numbers_raise():
    with pytest.raises(HwBnnError, match="kd_weight"):
        T.training_phases(tiny_reactnet(teacher="float", kd_weight=1.5))
    with pytest.raises(HwBnnError, match="two_step"):
        T.training_phases(tiny_reactnet(two_step="yes"))
    with pytest.raises(HwBnnError, match="step1_epochs"):
        T.training_phases(tiny_reactnet(two_step=True, step1_epochs=-1))


def test_optimizer_and_weight_decay_groups():
    r = tiny_reactnet(optimizer="sgd", lr=0.1)
    from hw_bnn.train.networks import build_model

    m = build_model(r, (1, 8, 8))
    opt = T.make_optimizer(m, r, 1e-4)
    assert type(opt) is torch.optim.SGD
    assert all(g["momentum"] == 0.9 and g["lr"] == 0.1 for g in opt.param_groups)
    decay, rest = opt.param_groups
    names = {id(p): n for n, p in m.named_parameters()}
    decayed = sorted(names[id(p)] for p in decay["params"])
    assert decay["weight_decay"] == 1e-4 and rest["weight_decay"] == 0.0
    # exactly the conv / linear weights; never the norms, RSign, RPReLU or TensorNorm
    assert decayed == sorted(n + ".weight" for n, _, _ in _latent(m))
    assert not any(k in n for n in decayed for k in ("norm", "alpha", "gamma", "beta", "zeta", "bias"))
    assert len(decay["params"]) + len(rest["params"]) == len(list(m.parameters()))
    r.train["optimizer"] = "adam"
    assert type(T.make_optimizer(m, r, 0.0)) is torch.optim.Adam


def test_sgd_and_adam_are_selected_in_training(tmp_path, spy):
    sds = {}
    for opt in ("adam", "sgd"):
        T.train(tiny_reactnet(optimizer=opt), tmp_path / opt, progress=False)
        sds[opt] = torch.load(tmp_path / opt / "checkpoint.pt", weights_only=False)["state_dict"]
    assert [type(o).__name__ for o, _ in spy["opt"]] == ["Adam", "SGD"]
    assert not _same(sds["adam"], sds["sgd"])


# --------------------------------------------------------------------------------------
# two steps


def test_two_step_real_then_binary_weights_and_init(tmp_path, spy):
    r = tiny_reactnet(epochs=2, two_step=True, step1_weight_decay=5e-6, weight_decay=0.0)
    s = T.train(r, tmp_path, progress=False)
    (n1, final1), (n2, final2) = spy["final"]
    assert (n1, n2) == ("step1", "step2")
    m1, m2 = spy["models"]
    assert [wd for _, wd in spy["opt"]] == [5e-6, 0.0]

    # step 2 starts from step 1's final weights: every entry, bit for bit
    assert _same(spy["init"][1], final1)
    assert not _same(spy["init"][0], final1)  # step 1 did train
    assert s["step2_init"] == {"loaded": len(final1), "missing": [], "unexpected": [], "mismatched": []}

    # step 1: the forward uses the real weights, not clipped; step 2: sign(w), in [-1, 1]
    w1 = _latent(m1)
    assert all(torch.equal(lat, eff) for _, lat, eff in w1)
    assert any(not set(eff.unique().tolist()) <= {-1.0, 1.0} for _, _, eff in w1)
    assert max(float(lat.abs().max()) for _, lat, _ in w1) > 1.0  # no clamp on real weights
    for _, lat, eff in _latent(m2):
        assert set(eff.unique().tolist()) <= {-1.0, 1.0}
        assert torch.equal(eff, torch.where(lat >= 0, 1.0, -1.0)) or torch.equal(eff, torch.sign(lat))
        assert float(lat.abs().max()) <= 1.0

    # the deployable checkpoint is step 2's binary model and loads like any other
    model, ck = T.load_checkpoint(tmp_path / "checkpoint.pt")
    assert _same(ck["state_dict"], final2)
    assert set(s) >= {"val_acc", "step1_val_acc", "phases"}
    with open(tmp_path / "train_log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r_["phase"], r_["epoch"], r_["phase_epoch"]) for r_ in rows] == [
        ("step1", "1", "1"),
        ("step1", "2", "2"),
        ("step2", "3", "1"),
        ("step2", "4", "2"),
    ]
    assert float(rows[-1]["val_acc"]) == pytest.approx(s["val_acc"])


def test_load_matching_reports_what_does_not_match():
    from hw_bnn.train.networks import build_model

    a = build_model(tiny_reactnet(), (1, 8, 8), weights="float")
    b = build_model(tiny_reactnet(), (1, 8, 8))
    src = _sd_copy(a)
    extra = src.pop("blocks.0.norm.bias")
    src["nonsense.weight"] = extra
    src["classifier.weight"] = torch.zeros(3, 3)
    with pytest.warns(UserWarning, match="blocks.0.norm.bias"):
        rep = T.load_matching(b, src, "test")
    assert rep["missing"] == ["blocks.0.norm.bias"]
    assert rep["unexpected"] == ["nonsense.weight"]
    assert rep["mismatched"] == ["classifier.weight"]
    assert torch.equal(b.state_dict()["blocks.1.conv.weight"], src["blocks.1.conv.weight"])


# --------------------------------------------------------------------------------------
# teacher


def test_distribution_loss_is_the_documented_kl():
    g = torch.Generator().manual_seed(3)
    s = torch.randn(5, 10, generator=g, dtype=torch.float64)
    t = 3 * torch.randn(5, 10, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 3, 9, 2, 2])
    p = np.exp(t.numpy()) / np.exp(t.numpy()).sum(1, keepdims=True)
    q = np.exp(s.numpy()) / np.exp(s.numpy()).sum(1, keepdims=True)
    kl = float(np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=1)))
    ce = float(np.mean(-np.log(q[np.arange(5), y.numpy()])))
    assert float(T.distribution_loss(s, t)) == pytest.approx(kl, rel=1e-12)
    assert float(T.distribution_loss(s, t, y, 0.25)) == pytest.approx(0.25 * kl + 0.75 * ce, rel=1e-12)
    assert float(T.distribution_loss(t, t)) == pytest.approx(0.0, abs=1e-12)
    # ReActNet's soft cross-entropy differs by the teacher's entropy only: same gradient
    s1 = s.clone().requires_grad_()
    T.distribution_loss(s1, t).backward()
    s2 = s.clone().requires_grad_()
    (-(F.softmax(t, 1) * F.log_softmax(s2, 1)).sum(1).mean()).backward()
    assert torch.allclose(s1.grad, s2.grad)


def test_teacher_is_real_valued_fixed_and_used_in_the_loss(tmp_path, spy, monkeypatch):
    calls = []
    orig = T.distribution_loss

    def dl(s, t, y=None, kd_weight=1.0):
        calls.append((s.detach().clone(), t.clone(), t.requires_grad, kd_weight))
        return orig(s, t, y, kd_weight)

    monkeypatch.setattr(T, "distribution_loss", dl)
    r = tiny_reactnet(teacher="float", teacher_epochs=2, kd_weight=0.5)
    s = T.train(r, tmp_path, progress=False)
    assert [n for n, _ in spy["final"]] == ["teacher", "train"]
    teacher, student = spy["models"]
    assert not any("Quant" in type(m).__name__ for m in teacher.modules() if "Identity" in type(m).__name__)
    assert any(isinstance(m, torch.nn.Hardtanh) for m in teacher.modules())
    assert all(torch.equal(lat, eff) for _, lat, eff in _latent(teacher))
    assert "teacher_val_acc" in s and s["teacher_val_acc"] > s["val_acc"]
    steps = -(-1618 // 64)
    assert len(calls) == steps and all(not rg and kd == 0.5 for _, _, rg, kd in calls)

    # the logits given to the loss are the trained teacher's, in eval mode, for those images
    teacher.load_state_dict(spy["final"][0][1])
    teacher.eval()
    from hw_bnn.train.data import train_val_split

    tr, _ = train_val_split("digits", 0.1, seed=0)
    with torch.no_grad():
        all_t = teacher(torch.from_numpy(tr.inputs((1, 8, 8)).astype(np.float32)))
    batch_t = calls[0][1]
    d = (batch_t[:, None, :] - all_t[None, :, :]).abs().amax(-1).amin(-1)
    assert float(d.max()) < 1e-4


# --------------------------------------------------------------------------------------
# determinism and resume


FULL = dict(two_step=True, teacher="float", teacher_epochs=1, step1_epochs=2, epochs=2)


def test_same_seed_same_bits(tmp_path):
    s = [T.train(tiny_reactnet(**FULL), tmp_path / f"r{i}", progress=False) for i in range(2)]
    a, b = (torch.load(tmp_path / f"r{i}" / "checkpoint.pt", weights_only=False)["state_dict"] for i in range(2))
    assert _same(a, b) and s[0] == s[1]
    assert (tmp_path / "r0" / "train_log.csv").read_text() == (tmp_path / "r1" / "train_log.csv").read_text()
    T.train(tiny_reactnet(**FULL, seed=1), tmp_path / "r2", progress=False)
    c = torch.load(tmp_path / "r2" / "checkpoint.pt", weights_only=False)["state_dict"]
    assert not _same(a, c)


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("stop_at, phase", [(3, "teacher"), (4, "step1"), (5, "step1"), (7, "step2")])
def test_resume_after_an_interrupted_phase(tmp_path, monkeypatch, stop_at, phase):
    """evaluate() calls: 1 teacher epoch 1, 2 teacher result, 3 step1 epoch 1, 4 step1 epoch 2,
    5 step1 result, 6 step2 epoch 1, 7 step2 epoch 2.  Interrupting at call n leaves the
    partial state of the last epoch before it: the teacher's last epoch (3: between phases),
    step 1's first (4: inside a phase), step 1's last (5: the phase ended, its result not yet
    taken), step 2's first (7)."""
    ref = tmp_path / "ref"
    T.train(tiny_reactnet(**FULL), ref, progress=False)

    n = {"calls": 0}
    orig = T.evaluate

    def evaluate(model, split, batch_size=250):
        n["calls"] += 1
        if n["calls"] == stop_at:
            raise Interrupt
        return orig(model, split, batch_size)

    monkeypatch.setattr(T, "evaluate", evaluate)
    out = tmp_path / "run"
    with pytest.raises(Interrupt):
        T.train(tiny_reactnet(**FULL), out, progress=False)
    st = torch.load(out / "checkpoint.partial.pt", weights_only=False)
    assert st["phase"] == phase and ("teacher" in st["done"]) == (phase != "teacher")
    monkeypatch.setattr(T, "evaluate", orig)

    # a different recipe (one step) never resumes from it: it trains from scratch
    other = tmp_path / "other"
    other.mkdir()
    (other / "checkpoint.partial.pt").write_bytes((out / "checkpoint.partial.pt").read_bytes())
    T.train(tiny_reactnet(epochs=2), other, progress=False)
    T.train(tiny_reactnet(epochs=2), tmp_path / "fresh", progress=False)
    a = torch.load(other / "checkpoint.pt", weights_only=False)["state_dict"]
    b = torch.load(tmp_path / "fresh" / "checkpoint.pt", weights_only=False)["state_dict"]
    assert _same(a, b)

    # the same recipe resumes in its phase and ends with the same bits as the uninterrupted run
    s = T.train(tiny_reactnet(**FULL), out, progress=False)
    x = torch.load(out / "checkpoint.pt", weights_only=False)
    y = torch.load(ref / "checkpoint.pt", weights_only=False)
    assert _same(x["state_dict"], y["state_dict"]) and s == y["summary"]
    assert (out / "train_log.csv").read_text() == (ref / "train_log.csv").read_text()
    assert not (out / "checkpoint.partial.pt").exists()


# --------------------------------------------------------------------------------------
# progress output


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_is_a_bar_on_a_terminal_only():
    assert progress_mode(True, _Terminal()) == "bar"
    assert progress_mode(True, io.StringIO()) == "lines"
    assert progress_mode(False, _Terminal()) == "off"


def test_a_terminal_gets_the_tqdm_bar(monkeypatch):
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    bar = EpochProgress("train x", epochs=1, steps_per_epoch=3, mode=progress_mode(True))
    for _ in range(3):
        bar.step()
    bar.epoch_done(1, 0.5, 0.75)
    bar.close()
    out = term.getvalue()
    assert "\r" in out and "3/3" in out and "val_acc=0.7500" in out


def test_a_log_gets_one_line_per_epoch_and_progress_false_nothing(tmp_path, capsys):
    T.train(tiny_reactnet(epochs=2), tmp_path / "log", progress=True)  # pytest's stderr is no terminal
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("train tiny-reactnet")]
    assert len(lines) == 2, err
    for i, ln in enumerate(lines, 1):
        assert re.fullmatch(
            rf"train tiny-reactnet: epoch {i}/2  loss \d+\.\d{{4}}  val_acc [01]\.\d{{4}}  \d+\.\d s", ln
        )
    T.train(tiny_reactnet(epochs=1), tmp_path / "quiet", progress=False)
    assert capsys.readouterr().err == ""

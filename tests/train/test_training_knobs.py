"""The training knobs of hw_bnn.train.augment and hw_bnn.train.optim, alone and inside train():
augmentation, warm-up, label smoothing, AdamW, gradient clipping, the latent weight clip and
the moving average of the weights.  Tiny networks on the 8x8 digits: seconds in all."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

import hw_bnn.train.trainer as T
from hw_bnn.errors import RecipeError
from hw_bnn.train.augment import Augment
from hw_bnn.train.optim import WeightEMA, lr_factor, make_optimizer
from hw_bnn.train.recipes import check_train
from tests.train.test_train_recipes import _latent, _same, tiny_reactnet

torch.set_num_threads(1)


def _image(h=8, w=8):
    return torch.arange(h * w, dtype=torch.float32).reshape(1, 1, h, w) + 1.0


def _warp(images, theta):
    """What Augment does with given matrices (the sampling step alone)."""
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def test_augment_off_is_the_identity_and_draws_nothing():
    x, g = _image(), torch.Generator().manual_seed(0)
    before = g.get_state()
    assert Augment()(x, g) is x and torch.equal(g.get_state(), before)


def test_a_one_pixel_shift_moves_the_image_by_one_pixel():
    """The sampling matrix of a translation t moves the content by +t pixels (zero fill)."""
    x = _image()
    aug = Augment(shift=1.0)
    # a draw that lands on the extremes: u = +1 in x, -1 in y (shift right by 1, up by 1)
    theta = aug.thetas(1, 8, 8, torch.Generator().manual_seed(0))
    theta[0, 0, 2], theta[0, 1, 2] = -2.0 / 8, 2.0 / 8
    out = _warp(x, theta)
    want = torch.zeros_like(x)
    want[..., :-1, 1:] = x[..., 1:, :-1]
    assert torch.allclose(out, want, atol=1e-4)


def test_the_drawn_maps_stay_in_their_ranges_and_give_integer_pixels():
    aug = Augment(shift=2.0, rotate=10.0, scale=0.1)
    theta = aug.thetas(4000, 28, 28, torch.Generator().manual_seed(1))
    lin = theta[:, :, :2]
    det = torch.linalg.det(lin)  # 1 / z^2
    assert det.min() >= 1 / 1.1**2 - 1e-6 and det.max() <= 1 / 0.9**2 + 1e-6
    angle = torch.atan2(lin[:, 1, 0], lin[:, 0, 0]).abs().max()
    assert math.radians(9.5) < angle <= math.radians(10.0) + 1e-6
    shift = theta[:, :, 2].abs().max() * 28 / 2
    assert 1.9 < shift <= 2.0 + 1e-5
    x = torch.randint(0, 256, (16, 1, 28, 28)).float()
    a, b = (aug(x, torch.Generator().manual_seed(3)) for _ in range(2))
    assert torch.equal(a, b) and torch.equal(a, a.round()) and a.min() >= 0 and a.max() <= 255
    assert not torch.equal(a, x)


def test_warm_up_then_the_schedule():
    assert [lr_factor("cosine", s, 100, warmup=4) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_factor("cosine", 4, 100, warmup=4) == 1.0
    assert lr_factor("cosine", 52, 100, warmup=4) == pytest.approx(0.5)
    assert lr_factor("linear", 76, 100, warmup=4) == pytest.approx(0.25)
    assert lr_factor("constant", 2, 10, warmup=4) == 0.75 and lr_factor("constant", 9, 10, warmup=4) == 1.0
    with pytest.raises(RecipeError, match="lr_schedule"):
        lr_factor("step", 0, 10)


def test_adamw_decays_the_latent_weights_only():
    from hw_bnn.train.networks import build_model

    r = tiny_reactnet(optimizer="adamw")
    m = build_model(r, (1, 8, 8))
    opt = make_optimizer(m, r, 0.01)
    assert type(opt) is torch.optim.AdamW
    assert [g["weight_decay"] for g in opt.param_groups] == [0.01, 0.0]


def test_weight_ema_is_the_documented_average():
    m = torch.nn.BatchNorm1d(3)
    ema = WeightEMA(m, 0.9)
    old = {k: v.clone() for k, v in m.state_dict().items()}
    with torch.no_grad():
        m.weight.add_(1.0)
        m.running_mean.add_(2.0)
    m.num_batches_tracked += 5
    ema.update(m)
    s = ema.state_dict()
    assert torch.allclose(s["weight"], 0.9 * old["weight"] + 0.1 * m.weight)
    assert torch.allclose(s["running_mean"], old["running_mean"] + 0.2)
    assert int(s["num_batches_tracked"]) == 5


def _train(tmp_path, name, **train):
    summary = T.train(tiny_reactnet(**train), tmp_path / name, progress=False)
    sd = torch.load(tmp_path / name / "checkpoint.pt", weights_only=False)["state_dict"]
    return summary, sd


@pytest.mark.parametrize(
    "knob",
    [
        {"augment": {"shift": 1.0, "rotate": 10.0, "scale": 0.1}},
        {"label_smoothing": 0.2},
        {"warmup_epochs": 1, "epochs": 2},
        {"optimizer": "adamw", "weight_decay": 0.05},
    ],
    ids=["augment", "label_smoothing", "warmup", "adamw"],
)
def test_each_knob_changes_training_and_stays_deterministic(tmp_path, knob):
    _, base = _train(tmp_path, "base", **{k: v for k, v in knob.items() if k == "epochs"})
    (s1, a), (s2, b) = _train(tmp_path, "a", **knob), _train(tmp_path, "b", **knob)
    assert _same(a, b) and s1 == s2
    assert not _same(a, base)


def test_augment_with_a_teacher_feeds_the_teacher_the_same_images(tmp_path, monkeypatch):
    seen = []
    loss = T.distribution_loss

    def spy(student, teacher, *a):
        seen.append(teacher.shape)
        return loss(student, teacher, *a)

    monkeypatch.setattr(T, "distribution_loss", spy)
    _train(tmp_path, "kd", teacher="float", augment={"shift": 1.0})
    assert seen and all(s[1] == 10 for s in seen)


def test_grad_clip_bounds_each_step(tmp_path):
    """SGD with the gradient norm clipped to 1e-9: the weights hardly move; without, they do."""
    from hw_bnn.train.networks import build_model

    torch.manual_seed(0)
    init = build_model(tiny_reactnet(), (1, 8, 8)).state_dict()
    moved = {}
    for clip in (0.0, 1e-9):
        _, sd = _train(tmp_path, f"c{clip}", optimizer="sgd", lr=0.1, grad_clip=clip)
        moved[clip] = max((sd[k] - init[k]).abs().max().item() for k in sd if k.endswith("conv.weight"))
    assert moved[0.0] > 1e-2 and moved[1e-9] < 1e-6


def test_latent_clip_bounds_the_latent_weights(tmp_path):
    from hw_bnn.train.networks import build_model

    _, sd = _train(tmp_path, "clip", latent_clip=0.25)
    m = build_model(tiny_reactnet(), (1, 8, 8))
    m.load_state_dict(sd)
    latent = [w for _, w, _ in _latent(m)]
    assert max(w.abs().max().item() for w in latent) <= 0.25
    assert any(w.abs().max().item() == 0.25 for w in latent)


def test_ema_keeps_the_better_validating_weights_and_resumes(tmp_path, monkeypatch):
    s, sd = _train(tmp_path, "ema", ema=0.5, epochs=2)
    rep = s["train_ema"]
    assert rep["kept"] == ("ema" if rep["ema_val_acc"] >= rep["last_val_acc"] else "last")
    assert s["val_acc"] == max(rep["ema_val_acc"], rep["last_val_acc"])
    # stopped after epoch 1, then resumed: the same bits as the uninterrupted run
    real = T._train_epoch
    calls = []

    def stop_second(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(T, "_train_epoch", stop_second)
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path, "ema2", ema=0.5, epochs=2)
    monkeypatch.setattr(T, "_train_epoch", real)
    s2, sd2 = _train(tmp_path, "ema2", ema=0.5, epochs=2)
    assert _same(sd, sd2) and s2["train_ema"] == rep


def test_training_speed_goes_beside_the_checkpoint(tmp_path):
    _train(tmp_path, "speed", two_step=True)
    speed = json.loads((tmp_path / "speed" / "train_speed.json").read_text())
    assert set(speed) == {"step1", "step2"}
    assert all(v["images"] > 0 and v["images_per_s"] > 0 for v in speed.values())


@pytest.mark.parametrize(
    "train, message",
    [
        ({"augment": {"shfit": 1}}, "train.augment.shfit"),
        ({"augment": {"rotate": 90}}, "train.augment.rotate"),
        ({"label_smoothing": 1.0}, "train.label_smoothing"),
        ({"latent_clip": 0}, "train.latent_clip"),
        ({"ema": 1.0}, "train.ema"),
        ({"optimizer": "lamb"}, "adam, adamw, sgd"),
    ],
)
def test_bad_knobs_name_the_key(train, message):
    with pytest.raises(RecipeError, match=message.replace(".", r"\.")):
        check_train(train, "models/x.yaml")


def test_fprelu_monotone_keeps_every_slope_non_negative(tmp_path):
    """A large learning rate drives some FPReLU slopes below 0; the clamp keeps them at >= 0."""
    from hw_bnn.train.layers import FPReLU
    from hw_bnn.train.networks import build_model

    def slopes(monotone):
        r = tiny_reactnet(lr=0.2, fprelu_monotone=monotone)
        r.nonlin = "fprelu"
        T.train(r, tmp_path / str(monotone), progress=False)
        m = build_model(r, (1, 8, 8))
        m.load_state_dict(torch.load(tmp_path / str(monotone) / "checkpoint.pt", weights_only=False)["state_dict"])
        return torch.cat([torch.cat([f.pos, f.neg]) for f in m.modules() if isinstance(f, FPReLU)])

    assert slopes(False).min() < 0
    clamped = slopes(True)
    assert clamped.min() >= 0 and (clamped == 0).any()

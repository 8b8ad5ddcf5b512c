"""Training: Adam with a learning-rate schedule, fixed seed, progress bar, CSV log, resumable.

``train(recipe, out_dir)`` writes ``checkpoint.pt`` (the final model) and ``train_log.csv``.
While it runs it keeps ``checkpoint.partial.pt`` after every epoch (model, optimizer,
schedule and RNG state); a later call with the same recipe resumes from there.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np

from hw_bnn.data import Split, train_val_split
from hw_bnn.models import Recipe, build_model, model_input_shape


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


def evaluate(model, split: Split, batch_size: int = 1000) -> float:
    """Top-1 accuracy of a torch model on a split (eval mode, no gradient)."""
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

    from hw_bnn.errors import HwBnnError
    from hw_bnn.models import Recipe

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


def train(
    recipe: Recipe, out_dir, test_split: Split | None = None, progress: bool = True, state_dir=None, data_dir=None
) -> dict:
    """Train ``recipe`` into ``out_dir``; returns the summary stored in the checkpoint.

    The resumable per-epoch state lives in ``state_dir`` (default: ``out_dir``).  ``data_dir``
    holds the training data of the folder datasets (``mnist``, ``fashion-mnist``, ``cifar10``)."""
    import torch
    from tqdm import tqdm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t = recipe.train
    train_split, val_split = train_val_split(recipe.dataset, t["val_fraction"], seed=0, data_dir=data_dir)
    input_shape = model_input_shape(recipe, train_split.image_shape)

    _seed_all(int(t["seed"]))
    model = build_model(recipe, input_shape)
    opt = torch.optim.Adam(model.parameters(), lr=t["lr"], weight_decay=t["weight_decay"])
    epochs, bs = int(t["epochs"]), int(t["batch_size"])
    steps_per_epoch = math.ceil(len(train_split) / bs)
    total_steps = epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: _lr_factor(t["lr_schedule"], s, total_steps)
    )
    gen = torch.Generator().manual_seed(int(t["seed"]))
    log_rows: list[dict] = []
    start_epoch = 0

    partial = Path(state_dir or out_dir) / "checkpoint.partial.pt"
    if partial.exists():
        st = torch.load(partial, map_location="cpu", weights_only=False)
        if st.get("recipe") == recipe.to_dict():
            model.load_state_dict(st["state_dict"])
            opt.load_state_dict(st["optimizer"])
            sched.load_state_dict(st["scheduler"])
            gen.set_state(st["generator"])
            torch.set_rng_state(st["torch_rng"])
            log_rows = st["log"]
            start_epoch = st["epoch"]

    x_all = torch.from_numpy(train_split.inputs(input_shape).astype(np.float32))
    y_all = torch.from_numpy(train_split.y)
    loss_fn = torch.nn.CrossEntropyLoss()
    bar = tqdm(
        total=total_steps,
        initial=start_epoch * steps_per_epoch,
        desc=f"train {recipe.name}",
        disable=not progress,
        unit="step",
    )
    for epoch in range(start_epoch, epochs):
        model.train()
        perm = torch.randperm(len(train_split), generator=gen)
        loss_sum, seen = 0.0, 0
        for i in range(0, len(perm), bs):
            idx = perm[i : i + bs]
            out = model(x_all[idx])
            loss = loss_fn(out, y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            # keep latent binary weights in the clipping range of the sign's STE
            with torch.no_grad():
                for name, p in model.named_parameters():
                    if name.endswith("weight") and p.dim() in (2, 4):
                        p.clamp_(-1.0, 1.0)
            loss_sum += loss.item() * len(idx)
            seen += len(idx)
            bar.update(1)
        val_acc = evaluate(model, val_split)
        row = {"epoch": epoch + 1, "loss": loss_sum / seen, "val_acc": val_acc, "lr": sched.get_last_lr()[0]}
        log_rows.append(row)
        bar.set_postfix(loss=f"{row['loss']:.3f}", val_acc=f"{val_acc:.4f}")
        tmp = partial.with_suffix(".tmp")
        torch.save(
            {
                "recipe": recipe.to_dict(),
                "state_dict": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "generator": gen.get_state(),
                "torch_rng": torch.get_rng_state(),
                "log": log_rows,
                "epoch": epoch + 1,
            },
            tmp,
        )
        os.replace(tmp, partial)
    bar.close()

    summary = {
        "val_acc": evaluate(model, val_split),
        "val_images": len(val_split),
        "train_images": len(train_split),
    }
    if test_split is not None:
        summary["test_acc"] = evaluate(model, test_split)
        summary["test_images"] = len(test_split)
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
        w = csv.DictWriter(f, fieldnames=["epoch", "loss", "val_acc", "lr"])
        w.writeheader()
        w.writerows(log_rows)
    os.replace(out_dir / "train_log.csv.tmp", out_dir / "train_log.csv")
    os.replace(tmp, out_dir / "checkpoint.pt")
    partial.unlink(missing_ok=True)
    return summary

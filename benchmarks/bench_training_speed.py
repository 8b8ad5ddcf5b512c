"""Training speed: images per second of one training step loop, per recipe and per variant.

For each recipe, the network is built as :func:`hw_bnn.train.networks.build_model` builds it
and trained for ``--steps`` optimizer steps on batches of the built-in training images (the
recipe's batch size and augmentation), after ``--warmup`` untimed steps.  Variants:

* ``eager``: what ``hw-bnn train`` runs (PyTorch eager mode, NCHW);
* ``channels_last``: the same with the model and its inputs in ``torch.channels_last``
  (CNNs only);
* ``compile``: ``torch.compile(model)`` (the default inductor backend; the compile time is
  reported apart).

Prints a markdown table: images/s per variant and the speed-up over eager, with the torch
version, the thread count and the CPU capability.

Usage: python benchmarks/bench_training_speed.py [--models tfc-w1a1 cnv-w1a1] [--steps 30]
       [--threads 2] [--variants eager channels_last compile]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def measure(r, variant: str, steps: int, warmup: int) -> dict:
    """{images_per_s, compile_s} of ``steps`` timed training steps of recipe ``r``."""
    import torch
    import torch.nn.functional as F

    from hw_bnn.train.augment import Augment
    from hw_bnn.train.data import train_val_split
    from hw_bnn.train.networks import build_model
    from hw_bnn.train.optim import make_optimizer
    from hw_bnn.train.recipes import model_input_shape

    split, _ = train_val_split(r.dataset, 0.1, seed=0)
    shape = model_input_shape(r, split.image_shape)
    torch.manual_seed(0)
    model = build_model(r, shape)
    opt = make_optimizer(model, r, 0.0)
    x = torch.from_numpy(split.inputs(split.image_shape).astype("float32"))
    y = torch.from_numpy(split.y)
    bs = int(r.train["batch_size"])
    aug, gen = Augment.from_settings(r.train.get("augment")), torch.Generator().manual_seed(0)
    cl = variant == "channels_last" and len(shape) == 3
    if cl:
        model = model.to(memory_format=torch.channels_last)
    step_fn = torch.compile(model) if variant == "compile" else model
    model.train()

    def step(i):
        idx = torch.arange(i * bs, (i + 1) * bs) % len(x)
        xb = aug(x[idx], gen).reshape(bs, *shape)
        if cl:
            xb = xb.contiguous(memory_format=torch.channels_last)
        loss = F.cross_entropy(step_fn(xb), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()

    t0 = time.perf_counter()
    step(0)
    compile_s = time.perf_counter() - t0
    for i in range(1, warmup):
        step(i)
    t0 = time.perf_counter()
    for i in range(warmup, warmup + steps):
        step(i)
    return {"images_per_s": steps * bs / (time.perf_counter() - t0), "compile_s": compile_s}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["tfc-w1a1", "lfc-w1a1", "cnv-w1a1", "reactnet-mnist"])
    ap.add_argument("--variants", nargs="+", default=["eager", "channels_last", "compile"])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    import torch

    from hw_bnn.train.recipes import load_recipe

    torch.set_num_threads(args.threads)
    cap = torch.backends.cpu.get_cpu_capability()
    print(f"torch {torch.__version__}, {args.threads} threads, CPU capability {cap}, {args.steps} timed steps\n")
    print("| recipe | batch | " + " | ".join(f"{v} (images/s)" for v in args.variants) + " |")
    print("| --- | --- |" + " --- |" * len(args.variants))
    for name in args.models:
        r = load_recipe(name)
        rows = {
            v: measure(r, v, args.steps, args.warmup) for v in args.variants if r.arch != "fc" or v != "channels_last"
        }
        base = rows[args.variants[0]]["images_per_s"]
        cells = []
        for v in args.variants:
            if v not in rows:
                cells.append("n/a (no image layout)")
                continue
            ips = rows[v]["images_per_s"]
            extra = f", first step {rows[v]['compile_s']:.0f} s" if v == "compile" else ""
            cells.append(f"{ips:,.0f} ({ips / base:.2f}x{extra})")
        print(f"| {name} | {r.train['batch_size']} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

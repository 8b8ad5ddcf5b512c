"""Check a hw-bnn accelerator on the board through its driver (copied into a deploy folder as
``validate.py``, beside ``driver.py``).

    python3 validate.py --inputs x.npy --labels y.npy [--batch N]   # accuracy on your data
    python3 validate.py --self-check [--batch N]                    # bit-exact vs the golden model
    python3 validate.py --uart /dev/ttyUSB0 --self-check            # the same on an ECP5 board

``--inputs``: ``(N, *input_shape)`` integer codes (or flat ``(N, values)``) as the model takes them
(``io_shapes.json``); ``--labels``: ``(N,)`` class indices.  ``--self-check`` runs the packaged
``golden/inputs.npy`` and compares every output integer with ``golden/expected.npy`` (the
golden model's), printing the mismatched images and values and the first mismatch; it exits 1
on any mismatch.
"""

from __future__ import annotations

import argparse
import os
import time

import hwbnn_io
import numpy as np
from driver import BITFILE, open_overlay

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN_INPUTS = os.path.join("golden", "inputs.npy")
GOLDEN_EXPECTED = os.path.join("golden", "expected.npy")


def accuracy(accel, x, labels) -> dict:
    """Top-1 accuracy of the accelerator's decisions on ``x`` against ``labels``."""
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != len(x):
        raise SystemExit(f"validate: {len(x)} inputs but {len(labels)} labels")
    t0 = time.perf_counter()
    outputs = accel.execute(x)
    seconds = time.perf_counter() - t0
    correct = int((hwbnn_io.predict(outputs, accel.shapes) == labels).sum())
    return {"images": len(x), "correct": correct, "accuracy": correct / max(1, len(x)), "seconds": seconds}


def compare(outputs, expected) -> dict:
    """Mismatched images and values of ``outputs`` against ``expected``, and the first one."""
    got = np.asarray(outputs).reshape(len(outputs), -1)
    want = np.asarray(expected).reshape(len(expected), -1)
    if got.shape != want.shape:
        raise SystemExit(f"validate: outputs of shape {got.shape}, expected {want.shape}")
    bad = got != want
    res = {"images": len(got), "mismatched_images": int(bad.any(axis=1).sum()), "mismatched_values": int(bad.sum())}
    if bad.any():
        i, j = (int(v) for v in np.argwhere(bad)[0])
        res["first_mismatch"] = {"image": i, "index": j, "got": int(got[i, j]), "expected": int(want[i, j])}
    return res


def self_check(accel, folder=HERE) -> dict:
    """The accelerator's outputs on the folder's golden inputs against the golden outputs."""
    x = np.load(os.path.join(folder, GOLDEN_INPUTS))
    return compare(accel.execute(x), np.load(os.path.join(folder, GOLDEN_EXPECTED)))


def _args(argv):
    p = argparse.ArgumentParser(description="Accuracy or bit-exact self-check of the hw-bnn accelerator.")
    p.add_argument("--inputs", help="inputs .npy, (N, *input_shape) integer codes")
    p.add_argument("--labels", help="labels .npy, (N,) class indices")
    p.add_argument("--self-check", action="store_true", help="run golden/inputs.npy, compare with golden/expected.npy")
    p.add_argument("--batch", type=int, default=None, help="frames per DMA transfer (default: all, or 1000 at most)")
    p.add_argument("--bitfile", default=os.path.join(HERE, BITFILE))
    p.add_argument("--uart", help="an ECP5 board's serial port (e.g. /dev/ttyUSB0) instead of PYNQ")
    p.add_argument("--baud", type=int, default=3_000_000, help="the board's baud rate (its bitstream.json)")
    args = p.parse_args(argv)
    if args.self_check == bool(args.inputs):
        p.error("give either --self-check or --inputs (with --labels)")
    if args.inputs and not args.labels:
        p.error("--inputs needs --labels")
    return args


def main(argv=None, overlay=None) -> int:
    """Run the command line ``argv``; ``overlay``: an accelerator to use instead of the board's
    (anything with the driver's ``execute``, ``batch_size`` and ``shapes``)."""
    args = _args(argv)
    x = np.load(args.inputs) if args.inputs else np.load(os.path.join(HERE, GOLDEN_INPUTS))
    if overlay is not None:
        accel = overlay
    elif args.uart:
        from uart_host import UartAccelerator

        accel = UartAccelerator(args.uart, args.baud)
    else:
        accel = open_overlay(args.bitfile, 1)
    accel.batch_size = args.batch or max(1, min(len(x), 1000))
    if args.self_check:
        res = self_check(accel, HERE)
        print(
            f"self-check: {res['images']} images, {res['mismatched_images']} mismatched images, "
            f"{res['mismatched_values']} mismatched values"
        )
        if "first_mismatch" in res:
            m = res["first_mismatch"]
            print(f"first mismatch: image {m['image']}, output {m['index']}: got {m['got']}, expected {m['expected']}")
            return 1
        return 0
    res = accuracy(accel, x, np.load(args.labels))
    print(
        f"accuracy: {res['accuracy']:.4f} ({res['correct']} of {res['images']} images, "
        f"{res['images'] / max(res['seconds'], 1e-9):.1f} images/s with the host's packing)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

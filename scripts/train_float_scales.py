"""Train a model written with Brevitas' stock learned-float-scale quantizers, then import it.

A user's model as Brevitas' tutorials write it: ``QuantIdentity`` / ``QuantLinear`` /
``QuantReLU`` with the ``*Float`` quantizers (per-tensor and per-channel weight scales and
activation scales learned as floats, not powers of two), BatchNorm, biases.  784 -> 128 -> 64
-> 10, 4-bit weights and activations, trained with Adam (the loop of
``scripts/train_bnn_pynq_tfc.py``) on the 4,500 training images of the built-in MNIST 5k, on
``x = p / 255``.

Its export rounds its float sums, so it is not exactly a function of the integer
accumulators.  ``hw-bnn import`` compiles it to its integer semantics and, on the 500
held-out images with labels, proves every difference from the export a rounding tie, then
runs the C and RTL simulations against the golden model.  With the official 10k MNIST test
set present (``../shared/data/mnist``) the export is also compared on it (no simulation).

    .venv/bin/python scripts/train_float_scales.py [--epochs 5] [--out build/float-scales-mlp]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from train_bnn_pynq_tfc import train_and_import


def float_scale_mlp() -> torch.nn.Module:
    """784 -> 128 -> 64 -> 10 with Brevitas' stock float-scale quantizers, 4 bits."""
    import brevitas.quant as bq
    from brevitas.nn import QuantIdentity, QuantLinear, QuantReLU

    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Flatten(),
        QuantIdentity(act_quant=bq.Uint8ActPerTensorFloat, bit_width=8),
        QuantLinear(784, 128, bias=True, weight_quant=bq.Int8WeightPerTensorFloat, weight_bit_width=4),
        torch.nn.BatchNorm1d(128),
        QuantReLU(act_quant=bq.Uint8ActPerTensorFloat, bit_width=4),
        QuantLinear(128, 64, bias=True, weight_quant=bq.Int8WeightPerChannelFloat, weight_bit_width=4),
        torch.nn.BatchNorm1d(64),
        QuantReLU(act_quant=bq.Uint8ActPerTensorFloat, bit_width=4),
        QuantLinear(64, 10, bias=True, weight_quant=bq.Int8WeightPerTensorFloat, weight_bit_width=4),
    )


def test_set_ties(out: Path) -> dict | None:
    """The export against the integer graph on the official 10k test set, if present."""
    from qonnx.core.modelwrapper import ModelWrapper

    from hw_bnn.compile.input_domain import domain_of
    from hw_bnn.compile.near_ties import compare_with_export
    from hw_bnn.ir import IntegerNetwork
    from hw_bnn.train.data import default_test_dir, load_idx_split

    d = default_test_dir()
    if d is None:
        return None
    test = load_idx_split(d)
    x = test.inputs((1, 28, 28)).astype(np.float32)
    integer = ModelWrapper(str(out / "integer.onnx"))
    golden = IntegerNetwork.load(out / "golden.npz")
    res = compare_with_export(
        ModelWrapper(str(out / "imported.onnx")), integer, golden, domain_of(integer).to_model(x), x, 500
    )
    res["accuracy"] = float((golden.apply_output_affine(golden.run(x)).argmax(1) == test.y).mean())
    return res


def _line(name: str, t: dict) -> str:
    f = t["first"]
    first = (
        "-"
        if not f
        else f"image {f['image']} at {f['at']}"
        + (f", exact {f['exact']:.9g} +- {f['bound']:.2g}" if "element" in f else "")
    )
    return (
        f"{name}: {t['images']} images, {t['value_differences']} differ in output values, "
        f"{t['decision_differences']} in class, {t['near_ties']} near-ties ({t['code_differences']} in codes), "
        f"all proven; first: {first}"
    )


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--out", default="build/float-scales-mlp")
    args = ap.parse_args(argv)

    report = train_and_import(float_scale_mlp(), Path(args.out), args.epochs)
    ic, v, rt = report["import_check"], report["verify"], report["rtlsim"]
    print("float scales at " + ", ".join(f"{n['node']} ({n['what']})" for n in ic["float_scales"]["nodes"]))
    print(_line("held-out", ic["float_scales"]))
    print(
        f"accuracy {ic['accuracy_exported']:.4f} (export) / {ic['accuracy_integer']:.4f} (integer semantics); "
        f"golden vs C simulation {v['mismatches']} mismatches, golden vs RTL simulation {rt['mismatches']} "
        f"({rt['splits']['inputs']['interval_cycles']} cycles per frame)"
    )
    ties = test_set_ties(Path(args.out))
    if ties is not None:
        print(_line("official 10k test set", ties) + f"; accuracy {ties['accuracy']:.4f}")
    return 0 if v["mismatches"] == 0 and rt["mismatches"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

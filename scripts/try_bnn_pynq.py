"""Compile the canonical Brevitas ``bnn_pynq`` example networks with hw-bnn and check them.

Each model is built untrained (``model_with_cfg(name, pretrained=False)``), its BatchNorm
statistics and affine parameters are randomised (negative, zero and tiny gammas included),
it is exported with ``export_qonnx`` and imported (``hw-bnn import``, inputs ``x = p / 255``)
on random 8-bit images: the export against the integer graph, then the C and RTL simulations
against the golden model.  The builds stay in ``build/bnn-pynq-*``.

    .venv/bin/python scripts/try_bnn_pynq.py [NAME ...]     # default: the MLPs; "cnv": the CNVs
"""

from __future__ import annotations

import sys
import tempfile
import traceback
from pathlib import Path

import numpy as np
import torch

# the MLPs bnn_pynq ships (brevitas_examples/bnn_pynq/cfg: there is no LFC_2W2A)
MLPS = ["TFC_1W1A", "TFC_1W2A", "TFC_2W2A", "SFC_1W1A", "SFC_1W2A", "SFC_2W2A", "LFC_1W1A", "LFC_1W2A"]
CNVS = ["CNV_1W1A", "CNV_1W2A", "CNV_2W2A"]


def randomise_norms(model: torch.nn.Module, seed: int = 0) -> None:
    """Random running statistics and affine parameters for every BatchNorm / TensorNorm, with
    some negative, zero and tiny gammas."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if not hasattr(m, "running_mean") or not hasattr(m, "weight"):
                continue
            n = m.running_mean.numel()
            m.running_mean.copy_(torch.randn(n, generator=g) * 4)
            m.running_var.copy_(torch.rand(n, generator=g) * 16 + 0.1)
            w = torch.randn(n, generator=g)
            if n >= 4:
                w[0], w[1], w[2] = 0.0, 1e-7, -1e-7
            m.weight.copy_(w)
            m.bias.copy_(torch.randn(n, generator=g))
    model.eval()


def build(name: str, seed: int = 0):
    """(the randomised model in eval mode, its input shape)."""
    from brevitas_examples.bnn_pynq.models import model_with_cfg

    torch.manual_seed(seed)
    model, cfg = model_with_cfg(name, pretrained=False)
    randomise_norms(model, seed)
    shape = (1, 3, 32, 32) if name.upper().startswith("CNV") else (1, 1, 28, 28)
    return model, shape


def export(model, shape, path) -> None:
    from brevitas.export import export_qonnx

    export_qonnx(model, torch.zeros(shape), export_path=str(path), dynamo=False)


def try_one(name: str, out: Path, n_images: int = 16, cnv_images: int = 4) -> str:
    """``hw-bnn import`` of one model on random pixels, inputs x = p / 255 (the models' domain):
    the export vs the integer graph, the C simulation and the RTL simulation, mismatches of each.
    Each is folded to the fewest LUTs at 4,096 cycles per frame (an MLP) or 65,536 (a CNV), so
    that its C and RTL simulations compile in minutes, not hours."""
    import hw_bnn.flow as flow
    from hw_bnn.dse.folding import fold_for_target
    from hw_bnn.dse.units import mvu_layers
    from hw_bnn.flow.stages import compile_onnx

    model, shape = build(name)
    onnx_path = out / f"{name}.onnx"
    export(model, shape, onnx_path)
    cnv = name.upper().startswith("CNV")
    with tempfile.TemporaryDirectory() as tmp:
        _, golden = compile_onnx(onnx_path, Path(tmp))
    folding = fold_for_target(mvu_layers(golden), 65536 if cnv else 4096)
    n = cnv_images if cnv else n_images
    x = np.random.default_rng(0).integers(0, 256, size=(n, *shape[1:]))
    r = flow.import_model(onnx_path, out=out / name, inputs=x, input_domain="unit", folding=folding, quiet=True)
    ic, rt = r["import_check"], r["rtlsim"]
    kinds = ",".join(sorted({row["kind"] for row in r["layers"]}))
    return (
        f"{len(r['layers'])} layers ({kinds}); export vs integer: {ic['value_mismatches']} of {ic['images']}; "
        f"C sim: {r['verify']['mismatches']}; RTL sim: {rt.get('mismatches')} "
        f"({rt['splits']['inputs']['interval_cycles']} cycles/frame)"
    )


def main(argv: list[str]) -> int:
    names = argv or MLPS
    if names == ["cnv"]:
        names = CNVS
    failed = 0
    out = Path(tempfile.mkdtemp(prefix="bnn-pynq-", dir="build"))
    print(f"builds in {out}", flush=True)
    for name in names:
        try:
            print(f"{name}: {try_one(name, out)}", flush=True)
        except Exception as e:  # noqa: BLE001 - a survey: report and go on
            failed += 1
            print(f"{name}: FAILED {type(e).__name__}: {e}", flush=True)
            if "-v" in sys.argv:
                traceback.print_exc()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main([a for a in sys.argv[1:] if a != "-v"]))

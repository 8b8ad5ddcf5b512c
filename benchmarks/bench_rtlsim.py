"""RTL simulation (Verilator) against the C simulation and the golden model, per network.

For each recipe (trained by the flow into build/<recipe>, trained here if missing; --epochs
caps the training of a missing build) it writes the RTL (fully parallel, as the default hls4ml
project) and reports, on the same images:
  build s      the Verilator build from a cold cache (seconds)
  rtl img/s    RTL simulation throughput (simulator start-up and $readmemh included)
  csim img/s   the hls4ml C simulation (compile excluded)
  golden img/s the NumPy golden model
  cycles       the measured interval between frames, and the cost model's cycles per frame
and the golden-vs-RTL and golden-vs-C-sim mismatch counts.  The images are the official MNIST
test set when present (the first --images of it), else the built-in split.

Usage: python benchmarks/bench_rtlsim.py [--models tfc-w1a1 sfc-w1a1 ...] [--images 1000] [--csim-images 200]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_mlp import bench_split, ensure_build  # noqa: E402 (after the sys.path lines above)

MODELS = ["tfc-w1a1", "sfc-w1a1", "lfc-w1a1", "cnv-w1a1", "cnv-w1a2", "cnv-w2a2"]


def bench_model(model: str, x, data_dir, csim_images: int, epochs: int | None) -> dict:
    from hw_bnn.flow.stages import predicted_cycles
    from hw_bnn.hls4ml_ext.emit import emit_project
    from hw_bnn.ir import IntegerNetwork
    from hw_bnn.rtl import emit_rtl
    from hw_bnn.sim.csim import compile_csim, csim_predict
    from hw_bnn.sim.rtlsim import build_rtlsim, verify_rtl

    out = ROOT / "build" / model
    if epochs is not None and not (out / "golden.npz").exists():
        from hw_bnn.flow import FlowConfig, run_flow

        run_flow(FlowConfig(model=model, out=str(out), epochs=epochs, progress=True), ("train", "export", "compile"))
    build = ensure_build(model, data_dir, model=model)
    golden = IntegerNetwork.load(build / "golden.npz")
    x = x.reshape(len(x), *golden.input_shape)
    with tempfile.TemporaryDirectory(dir=ROOT / "build") as tmp:
        os.environ["HW_BNN_VERILATOR_CACHE"] = str(Path(tmp) / "cache")
        emit_rtl(golden, Path(tmp) / "rtl")
        t0 = time.perf_counter()
        build_rtlsim(Path(tmp) / "rtl")
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        rtl = verify_rtl(golden, Path(tmp) / "rtl", x)
        rtl_s = time.perf_counter() - t0
        model_c = emit_project(golden, Path(tmp) / "hls", tb_inputs=x[:10])
        xc = x[:csim_images]
        compile_csim(model_c)
        t0 = time.perf_counter()
        c = csim_predict(model_c, xc)
        csim_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    g = golden.run(x)
    golden_s = time.perf_counter() - t0
    predicted = predicted_cycles(golden, None)  # fully parallel
    return {
        "model": model,
        "build_s": build_s,
        "rtl_ips": len(x) / rtl_s,
        "csim_ips": len(xc) / csim_s,
        "golden_ips": len(x) / golden_s,
        "rtl_mismatches": rtl["mismatched_images"],
        "csim_mismatches": int((c != g[: len(xc)]).any(axis=tuple(range(1, g.ndim))).sum()),
        "cycles": rtl["interval_cycles"],
        "predicted": predicted,
        "images": len(x),
        "csim_images": len(xc),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=MODELS)
    ap.add_argument("--images", type=int, default=1000, help="images for the RTL and the golden model")
    ap.add_argument("--csim-images", type=int, default=200, help="images for the C simulation")
    ap.add_argument("--epochs", type=int, default=None, help="train a missing build for this many epochs")
    args = ap.parse_args(argv)
    split, src, data_dir = bench_split()
    print(f"images: {src}; RTL and golden on the first {args.images}, C simulation on {args.csim_images}")
    rows = [bench_model(m, split.x[: args.images], data_dir, args.csim_images, args.epochs) for m in args.models]
    print()
    print(
        "| model | Verilator build s | RTL img/s | C-sim img/s | golden img/s | RTL mismatches | C-sim mismatches "
        "| cycles/frame measured | cost model |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['build_s']:.1f} | {r['rtl_ips']:.0f} | {r['csim_ips']:.0f} | {r['golden_ips']:.0f} "
            f"| {r['rtl_mismatches']}/{r['images']} | {r['csim_mismatches']}/{r['csim_images']} | {r['cycles']} "
            f"| {r['predicted']} |"
        )


if __name__ == "__main__":
    main()

"""RTL simulation (Verilator) against the C simulation and the golden model, per network.

For each recipe (its build in --builds/<recipe>, trained, exported and compiled by the flow
there if missing; --epochs caps the training of a missing build) it writes the RTL (fully
parallel, as the default hls4ml project, weights where the cost model puts them) and reports,
on the same images:
  build s      the Verilator build from a cold cache (seconds)
  rtl img/s    RTL simulation throughput (simulator start-up and $readmemh included)
  csim img/s   the hls4ml C simulation (compile excluded)
  golden img/s the NumPy golden model
  cycles       the measured interval between frames and latency of a frame, and the cost
               model's cycles per frame and (first-order) latency
and the golden-vs-RTL and golden-vs-C-sim mismatch counts.  The images are the official MNIST
test set when present (the first --images of it), else the built-in split; a network whose RTL
simulation of --images would take more than --max-minutes (timed on the first --fallback-images)
runs on --fallback-images only, and the table says so.

Usage: python benchmarks/bench_rtlsim.py [--models tfc-w1a1 ...] [--images 10000] [--csim-images 200]
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

from bench_mlp import bench_split  # noqa: E402 (after the sys.path lines above)

MODELS = sorted(p.stem for p in (ROOT / "models").glob("*.yaml"))


def _build(model: str, builds: Path, data_dir, epochs: int | None) -> Path:
    out = builds / model
    if not (out / "golden.npz").exists():
        from hw_bnn.flow import FlowConfig, run_flow

        cfg = FlowConfig(model=model, out=str(out), epochs=epochs, progress=True)
        cfg.data_dir = str(data_dir) if data_dir and "digits" not in model else None
        run_flow(cfg, ("train", "export", "compile"))
    return out


def _rtl_images(golden, rtl_dir, x, args) -> tuple[dict, float]:
    """verify_rtl on the first --fallback-images of x, then on all of x unless that run says all
    would take over --max-minutes (simulator start-up included, so the estimate errs long)."""
    from hw_bnn.sim.rtlsim import verify_rtl

    def timed(images):
        t0 = time.perf_counter()
        res = verify_rtl(golden, rtl_dir, images)
        return res, time.perf_counter() - t0

    first = timed(x[: args.fallback_images])
    if len(x) <= args.fallback_images or first[1] * len(x) / args.fallback_images > 60 * args.max_minutes:
        return first
    return timed(x)


def bench_model(model: str, x, data_dir, args) -> dict:
    from hw_bnn.dse.cost import network_cost
    from hw_bnn.dse.units import mvu_layers
    from hw_bnn.flow.stages import weight_memories
    from hw_bnn.hls4ml_ext.emit import emit_project
    from hw_bnn.ir import IntegerNetwork
    from hw_bnn.rtl import emit_rtl
    from hw_bnn.sim.csim import compile_csim, csim_predict
    from hw_bnn.sim.rtlsim import build_rtlsim

    build = _build(model, Path(args.builds), data_dir, args.epochs)
    golden = IntegerNetwork.load(build / "golden.npz")
    if "digits" in model:  # the 8x8 digits network: its own validation split
        from hw_bnn.train.data import train_val_split

        x = train_val_split("digits")[1].x
    x = x.reshape(len(x), *golden.input_shape)
    csim_images = args.csim_images
    with tempfile.TemporaryDirectory(dir=ROOT / "build") as tmp:
        os.environ["HW_BNN_VERILATOR_CACHE"] = str(Path(tmp) / "cache")
        emit_rtl(golden, Path(tmp) / "rtl", None, weight_memories(golden, None))
        t0 = time.perf_counter()
        build_rtlsim(Path(tmp) / "rtl")
        build_s = time.perf_counter() - t0
        rtl, rtl_s = _rtl_images(golden, Path(tmp) / "rtl", x, args)
        model_c = emit_project(golden, Path(tmp) / "hls", tb_inputs=x[:10])
        xc = x[:csim_images]
        compile_csim(model_c)
        t0 = time.perf_counter()
        c = csim_predict(model_c, xc)
        csim_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    g = golden.run(x)
    golden_s = time.perf_counter() - t0
    cost = network_cost(mvu_layers(golden), None)  # fully parallel
    return {
        "model": model,
        "build_s": build_s,
        "rtl_ips": rtl["images"] / rtl_s,
        "csim_ips": len(xc) / csim_s,
        "golden_ips": len(x) / golden_s,
        "rtl_mismatches": rtl["mismatched_images"],
        "csim_mismatches": int((c != g[: len(xc)]).any(axis=tuple(range(1, g.ndim))).sum()),
        "cycles": rtl["interval_cycles"],
        "latency": rtl["latency_cycles"],
        "predicted": cost.max_cycles,
        "predicted_latency": cost.latency_cycles,
        "images": rtl["images"],
        "csim_images": len(xc),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=MODELS)
    ap.add_argument("--images", type=int, default=10000, help="images for the RTL and the golden model")
    ap.add_argument("--fallback-images", type=int, default=1000, help="images where --images would take too long")
    ap.add_argument("--max-minutes", type=float, default=10.0, help="the RTL simulation time that is too long")
    ap.add_argument("--csim-images", type=int, default=200, help="images for the C simulation")
    ap.add_argument("--builds", default=str(ROOT / "build"), help="folder of the builds, one per recipe")
    ap.add_argument("--epochs", type=int, default=None, help="train a missing build for this many epochs")
    args = ap.parse_args(argv)
    split, src, data_dir = bench_split()
    print(f"images: {src}; RTL and golden on the first {args.images}, C simulation on {args.csim_images}")
    rows = []
    for m in args.models:
        rows.append(bench_model(m, split.x[: args.images], data_dir, args))
        r = rows[-1]
        print(f"{m}: {r['rtl_mismatches']}/{r['images']} RTL mismatches, {r['cycles']} cycles/frame", flush=True)
    print()
    print(
        "| model | Verilator build s | RTL img/s | C-sim img/s | golden img/s | RTL mismatches | C-sim mismatches "
        "| cycles/frame measured | cost model | latency measured | cost model (first order) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['build_s']:.1f} | {r['rtl_ips']:.0f} | {r['csim_ips']:.0f} | {r['golden_ips']:.0f} "
            f"| {r['rtl_mismatches']}/{r['images']} | {r['csim_mismatches']}/{r['csim_images']} | {r['cycles']} "
            f"| {r['predicted']} | {r['latency']} | {r['predicted_latency']} |"
        )


if __name__ == "__main__":
    main()

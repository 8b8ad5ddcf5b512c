"""Throughput of the golden model against qonnx and the hls4ml C simulation, TFC/SFC/LFC.

For each network (trained by the flow into build/<net>, trained here if missing) it runs
the same images through:
  golden      hw_bnn's NumPy golden model (golden.npz)
  qonnx-int   qonnx execute_onnx on integer.onnx, batched via ChangeBatchSize
  qonnx-exp   qonnx execute_onnx on exported.onnx, batched the same way
  csim        the hls4ml C simulation's predict (our registered BNN layers, g++ -O3 as hls4ml builds it)
and, as a roofline, this machine's float32 GEMM (NumPy/BLAS) on the same MAC count:
the network's layer shapes multiplied as dense float32 matrices at the same batch.
Every engine's integer outputs are checked against the golden model (0 mismatches).

Usage: python benchmarks/bench_mlp.py [--nets tfc sfc lfc] [--images 10000] [--csim-images 2000]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def best_of(fn, repeat):
    times = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def ensure_build(net: str, data_dir, model: str | None = None) -> Path:
    """build/<net> trained, exported and compiled by the flow (recipe ``model``, default <net>-w1a1)."""
    from hw_bnn.flow import FlowConfig, run_flow

    out = ROOT / "build" / net
    cfg = FlowConfig(
        model=model or f"{net}-w1a1", out=str(out), data_dir=str(data_dir) if data_dir else None, progress=True
    )
    if (out / "flow.json").exists():
        cfg = FlowConfig.load(str(out), progress=True)
    run_flow(cfg, ("train", "export", "compile"))  # each stage skipped when up to date
    return out


def bench_split():
    """The images every benchmark runs: the official MNIST test set when present, else the
    built-in training split.  Returns (split, description) and prints the machine line."""
    from hw_bnn.train.data import default_test_dir, load_idx_split, train_val_split

    data_dir = default_test_dir()
    if data_dir is not None:
        split = load_idx_split(data_dir)
        src = f"official MNIST test set ({len(split)} images)"
    else:
        split, _ = train_val_split("mnist5k")
        src = f"built-in MNIST 5k training split ({len(split)} images)"
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}")
    return split, src, data_dir


def gemm_roofline(golden, n: int, repeat: int) -> float:
    """Seconds for float32 GEMMs of the network's shapes at batch n (same MAC count)."""
    from hw_bnn.ir import XnorDenseLayer

    rng = np.random.default_rng(0)
    mats = [
        (
            rng.standard_normal((n, layer.mw), dtype=np.float32),
            rng.standard_normal((layer.mw, layer.mh), dtype=np.float32),
        )
        for layer in golden.layers
        if isinstance(layer, XnorDenseLayer)
    ]
    t, _ = best_of(lambda: [a @ b for a, b in mats], repeat)
    return t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nets", nargs="+", default=["tfc", "sfc", "lfc"])
    ap.add_argument("--images", type=int, default=10000, help="images for golden/qonnx/GEMM (default 10000)")
    ap.add_argument("--csim-images", type=int, default=2000, help="images for the C simulation (default 2000)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)

    from qonnx.core.modelwrapper import ModelWrapper

    from hw_bnn.compile.qonnx_run import run_qonnx
    from hw_bnn.hls4ml_ext.emit import emit_project
    from hw_bnn.ir import IntegerNetwork, XnorDenseLayer
    from hw_bnn.sim.csim import compile_csim, csim_predict

    split, src, data_dir = bench_split()
    x = split.x[: args.images]
    xf = x.astype(np.float32)
    print(f"images: {len(x)} from the {src}; C-sim on the first {min(args.csim_images, len(x))}\n")

    rows = []
    for net in args.nets:
        build = ensure_build(net, data_dir)
        golden = IntegerNetwork.load(build / "golden.npz")
        macs = sum(layer.mw * layer.mh for layer in golden.layers if isinstance(layer, XnorDenseLayer))
        t_g, acc = best_of(lambda: golden.run(x), args.repeat)
        t_gemm = gemm_roofline(golden, len(x), args.repeat)
        integer = ModelWrapper(str(build / "integer.onnx"))
        exported = ModelWrapper(str(build / "exported.onnx"))
        t_qf, acc_qf = best_of(lambda: run_qonnx(integer, xf), 1)
        t_qe, _ = best_of(lambda: run_qonnx(exported, xf), 1)
        nc = min(args.csim_images, len(x))
        hls_dir = build / "bench_hls"
        hls_model = emit_project(golden, hls_dir, backend="Vitis", reuse_factor=1)
        compile_csim(hls_model)
        t_cs, acc_cs = best_of(lambda: csim_predict(hls_model, x[:nc]), 1)
        mism_qf = int(np.any(acc_qf != acc, axis=1).sum())
        mism_cs = int(np.any(acc_cs != acc[:nc], axis=1).sum())
        accuracy = float((golden.predict(x) == split.y[: len(x)]).mean())
        ips = {
            k: n / t
            for k, n, t in (
                ("golden", len(x), t_g),
                ("qf", len(x), t_qf),
                ("qe", len(x), t_qe),
                ("cs", nc, t_cs),
                ("gemm", len(x), t_gemm),
            )
        }
        rows.append((net, macs, accuracy, ips, mism_qf, mism_cs))

    hdr = (
        f"{'net':4s} {'MACs/img':>9s} {'acc':>7s} | {'golden':>9s} {'qonnx-int':>10s} {'qonnx-exp':>9s} {'csim':>8s} "
        f"{'f32 GEMM':>9s} | {'gold/qint':>10s} {'gold/csim':>9s} {'roofline%':>9s} | mismatches"
    )
    print("images per second (higher is better)")
    print(hdr)
    print("-" * len(hdr))
    for net, macs, accuracy, ips, mqf, mcs in rows:
        print(
            f"{net:4s} {macs:9d} {accuracy:7.4f} | {ips['golden']:9.0f} {ips['qf']:10.0f} {ips['qe']:9.0f} "
            f"{ips['cs']:8.0f} {ips['gemm']:9.0f} | "
            f"{ips['golden'] / ips['qf']:9.1f}x {ips['golden'] / ips['cs']:8.1f}x "
            f"{100 * ips['golden'] / ips['gemm']:8.1f}% | "
            f"qonnx {mqf}, csim {mcs}"
        )
    return rows


if __name__ == "__main__":
    main()

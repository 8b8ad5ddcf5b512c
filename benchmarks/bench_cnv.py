"""Throughput of the golden model against qonnx and the hls4ml C simulation, CNV w1a1/w1a2/w2a2.

For each CNV variant (trained by the flow into build/cnv-<variant>, trained here if missing) it
runs the same images through:
  golden      hw_bnn's NumPy golden model (golden.npz: im2col + exact float32 BLAS)
  qonnx-int   qonnx execute_onnx on integer.onnx, batched via ChangeBatchSize
  csim        the hls4ml C simulation (io_stream, our registered conv / pool / MVU layers)
and, as a roofline, this machine's float32 GEMM (NumPy/BLAS) with the same shapes: each
convolution as its im2col product (N*Ho*Wo, k*k*C) x (k*k*C, C_out), each dense layer as
(N, MW) x (MW, MH).  The integer outputs of qonnx and the C-sim are checked against the
golden model (mismatch counts in the table).

Usage: python benchmarks/bench_cnv.py [--variants w1a1 w1a2 w2a2] [--images 2000] [--csim-images 200]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_mlp import bench_split, best_of, ensure_build  # noqa: E402 (after the sys.path lines above)


def gemm_shapes(golden) -> list[tuple[int, int, int]]:
    """(rows per image, K, N) of every matrix product in the network."""
    shapes = []
    for layer in golden.layers:
        if layer.kind == "conv":
            ho, wo, _ = layer.out_shape
            shapes.append((ho * wo, layer.fan_in, layer.n_out))
        elif layer.kind in ("xnor_dense", "int_dense"):
            shapes.append((1, layer.mw, layer.mh))
    return shapes


def gemm_roofline(shapes, n: int, repeat: int) -> float:
    rng = np.random.default_rng(0)
    mats = [
        (rng.standard_normal((n * r, k), dtype=np.float32), rng.standard_normal((k, m), dtype=np.float32))
        for r, k, m in shapes
    ]
    t, _ = best_of(lambda: [a @ b for a, b in mats], repeat)
    return t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", nargs="+", default=["w1a1", "w1a2", "w2a2"])
    ap.add_argument("--images", type=int, default=2000, help="images for golden/qonnx/GEMM (default 2000)")
    ap.add_argument("--csim-images", type=int, default=200, help="images for the C simulation (default 200)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)

    from qonnx.core.modelwrapper import ModelWrapper

    from hw_bnn.compile.qonnx_run import run_qonnx
    from hw_bnn.hls4ml_ext.emit import emit_project
    from hw_bnn.ir import IntegerNetwork
    from hw_bnn.sim.csim import compile_csim, csim_predict

    split, src, data_dir = bench_split()
    x = split.inputs((1, 28, 28))[: args.images]
    print(f"images: {len(x)} from the {src}; C-sim on the first {min(args.csim_images, len(x))}\n")

    rows = []
    for v in args.variants:
        model = f"cnv-{v}"
        build = ensure_build(model, data_dir, model)
        golden = IntegerNetwork.load(build / "golden.npz")
        shapes = gemm_shapes(golden)
        macs = sum(r * k * m for r, k, m in shapes)
        t_g, acc = best_of(lambda: golden.run(x), args.repeat)
        t_gemm = gemm_roofline(shapes, len(x), args.repeat)
        integer = ModelWrapper(str(build / "integer.onnx"))
        t_qf, acc_qf = best_of(lambda: run_qonnx(integer, x.astype(np.float32), batch_size=500), 1)
        nc = min(args.csim_images, len(x))
        hls_model = emit_project(golden, build / "bench_hls", backend="Vitis", reuse_factor=1)
        compile_csim(hls_model)
        t_cs, acc_cs = best_of(lambda: csim_predict(hls_model, x[:nc]), 1)
        mism_qf = int(np.any(acc_qf != acc, axis=1).sum())
        mism_cs = int(np.any(acc_cs != acc[:nc], axis=1).sum())
        accuracy = float((golden.predict(x) == split.y[: len(x)]).mean())
        ips = {"golden": len(x) / t_g, "qf": len(x) / t_qf, "cs": nc / t_cs, "gemm": len(x) / t_gemm}
        rows.append((model, macs, accuracy, ips, mism_qf, mism_cs))

    hdr = (
        f"{'net':9s} {'MACs/img':>9s} {'acc':>7s} | {'golden':>8s} {'qonnx-int':>10s} {'csim':>7s} {'f32 GEMM':>9s} | "
        f"{'gold/qint':>10s} {'gold/csim':>9s} {'roofline%':>9s} | mismatches"
    )
    print("images per second (higher is better)")
    print(hdr)
    print("-" * len(hdr))
    for model, macs, accuracy, ips, mqf, mcs in rows:
        print(
            f"{model:9s} {macs:9d} {accuracy:7.4f} | {ips['golden']:8.0f} {ips['qf']:10.1f} {ips['cs']:7.1f} "
            f"{ips['gemm']:9.0f} | "
            f"{ips['golden'] / ips['qf']:9.1f}x {ips['golden'] / ips['cs']:8.1f}x "
            f"{100 * ips['golden'] / ips['gemm']:8.1f}% | "
            f"qonnx {mqf}, csim {mcs}"
        )
    return rows


if __name__ == "__main__":
    main()

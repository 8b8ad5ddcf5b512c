"""Wall time of one small design-space sweep (``hw-bnn explore``) serially and on Ray.

The sweep: tiny binary / 2-bit MLPs on the 8x8 digits (an inline recipe, --epochs epochs),
``--points`` network points (bits w1a1 / w1a2 x hidden widths), each folded for the --targets
cycle targets on the xc7z020 and checked against the hls4ml C simulation on --csim-limit
images per folding (one g++ build per distinct folding: two per point by default).  Each engine
setting runs the whole sweep from scratch in a fresh folder (training, export, compile, C-sim
builds), so the times include everything: for Ray the start of a local instance and of its
worker processes too.

The tables of every run must be identical (``results.csv`` byte for byte); the benchmark fails
otherwise.  Speedup is serial wall time / this wall time; it is bounded by the CPU cores (on a
2-core machine, 2 workers at most), and the C-sim g++ builds dominate.

Usage: python benchmarks/bench_explore.py [--points 4] [--workers 1 2] [--epochs 10] [--targets 64 1024]
                                          [--csim-limit 20] [--out build/bench-explore] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hw_bnn.explore.sweep import run_sweep  # noqa: E402

WIDTHS = [16, 32, 48, 64, 96, 128, 192, 256]


def make_spec(points: int, epochs: int, targets: list[int], csim_limit: int) -> dict:
    bits = ["w1a1", "w1a2"] if points > 1 else ["w1a1"]
    n_widths = -(-points // len(bits))
    return {
        "name": "bench-explore",
        "recipes": [
            {
                "name": "bench-mlp",
                "arch": "fc",
                "hidden": [32, 32],
                "input_bits": 1,
                "dataset": "digits",
                "num_classes": 10,
                "train": {"epochs": epochs, "batch_size": 32, "lr": 0.01, "seed": 0},
            }
        ],
        "bits": bits,
        "widths": WIDTHS[:n_widths],
        "targets": {"cycles": targets, "clock_mhz": 100},
        "devices": ["xc7z020"],
        "csim_limit": csim_limit,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=4, help="network points (default 4: w1a1/w1a2 x 2 widths)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Ray worker counts to time (default: 1 2)")
    ap.add_argument("--epochs", type=int, default=10, help="training epochs per network (default 10)")
    ap.add_argument("--targets", type=int, nargs="+", default=[64, 1024], help="cycle targets (default: 64 1024)")
    ap.add_argument(
        "--csim-limit", type=int, default=20, help="C-simulation images per folding (default 20; 0: no C-sim)"
    )
    ap.add_argument("--out", default="build/bench-explore", help="scratch folder (default build/bench-explore)")
    ap.add_argument("--keep", action="store_true", help="keep the sweep folders")
    args = ap.parse_args(argv)
    if args.points < 1 or args.points > 2 * len(WIDTHS):
        ap.error(f"--points must be 1..{2 * len(WIDTHS)}")

    try:
        import ray  # noqa: F401

        have_ray = True
    except ImportError:
        have_ray = False
        print("Ray is not installed: timing the serial engine only", file=sys.stderr)

    spec = make_spec(args.points, args.epochs, args.targets, args.csim_limit)
    runs = [("serial", None)] + ([("ray", w) for w in args.workers] if have_ray else [])
    root = Path(args.out)
    results = []
    for engine, workers in runs:
        out = root / (engine if workers is None else f"{engine}-{workers}")
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        res = run_sweep(spec, out, engine=engine, workers=workers, progress=False)
        wall = time.perf_counter() - t0
        if res.failed:
            print(f"{engine} workers={workers}: {res.failed} failed points: {res.rows[0]['error']}", file=sys.stderr)
            return 1
        results.append((engine, workers, wall, (out / "results.csv").read_bytes(), out))
        print(f"  {engine:6s} workers={workers or '-'}: {wall:.1f} s", file=sys.stderr)

    base = results[0][2]
    same = all(r[3] == results[0][3] for r in results)
    n_fold = len(spec["targets"]["cycles"])
    print(
        f"\nsweep: {args.points} network points x {n_fold} target(s) x 1 device, {args.epochs} epochs, "
        f"C-sim on {args.csim_limit} images per folding; {os.cpu_count()} CPU cores\n"
    )
    print("| engine | workers | wall s | speedup vs serial |")
    print("| --- | ---: | ---: | ---: |")
    for engine, workers, wall, _, _ in results:
        print(f"| {engine} | {workers or 1} | {wall:.1f} | {base / wall:.2f}x |")
    print(f"\nresults.csv identical across engines: {'yes' if same else 'NO'}")
    if not args.keep:
        for *_, out in results:
            shutil.rmtree(out, ignore_errors=True)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

"""An ECP5 bitstream for every network of models/: ``hw-bnn bitstream`` per trained build.

For each recipe with a build in --builds/<recipe> (made by ``hw-bnn flow``), it runs
``hw-bnn bitstream --out <build> --board <board>`` (the network folded to keep up with the UART
link, the whole board simulated against the golden model, Yosys, nextpnr, ecppack) with a time
limit, and prints per network: the utilisation of the placed design, the post-route Fmax and the
clock, the cycles per frame, frames per second of the accelerator and of the link, and the
wall time.  A network that does not fit the board, or does not finish, says so.

Usage: python benchmarks/bench_bitstreams.py [--board ulx3s-85f] [--models ...] [--timeout 1200]
       [--clock cnv-w1a1=60 ...]   (the clock to aim at, MHz; default the board's target)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = sorted(p.stem for p in (ROOT / "models").glob("*.yaml"))


def one(model: str, build: Path, board: str, timeout: float, clock_mhz: float | None = None) -> dict:
    cmd = [str(ROOT / ".venv" / "bin" / "hw-bnn"), "bitstream", "--out", str(build), "--board", board, "--quiet"]
    cmd += ["--clock-mhz", f"{clock_mhz:g}"] if clock_mhz else []
    t0 = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"model": model, "error": f"did not finish within {timeout:.0f} s"}
    row = {"model": model, "wall_seconds": round(time.perf_counter() - t0, 1)}
    if done.returncode:
        said = [line for line in done.stderr.strip().splitlines() if line.strip()]
        return {**row, "error": " / ".join(said[-6:]) if said else "failed"}
    return {**row, **json.loads((build / f"bitstream-{board}" / "bitstream.json").read_text())}


def table(rows: list[dict]) -> str:
    head = (
        f"{'network':24s} {'LUT4':>7s} {'FF':>7s} {'EBR':>4s} {'MULT':>4s} {'Fmax':>6s} {'clock':>6s} "
        f"{'cycles':>7s} {'FPS comp':>9s} {'FPS link':>8s} {'wall s':>6s}"
    )
    out = [head, "-" * len(head)]
    for r in rows:
        if "error" in r:
            out.append(f"{r['model']:24s} {r['error']}")
            continue
        u = r["utilisation"]
        used = {k: u.get(k, {}).get("used", 0) for k in ("TRELLIS_COMB", "TRELLIS_FF", "DP16KD", "MULT18X18D")}
        out.append(
            f"{r['model']:24s} {used['TRELLIS_COMB']:7,d} {used['TRELLIS_FF']:7,d} {used['DP16KD']:4d} "
            f"{used['MULT18X18D']:4d} {r['fmax_mhz']:6.1f} {r['clock_mhz']:6.1f} {r['cycles_per_frame']:7d} "
            f"{r['fps_compute']:9,.0f} {r['fps_link']:8,.0f} {r['wall_seconds']:6.0f}"
        )
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--board", default="ulx3s-85f")
    ap.add_argument("--models", nargs="*", default=MODELS)
    ap.add_argument("--builds", default=str(ROOT / "build" / "trained"))
    ap.add_argument("--timeout", type=float, default=1200.0, help="seconds per network")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "bitstreams.json"))
    ap.add_argument("--clock", nargs="*", default=[], metavar="MODEL=MHZ", help="the clock to aim at per network")
    args = ap.parse_args(argv)
    clocks = {m: float(f) for m, f in (c.split("=", 1) for c in args.clock)}
    rows = []
    for model in args.models:
        build = Path(args.builds) / model
        if not (build / "golden.npz").is_file():
            rows.append({"model": model, "error": f"no trained build in {build}"})
            continue
        print(f"[bench] {model}", flush=True)
        rows.append(one(model, build, args.board, args.timeout, clocks.get(model)))
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

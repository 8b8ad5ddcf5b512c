"""One deep FIFO on an ECP5, in its two block-RAM forms: a single array read through a register
slice (Yosys stacks the block RAMs in depth and selects among them after their clock-to-out),
and banks read through per-bank registers (``hwbnn_fifo`` with ``BANKS``; what the emitter gives
a FIFO deeper than one block RAM).  The FIFO sits between registers, so the clock's Fmax is its
own.  For each form: Yosys ``synth_ecp5`` cells (LUT4 counts a CCU2C as two, as
``hw-bnn synth`` does), then nextpnr-ecp5's post-route Fmax and the seconds each tool took.

Default: a ReActNet residual's FIFO (a whole frame of 25,090 beats of 18 bits) on the
LFE5U-85F-6 of the ULX3S.

Usage: python benchmarks/bench_fifo.py [--depth 25090] [--bits 18] [--out build/bench_fifo]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.unit_probe import ULX3S_85F, measure  # noqa: E402 (after the sys.path line above)
from hw_bnn.resources import rtl_kernels_dir  # noqa: E402
from hw_bnn.rtl.emit import fifo_params  # noqa: E402
from hw_bnn.synth.tools import tool_version  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--depth", type=int, default=25090, help="beats (default 25090)")
    ap.add_argument("--bits", type=int, default=18, help="bits per beat (default 18)")
    ap.add_argument("--out", default="build/bench_fifo", help="work folder, not under /tmp (yowasp)")
    args = ap.parse_args(argv)
    banked = fifo_params(args.depth, args.bits)
    if "BANKS" not in banked:
        ap.error(f"{args.depth} beats of {args.bits} bits fit one block RAM: nothing to bank")
    forms = {"one array": {k: banked[k] for k in ("DEPTH", "BITS", "OUT_REG")}, "banked": banked}
    print(
        f"hwbnn_fifo {args.depth} x {args.bits} on LFE5U-85F-6; {tool_version('yosys')}, {tool_version('nextpnr-ecp5')}"
    )
    print(f"{'form':<10} {'banks':>5} {'LUT4':>6} {'FF':>6} {'EBR':>4} {'Fmax MHz':>9} {'yosys s':>8} {'nextpnr s':>9}")
    for name, params in forms.items():
        work = Path(args.out) / name.replace(" ", "_")
        m = measure(work, rtl_kernels_dir() / "hwbnn_fifo.sv", params, args.bits, args.bits, ULX3S_85F)
        banks = params.get("BANKS", 1)
        row = f"{name:<10} {banks:>5} {m['lut4']:>6,} {m['ff']:>6,} {m['ebr']:>4} {m['fmax']:>9.1f}"
        print(row + f" {m['s'][0]:>8.0f} {m['s'][1]:>9.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

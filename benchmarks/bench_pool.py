"""One max-pooling window generator (``hwbnn_window`` with ``POOL = 1``) on an ECP5, alone between
registers (``unit_probe.py``): LUT4, FF, EBR, the post-route Fmax and the tools' seconds.

Default: ftbnn-mnist's ``pool1`` (2 x 2, stride 2, over a 28 x 28 x 16 image of signed 19-bit
codes), whose line buffer's EBR made the network's critical path before ed433b7, with 8 codes a
beat instead of the network's 16: the probe's ports must fit the package's 365 pins.
``--kernel`` measures another version of ``hwbnn_window.sv`` beside the project's, e.g. an
older one from git, in the same run.

Usage: python benchmarks/bench_pool.py [--kernel OLD.sv ...] [--out build/bench_pool]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.unit_probe import ULX3S_85F, kernels, measure  # noqa: E402 (after the sys.path line above)
from hw_bnn.resources import rtl_kernels_dir  # noqa: E402
from hw_bnn.synth.tools import tool_version  # noqa: E402

POOL1 = {"H": 28, "W": 28, "C": 16, "K": 2, "S": 2, "PAD": 0, "PAD_VALUE": 0, "POOL": 1, "SIGNED": 1}
POOL1.update({"BITS": 19, "IN_ELEMS": 8, "OUT_ELEMS": 8})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernel", nargs="*", default=[], help="other hwbnn_window.sv files to measure too")
    ap.add_argument("--out", default="build/bench_pool", help="work folder, not under /tmp (yowasp)")
    args = ap.parse_args(argv)
    found = kernels(ap, rtl_kernels_dir() / "hwbnn_window.sv", args.kernel)
    bits = POOL1["BITS"] * POOL1["IN_ELEMS"]
    print(f"hwbnn_window {POOL1} on LFE5U-85F-6; {tool_version('yosys')}, {tool_version('nextpnr-ecp5')}")
    print(f"{'kernel':<10} {'LUT4':>6} {'FF':>6} {'EBR':>4} {'Fmax MHz':>9} {'yosys s':>8} {'nextpnr s':>9}  file")
    for name, path in found.items():
        m = measure(Path(args.out) / name.replace(" ", "_"), path, POOL1, bits, bits, ULX3S_85F)
        row = f"{name:<10} {m['lut4']:>6,} {m['ff']:>6,} {m['ebr']:>4} {m['fmax']:>9.1f}"
        print(row + f" {m['s'][0]:>8.0f} {m['s'][1]:>9.0f}  {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

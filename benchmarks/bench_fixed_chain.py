"""One fixed-point chain (``hwbnn_fixed_chain``) on an ECP5, alone between registers
(``unit_probe.py``): LUT4, FF, MULT18, the post-route Fmax and the tools' seconds.

Default: ftbnn-mnist's ``fixed1`` (t of 26 bits, slopes of 21, 16 channels), whose product made
the network's critical path on ed433b7, with 4 values a beat instead of 16 (the probe's ports
must fit the package's pins; four beats a frame, so the slopes are chosen per beat and the
products are real multipliers) and random parameters (seed 0).  ``--kernel`` measures another
version of ``hwbnn_fixed_chain.sv`` beside the project's, e.g. an older one from git.

Usage: python benchmarks/bench_fixed_chain.py [--kernel OLD.sv ...] [--out build/bench_fixed_chain]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.unit_probe import ULX3S_85F, kernels, measure  # noqa: E402 (after the sys.path line above)
from hw_bnn.resources import rtl_kernels_dir  # noqa: E402
from hw_bnn.rtl.elementwise import limb_split  # noqa: E402
from hw_bnn.synth.tools import tool_version  # noqa: E402

FIXED1 = {"C": 16, "CH": 16, "PE": 4, "IN_BITS": 12, "IN_SIGNED": 1, "SHIFT": 12, "SF": 26, "WIDTH": 18}
FIXED1.update({"ROUND": 2, "SAT": 1, "G_BITS": 22, "S_BITS": 21, "Z_BITS": 2, "T_BITS": 26, "P_BITS": 45})


def param_words(params: dict, seed: int = 0) -> str:
    """CH random words {Z, N, P, G} of the widths in ``params``, as $readmemh text."""
    rng = random.Random(seed)
    bits = params["G_BITS"] + 2 * params["S_BITS"] + params["Z_BITS"]
    return "".join(f"{rng.getrandbits(bits):x}\n" for _ in range(params["CH"]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernel", nargs="*", default=[], help="other hwbnn_fixed_chain.sv files to measure too")
    ap.add_argument("--out", default="build/bench_fixed_chain", help="work folder, not under /tmp (yowasp)")
    args = ap.parse_args(argv)
    found = kernels(ap, rtl_kernels_dir() / "hwbnn_fixed_chain.sv", args.kernel)
    params = {**FIXED1, "PARAM_FILE": '"p.mem"'}
    split = {"SPLIT": int(limb_split(FIXED1["T_BITS"], FIXED1["S_BITS"]))}  # the project's kernel only
    files = {"p.mem": param_words(FIXED1)}
    pe = FIXED1["PE"]
    print(f"hwbnn_fixed_chain {FIXED1} on LFE5U-85F-6; {tool_version('yosys')}, {tool_version('nextpnr-ecp5')}")
    print(f"{'kernel':<10} {'LUT4':>6} {'FF':>6} {'EBR':>4} {'Fmax MHz':>9} {'yosys s':>8} {'nextpnr s':>9}  file")
    for name, path in found.items():
        work = Path(args.out) / name.replace(" ", "_")
        ps = {**params, **split} if name == "project" else params  # older kernels have no SPLIT
        m = measure(work, path, ps, pe * FIXED1["IN_BITS"], pe * FIXED1["WIDTH"], ULX3S_85F, files)
        row = f"{name:<10} {m['lut4']:>6,} {m['ff']:>6,} {m['ebr']:>4} {m['fmax']:>9.1f}"
        print(row + f" {m['s'][0]:>8.0f} {m['s'][1]:>9.0f}  {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Calibrate the cost model against Yosys: synthesize the measurement set, fit, report, write.

The set (``hw_bnn.synth.calibrate.SHAPES``): matrix units of the TFC, SFC, LFC and CNV layers
(XNOR with and without thresholds, 2-bit integer, bipolar-weight integer on 2-bit and 8-bit
codes, convolutions) at several foldings each, random weights with a fixed seed; each unit is
synthesized alone with Yosys for xc7 (``synth_xilinx -family xc7``) and ECP5 (``synth_ecp5``),
cached (``HW_BNN_SYNTH_CACHE``, default ``~/.cache/hw-bnn/synth``).

The split: per shape, its foldings ordered by PE * SIMD (then PE), those at positions 1, 4, 7,
... are held out; the coefficients (``hw_bnn.dse.calibration``) are fitted on the others, per
family and kind (xnor / int), by non-negative least squares on relative errors.

The windows (``hw_bnn.synth.calibrate.WINDOWS``): CNV's sliding-window generators, and one of a
32 x 32 image, at two to five output widths each, split the same way by SIMD and fitted as the
kind ``window`` (FINN-R counts no window: its "before" is 0).

Prints, per unit, the measured LUTs (``lut_total``: Xilinx LUT1-6 plus LUTRAM; ECP5 LUT4 plus two
per CCU2C carry), the FINN-R estimate ("before") and the calibrated one ("after"), then the mean
and largest absolute percentage errors on the training and held-out units, of LUTs and of FFs.

Writes ``hw_bnn/dse/calibration.json`` (the coefficients, date, Yosys version, errors) and
``benchmarks/results/calibration.json`` (every measurement, so ``--no-synth`` refits without
Yosys).

Usage: python benchmarks/calibrate_cost.py [--no-synth | --windows-only] [--targets xc7 ecp5]
                                           [--cache-dir DIR] [--dry-run]
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hw_bnn.dse.calibration import (  # noqa: E402
    CALIBRATION_FILE,
    FF_TERMS,
    LUT_TERMS,
    WINDOW,
    WINDOW_FF_TERMS,
    WINDOW_LUT_TERMS,
    ape,
    error_summary,
    fit_calibration,
    record_estimate,
    record_kind,
    record_unit,
)
from hw_bnn.dse.cost import layer_cost  # noqa: E402
from hw_bnn.files import write_text_atomic  # noqa: E402
from hw_bnn.resources import rtl_kernels_dir  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "calibration.json"
SPLIT = "per shape, foldings ordered by PE*SIMD (then PE); positions 1, 4, 7, ... held out, the others fitted"


def finn_lut(rec: dict) -> int:
    """The FINN-R estimate of a record's unit (the default cost model; no window generator)."""
    return 0 if record_kind(rec) == WINDOW else layer_cost(record_unit(rec), rec["pe"], rec["simd"]).lut


def finn_bram18(rec: dict) -> int:
    return 0 if record_kind(rec) == WINDOW else layer_cost(record_unit(rec), rec["pe"], rec["simd"]).bram18


def annotate(records: list[dict], fitted: dict) -> None:
    """Per record: the FINN-R and calibrated estimates and their errors."""
    for r in records:
        coef = fitted[r["target"]][record_kind(r)]
        est = record_estimate(r, r["target"], coef)
        m = r["measured"]
        r["estimate"] = {
            "finn_lut": finn_lut(r),
            "lut": est["lut"],
            "ff": est["ff"],
            "lut_ape": round(ape(est["lut"], m["lut_total"]), 2),
            "finn_lut_ape": round(ape(finn_lut(r), m["lut_total"]), 2),
            "ff_ape": round(ape(est["ff"], m["ff"]), 2),
            "bram18_finn": finn_bram18(r),
        }


def summary(records: list[dict]) -> dict:
    """Per target and kind (``all``: the matrix units), train and held-out: FINN-R and calibrated
    LUT errors, FF errors."""
    out: dict = {}
    for target in sorted({r["target"] for r in records}):
        for kind in ("xnor", "int", "all", WINDOW):
            rs = [r for r in records if r["target"] == target]
            rs = [r for r in rs if record_kind(r) == kind or (kind == "all" and record_kind(r) != WINDOW)]
            row = {}
            for part, held in (("train", False), ("held_out", True)):
                g = [r for r in rs if r["held_out"] == held]
                row[part] = {
                    "finn_lut": error_summary([(r["estimate"]["finn_lut"], r["measured"]["lut_total"]) for r in g]),
                    "lut": error_summary([(r["estimate"]["lut"], r["measured"]["lut_total"]) for r in g]),
                    "ff": error_summary([(r["estimate"]["ff"], r["measured"]["ff"]) for r in g]),
                }
            out.setdefault(target, {})[kind] = row
    return out


def unit_table(records: list[dict]) -> str:
    hdr = (
        f"{'target':6s} {'unit':22s} {'kind':4s} {'set':5s} {'PE':>3s} {'SIMD':>4s} {'depth':>5s} {'ram':5s} "
        f"{'LUT':>6s} {'FINN-R':>7s} {'err%':>6s} {'calib':>6s} {'err%':>6s} | {'FF':>5s} {'calib':>6s} "
        f"{'err%':>6s} | {'BRAM':>4s} {'FINN':>4s} {'s':>6s}"
    )
    out = [hdr, "-" * len(hdr)]
    for r in records:
        m, e, u = r["measured"], r["estimate"], record_unit(r)
        pe, ram = r.get("pe", 0), r.get("weight_ram", "-")
        depth = (u.mh // pe) * (u.mw // r["simd"]) if pe else 0
        out.append(
            f"{r['target']:6s} {r['unit']:22s} {record_kind(r)[:4]:4s} {'held' if r['held_out'] else 'train':5s} "
            f"{pe:3d} {r['simd']:4d} {depth:5d} {ram[:5]:5s} {m['lut_total']:6d} "
            f"{e['finn_lut']:7d} {e['finn_lut_ape']:6.1f} {e['lut']:6d} {e['lut_ape']:6.1f} | {m['ff']:5d} "
            f"{e['ff']:6d} {e['ff_ape']:6.1f} | {m['bram18']:4d} {e['bram18_finn']:4d} {m['seconds']:6.1f}"
        )
    return "\n".join(out)


def summary_table(summ: dict) -> str:
    hdr = (
        f"{'target':6s} {'kind':6s} {'set':8s} {'n':>3s} | {'FINN-R LUT MAPE':>15s} {'max':>6s} | "
        f"{'calibrated MAPE':>15s} {'max':>6s} | {'FF MAPE':>7s} {'max':>6s}"
    )
    out = [hdr, "-" * len(hdr)]
    for target, kinds in summ.items():
        for kind, parts in kinds.items():
            for part, s in parts.items():
                f, c, ff = s["finn_lut"], s["lut"], s["ff"]
                if not c["n"]:
                    continue
                out.append(
                    f"{target:6s} {kind:6s} {part:8s} {c['n']:3d} | {f['mape']:14.1f}% {f['max_ape']:5.1f}% | "
                    f"{c['mape']:14.1f}% {c['max_ape']:5.1f}% | {ff['mape']:6.1f}% {ff['max_ape']:5.1f}%"
                )
    return "\n".join(out)


def kernel_hash() -> str:
    h = hashlib.sha256()
    for name in ("hwbnn_mvu.sv", "hwbnn_rom.sv", "hwbnn_fifo.sv", "hwbnn_window.sv"):
        h.update((rtl_kernels_dir() / name).read_bytes())
    return h.hexdigest()


def coefficients_doc(records: list[dict], fitted: dict, summ: dict) -> dict:
    tools = sorted({r["measured"]["tool"] for r in records})
    fams = {}
    for family, kinds in fitted.items():
        fams[family] = {
            "synthesis": f"Yosys {family} (hw_bnn.synth.yosys.TARGETS), one unit alone",
            "lut_measure": "lut_total",
            "kinds": kinds,
            "errors": summ[family]["all"],
        }
    return {
        "about": "Calibrated LUT / FF coefficients of hw_bnn.dse.calibration; written by benchmarks/calibrate_cost.py",
        "date": datetime.date.today().isoformat(),
        "tool": tools[0] if len(tools) == 1 else tools,
        "rtl_kernels_sha256": kernel_hash(),
        "units": len({r["unit"] for r in records}),
        "split": SPLIT,
        "lut_terms": list(LUT_TERMS),
        "ff_terms": list(FF_TERMS),
        "window_lut_terms": list(WINDOW_LUT_TERMS),
        "window_ff_terms": list(WINDOW_FF_TERMS),
        "families": fams,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-synth", action="store_true", help=f"refit from {RESULTS.relative_to(ROOT)}, no Yosys")
    ap.add_argument("--targets", nargs="+", default=["xc7", "ecp5"], choices=["xc7", "ecp5"])
    ap.add_argument("--cache-dir", help="synthesis cache (default $HW_BNN_SYNTH_CACHE or ~/.cache/hw-bnn/synth)")
    ap.add_argument(
        "--windows-only",
        action="store_true",
        help=f"synthesize the windows only; the matrix units' measurements from {RESULTS.relative_to(ROOT)}",
    )
    ap.add_argument("--dry-run", action="store_true", help="print the tables, write nothing")
    args = ap.parse_args(argv)
    stored = []
    if args.no_synth or args.windows_only:
        stored = [r for r in json.loads(RESULTS.read_text())["records"] if r["target"] in args.targets]
    if args.no_synth:
        records = stored
    else:
        from hw_bnn.synth.calibrate import measure, measure_windows, split, window_split

        say = lambda s: print(s, flush=True)  # noqa: E731
        if args.windows_only:
            records = [r for r in stored if record_kind(r) != WINDOW]
        else:
            records = measure(split(), tuple(args.targets), args.cache_dir, say=say)
        records += measure_windows(window_split(), tuple(args.targets), args.cache_dir, say=say)
    for r in records:
        r.pop("estimate", None)
    fitted = fit_calibration(records, {t: t for t in args.targets})
    annotate(records, fitted)
    summ = summary(records)
    print(unit_table(records))
    print()
    print(summary_table(summ))
    seconds = {t: round(sum(r["measured"]["seconds"] for r in records if r["target"] == t), 1) for t in args.targets}
    print(f"\nsynthesis time of the set (as measured when each unit was synthesized): {seconds} s")
    for family, kinds in fitted.items():
        for kind, c in kinds.items():
            print(f"{family} {kind}: LUT {c['lut']}\n{'':{len(family) + len(kind) + 2}s}FF  {c['ff']}")
    if args.dry_run:
        return 0
    doc = coefficients_doc(records, fitted, summ)
    write_text_atomic(CALIBRATION_FILE, json.dumps(doc, indent=2) + "\n")
    res = {"split": SPLIT, "summary": summ, "synthesis_seconds": seconds, "records": records}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(RESULTS, json.dumps(res, indent=1) + "\n")
    print(f"\nwritten: {CALIBRATION_FILE.relative_to(ROOT)}, {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

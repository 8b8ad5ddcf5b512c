"""The results table of a sweep: its columns, the Pareto fronts, and the CSV / parquet files.

One row per hardware point (network point x target x device), the :data:`COLUMNS` in order.  No
timings and no absolute paths: the table of a sweep is the same under every engine and in every
folder.  A row is on the accuracy-vs-``x`` Pareto front when no other ``ok`` row has at least its
accuracy and at most its ``x`` (at least, for ``fps``), one of the two strictly.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from hw_bnn.files import write_bytes_atomic, write_text_atomic

COLUMNS = (
    "point",
    "net",
    "recipe",
    "bits",
    "weight_bits",
    "act_bits",
    "hidden",
    "epochs",
    "target",
    "target_cycles",
    "clock_mhz",
    "device",
    "status",
    "error",
    "accuracy",
    "val_acc",
    "val_images",
    "test_acc",
    "test_images",
    "lut",
    "bram18",
    "dsp",
    "ff",
    "fps",
    "latency_us",
    "max_cycles",
    "latency_cycles",
    "bottleneck",
    "weight_memory_bits",
    "fits",
    "lut_util_pct",
    "bram18_util_pct",
    "dsp_util_pct",
    "utilization_pct",
    "csim_images",
    "csim_mismatches",
    "golden_vs_integer_mismatches",
    "pareto_lut",
    "pareto_fps",
    "build",
    "folding",
    "cost_model",
)
STATUSES = ("ok", "infeasible", "failed")
FINISHED = ("ok", "infeasible")  # a network point with this status is never redone


def pareto_front(rows: list[dict], x: str, maximize_x: bool) -> set[str]:
    """Points of ``rows`` (status ok) not dominated in (accuracy up, ``x`` down or up)."""
    pts = [r for r in rows if r["status"] == "ok" and r.get("accuracy") is not None and r.get(x) is not None]
    sign = -1.0 if maximize_x else 1.0
    front = set()
    for r in pts:
        a, c = r["accuracy"], sign * r[x]
        if not any(q["accuracy"] >= a and sign * q[x] <= c and (q["accuracy"] > a or sign * q[x] < c) for q in pts):
            front.add(r["point"])
    return front


def sweep_table(results: dict[str, dict]) -> list[dict]:
    """The table of the network points' results: every row, sorted by point, with the Pareto
    flags, exactly the :data:`COLUMNS`."""
    rows = sorted((r for res in results.values() for r in res["rows"]), key=lambda r: r["point"])
    for r in rows:
        for k in COLUMNS:
            r.setdefault(k, None)
    front_lut, front_fps = pareto_front(rows, "lut", False), pareto_front(rows, "fps", True)
    for r in rows:
        r["pareto_lut"] = r["point"] in front_lut
        r["pareto_fps"] = r["point"] in front_fps
    return [{k: r[k] for k in COLUMNS} for r in rows]


def status_counts(rows: list[dict]) -> dict[str, int]:
    """Rows per status, for every status in :data:`STATUSES`."""
    return {st: sum(r["status"] == st for r in rows) for st in STATUSES}


def _csv_value(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def write_csv(path: Path, rows: list[dict]) -> None:
    """``results.csv``: the header, then one line per row (floats as ``repr``, ``None`` empty)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([_csv_value(r[k]) for k in COLUMNS])
    write_text_atomic(path, buf.getvalue())


def write_parquet(path: Path, rows: list[dict]) -> bool:
    """``results.parquet`` when pyarrow is installed (written atomically); ``False`` without it."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return False
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf)
    write_bytes_atomic(path, buf.getvalue())
    return True

"""The Pareto plots of a sweep: accuracy against the LUT estimate and against the frame rate.

Written as PNG (matplotlib's Agg canvas, no display needed), atomically.
"""

from __future__ import annotations

import io
from pathlib import Path

from hw_bnn.files import write_bytes_atomic

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def plot_pareto(rows: list[dict], x: str, path: Path, xlabel: str, maximize_x: bool, title: str) -> None:
    """Accuracy against ``x`` (log scale) of the feasible rows, one marker per device, the
    Pareto front (``pareto_fps`` / ``pareto_lut``) filled red and joined by a step line."""
    from matplotlib.figure import Figure

    flag = "pareto_fps" if maximize_x else "pareto_lut"
    ok = [r for r in rows if r["status"] == "ok" and r.get(x) is not None and r.get("accuracy") is not None]
    devices = list(dict.fromkeys(r["device"] for r in rows))
    fig = Figure(figsize=(7.5, 4.8))
    ax = fig.subplots()
    for i, dev in enumerate(devices):
        pts = [r for r in ok if r["device"] == dev]
        if not pts:
            continue
        m = MARKERS[i % len(MARKERS)]
        rest = [r for r in pts if not r[flag]]
        front = [r for r in pts if r[flag]]
        size = max(90 - 28 * i, 20)  # devices often share a point: later markers drawn smaller, inside
        styles = ((rest, "none", "0.45", f"{dev}", 2 + i), (front, "tab:red", "darkred", f"{dev} (Pareto)", 10 + i))
        for group, face, edge, label, z in styles:
            if group:
                ax.scatter(
                    [r[x] for r in group],
                    [r["accuracy"] for r in group],
                    marker=m,
                    s=size,
                    facecolors=face,
                    edgecolors=edge,
                    label=label,
                    zorder=z,
                )
    front = sorted((r for r in ok if r[flag]), key=lambda r: r[x])
    if front:
        ax.step(
            [r[x] for r in front],
            [r["accuracy"] for r in front],
            where="pre" if maximize_x else "post",
            color="tab:red",
            linewidth=1,
            alpha=0.7,
        )
        for r in front:
            ax.annotate(
                f"{r['net']} {r['target']}",
                (r[x], r["accuracy"]),
                fontsize=6,
                xytext=(3, 3),
                textcoords="offset points",
            )
    if not ok:
        ax.text(0.5, 0.5, "no feasible points", transform=ax.transAxes, ha="center", va="center")
    else:
        ax.set_xscale("log")
        ax.margins(x=0.12, y=0.08)
        ax.legend(fontsize=7, loc="best")
    acc_name = "test accuracy" if any(r.get("test_acc") is not None for r in ok) else "validation accuracy"
    ax.set_xlabel(xlabel + (" (higher is better)" if maximize_x else " (lower is better)"))
    ax.set_ylabel(acc_name)
    ax.set_title(f"{title}: {acc_name} vs {x.upper()}, {len(ok)} feasible hardware points")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    write_bytes_atomic(path, buf.getvalue())

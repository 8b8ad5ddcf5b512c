"""``synth.png``: per layer, the cost model's LUT estimates beside the LUTs Yosys measured."""

from __future__ import annotations

from pathlib import Path


def synth_plot(res: dict, out_png: Path) -> None:
    """Grouped bars, one group per report row of the synthesis (layers, then ``streams``): the
    estimates of each cost model (matrix layers only) and the measured LUTs of each target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows: list[str] = []
    for r in res["targets"].values():
        rows += [k for k in r["layers"] if k not in rows and k != "glue"]
    for est in res["estimate"].values():
        rows += [k for k in est if k not in rows]
    series = {f"estimate ({m})": [est.get(k, {}).get("lut", 0) for k in rows] for m, est in res["estimate"].items()}
    for t, r in res["targets"].items():
        unit = "LUT4" if r["family"] == "ecp5" else "LUT"
        series[f"Yosys {t} ({unit})"] = [r["layers"].get(k, {}).get("lut_total", 0) for k in rows]
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(rows) + 2), 4))
    width = 0.8 / max(1, len(series))
    x = np.arange(len(rows))
    for i, (label, values) in enumerate(series.items()):
        ax.bar(x + i * width, values, width, label=label)
    ax.set_xticks(x + 0.4 - width / 2, rows, rotation=30, ha="right")
    ax.set_ylabel("LUTs")
    ax.set_title("LUTs per layer: cost model vs Yosys synthesis")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)

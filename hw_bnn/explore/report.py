"""The report of a sweep: ``report.md`` and ``report.html`` (the plots embedded), one table row per
hardware point, the Pareto fronts marked (**L**: accuracy vs LUT, **F**: accuracy vs FPS).
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import yaml

from hw_bnn.explore.spec import SweepSpec


def _fmt(v, kind: str = "") -> str:
    if v is None or v == "":
        return ""
    if kind == "acc":
        return f"{v:.4f}"
    if kind == "int":
        return f"{int(v):,}"
    if kind == "float":
        return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


TABLE = (  # (header, column, format)
    ("Pareto", None, ""),
    ("point", "point", ""),
    ("bits", "bits", ""),
    ("hidden", "hidden", ""),
    ("accuracy", "accuracy", "acc"),
    ("LUT", "lut", "int"),
    ("BRAM18", "bram18", "int"),
    ("DSP", "dsp", "int"),
    ("FPS", "fps", "float"),
    ("latency us", "latency_us", "float"),
    ("util %", "utilization_pct", "float"),
    ("fits", "fits", ""),
    ("C-sim mism.", "csim_mismatches", ""),
    ("status", "status", ""),
    ("build", "build", ""),
)


def _cells(r: dict) -> list[str]:
    out = []
    for _, col, kind in TABLE:
        if col is None:
            out.append(("L" if r["pareto_lut"] else "") + ("F" if r["pareto_fps"] else ""))
        else:
            out.append(_fmt(r[col], kind))
    return out


def summary_line(s: SweepSpec, rows: list[dict], counts: dict) -> str:
    """``N network points x T targets x D devices = R hardware points: ... ok, ... failed``."""
    nets = len({r["net"] for r in rows})
    return (
        f"{nets} network points x {len(s.targets)} targets x {len(s.devices)} devices = {len(rows)} hardware points: "
        f"{counts['ok']} ok, {counts['infeasible']} infeasible, {counts['failed']} failed"
    )


def _models(rows: list[dict]) -> str:
    """The cost models of the rows, as the report names them."""
    names = sorted({r.get("cost_model") for r in rows if r.get("cost_model")})
    return ", ".join(f"`{n}`" for n in names) or "none costed"


def report_md(s: SweepSpec, out: Path, rows: list[dict], counts: dict) -> str:
    """``report.md``: the spec, the Pareto plots, the table, the errors, how to build a point."""
    md = [f"# Design-space exploration: {s.name}", ""]
    if s.description:
        md += [s.description, ""]
    md += [
        f"Spec: `{s.source}`. {summary_line(s, rows, counts)}.",
        "",
        "Accuracy is the golden model's (bit-exact with the hardware) on every image of the test split when "
        "`data_dir` is given, else of the validation split. LUT / BRAM18 / DSP / FPS / latency are the cost "
        f"model's estimates ({_models(rows)}; `hw_bnn.dse.cost`) of the fewest-LUT folding that meets the target and "
        "fits the device (`hw_bnn.dse.folding`). Pareto: **L** on the accuracy-vs-LUT front, **F** on the "
        "accuracy-vs-FPS front.",
        "",
        "## Sweep spec",
        "",
        "```yaml",
        yaml.safe_dump(s.to_dict(), sort_keys=False).rstrip(),
        "```",
        "",
        "## Pareto fronts",
        "",
        "![accuracy vs LUT](pareto_lut.png)",
        "",
        "![accuracy vs FPS](pareto_fps.png)",
        "",
        "## Points",
        "",
        "| " + " | ".join(h for h, _, _ in TABLE) + " |",
        "| " + " | ".join("---" for _ in TABLE) + " |",
    ]
    for r in rows:
        md.append("| " + " | ".join(c.replace("|", "\\|") for c in _cells(r)) + " |")
    bad = [r for r in rows if r["status"] != "ok"]
    if bad:
        md += ["", "## Infeasible and failed points", ""]
        for r in bad:
            md.append(f"- `{r['point']}` ({r['status']}): {r['error']}")
    md += [
        "",
        "## Picking a point",
        "",
        f"Every path in the `build` column is relative to `{out}`. A network point's folder `nets/<id>/` holds its "
        "recipe (`recipe.yaml`), `checkpoint.pt`, `exported.onnx`, `integer.onnx` and `golden.npz`; a verified "
        "folding's folder `nets/<id>/fold-<hash>/` holds `folding.json`, the hls4ml project `hls/` with that PE / SIMD "
        "and `verify.json` (golden vs C simulation). To take a point through the whole flow into a build of its own:",
        "",
        "```sh",
        "hw-bnn flow --model <out>/nets/<id>/recipe.yaml --out build/<id> --folding <out>/<build>/folding.json",
        "```",
        "",
    ]
    return "\n".join(md)


def report_html(s: SweepSpec, out: Path, rows: list[dict], counts: dict, paths: dict) -> str:
    """``report.html``: the same table, the plots of ``paths`` embedded as base64 PNG."""

    def img(p: Path) -> str:
        return f'<img alt="{p.name}" src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}">'

    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h, _, _ in TABLE)
    body = []
    for r in rows:
        cls = (
            ' class="pareto"'
            if r["pareto_lut"] or r["pareto_fps"]
            else (' class="failed"' if r["status"] == "failed" else "")
        )
        title = f' title="{e(r["error"])}"' if r["error"] else ""
        body.append(f"<tr{cls}{title}>" + "".join(f"<td>{e(c)}</td>" for c in _cells(r)) + "</tr>")
    errors = "".join(
        f"<li><code>{e(r['point'])}</code> ({e(r['status'])}): {e(r['error'])}</li>"
        for r in rows
        if r["status"] != "ok"
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>hw-bnn explore: {e(s.name)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }} table {{ border-collapse: collapse; font-size: 13px; }}
td, th {{ border: 1px solid #ccc; padding: 2px 6px; text-align: right; }} th {{ background: #eee; }}
tr.pareto {{ background: #fde8e8; }} tr.failed {{ color: #999; }} img {{ max-width: 48%; margin-right: 1%; }}
pre {{ background: #f6f6f6; padding: 0.5em; }}
</style></head><body>
<h1>Design-space exploration: {e(s.name)}</h1>
<p>{e(s.description)}</p>
<p>Spec: <code>{e(s.source)}</code>. {e(summary_line(s, rows, counts))}. Rows on a Pareto front are shaded
(L: accuracy vs LUT, F: accuracy vs FPS). Build paths are relative to <code>{e(str(out))}</code>.</p>
<div>{img(paths["pareto_lut"])}{img(paths["pareto_fps"])}</div>
<h2>Points</h2>
<table><tr>{head}</tr>
{chr(10).join(body)}
</table>
{f"<h2>Infeasible and failed points</h2><ul>{errors}</ul>" if errors else ""}
<h2>Sweep spec</h2>
<pre>{e(yaml.safe_dump(s.to_dict(), sort_keys=False))}</pre>
</body></html>
"""

"""The report stage's files: ``report.json`` and ``report.md`` in the build folder, with plots.

The report gathers what the stages checked (``export_check.json``, ``compile_check.json``,
``verify.json``), a table of the integer network's layers (ranges, widths, memory) and the cost
model's hardware estimate of its folding.  It reads the build folder only; it runs nothing."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from hw_bnn.files import write_text_atomic
from hw_bnn.ir.network import STEPS_FORMULA, steps_json


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_training(log_csv, out_png, title: str) -> None:
    """Loss and validation accuracy per epoch."""
    with open(log_csv) as f:
        rows = list(csv.DictReader(f))
    plt = _plt()
    ep = [int(r["epoch"]) for r in rows]
    fig, ax1 = plt.subplots(figsize=(6, 3.5))
    ax1.plot(ep, [float(r["loss"]) for r in rows], color="tab:red", label="training loss")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("loss", color="tab:red")
    ax2 = ax1.twinx()
    ax2.plot(ep, [float(r["val_acc"]) for r in rows], color="tab:blue", label="validation accuracy")
    ax2.set_ylabel("validation accuracy", color="tab:blue")
    ax1.set_title(f"{title}: training")
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)


def layer_table(golden) -> list[dict]:
    """Per layer: shape, integer ranges and widths, weight and threshold memory in bits."""
    from hw_bnn.ir import ThresholdLayer, bits_for_range

    rows = []
    shape_in = tuple(golden.input_shape)
    if len(shape_in) == 3:
        shape_in = (shape_in[1], shape_in[2], shape_in[0])  # the hardware is NHWC
    shapes = {}  # layer name -> output shape (graphs: a layer may read an earlier layer)
    for layer in golden.layers:
        inputs = tuple(getattr(layer, "inputs", ()))
        if inputs:
            shape_in = shapes[inputs[0]]
        lo, hi = layer.acc_range()
        acc_bits, acc_signed = bits_for_range(lo, hi)
        olo, ohi = layer.out_range()
        out_bits, out_signed = bits_for_range(olo, ohi)
        thr = getattr(layer, "thresholds", None)
        if thr is not None:
            tbits, _ = bits_for_range(int(thr.min()), int(thr.max()))
            # shared thresholds are stored once
            distinct = thr[:1] if np.all(thr == thr[:1]) else thr
            thr_mem = int(distinct.size * tbits)
        else:
            tbits, thr_mem = 0, 0
        weight_mem, wbits = 0, 0
        if isinstance(layer, ThresholdLayer):
            shape_out = shape_in
        elif layer.kind in ("conv", "maxpool", "flatten", "fixed_chain", "fixed_add", "concat"):
            shape_out = tuple(layer.out_shape)
        else:
            shape_out = (layer.mh,)
        if getattr(layer, "weights", None) is not None:
            w = np.asarray(layer.weights)
            wbits = 1 if getattr(layer, "xnor", False) else bits_for_range(int(w.min()), int(w.max()))[0]
            weight_mem = int(w.size * wbits)
        shape = f"{'x'.join(map(str, shape_in))} -> {'x'.join(map(str, shape_out))}"
        if layer.kind == "conv":
            shape += f" (k{layer.kernel} s{layer.stride} p{layer.pad}{' xnor' if layer.xnor else ''})"
        elif layer.kind == "maxpool":
            shape += f" (k{layer.kernel} s{layer.stride})"
        elif layer.kind == "fixed_chain":
            shape += f" (ap_fixed<{layer.width},{layer.width - layer.frac}> {layer.rounding}/{layer.overflow})"
        elif layer.kind == "fixed_add":
            shape += f" (ap_fixed<{layer.width}> {layer.overflow})"
        if inputs:
            shape += f" <- {', '.join(inputs)}"
        shape_in = shape_out
        shapes[layer.name] = shape_out
        rows.append(
            {
                "name": layer.name,
                "kind": layer.kind,
                "shape": shape,
                "input_range": [int(lo), int(hi)],
                "accumulator_bits": acc_bits,
                "accumulator_signed": acc_signed,
                "output_range": [int(olo), int(ohi)],
                "output_bits": out_bits,
                "weight_bits": wbits,
                "threshold_levels": 0 if thr is None else int(thr.shape[1]),
                "threshold_bits": tbits,
                "weight_memory_bits": weight_mem,
                "threshold_memory_bits": thr_mem,
            }
        )
    return rows


def plot_memory(rows: list[dict], out_png, title: str) -> None:
    plt = _plt()
    names = [r["name"] for r in rows]
    w = np.array([r["weight_memory_bits"] for r in rows]) / 8192
    t = np.array([r["threshold_memory_bits"] for r in rows]) / 8192
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.bar(names, w, label="weights")
    ax.bar(names, t, bottom=w, label="thresholds")
    ax.set_ylabel("on-chip memory (KiB)")
    ax.set_title(f"{title}: memory per layer")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)


def _read(path: Path):
    return json.loads(path.read_text()) if path.exists() else None


def _affine(golden):
    if golden.output_steps is not None:
        return {"formula": STEPS_FORMULA, "steps": steps_json(golden.output_steps)}
    if golden.output_scale is None:
        return None
    a = {
        "scale": golden.output_scale.tolist(),
        "bias": golden.output_bias.tolist(),
        "formula": "y = float32(float32(acc * scale) + bias)",
    }
    if golden.output_pre is not None:
        a["formula"] = "y = float32(float32((acc * pre_scale + pre_offset) * scale) + bias)"
        a["pre_scale"] = float(golden.output_pre[0])
        a["pre_offset"] = np.asarray(golden.output_pre[1]).tolist()
    return a


def hardware_estimate(golden, folding, clock_period_ns: float, part: str) -> dict | None:
    """The cost model's estimate (hw_bnn.dse.cost, FINN-R formulas) of the folded pipeline, and the
    fit on the catalogue device of ``part`` when it is one (hw_bnn.dse.devices)."""
    from hw_bnn.dse.cost import network_cost
    from hw_bnn.dse.devices import DEVICES, fit
    from hw_bnn.dse.units import mvu_layers

    units = mvu_layers(golden)
    if not units:
        return None
    cost = network_cost(units, folding, clock_mhz=1000.0 / float(clock_period_ns))
    device = next((d for d in DEVICES.values() if part.lower().startswith(d.name)), None)
    out = {"folding": cost.folding, "cost": cost.to_dict(), "device": device.name if device else None, "fit": None}
    if device is not None:
        out["fit"] = fit(cost, device).to_dict()
    return out


def verified_artifacts(build: Path, verify: dict) -> dict:
    """What ``verify.json`` checked (the artifacts' hashes, the splits' images and inputs
    hashes), after making sure those are the artifacts in ``build`` now: an artifact changed
    since verification is a :class:`~hw_bnn.errors.BuildFolderError`, never a PASS."""
    from hw_bnn.errors import BuildFolderError
    from hw_bnn.flow.stamps import tree_sha

    checked = verify.get("artifacts") or {}
    for name in ("golden.npz", "hls"):
        if checked.get(name) != tree_sha(build / name):
            raise BuildFolderError(f"{build / name}: changed since verify.json was written; re-run 'hw-bnn verify'")
    splits = {k: {"images": e["images"], "inputs_sha256": e.get("inputs_sha256")} for k, e in verify["splits"].items()}
    return {"artifacts": checked, "splits": splits}


def write_report(cfg, out_dir=None, compiled_from: Path | None = None) -> dict:
    """``report.json``, ``report.md`` and ``memory.png`` of the build folder ``cfg.build``, from
    the artifacts and checks the stages wrote there, into ``out_dir`` (default: the build
    folder); returns the report.  ``compiled_from``: the QONNX file ``compile --onnx`` compiled
    (the folder's training and export then describe another model and are left out)."""
    from hw_bnn.ir import IntegerNetwork

    b = Path(cfg.build)
    out = Path(out_dir) if out_dir is not None else b
    golden = IntegerNetwork.load(b / "golden.npz")
    rows = layer_table(golden)
    verify = _read(b / "verify.json")
    own = compiled_from is None
    report = {
        "model": cfg.model if own else str(compiled_from),
        "hls": {
            "backend": cfg.backend,
            "reuse_factor": cfg.reuse_factor,
            "part": cfg.part,
            "clock_period_ns": cfg.clock_period,
            "io_type": "io_stream" if golden.is_image else "io_parallel",
        },
        "compiled_from": None if own else str(compiled_from),
        "input_domain": cfg.domain().formula(),
        "training": _read(b / "train_summary.json") if own else None,
        "export_check": _read(b / "export_check.json") if own else None,
        "compile_check": _read(b / "compile_check.json"),
        "import_check": _read(b / "import_check.json"),
        "verify": verify,
        "verified": verified_artifacts(b, verify),
        "rtlsim": _read(b / "rtlsim.json"),
        "layers": rows,
        "memory_bits": {
            "weights": sum(r["weight_memory_bits"] for r in rows),
            "thresholds": sum(r["threshold_memory_bits"] for r in rows),
        },
        "output_affine": _affine(golden),
        "hardware": hardware_estimate(golden, cfg.folding, cfg.clock_period, cfg.part),
        "synthesis": _read(b / "synth.json"),
    }
    plot_memory(rows, out / "memory.png", report["model"])
    write_text_atomic(out / "report.json", json.dumps(report, indent=2))
    write_text_atomic(out / "report.md", render_markdown(report, b))
    return report


def _verification_md(r: dict) -> list[str]:
    """The verdict, and per split: accuracy, golden vs C-sim and integer vs exported mismatches."""
    v = r["verify"] or {}
    total = v.get("mismatches")
    verdict = "PASS" if total == 0 else "FAIL"
    out = [f"**Verification: {verdict}** — golden model vs C simulation: {total} mismatches.", ""]
    checked = (r.get("verified") or {}).get("artifacts") or {}
    if checked:
        out += [
            "Checked: " + ", ".join(f"`{k}` sha256 {v[:16]}…" for k, v in checked.items()) + "; inputs per split "
            "in the table (sha256 of their bytes in report.json).",
            "",
        ]
    out += _rtlsim_md(r.get("rtlsim"))
    if r.get("input_domain"):
        out += [f"Input domain: `{r['input_domain']}` (the model's input x from the integer pixels p).", ""]
    ic = r.get("import_check")
    if ic:
        out += [
            f"Imported from `{ic['onnx']}` (hw-bnn import): on {ic['images']} inputs ({ic['inputs']}), the export "
            f"vs the integer graph: {ic['value_mismatches']} value and {ic['decision_mismatches']} decision "
            f"mismatches; golden vs integer graph: {ic['golden_vs_integer_mismatches']}.",
            "",
        ]
    elif r.get("compiled_from"):
        out += [f"Compiled from `{r['compiled_from']}` (hw-bnn compile --onnx): not checked against data.", ""]
    out += [
        "| split | images | accuracy | golden vs C-sim mismatches | integer vs exported value mismatches |",
        "|---|---|---|---|---|",
    ]
    cc = r["compile_check"] or {}
    for name, e in v.get("splits", {}).items():
        acc = f"{e['accuracy']:.4f}" if "accuracy" in e else "-"
        if e.get("scored_images", e["images"]) != e["images"]:
            acc += f" ({e['scored_images']} images)"
        fm = cc.get(name, {}).get("value_mismatches", "-")
        out.append(f"| {name} | {e['images']} | {acc} | {e['mismatched_images']} | {fm} |")
        if "first_mismatch" in e:
            f = e["first_mismatch"]
            out.append(
                f"\nFirst mismatch: image {f['image']}, layer `{f['layer']}`, element {f.get('element')} "
                f"(golden {f.get('golden')}, C-sim {f.get('csim')}).\n"
            )
    if any(e.get("fixed_point") for e in cc.values()):
        out += [
            "",
            "Fixed-point shortcuts: the hardware (and integer.onnx, and the golden model) carries the real-valued "
            "shortcut tensors in `ap_fixed`; against the float exported model:",
            "",
            "| split | images | decisions that differ | exported accuracy | hardware accuracy |",
            "|---|---|---|---|---|",
        ]
        for name, e in cc.items():
            out.append(
                f"| {name} | {e['images']} | {e['decision_mismatches']} | {e['accuracy_exported']:.4f} "
                f"| {e['accuracy_integer']:.4f} |"
            )
    out += float_scales_md({**({"inputs": ic} if ic else {}), **cc})
    t = r.get("training") or {}
    if t:
        line = f"Training: validation accuracy {t['val_acc']:.4f} ({t['val_images']} images)"
        if "test_acc" in t:
            line += f", test accuracy {t['test_acc']:.4f} ({t['test_images']} images)"
        out += ["", line + "."]
    return out


def float_scales_md(checks: dict) -> list[str]:
    """Scales that are not powers of two: the hardware computes the integer semantics, and each
    difference from the float export is a proven rounding tie (per checked split)."""
    rows = {k: e["float_scales"] for k, e in checks.items() if e.get("float_scales")}
    if not rows:
        return []
    nodes = next(iter(rows.values()))["nodes"]
    out = [
        "",
        "Float scales (not powers of two) at "
        + ", ".join(f"`{n['node']}` ({n['what']})" for n in nodes)
        + ": the hardware, integer.onnx and the golden model compute the model's integer semantics (exact "
        "accumulators, then the scales in float32). Each image where a code or the class differs from the float "
        "export is proven a rounding tie (the exact value within the float32 rounding bound of a boundary; "
        "docs/import.md):",
        "",
        "| split | images | output values differ | decisions differ | near-ties (in codes), all proven | first |",
        "|---|---|---|---|---|---|",
    ]
    for k, t in rows.items():
        f = t.get("first")
        first = (
            "-"
            if not f
            else f"image {f['image']} at `{f['at']}`"
            + (f" element {f['element']}: exact {f['exact']:.9g} ± {f['bound']:.2g}" if "element" in f else "")
        )
        out.append(
            f"| {k} | {t['images']} | {t['value_differences']} | {t['decision_differences']} "
            f"| {t['near_ties']} ({t['code_differences']}) | {first} |"
        )
    return out


def _rtlsim_md(rt: dict | None) -> list[str]:
    """The RTL simulation's verdict, per split, and its cycles against the cost model's."""
    if rt is None:
        return ["RTL simulation: not run (--no-rtlsim).", ""]
    if not rt["simulated"]:
        return [f"RTL simulation: not simulated ({rt['reason']}).", ""]
    verdict = "PASS" if rt["mismatches"] == 0 else "FAIL"
    out = [f"**RTL simulation (Verilator): {verdict}** — golden model vs RTL: {rt['mismatches']} mismatches.", ""]
    out += [
        "| split | images | mismatches | cycles per frame | cost model | latency (cycles) | cost model (first order) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, e in rt["splits"].items():
        out.append(
            f"| {name} | {e['images']} | {e['mismatched_images']} | {e['interval_cycles']} "
            f"| {rt['predicted_interval_cycles']} | {e['latency_cycles']} | {rt.get('predicted_latency_cycles', '-')} |"
        )
        if "first_mismatch" in e:
            f = e["first_mismatch"]
            out.append(f"\nFirst RTL mismatch: image {f['image']}, layer `{f['layer']}`, element {f.get('element')}.\n")
    return out + [""]


def _layers_md(r: dict) -> list[str]:
    """The layer table, the parameter memory, the output affine and the HLS settings."""
    out = [
        "",
        "## Layers",
        "",
        "| layer | kind | shape | input/accumulator range | acc bits | output bits | threshold levels "
        "| threshold bits | weight memory (bits) | threshold memory (bits) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for L in r["layers"]:
        out.append(
            f"| {L['name']} | {L['kind']} | {L['shape']} | [{L['input_range'][0]}, {L['input_range'][1]}] | "
            f"{'int' if L['accumulator_signed'] else 'uint'}{L['accumulator_bits']} | {L['output_bits']} | "
            f"{L['threshold_levels']} | {L['threshold_bits']} | {L['weight_memory_bits']} | "
            f"{L['threshold_memory_bits']} |"
        )
    m = r["memory_bits"]
    out += ["", f"Total on-chip parameters: {m['weights']} weight bits, {m['thresholds']} threshold bits.", ""]
    if r.get("output_affine"):
        a = r["output_affine"]
        extra = f", pre_scale {a['pre_scale']} and pre_offset {a['pre_offset']}" if "pre_scale" in a else ""
        if "steps" in a:
            steps = ", ".join(f"{st['op']} {st['const']}" for st in a["steps"])
            out += [f"Output steps: `{a['formula']}`: {steps}.", ""]
        else:
            out += [f"Output affine: `{a['formula']}` with scale {a['scale']} and bias {a['bias']}{extra}.", ""]
    h = r["hls"]
    out += [
        f"HLS project: `hls/` ({h['backend']} backend, {h['io_type']}, ReuseFactor {h['reuse_factor']}, "
        f"part {h['part']}, clock {h['clock_period_ns']} ns).",
        "",
    ]
    return out


def _hardware_md(hw: dict) -> list[str]:
    """The cost model's estimate: throughput, latency, resources per layer, fit on the device."""
    c = hw["cost"]
    out = [
        "## Hardware estimate",
        "",
        f"Cost model (hw_bnn.dse.cost, FINN-R formulas) at {c['clock_mhz']:g} MHz: initiation interval "
        f"{c['max_cycles']} cycles (bottleneck `{c['bottleneck']}`) = {c['fps']:,.0f} FPS, latency ~ "
        f"{c['latency_us']:.2f} us; {c['lut']:,} LUT, {c['bram18']} BRAM18, {c['dsp']} DSP.",
        "",
        "| layer | MH | MW | pixels | PE | SIMD | cycles | LUT | BRAM18 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for L in c["layers"]:
        out.append(
            f"| {L['name']} | {L['mh']} | {L['mw']} | {L['pixels']} | {L['pe']} | {L['simd']} | {L['cycles']} "
            f"| {L['lut']} | {L['bram18']} |"
        )
    if hw.get("fit"):
        f = hw["fit"]
        use = ", ".join(f"{x['resource']} {x['utilization_pct']:.1f}%" for x in f["resources"] if x["available"])
        out += ["", f"On {f['device']}: {'fits' if f['fits'] else 'does NOT fit'} ({use})."]
    out += [
        "",
        "Choose another folding with `hw-bnn fold --out BUILD ...` and rebuild with `--folding BUILD/folding.json`.",
        "",
    ]
    return out


def _synthesis_md(syn: dict) -> list[str]:
    """Measured resources per layer (Yosys) beside the cost model's LUT estimates."""
    targets = syn["targets"]
    est = syn["estimate"]
    rows = list(dict.fromkeys(k for t in targets.values() for k in t["layers"]))
    head = ["layer", *(f"est. LUT ({m})" for m in est)]
    for t, r in targets.items():
        unit = "LUT4" if r["family"] == "ecp5" else "LUT"
        head += [f"{t} {unit}", f"{t} FF", f"{t} BRAM18", f"{t} DSP"]
    out = ["## Synthesis (measured)", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for k in [*rows, "total"]:
        cells = [k] + [
            str(sum(v["lut"] for v in e.values()) if k == "total" else e.get(k, {}).get("lut", ""))
            for e in est.values()
        ]
        for r in targets.values():
            m = r["total"] if k == "total" else r["layers"].get(k, {})
            cells += [
                f"{m.get('lut_total', '')}",
                f"{m.get('ff', '')}",
                f"{m.get('bram18', '')}",
                f"{m.get('dsp', '')}",
            ]
        out.append("| " + " | ".join(cells) + " |")
    tools = "; ".join(f"{t}: {r['tool']}, {r['seconds']:.0f} s" for t, r in targets.items())
    out += ["", f"Measured by Yosys ({tools}); `streams` are the FIFOs and width converters between layers.", ""]
    return out + ["![LUTs per layer](synth.png)", ""]


def render_markdown(r: dict, build: Path) -> str:
    """``report.md``: verification first, then the layers, the hardware estimate and the plots."""
    out = [f"# hw-bnn report: {r['model']}", ""]
    out += _verification_md(r)
    out += _layers_md(r)
    if r.get("hardware"):
        out += _hardware_md(r["hardware"])
    if r.get("synthesis") and r["synthesis"].get("targets"):
        out += _synthesis_md(r["synthesis"])
    if (build / "train_curve.png").exists() and r.get("training"):
        out.append("![Training](train_curve.png)")
    out.append("![Memory per layer](memory.png)")
    return "\n".join(out) + "\n"

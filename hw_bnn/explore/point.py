"""One network point of a sweep: train, export, compile, then every hardware point of it.

A *network point* (recipe x bits x hidden shape) is trained, exported and compiled by the flow
in ``<out>/nets/<id>/`` (the flow's stage stamps make re-runs reuse every unchanged artifact).
Each *hardware point* (network point x target x device) then takes the matrix units of the
integer network (:func:`hw_bnn.dse.units.mvu_layers`), the fewest-LUT folding that meets the
target and fits the device (:func:`hw_bnn.dse.folding.fold_for_target`), its cost
(:func:`hw_bnn.dse.cost.network_cost`) and fit (:func:`hw_bnn.dse.devices.fit`), and the golden
model is checked against the hls4ml C simulation of that folding (emit + verify in
``<out>/nets/<id>/fold-<hash>/``; a folding already verified for the network is reused).

:func:`run_net_point` never raises for a failure inside the point: the error is recorded in
its rows and in ``<out>/nets/<id>/result.json``, and the sweep goes on.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import yaml

from hw_bnn.dse.cost import network_cost
from hw_bnn.dse.devices import fit
from hw_bnn.dse.folding import fold_for_target
from hw_bnn.dse.folding_file import FOLDING_FILE
from hw_bnn.dse.units import mvu_layers
from hw_bnn.errors import FoldingError, InfeasibleTargetError
from hw_bnn.explore.measured import cost_params
from hw_bnn.explore.records import content_key, write_json
from hw_bnn.explore.results import COLUMNS, FINISHED
from hw_bnn.files import write_bytes_atomic, write_text_atomic
from hw_bnn.flow.config import FlowConfig
from hw_bnn.flow.runner import run_flow
from hw_bnn.flow.stages import evaluate_splits
from hw_bnn.ir import IntegerNetwork

RESULT_FILE = "result.json"  # per network point, in <out>/nets/<id>/


def net_dir(out, pid: str) -> Path:
    """The build folder of network point ``pid``."""
    return Path(out) / "nets" / pid


def error_text(e: BaseException) -> str:
    """``"<class>: <message>"`` (the class alone without a message), as the table records it."""
    msg = str(e).strip()
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


def _rel(path: Path, out) -> str:
    return Path(os.path.relpath(path, out)).as_posix()


def _base_row(point: dict, tgt: dict, dev: str) -> dict:
    """A row of hardware point (``point``, ``tgt``, ``dev``) with what the spec fixes."""
    rec = point["recipe"]
    row = dict.fromkeys(COLUMNS)
    row.update(
        point=f"{point['id']}/{tgt['label']}/{dev}",
        net=point["id"],
        recipe=point["recipe_label"],
        bits=point["bits"],
        weight_bits=rec["weight_bits"],
        act_bits=rec["act_bits"],
        hidden=json.dumps(rec["hidden"]),
        epochs=int(rec["train"]["epochs"]),
        target=tgt["label"],
        target_cycles=tgt["cycles"],
        clock_mhz=tgt["clock_mhz"],
        device=dev,
        error="",
    )
    return row


def _failed_row(point: dict, tgt: dict, dev: str, error: str, build: str) -> dict:
    row = _base_row(point, tgt, dev)
    row.update(status="failed", error=error, build=build)
    return row


# --------------------------------------------------------------------------------------
# the network: train, export, compile


def _flow_config(point: dict, recipe_path: Path, out: Path, **kw):
    return FlowConfig(
        model=str(recipe_path),
        out=str(out),
        data_dir=point["data_dir"],
        verify_limit=point["verify_limit"],
        csim_limit=point["csim_limit"] or None,
        progress=False,
        **kw,
    )


def golden_accuracy(cfg, network: IntegerNetwork) -> dict:
    """Accuracy of the golden model (what the hardware computes) on every image of each split:
    ``{"<split>_acc": fraction correct, "<split>_images": count}``."""
    out = {}
    for name, s in evaluate_splits(replace(cfg, verify_limit=None, log=[])).items():
        pred = np.concatenate(
            [
                np.argmax(network.apply_output_affine(network.run(s.x[i : i + 1000])), axis=-1)
                for i in range(0, len(s.x), 1000)
            ]
        )
        out[f"{name}_acc"] = float((pred == s.y).mean())
        out[f"{name}_images"] = int(len(s.x))
    return out


def _build_network(point: dict, build: Path, timings: dict) -> dict:
    """train, export, compile (the flow skips every stage whose inputs are unchanged)."""
    build.mkdir(parents=True, exist_ok=True)
    recipe_path = build / "recipe.yaml"
    text = yaml.safe_dump(point["recipe"], sort_keys=False)
    if not recipe_path.is_file() or recipe_path.read_text() != text:
        write_text_atomic(recipe_path, text)
    cfg = _flow_config(point, recipe_path, build)
    for stage in ("train", "export", "compile"):
        t0 = time.perf_counter()
        run_flow(cfg, (stage,))
        timings[f"{stage}_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    network = IntegerNetwork.load(build / "golden.npz")
    check = json.loads((build / "compile_check.json").read_text())
    acc = golden_accuracy(cfg, network)
    timings["accuracy_s"] = round(time.perf_counter() - t0, 3)
    layers = mvu_layers(network)
    if not layers:
        raise FoldingError(f"{build / 'golden.npz'}: the network has no matrix units to fold")
    return {
        "recipe_path": recipe_path,
        "golden": network,
        "layers": layers,
        "acc": acc,
        "golden_vs_integer": sum(int(v.get("golden_vs_integer_mismatches", 0)) for v in check.values()),
    }


# --------------------------------------------------------------------------------------
# one hardware point: fold, cost, fit, verify


def _verify_folding(point: dict, net: dict, folding: dict, fold_dir: Path) -> dict:
    """emit + verify of one folding in its own build folder (the flow skips what is unchanged)."""
    fold_dir.mkdir(parents=True, exist_ok=True)
    src = fold_dir.parent / "golden.npz"
    dst = fold_dir / "golden.npz"
    data = src.read_bytes()
    if not dst.is_file() or dst.read_bytes() != data:
        write_bytes_atomic(dst, data)
    write_json(fold_dir / FOLDING_FILE, {"folding": folding})
    cfg = _flow_config(point, net["recipe_path"], fold_dir, folding=folding)
    run_flow(cfg, ("emit", "verify"))
    res = json.loads((fold_dir / "verify.json").read_text())
    images = sum(int(e["images"]) for e in res["splits"].values())
    mism = int(res["mismatches"])
    error = ""
    if mism:
        firsts = [
            f"{k}: image {e['first_mismatch']['image']}, layer {e['first_mismatch'].get('layer')}"
            for k, e in res["splits"].items()
            if "first_mismatch" in e
        ]
        error = (
            f"VerifyError: golden vs C simulation: {mism} mismatched images of {images} (first: {'; '.join(firsts)})"
        )
    return {"images": images, "mismatches": mism, "error": error}


def _cost_columns(layers, folding: dict, tgt: dict, dev: str, limit: float, params) -> dict:
    """The cost model's columns of a folding: LUT / BRAM18 / DSP / FF, speed, fit and utilization."""
    cost = network_cost(layers, folding, tgt["clock_mhz"], params)
    full = fit(cost, dev)  # utilization of the whole device
    cols = dict(
        lut=cost.lut,
        bram18=cost.bram18,
        dsp=cost.dsp,
        ff=cost.ff,
        fps=cost.fps,
        latency_us=cost.latency_us,
        max_cycles=cost.max_cycles,
        latency_cycles=cost.latency_cycles,
        bottleneck=cost.bottleneck,
        weight_memory_bits=sum(u.weight_memory_bits for u in layers),
        fits=fit(cost, dev, limit).fits,
        lut_util_pct=round(full["LUT"].utilization, 4),
        bram18_util_pct=round(full["BRAM18"].utilization, 4),
        dsp_util_pct=round(full["DSP"].utilization, 4),
        folding=json.dumps(folding, separators=(",", ":")),
        cost_model=cost.model,
    )
    cols["utilization_pct"] = max(cols["lut_util_pct"], cols["bram18_util_pct"], cols["dsp_util_pct"])
    return cols


def cost_params_of(point: dict, net: dict, dev: str):
    """The cost model of the point's hardware points on ``dev`` (``point["cost"]``, default
    calibrated; a measured one synthesizes the network's own layers)."""
    cost = point.get("cost") or {}
    model = cost.get("model", "calibrated")
    layers = {layer.name: layer for layer in net["golden"].layers} if model == "measured" else None
    kw = {"max_lanes": cost["max_measured_lanes"]} if cost.get("max_measured_lanes") else {}
    params = cost_params(model, dev, layers, **kw)
    if params.measure is not None:
        params.measure.prefetch(net["layers"], cost.get("max_parallel"))
    return params


def _hardware_point(
    point: dict, net: dict, tgt: dict, dev: str, verified: dict, build: Path, out: Path, params=None
) -> dict:
    """The row of one hardware point; ``verified`` (folding key -> C-sim result) is shared by
    the network point's hardware points, so each distinct folding is simulated once.  ``params``:
    the cost model (default: :func:`cost_params_of`)."""
    row = _base_row(point, tgt, dev)
    row.update(net["acc"])
    row["accuracy"] = row["test_acc"] if row.get("test_acc") is not None else row["val_acc"]
    row["golden_vs_integer_mismatches"] = net["golden_vs_integer"]
    row["build"] = _rel(build, out)
    layers, limit = net["layers"], point["utilization_limit"]
    params = params if params is not None else cost_params_of(point, net, dev)
    kw = {"params": params, "max_parallel": (point.get("cost") or {}).get("max_parallel")}
    status = "ok"
    try:
        folding = fold_for_target(layers, tgt["cycles"], dev, limit=limit, **kw)
    except InfeasibleTargetError as e:  # even full parallelism is too slow: no cost to show
        row.update(status="infeasible", error=str(e))
        return row
    except FoldingError as e:  # the target is reachable, but no such folding fits the device
        status, row["error"] = "infeasible", str(e)
        folding = fold_for_target(layers, tgt["cycles"], **kw)  # the cheapest one, for the record
    row.update(_cost_columns(layers, folding, tgt, dev, limit, params))
    if status != "ok" or not point["csim_limit"]:
        row["status"] = status
        return row
    fkey = content_key(folding)[:12]
    fold_dir = build / f"fold-{fkey}"
    if fkey not in verified:
        t0 = time.perf_counter()
        try:
            verified[fkey] = _verify_folding(point, net, folding, fold_dir)
        except Exception as e:  # noqa: BLE001 - recorded, the sweep goes on
            verified[fkey] = {"images": None, "mismatches": None, "error": error_text(e)}
        verified[fkey]["seconds"] = round(time.perf_counter() - t0, 3)
    v = verified[fkey]
    row.update(csim_images=v["images"], csim_mismatches=v["mismatches"], build=_rel(fold_dir, out))
    row["status"] = "failed" if v["error"] else "ok"
    row["error"] = v["error"]
    return row


# --------------------------------------------------------------------------------------
# the network point's result


def _net_status(rows: list[dict]) -> str:
    st = {r["status"] for r in rows}
    return "failed" if "failed" in st else ("ok" if "ok" in st else "infeasible")


def failed_result(point: dict, out, error: str, timings: dict | None = None) -> dict:
    """The result of a network point that failed before its hardware points: every row failed."""
    build = _rel(net_dir(out, point["id"]), out)
    rows = [_failed_row(point, tgt, dev, error, build) for tgt in point["targets"] for dev in point["devices"]]
    return {
        "id": point["id"],
        "key": point["key"],
        "status": "failed",
        "error": error,
        "rows": rows,
        "timings": timings if timings is not None else {},
    }


def _hardware_points(point: dict, net: dict, build: Path, out: Path, timings: dict) -> dict:
    """Every hardware point of a built network point, as the point's result."""
    verified: dict = {}
    rows = []
    t0 = time.perf_counter()
    params: dict = {}  # per device: a measured model keeps its measurements across targets
    for tgt in point["targets"]:
        for dev in point["devices"]:
            try:
                if dev not in params:
                    params[dev] = cost_params_of(point, net, dev)
                rows.append(_hardware_point(point, net, tgt, dev, verified, build, out, params[dev]))
            except Exception as e:  # noqa: BLE001
                rows.append(_failed_row(point, tgt, dev, error_text(e), _rel(build, out)))
    timings["verify_s"] = round(sum(v["seconds"] for v in verified.values()), 3)
    timings["hardware_s"] = round(time.perf_counter() - t0, 3)
    timings["foldings_verified"] = len(verified)
    errors = [r["error"] for r in rows if r["status"] == "failed"]
    return {
        "id": point["id"],
        "key": point["key"],
        "status": _net_status(rows),
        "error": errors[0] if errors else "",
        "rows": rows,
        "timings": timings,
    }


def run_net_point(point: dict, out: str) -> dict:
    """Train, export and compile one network point, then fold, cost, fit and verify each of its
    hardware points.  Never raises for a failure inside the point: the result (also written to
    ``<out>/nets/<id>/result.json``) records it.  torch runs on ``point["threads"]`` threads."""
    import torch

    t_start = time.perf_counter()
    out = Path(out)
    build = net_dir(out, point["id"])
    timings: dict = {}
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(int(point["threads"]))
    try:
        try:
            net = _build_network(point, build, timings)
        except Exception as e:  # noqa: BLE001 - recorded, the sweep goes on
            result = failed_result(point, out, error_text(e), timings)
        else:
            result = _hardware_points(point, net, build, out, timings)
    finally:
        torch.set_num_threads(prev_threads)
    timings["total_s"] = round(time.perf_counter() - t_start, 3)
    timings["pid"] = os.getpid()
    try:
        write_json(build / RESULT_FILE, result)
    except OSError:
        pass  # e.g. a cluster node without the shared folder: the driver writes it too
    return result


def load_finished(point: dict, out) -> dict | None:
    """The stored result of a finished point with unchanged settings, else None."""
    path = net_dir(out, point["id"]) / RESULT_FILE
    try:
        res = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(res, dict) or res.get("key") != point["key"] or res.get("status") not in FINISHED:
        return None
    return res

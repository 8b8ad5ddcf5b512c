"""Emit an hls4ml project for a golden hw-bnn network (our registered layers, see ``hw_bnn.hls_ext``).

``emit_project`` builds an hls4ml ``ModelGraph`` from the golden model's layer list, writes the
project into a temporary sibling folder of ``out_dir`` and only then renames it to ``out_dir``
(an existing ``out_dir`` is moved aside first and deleted once the new project is in place), so
a folder named ``out_dir`` never holds a half-written project.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from hw_bnn import hls_ext
from hw_bnn.golden import GoldenModel, ThresholdLayer, XnorDenseLayer, bits_for_range
from hw_bnn.hls_ext import EmitError

__all__ = ["EmitError", "emit_project", "plan_network", "PROJECT_INFO"]

# The hls4ml bridge and testbench move values as float (tb_data is parsed with atof into floats):
# integers are exact only up to 2**24 in magnitude.
FLOAT_EXACT = 2**24
BACKENDS = {"vivado": "Vivado", "vitis": "Vitis"}
IO_TYPES = ("io_parallel", "io_stream")
PROJECT_INFO = "hw_bnn_project.json"
_BAD_NAME = re.compile(r"[\"\\\x00-\x1f\x7f]")


def _rf_for(reuse_factor, name: str) -> int:
    if isinstance(reuse_factor, Mapping):
        rf = reuse_factor.get(name, reuse_factor.get("default", 1))
    else:
        rf = reuse_factor
    if isinstance(rf, bool) or not isinstance(rf, (int, np.integer)) or int(rf) < 1:
        raise EmitError(f"layer {name!r}: ReuseFactor must be a positive integer, got {rf!r}")
    return int(rf)


def _check_names(golden: GoldenModel) -> None:
    seen = {}
    for layer in golden.layers:
        name = layer.name
        if not isinstance(name, str) or not name:
            raise EmitError(f"layer name {name!r}: names must be non-empty strings")
        if name.lower() == "input" or _BAD_NAME.search(name):
            raise EmitError(
                f"layer {name!r}: name cannot be used in the hls4ml project "
                "('input' is reserved; quotes, backslashes and control characters are not allowed)"
            )
        if name.lower() in seen:
            raise EmitError(f"layer {name!r}: duplicate layer name (hls4ml configs are case-insensitive: {seen[name.lower()]!r})")
        seen[name.lower()] = name


def _input_size(golden: GoldenModel) -> int:
    if golden.input_shape:
        if len(golden.input_shape) != 1:
            raise EmitError(
                f"golden model: input shape {tuple(golden.input_shape)} is not flat; the hls4ml project takes (N, C) inputs"
            )
        return int(golden.input_shape[0])
    for layer in golden.layers:
        if isinstance(layer, XnorDenseLayer):
            return layer.mw
        if isinstance(layer, ThresholdLayer) and layer.thresholds.shape[0] != 1:
            return int(layer.thresholds.shape[0])
    raise EmitError("golden model: cannot tell the input size (no input_shape and no layer that fixes it)")


def plan_network(golden: GoldenModel) -> dict:
    """Check that the golden network fits the hls4ml layers and compute every range and width.

    Raises ``EmitError`` (a ``ValueError``) naming the layer when a value does not fit.
    """
    if not golden.layers:
        raise EmitError("golden model: no layers")
    _check_names(golden)
    lo, hi = (int(v) for v in golden.input_range)
    first = golden.layers[0].name
    if lo > hi:
        raise EmitError(f"layer {first!r}: empty input range [{lo}, {hi}]")
    if max(abs(lo), abs(hi)) > FLOAT_EXACT:
        raise EmitError(
            f"layer {first!r}: input range [{lo}, {hi}] does not fit the hls4ml C-sim path "
            f"(inputs travel as float; integers must be within +-2**24)"
        )
    n = _input_size(golden)
    in_width, in_signed = bits_for_range(lo, hi)
    layers = []
    cur_lo, cur_hi, cur_n = lo, hi, n
    for i, layer in enumerate(golden.layers):
        info = {"name": layer.name, "kind": layer.kind, "in_range": [cur_lo, cur_hi], "n_in": cur_n}
        if isinstance(layer, ThresholdLayer):
            t = np.asarray(layer.thresholds)
            if t.ndim != 2 or t.shape[1] < 1 or t.shape[0] not in (1, cur_n):
                raise EmitError(
                    f"layer {layer.name!r}: thresholds of shape {t.shape} do not fit {cur_n} channels (need ({cur_n} or 1, L>=1))"
                )
            if not np.issubdtype(t.dtype, np.integer):
                raise EmitError(f"layer {layer.name!r}: thresholds must be integers, got {t.dtype}")
            l_lo, l_hi = (int(v) for v in layer.in_range)
            if cur_lo < l_lo or cur_hi > l_hi:
                raise EmitError(
                    f"layer {layer.name!r}: incoming values [{cur_lo}, {cur_hi}] do not fit the layer's "
                    f"input range [{l_lo}, {l_hi}]"
                )
            cur_lo, cur_hi = 0, int(t.shape[1])
            info.update(levels=int(t.shape[1]), shared=bool(t.shape[0] == 1), n_out=cur_n)
        elif isinstance(layer, XnorDenseLayer):
            if cur_lo < 0 or cur_hi > 1:
                prev = f"layer {golden.layers[i - 1].name!r}" if i else "the network input"
                raise EmitError(
                    f"layer {layer.name!r}: XNOR inputs must be bits (0..1), but {prev} gives values in "
                    f"[{cur_lo}, {cur_hi}]"
                )
            if layer.mw != cur_n:
                raise EmitError(f"layer {layer.name!r}: fan-in MW={layer.mw} but the previous layer gives {cur_n} values")
            w = np.asarray(layer.weights)
            if np.any((w != 0) & (w != 1)):
                raise EmitError(f"layer {layer.name!r}: weights must be bits (0/1)")
            if layer.thresholds is not None:
                t = np.asarray(layer.thresholds)
                if t.ndim != 2 or t.shape[0] != layer.mh or t.shape[1] < 1:
                    raise EmitError(
                        f"layer {layer.name!r}: thresholds of shape {t.shape} do not fit MH={layer.mh} (need ({layer.mh}, L>=1))"
                    )
                if not np.issubdtype(t.dtype, np.integer):
                    raise EmitError(f"layer {layer.name!r}: thresholds must be integers, got {t.dtype}")
                cur_lo, cur_hi = 0, int(t.shape[1])
                info["levels"] = int(t.shape[1])
            else:
                cur_lo, cur_hi = -layer.mw, layer.mw
                info["levels"] = 0
            cur_n = layer.mh
            info.update(n_out=cur_n, pop_width=bits_for_range(0, layer.mw)[0], acc_width=bits_for_range(-layer.mw, layer.mw)[0])
        else:
            raise EmitError(f"layer {getattr(layer, 'name', i)!r}: unsupported layer type {type(layer).__name__}")
        info["out_range"] = [cur_lo, cur_hi]
        info["out_type"] = hls_ext.int_precision_str(cur_lo, cur_hi)
        layers.append(info)
    if max(abs(cur_lo), abs(cur_hi)) > FLOAT_EXACT:
        raise EmitError(f"layer {golden.layers[-1].name!r}: outputs [{cur_lo}, {cur_hi}] exceed the exact float range")
    return {
        "n_inputs": n,
        "input_range": [lo, hi],
        "input_type": hls_ext.int_type_str(in_width, in_signed),
        "output_range": [cur_lo, cur_hi],
        "output_type": hls_ext.int_precision_str(cur_lo, cur_hi),
        "layers": layers,
    }


def _input_name(golden: GoldenModel) -> str:
    taken = {layer.name.lower() for layer in golden.layers}
    name, k = "hw_bnn_input", 0
    while name in taken:
        k += 1
        name = f"hw_bnn_input{k}"
    return name


def _layer_list(golden: GoldenModel, plan: dict, input_name: str) -> list[dict]:
    out = [{"class_name": "InputLayer", "name": input_name, "input_shape": [plan["n_inputs"]]}]
    for layer, info in zip(golden.layers, plan["layers"]):
        if isinstance(layer, ThresholdLayer):
            t = np.asarray(layer.thresholds, dtype=np.int64)
            out.append(
                {
                    "class_name": hls_ext.THRESHOLD_KIND,
                    "name": layer.name,
                    "n_in": int(info["n_in"]),
                    "n_levels": int(t.shape[1]),
                    "shared": bool(t.shape[0] == 1),
                    "thresholds_data": t,
                }
            )
        else:
            out.append(
                {
                    "class_name": hls_ext.XNOR_DENSE_KIND,
                    "name": layer.name,
                    "n_in": layer.mw,
                    "n_out": layer.mh,
                    "n_levels": int(info["levels"]),
                    "weight_data": np.asarray(layer.weights, dtype=np.uint8),
                    "thresholds_data": None if layer.thresholds is None else np.asarray(layer.thresholds, dtype=np.int64),
                }
            )
    return out


def _write_dat(path: Path, rows: np.ndarray) -> None:
    with open(path, "w") as f:
        for row in rows:
            f.write(" ".join(str(int(v)) for v in row) + "\n")


def _replace_dir(tmp: Path, out_dir: Path) -> None:
    """Move ``tmp`` to ``out_dir``, replacing an existing ``out_dir`` (moved aside, then deleted)."""
    backup = None
    if out_dir.exists() or out_dir.is_symlink():
        backup = out_dir.with_name(f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}")
        os.rename(out_dir, backup)
    try:
        os.rename(tmp, out_dir)
    except BaseException:
        if backup is not None:
            os.rename(backup, out_dir)
        raise
    if backup is not None:
        if backup.is_dir() and not backup.is_symlink():
            shutil.rmtree(backup, ignore_errors=True)
        else:
            backup.unlink()


def emit_project(
    golden: GoldenModel,
    out_dir,
    backend: str = "Vitis",
    reuse_factor=1,
    part: str = "xc7z020clg400-1",
    clock_period=10,
    io_type: str = "io_parallel",
    tb_inputs=None,
    trace: bool = False,
    *,
    project_name: str = "hw_bnn",
    hls_dir=None,
):
    """Build and write the hls4ml project of ``golden``; returns the hls4ml ``ModelGraph``.

    ``reuse_factor``: an int for every layer, or a mapping ``{layer name: int}`` (key ``"default"``
    for the rest).  ``tb_inputs``: integer inputs ``(N, C)``; they and ``golden.run(tb_inputs)`` become
    ``tb_data/tb_input_features.dat`` / ``tb_output_predictions.dat``.  ``trace``: enable hls4ml's
    per-layer trace in the generated code (``hw_bnn.csim.csim_trace`` turns it on by itself).
    The hls4ml layer names are the golden layer names.  Raises ``EmitError`` (a ``ValueError`` and
    a ``HwBnnError``) when something does not fit, naming the layer.
    """
    backend_name = BACKENDS.get(str(backend).lower())
    if backend_name is None:
        raise EmitError(f"backend must be one of {sorted(BACKENDS.values())}, got {backend!r}")
    if io_type not in IO_TYPES:
        raise EmitError(f"io_type must be one of {IO_TYPES}, got {io_type!r}")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", project_name):
        raise EmitError(f"project_name must be a C identifier, got {project_name!r}")
    if project_name in (hls_ext.CPP_NAMESPACE, "nnet"):
        raise EmitError(f"project_name {project_name!r} clashes with a C++ namespace of the project")

    if isinstance(clock_period, np.generic):
        clock_period = clock_period.item()
    plan = plan_network(golden)
    rfs = {layer.name: _rf_for(reuse_factor, layer.name) for layer in golden.layers}
    if isinstance(reuse_factor, Mapping):
        unknown = set(reuse_factor) - set(rfs) - {"default"}
        if unknown:
            raise EmitError(f"reuse_factor names unknown layers: {sorted(unknown)}")

    tb = None
    if tb_inputs is not None:
        x = np.asarray(tb_inputs)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != plan["n_inputs"]:
            raise EmitError(f"tb_inputs: expected shape (N, {plan['n_inputs']}), got {np.shape(tb_inputs)}")
        try:
            x = golden.check_input(x).astype(np.int64)  # integer-valued floats are fine too
        except ValueError as e:
            raise EmitError(f"tb_inputs: {e}") from None
        y = np.asarray(golden.run(x)).reshape(x.shape[0], -1)
        tb = (x.astype(np.int64), y.astype(np.int64))

    hls_ext.register(hls_dir)
    from hls4ml.model.graph import ModelGraph
    from hls4ml.utils.config import create_config

    out_dir = Path(out_dir).expanduser().resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{uuid.uuid4().hex[:8]}")

    input_name = _input_name(golden)
    config = create_config(
        output_dir=str(tmp),
        project_name=project_name,
        backend=backend_name,
        part=part,
        clock_period=clock_period,
        io_type=io_type,
    )
    all_rf1 = all(rf == 1 for rf in rfs.values())
    layer_cfg = {input_name: {"Precision": {"result": plan["input_type"]}, "Trace": False}}
    for layer in golden.layers:
        layer_cfg[layer.name] = {"ReuseFactor": rfs[layer.name], "Trace": bool(trace)}
    config["HLSConfig"] = {
        "Model": {
            "Precision": plan["input_type"],
            "ReuseFactor": 1,
            "Strategy": "Latency",
            # one pipelined top function when nothing is folded; DATAFLOW keeps the folded loops
            "PipelineStyle": "pipeline" if (all_rf1 and io_type == "io_parallel") else "dataflow",
        },
        "LayerName": layer_cfg,
    }
    config["TraceOutput"] = bool(trace)

    try:
        hls_model = ModelGraph.from_layer_list(config, _layer_list(golden, plan, input_name))
        hls_model.write()
        tb_dir = tmp / "tb_data"
        tb_dir.mkdir(exist_ok=True)
        if tb is not None:
            _write_dat(tb_dir / "tb_input_features.dat", tb[0])
            _write_dat(tb_dir / "tb_output_predictions.dat", tb[1])
        info = {
            "project_name": project_name,
            "backend": backend_name,
            "io_type": io_type,
            "part": part,
            "clock_period": clock_period,
            "input_layer": input_name,
            "reuse_factor": rfs,
            "n_tb_samples": 0 if tb is None else int(tb[0].shape[0]),
            **plan,
        }
        for layer_info in info["layers"]:
            n_units = layer_info["n_out"] if layer_info["kind"] == "xnor_dense" else layer_info["n_in"]
            layer_info["n_pe"], layer_info["n_fold"] = hls_ext.fold(n_units, rfs[layer_info["name"]])
        (tmp / PROJECT_INFO).write_text(json.dumps(info, indent=2) + "\n")
        # the project moves to out_dir: the model (and its saved config) must point there
        hls_model.config.config["OutputDir"] = str(out_dir)
        _rewrite_yml(hls_model, tmp)
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return hls_model


def _rewrite_yml(hls_model, project_dir: Path) -> None:
    path = project_dir / "hls4ml_config.yml"
    if not path.exists():
        return
    import yaml

    with open(path, "w") as f:
        yaml.dump(hls_model.config.config, f)

"""Emit the hls4ml project of an integer network with the hw-bnn layers (:mod:`hw_bnn.hls4ml_ext.layers`).

``emit_project`` plans the network (:mod:`hw_bnn.hls4ml_ext.plan`: every shape, range and width,
checked), builds an hls4ml ``ModelGraph`` from its layer list (:mod:`hw_bnn.hls4ml_ext.config`),
writes the project into a temporary sibling folder of ``out_dir`` and only then renames it to
``out_dir`` (an existing ``out_dir`` is moved aside first and deleted once the new project is in
place), so a folder named ``out_dir`` never holds a half-written project.

Image networks (``golden.input_shape = (C, H, W)``) are emitted as ``io_stream`` projects: the
input is a stream of H*W pixels in NHWC order (one transaction = the C channel values of a pixel,
as hls4ml streams a 3-D tensor), every conv / maxpool layer reads and writes such pixel streams and
a flatten layer turns one into the single vector a dense layer reads.  ``io_type=None`` (the
default) picks ``io_stream`` for image networks and ``io_parallel`` otherwise; an explicit
``io_parallel`` for an image network is refused.  Testbench inputs are given like
``golden.run`` takes them (NCHW for images) and written the way the hardware reads them (NHWC,
flattened per image); expected outputs are ``golden.run`` flattened (NHWC for image outputs).

Graphs (residual networks): a layer that names its ``inputs`` reads those layers' outputs, any
other layer the previous layer's output, as in ``IntegerNetwork.run``; the hls4ml layer dicts get
the same ``inputs``.  In ``io_stream`` a tensor with several readers (at most 7) is copied by
hls4ml's ``clone_output`` pass (``nnet::clone_stream``).

Folding.  Every matrix-vector layer (IR kinds ``xnor_dense``, ``int_dense``, ``conv``; MW
inputs and MH outputs, for a conv MW = kernel * kernel * C_in and MH = C_out per output pixel)
folds by PE (outputs in parallel) and SIMD (inputs in parallel), as FINN's MVAU: NF = MH / PE
neuron folds of SF = MW / SIMD synapse folds, NF * SF cycles per vector (a conv: per output
pixel).  ``emit_project(..., folding={name: {"PE": p, "SIMD": s}})`` sets them per layer: PE
must divide MH and SIMD must divide MW (for a conv any divisor of kernel * kernel * C_in); a
missing key is fully parallel (PE = MH, SIMD = MW).  They reach hls4ml as the layer's ``Pe`` /
``Simd`` HLS-config keys with ``ReuseFactor = NF * SF`` (hls4ml's bookkeeping).  A
matrix-vector layer that ``folding`` does not name takes the reuse-factor schedule of its
``reuse_factor``: PE = ceil(MH / RF), SIMD = MW (so the default ``reuse_factor=1`` is fully
parallel; the last neuron fold may have idle PEs when PE does not divide MH).  The project
records the folding in ``hw_bnn_project.json`` (``folding``, and per layer ``pe``, ``simd``,
``nf``, ``sf``) and in ``hls4ml_config.yml`` (``Pe``, ``Simd``, ``ReuseFactor``).  Layers that
are not matrix-vector units (multithreshold, ...) keep the reuse-factor schedule.

FIFO depths (real synthesis; C simulation streams are unbounded): hls4ml gives every stream the
depth of a whole tensor (H*W pixel transactions), which always suffices.  The stream that carries a
shortcut to its ``FixedAddLayer`` must hold every pixel the residual branch takes in before it
gives out its first one: for a k x k, pad p, stride 1 conv in the branch (the line buffer reads
whole rows before it computes) about ``(k - p) * W`` pixels plus a few for the elementwise layers,
so ``2 W`` for 3x3 pad 1; hls4ml's FIFO depth optimization (co-simulation) may shrink the depths,
but not below that.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from hw_bnn.errors import EmitError
from hw_bnn.hls4ml_ext.config import hls_config, input_layer_name, layer_list
from hw_bnn.hls4ml_ext.folding import resolve_folding, reuse_factor_for, reuse_factor_schedule
from hw_bnn.hls4ml_ext.kinds import BACKENDS, CPP_NAMESPACE
from hw_bnn.hls4ml_ext.plan import plan_network, resolve_io_type
from hw_bnn.hls4ml_ext.register import register
from hw_bnn.ir import IntegerNetwork

__all__ = ["PROJECT_INFO", "emit_project"]

BACKEND_NAMES = {b.lower(): b for b in BACKENDS}  # emit_project's backend argument, any case
IO_TYPES = ("io_parallel", "io_stream")
PROJECT_INFO = "hw_bnn_project.json"
MAX_STREAM_READERS = 7  # hls4ml's nnet::clone_stream makes 2..7 copies of a stream


def golden_input_shape(plan: dict) -> tuple[int, ...]:
    """Per-sample input shape in the golden model's layout (CHW for images)."""
    shape = tuple(plan["input_shape"])
    if plan["is_image"]:
        h, w, c = shape
        return (c, h, w)
    return shape


def to_hardware_rows(plan: dict, x: np.ndarray) -> np.ndarray:
    """Golden-layout inputs ``(N, ...)`` -> ``(N, n_inputs)`` rows in the hardware order (NHWC)."""
    x = np.asarray(x)
    if plan["is_image"]:
        x = np.transpose(x, (0, 2, 3, 1))
    return np.ascontiguousarray(x.reshape(x.shape[0], -1))


def _check_settings(backend, io_type, project_name) -> str:
    """The hls4ml backend name, once the backend, io type and project name are checked."""
    backend_name = BACKEND_NAMES.get(str(backend).lower())
    if backend_name is None:
        raise EmitError(f"backend must be one of {sorted(BACKEND_NAMES.values())}, got {backend!r}")
    if io_type is not None and io_type not in IO_TYPES:
        raise EmitError(f"io_type must be one of {IO_TYPES} or None (auto), got {io_type!r}")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", project_name):
        raise EmitError(f"project_name must be a C identifier, got {project_name!r}")
    if project_name in (CPP_NAMESPACE, "nnet"):
        raise EmitError(f"project_name {project_name!r} clashes with a C++ namespace of the project")
    return backend_name


def _check_stream_readers(plan: dict, io_type: str) -> None:
    if io_type != "io_stream":
        return
    for info in plan["layers"]:
        if len(info["readers"]) > MAX_STREAM_READERS:
            raise EmitError(
                f"layer {info['name']!r}: its output is read by {len(info['readers'])} layers; io_stream copies a "
                f"stream to at most {MAX_STREAM_READERS} readers (hls4ml clone_stream)"
            )


def _reuse_factors(golden: IntegerNetwork, reuse_factor) -> dict:
    """The ``reuse_factor`` argument per layer, checked (a mapping may name only known layers)."""
    rfs = {layer.name: reuse_factor_for(reuse_factor, layer.name) for layer in golden.layers}
    if isinstance(reuse_factor, Mapping):
        unknown = set(reuse_factor) - set(rfs) - {"default"}
        if unknown:
            raise EmitError(f"reuse_factor names unknown layers: {sorted(unknown)}")
    return rfs


def _testbench(golden: IntegerNetwork, plan: dict, tb_inputs):
    """``(input rows, expected output rows)`` of the testbench (int64, hardware order), or None."""
    if tb_inputs is None:
        return None
    x = np.asarray(tb_inputs)
    want = golden_input_shape(plan)
    if x.ndim == len(want):
        x = x[None]
    if tuple(x.shape[1:]) != want:
        raise EmitError(f"tb_inputs: expected shape (N, {', '.join(map(str, want))}), got {np.shape(tb_inputs)}")
    try:
        x = golden.check_input(x).astype(np.int64)  # integer-valued floats are fine too
    except ValueError as e:
        raise EmitError(f"tb_inputs: {e}") from None
    y = np.asarray(golden.run(x)).reshape(x.shape[0], -1)
    # the testbench reads what the hardware reads: NHWC pixels, flattened
    return to_hardware_rows(plan, x), y.astype(np.int64)


def _project_info(settings: dict, plan: dict, rfs: dict, folds: dict, tb) -> dict:
    """``hw_bnn_project.json``: the settings, the plan and, per layer, its schedule (``n_pe``
    outputs per step and ``n_fold`` steps per vector or pixel; ``pe``, ``simd``, ``nf``, ``sf``
    for a folded matrix-vector unit)."""
    info = {
        **settings,
        "reuse_factor": rfs,  # the argument, per layer (folding: hls4ml's ReuseFactor of MVU layers)
        "folding": folds,
        "n_tb_samples": 0 if tb is None else int(tb[0].shape[0]),
        **plan,
    }
    for layer_info in info["layers"]:
        n_units = layer_info["n_units"]
        f = folds.get(layer_info["name"])
        if f is not None:
            layer_info.update(
                pe=f["PE"], simd=f["SIMD"], nf=f["NF"], sf=f["SF"], n_pe=f["PE"], n_fold=f["NF"] * f["SF"]
            )
        elif layer_info["folded"]:  # the reuse-factor schedule
            layer_info["n_pe"], layer_info["n_fold"] = reuse_factor_schedule(n_units, rfs[layer_info["name"]])
        else:
            layer_info["n_pe"], layer_info["n_fold"] = n_units, 1
    return info


def _write_dat(path: Path, rows: np.ndarray) -> None:
    with open(path, "w") as f:
        f.writelines(" ".join(str(int(v)) for v in row) + "\n" for row in rows)


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


def _rewrite_yml(hls_model, project_dir: Path) -> None:
    path = project_dir / "hls4ml_config.yml"
    if not path.exists():
        return
    import yaml

    with open(path, "w") as f:
        yaml.dump(hls_model.config.config, f)


def _content_stamp(hls_model, project_dir: Path) -> None:
    """hls4ml names the C-simulation library with a random 8-hex ``Stamp`` (in the config and
    ``build_lib.sh``); make it the first 8 hex of the SHA-256 of the project's other files, so
    the same network and settings write the same bytes."""
    skip = ("build_lib.sh", "hls4ml_config.yml")
    h = hashlib.sha256()
    for f in sorted(q for q in project_dir.rglob("*") if q.is_file() and q.name not in skip):
        h.update(str(f.relative_to(project_dir)).encode() + f.read_bytes())
    old, new = hls_model.config.config.get("Stamp"), h.hexdigest()[:8]
    hls_model.config.config["Stamp"] = new
    script = project_dir / "build_lib.sh"
    if old and script.exists():
        script.write_text(script.read_text().replace(old, new))


def _write_testbench(project_dir: Path, tb) -> None:
    tb_dir = project_dir / "tb_data"
    tb_dir.mkdir(exist_ok=True)
    if tb is not None:
        _write_dat(tb_dir / "tb_input_features.dat", tb[0])
        _write_dat(tb_dir / "tb_output_predictions.dat", tb[1])


def emit_project(
    golden: IntegerNetwork,
    out_dir,
    backend: str = "Vitis",
    reuse_factor=1,
    part: str = "xc7z020clg400-1",
    clock_period=10,
    io_type: str | None = None,
    tb_inputs=None,
    trace: bool = False,
    *,
    project_name: str = "hw_bnn",
    hls_dir=None,
    folding=None,
    home=None,
):
    """Build and write the hls4ml project of ``golden``; returns the hls4ml ``ModelGraph``.

    ``reuse_factor``: an int for every layer, or a mapping ``{layer name: int}`` (key ``"default"``
    for the rest).  ``folding``: ``{layer name: {"PE": p, "SIMD": s}}`` for matrix-vector
    layers (``xnor_dense``, ``int_dense``, ``conv``); PE divides MH, SIMD divides MW (a conv:
    kernel * kernel * C_in), a missing key is fully parallel; such a layer gets hls4ml
    ``ReuseFactor = (MH / PE) * (MW / SIMD)``.  Matrix-vector layers it does not name take the
    reuse-factor schedule: PE = ceil(MH / RF), SIMD = MW (see ``resolve_folding``; the default is
    fully parallel).  ``io_type``: ``None`` (auto: ``io_stream`` for image networks, else
    ``io_parallel``), ``"io_parallel"`` or ``"io_stream"``.  ``tb_inputs``: integer inputs in the
    golden layout (``(N, C)`` or NCHW images); they (NHWC rows for images) and
    ``golden.run(tb_inputs)`` become ``tb_data/tb_input_features.dat`` /
    ``tb_output_predictions.dat``.  ``trace``: enable hls4ml's per-layer trace in the generated
    code (``hw_bnn.sim.csim.csim_trace`` turns it on by itself).  The hls4ml layer names are the
    IR layer names.  Raises ``EmitError`` (a ``ValueError`` and a ``HwBnnError``) when something
    does not fit, naming the layer.  ``home``: where the project will live when ``out_dir`` is a
    staging folder (the config's ``OutputDir``; default ``out_dir``), so the files do not depend
    on where they were written first.
    """
    backend_name = _check_settings(backend, io_type, project_name)
    if isinstance(clock_period, np.generic):
        clock_period = clock_period.item()
    plan = plan_network(golden)
    io_type = resolve_io_type(plan, io_type)
    _check_stream_readers(plan, io_type)
    rfs = _reuse_factors(golden, reuse_factor)
    folds = resolve_folding(plan, reuse_factor, folding)
    # hls4ml's ReuseFactor per layer: the argument's, or NF * SF for a layer that folding names
    hls_rf = {name: folds[name]["reuse_factor"] if name in folds else rf for name, rf in rfs.items()}
    tb = _testbench(golden, plan, tb_inputs)

    register(hls_dir)
    from hls4ml.model.graph import ModelGraph
    from hls4ml.utils.config import create_config

    out_dir = Path(out_dir).expanduser().resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{uuid.uuid4().hex[:8]}")

    input_name = input_layer_name(golden)
    config = create_config(
        output_dir=str(tmp),
        project_name=project_name,
        backend=backend_name,
        part=part,
        clock_period=clock_period,
        io_type=io_type,
    )
    config["HLSConfig"] = hls_config(golden, plan, input_name, hls_rf, folds, io_type, trace)
    config["TraceOutput"] = bool(trace)
    settings = {
        "project_name": project_name,
        "backend": backend_name,
        "io_type": io_type,
        "part": part,
        "clock_period": clock_period,
        "input_layer": input_name,
    }
    try:  # into tmp, then published as out_dir; tmp is removed on any failure
        hls_model = ModelGraph.from_layer_list(config, layer_list(golden, plan, input_name))
        hls_model.write()
        _write_testbench(tmp, tb)
        info = _project_info(settings, plan, rfs, folds, tb)
        (tmp / PROJECT_INFO).write_text(json.dumps(info, indent=2) + "\n")
        _content_stamp(hls_model, tmp)
        # the project moves to out_dir: the model (and its saved config) must point there
        hls_model.config.config["OutputDir"] = str(Path(home).expanduser().resolve() if home else out_dir)
        _rewrite_yml(hls_model, tmp)
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return hls_model

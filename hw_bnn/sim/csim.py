"""C simulation of an emitted hls4ml project (``hw_bnn.hls4ml_ext.emit.emit_project``).

``compile_csim`` is hls4ml's ``ModelGraph.compile()`` (writes the project again and builds the
C-sim shared library with g++).  ``csim_predict`` and ``csim_trace`` take inputs in the golden
layout (``(N, C)``, or NCHW images, which they transpose to the NHWC pixel stream), feed them through
the library as float64 (exact for the +-2**24 range the emitter allows) and return int64 arrays
shaped like ``golden.run`` (NHWC ``(N, H, W, C)`` for image layers), refusing any value that is not
an exact integer.

``load_csim`` gives a compiled model for a project that ``emit_project`` wrote earlier (another
process, say): it checks that the folder is exactly what ``emit_project`` writes for this golden
model and these settings, and compiles an identical copy in a scratch folder, so the emitted
folder is never modified (hls4ml's ``compile()`` and ``trace()`` rewrite the project in place).

``csim_trace`` uses hls4ml's own ``ModelGraph.trace()``, which works for our custom layers: the
trace hooks hls4ml writes after every layer call are generic (``nnet::save_layer_output`` on the
layer's output variable), so every layer with a function call and ``trace=True`` is traced.  It
switches tracing on for every hw-bnn layer first; note that hls4ml's ``trace()`` always rewrites and
recompiles the project (one extra g++ build) and leaves the library compiled with the trace hooks
(inactive outside ``trace()``, so ``csim_predict`` keeps working).

Graph models (residual networks) need nothing special: the trace hook of a layer saves its own
output stream right after the layer's call, before hls4ml's ``Clone`` node (inserted for a tensor
with several readers, not one of our layers and so not traced) copies it; the trace dict holds
exactly the golden layer names, in the golden list order (a topological order, which is what
``hw_bnn.sim.verify.first_divergence`` relies on to name the first diverging layer).  Fixed-point
tensors travel as their integer codes, so the traced values compare directly with
``golden.run(x, trace=True)``.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from hw_bnn.errors import CsimError, HwBnnError
from hw_bnn.hls4ml_ext.hls_types import precision_range
from hw_bnn.hls4ml_ext.register import layer_classes


def compile_csim(hls_model):
    """Write the project and build the C-sim library (hls4ml ``compile()``); returns the model."""
    hls_model.compile()
    return hls_model


def _input_spec(hls_model) -> tuple[tuple[int, ...], int, int]:
    """(hardware input shape, lo, hi): ``(C,)`` or ``(H, W, C)`` for images."""
    inputs = hls_model.get_input_variables()
    if len(inputs) != 1:
        raise CsimError(f"expected a model with one input, got {len(inputs)}")
    var = inputs[0]
    lo, hi = precision_range(var.type.precision)
    return tuple(int(v) for v in var.shape), lo, hi


def _prepare(hls_model, x) -> np.ndarray:
    """Golden-layout integer inputs (``(N, C)``, or NCHW ``(N, C, H, W)`` for images) -> float64
    rows ``(N, n_inputs)`` in the order the hardware reads them (NHWC pixels for images)."""
    shape, lo, hi = _input_spec(hls_model)
    want = (shape[2], shape[0], shape[1]) if len(shape) == 3 else (int(np.prod(shape)),)
    x = np.asarray(x)
    if x.ndim == len(want):
        x = x[None]
    if tuple(x.shape[1:]) != want:
        raise CsimError(f"inputs: expected shape (N, {', '.join(map(str, want))}), got {x.shape}")
    if x.shape[0] == 0:
        raise CsimError("inputs: empty batch")
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating) or x.dtype == bool):
        raise CsimError(f"inputs: expected integers, got dtype {x.dtype}")
    xf = x.astype(np.float64)
    if not np.all(np.isfinite(xf)) or np.any(xf != np.round(xf)) or xf.min() < lo or xf.max() > hi:
        raise CsimError(f"inputs: must be integers in [{lo}, {hi}] (the project's input type)")
    if len(shape) == 3:
        xf = np.transpose(xf, (0, 2, 3, 1))  # NCHW -> NHWC: the pixel stream order
    return np.ascontiguousarray(xf.reshape(xf.shape[0], -1))


def _exact_int(values, what: str, n: int, shape=None) -> np.ndarray:
    """Check that every value is an exact integer; int64 ``(n, *shape)`` (``shape`` of one sample,
    NHWC for images), or ``(n, -1)``."""
    v = np.asarray(values, dtype=np.float64).reshape(n, -1)
    bad = ~np.isfinite(v) | (v != np.round(v))
    if np.any(bad):
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise CsimError(f"{what}: C-sim returned a non-integer value {v[idx]!r} at {idx} ({int(bad.sum())} in all)")
    v = v.astype(np.int64)
    if shape is not None and len(shape) > 1:
        v = v.reshape((n, *shape))
    return v


def _sample_shape(var) -> tuple[int, ...]:
    return tuple(int(d) for d in var.shape)


def csim_predict(hls_model, x) -> np.ndarray:
    """Integer outputs of the compiled C simulation, shaped like ``golden.run(x)``: ``(N, n_out)``,
    or ``(N, Ho, Wo, C)`` (NHWC) when the last layer is an image layer.  ``x`` is in the golden
    input layout (``(N, C)``, or NCHW images)."""
    xf = _prepare(hls_model, x)
    y = hls_model.predict(xf)
    out_var = hls_model.get_output_variables()[0]
    return _exact_int(y, "output", xf.shape[0], _sample_shape(out_var))


def _traced_layers(hls_model) -> list:
    kinds = set(layer_classes())
    return [layer for layer in hls_model.get_layers() if layer.class_name in kinds]


def csim_trace(hls_model, x) -> dict[str, np.ndarray]:
    """Per-layer C-sim outputs ``{golden layer name: int64 array}`` shaped like
    ``golden.run(x, trace=True)`` (``(N, units)``, NHWC ``(N, H, W, C)`` for image layers), via
    hls4ml ``trace()``.

    Recompiles the project with the trace hooks (hls4ml's ``trace()`` always does).
    """
    xf = _prepare(hls_model, x)
    layers = _traced_layers(hls_model)
    for layer in layers:
        layer.set_attr("trace", True)
    _, traces = hls_model.trace(xf)
    out = {}
    for layer in layers:
        if layer.name not in traces:
            raise CsimError(f"layer {layer.name!r}: hls4ml trace returned no data for this layer")
        shape = _sample_shape(layer.get_output_variable())
        out[layer.name] = _exact_int(traces[layer.name], f"layer {layer.name!r}", xf.shape[0], shape)
    return out


# --------------------------------------------------------------------------------------------
# a model for an already emitted project

# files whose content depends on where/when the project was written, not on what it holds
_VOLATILE = {"hls4ml_config.yml", "build_lib.sh"}


def _project_files(root: Path) -> list[str]:
    from hw_bnn.hls4ml_ext.emit import PROJECT_INFO

    skip = _VOLATILE | {PROJECT_INFO}
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and str(p.relative_to(root)) not in skip and p.suffix != ".so"
    )


def _diff_projects(fresh: Path, emitted: Path) -> list[str]:
    diff = []
    for rel in _project_files(fresh):
        other = emitted / rel
        if not other.is_file() or other.read_bytes() != (fresh / rel).read_bytes():
            diff.append(rel)
    return diff


def load_csim(
    golden,
    hls_dir,
    backend: str = "Vitis",
    reuse_factor=1,
    part: str = "xc7z020clg400-1",
    clock_period=10,
    io_type: str | None = None,
    *,
    folding=None,
    work_dir=None,
    build: bool = True,
):
    """Compiled C-sim model of the project ``emit_project`` wrote to ``hls_dir``.

    The project is regenerated from ``golden`` and the settings in ``work_dir`` (default: a
    temporary folder removed at exit), compared file by file with ``hls_dir`` (everything but the
    build stamp and absolute paths) and compiled there (``build=False`` skips the compile).
    Raises ``CsimError`` when ``hls_dir`` is not such a project or differs (stale, other settings,
    another ``folding``).
    """
    from hw_bnn.hls4ml_ext.emit import BACKEND_NAMES, PROJECT_INFO, emit_project
    from hw_bnn.hls4ml_ext.folding import reuse_factor_for
    from hw_bnn.hls4ml_ext.plan import plan_network, resolve_io_type

    hls_dir = Path(hls_dir)
    info_path = hls_dir / PROJECT_INFO
    if not info_path.is_file():
        raise CsimError(f"{hls_dir}: not an emitted hw-bnn hls4ml project (no {PROJECT_INFO}); run emit first")
    info = json.loads(info_path.read_text())
    try:
        io_type = resolve_io_type(plan_network(golden), io_type)
    except HwBnnError as e:
        raise CsimError(f"{hls_dir}: {e}") from None
    want = {
        "backend": BACKEND_NAMES.get(str(backend).lower(), backend),
        "io_type": io_type,
        "part": part,
        "reuse_factor": {layer.name: reuse_factor_for(reuse_factor, layer.name) for layer in golden.layers},
    }
    for key, value in want.items():
        if info.get(key) != value:
            raise CsimError(f"{hls_dir}: emitted with {key}={info.get(key)!r}, expected {value!r}; emit again")
    if float(info.get("clock_period", -1)) != float(clock_period):
        raise CsimError(f"{hls_dir}: emitted with clock_period={info.get('clock_period')!r}, expected {clock_period!r}")
    tb_file = hls_dir / "tb_data" / "tb_input_features.dat"
    tb = np.loadtxt(tb_file, dtype=np.int64, ndmin=2) if info.get("n_tb_samples") and tb_file.is_file() else None
    if tb is not None and len(info.get("input_shape", ())) == 3:
        h, w, c = info["input_shape"]  # tb rows are NHWC pixels; emit_project takes NCHW images
        if tb.shape[1] != h * w * c:
            raise CsimError(f"{hls_dir}: {tb_file.name} rows do not hold {h}x{w}x{c} images; emit again")
        tb = np.ascontiguousarray(tb.reshape(-1, h, w, c).transpose(0, 3, 1, 2))

    if work_dir is None:
        work = Path(tempfile.mkdtemp(prefix="hw_bnn_csim_"))
        atexit.register(shutil.rmtree, work, True)
    else:
        work = Path(work_dir)
    model = emit_project(
        golden,
        work / hls_dir.name,
        backend=want["backend"],
        reuse_factor=reuse_factor,
        part=part,
        clock_period=info.get("clock_period", clock_period),
        io_type=io_type,
        tb_inputs=tb,
        project_name=info.get("project_name", "hw_bnn"),
        folding=folding,
    )
    diff = _diff_projects(Path(model.config.get_output_dir()), hls_dir)
    if diff:
        shown = ", ".join(diff[:5]) + (f" and {len(diff) - 5} more" if len(diff) > 5 else "")
        raise CsimError(
            f"{hls_dir}: differs from what emit writes for this golden model and settings ({shown}); emit again"
        )
    if build:
        compile_csim(model)
    return model

"""The Python API: the CLI's flow commands as functions, for notebooks and scripts.

    import hw_bnn.flow as flow

    report = flow.run("tfc-w1a1", out="build/tfc", epochs=2)   # hw-bnn flow --model tfc-w1a1 ...
    report["verify"]["mismatches"]                             # 0: golden model == C simulation
    flow.emit(out="build/tfc", reuse_factor=4)                 # hw-bnn emit --out build/tfc --reuse-factor 4

Each keyword is the CLI option of the same name (``--data-dir`` is ``data_dir=``, ``--quiet`` is
``quiet=True``), checked against the command's options (:mod:`hw_bnn.flow.options`): an unknown
name or a value of the wrong type is a :class:`~hw_bnn.errors.OptionError`.  As on the command
line, options not given keep what the build folder's ``flow.json`` holds.  ``folding=`` also
takes the folding itself (``{layer: {"PE": p, "SIMD": s}}``), ``inputs=`` the array itself.

The CLI (:mod:`hw_bnn.cli`) calls these functions; :class:`~hw_bnn.flow.config.FlowConfig` and
:func:`~hw_bnn.flow.stages.run_flow` are there for those who want the config object.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from hw_bnn.errors import DataError, OptionError
from hw_bnn.flow import stages
from hw_bnn.flow.config import FlowConfig
from hw_bnn.flow.options import check_options
from hw_bnn.flow.stamps import check_build_folder

# options that are not FlowConfig settings: they say what to run on, not how to build
_RUN_OPTIONS = ("out", "force", "quiet", "onnx", "inputs")


def _configure(command: str, options: dict) -> tuple[FlowConfig, dict]:
    """The build folder's config with ``options`` applied, and the options that are not
    settings (``onnx``, ``inputs``)."""
    opts = check_options(command, options)
    extra = {k: opts.pop(k) for k in _RUN_OPTIONS if k in opts}
    folding = opts.get("folding")
    if isinstance(folding, str):
        from hw_bnn.dse.folding_file import load_folding

        opts["folding"] = load_folding(folding) if folding else None
    cfg = FlowConfig.load(extra["out"], **opts)
    cfg.force = extra["force"]
    cfg.progress = not extra["quiet"]
    check_build_folder(cfg.build, cfg.force)
    if command in ("flow", "train") and not opts.get("model") and not (cfg.build / "flow.json").exists():
        raise OptionError(f"{command}: --model is required for a new build folder ({extra['out']})")
    return cfg, extra


def _read_json(path: Path):
    return json.loads(path.read_text())


def run(model: str | None = None, out: str | os.PathLike | None = None, **options) -> dict:
    """``hw-bnn flow``: every stage (stages whose inputs are unchanged are skipped); the report
    (``report.json``: training, checks, layers, verification, hardware estimate)."""
    cfg, _ = _configure("flow", {"model": model, "out": out, **options})
    return stages.run_flow(cfg)


def train(model: str | None = None, out: str | os.PathLike | None = None, **options) -> dict:
    """``hw-bnn train``: train the recipe; the training summary (``train_summary.json``)."""
    cfg, _ = _configure("train", {"model": model, "out": out, **options})
    cfg.save()
    stages.step_train(cfg)
    return _read_json(cfg.build / "train_summary.json")


def export(out: str | os.PathLike | None = None, **options) -> dict:
    """``hw-bnn export``: QONNX export and its check against PyTorch (``export_check.json``)."""
    cfg, _ = _configure("export", {"out": out, **options})
    cfg.save()
    stages.step_export(cfg)
    return _read_json(cfg.build / "export_check.json")


def compile(out: str | os.PathLike | None = None, **options) -> dict:
    """``hw-bnn compile``: the integer graph and the IR, and their check per split
    (``compile_check.json``).  With ``onnx=FILE`` that file is compiled into the build folder,
    unchecked; then ``{"onnx": FILE, "layers": number of integer layers}``."""
    cfg, extra = _configure("compile", {"out": out, **options})
    cfg.save()
    if extra["onnx"]:
        cfg.build.mkdir(parents=True, exist_ok=True)
        _, golden = stages.compile_onnx(extra["onnx"], cfg.build, cfg.acc_bits, cfg.fixed_config())
        return {"onnx": extra["onnx"], "layers": len(golden.layers)}
    stages.step_compile(cfg)
    return _read_json(cfg.build / "compile_check.json")


def emit(out: str | os.PathLike | None = None, **options) -> Path:
    """``hw-bnn emit``: write the hls4ml project; its folder (``<out>/hls``)."""
    cfg, _ = _configure("emit", {"out": out, **options})
    cfg.save()
    stages.step_emit(cfg)
    return cfg.build / "hls"


def _load_inputs(inputs):
    """``inputs=``: a ``.npy`` file or the array itself (None: the data splits)."""
    if inputs is None or not isinstance(inputs, str):
        return inputs
    if not os.path.exists(inputs):
        raise DataError(f"{inputs}: file does not exist")
    try:
        return np.load(inputs, allow_pickle=False)
    except ValueError as e:
        raise DataError(f"{inputs}: not a .npy array ({e})") from None


def verify(out: str | os.PathLike | None = None, **options) -> dict:
    """``hw-bnn verify``: golden model vs C simulation, bit for bit (``verify.json``;
    ``result["mismatches"]`` counts the mismatched images)."""
    cfg, extra = _configure("verify", {"out": out, **options})
    cfg.save()
    return stages.step_verify(cfg, _load_inputs(extra["inputs"]))


def report(out: str | os.PathLike | None = None, **options) -> dict:
    """``hw-bnn report``: write ``report.json`` and ``report.md``; the report."""
    cfg, _ = _configure("report", {"out": out, **options})
    cfg.save()
    return stages.step_report(cfg)

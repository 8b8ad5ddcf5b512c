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
:func:`~hw_bnn.flow.runner.run_flow` are there for those who want the config object.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from hw_bnn.errors import BuildFolderError, DataError, HwBnnError, OptionError
from hw_bnn.flow import runner, stages
from hw_bnn.flow.config import FlowConfig
from hw_bnn.flow.options import check_options
from hw_bnn.flow.session import build_session
from hw_bnn.flow.stamps import check_build_folder

# options that are not FlowConfig settings: they say what to run on, not how to build
_RUN_OPTIONS = ("out", "force", "quiet", "protect_edits", "no_rtlsim", "onnx", "inputs", "board", "clock_mhz")


def _folding_option(value):
    """``folding=``: a folding.json path, ``"none"`` (clear the saved folding), or the dict."""
    if isinstance(value, str):
        from hw_bnn.dse.folding_file import load_folding

        return "clear" if value.strip().lower() in ("none", "") else load_folding(value)
    return value


def _configure(command: str, options: dict) -> tuple[FlowConfig, dict]:
    """The build folder's config with ``options`` applied, and the options that are not
    settings (``onnx``, ``inputs``).  Everything is checked here, before anything is written:
    the options, ``flow.json``, the recipe, the data folder, the folding against the compiled
    network, the inputs against it."""
    opts = check_options(command, options)
    extra = {k: opts.pop(k) for k in _RUN_OPTIONS if k in opts}
    given = opts.get("folding")
    extra["folding_source"] = given if isinstance(given, str) else ("folding=" if given is not None else None)
    folding = _folding_option(opts.get("folding"))
    opts["folding"] = None if folding == "clear" else folding
    cfg = FlowConfig.load(extra["out"], **opts)
    if folding == "clear":
        cfg.folding = None
    cfg.force, cfg.progress, cfg.protect_edits = extra["force"], not extra["quiet"], extra["protect_edits"]
    cfg.no_rtlsim = bool(extra.get("no_rtlsim"))
    check_build_folder(cfg.build, cfg.force)
    if command in ("flow", "train", "bitstream") and not opts.get("model") and not (cfg.build / "flow.json").exists():
        raise OptionError(f"{command}: --model is required for a new build folder ({extra['out']})")
    _check_inputs_of(cfg, extra)
    return cfg, extra


def _check_inputs_of(cfg: FlowConfig, extra: dict) -> None:
    """The files a command reads, checked where they enter (before the build folder changes)."""
    cfg.recipe()  # the recipe's schema (RecipeError names the file and key)
    if cfg.data_dir is not None and not Path(cfg.data_dir).is_dir():
        raise DataError(f"{cfg.data_dir}: --data-dir is not a folder")
    cfg.fixed_config().check()
    golden = _compiled_network(cfg)
    if cfg.folding and golden is not None:
        from hw_bnn.hls4ml_ext.folding import resolve_folding
        from hw_bnn.hls4ml_ext.plan import plan_network

        try:
            resolve_folding(plan_network(golden), cfg.reuse_factor, cfg.folding)
        except HwBnnError as e:
            where = extra.get("folding_source") or f"{cfg.build / 'flow.json'}: folding"
            raise type(e)(f"{where}: {e}") from None
    if extra.get("onnx") is not None and not Path(extra["onnx"]).is_file():
        raise OptionError(f"{extra['onnx']}: file does not exist (--onnx)")
    if extra.get("inputs") is not None:
        if golden is None:
            raise BuildFolderError(f"{cfg.build / 'golden.npz'}: missing; run the 'compile' stage first")
        from hw_bnn.sim.verify import check_inputs

        source = extra["inputs"] if isinstance(extra["inputs"], str) else "inputs"
        extra["inputs"] = check_inputs(_load_inputs(extra["inputs"]), golden, source)


def _compiled_network(cfg: FlowConfig):
    """The build's golden model, if it is compiled and readable (None otherwise)."""
    from hw_bnn.ir import IntegerNetwork

    try:
        return IntegerNetwork.load(cfg.build / "golden.npz") if (cfg.build / "golden.npz").is_file() else None
    except (HwBnnError, OSError, ValueError):
        return None  # a damaged golden.npz: the compile stage re-runs and replaces it


def _read_json(path: Path):
    return json.loads(path.read_text())


def _alone(cfg: FlowConfig, stage: str, onnx=None):
    """One stage run on its own: the build folder held, every stage before it up to date
    (``compile --onnx`` has none: it compiles another file)."""
    with build_session(cfg):
        if onnx is None:
            runner.check_upstream(cfg, stage)
            return runner.step(stage)(cfg)
        return stages.step_compile(cfg, onnx)


def run(model: str | None = None, out: str | os.PathLike | None = None, **options) -> dict:
    """``hw-bnn flow``: every stage (stages whose inputs are unchanged are skipped); the report
    (``report.json``: training, checks, layers, verification, hardware estimate)."""
    cfg, _ = _configure("flow", {"model": model, "out": out, **options})
    return runner.run_flow(cfg)


def train(model: str | None = None, out: str | os.PathLike | None = None, **options) -> dict:
    """``hw-bnn train``: train the recipe; the training summary (``train_summary.json``)."""
    cfg, _ = _configure("train", {"model": model, "out": out, **options})
    _alone(cfg, "train")
    return _read_json(cfg.build / "train_summary.json")


def export(out: str | os.PathLike | None = None, **options) -> dict:
    """``hw-bnn export``: QONNX export and its check against PyTorch (``export_check.json``)."""
    cfg, _ = _configure("export", {"out": out, **options})
    _alone(cfg, "export")
    return _read_json(cfg.build / "export_check.json")


def compile(out: str | os.PathLike | None = None, **options) -> dict:
    """``hw-bnn compile``: the integer graph and the IR, and their check per split
    (``compile_check.json``).  With ``onnx=FILE`` that file is compiled into the build folder,
    unchecked; then ``{"onnx": FILE, "layers": number of integer layers}``."""
    cfg, extra = _configure("compile", {"out": out, **options})
    _alone(cfg, "compile", extra["onnx"])
    if extra["onnx"]:
        from hw_bnn.ir import IntegerNetwork

        return {"onnx": extra["onnx"], "layers": len(IntegerNetwork.load(cfg.build / "golden.npz").layers)}
    return _read_json(cfg.build / "compile_check.json")


def import_model(model, out: str | os.PathLike | None = None, input_shape=None, **options) -> dict:
    """``hw-bnn import``: a model the project did not make, through compile, emit, the C and RTL
    simulations and the report on the user's inputs (:mod:`hw_bnn.flow.imported`); the report.

    ``model``: a QONNX file, or a Brevitas module (exported to ``<out>/imported.onnx`` with
    ``export_qonnx``; give ``input_shape``, batch included).  ``inputs=`` / ``labels=``: arrays or
    ``.npy`` / ``.npz`` files (default: random pixel images), or ``data_dir=`` a folder whose test
    set (with its labels) to use instead; ``input_domain=`` as for compile."""
    import tempfile

    from hw_bnn.flow import imported

    if out is None:
        raise OptionError("import: out= is required")
    inputs, labels = options.pop("inputs", None), options.pop("labels", None)
    with tempfile.TemporaryDirectory(prefix="hw-bnn-import-") as tmp:
        if not isinstance(model, (str, os.PathLike)):  # exported outside the build until it is checked
            model = imported.export_module(model, input_shape, Path(tmp) / "imported.onnx")
        return _import_checked(model, out, inputs, labels, options)


def _import_checked(model, out, inputs, labels, options: dict) -> dict:
    from hw_bnn.flow import imported
    from hw_bnn.ir import IntegerNetwork

    cfg, extra = _configure("import", {"out": out, "onnx": os.fspath(model), **options})
    with build_session(cfg):
        onnx = imported.copy_onnx(Path(extra["onnx"]), cfg.build)
        stages.step_compile(cfg, onnx)
        golden = IntegerNetwork.load(cfg.build / "golden.npz")
        x, y, source = imported.user_inputs(golden, inputs, labels, cfg.data_dir)
        imported.write_inputs(cfg.build, x, y)
        imported.check_import(cfg, onnx, source)
        for s in ("emit", "verify", "rtlsim", "report"):
            if s == "rtlsim" and cfg.no_rtlsim:
                cfg.say("[rtlsim] skipped (--no-rtlsim)")
                continue
            runner.step(s)(cfg)
        return _read_json(cfg.build / "report.json")


def emit(out: str | os.PathLike | None = None, **options) -> Path:
    """``hw-bnn emit``: write the hls4ml project; its folder (``<out>/hls``)."""
    cfg, _ = _configure("emit", {"out": out, **options})
    _alone(cfg, "emit")
    return cfg.build / "hls"


def _load_inputs(inputs):
    """``inputs=``: a ``.npy`` file or the array itself."""
    if not isinstance(inputs, str):
        return inputs
    if not os.path.isfile(inputs):
        raise DataError(f"{inputs}: --inputs file does not exist")
    try:
        return np.load(inputs, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise DataError(f"{inputs}: not a .npy array ({e})") from None


def verify(out: str | os.PathLike | None = None, **options) -> dict:
    """``hw-bnn verify``: golden model vs C simulation, bit for bit (``verify.json``;
    ``result["mismatches"]`` counts the mismatched images).  With ``inputs=`` those inputs are
    verified instead, recorded in ``adhoc/verify-<hash>.json`` (the build's own record stays)."""
    cfg, extra = _configure("verify", {"out": out, **options})
    if extra["inputs"] is None:
        return _alone(cfg, "verify")
    with build_session(cfg):
        runner.check_upstream(cfg, "verify")
        source = options["inputs"] if isinstance(options.get("inputs"), str) else "inputs"
        return stages.verify_inputs(cfg, extra["inputs"], source)


def rtlsim(out: str | os.PathLike | None = None, **options) -> dict:
    """``hw-bnn rtlsim``: write the RTL (``rtl/``) and compare its Verilator simulation with the
    golden model (``rtlsim.json``; ``result["mismatches"]``)."""
    cfg, _ = _configure("rtlsim", {"out": out, **options})
    return _alone(cfg, "rtlsim")


def report(out: str | os.PathLike | None = None, **options) -> dict:
    """``hw-bnn report``: write ``report.json`` and ``report.md``; the report."""
    cfg, _ = _configure("report", {"out": out, **options})
    return _alone(cfg, "report")


def synth(out: str | os.PathLike | None = None, **options) -> dict:
    """``hw-bnn synth``: Yosys synthesis of the RTL for each target (default ``xc7,ecp5``),
    measured resources per layer beside the cost model's estimates (``synth.json``)."""
    cfg, _ = _configure("synth", {"out": out, **options})
    cfg.synth = cfg.synth or "xc7,ecp5"
    return _alone(cfg, "synth")


def bitstream(model: str | None = None, out: str | os.PathLike | None = None, **options) -> dict:
    """``hw-bnn bitstream --board B``: the stages up to ``compile`` (skipped where up to date), then
    an ECP5 bitstream of the network behind a UART (``bitstream-<board>/bitstream.json``)."""
    from hw_bnn.flow.hardware import step_bitstream

    if out is None:
        if model is None:
            raise OptionError("bitstream: give --model (the build folder is then build/<model>) or --out")
        out = Path("build") / Path(model).stem
    from hw_bnn.synth.boards import load_board

    cfg, extra = _configure("bitstream", {"model": model, "out": out, **options})
    load_board(extra["board"])  # a bad board is named before anything runs
    with build_session(cfg):
        if stages.compile_source(cfg) is None:  # else compiled from a QONNX file: nothing to train
            for s in ("train", "export", "compile"):
                runner.step(s)(cfg)
        return step_bitstream(cfg, extra["board"], extra["clock_mhz"])


def deploy(out: str | os.PathLike | None = None, **options) -> dict:
    """``hw-bnn deploy``: the ``deploy/`` folder (Vivado and PYNQ files, golden self-check, the ECP5
    bitstreams made so far)."""
    from hw_bnn.flow.hardware import step_deploy

    cfg, _ = _configure("deploy", {"out": out, **options})
    with build_session(cfg):
        runner.check_upstream(cfg, "rtlsim")
        return step_deploy(cfg)

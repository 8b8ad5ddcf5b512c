"""The flow's stages, one function each, over one :class:`~hw_bnn.flow.config.FlowConfig`
(FINN build-step style).

=========  ==================================  =============================================
stage      reads (build folder)                writes
=========  ==================================  =============================================
train      the recipe and its data             checkpoint.pt, train_log.csv, train_curve.png
export     checkpoint.pt                       exported.onnx (QONNX), export_check.json
compile    exported.onnx                       integer.onnx, golden.npz, compile_check.json
emit       golden.npz                          hls/ (the hls4ml project)
verify     golden.npz, hls/                    verify.json (golden model vs C simulation)
report     everything above                    report.json, report.md, memory.png
=========  ==================================  =============================================

Each stage is skipped when its stamp says its inputs are unchanged, and publishes its outputs
all at once (:mod:`hw_bnn.flow.stamps`).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from hw_bnn.errors import CompileError, VerifyError
from hw_bnn.files import write_text_atomic
from hw_bnn.flow.config import STAGES, FlowConfig
from hw_bnn.flow.stamps import StageRun, check_build_folder, require, stage_key, tree_sha

# --- the images every check runs on -----------------------------------------------------


def _test_split(cfg: FlowConfig):
    from hw_bnn.train.data import load_test_split

    r = cfg.recipe()
    if not cfg.data_dir or r.dataset == "digits":
        return None  # the 8x8 digits have no separate test set
    return load_test_split(cfg.data_dir)


def evaluate_splits(cfg: FlowConfig) -> dict:
    """The images every check runs on, in the layout the model takes (flat for MLPs, NCHW
    images for CNNs): the validation split, and the test split of ``data_dir`` if given; each
    cut to ``verify_limit`` images."""
    from hw_bnn.train.data import Split, train_val_split
    from hw_bnn.train.recipes import model_input_shape

    r = cfg.recipe()
    _, val = train_val_split(r.dataset, r.train["val_fraction"], seed=0, data_dir=cfg.data_dir)
    splits = {"val": val}
    test = _test_split(cfg)
    if test is not None:
        if tuple(test.image_shape) != tuple(val.image_shape):
            raise VerifyError(
                f"{cfg.data_dir}: test images have shape {tuple(test.image_shape)}, "
                f"the model expects {tuple(val.image_shape)}"
            )
        splits["test"] = test
    limit = cfg.verify_limit or None
    shape = model_input_shape(r, val.image_shape)
    return {k: Split(s.inputs(shape)[:limit], s.y[:limit], s.image_shape) for k, s in splits.items()}


# --- train, export ----------------------------------------------------------------------


def step_train(cfg: FlowConfig) -> None:
    """Train the recipe (Brevitas); resumes from ``checkpoint.partial.pt`` after an interrupt."""
    from hw_bnn.flow.reporting import plot_training

    r = cfg.recipe()
    outputs = ["checkpoint.pt", "train_log.csv", "train_summary.json", "train_curve.png"]
    st = StageRun(cfg, "train", stage_key(r.to_dict(), cfg.data_dir), outputs)
    if st.up_to_date():
        cfg.say("[train] up to date, skipped")
        return
    from hw_bnn.train.trainer import train

    with st:
        # resume support: the per-epoch state (checkpoint.partial.pt) lives in the build folder
        summary = train(
            r, st.tmp, test_split=_test_split(cfg), progress=cfg.progress, state_dir=cfg.build, data_dir=cfg.data_dir
        )
        write_text_atomic(st.tmp / "train_summary.json", json.dumps(summary, indent=2))
        plot_training(st.tmp / "train_log.csv", st.tmp / "train_curve.png", r.name)
    msg = f"[train] {r.name}: validation accuracy {summary['val_acc']:.4f} on {summary['val_images']} images"
    if "test_acc" in summary:
        msg += f", test accuracy {summary['test_acc']:.4f} on {summary['test_images']} images"
    cfg.say(msg)


def step_export(cfg: FlowConfig) -> None:
    """Export the checkpoint to QONNX and check it against PyTorch on the validation images."""
    from hw_bnn.compile.export import check_export, export_checkpoint

    ck = require(cfg, "checkpoint.pt", "train")
    st = StageRun(cfg, "export", stage_key(tree_sha(ck)), ["exported.onnx", "export_check.json"])
    if st.up_to_date():
        cfg.say("[export] up to date, skipped")
        return
    with st:
        export_checkpoint(ck, st.tmp / "exported.onnx")
        val = evaluate_splits(cfg)["val"]
        res = check_export(ck, st.tmp / "exported.onnx", val.x.astype(np.float32))
        write_text_atomic(st.tmp / "export_check.json", json.dumps(res, indent=2))
    cfg.say(
        f"[export] exported.onnx: QONNX equals PyTorch on {res['images']} images (max |diff| {res['max_abs_diff']:.2g})"
    )


# --- compile ----------------------------------------------------------------------------


def compile_onnx(path, out_dir, acc_bits: int | None = None, fixed=None):
    """Compile one QONNX file into ``integer.onnx`` and ``golden.npz`` in ``out_dir``; returns
    (the integer graph, the IR)."""
    from hw_bnn.compile.lower import lower_to_ir
    from hw_bnn.compile.pipeline import compile_model, load_onnx

    integer = compile_model(load_onnx(path), acc_bits=acc_bits, fixed=fixed)
    integer.save(str(out_dir / "integer.onnx"))
    golden = lower_to_ir(integer)
    golden.save(out_dir / "golden.npz")
    return integer, golden


def check_integer_graph(exported_path, integer, golden, splits: dict) -> dict:
    """integer.onnx (qonnx) vs exported.onnx (qonnx) vs golden: values and decisions, per split.

    Without shortcuts the integer graph equals the exported one exactly (a value mismatch is
    an error).  With fixed-point shortcuts it computes what the hardware computes: it must
    equal the golden model exactly, and its agreement with the float exported model (the
    cost of the fixed-point format) is measured and reported."""
    from qonnx.core.modelwrapper import ModelWrapper

    from hw_bnn.compile.metadata import FIXED_KEY
    from hw_bnn.compile.qonnx_run import run_qonnx

    exported = ModelWrapper(str(exported_path))
    fixed = bool(integer.get_metadata_prop(FIXED_KEY))
    res = {}
    for name, s in splits.items():
        x = s.x.astype(np.float32)
        y_ref = run_qonnx(exported, x, batch_size=2000)
        acc_integer = run_qonnx(integer, x, batch_size=2000)
        acc_golden = golden.run(s.x)
        y_integer = golden.apply_output_affine(acc_integer)
        value_mm = np.flatnonzero(np.any(y_integer != y_ref, axis=1))
        golden_mm = np.flatnonzero(np.any(acc_golden != acc_integer, axis=1))
        res[name] = {
            "images": len(x),
            "value_mismatches": len(value_mm),
            "decision_mismatches": int((y_integer.argmax(1) != y_ref.argmax(1)).sum()),
            "golden_vs_integer_mismatches": len(golden_mm),
            "accuracy_exported": float((y_ref.argmax(1) == s.y).mean()),
            "accuracy_integer": float((y_integer.argmax(1) == s.y).mean()),
            "fixed_point": fixed,
        }
        if len(golden_mm) or (len(value_mm) and not fixed):
            i = int((list(golden_mm) + list(value_mm))[0])
            raise CompileError(
                f"integer.onnx differs from {'the golden model' if len(golden_mm) else 'exported.onnx'} on split "
                f"'{name}': {len(value_mm)} value and {len(golden_mm)} golden mismatches of {len(x)} images "
                f"(first: image {i})"
            )
    return res


def step_compile(cfg: FlowConfig) -> None:
    """Compile exported.onnx into the integer graph and the IR; check both against it."""
    exported = require(cfg, "exported.onnx", "export")
    fixed = cfg.fixed_config()
    st = StageRun(
        cfg,
        "compile",
        stage_key(tree_sha(exported), cfg.acc_bits, cfg.data_dir, cfg.verify_limit, repr(fixed)),
        ["integer.onnx", "golden.npz", "compile_check.json"],
    )
    if st.up_to_date():
        cfg.say("[compile] up to date, skipped")
        return
    with st:
        integer, golden = compile_onnx(exported, st.tmp, cfg.acc_bits, fixed)
        res = check_integer_graph(exported, integer, golden, evaluate_splits(cfg))
        write_text_atomic(st.tmp / "compile_check.json", json.dumps(res, indent=2))
    n = len(golden.layers)
    if any(v.get("fixed_point") for v in res.values()):
        parts = ", ".join(
            f"{k}: {v['images']} images, {v['decision_mismatches']} decisions differ, accuracy "
            f"{v['accuracy_exported']:.4f} -> {v['accuracy_integer']:.4f}"
            for k, v in res.items()
        )
        cfg.say(
            f"[compile] integer.onnx is integer-only with fixed-point shortcuts ({n} layers); "
            f"vs float exported.onnx: {parts}"
        )
    else:
        parts = ", ".join(
            f"{k}: {v['images']} images, {v['value_mismatches']} value mismatches" for k, v in res.items()
        )
        cfg.say(f"[compile] integer.onnx is integer-only ({n} layers); equals exported.onnx ({parts})")


# --- emit, verify, report ---------------------------------------------------------------


def step_emit(cfg: FlowConfig) -> None:
    """Write the hls4ml project ``hls/``; its testbench holds the first 100 validation images."""
    from hw_bnn.hls4ml_ext.emit import emit_project
    from hw_bnn.ir import IntegerNetwork

    gpath = require(cfg, "golden.npz", "compile")
    st = StageRun(cfg, "emit", stage_key(tree_sha(gpath), cfg.hls_settings()), ["hls"])
    if st.up_to_date():
        cfg.say("[emit] up to date, skipped")
        return
    golden = IntegerNetwork.load(gpath)
    with st:
        tb_inputs = evaluate_splits(cfg)["val"].x[:100]
        emit_project(golden, st.tmp / "hls", tb_inputs=tb_inputs, **cfg.hls_settings())
    io = "io_stream" if golden.is_image else "io_parallel"
    par = f"folding of {len(cfg.folding)} layers (PE/SIMD)" if cfg.folding else f"ReuseFactor {cfg.reuse_factor}"
    cfg.say(f"[emit] hls/: {cfg.backend} project, {io}, {par}, part {cfg.part}")


def load_csim(cfg: FlowConfig, golden):
    """The compiled C simulation of ``<build>/hls``.  ``hw_bnn.sim.csim.load_csim`` checks that the
    project is exactly what emit writes for this golden model and these settings (a stale or
    edited project is an error), then compiles a scratch copy with g++; ``hls/`` is untouched."""
    from hw_bnn.sim.csim import load_csim as load

    return load(golden, cfg.build / "hls", **cfg.hls_settings())


def _verify_splits(cfg: FlowConfig, golden, inputs: np.ndarray | None) -> dict:
    """The data splits, or ``{"inputs": ...}`` (unlabelled) for the given inputs."""
    if inputs is None:
        return evaluate_splits(cfg)
    from hw_bnn.train.data import Split

    inputs = np.asarray(inputs)
    want = tuple(golden.input_shape)
    if inputs.ndim != 1 + len(want) or inputs.shape[1:] != want:
        raise VerifyError(
            f"verify: inputs have shape {inputs.shape}, the model expects (N, {', '.join(map(str, want))})"
        )
    return {"inputs": Split(inputs, np.full(len(inputs), -1), (0, 0, 0))}


def step_verify(cfg: FlowConfig, inputs: np.ndarray | None = None) -> dict:
    """Golden model vs C simulation on every image, integer by integer
    (:func:`hw_bnn.sim.verify.verify_split`); ``inputs`` replace the data splits."""
    from hw_bnn.ir import IntegerNetwork
    from hw_bnn.sim.verify import verify_split

    gpath = require(cfg, "golden.npz", "compile")
    require(cfg, "hls", "emit")
    golden = IntegerNetwork.load(gpath)
    splits = _verify_splits(cfg, golden, inputs)
    key = stage_key(
        tree_sha(gpath),
        cfg.hls_settings(),
        cfg.csim_limit,
        {k: (len(s), hashlib.sha256(s.x.tobytes()).hexdigest()) for k, s in splits.items()},
    )
    st = StageRun(cfg, "verify", key, ["verify.json"])
    if st.up_to_date():
        cfg.say("[verify] up to date, skipped")
        return json.loads((cfg.build / "verify.json").read_text())
    cfg.say("[verify] compiling the C simulation (g++)")
    hls_model = load_csim(cfg, golden)
    res: dict = {"splits": {}}
    with st:
        for name, s in splits.items():
            res["splits"][name] = verify_split(golden, hls_model, s.x, s.y, cfg.csim_limit)
        res["mismatches"] = sum(e["mismatched_images"] for e in res["splits"].values())
        write_text_atomic(st.tmp / "verify.json", json.dumps(res, indent=2))
    for name, e in res["splits"].items():
        acc = f", accuracy {e['accuracy']:.4f}" if "accuracy" in e else ""
        cfg.say(
            f"[verify] {name}: {e['images']} images, golden vs C simulation: {e['mismatched_images']} mismatches{acc}"
        )
        if "first_mismatch" in e:
            fm = e["first_mismatch"]
            cfg.say(f"[verify]   first mismatch: image {fm['image']}, layer {fm['layer']}, element {fm.get('element')}")
    return res


def step_report(cfg: FlowConfig) -> dict:
    """report.json and report.md (:func:`hw_bnn.flow.reporting.write_report`)."""
    from hw_bnn.flow.reporting import write_report

    require(cfg, "verify.json", "verify")
    report = write_report(cfg)
    cfg.say(f"[report] {cfg.build / 'report.md'}")
    return report


STEP_FUNCTIONS = {
    "train": step_train,
    "export": step_export,
    "compile": step_compile,
    "emit": step_emit,
    "verify": step_verify,
    "report": step_report,
}


def run_flow(cfg: FlowConfig, stages=STAGES) -> dict:
    """Save ``flow.json``, run ``stages`` in order; the report when ``report`` is one of them."""
    check_build_folder(cfg.build, cfg.force)
    cfg.save()
    for s in stages:
        STEP_FUNCTIONS[s](cfg)
    return json.loads((cfg.build / "report.json").read_text()) if "report" in stages else {}

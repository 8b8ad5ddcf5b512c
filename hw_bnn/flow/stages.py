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
rtlsim     golden.npz                          rtl/ (the RTL), rtlsim.json (golden vs Verilator)
report     everything above                    report.json, report.md, memory.png
=========  ==================================  =============================================

Each stage is skipped when its stamp says its inputs are unchanged, and publishes its outputs
all at once (:mod:`hw_bnn.flow.stamps`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from hw_bnn.errors import BuildFolderError, CompileError, VerifyError
from hw_bnn.files import write_text_atomic
from hw_bnn.flow.config import FlowConfig
from hw_bnn.flow.stamps import StageRun, read_stamp, require, tree_sha

# --- the images every check runs on -----------------------------------------------------


def _test_split(cfg: FlowConfig):
    from hw_bnn.train.data import load_test_split

    r = cfg.recipe()
    if not cfg.data_dir or r.dataset == "digits":
        return None  # the 8x8 digits have no separate test set
    return load_test_split(cfg.data_dir)


INPUTS_FILE = "inputs.npz"  # an imported build's inputs: x (N, *input shape) pixels, y labels (-1: unknown)


def imported_splits(build: Path) -> dict | None:
    """``{"inputs": Split}`` of an imported build (its ``inputs.npz``), else None."""
    from hw_bnn.train.data import Split

    path = Path(build) / INPUTS_FILE
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as f:
        x, y = f["x"], f["y"]
    return {"inputs": Split(x, y, (0, 0, 0))}


def evaluate_splits(cfg: FlowConfig) -> dict:
    """The images every check runs on, in the layout the model takes (flat for MLPs, NCHW
    images for CNNs): the validation split, and the test split of ``data_dir`` if given; each
    cut to ``verify_limit`` images.  An imported build (``hw-bnn import``) has its own inputs
    instead, one split ``inputs`` (:func:`imported_splits`)."""
    from hw_bnn.train.data import Split, train_val_split
    from hw_bnn.train.recipes import model_input_shape

    limit = cfg.verify_limit or None
    own = imported_splits(cfg.build)
    if own is not None:
        return {k: Split(s.x[:limit], s.y[:limit], s.image_shape) for k, s in own.items()}
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
    shape = model_input_shape(r, val.image_shape)
    return {k: Split(s.inputs(shape)[:limit], s.y[:limit], s.image_shape) for k, s in splits.items()}


# --- train, export ----------------------------------------------------------------------


TRAIN_OUTPUTS = ["checkpoint.pt", "train_log.csv", "train_speed.json", "train_summary.json", "train_curve.png"]


def plan_train(cfg: FlowConfig) -> StageRun:
    return StageRun(cfg, "train", (cfg.recipe().to_dict(), cfg.data_dir), TRAIN_OUTPUTS)


def step_train(cfg: FlowConfig) -> None:
    """Train the recipe (Brevitas); resumes from ``checkpoint.partial.pt`` after an interrupt."""
    from hw_bnn.flow.reporting import plot_training

    r = cfg.recipe()
    st = plan_train(cfg)
    if skip_if_current(cfg, st):
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
    speed = json.loads((cfg.build / "train_speed.json").read_text())
    if speed:
        msg += "; " + ", ".join(f"{p} {v['images_per_s']:,.0f} images/s" for p, v in speed.items())
    cfg.say(msg)


def plan_export(cfg: FlowConfig) -> StageRun:
    ck = cfg.build / "checkpoint.pt"
    return StageRun(cfg, "export", (cfg.verify_limit,), ["exported.onnx", "export_check.json"], {"checkpoint.pt": ck})


def step_export(cfg: FlowConfig) -> None:
    """Export the checkpoint to QONNX and check it against PyTorch on the validation images."""
    from hw_bnn.compile.export import check_export, export_checkpoint

    ck = require(cfg, "checkpoint.pt", "train")
    st = plan_export(cfg)
    if skip_if_current(cfg, st):
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


def compile_onnx(path, out_dir, acc_bits: int | None = None, fixed=None, domain=None):
    """Compile one QONNX file into ``integer.onnx`` and ``golden.npz`` in ``out_dir``; returns
    (the integer graph, the IR).  ``domain``: :class:`hw_bnn.compile.input_domain.InputDomain`."""
    from hw_bnn.compile.lower import lower_to_ir
    from hw_bnn.compile.pipeline import compile_model, load_onnx

    integer = compile_model(load_onnx(path), acc_bits=acc_bits, fixed=fixed, domain=domain)
    integer.save(str(out_dir / "integer.onnx"))
    golden = lower_to_ir(integer)
    golden.save(out_dir / "golden.npz")
    return integer, golden


def check_integer_graph(exported_path, integer, golden, splits: dict) -> dict:
    """integer.onnx (qonnx) vs exported.onnx (qonnx) vs golden: values and decisions, per split.

    The integer graph must equal the golden model exactly.  With power-of-two scales and no
    shortcuts it equals the exported one exactly too (a value mismatch is an error).  With
    scales that are not powers of two (``hw_bnn.float_scales``) it computes the model's integer
    semantics, and every difference from the export must be a proven float rounding tie
    (:func:`hw_bnn.compile.near_ties.compare_with_export`).  With fixed-point shortcuts it
    computes what the hardware computes, and its agreement with the float exported model (the
    cost of the fixed-point format) is measured and reported."""
    from qonnx.core.modelwrapper import ModelWrapper

    from hw_bnn.compile.input_domain import domain_of
    from hw_bnn.compile.metadata import FIXED_KEY, float_scales
    from hw_bnn.compile.qonnx_run import run_qonnx

    exported = ModelWrapper(str(exported_path))
    fixed = bool(integer.get_metadata_prop(FIXED_KEY))
    scales = [] if fixed else float_scales(integer)
    domain = domain_of(integer)
    res = {}
    for name, s in splits.items():
        x = s.x.astype(np.float32)
        y_ref = run_qonnx(exported, domain.to_model(x), batch_size=2000)
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
        if scales and not len(golden_mm):
            res[name]["float_scales"] = _near_ties(exported, integer, golden, domain.to_model(x), x, scales)
        if len(golden_mm) or (len(value_mm) and not fixed and not scales):
            i = int((list(golden_mm) + list(value_mm))[0])
            raise CompileError(
                f"integer.onnx differs from {'the golden model' if len(golden_mm) else 'exported.onnx'} on split "
                f"'{name}': {len(value_mm)} value and {len(golden_mm)} golden mismatches of {len(x)} images "
                f"(first: image {i})"
            )
    return res


def _near_ties(exported, integer, golden, x_model, x, scales: list) -> dict:
    """The float export against the integer semantics, every difference proven a rounding tie."""
    from hw_bnn.compile.near_ties import compare_with_export

    return {"nodes": scales, **compare_with_export(exported, integer, golden, x_model, x)}


COMPILE_OUTPUTS = ["integer.onnx", "golden.npz", "compile_check.json"]


def compile_source(cfg: FlowConfig) -> Path | None:
    """The QONNX file that the compile stamp says was compiled, when it is not the build's own
    ``exported.onnx`` (``hw-bnn compile --onnx FILE``); None otherwise."""
    st = read_stamp(cfg.build, "compile") or {}
    labels = [k for k in st.get("inputs") or {} if k != "exported.onnx"]
    return Path(labels[0]) if labels else None


def plan_compile(cfg: FlowConfig, onnx=None) -> StageRun:
    """The compile stage of ``exported.onnx``, or (``onnx``) of another QONNX file, unchecked."""
    fixed = repr(cfg.fixed_config())
    if onnx is None:
        inputs = {"exported.onnx": cfg.build / "exported.onnx"}
        settings = (cfg.acc_bits, fixed, cfg.data_dir, cfg.verify_limit, cfg.input_domain)
    else:
        inputs = {str(Path(onnx).resolve()): Path(onnx)}
        settings = (cfg.acc_bits, fixed, "unchecked", cfg.input_domain)
    return StageRun(cfg, "compile", settings, COMPILE_OUTPUTS, inputs)


def step_compile(cfg: FlowConfig, onnx=None) -> None:
    """Compile exported.onnx into the integer graph and the IR; check both against it.  With
    ``onnx``, compile that file instead, with no check against the data (compile_check.json
    then records only the source)."""
    exported = Path(onnx) if onnx else require(cfg, "exported.onnx", "export")
    st = plan_compile(cfg, onnx)
    if skip_if_current(cfg, st):
        return
    with st:
        integer, golden = compile_onnx(exported, st.tmp, cfg.acc_bits, cfg.fixed_config(), cfg.domain())
        # the build's own model is checked on every split; another file has no data to check on
        res = {} if onnx else check_integer_graph(exported, integer, golden, evaluate_splits(cfg))
        write_text_atomic(st.tmp / "compile_check.json", json.dumps(res, indent=2))
    _say_compiled(cfg, len(golden.layers), res, onnx)


def _say_compiled(cfg: FlowConfig, n: int, res: dict, onnx) -> None:
    if onnx:
        cfg.say(f"[compile] {onnx} -> integer.onnx, integer-only ({n} layers); not checked against data")
    elif any(v.get("fixed_point") for v in res.values()):
        parts = ", ".join(
            f"{k}: {v['images']} images, {v['decision_mismatches']} decisions differ, accuracy "
            f"{v['accuracy_exported']:.4f} -> {v['accuracy_integer']:.4f}"
            for k, v in res.items()
        )
        cfg.say(
            f"[compile] integer.onnx is integer-only with fixed-point shortcuts ({n} layers); "
            f"vs float exported.onnx: {parts}"
        )
    elif any(v.get("float_scales") for v in res.values()):
        cfg.say(f"[compile] integer.onnx is integer-only ({n} layers), float scales: {near_tie_summary(res)}")
    else:
        parts = ", ".join(
            f"{k}: {v['images']} images, {v['value_mismatches']} value mismatches" for k, v in res.items()
        )
        cfg.say(f"[compile] integer.onnx is integer-only ({n} layers); equals exported.onnx ({parts})")


def near_tie_summary(res: dict) -> str:
    """One line per check of a model with float scales: what differed from the export, all proven."""
    parts = []
    for k, v in res.items():
        t = v["float_scales"]
        parts.append(
            f"{k}: {t['images']} images, {t['value_differences']} output values and "
            f"{t['decision_differences']} decisions differ from exported.onnx, {t['near_ties']} near-ties "
            f"({t['code_differences']} in codes), each proven a float rounding tie"
        )
    return "; ".join(parts)


# --- emit, verify, report ---------------------------------------------------------------


def plan_emit(cfg: FlowConfig) -> StageRun:
    golden = cfg.build / "golden.npz"
    return StageRun(cfg, "emit", (cfg.hls_settings(), cfg.verify_limit), ["hls"], {"golden.npz": golden})


def step_emit(cfg: FlowConfig) -> None:
    """Write the hls4ml project ``hls/``; its testbench holds the first 100 validation images."""
    from hw_bnn.hls4ml_ext.emit import emit_project
    from hw_bnn.ir import IntegerNetwork

    gpath = require(cfg, "golden.npz", "compile")
    st = plan_emit(cfg)
    if skip_if_current(cfg, st):
        return
    golden = IntegerNetwork.load(gpath)
    with st:
        tb_inputs = next(iter(evaluate_splits(cfg).values())).x[:100]
        emit_project(golden, st.tmp / "hls", tb_inputs=tb_inputs, home=cfg.build / "hls", **cfg.hls_settings())
    io = "io_stream" if golden.is_image else "io_parallel"
    par = f"folding of {len(cfg.folding)} layers (PE/SIMD)" if cfg.folding else f"ReuseFactor {cfg.reuse_factor}"
    cfg.say(f"[emit] hls/: {cfg.backend} project, {io}, {par}, part {cfg.part}")


def split_digest(splits: dict) -> dict:
    """What a verification ran on: per split, the number of images and the SHA-256 of their bytes."""
    return {
        k: {"images": len(s), "inputs_sha256": hashlib.sha256(s.x.tobytes()).hexdigest()} for k, s in splits.items()
    }


def plan_verify(cfg: FlowConfig, splits: dict | None = None) -> StageRun:
    splits = evaluate_splits(cfg) if splits is None else splits
    inputs = {"golden.npz": cfg.build / "golden.npz", "hls": cfg.build / "hls"}
    return StageRun(cfg, "verify", (cfg.hls_settings(), cfg.csim_limit, split_digest(splits)), ["verify.json"], inputs)


def load_csim(cfg: FlowConfig, golden, work: Path | None = None):
    """The compiled C simulation of ``<build>/hls``, built in ``work``: a copy that
    :func:`hw_bnn.sim.csim.load_csim` first checks is exactly what emit writes for this golden
    model and these settings (a stale or edited project is an error); ``hls/`` is untouched."""
    from hw_bnn.sim.csim import load_csim as load

    return load(golden, cfg.build / "hls", work_dir=work, **cfg.hls_settings())


def verify_splits(cfg: FlowConfig, golden, splits: dict, work: Path) -> dict:
    """Golden model vs the C simulation (:func:`load_csim`, compiled in ``work``) on every
    split, integer by integer (:func:`hw_bnn.sim.verify.verify_split`)."""
    from hw_bnn.sim.verify import verify_split

    cfg.say("[verify] compiling the C simulation (g++)")
    hls_model = load_csim(cfg, golden, work)
    res: dict = {"splits": {}}
    for name, s in splits.items():
        res["splits"][name] = verify_split(golden, hls_model, s.x, s.y, cfg.csim_limit)
        res["splits"][name]["inputs_sha256"] = split_digest({name: s})[name]["inputs_sha256"]
    res["mismatches"] = sum(e["mismatched_images"] for e in res["splits"].values())
    return res


def step_verify(cfg: FlowConfig) -> dict:
    """The build's verification record ``verify.json``: golden model vs C simulation on every
    image of the data splits, and the hashes of the artifacts it checked."""
    from hw_bnn.ir import IntegerNetwork

    gpath = require(cfg, "golden.npz", "compile")
    require(cfg, "hls", "emit")
    splits = evaluate_splits(cfg)
    st = plan_verify(cfg, splits)
    if skip_if_current(cfg, st):
        return json.loads((cfg.build / "verify.json").read_text())
    with st:
        res = {"artifacts": st.read, **verify_splits(cfg, IntegerNetwork.load(gpath), splits, st.tmp)}
        write_text_atomic(st.tmp / "verify.json", json.dumps(res, indent=2))
    say_verified(cfg, res)
    return res


def verify_inputs(cfg: FlowConfig, x: np.ndarray, source: str) -> dict:
    """An ad-hoc verification of ``x`` (checked by :func:`hw_bnn.sim.verify.check_inputs`),
    recorded in ``adhoc/verify-<inputs hash>.json``; the build's own ``verify.json`` stays."""
    import shutil
    import tempfile

    from hw_bnn.ir import IntegerNetwork
    from hw_bnn.train.data import Split

    if cfg.read_only:
        raise BuildFolderError(f"{cfg.build}: read-only; an ad-hoc verification needs to write its record")
    gpath, hls = require(cfg, "golden.npz", "compile"), require(cfg, "hls", "emit")
    split = {"inputs": Split(x, np.full(len(x), -1), (0, 0, 0))}
    work = Path(tempfile.mkdtemp(dir=cfg.build, prefix=".tmp-adhoc-"))
    try:
        found = verify_splits(cfg, IntegerNetwork.load(gpath), split, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    res = {"source": source, "artifacts": {"golden.npz": tree_sha(gpath), "hls": tree_sha(hls)}, **found}
    record = cfg.build / "adhoc" / f"verify-{found['splits']['inputs']['inputs_sha256'][:12]}.json"
    write_text_atomic(record, json.dumps(res, indent=2))
    say_verified(cfg, res)
    cfg.say(f"[verify] recorded in {record} (the build's verify.json is unchanged)")
    return {**res, "record": str(record)}


def say_verified(cfg: FlowConfig, res: dict) -> None:
    for name, e in res["splits"].items():
        acc = f", accuracy {e['accuracy']:.4f}" if "accuracy" in e else ""
        cfg.say(
            f"[verify] {name}: {e['images']} images, golden vs C simulation: {e['mismatched_images']} mismatches{acc}"
        )
        if "first_mismatch" in e:
            fm = e["first_mismatch"]
            cfg.say(f"[verify]   first mismatch: image {fm['image']}, layer {fm['layer']}, element {fm.get('element')}")


def rtl_folding(cfg: FlowConfig, golden) -> dict:
    """PE / SIMD of every matrix unit, as the hls4ml project has them (the folding, or the
    reuse-factor schedule: :func:`hw_bnn.hls4ml_ext.folding.resolve_folding`)."""
    from hw_bnn.hls4ml_ext.folding import resolve_folding
    from hw_bnn.hls4ml_ext.plan import plan_network

    folds = resolve_folding(plan_network(golden), cfg.reuse_factor, cfg.folding)
    return {name: {"PE": f["PE"], "SIMD": f["SIMD"]} for name, f in folds.items()}


def plan_rtlsim(cfg: FlowConfig, splits: dict | None = None) -> StageRun:
    splits = evaluate_splits(cfg) if splits is None else splits
    settings = (cfg.hls_settings(), cfg.rtlsim_limit, split_digest(splits))
    return StageRun(cfg, "rtlsim", settings, ["rtl", "rtlsim.json"], {"golden.npz": cfg.build / "golden.npz"})


def step_rtlsim(cfg: FlowConfig) -> dict:
    """``rtl/`` (:func:`hw_bnn.rtl.emit_rtl`, the folding of the hls4ml project) and
    ``rtlsim.json``: golden model vs Verilator simulation of the RTL on every image of the splits
    (:func:`hw_bnn.sim.rtlsim.verify_rtl`), and the measured interval between frames against the
    cost model's cycles per frame.  A network with layers the RTL backend does not build yet is
    recorded as not simulated, with the reason."""
    from hw_bnn.dse.cost import network_cost
    from hw_bnn.dse.units import mvu_layers
    from hw_bnn.errors import EmitError
    from hw_bnn.ir import IntegerNetwork
    from hw_bnn.rtl import emit_rtl
    from hw_bnn.sim.rtlsim import verify_rtl

    gpath = require(cfg, "golden.npz", "compile")
    splits = evaluate_splits(cfg)
    st = plan_rtlsim(cfg, splits)
    if skip_if_current(cfg, st):
        return json.loads((cfg.build / "rtlsim.json").read_text())
    golden = IntegerNetwork.load(gpath)
    with st:
        res: dict = {"artifacts": st.read}
        try:
            folding = rtl_folding(cfg, golden)
            cost = network_cost(mvu_layers(golden), folding)
            project = emit_rtl(golden, st.tmp / "rtl", folding, memories_of(cost))
        except EmitError as e:
            (st.tmp / "rtl").mkdir()
            res.update({"simulated": False, "reason": str(e)})
        else:
            cfg.say("[rtlsim] building the RTL simulation (Verilator)")
            port = project["input"]  # the input port's beats per frame bound the interval too
            predicted = max(cost.max_cycles, -(-port["frame"] // port["elems"]))
            res.update({"simulated": True, "predicted_interval_cycles": predicted})
            res["predicted_latency_cycles"] = cost.latency_cycles
            res["splits"] = {
                k: verify_rtl(golden, st.tmp / "rtl", s.x[: cfg.rtlsim_limit or None], progress=cfg.progress)
                for k, s in splits.items()
            }
            res["mismatches"] = sum(e["mismatched_images"] for e in res["splits"].values())
            res["rtl_cycles_per_frame"] = project["cycles_per_frame"]
        write_text_atomic(st.tmp / "rtlsim.json", json.dumps(res, indent=2))
    _say_rtlsim(cfg, res)
    return res


def weight_memories(golden, folding: dict | None) -> dict:
    """Layer -> where its weights live (``distributed`` or ``block``), as the cost model assumes."""
    from hw_bnn.dse.cost import network_cost
    from hw_bnn.dse.units import mvu_layers

    return memories_of(network_cost(mvu_layers(golden), folding))


def memories_of(cost) -> dict:
    """Layer -> where its weights live, from a :class:`hw_bnn.dse.cost.NetworkCost`."""
    return {c.name: c.weight_ram for c in cost.layers}


def predicted_cycles(golden, folding: dict | None) -> int:
    """The cost model's cycles per frame of ``golden`` under ``folding`` (its initiation interval)."""
    from hw_bnn.dse.cost import network_cost
    from hw_bnn.dse.units import mvu_layers

    return network_cost(mvu_layers(golden), folding).max_cycles


def _say_rtlsim(cfg: FlowConfig, res: dict) -> None:
    if not res["simulated"]:
        cfg.say(f"[rtlsim] not simulated: {res['reason']}")
        return
    for name, e in res["splits"].items():
        cfg.say(
            f"[rtlsim] {name}: {e['images']} images, golden vs RTL simulation: {e['mismatched_images']} mismatches; "
            f"{e['interval_cycles']} cycles per frame (cost model {res['predicted_interval_cycles']}), "
            f"latency {e['latency_cycles']} cycles (cost model, first order: {res.get('predicted_latency_cycles')})"
        )
        if "first_mismatch" in e:
            fm = e["first_mismatch"]
            cfg.say(f"[rtlsim]   first mismatch: image {fm['image']}, layer {fm['layer']}, element {fm.get('element')}")


REPORT_INPUTS = (
    "import_check.json",
    "train_summary.json",
    "export_check.json",
    "compile_check.json",
    "verify.json",
    "rtlsim.json",
    "synth.json",
    "golden.npz",
)


def plan_report(cfg: FlowConfig) -> StageRun:
    inputs = {n: cfg.build / n for n in REPORT_INPUTS if (cfg.build / n).exists()}
    settings = (cfg.model, cfg.hls_settings(), str(compile_source(cfg)))
    return StageRun(cfg, "report", settings, ["report.json", "report.md", "memory.png"], inputs)


def step_report(cfg: FlowConfig) -> dict:
    """report.json and report.md (:func:`hw_bnn.flow.reporting.write_report`)."""
    from hw_bnn.flow.reporting import write_report

    require(cfg, "verify.json", "verify")
    st = plan_report(cfg)
    if skip_if_current(cfg, st):
        return json.loads((cfg.build / "report.json").read_text())
    with st:
        report = write_report(cfg, st.tmp, compiled_from=compile_source(cfg))
    cfg.say(f"[report] {cfg.build / 'report.md'}")
    return report


STEP_FUNCTIONS = {
    "train": step_train,
    "export": step_export,
    "compile": step_compile,
    "emit": step_emit,
    "verify": step_verify,
    "rtlsim": step_rtlsim,
    "report": step_report,
}
PLANS = {
    "train": plan_train,
    "export": plan_export,
    "compile": lambda cfg: plan_compile(cfg, compile_source(cfg)),
    "emit": plan_emit,
    "verify": plan_verify,
    "rtlsim": plan_rtlsim,
}


def skip_if_current(cfg: FlowConfig, st: StageRun) -> bool:
    """True (and says so) when ``st`` is up to date; otherwise says why it re-runs."""
    if st.up_to_date():
        cfg.say(f"[{st.name}] up to date, skipped")
        return True
    if st.reason not in ("it has not run", "--force"):
        cfg.say(f"[{st.name}] re-running: {st.reason}")
    return False

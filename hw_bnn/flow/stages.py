"""The flow: named stages over one config object (FINN build-step style).

Each stage reads the artifact of the stage before it from the build folder and writes its
own.  A stage records a stamp (``.stamps/<stage>.json``) holding a hash of its inputs and
settings; when the stamp matches, the stage is skipped, so an interrupted flow resumes.
Outputs are written into a temporary folder and moved into place before the stamp is
written: a build folder never holds a half-written artifact that looks complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from hw_bnn.errors import HwBnnError, VerifyError
from hw_bnn.files import write_text_atomic

STAGES = ("train", "export", "compile", "emit", "verify", "report")


@dataclass
class FlowConfig:
    """Everything the stages need.  Saved as ``flow.json`` in the build folder."""

    model: str = "tfc-w1a1"
    out: str = "build/tfc-w1a1"
    data_dir: str | None = None  # IDX test set (official MNIST t10k) for held-out numbers
    epochs: int | None = None  # override the recipe's epochs
    backend: str = "Vitis"
    reuse_factor: int = 1
    folding: dict | None = None  # {matrix layer: {"PE": p, "SIMD": s}} (hw_bnn.dse.folding; None: fully parallel)
    part: str = "xc7z020clg400-1"
    clock_period: float = 10.0
    acc_bits: int | None = None
    verify_limit: int | None = None  # cap on images per split for every check (None: every image)
    csim_limit: int | None = None  # cap on images per split for the C simulation (None: every image)
    # fixed-point shortcuts (hw_bnn.compile.compiler.FixedPointConfig)
    fixed_frac: int = 12
    fixed_width: int | None = None
    fixed_rounding: str = "rnd_conv"
    fixed_overflow: str = "sat"
    force: bool = False
    progress: bool = True
    log: list = field(default_factory=list, repr=False)

    @property
    def build(self) -> Path:
        return Path(self.out)

    def fixed_config(self):
        from hw_bnn.compile.compiler import FixedPointConfig

        return FixedPointConfig(
            frac=int(self.fixed_frac),
            width=self.fixed_width,
            rounding=self.fixed_rounding,
            overflow=self.fixed_overflow,
        )

    def recipe(self):
        from hw_bnn.train.recipes import load_recipe

        r = load_recipe(self.model)
        if self.epochs is not None:
            r.train["epochs"] = int(self.epochs)
        return r

    def save(self) -> None:
        d = {k: v for k, v in asdict(self).items() if k not in ("log", "force", "progress")}
        self.build.mkdir(parents=True, exist_ok=True)
        _write_text(self.build / "flow.json", json.dumps(d, indent=2))

    @classmethod
    def load(cls, out: str, **overrides) -> FlowConfig:
        path = Path(out) / "flow.json"
        d = json.loads(path.read_text()) if path.exists() else {"out": out}
        d.update({k: v for k, v in overrides.items() if v is not None})
        d["out"] = out
        return cls(**d)


# --- small helpers ----------------------------------------------------------------------


def _write_text(path: Path, text: str) -> None:
    write_text_atomic(path, text)


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    p = Path(path)
    files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    for q in files:
        h.update(str(q.relative_to(p) if p.is_dir() else q.name).encode())
        with open(q, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _require(path: Path, stage: str) -> Path:
    if not path.exists():
        raise HwBnnError(f"{path}: missing; run the '{stage}' stage first (or 'hw-bnn flow')")
    return path


class _Stage:
    """Context for one stage: skip check, temp folder, publish outputs, stamp."""

    def __init__(self, cfg: FlowConfig, name: str, key: str, outputs: list[str]):
        self.cfg, self.name, self.key, self.outputs = cfg, name, key, outputs
        self.stamp = cfg.build / ".stamps" / f"{name}.json"

    def up_to_date(self) -> bool:
        if self.cfg.force or not self.stamp.exists():
            return False
        try:
            st = json.loads(self.stamp.read_text())
        except json.JSONDecodeError:
            return False
        return st.get("key") == self.key and all((self.cfg.build / o).exists() for o in self.outputs)

    def __enter__(self):
        self.cfg.build.mkdir(parents=True, exist_ok=True)
        self.stamp.unlink(missing_ok=True)  # invalid until published
        self.tmp = Path(tempfile.mkdtemp(dir=self.cfg.build, prefix=f".tmp-{self.name}-"))
        self.t0 = time.time()
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                for o in self.outputs:
                    src, dst = self.tmp / o, self.cfg.build / o
                    if not src.exists():
                        raise HwBnnError(f"stage {self.name}: did not produce {o}")
                    if dst.is_dir():
                        trash = self.cfg.build / f".old-{o}-{os.getpid()}"
                        os.replace(dst, trash)
                        os.replace(src, dst)
                        shutil.rmtree(trash, ignore_errors=True)
                    else:
                        os.replace(src, dst)
                self.stamp.parent.mkdir(exist_ok=True)
                _write_text(self.stamp, json.dumps({"key": self.key, "seconds": round(time.time() - self.t0, 2)}))
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return False


def _say(cfg: FlowConfig, msg: str) -> None:
    cfg.log.append(msg)
    if cfg.progress:
        print(msg, flush=True)


def _test_split(cfg: FlowConfig):
    from hw_bnn.train.data import load_test_split

    r = cfg.recipe()
    if not cfg.data_dir or r.dataset == "digits":
        return None  # the 8x8 digits have no separate test set
    return load_test_split(cfg.data_dir)


def _eval_splits(cfg: FlowConfig) -> dict:
    """The images every check runs on: the validation split, and the test split if given."""
    from hw_bnn.train.data import Split, train_val_split
    from hw_bnn.train.recipes import model_input_shape

    r = cfg.recipe()
    _, val = train_val_split(r.dataset, r.train["val_fraction"], seed=0, data_dir=cfg.data_dir)
    splits = {"val": val}
    test = _test_split(cfg)
    if test is not None:
        if tuple(test.image_shape) != tuple(val.image_shape):
            raise VerifyError(
                f"{cfg.data_dir}: test images have shape {tuple(test.image_shape)}, the model expects {tuple(val.image_shape)}"
            )
        splits["test"] = test
    limit = cfg.verify_limit or None
    shape = model_input_shape(r, val.image_shape)
    # x in the layout the model takes: flat for MLPs, NCHW images for CNNs
    return {k: Split(s.inputs(shape)[:limit], s.y[:limit], s.image_shape) for k, s in splits.items()}


# --- stages -----------------------------------------------------------------------------


def step_train(cfg: FlowConfig) -> None:
    from hw_bnn.flow.report import plot_training

    r = cfg.recipe()
    st = _Stage(
        cfg,
        "train",
        _key(r.to_dict(), cfg.data_dir),
        ["checkpoint.pt", "train_log.csv", "train_summary.json", "train_curve.png"],
    )
    if st.up_to_date():
        _say(cfg, "[train] up to date, skipped")
        return
    from hw_bnn.train.trainer import train

    with st:
        # resume support: the per-epoch state (checkpoint.partial.pt) lives in the build folder
        summary = train(
            r, st.tmp, test_split=_test_split(cfg), progress=cfg.progress, state_dir=cfg.build, data_dir=cfg.data_dir
        )
        _write_text(st.tmp / "train_summary.json", json.dumps(summary, indent=2))
        plot_training(st.tmp / "train_log.csv", st.tmp / "train_curve.png", r.name)
    msg = f"[train] {r.name}: validation accuracy {summary['val_acc']:.4f} on {summary['val_images']} images"
    if "test_acc" in summary:
        msg += f", test accuracy {summary['test_acc']:.4f} on {summary['test_images']} images"
    _say(cfg, msg)


def step_export(cfg: FlowConfig) -> None:
    from hw_bnn.compile.export import check_export, export_checkpoint

    ck = _require(cfg.build / "checkpoint.pt", "train")
    st = _Stage(cfg, "export", _key(_sha(ck)), ["exported.onnx", "export_check.json"])
    if st.up_to_date():
        _say(cfg, "[export] up to date, skipped")
        return
    with st:
        export_checkpoint(ck, st.tmp / "exported.onnx")
        val = _eval_splits(cfg)["val"]
        res = check_export(ck, st.tmp / "exported.onnx", val.x.astype(np.float32))
        _write_text(st.tmp / "export_check.json", json.dumps(res, indent=2))
    _say(
        cfg,
        f"[export] exported.onnx: QONNX equals PyTorch on {res['images']} images (max |diff| {res['max_abs_diff']:.2g})",
    )


def compile_onnx(path, out_dir: Path, acc_bits: int | None = None, fixed=None):
    """Compile one QONNX file into ``integer.onnx`` and ``golden.npz`` in ``out_dir``."""
    from hw_bnn.compile.compiler import compile_model, load_onnx, lower_to_ir

    folded = compile_model(load_onnx(path), acc_bits=acc_bits, fixed=fixed)
    folded.save(str(out_dir / "integer.onnx"))
    golden = lower_to_ir(folded)
    golden.save(out_dir / "golden.npz")
    return folded, golden


def check_integer_graph(exported_path, folded, golden, splits: dict) -> dict:
    """integer.onnx (qonnx) vs exported.onnx (qonnx) vs golden: values and decisions, per split.

    Without shortcuts the folded graph equals the exported one exactly (a value mismatch is
    an error).  With fixed-point shortcuts it computes what the hardware computes: it must
    equal the golden model exactly, and its agreement with the float exported model (the
    cost of the fixed-point format) is measured and reported."""
    from qonnx.core.modelwrapper import ModelWrapper

    from hw_bnn.compile.compiler import FIXED_KEY, run_qonnx

    exported = ModelWrapper(str(exported_path))
    fixed = bool(folded.get_metadata_prop(FIXED_KEY))
    res = {}
    for name, s in splits.items():
        x = s.x.astype(np.float32)
        y_ref = run_qonnx(exported, x, batch_size=2000)
        acc_folded = run_qonnx(folded, x, batch_size=2000)
        acc_golden = golden.run(s.x)
        y_folded = golden.apply_output_affine(acc_folded)
        value_mm = np.flatnonzero(np.any(y_folded != y_ref, axis=1))
        golden_mm = np.flatnonzero(np.any(acc_golden != acc_folded, axis=1))
        res[name] = {
            "images": len(x),
            "value_mismatches": len(value_mm),
            "decision_mismatches": int((y_folded.argmax(1) != y_ref.argmax(1)).sum()),
            "golden_vs_folded_mismatches": len(golden_mm),
            "accuracy_exported": float((y_ref.argmax(1) == s.y).mean()),
            "accuracy_folded": float((y_folded.argmax(1) == s.y).mean()),
            "fixed_point": fixed,
        }
        if len(golden_mm) or (len(value_mm) and not fixed):
            i = int((list(golden_mm) + list(value_mm))[0])
            raise HwBnnError(
                f"integer.onnx differs from {'the golden model' if len(golden_mm) else 'exported.onnx'} on split "
                f"'{name}': {len(value_mm)} value and {len(golden_mm)} golden mismatches of {len(x)} images (first: image {i})"
            )
    return res


def step_compile(cfg: FlowConfig) -> None:
    exported = _require(cfg.build / "exported.onnx", "export")
    fixed = cfg.fixed_config()
    st = _Stage(
        cfg,
        "compile",
        _key(_sha(exported), cfg.acc_bits, cfg.data_dir, cfg.verify_limit, repr(fixed)),
        ["integer.onnx", "golden.npz", "compile_check.json"],
    )
    if st.up_to_date():
        _say(cfg, "[compile] up to date, skipped")
        return
    with st:
        folded, golden = compile_onnx(exported, st.tmp, cfg.acc_bits, fixed)
        res = check_integer_graph(exported, folded, golden, _eval_splits(cfg))
        _write_text(st.tmp / "compile_check.json", json.dumps(res, indent=2))
    if any(v.get("fixed_point") for v in res.values()):
        parts = ", ".join(
            f"{k}: {v['images']} images, {v['decision_mismatches']} decisions differ, accuracy {v['accuracy_exported']:.4f} -> "
            f"{v['accuracy_folded']:.4f}"
            for k, v in res.items()
        )
        _say(
            cfg,
            f"[compile] integer.onnx is integer-only with fixed-point shortcuts ({len(golden.layers)} layers); vs float exported.onnx: {parts}",
        )
    else:
        parts = ", ".join(
            f"{k}: {v['images']} images, {v['value_mismatches']} value mismatches" for k, v in res.items()
        )
        _say(
            cfg, f"[compile] integer.onnx is integer-only ({len(golden.layers)} layers); equals exported.onnx ({parts})"
        )


def _hls_settings(cfg: FlowConfig) -> dict:
    return {
        "backend": cfg.backend,
        "reuse_factor": cfg.reuse_factor,
        "part": cfg.part,
        "clock_period": cfg.clock_period,
        "folding": cfg.folding,
    }


def _tb_inputs(cfg: FlowConfig) -> np.ndarray:
    """The project's testbench inputs: the first 100 validation images."""
    return _eval_splits(cfg)["val"].x[:100]


def load_csim(cfg: FlowConfig, golden):
    """The compiled C simulation of ``<build>/hls``.  ``hw_bnn.sim.csim.load_csim`` checks that the
    project is exactly what emit writes for this golden model and these settings (a stale or
    edited project is an error), then compiles a scratch copy with g++; ``hls/`` is untouched."""
    from hw_bnn.sim.csim import load_csim as _load

    return _load(golden, cfg.build / "hls", **_hls_settings(cfg))


def step_emit(cfg: FlowConfig) -> None:
    from hw_bnn.hls4ml_ext.emit import emit_project
    from hw_bnn.ir import IntegerNetwork

    gpath = _require(cfg.build / "golden.npz", "compile")
    st = _Stage(cfg, "emit", _key(_sha(gpath), _hls_settings(cfg)), ["hls"])
    if st.up_to_date():
        _say(cfg, "[emit] up to date, skipped")
        return
    golden = IntegerNetwork.load(gpath)
    with st:
        emit_project(golden, st.tmp / "hls", tb_inputs=_tb_inputs(cfg), **_hls_settings(cfg))
    io = "io_stream" if golden.is_image else "io_parallel"
    fold = f"folding of {len(cfg.folding)} layers (PE/SIMD)" if cfg.folding else f"ReuseFactor {cfg.reuse_factor}"
    _say(cfg, f"[emit] hls/: {cfg.backend} project, {io}, {fold}, part {cfg.part}")


def _first_divergence(golden, hls_model, x_one: np.ndarray) -> dict:
    from hw_bnn.sim.csim import csim_trace

    g = golden.run(x_one[None], trace=True)
    h = csim_trace(hls_model, x_one[None])
    for layer in golden.layers:
        a, b = g[layer.name].reshape(-1), np.asarray(h[layer.name]).reshape(-1)
        if a.shape != b.shape or np.any(a != b):
            if a.shape != b.shape:
                return {
                    "layer": layer.name,
                    "element": None,
                    "golden_shape": list(a.shape),
                    "csim_shape": list(b.shape),
                }
            e = int(np.flatnonzero(a != b)[0])
            return {"layer": layer.name, "element": e, "golden": int(a[e]), "csim": int(b[e])}
    return {"layer": None}


def step_verify(cfg: FlowConfig, inputs: np.ndarray | None = None) -> dict:
    """Golden vs C simulation on every image, integer by integer."""
    from hw_bnn.ir import IntegerNetwork
    from hw_bnn.sim.csim import csim_predict

    gpath = _require(cfg.build / "golden.npz", "compile")
    _require(cfg.build / "hls", "emit")
    golden = IntegerNetwork.load(gpath)
    if inputs is not None:
        inputs = np.asarray(inputs)
        if inputs.ndim != 1 + len(golden.input_shape) or inputs.shape[1:] != tuple(golden.input_shape):
            raise VerifyError(
                f"verify: inputs have shape {inputs.shape}, the model expects (N, {', '.join(map(str, golden.input_shape))})"
            )
        from hw_bnn.train.data import Split

        splits = {"inputs": Split(inputs, np.full(len(inputs), -1), (0, 0, 0))}
    else:
        splits = _eval_splits(cfg)
    key = _key(
        _sha(gpath),
        _hls_settings(cfg),
        cfg.csim_limit,
        {k: (len(s), hashlib.sha256(s.x.tobytes()).hexdigest()) for k, s in splits.items()},
    )
    st = _Stage(cfg, "verify", key, ["verify.json"])
    if st.up_to_date():
        _say(cfg, "[verify] up to date, skipped")
        return json.loads((cfg.build / "verify.json").read_text())
    _say(cfg, "[verify] compiling the C simulation (g++)")
    hls_model = load_csim(cfg, golden)
    res: dict = {"splits": {}}
    with st:
        for name, s in splits.items():
            xc = s.x[: cfg.csim_limit or None]
            t0 = time.time()
            g_all = golden.run(s.x)  # every image is scored; the C-sim sees the first len(xc)
            t_golden = time.time() - t0
            g = g_all[: len(xc)]
            t0 = time.time()
            h = csim_predict(hls_model, xc)
            t_csim = time.time() - t0
            bad = np.flatnonzero(np.any(g != h, axis=1))
            entry = {
                "images": len(xc),
                "scored_images": len(s),
                "mismatched_images": len(bad),
                "mismatched_elements": int((g != h).sum()),
                "golden_seconds": round(t_golden, 3),
                "csim_seconds": round(t_csim, 3),
            }
            if s.y.min() >= 0:
                entry["accuracy"] = float((np.argmax(golden.apply_output_affine(g_all), axis=-1) == s.y).mean())
            if len(bad):
                entry["first_mismatch"] = {"image": int(bad[0]), **_first_divergence(golden, hls_model, s.x[bad[0]])}
            res["splits"][name] = entry
        res["mismatches"] = sum(e["mismatched_images"] for e in res["splits"].values())
        _write_text(st.tmp / "verify.json", json.dumps(res, indent=2))
    for name, e in res["splits"].items():
        acc = f", accuracy {e['accuracy']:.4f}" if "accuracy" in e else ""
        _say(
            cfg,
            f"[verify] {name}: {e['images']} images, golden vs C simulation: {e['mismatched_images']} mismatches{acc}",
        )
        if "first_mismatch" in e:
            fm = e["first_mismatch"]
            _say(
                cfg, f"[verify]   first mismatch: image {fm['image']}, layer {fm['layer']}, element {fm.get('element')}"
            )
    return res


def step_report(cfg: FlowConfig) -> dict:
    from hw_bnn.flow.report import write_report

    _require(cfg.build / "verify.json", "verify")
    report = write_report(cfg)
    _say(cfg, f"[report] {cfg.build / 'report.md'}")
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
    cfg.save()
    for s in stages:
        STEP_FUNCTIONS[s](cfg)
    return json.loads((cfg.build / "report.json").read_text()) if "report" in stages else {}

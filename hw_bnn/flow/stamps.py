"""Stage stamps: a stage is skipped only when nothing it depends on changed, and publishes its
outputs all at once.

A stage records a stamp ``.stamps/<stage>.json``::

    {"stage": "compile", "key": sha(settings, code),
     "inputs":  {"exported.onnx": sha, ...},      # build artifacts by name, other files by path
     "outputs": {"integer.onnx": sha, ...}}

The stage is up to date when the key (its settings and the source of the code that implements
it, :func:`code_sha`) matches, every input has the recorded content, and every output is there
with the content the stage wrote.  Anything else re-runs it, and says why; an output changed by
hand is named (``integer.onnx changed since the compile stage wrote it``), and with
``protect_edits`` it is an error instead of being overwritten.

Outputs are written into a temporary folder ``.tmp-<stage>-*`` inside the build folder and
moved into place (``os.replace``, atomic on POSIX) after the stage's work succeeded; the old
stamp is removed just before, the new one written just after.  A rejected or interrupted stage
leaves the build folder as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import hw_bnn
from hw_bnn.errors import BuildFolderError
from hw_bnn.files import write_text_atomic

STAMPS = ".stamps"

# artifacts that an older hw-bnn wrote under another name: {old name: current name}
RENAMED_ARTIFACTS = {"folded.onnx": "integer.onnx"}

# the code each stage runs: hw_bnn sub-packages / modules (their .py source is hashed), and the
# kernels; a change to any of them re-runs the stage
STAGE_CODE = {
    "train": ("train",),
    "export": ("train", "compile/export.py", "compile/pipeline.py", "compile/qonnx_run.py"),
    "compile": ("compile", "ir"),
    "emit": ("hls4ml_ext", "ir", "hls_kernels"),
    "verify": ("sim/csim.py", "sim/verify.py", "hls4ml_ext", "ir", "hls_kernels"),
    "rtlsim": ("rtl", "sim/rtlsim.py", "sim/verify.py", "ir", "rtl_kernels", "sim_harness", "hls4ml_ext/folding.py"),
    "synth": ("synth", "flow/hardware.py", "rtl_kernels"),
    "bitstream": ("synth", "flow/hardware.py", "rtl", "rtl_kernels", "sim/boardsim.py", "sim_harness", "board_files"),
    "report": ("flow/reporting.py", "dse", "ir"),
}


def _files(p: Path) -> list[Path]:
    return sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]


def tree_sha(path) -> str:
    """SHA-256 of a file, or of a folder: every file's relative path and bytes, in sorted order."""
    p = Path(path)
    h = hashlib.sha256()
    for q in _files(p):
        h.update(str(q.relative_to(p) if p.is_dir() else q.name).encode())
        with open(q, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def code_sha(stage: str) -> str:
    """SHA-256 of the source that implements ``stage`` (:data:`STAGE_CODE`) and hw-bnn's version."""
    from hw_bnn import resources

    shipped = {"hls_kernels": resources.hls_kernels_dir, "rtl_kernels": resources.rtl_kernels_dir}
    shipped["sim_harness"] = resources.sim_harness_dir
    shipped["board_files"] = resources.board_files_dir
    root = Path(hw_bnn.__file__).parent
    h = hashlib.sha256(getattr(hw_bnn, "__version__", "").encode())
    for part in STAGE_CODE.get(stage.split("@")[0], ()):  # "bitstream@ulx3s-85f": the bitstream stage
        p = shipped[part]() if part in shipped else root / part
        for q in _files(p):
            if q.suffix in (".py", ".h", ".hpp", ".cpp", ".sv", ".yaml"):
                h.update(str(q.relative_to(p.parent)).encode() + q.read_bytes())
    return h.hexdigest()


def stage_key(*parts) -> str:
    """SHA-256 of the JSON of ``parts`` (sorted keys; anything else by ``str``)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def require(cfg, name: str, stage: str) -> Path:
    """``<build>/name``, which the stage ``stage`` writes: an error if that stage has not run
    (or if an older hw-bnn wrote the build folder, :func:`check_build_folder`)."""
    check_build_folder(cfg.build, cfg.force)
    path = cfg.build / name
    if not path.exists():
        raise BuildFolderError(f"{path}: missing; run the '{stage}' stage first (or 'hw-bnn flow')")
    return path


def check_build_folder(build: Path, force: bool = False) -> None:
    """Refuse a build folder written by an older hw-bnn: one that holds an artifact under its
    old name (``folded.onnx``), or a stamp that names one.  With ``force`` (every stage runs
    again) those files are removed instead."""
    build = Path(build)
    old = [build / name for name in RENAMED_ARTIFACTS if (build / name).exists()]
    stamps = sorted((build / STAMPS).glob("*.json")) if (build / STAMPS).is_dir() else []
    old += [p for p in stamps if any(name in p.read_text(errors="replace") for name in RENAMED_ARTIFACTS)]
    if not old:
        return
    if force:
        for p in old:
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()
        return
    names = ", ".join(str(p.relative_to(build)) for p in old)
    renamed = ", ".join(f"{a} is now {b}" for a, b in RENAMED_ARTIFACTS.items())
    raise BuildFolderError(
        f"{build}: written by an older hw-bnn (it holds {names}; {renamed}); "
        "re-run with --force to rebuild it, or choose a new --out"
    )


def publish(tmp: Path, build: Path, outputs: list[str], stage: str) -> None:
    """Move each output from ``tmp`` into ``build``, replacing what is there (a folder is
    swapped in by two renames, then the old one is deleted)."""
    for o in outputs:
        src, dst = tmp / o, build / o
        if not src.exists():
            raise RuntimeError(f"stage {stage}: did not produce {o}")
        if dst.is_dir():
            trash = build / f".old-{o}-{os.getpid()}"
            os.replace(dst, trash)
            os.replace(src, dst)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(src, dst)


def read_stamp(build: Path, stage: str) -> dict | None:
    """The stamp of ``stage`` in ``build`` (None if there is none, or it is unreadable)."""
    try:
        st = json.loads((Path(build) / STAMPS / f"{stage}.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return st if isinstance(st, dict) else None


class StageRun:
    """One stage in a build folder.

    ``inputs`` maps a label to the file or folder the stage reads (a build artifact's label is
    its name, another file's its path); ``settings`` is anything JSON-able the outputs depend
    on.  :meth:`up_to_date` checks the stamp (and sets :attr:`reason` when it is not);
    ``with`` gives a temporary folder ``tmp`` for the outputs, publishes them and writes the
    stamp on success (``read``: the hashes of the inputs as the run found them)."""

    def __init__(self, cfg, name: str, settings, outputs: list[str], inputs: dict | None = None):
        self.cfg, self.name, self.outputs = cfg, name, outputs
        self.inputs = {str(k): Path(v) for k, v in (inputs or {}).items()}
        self.key = stage_key(settings, code_sha(name))
        self.stamp = cfg.build / STAMPS / f"{name}.json"
        self.reason = ""
        check_build_folder(cfg.build, cfg.force)

    def stale_reason(self) -> str:
        """Why the stage must run ('' when it is up to date)."""
        st = read_stamp(self.cfg.build, self.name)
        if st is None:
            return "it has not run"
        recorded = st.get("inputs")
        if not isinstance(recorded, dict) or set(recorded) != set(self.inputs):
            return f"it read other inputs ({', '.join(sorted(recorded or {})) or 'none'}; now {', '.join(self.inputs)})"
        if st.get("key") != self.key:
            return "its settings or code changed"
        for label, path in self.inputs.items():
            if not path.exists():
                return f"its input {label} is missing"
            if tree_sha(path) != recorded[label]:
                return f"its input {label} changed"
        wrote = st.get("outputs")
        if not isinstance(wrote, dict) or set(wrote) != set(self.outputs):
            return "it wrote other outputs"
        for o in self.outputs:
            if not (self.cfg.build / o).exists():
                return f"its output {o} is missing"
            if tree_sha(self.cfg.build / o) != wrote[o]:
                return self._edited(o)
        return ""

    def _edited(self, output: str) -> str:
        path = self.cfg.build / output
        if getattr(self.cfg, "protect_edits", False):
            raise BuildFolderError(
                f"{path}: changed since the {self.name} stage wrote it; it is kept (--protect-edits): "
                f"restore it, or re-run without --protect-edits to rebuild it"
            )
        return f"{output} changed since the {self.name} stage wrote it"

    def up_to_date(self) -> bool:
        """True when the stamp covers the current settings, code, inputs and outputs."""
        if self.cfg.force:
            self.reason = "--force"
            return False
        self.reason = self.stale_reason()
        return not self.reason

    def input_hashes(self) -> dict:
        return {label: tree_sha(p) for label, p in self.inputs.items()}

    def __enter__(self):
        if getattr(self.cfg, "read_only", False):
            raise BuildFolderError(
                f"{self.cfg.build}: read-only, and the {self.name} stage must run ({self.reason or 'it has not run'}); "
                "make the folder writable, or choose a new --out"
            )
        self.cfg.build.mkdir(parents=True, exist_ok=True)
        self.read = self.input_hashes()  # what this run reads, before it reads it
        self.tmp = Path(tempfile.mkdtemp(dir=self.cfg.build, prefix=f".tmp-{self.name}-"))
        self.t0 = time.time()
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                wrote = {o: tree_sha(self.tmp / o) for o in self.outputs if (self.tmp / o).exists()}
                self.stamp.unlink(missing_ok=True)  # invalid while the outputs are swapped in
                publish(self.tmp, self.cfg.build, self.outputs, self.name)
                self.stamp.parent.mkdir(exist_ok=True)
                stamp = {
                    "stage": self.name,
                    "key": self.key,
                    "inputs": self.read,
                    "outputs": wrote,
                    "seconds": round(time.time() - self.t0, 2),
                }
                write_text_atomic(self.stamp, json.dumps(stamp, indent=1))
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return False

"""Stage stamps: skip a stage whose inputs are unchanged, publish its outputs all at once.

A stage records a stamp ``.stamps/<stage>.json`` holding ``key``, a hash of its inputs and
settings, and the names of its ``outputs``.  When the stamp's key matches and every output is
there, the stage is skipped, so an interrupted flow resumes where it stopped.

Outputs are written into a temporary folder ``.tmp-<stage>-*`` inside the build folder and
moved into place (``os.replace``, atomic on POSIX) before the stamp is written; the stamp is
removed first.  So a build folder never holds a half-written artifact that looks complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from hw_bnn.errors import BuildFolderError
from hw_bnn.files import write_text_atomic

STAMPS = ".stamps"

# artifacts that an older hw-bnn wrote under another name: {old name: current name}
RENAMED_ARTIFACTS = {"folded.onnx": "integer.onnx"}


def tree_sha(path) -> str:
    """SHA-256 of a file, or of a folder: every file's relative path and bytes, in sorted order."""
    h = hashlib.sha256()
    p = Path(path)
    files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    for q in files:
        h.update(str(q.relative_to(p) if p.is_dir() else q.name).encode())
        with open(q, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
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


class StageRun:
    """One stage in a build folder: ``up_to_date()`` checks its stamp; ``with`` gives a
    temporary folder ``tmp`` for its outputs, publishes them and writes the stamp on success."""

    def __init__(self, cfg, name: str, key: str, outputs: list[str]):
        self.cfg, self.name, self.key, self.outputs = cfg, name, key, outputs
        self.stamp = cfg.build / STAMPS / f"{name}.json"
        check_build_folder(cfg.build, cfg.force)

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
                publish(self.tmp, self.cfg.build, self.outputs, self.name)
                self.stamp.parent.mkdir(exist_ok=True)
                stamp = {"key": self.key, "outputs": self.outputs, "seconds": round(time.time() - self.t0, 2)}
                write_text_atomic(self.stamp, json.dumps(stamp))
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return False

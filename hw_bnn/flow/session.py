"""One command's hold on a build folder: a lock, the leftovers of killed runs, ``flow.json``.

:func:`build_session` wraps every command that writes a build folder:

1. **Lock.** ``<build>/.lock`` (``filelock``, an OS lock that dies with its process) is taken
   without waiting; if another run holds it, a :class:`~hw_bnn.errors.BuildFolderError` names
   that run (its pid and command, from ``.lock.owner``).
2. **Leftovers.** Temporary stage folders (``.tmp-*``, ``.old-*``) that a killed run left are
   removed; no other run can be using them while the lock is held.
3. **Settings.** ``flow.json`` is written (only if it changes).  If the command is rejected
   (any :class:`~hw_bnn.errors.HwBnnError`), the previous ``flow.json`` is put back, so a bad
   option never sticks to the folder; a folder this command created and left without a single
   finished stage is removed.

A folder the user cannot write is used read-only: no lock, nothing written; a stage that would
have to run is an error naming the folder (:class:`~hw_bnn.flow.stamps.StageRun`).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from hw_bnn.errors import BuildFolderError, HwBnnError
from hw_bnn.files import write_bytes_atomic
from hw_bnn.flow.stamps import STAMPS

LOCK, OWNER = ".lock", ".lock.owner"
LEFTOVER_PREFIXES = (".tmp-", ".old-")


def _owner(build: Path) -> str:
    """Who holds the lock, as the owner file says."""
    try:
        o = json.loads((build / OWNER).read_text())
        return f"pid {o['pid']}, '{o['command']}', since {o['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def remove_leftovers(build: Path) -> list[str]:
    """Remove the temporary stage folders a killed run left in ``build``; their names."""
    gone = []
    for p in sorted(build.iterdir()):
        if p.name.startswith(LEFTOVER_PREFIXES):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            gone.append(p.name)
    return gone


@contextmanager
def _locked(build: Path):
    lock = FileLock(str(build / LOCK), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise BuildFolderError(
            f"{build}: in use by another hw-bnn run ({_owner(build)}); wait for it to finish, or choose another --out"
        ) from None
    try:
        owner = {"pid": os.getpid(), "command": " ".join(["hw-bnn", *sys.argv[1:]]), "since": time.strftime("%X")}
        (build / OWNER).write_text(json.dumps(owner))
        yield
    finally:
        (build / OWNER).unlink(missing_ok=True)
        lock.release()


def _settings_bytes(cfg) -> bytes:
    return json.dumps(cfg.settings(), indent=2).encode()


def _same_settings(saved: bytes, cfg) -> bool:
    """``flow.json`` holds ``cfg``'s settings (``out`` aside: a copied folder keeps its settings)."""
    try:
        old = json.loads(saved)
    except ValueError:
        return False
    new = cfg.settings()
    return isinstance(old, dict) and {k: v for k, v in old.items() if k != "out"} == {
        k: v for k, v in new.items() if k != "out"
    }


@contextmanager
def build_session(cfg):
    """Hold ``cfg.build`` for one command (see the module docstring)."""
    build = cfg.build
    if build.is_dir() and not os.access(build, os.W_OK):
        cfg.read_only = True
        saved = (build / "flow.json").read_bytes() if (build / "flow.json").exists() else None
        if saved is not None and not _same_settings(saved, cfg):
            raise BuildFolderError(f"{build}: read-only; its flow.json cannot take the new settings")
        yield
        return
    created = not build.exists()
    build.mkdir(parents=True, exist_ok=True)
    with _locked(build):
        gone = remove_leftovers(build)
        if gone:
            cfg.say(f"[{build}] removed what an interrupted run left: {', '.join(gone)}")
        path = build / "flow.json"
        before = path.read_bytes() if path.exists() else None
        if before is None or not _same_settings(before, cfg):
            write_bytes_atomic(path, _settings_bytes(cfg))
        try:
            yield
        except HwBnnError:
            _roll_back(build, path, before, created)
            raise


def _roll_back(build: Path, path: Path, before: bytes | None, created: bool) -> None:
    """A rejected command: ``flow.json`` as it was; a folder it created with no stage done, gone."""
    if before is not None:
        write_bytes_atomic(path, before)
    else:
        path.unlink(missing_ok=True)
    stamps = build / STAMPS
    if created and not (stamps.is_dir() and any(stamps.iterdir())):
        shutil.rmtree(build, ignore_errors=True)

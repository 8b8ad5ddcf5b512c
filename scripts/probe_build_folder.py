"""Try a careful user's bad cases on a build folder and print a Markdown table of what happened.

    .venv/bin/python scripts/probe_build_folder.py                    # every case
    .venv/bin/python scripts/probe_build_folder.py --cases edit-golden,'recipe-*'
    .venv/bin/python scripts/probe_build_folder.py --json probe.json --keep build/probe
    PYTHONPATH=/other/checkout .venv/bin/python scripts/probe_build_folder.py   # probe another version

The CLI is always run as ``[sys.executable, "-m", "hw_bnn.cli", ...]`` from the work folder, with
the ``hw_bnn`` that this interpreter would import first (``PYTHONPATH`` wins over the installed
one) put at the front of the children's ``PYTHONPATH``; the header says which one was probed.

Setup: one finished build ``B`` (``flow --model tcnv-digits-w1a1 --csim-limit 20``, ~30 s), and
for the cases that need them a second model's build ``B2`` and an MNIST-family build (a
``tfc-w1a1`` build, 1 epoch).  Every case works on a fresh copy of a setup build, so the cases
are independent.  Everything lives in a fresh folder under the repository's ``build/``
(git-ignored), deleted at the end unless ``--keep DIR`` is given.

For each case the docstring of its function says what the CORRECT behaviour is; the verdict is
``ok`` or ``WRONG`` with a short reason.  The table's last column is the first relevant line of
stderr (Python warnings and progress lines are skipped; for a traceback, its final line).
Outcomes: ``traceback``, ``internal error`` (a crash the CLI caught and printed as one line),
``error message`` (non-zero exit, one ``hw-bnn: error:`` line), ``timeout``, ``exit N``, and for
``flow``: ``PASS (all up to date)`` / ``PASS (re-run)``.  Children get ``OMP_NUM_THREADS=1``
unless it is set (two cores, shared).  The script uses the package only through its CLI (and
reads build artifacts with numpy/onnx), so it works on older and newer versions of the code
alike.  Exit status: 0, or 1 with ``--strict`` when a case is WRONG, 2 when a setup build fails.
"""

from __future__ import annotations

import argparse
import fnmatch
import gzip
import hashlib
import importlib.util
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 600  # seconds, any CLI call
RECIPE_TIMEOUT = 300  # seconds, the recipe cases (they should fail fast)
RECIPE_FAST = 20  # seconds: "within a few seconds" (imports included, on 2 slow cores)
RECIPE_MEMORY = 8 << 30  # address-space cap for the recipe cases (hidden: [100000000] is ~51 GB)
FLOW_STAGES = ("train", "export", "compile", "emit", "verify")  # the stages that can be skipped
INTEGER_GRAPHS = ("integer.onnx", "folded.onnx")  # current name, name in older builds
STAGE_LINE = re.compile(r"^\[(train|export|compile|emit|verify|report)\]")
UP_TO_DATE = re.compile(r"^\[(\w+)\] up to date")
NOISE = (
    re.compile(r"Warning: "),  # Python warnings ...
    re.compile(r"^\s+warnings\.warn\("),  # ... and the source line that follows them
    re.compile(r"\bepoch \d+/\d+"),  # training progress
    re.compile(r"^\s*\d+%\|"),  # progress bars
)
USE_WORDS = ("in use", "lock", "busy", "another", "running", "concurren")


# --------------------------------------------------------------------------------------
# one CLI call


@dataclass
class Run:
    """One finished CLI call."""

    argv: list
    rc: int | None
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False
    lines: list = field(default_factory=list, repr=False)  # (seconds since start, stdout line)

    @property
    def command(self) -> str:
        return self.argv[0] if self.argv else ""

    @property
    def traceback(self) -> bool:
        return "Traceback" in self.stderr

    @property
    def internal_error(self) -> bool:
        """A crash the CLI caught and printed as one line (``hw-bnn: internal error: ...``)."""
        return any(ln.startswith("hw-bnn: internal error") for ln in self.stderr.splitlines())

    @property
    def error_lines(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if ln.startswith("hw-bnn: error:")]

    @property
    def one_line_error(self) -> bool:
        """Non-zero exit with exactly one ``hw-bnn: error:`` line and no traceback."""
        return self.rc not in (0, None) and not self.timed_out and not self.traceback and len(self.error_lines) == 1

    @property
    def error(self) -> str:
        return self.error_lines[0] if self.error_lines else ""

    @property
    def up_to_date(self) -> set[str]:
        return {m.group(1) for ln in self.stdout.splitlines() if (m := UP_TO_DATE.match(ln))}

    @property
    def all_up_to_date(self) -> bool:
        return set(FLOW_STAGES) <= self.up_to_date

    @property
    def outcome(self) -> str:
        if self.timed_out:
            return "timeout"
        if self.traceback:
            return "traceback"
        if self.internal_error:
            return "internal error"
        if self.rc != 0:
            if self.one_line_error:
                return "error message"
            return f"exit {self.rc}" + (" (error of several lines)" if self.error_lines else "")
        if self.command == "flow":
            return "PASS (all up to date)" if self.all_up_to_date else "PASS (re-run)"
        return "exit 0"

    def stderr_line(self, width: int = 100, work: Path | None = None) -> str:
        """The first relevant stderr line, the work folder's path shown as ``<work>``."""
        lines = [ln.rstrip() for ln in self.stderr.splitlines() if ln.strip()]
        if self.traceback:
            tail = [ln for ln in lines if not ln.startswith(" ")]
            text = "Traceback ... " + (tail[-1] if tail else "")
        elif self.error_lines or self.internal_error:
            text = next(ln for ln in lines if ln.startswith("hw-bnn: "))
        else:
            useful = [ln for ln in lines if not any(p.search(ln) for p in NOISE)]
            text = useful[0] if useful else ""
        text = " ".join(text.split())
        if work is not None:
            text = text.replace(str(work), "<work>")
        return text if len(text) <= width else text[: width - 3] + "..."

    def to_json(self) -> dict:
        return {
            "argv": self.argv,
            "rc": self.rc,
            "seconds": round(self.seconds, 1),
            "timed_out": self.timed_out,
            "traceback": self.traceback,
            "outcome": self.outcome,
            "stderr_line": self.stderr_line(300),
            "stdout_tail": self.stdout[-2000:],
            "stderr_tail": self.stderr[-3000:],
        }


class Proc:
    """A running CLI call; stdout lines are time-stamped as they arrive (for the concurrent case)."""

    def __init__(self, argv, cwd, env, timeout, memory=None):
        self.argv = [str(a) for a in argv]
        self.timeout = timeout

        def limit():
            if memory:
                resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

        self.t0 = time.monotonic()
        self.p = subprocess.Popen(
            [sys.executable, "-m", "hw_bnn.cli", *self.argv],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,  # so a timeout kills g++ and friends too
            preexec_fn=limit if memory else None,
        )
        self.lines: list = []
        self.err: list = []
        self.readers = [
            threading.Thread(target=self._read_out, daemon=True),
            threading.Thread(target=lambda: self.err.append(self.p.stderr.read()), daemon=True),
        ]
        for t in self.readers:
            t.start()

    def _read_out(self):
        for ln in self.p.stdout:
            self.lines.append((time.monotonic() - self.t0, ln.rstrip("\n")))

    def wait(self) -> Run:
        timed_out = False
        try:
            self.p.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.p.wait()
        for t in self.readers:
            t.join(timeout=10)
        return Run(
            self.argv,
            None if timed_out else self.p.returncode,
            "\n".join(ln for _, ln in self.lines),
            "".join(self.err),
            time.monotonic() - self.t0,
            timed_out,
            list(self.lines),
        )


# --------------------------------------------------------------------------------------
# the work folder, the setup builds


class Probe:
    def __init__(self, work: Path, package_root: Path):
        self.work, self.package_root = work, package_root
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = os.pathsep.join(p for p in (str(package_root), os.environ.get("PYTHONPATH")) if p)
        # one torch thread per process unless told otherwise: two cores shared with the concurrent
        # case (and with anything else running) make spinning OpenMP threads crawl
        self.env.setdefault("OMP_NUM_THREADS", "1")
        self.builds: dict[str, Path] = {}
        self.build_runs: dict[str, Run] = {}
        self.n = 0

    def spawn(self, *args, timeout=TIMEOUT, memory=None) -> Proc:
        return Proc(args, self.work, self.env, timeout, memory)

    def cli(self, *args, timeout=TIMEOUT, memory=None) -> Run:
        return self.spawn(*args, timeout=timeout, memory=memory).wait()

    def path(self, name: str) -> Path:
        """A fresh path in the work folder."""
        self.n += 1
        return self.work / f"{self.n:02d}-{name}"

    def copy(self, case: str, build: str = "B") -> Path:
        """A fresh copy of the setup build ``build``."""
        dst = self.path(case)
        shutil.copytree(self.build(build), dst, symlinks=True)
        return dst

    def recipe_source(self) -> Path:
        """tcnv-digits-w1a1.yaml of the probed checkout (its models/), else of this repository."""
        for root in (self.package_root, REPO):
            if (root / "models" / "tcnv-digits-w1a1.yaml").exists():
                return root / "models" / "tcnv-digits-w1a1.yaml"
        raise FileNotFoundError("models/tcnv-digits-w1a1.yaml")

    # the setup builds, made when a case first needs them

    def models(self) -> list[str]:
        if not hasattr(self, "_models"):
            r = self.cli("models", timeout=120)
            self._models = [ln.split()[0] for ln in r.stdout.splitlines() if ln.strip()]
        return self._models

    def build_spec(self, name: str) -> list:
        if name == "B":
            return ["flow", "--model", "tcnv-digits-w1a1", "--csim-limit", "20"]
        if name == "B2":  # a second, different model
            if "tfc-digits-w1a1" in self.models():
                return ["flow", "--model", "tfc-digits-w1a1", "--csim-limit", "20"]
            return self.build_spec("MNIST")
        if name == "MNIST":  # a model whose dataset is MNIST-family (reads --data-dir)
            return ["flow", "--model", "tfc-w1a1", "--epochs", "1", "--csim-limit", "20"]
        raise KeyError(name)

    def build(self, name: str) -> Path:
        spec = self.build_spec(name)
        for other, path in self.builds.items():  # B2 and MNIST may be the same build
            if self.build_spec(other) == spec:
                return path
        if name in self.build_runs:  # failed before
            raise SetupError(name, self.build_runs[name])
        out = self.work / f"setup-{name}"
        say(f"setup: building {name} = hw-bnn {' '.join(spec)} ...")
        r = self.cli(*spec, "--out", out)
        self.build_runs[name] = r
        say(f"setup: {name}: exit {r.rc} in {r.seconds:.0f} s")
        if r.rc != 0:
            raise SetupError(name, r)
        self.builds[name] = out
        return out


class SetupError(Exception):
    def __init__(self, name, run: Run):
        super().__init__(f"setup build {name} failed ({run.outcome}: {run.stderr_line()})")
        self.run = run


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# reading build folders (numpy / onnx only: any version)


def sha(path: Path) -> str:
    h = hashlib.sha256()
    p = Path(path)
    for q in sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else [p]:
        h.update(str(q.relative_to(p) if p.is_dir() else q.name).encode())
        h.update(q.read_bytes())
    return h.hexdigest()


def integer_graph(b: Path) -> Path:
    for name in INTEGER_GRAPHS:
        if (b / name).exists():
            return b / name
    raise FileNotFoundError(f"{b}: none of {INTEGER_GRAPHS}")


def read_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def golden_arrays(b: Path) -> dict:
    with np.load(b / "golden.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def golden_signature(b: Path):
    """What identifies the model of a golden.npz: its keys and array shapes (None: unreadable)."""
    try:
        return sorted((k, v.shape) for k, v in golden_arrays(b).items())
    except Exception:  # noqa: BLE001 - a broken file is the point of some cases
        return None


def input_shape(b: Path) -> tuple:
    """The model's input shape without N: golden.npz's ``*input_shape`` array, else the ONNX input."""
    for k, v in golden_arrays(b).items():
        if "input_shape" in k:
            return tuple(int(d) for d in v)
    import onnx

    dims = onnx.load(str(integer_graph(b))).graph.input[0].type.tensor_type.shape.dim
    return tuple(int(d.dim_value) for d in dims[1:])


def verify_splits(b: Path) -> dict:
    """{split: images} of report.json's verification."""
    rep = read_json(b / "report.json") or {}
    splits = (rep.get("verify") or {}).get("splits") or {}
    return {k: v.get("images") for k, v in splits.items() if isinstance(v, dict)}


def accuracy(b: Path) -> float | None:
    rep = read_json(b / "report.json") or {}
    for v in ((rep.get("verify") or {}).get("splits") or {}).values():
        if isinstance(v, dict) and "accuracy" in v:
            return float(v["accuracy"])
    return None


def report_says_pass(b: Path) -> bool:
    try:
        return "PASS" in (b / "report.md").read_text()
    except OSError:
        return False


def snapshot(b: Path) -> dict:
    """{file: sha} of a build folder's artifacts (not the report, which every flow rewrites)."""
    skip = {"report.json", "report.md", "memory.png", "flow.json"}
    return {
        str(q.relative_to(b)): sha(q)
        for q in sorted(b.rglob("*"))
        if q.is_file() and q.name not in skip and not q.name.startswith(".lock") and ".stamps" not in q.parts
    }


def nothing_reran(r: Run, before: dict, b: Path) -> bool:
    """Every stage said "up to date" (or, when the stage messages read otherwise, no artifact changed)."""
    if r.all_up_to_date:
        return True
    if any(STAGE_LINE.match(ln) for ln in r.stdout.splitlines()):
        return False
    return snapshot(b) == before


# --------------------------------------------------------------------------------------
# results


@dataclass
class Result:
    done: str
    runs: list
    verdict: str  # "ok", "WRONG", "skipped (...)", "setup failed"
    reason: str
    key: Run | None = None  # the run whose stderr is shown (default: first failing, else last)

    def shown(self) -> Run | None:
        if self.key is not None:
            return self.key
        bad = [r for r in self.runs if r.rc != 0 or r.traceback]
        return bad[0] if bad else (self.runs[-1] if self.runs else None)


def ok(done, runs, reason, key=None) -> Result:
    return Result(done, runs, "ok", reason, key)


def wrong(done, runs, reason, key=None) -> Result:
    return Result(done, runs, "WRONG", reason, key)


def failed_badly(r: Run) -> str | None:
    """The reason a run is WRONG whatever the case: a timeout or a traceback."""
    if r.timed_out:
        return f"timed out after {r.seconds:.0f} s"
    if r.traceback:
        return "traceback"
    if r.internal_error:
        return "internal error (a crash, caught)"
    return None


def judge_error(done, runs, r: Run, names=(), what="error") -> Result:
    """A run that must end in a one-line ``hw-bnn: error:`` (exit 2) naming each of ``names``."""
    if bad := failed_badly(r):
        return wrong(done, runs, bad, r)
    if r.rc == 0:
        return wrong(done, runs, f"exit 0: accepted (expected an {what})", r)
    if not r.one_line_error:
        return wrong(done, runs, f"exit {r.rc} without a one-line hw-bnn: error:", r)
    missing = [n for n in names if n.lower() not in r.error.lower()]
    if missing:
        return wrong(done, runs, f"the error does not name {', '.join(missing)}", r)
    if r.rc != 2:
        return wrong(done, runs, f"one-line error but exit {r.rc}, not 2", r)
    return ok(done, runs, "one-line error" + (f" naming {', '.join(names)}" if names else ""), r)


# --------------------------------------------------------------------------------------
# the cases

CASES: dict = {}


def case(name: str):
    def register(fn):
        CASES[name] = fn
        return fn

    return register


def _edit_then_flow(p: Probe, name: str, edit, done: str, check=None, note=None) -> Result:
    """Edit one artifact of a copy of B, then ``flow --out B``.  Correct: a re-run that ends in
    exit 0 with a PASS over fresh artifacts (the edited file regenerated), or a one-line error
    naming the edited file.  WRONG: every stage "up to date" and exit 0, or a PASS that still
    covers the edited file.  ``check(b)``: a further reason for WRONG after exit 0 (or None);
    ``note(b)``: text added to the verdict after exit 0."""
    b = p.copy(name)
    edited = edit(b)  # the edited file (or folder)
    rel = edited.relative_to(b)
    top = b / rel.parts[0]
    edited_sha, before = sha(top), snapshot(b)
    r = p.cli("flow", "--out", b)
    runs = [r]
    if bad := failed_badly(r):
        return wrong(done, runs, bad)
    if r.rc != 0:
        if not r.one_line_error:
            return wrong(done, runs, f"exit {r.rc} without a one-line hw-bnn: error:")
        if edited.name not in r.error and rel.parts[0] not in r.error:
            return wrong(done, runs, f"the error does not name {rel}")
        return ok(done, runs, f"one-line error naming {rel}")
    extra = f" ({note(b)})" if note else ""
    if nothing_reran(r, before, b):
        return wrong(done, runs, f"every stage up to date and PASS, with the edited {rel}{extra}")
    if check and (why := check(b)):
        return wrong(done, runs, why)
    reran = ", ".join(s for s in FLOW_STAGES if s not in r.up_to_date)
    if sha(top) == edited_sha:
        return wrong(done, runs, f"re-ran {reran}, but the PASS covers the edited {rel}{extra}")
    if not report_says_pass(b):
        return wrong(done, runs, "exit 0 but report.md does not say PASS")
    return ok(done, runs, f"re-ran {reran}; {rel} regenerated{extra}")


@case("edit-integer")
def case_edit_integer(p: Probe) -> Result:
    """Add 50 to element 0 of a threshold initializer of integer.onnx (folded.onnx in older builds),
    then ``flow``.  Correct: a re-run (integer.onnx regenerated, PASS) or an error naming it."""
    import onnx
    from onnx import numpy_helper

    def edit(b):
        path = integer_graph(b)
        m = onnx.load(str(path))
        mt_inputs = {n.input[1] for n in m.graph.node if n.op_type == "MultiThreshold" and len(n.input) > 1}
        init = next(i for i in m.graph.initializer if "thresh" in i.name.lower() or i.name in mt_inputs)
        a = numpy_helper.to_array(init).copy()
        a.flat[0] += 50
        init.CopyFrom(numpy_helper.from_array(a, init.name))
        onnx.save(m, str(path))
        return path

    return _edit_then_flow(p, "edit-integer", edit, "+50 on threshold[0] in integer.onnx; flow")


@case("edit-golden")
def case_edit_golden(p: Probe) -> Result:
    """Add 50 to the first threshold array of golden.npz (all other arrays kept), then ``flow``.
    Correct: a re-run that regenerates golden.npz (PASS), or an error naming it.  Also WRONG: a
    PASS whose accuracy is far below the original."""
    b0 = p.build("B")
    acc0 = accuracy(b0)

    def edit(b):
        arrays = golden_arrays(b)
        key = next(k for k in arrays if "thresh" in k.lower())
        arrays[key] = arrays[key] + np.asarray(50, dtype=arrays[key].dtype)
        np.savez(b / "golden.npz", **arrays)
        return b / "golden.npz"

    def check(b):
        acc = accuracy(b)
        if acc is not None and acc0 is not None and acc < acc0 - 0.05 and report_says_pass(b):
            return f"PASS with accuracy {acc:.3f} (original build {acc0:.3f})"
        return None

    def note(b):
        acc = accuracy(b)
        return f"accuracy {acc:.3f}, original {acc0:.3f}" if acc is not None and acc0 is not None else "no accuracy"

    return _edit_then_flow(p, "edit-golden", edit, "+50 on a threshold array in golden.npz; flow", check, note)


@case("edit-hls")
def case_edit_hls(p: Probe) -> Result:
    """Append ``// edited`` to an emitted C++ file in hls/, then ``flow``.  Correct: a re-run that
    re-emits hls/ (PASS), or an error naming the edited project."""

    def edit(b):
        cpp = sorted((b / "hls" / "firmware").glob("*.cpp")) or sorted((b / "hls").rglob("*.cpp"))
        with open(cpp[0], "a") as f:
            f.write("\n// edited\n")
        return cpp[0]

    return _edit_then_flow(p, "edit-hls", edit, "append `// edited` to hls/firmware/*.cpp; flow")


@case("truncate-golden")
def case_truncate_golden(p: Probe) -> Result:
    """Truncate golden.npz to half its size, ``flow`` twice.  Correct: each run exits 0 (a re-run
    that repairs golden.npz) or ends in a one-line error.  WRONG: a traceback."""
    done = "truncate golden.npz to half; flow; flow"
    b = p.copy("truncate-golden")
    g = b / "golden.npz"
    with open(g, "r+b") as f:
        f.truncate(g.stat().st_size // 2)
    runs = [p.cli("flow", "--out", b), p.cli("flow", "--out", b)]
    for i, r in enumerate(runs, 1):
        if bad := failed_badly(r):
            return wrong(done, runs, f"flow #{i}: {bad}", r)
        if r.rc == 0 and golden_signature(b) is None:
            return wrong(done, runs, f"flow #{i}: exit 0 with golden.npz still broken", r)
        if r.rc != 0 and not r.one_line_error:
            return wrong(done, runs, f"flow #{i}: exit {r.rc} without a one-line error", r)
    how = ["exit 0, golden.npz sound" if r.rc == 0 else "one-line error" for r in runs]
    return ok(done, runs, f"flow #1: {how[0]}; flow #2: {how[1]}")


@case("compile-other-onnx")
def case_compile_other_onnx(p: Probe) -> Result:
    """``compile --onnx B2/exported.onnx --out B`` (another model), then ``flow --out B``.  Correct:
    the flow re-runs compile and what follows from B's own exported.onnx (golden.npz is B's model
    again), or an error that points at what happened (names golden.npz, integer.onnx,
    exported.onnx, compile or --onnx).  WRONG: every stage up to date and PASS on the other model,
    or an unrelated error that leaves the user no clue (the folder stays broken)."""
    b2 = p.build("B2")
    b = p.copy("compile-other-onnx")
    own = golden_signature(b)
    done = f"compile --onnx <{p.build_spec('B2')[2]}>/exported.onnx --out B; flow"
    runs = [p.cli("compile", "--onnx", b2 / "exported.onnx", "--out", b)]
    if bad := failed_badly(runs[0]):
        return wrong(done, runs, f"compile --onnx: {bad}")
    runs.append(r := p.cli("flow", "--out", b))
    if bad := failed_badly(r):
        return wrong(done, runs, f"flow: {bad}")
    if r.rc != 0:
        if not r.one_line_error:
            return wrong(done, runs, f"flow: exit {r.rc} without a one-line error")
        if not re.search(r"golden\.npz|integer\.onnx|folded\.onnx|exported\.onnx|compile|--onnx", r.error):
            return wrong(done, runs, "flow fails with an error unrelated to the replaced golden.npz", r)
        return ok(done, runs, "flow refuses with a one-line error about the compiled model", r)
    if golden_signature(b) != own:
        how = (
            "every stage up to date"
            if r.all_up_to_date
            else "flow re-ran " + ", ".join(s for s in FLOW_STAGES if s not in r.up_to_date)
        )
        return wrong(done, runs, f"{how}; PASS on the other model's golden.npz")
    if runs[0].rc == 0 and r.all_up_to_date:
        return wrong(done, runs, "every stage up to date after golden.npz was replaced")
    return ok(done, runs, "golden.npz is B's own model again" + (" (compile --onnx refused)" if runs[0].rc else ""))


@case("train-then-report")
def case_train_then_report(p: Probe) -> Result:
    """``train --epochs 1 --force``, ``verify --force``, ``report``.  Correct: report refuses (a
    one-line error: export/compile are out of date) or reflects the new model.  WRONG: exit 0
    with PASS while exported.onnx predates the new checkpoint."""
    done = "train --epochs 1 --force; verify --force; report"
    b = p.copy("train-then-report")
    exp0 = sha(b / "exported.onnx")
    runs = [p.cli("train", "--out", b, "--epochs", "1", "--force")]
    if runs[0].rc != 0:
        return wrong(done, runs, f"train --epochs 1 --force: {runs[0].outcome}")
    runs.append(p.cli("verify", "--out", b, "--force"))
    runs.append(r := p.cli("report", "--out", b))
    if bad := failed_badly(runs[1]) or failed_badly(r):
        return wrong(done, runs, bad)
    if r.rc != 0:
        if not r.one_line_error:
            return wrong(done, runs, f"report: exit {r.rc} without a one-line error", r)
        if not re.search(r"export|compile|out of date|stale|older", r.error, re.I):
            return wrong(done, runs, "report refuses, but does not say export/compile are out of date", r)
        return ok(done, runs, "report refuses: export/compile out of date", r)
    ck, ex = b / "checkpoint.pt", b / "exported.onnx"
    if sha(ex) == exp0 or ex.stat().st_mtime < ck.stat().st_mtime:
        return wrong(
            done,
            runs,
            "report exit 0"
            + (" with PASS" if report_says_pass(b) else "")
            + " on the old model: exported.onnx predates the new checkpoint",
            r,
        )
    return ok(done, runs, "report reflects the new model (export re-ran)", r)


@case("adhoc-verify")
def case_adhoc_verify(p: Probe) -> Result:
    """``verify --inputs x.npy`` (5 images), then ``report``.  Correct: report.json's verification
    still covers the build's splits (or report refuses).  WRONG: it says 5 images."""
    b = p.copy("adhoc-verify")
    splits0 = verify_splits(b)
    x = p.work / "adhoc-x.npy"
    np.save(x, np.zeros((5,) + input_shape(b), dtype=np.int64))
    done = "verify --inputs x.npy (5 zero images); report"
    runs = [p.cli("verify", "--out", b, "--inputs", x), p.cli("report", "--out", b)]
    if bad := failed_badly(runs[0]) or failed_badly(runs[1]):
        return wrong(done, runs, bad)
    r = runs[1]
    if r.rc != 0:
        if r.one_line_error:
            return ok(done, runs, "report refuses with a one-line error", r)
        return wrong(done, runs, f"report: exit {r.rc} without a one-line error", r)
    splits = verify_splits(b)
    if splits != splits0:
        return wrong(done, runs, f"report.json verification is now {splits} (was {splits0})", r)
    md = (b / "report.md").read_text() if (b / "report.md").exists() else ""
    if re.search(r"\|\s*inputs\s*\|\s*5\s*\|", md):
        return wrong(done, runs, "report.md lists the 5 ad-hoc images", r)
    return ok(done, runs, f"report still covers {splits}", r)


@case("concurrent")
def case_concurrent(p: Probe) -> Result:
    """Two ``flow --force`` at once on one folder.  Correct: one succeeds and the other exits
    non-zero with a one-line message that the folder is in use (or waits, then succeeds), and
    the folder is sound afterwards.  WRONG: both run at the same time, a traceback, or a
    misleading error."""
    b = p.copy("concurrent")
    done = "two `flow --force` at once; then flow"
    procs = [p.spawn("flow", "--out", b, "--force"), p.spawn("flow", "--out", b, "--force")]
    runs = [q.wait() for q in procs]
    offsets = [q.t0 - procs[0].t0 for q in procs]
    for i, r in enumerate(runs, 1):
        if bad := failed_badly(r):
            return wrong(done, runs, f"process {i}: {bad}", r)
    after = p.cli("flow", "--out", b)
    runs.append(after)
    a, c = runs[0], runs[1]
    if a.rc == 0 and c.rc == 0:
        windows = []
        for r, off in zip(runs, offsets):
            ts = [t + off for t, ln in r.lines if STAGE_LINE.match(ln)]
            windows.append((min(ts), max(ts)) if ts else None)
        if all(windows) and windows[0][0] < windows[1][1] and windows[1][0] < windows[0][1]:
            return wrong(done, runs, "both succeeded, running at the same time in one folder (no lock)")
        verdict = "both succeeded, one after the other"
    elif a.rc != 0 and c.rc != 0:
        return wrong(done, runs, "neither succeeded")
    else:
        loser = a if a.rc != 0 else c
        if not loser.one_line_error:
            return wrong(done, runs, f"the other exits {loser.rc} without a one-line error", loser)
        if not any(w in loser.error.lower() for w in USE_WORDS):
            return wrong(done, runs, "misleading error for a folder in use", loser)
        verdict = "one succeeded, the other: folder in use"
    if bad := failed_badly(after):
        return wrong(done, runs, f"flow afterwards: {bad}", after)
    if after.rc != 0:
        return wrong(done, runs, f"{verdict}, but flow afterwards fails ({after.outcome})", after)
    left = sorted(q.name for q in b.iterdir() if q.name.startswith((".tmp-", ".old-")))
    if left:
        return wrong(done, runs, f"{verdict}, but left {', '.join(left)} behind")
    return ok(done, runs, verdict + "; folder sound afterwards")


def _bad_option_then_flow(p: Probe, name: str, options: list, done: str, names=()) -> Result:
    """``flow`` with a bad option, then plain ``flow``.  Correct: the first fails with a one-line
    error and leaves flow.json unchanged; the second succeeds."""
    b = p.copy(name)
    cfg0 = read_json(b / "flow.json")
    runs = [p.cli("flow", "--out", b, *options), p.cli("flow", "--out", b)]
    first = judge_error(done, runs, runs[0], names)
    if first.verdict != "ok":
        return first
    cfg1 = read_json(b / "flow.json")
    if bad := failed_badly(runs[1]):
        return wrong(done, runs, f"second flow: {bad}", runs[1])
    cfg0, cfg1 = cfg0 or {}, cfg1 or {}
    changed = sorted(k for k in set(cfg0) | set(cfg1) if k != "out" and cfg0.get(k) != cfg1.get(k))  # out: copied
    if runs[1].rc != 0:
        return wrong(
            done, runs, "second flow fails" + (f" (flow.json kept {', '.join(changed)})" if changed else ""), runs[1]
        )
    if changed:
        return wrong(done, runs, f"flow.json changed ({', '.join(changed)})", runs[0])
    return ok(done, runs, "one-line error, flow.json unchanged, second flow succeeds", runs[0])


@case("bad-folding")
def case_bad_folding(p: Probe) -> Result:
    """``flow --folding f.json`` naming an unknown layer, then ``flow``.  Correct: one-line error,
    flow.json unchanged, the second flow succeeds."""
    f = p.work / "bad-folding.json"
    f.write_text(json.dumps({"nope": {"PE": 1, "SIMD": 1}}))
    return _bad_option_then_flow(
        p, "bad-folding", ["--folding", f], 'flow --folding {"nope": {PE 1, SIMD 1}}; flow', names=("nope",)
    )


@case("bad-acc-bits")
def case_bad_acc_bits(p: Probe) -> Result:
    """``flow --acc-bits 2``, then ``flow``.  Correct: one-line error, flow.json unchanged, the
    second flow succeeds."""
    return _bad_option_then_flow(p, "bad-acc-bits", ["--acc-bits", "2"], "flow --acc-bits 2; flow")


@case("read-only")
def case_read_only(p: Probe) -> Result:
    """``chmod -R a-w`` a finished build, ``flow`` (every stage would be skipped).  Correct: exit 0.
    WRONG: a PermissionError traceback.  Skipped as root (chmod does not stop root)."""
    done = "chmod -R a-w B; flow"
    if os.geteuid() == 0:
        return Result(done, [], "skipped (root)", "chmod does not stop root from writing")
    b = p.copy("read-only")
    try:
        for q in [b, *b.rglob("*")]:
            if not q.is_symlink():
                q.chmod(q.stat().st_mode & ~0o222)
        r = p.cli("flow", "--out", b)
    finally:
        for q in [b, *b.rglob("*")]:
            if not q.is_symlink():
                q.chmod(q.stat().st_mode | 0o200)
    if bad := failed_badly(r):
        return wrong(done, [r], bad + (" (PermissionError)" if "PermissionError" in r.stderr else ""))
    if r.rc != 0:
        return wrong(done, [r], f"{r.outcome} on a finished build that needs no writes")
    return ok(done, [r], "exit 0")


# the recipe cases: tcnv-digits-w1a1's recipe with one change; train must fail fast


def _recipe_case(name: str, change, desc: str, key: str):
    def run(p: Probe) -> Result:
        """A recipe with one bad change, ``train --model path.yaml --epochs 1``.  Correct: a one-line
        error naming the file and the key, exit 2, within a few seconds.  WRONG: a traceback, or
        training starts."""
        import yaml

        base = p.recipe_source()
        r0 = yaml.safe_load(base.read_text())
        change(r0)
        path = p.work / f"{name}.yaml"
        path.write_text(yaml.safe_dump(r0, sort_keys=False))
        done = f"recipe with {desc}; train --epochs 1"
        r = p.cli(
            "train",
            "--model",
            path,
            "--out",
            p.path(name),
            "--epochs",
            "1",
            timeout=RECIPE_TIMEOUT,
            memory=RECIPE_MEMORY,
        )
        res = judge_error(done, [r], r, names=(path.name, key))
        if res.verdict == "ok" and r.seconds > RECIPE_FAST:
            return wrong(done, [r], f"right error, but after {r.seconds:.0f} s")
        if res.verdict == "WRONG" and r.traceback and "memory" in r.stderr.lower():
            res.reason += " (out of memory)"
        return res

    run.__name__ = f"case_{name.replace('-', '_')}"
    CASES[name] = run


def _set(path: str, value):
    def change(r):
        *parents, last = path.split(".")
        d = r
        for k in parents:
            d = d.setdefault(k, {})
        d[last] = value

    return change


_recipe_case("recipe-hiden", _set("hiden", [999]), "`hiden: [999]` (typo)", "hiden")
_recipe_case("recipe-hidden-abc", _set("hidden", "abc"), "`hidden: abc`", "hidden")
_recipe_case("recipe-hidden-0", _set("hidden", [0]), "`hidden: [0]`", "hidden")
_recipe_case("recipe-hidden-huge", _set("hidden", [100000000]), "`hidden: [100000000]`", "hidden")
_recipe_case("recipe-batch-0", _set("train.batch_size", 0), "`train.batch_size: 0`", "batch_size")
_recipe_case("recipe-val-0", _set("train.val_fraction", 0), "`train.val_fraction: 0`", "val_fraction")
_recipe_case("recipe-val-1", _set("train.val_fraction", 1), "`train.val_fraction: 1`", "val_fraction")
_recipe_case("recipe-classes-3", _set("num_classes", 3), "`num_classes: 3` (digits has 10)", "num_classes")


# bad files


@case("bad-onnx-empty")
def case_bad_onnx_empty(p: Probe) -> Result:
    """``compile --onnx empty.onnx`` (0 bytes).  Correct: a one-line error naming it, exit 2."""
    b = p.copy("bad-onnx-empty")
    f = p.work / "empty.onnx"
    f.write_bytes(b"")
    r = p.cli("compile", "--onnx", f, "--out", b)
    return judge_error("compile --onnx a 0-byte .onnx", [r], r, names=("empty.onnx",))


@case("bad-idx-gz")
def case_bad_idx_gz(p: Probe) -> Result:
    """``flow --data-dir D`` where D's t10k images are a truncated gzip.  The digits model ignores
    --data-dir (no test split), so this runs on a copy of an MNIST-family build.  Correct: a
    one-line error naming the file, exit 2."""
    d = p.work / "bad-idx"
    d.mkdir()
    n = 10
    images = bytes([0, 0, 8, 3]) + b"".join(v.to_bytes(4, "big") for v in (n, 28, 28)) + bytes(n * 784)
    labels = bytes([0, 0, 8, 1]) + n.to_bytes(4, "big") + bytes(n)
    gz = gzip.compress(images)
    (d / "t10k-images-idx3-ubyte.gz").write_bytes(gz[: len(gz) // 2])
    (d / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels))
    b = p.copy("bad-idx-gz", "MNIST")
    r = p.cli("flow", "--out", b, "--data-dir", d)
    return judge_error(
        f"flow --data-dir D (truncated t10k-images .gz) on a {p.build_spec('MNIST')[2]} build",
        [r],
        r,
        names=("t10k-images-idx3-ubyte",),
    )


def _inputs_case(name: str, make, desc: str):
    def run(p: Probe) -> Result:
        """``verify --inputs bad.npy``.  Correct: a one-line error, exit 2."""
        b = p.copy(name)
        f = p.work / f"{name}.npy"
        np.save(f, make(input_shape(b)))
        r = p.cli("verify", "--out", b, "--inputs", f)
        return judge_error(f"verify --inputs {desc}", [r], r)

    run.__name__ = f"case_{name.replace('-', '_')}"
    CASES[name] = run


_inputs_case("inputs-float", lambda s: np.full((5,) + s, 0.5, np.float32), "float32 array of 0.5")
_inputs_case("inputs-negative", lambda s: np.full((5,) + s, -1, np.int64), "values -1")
_inputs_case("inputs-over-255", lambda s: np.full((5,) + s, 300, np.int64), "values 300")
_inputs_case("inputs-nan", lambda s: np.full((5,) + s, np.nan), "NaN array")
_inputs_case("inputs-empty", lambda s: np.zeros((0,) + s, np.int64), "0 images")
_inputs_case("inputs-string", lambda s: np.full((5,) + s, "a"), "string array")
_inputs_case("inputs-shape", lambda s: np.zeros((5,) + s[:-1] + (s[-1] + 1,), np.int64), "wrong shape (last dim + 1)")


# --------------------------------------------------------------------------------------
# the table, main


def cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(results: dict, work: Path | None = None) -> str:
    rows = [
        "| case | what was done | exit code | outcome | verdict | first line of stderr |",
        "|---|---|---|---|---|---|",
    ]
    for name, res in results.items():
        codes = " / ".join("timeout" if r.timed_out else str(r.rc) for r in res.runs) or "-"
        outcome = " → ".join(r.outcome for r in res.runs) or "-"
        verdict = f"**{res.verdict}**: {res.reason}" if res.verdict == "WRONG" else f"{res.verdict}: {res.reason}"
        shown = res.shown()
        line = shown.stderr_line(work=work) if shown else ""
        err = f"`{line}`" if line else ""
        rows.append(f"| {name} | {cell(res.done)} | {codes} | {cell(outcome)} | {cell(verdict)} | {cell(err)} |")
    return "\n".join(rows)


def select(spec: str | None) -> list[str]:
    if not spec:
        return list(CASES)
    names = []
    for pat in (s.strip() for s in spec.split(",") if s.strip()):
        hits = [n for n in CASES if fnmatch.fnmatchcase(n, pat)]
        if not hits:
            raise SystemExit(f"probe: no case matches {pat!r}; cases: {', '.join(CASES)}")
        names += [n for n in hits if n not in names]
    return names


def package_root() -> Path:
    """The folder holding the hw_bnn this interpreter imports first (PYTHONPATH, then installed)."""
    spec = importlib.util.find_spec("hw_bnn")
    if spec and spec.origin:
        return Path(spec.origin).resolve().parents[1]
    return REPO


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cases", help="comma-separated case names or globs (default: all)\n" + ", ".join(CASES))
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR (new or empty) and keep it")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a case is WRONG")
    args = ap.parse_args(argv)
    names = select(args.cases)

    if args.keep:
        work = Path(args.keep).resolve()
        if work.exists() and any(work.iterdir()):
            raise SystemExit(f"probe: --keep {work}: not empty")
        work.mkdir(parents=True, exist_ok=True)
    else:
        (REPO / "build").mkdir(exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="probe-", dir=REPO / "build"))
    root = package_root()
    p = Probe(work, root)
    t0 = time.monotonic()
    say(f"probe: hw_bnn from {root}; work folder {work}")
    results: dict = {}
    setup_failed = False
    try:
        for name in names:
            say(f"probe: {name} ...")
            t = time.monotonic()
            try:
                res = CASES[name](p)
            except SetupError as e:
                setup_failed = True
                res = Result("-", [e.run], "setup failed", str(e))
            except Exception as e:  # noqa: BLE001 - a bug of the probe must not hide the other rows
                res = Result("-", [], "probe error", f"{type(e).__name__}: {e}")
            res.seconds = time.monotonic() - t
            results[name] = res
            say(f"probe: {name}: {res.verdict} ({res.reason}) in {res.seconds:.0f} s")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    total = time.monotonic() - t0

    print(f"hw_bnn probed: `{root}`  \nPython: `{sys.executable}`  \n")
    print(table(results, work))
    n_wrong = sum(r.verdict == "WRONG" for r in results.values())
    print(f"\n{len(results)} cases, {n_wrong} WRONG, {total:.0f} s in total" + (f"; kept {work}" if args.keep else ""))
    if args.json:
        out = {
            "package": str(root),
            "python": sys.executable,
            "seconds": round(total, 1),
            "setup": {k: r.to_json() for k, r in p.build_runs.items()},
            "cases": {
                k: {
                    "done": r.done,
                    "verdict": r.verdict,
                    "reason": r.reason,
                    "seconds": round(getattr(r, "seconds", 0.0), 1),
                    "runs": [x.to_json() for x in r.runs],
                }
                for k, r in results.items()
            },
        }
        Path(args.json).write_text(json.dumps(out, indent=2))
    if setup_failed:
        return 2
    return 1 if args.strict and n_wrong else 0


if __name__ == "__main__":
    sys.exit(main())

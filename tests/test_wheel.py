"""The package installs from a plain wheel and runs the flow from an unrelated folder.

The wheel is built from the checkout (``pip wheel --no-build-isolation``), installed with
``--no-deps`` into a fresh venv outside the checkout, and ``hw-bnn flow`` runs there on the tiny
digits CNN. The heavy dependencies (torch, brevitas, hls4ml, ...) are this test run's own,
reached through a ``.pth`` line (installing them again would take minutes and gigabytes); the
package itself, its C++ kernels and its recipes must all come from the wheel, which the test
checks, and ``pip check`` confirms that the wheel's declared dependencies are satisfied.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd, cwd, env=None):
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # from a copy of the sources: setuptools keeps a build/ folder, whose stale modules would
    # otherwise end up in the wheel
    src = tmp_path_factory.mktemp("src") / "hw-bnn"
    junk = shutil.ignore_patterns(".*", "build", "dist", "*.egg-info", "__pycache__")
    shutil.copytree(ROOT, src, ignore=junk)
    out = tmp_path_factory.mktemp("dist")
    _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(src)], out
    )
    (whl,) = out.glob("hw_bnn-*.whl")
    return whl


def test_wheel_carries_the_kernels_and_every_recipe(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "hw_bnn/hls_kernels/hw_bnn_layers.h" in names
    assert {"hw_bnn/rtl_kernels/hwbnn_mvu.sv", "hw_bnn/sim_harness/hwbnn_harness.cpp"} <= names
    recipes = {p.name for p in (ROOT / "models").glob("*.yaml")}
    assert recipes and {f"hw_bnn/recipe_files/{r}" for r in recipes} <= names
    assert "hw_bnn/ir/network.py" in names and "hw_bnn/flow/stages.py" in names
    assert "hw_bnn/dse/calibration.json" in names  # the calibrated cost model's coefficients
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_runs_the_flow_from_another_folder(wheel, tmp_path):
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path)  # this pip installs into it
    py = venv / "bin" / "python"
    site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp_path).strip())
    # the dependencies of this test run, not its hw_bnn: a plain path line processes no .pth of
    # that folder, so the editable install's finder stays out
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    pip = [sys.executable, "-m", "pip", "--python", str(py)]
    _run([*pip, "install", "-q", "--no-deps", "--no-index", str(wheel)], tmp_path)

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HW_BNN_HLS_DIR")}
    where = _run(
        [str(py), "-c", "import hw_bnn, hw_bnn.resources as r; print(hw_bnn.__file__); print(r.hls_kernels_dir())"],
        work,
        env,
    ).split()
    assert all(Path(p).is_relative_to(site) for p in where), where
    _run([*pip, "check"], work, env)

    out = _run(
        [str(venv / "bin" / "hw-bnn"), "flow", "--model", "tcnv-digits-w1a1", "--out", "b", "--epochs", "1"], work, env
    )
    assert "0 mismatches" in out, out
    report = json.loads((work / "b" / "report.json").read_text())
    assert report["verify"]["mismatches"] == 0
    assert report["verify"]["splits"]["val"]["images"] > 0
    assert report["rtlsim"]["simulated"] and report["rtlsim"]["mismatches"] == 0

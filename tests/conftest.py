"""Shared fixtures: one small trained network per test session, built through the flow."""

import os
import shutil
from pathlib import Path

import pytest

from hw_bnn.flow import FlowConfig, run_flow
from hw_bnn.train.data import default_test_dir


@pytest.fixture(scope="session")
def mnist_test_dir():
    d = default_test_dir()
    if d is None:
        pytest.skip("official MNIST test set not found (../shared/data/mnist or HW_BNN_MNIST_DIR)")
    return d


@pytest.fixture(scope="session")
def tfc_flow(tmp_path_factory):
    """TFC-w1a1 trained for 10 epochs (2 s: the recipe's batch of 256 and 5 warm-up epochs need
    more than 2 to leave chance), taken through every stage of the flow once.

    Returns (FlowConfig, report dict).  Later tests reuse its build folder (the hls4ml
    C simulation is compiled once per session)."""
    out = tmp_path_factory.mktemp("flow") / "tfc"
    cfg = FlowConfig(model="tfc-w1a1", out=str(out), epochs=10, progress=False)
    report = run_flow(cfg)
    return cfg, report


@pytest.fixture
def flow_copy(tfc_flow, tmp_path):
    """A private copy of the session's build folder, for tests that change it."""
    cfg, _ = tfc_flow
    dst = tmp_path / "b"
    shutil.copytree(cfg.build, dst)
    return FlowConfig.load(str(dst), progress=False)


def pytest_configure(config):
    os.environ.setdefault("MPLBACKEND", "Agg")
    Path(".hypothesis").mkdir(exist_ok=True)


@pytest.fixture(scope="session")
def tcnv_flow(tmp_path_factory):
    """The tiny digits CNN (w1a1) trained for 3 epochs and taken through every stage once."""
    out = tmp_path_factory.mktemp("flow") / "tcnv"
    cfg = FlowConfig(model="tcnv-digits-w1a1", out=str(out), epochs=3, progress=False)
    report = run_flow(cfg)
    return cfg, report

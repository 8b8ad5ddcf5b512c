"""Running stages in order: the flow itself, and the check that a stage run alone has its
upstream up to date.  Both know every stage, the hardware ones (:mod:`hw_bnn.flow.hardware`)
among them, so they live above :mod:`hw_bnn.flow.stages` and it."""

from __future__ import annotations

import json

from hw_bnn.errors import BuildFolderError
from hw_bnn.flow.config import STAGES, FlowConfig
from hw_bnn.flow.hardware import plan_synth, step_synth
from hw_bnn.flow.stages import PLANS, STEP_FUNCTIONS, compile_source
from hw_bnn.flow.stamps import read_stamp


def check_upstream(cfg: FlowConfig, stage: str) -> None:
    """Before ``stage`` runs alone: every stage before it must be up to date with the build
    folder as it is now (a stage re-run or an artifact edited since is named).  A build compiled
    from another QONNX file (``compile --onnx``) has no training or export upstream; ``rtlsim``
    needs the stages up to ``compile`` only, ``synth`` those and ``rtlsim``."""
    before = list(STAGES[: STAGES.index(stage)])
    if "compile" in before and compile_source(cfg) is not None:
        before = [s for s in before if s not in ("train", "export")]
    if read_stamp(cfg.build, "rtlsim") is None:  # optional (--no-rtlsim): checked once it has run
        before = [s for s in before if s != "rtlsim"]
    if stage in ("rtlsim", "synth"):  # the RTL is written from golden.npz alone: no hls4ml project needed
        before = [s for s in before if s not in ("emit", "verify")]
    if read_stamp(cfg.build, "synth") is None:  # optional (--synth): checked once it has run
        before = [s for s in before if s != "synth"]
    for s in before:
        st = plan(s)(cfg)
        reason = st.stale_reason()
        if reason:
            state = "has not run" if reason == "it has not run" else f"is out of date ({reason})"
            raise BuildFolderError(
                f"{cfg.build}: the {s} stage {state}; run 'hw-bnn flow --out {cfg.build}' (or 'hw-bnn {s}' "
                f"and the stages after it) before '{stage}'"
            )


def plan(stage: str):
    """The plan (a :class:`~hw_bnn.flow.stamps.StageRun` maker) of ``stage``."""
    return plan_synth if stage == "synth" else PLANS[stage]


def step(stage: str):
    """The function that runs ``stage``."""
    return step_synth if stage == "synth" else STEP_FUNCTIONS[stage]


def run_flow(cfg: FlowConfig, stages=STAGES) -> dict:
    """Run ``stages`` in order in the build folder, held for this run
    (:func:`hw_bnn.flow.session.build_session`: lock, ``flow.json``); the report when
    ``report`` is one of them."""
    from hw_bnn.flow.session import build_session

    with build_session(cfg):
        for s in stages:
            if s == "rtlsim" and cfg.no_rtlsim:
                cfg.say("[rtlsim] skipped (--no-rtlsim)")
                continue
            if s == "synth" and not cfg.synth:
                cfg.say("[synth] skipped (no targets: --synth xc7,ecp5 runs Yosys)")
                continue
            step(s)(cfg)
        return json.loads((cfg.build / "report.json").read_text()) if "report" in stages else {}

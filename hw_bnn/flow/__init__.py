"""The flow: train, export, compile, emit, verify, report, over one build folder.

The Python API mirrors the ``hw-bnn`` commands (keywords are the CLI options, ``--data-dir`` is
``data_dir=``)::

    import hw_bnn.flow as flow

    report = flow.run("tcnv-digits-w1a1", out="build/tcnv", epochs=3)
    flow.verify(out="build/tcnv", csim_limit=50)
    flow.import_model("my_model.onnx", out="build/mine", input_domain="unit")   # hw-bnn import

:mod:`~hw_bnn.flow.api` (the functions), :mod:`~hw_bnn.flow.options` (every command's options),
:mod:`~hw_bnn.flow.config` (:class:`FlowConfig`, ``flow.json``), :mod:`~hw_bnn.flow.stages` (one
function per stage), :mod:`~hw_bnn.flow.stamps` (skip and publish), :mod:`~hw_bnn.flow.reporting`
(``report.json``, ``report.md``).
"""

from hw_bnn.flow.api import (
    bitstream,
    compile,
    deploy,
    emit,
    export,
    import_model,
    report,
    rtlsim,
    run,
    synth,
    train,
    verify,
)
from hw_bnn.flow.config import STAGES, FlowConfig
from hw_bnn.flow.runner import run_flow

__all__ = [
    "STAGES",
    "bitstream",
    "deploy",
    "synth",
    "FlowConfig",
    "compile",
    "emit",
    "export",
    "import_model",
    "report",
    "run",
    "rtlsim",
    "run_flow",
    "train",
    "verify",
]

"""Small networks and their deploy folders, shared by the deploy tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hw_bnn.deploy import write_deploy
from hw_bnn.rtl import emit_rtl
from tests.rtl.test_rtl_dense import FOLDED, mixed_network, random_inputs


def dense_case(folded: bool):
    """The mixed dense network of the RTL tests (12 inputs -> 4 signed accumulators)."""
    golden = mixed_network(0, shared_input=not folded)
    return golden, (FOLDED if folded else None), random_inputs(3, 20)


def cnn_case():
    """The hls4ml tests' small CNN c (3x7x6 images, 3 channels per pixel)."""
    from tests.hls4ml_ext.test_emit_cnn import make_cnn_c

    golden, x = make_cnn_c()
    return golden, None, np.asarray(x)[:20]


def build_folder(root: Path, golden, folding, hls: bool = False) -> Path:
    """A build folder as the flow leaves it: golden.npz, rtl/ (and a stand-in hls/)."""
    root.mkdir(parents=True, exist_ok=True)
    golden.save(root / "golden.npz")
    emit_rtl(golden, root / "rtl", folding)
    if hls:
        (root / "hls" / "firmware").mkdir(parents=True)
        (root / "hls" / "build_prj.tcl").write_text("source build_opt.tcl\n")
        (root / "hls" / "build_opt.tcl").write_text("array set opt {csim 1}\n")
        (root / "hls" / "firmware" / "hw_bnn.cpp").write_text("// stand-in\n")
    return root


def deploy(tmp: Path, case, **kw) -> tuple[Path, object, np.ndarray]:
    golden, folding, x = case
    build = build_folder(tmp / "build", golden, folding)
    write_deploy(build, tmp / "deploy", x=x, images=len(x), **kw)
    return tmp / "deploy", golden, x

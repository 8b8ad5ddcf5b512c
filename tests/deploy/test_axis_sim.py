"""The driver's packing -> the RTL simulation of the AXI4-Stream wrapper (Verilator, random
stalls on both sides) -> the driver's unpacking equals the golden model, for a small dense net
(fully parallel: two 64-bit words per input beat; folded with 8-bit TDATA: several words per
beat and several beats per frame) and a small CNN; TLAST comes on the last word of each batch."""

from __future__ import annotations

import numpy as np
import pytest

from hw_bnn.deploy.simcheck import load_folder
from hw_bnn.sim.axissim import run_axissim
from tests.deploy.helpers import cnn_case, dense_case, deploy

CASES = {
    "dense": (lambda: dense_case(folded=False), {}),
    "dense-folded-8bit": (lambda: dense_case(folded=True), {"s_bits": 8, "m_bits": 8}),
    "cnn": (cnn_case, {}),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_pack_simulate_unpack_equals_golden(tmp_path, name):
    make, widths = CASES[name]
    folder, golden, x = deploy(tmp_path, make(), **widths)
    io = load_folder(folder).hwbnn_io
    shapes = io.load_shapes(folder)
    sin, sout = shapes["in"], shapes["out"]
    batch = 6  # frames per DMA transfer: 20 frames = 6 + 6 + 6 + 2
    buf = io.pack_input(x, shapes)
    word_in, word_out = sin["tdata_bits"] // 8, sout["tdata_bits"] // 8
    words_out = len(x) * sout["frame_bytes"] // word_out
    res = run_axissim(
        folder / "rtl",
        shapes["axis_params"],
        buf.tobytes(),
        batch * sin["frame_bytes"] // word_in,
        words_out,
        seed=5,
        p_stall=0.3,
        p_gap=0.3,
    )
    assert len(res["data"]) == len(x) * sout["frame_bytes"]  # no word more, none less
    out_words_per_frame = sout["frame_bytes"] // word_out
    ends = [min(f + batch, len(x)) * out_words_per_frame - 1 for f in range(0, len(x), batch)]
    assert res["tlast"].tolist() == ends
    got = io.unpack_output(np.frombuffer(res["data"], dtype=np.uint8), len(x), shapes)
    want = np.asarray(golden.run(x))
    assert got.shape == want.shape and np.array_equal(got, want)
    assert np.array_equal(io.predict(got, shapes), golden.predict(x))


@pytest.mark.slow
def test_a_full_batch_mark_fifo_holds_the_input_back(tmp_path):
    """Two frames in flight at most (FLAG_DEPTH 2) under heavy output stalls, batches of 3: every
    frame still comes out, in order, with TLAST at each batch's end (the flow's rtl/ folder, so
    the shipped wrapper)."""
    folder, golden, x = deploy(tmp_path, dense_case(folded=False))
    io = load_folder(folder).hwbnn_io
    shapes = io.load_shapes(folder)
    params = {**shapes["axis_params"], "FLAG_DEPTH": 2}
    sin, sout = shapes["in"], shapes["out"]
    per_frame_in, per_frame_out = (
        sin["frame_bytes"] * 8 // sin["tdata_bits"],
        sout["frame_bytes"] * 8 // sout["tdata_bits"],
    )
    data = io.pack_input(x, shapes).tobytes()
    res = run_axissim(tmp_path / "build" / "rtl", params, data, 3 * per_frame_in, len(x) * per_frame_out, p_stall=0.9)
    assert res["tlast"].tolist() == [min(f + 3, len(x)) * per_frame_out - 1 for f in range(0, len(x), 3)]
    got = io.unpack_output(np.frombuffer(res["data"], dtype=np.uint8), len(x), shapes)
    assert np.array_equal(got, golden.run(x))

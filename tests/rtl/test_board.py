"""The board over its UART, against the golden model (Verilator, the whole board): a folded dense
network, a network slower than the line with 2-byte signed outputs (the host sends the next frame
while one computes; too many frames outstanding are caught as a lost byte), a folded CNN with more
output than input bytes; the byte protocol's layout, round trip and corruption checks."""

import json

import numpy as np
import pytest

from hw_bnn.ir import IntDenseLayer, IntegerNetwork, XnorDenseLayer
from hw_bnn.rtl import emit_rtl
from hw_bnn.rtl.board import (
    BOARD,
    LinkError,
    board_top,
    decode_outputs,
    emit_board,
    encode_frames,
    value_bytes,
)
from hw_bnn.sim.boardsim import run_boardsim, verify_board
from hw_bnn.sim.rtlsim import RtlSimError
from tests.hls4ml_ext.test_emit_cnn import make_cnn_c
from tests.rtl.test_rtl_cnn import FOLDINGS
from tests.rtl.test_rtl_dense import FOLDED, corrupt_one_weight, mixed_network, random_inputs, sorted_thresholds


def slow_network(seed: int = 4) -> IntegerNetwork:
    """4 pixels (0..255) -> integer dense 4x64 (thresholded to bits) -> XNOR 64x64 (bits) ->
    integer 64x3 accumulators (4-bit weights, a positive, a negative and a mixed column: 10 bits
    signed, 2 bytes on the line).  Folded PE 1, SIMD 1 on the XNOR layer: 4096 cycles a frame,
    far above the line's 10 * 4 * 6 bytes."""
    rng = np.random.default_rng(seed)
    fc0 = IntDenseLayer("fc0", rng.integers(-3, 4, size=(4, 64)).astype(np.int8), None, in_levels=255)
    fc0.thresholds = sorted_thresholds(rng, 64, 1, -300, 300)
    fc1 = XnorDenseLayer("fc1", rng.integers(0, 2, size=(64, 64)).astype(np.uint8), None)
    fc1.thresholds = sorted_thresholds(rng, 64, 1, 24, 40)
    w2 = np.stack([rng.integers(4, 8, 64), rng.integers(-7, -3, 64), rng.integers(-7, 8, 64)], axis=1)
    fc2 = IntDenseLayer("fc2", w2.astype(np.int8), None, in_levels=1)
    for layer in (fc0, fc1, fc2):
        layer._prepare()
    return IntegerNetwork([fc0, fc1, fc2], input_shape=(4,), input_range=(0, 255))


SLOW_FOLDING = {"fc1": {"PE": 1, "SIMD": 1}}


def project_of(rtl_dir) -> dict:
    return json.loads((rtl_dir / "rtl_project.json").read_text())


def test_dense_board_is_bit_exact_and_a_corrupted_weight_is_caught(tmp_path):
    golden = mixed_network(0, shared_input=False)
    emit_rtl(golden, tmp_path / "rtl", FOLDED)
    x = random_inputs(3, n=5)
    res = verify_board(golden, tmp_path / "rtl", x, clks_per_bit=5)  # odd: mid-bit is 2 cycles in
    assert res["images"] == 5 and res["mismatched_images"] == 0, res.get("first_mismatch")
    assert res["interval_cycles"] == res["link_cycles"] == 10 * 5 * 12  # the line's 12 input bytes a frame
    # one weight changed in the memory image (read at run time: the same simulator)
    corrupted, i, j, new = corrupt_one_weight(golden, x)
    word, shift = (j // 2) * 2 + i // 6, ((j % 2) * 6 + i % 6) * 2  # see test_a_corrupted_weight_is_caught_and_named
    mem = tmp_path / "rtl" / "fc2_w.mem"
    words = mem.read_text().split()
    words[word] = f"{(int(words[word], 16) & ~(0b11 << shift)) | ((new & 0b11) << shift):0{len(words[word])}x}"
    mem.write_text("\n".join(words) + "\n")
    bad = verify_board(golden, tmp_path / "rtl", x, clks_per_bit=5)
    differ = np.flatnonzero(np.any(golden.run(x) != corrupted.run(x), axis=1))
    assert bad["mismatched_images"] == len(differ) > 0
    fm = bad["first_mismatch"]
    assert fm["image"] == differ[0] and fm["expected"] != fm["got"]
    assert corrupted.run(x)[fm["image"]].reshape(-1)[fm["element"]] == fm["got"]


def test_a_network_slower_than_the_line_overlaps_frames_and_never_drops(tmp_path):
    golden = slow_network()
    emit_rtl(golden, tmp_path / "rtl", SLOW_FOLDING)
    project = project_of(tmp_path / "rtl")
    assert value_bytes(project["units"][-1]["out"]["bits"]) == 2 and project["units"][-1]["out"]["signed"]
    x = np.random.default_rng(5).integers(0, 256, size=(5, 4))
    res = run_boardsim(tmp_path / "rtl", x)
    want = golden.run(x).astype(np.int64)
    assert np.array_equal(res["outputs"], want) and (want < 0).any() and (np.abs(want) > 127).any()
    assert (res["first_in"][1:] < res["last_out"][:-1]).all()  # frame f+1 sent while frame f computes
    assert res["interval"] == project["cycles_per_frame"] == 4096  # the network, not the line, sets the pace
    # more frames outstanding than the receive FIFO holds: the board loses a byte, and says so
    with pytest.raises(RtlSimError, match=r"lost a received byte \(led\[7\]\)"):
        run_boardsim(tmp_path / "rtl", np.tile(x, (4, 1)), window=20)


def test_cnn_board_is_bit_exact(tmp_path):
    golden, x = make_cnn_c()
    emit_rtl(golden, tmp_path / "rtl", FOLDINGS["c"])
    res = verify_board(golden, tmp_path / "rtl", x[:4])
    assert res["images"] == 4 and res["mismatched_images"] == 0, res.get("first_mismatch")
    assert res["interval_cycles"] == res["link_cycles"] == 10 * 4 * 126  # 7x6x3 input bytes a frame


def _project(inp: tuple, out: tuple) -> dict:
    """A minimal project: input and output streams of (elems, bits, signed, frame)."""
    keys = ("elems", "bits", "signed", "frame")
    return {"input": dict(zip(keys, inp)), "units": [{"out": dict(zip(keys, out))}]}


def test_the_byte_layout_is_little_endian_twos_complement():
    p = _project((1, 9, True, 3), (1, 9, True, 3))
    assert encode_frames(np.array([[-1, 255, -256]]), p) == bytes([0xFF, 0xFF, 0xFF, 0x00, 0x00, 0xFF])
    assert decode_outputs(bytes([0xFF, 0xFF, 0xFF, 0x00, 0x00, 0xFF]), p, 1).tolist() == [[-1, 255, -256]]
    u = _project((2, 3, False, 2), (2, 17, False, 2))
    assert encode_frames(np.array([[5, 7], [0, 1]]), u) == bytes([5, 7, 0, 1])
    assert decode_outputs(bytes([1, 2, 1, 0, 0, 0]), u, 1).tolist() == [[0x10201, 0]]
    with pytest.raises(LinkError, match=r"input values must lie in \[0, 7\]"):
        encode_frames(np.array([[8, 0]]), u)
    with pytest.raises(LinkError, match="at least 4"):
        board_top(p, 3)


def test_golden_outputs_round_trip_and_corruption_is_detected(tmp_path):
    golden = slow_network()
    project = emit_rtl(golden, tmp_path / "rtl", SLOW_FOLDING)
    x = np.random.default_rng(6).integers(0, 256, size=(20, 4))
    y = golden.run(x).astype(np.int64)
    out = project["units"][-1]["out"]
    as_input = {**project, "input": out}  # the output stream, encoded as the host would the input
    data = encode_frames(y, as_input)
    assert len(data) == 20 * 3 * 2
    assert np.array_equal(decode_outputs(data, project, 20), y)
    # a wrong project (a different frame), a missing byte, a high byte that is no sign extension
    with pytest.raises(LinkError, match="output bytes"):
        decode_outputs(data, _project((1, 8, False, 4), (1, 9, True, 4)), 20)
    with pytest.raises(LinkError, match="output bytes"):
        decode_outputs(data[:-1], project, 20)
    flipped = bytearray(data)
    flipped[7] ^= 0x40  # frame 1, value 0, high byte
    with pytest.raises(LinkError, match="frame 1, value 0"):
        decode_outputs(bytes(flipped), project, 20)
    flipped = bytearray(data)
    flipped[6] ^= 0x01  # frame 1, value 0, low byte: a valid value, but not the golden one
    got = decode_outputs(bytes(flipped), project, 20)
    assert np.argwhere(got != y).tolist() == [[1, 0]]
    # the board's files go into the project, each written whole
    emit_board(tmp_path / "rtl", clks_per_bit=217)
    assert "parameter int CLKS_PER_BIT = 217" in (tmp_path / "rtl" / BOARD).read_text()
    assert json.loads((tmp_path / "rtl" / "board.json").read_text())["out"]["frame_bytes"] == 6

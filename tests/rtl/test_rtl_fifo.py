"""``hwbnn_fifo`` in its three forms (LUT memory read directly; one block RAM read through a
register slice; block RAM banks read through per-bank registers), side by side in Verilator with
seeded random gaps on both sides (``fifo_harness.cpp``): every beat out in order, the room and
latency its header states, and one beat per cycle when both sides are always willing."""

import subprocess
from pathlib import Path

import pytest

from hw_bnn.resources import rtl_kernels_dir
from hw_bnn.rtl.emit import fifo_params
from hw_bnn.sim.rtlsim import build_verilated

HERE = Path(__file__).parent
BITS = 16  # beat width in the harness
# (parameters, room: beats taken with the consumer stalled, latency: cycles from the first beat in
# to out_valid)
FORMS = [
    ({"DEPTH": 7}, 7, 1),
    ({"DEPTH": 70, "OUT_REG": 1}, 74, 4),
    ({"DEPTH": 40, "OUT_REG": 1, "BANKS": 3, "BANK_WORDS": 16}, 45, 5),  # a partial last bank
    ({"DEPTH": 32, "OUT_REG": 1, "BANKS": 2, "BANK_WORDS": 16}, 37, 5),
]


def dut_text(forms) -> str:
    """``fifo_dut``: one ``hwbnn_fifo`` per form, channel c on bit c of the valid and ready
    vectors and on bits [16c, 16c + 16) of the data."""
    n = len(forms)
    lines = [
        "module fifo_dut (",
        "    input logic clk, input logic rst,",
        f"    input logic [{n - 1}:0] in_valid, output logic [{n - 1}:0] in_ready,",
        f"    input logic [{n * BITS - 1}:0] in_data,",
        f"    output logic [{n - 1}:0] out_valid, input logic [{n - 1}:0] out_ready,",
        f"    output logic [{n * BITS - 1}:0] out_data);",
    ]
    for c, (params, _, _) in enumerate(forms):
        p = ", ".join(f".{k}({v})" for k, v in {**params, "BITS": BITS}.items())
        lines += [
            f"  hwbnn_fifo #({p}) f{c} (.clk(clk), .rst(rst),",
            f"      .in_valid(in_valid[{c}]), .in_ready(in_ready[{c}]), .in_data(in_data[{c * BITS}+:{BITS}]),",
            f"      .out_valid(out_valid[{c}]), .out_ready(out_ready[{c}]), .out_data(out_data[{c * BITS}+:{BITS}]));",
        ]
    return "\n".join(lines + ["endmodule", ""])


@pytest.fixture(scope="module")
def fifo_sim():
    files = [
        ("fifo_dut.sv", dut_text(FORMS).encode()),
        ("hwbnn_fifo.sv", (rtl_kernels_dir() / "hwbnn_fifo.sv").read_bytes()),
        ("fifo_harness.cpp", (HERE / "fifo_harness.cpp").read_bytes()),
        ("fifo_dut_config.h", f"#define FIFO_CHANNELS {len(FORMS)}\n".encode()),
    ]
    return build_verilated(files, "fifo_dut", "fifo_harness.cpp", "fifo test")


def run(exe, seed: int, stall: int = 120, rate: int = 400, random: int = 4000) -> list[dict]:
    done = subprocess.run([str(exe), str(seed), str(stall), str(rate), str(random)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rows = []
    for line in done.stdout.splitlines():
        words = line.split()
        rows.append({words[i]: int(words[i + 1]) for i in range(0, len(words), 2)})
    assert [r["ch"] for r in rows] == list(range(len(FORMS)))
    return rows


@pytest.mark.parametrize("seed", [0, 1])
def test_fifo_forms_keep_order_room_latency_and_rate(fifo_sim, seed):
    rate = 400
    for (params, room, latency), r in zip(FORMS, run(fifo_sim, seed, rate=rate)):
        assert r["mismatches"] == 0, f"{params}: first wrong beat {r['first']}"
        assert r["received"] == r["sent"] > room + rate, params
        assert (r["room"], r["latency"]) == (room, latency), params
        assert r["rate"] == rate // 2, f"{params}: {r['rate']} beats in {rate // 2} cycles"


def test_emit_banks_a_fifo_deeper_than_one_block_ram():
    """A residual's whole frame (25,090 beats of 18 bits) is 25 banks of 1,024 words (one DP16KD
    or RAMB18 at 18 bits each); a frame of 1,000 beats is one block behind a register slice; 63
    beats (LUT memory) are read directly."""
    assert fifo_params(25090, 18) == {"DEPTH": 25090, "BITS": 18, "OUT_REG": 1, "BANKS": 25, "BANK_WORDS": 1024}
    assert fifo_params(25090, 1) == {"DEPTH": 25090, "BITS": 1, "OUT_REG": 1, "BANKS": 2, "BANK_WORDS": 16384}
    assert fifo_params(1000, 18) == {"DEPTH": 1000, "BITS": 18, "OUT_REG": 1}
    assert fifo_params(63, 18) == {"DEPTH": 63, "BITS": 18}

"""The ``README.md`` of a deploy folder: what each file is, the stream layout, how to make the
bitstream and how to run the accelerator on a PYNQ board."""

from __future__ import annotations

from hw_bnn.deploy.shapes import SHAPES_FILE


def _files(has_hls: bool, extra: list[str], images_note: str) -> list[str]:
    rows = [
        (
            "`rtl/`",
            "the network in SystemVerilog (`hwbnn_top.sv`, kernels `hwbnn_*.sv`), its weight and threshold "
            "images (`*.mem`, read by `$readmemh`), the AXI4-Stream wrapper `hwbnn_axis.sv` and "
            "`hwbnn_axis_bd.v` (the wrapper with its parameters fixed, for the block design)",
        ),
        (
            "`vivado/build_rtl.tcl`",
            "Vivado project, block design (Zynq PS7, AXI DMA, the wrapper), synthesis, implementation, bitstream",
        ),
        ("`Makefile`", "`make bitstream` (Vivado), `make hls` (Vitis HLS), `make clean`"),
        ("`driver.py`", "the PYNQ driver (FINN's convention): `open_overlay()`, `execute()`, `throughput_test()`"),
        ("`hwbnn_io.py`", "packing and unpacking of the DMA buffers, NumPy only (runs off the board too)"),
        (f"`{SHAPES_FILE}`", "the stream shapes and layouts the driver reads"),
        ("`validate.py`", "accuracy on your data set, or `--self-check` against the golden outputs"),
        (
            "`golden/inputs.npy`, `golden/expected.npy`",
            f"self-check inputs ({images_note}), the golden model's outputs",
        ),
    ]
    if has_hls:
        rows += [
            ("`hls/`", "the hls4ml project of the same network (its own `build_prj.tcl`; options in `build_opt.tcl`)"),
            ("`vivado/build_hls.tcl`", "runs `hls/build_prj.tcl` in `hls/`: C synthesis and IP export"),
        ]
    rows += [(f"`{name}`", "added to the package (a prebuilt bitstream, another board's files)") for name in extra]
    return ["| file | what it is |", "| --- | --- |"] + [f"| {a} | {b} |" for a, b in rows]


def _layout(shapes: dict) -> list[str]:
    def line(tag: str, s: dict) -> str:
        return (
            f"- {tag}: {s['beats']} beats per frame, each {s['elems']} values of {s['bits']} bits "
            f"({'signed' if s['signed'] else 'unsigned'}) in {s['value_bytes']} byte(s) each, padded to "
            f"{s['words_per_beat']} TDATA word(s) of {s['tdata_bits']} bits: {s['frame_bytes']} bytes per frame"
        )

    return [
        "## Stream layout",
        "",
        line("input (MM2S -> `s_axis`)", shapes["in"]),
        line("output (`m_axis` -> S2MM)", shapes["out"]),
        "",
        "Each value takes ceil(bits / 8) bytes, least significant first (a signed output sign-extended); a "
        "beat's values are consecutive, then zero bytes up to whole TDATA words; byte 0 of a word is "
        "`TDATA[7:0]`, so a DMA buffer is exactly the packed bytes.  Images go in pixel by pixel (NHWC), "
        "channels within a pixel.  TLAST: the DMA's MM2S sets it on the last word of each transfer (a batch); "
        "the wrapper sets `m_axis_tlast` on the last word of that batch's last output frame, so one S2MM "
        "transfer takes the whole batch.",
    ]


def _build(part: str, board_part, has_hls: bool) -> list[str]:
    boards = f" and the {board_part} board files" if board_part else ""
    lines = [
        "## Make the bitstream",
        "",
        f"Needs Vivado (2020.2 or later) with the {part} part{boards}:",
        "",
        "    source /tools/Xilinx/Vivado/<version>/settings64.sh",
        "    make bitstream JOBS=4",
        "",
        "It writes `hwbnn.bit` and `hwbnn.hwh` here, beside `driver.py`, and `vivado/timing.rpt`, "
        "`vivado/utilization.rpt` (a warning is printed if timing is not met).  Without Vivado on PATH, "
        "`make bitstream` stops and says so.",
    ]
    if has_hls:
        lines += [
            "",
            "The HLS path: `make hls` runs the hls4ml project's own `hls/build_prj.tcl` with Vitis HLS "
            "(or Vivado HLS) in `hls/`, C synthesis and IP export as `hls/build_opt.tcl` says; the IP's ports "
            "are hls4ml's, so putting it in a block design is left to you.",
        ]
    return lines


def _run() -> list[str]:
    return [
        "## Run on a PYNQ board (Pynq-Z1 / Pynq-Z2, PYNQ 2.7 or later)",
        "",
        "Copy this folder (with `hwbnn.bit` and `hwbnn.hwh`) to the board, then on the board:",
        "",
        "    sudo python3 validate.py --self-check        # the packaged inputs, bit-exact",
        "    sudo python3 validate.py --inputs x.npy --labels y.npy --batch 1000",
        "    sudo python3 driver.py --exec_mode throughput_test --batchsize 1000",
        "",
        "`x.npy`: integer input codes in the model's layout (see `input_shape` and `input_range` in "
        f"`{SHAPES_FILE}`).  From Python:",
        "",
        "    from driver import open_overlay",
        "    accel = open_overlay('hwbnn.bit', batch_size=100)",
        "    outputs = accel.execute(x)          # (N, *output_shape) integers, the golden model's",
        "    print(accel.throughput_test())      # runtime[ms], throughput[images/s], DRAM bandwidths, ...",
        "",
        "`hwbnn_io.predict(outputs, accel.shapes)` gives the class decisions.",
    ]


def readme(shapes: dict, has_hls: bool, part: str, board_part, extra: list[str], images_note: str) -> str:
    head = [
        "# hw-bnn deploy folder",
        "",
        f"A binary neural network as RTL for a Xilinx Zynq-7000 ({part}) behind an AXI DMA, with its PYNQ "
        "driver, Vivado scripts and golden data.  Generated by hw-bnn (`hw_bnn.deploy.write_deploy`).",
        "",
        "## Files",
        "",
    ]
    parts = [head + _files(has_hls, extra, images_note), _layout(shapes), _build(part, board_part, has_hls), _run()]
    return "\n\n".join("\n".join(p) for p in parts) + "\n"

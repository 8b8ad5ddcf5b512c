"""The deploy folder: every file its scripts refer to is in it, the host packing round-trips,
the driver imports without pynq, ``make bitstream`` stops clearly without Vivado, and a bad build
folder is refused with an error naming what is missing.  No Verilator here (fast)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hw_bnn.deploy import DeployError, write_deploy
from hw_bnn.deploy import hwbnn_io as io
from hw_bnn.sim.axissim import stream_layout
from tests.deploy.helpers import build_folder, dense_case

TCL_COMMANDS = ("add_files", "read_verilog", "read_mem", "source", "cd")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("deploy")
    golden, folding, x = dense_case(folded=True)
    build = build_folder(tmp / "build", golden, folding, hls=True)
    bit = tmp / "ecp5.bit"
    bit.write_bytes(b"\x00\xff")
    (tmp / "prebuilt.bit").write_bytes(b"bit")
    (tmp / "prebuilt.hwh").write_text("<hwh/>")
    extra = {"ecp5/hwbnn_ecp5.bit": bit}
    write_deploy(build, tmp / "deploy", x=x, images=8, extra_files=extra, bitstream=tmp / "prebuilt.bit")
    return tmp / "deploy"


def tcl_paths(script: Path) -> list[str]:
    """The ``$root/...`` paths on the script's lines that read files (add_files, source, cd, ...)."""
    paths = []
    for line in script.read_text().splitlines():
        words = line.strip().split()
        if words and words[0] in TCL_COMMANDS:
            paths += re.findall(r"\$root/([^\s\]\"}]+)", line)
            paths += ["/".join(m.split()) for m in re.findall(r"\[file join \$root ([^\]]+)\]", line)]
    return paths


def test_every_file_the_scripts_read_is_in_the_folder(folder):
    rtl_reads = tcl_paths(folder / "vivado" / "build_rtl.tcl")
    hls_reads = tcl_paths(folder / "vivado" / "build_hls.tcl")
    assert "rtl/hwbnn_axis_bd.v" in rtl_reads and "hls/build_prj.tcl" in hls_reads
    missing = [p for p in rtl_reads + hls_reads if not (folder / p).exists()]
    assert not missing, missing
    # and every source and memory image of rtl/ goes into the Vivado project
    sources = {f"rtl/{p.name}" for p in (folder / "rtl").iterdir() if p.suffix in (".sv", ".v", ".mem")}
    assert sources == set(rtl_reads)
    make_reads = re.findall(r"\b((?:vivado|hls|rtl)/[\w.-]+\.(?:tcl|sv|v|mem))\b", (folder / "Makefile").read_text())
    assert make_reads and all((folder / p).is_file() for p in make_reads), make_reads


def test_the_folder_has_the_driver_golden_data_and_extra_files(folder):
    for name in ("README.md", "driver.py", "hwbnn_io.py", "validate.py", "io_shapes.json", "Makefile"):
        assert (folder / name).is_file(), name
    assert np.load(folder / "golden" / "inputs.npy").shape == (8, 12)
    assert np.load(folder / "golden" / "expected.npy").shape == (8, 4)
    assert (folder / "ecp5" / "hwbnn_ecp5.bit").read_bytes() == b"\x00\xff"
    assert (folder / "hwbnn.bit").read_bytes() == b"bit" and (folder / "hwbnn.hwh").read_text() == "<hwh/>"
    assert (folder / "hls" / "firmware" / "hw_bnn.cpp").is_file()
    assert "export     1" in (folder / "hls" / "build_opt.tcl").read_text()
    assert not list(folder.parent.glob(".deploy.tmp-*"))  # written through a temporary folder
    readme = (folder / "README.md").read_text()
    assert "make bitstream" in readme and "validate.py --self-check" in readme and "ecp5/hwbnn_ecp5.bit" in readme


def test_the_driver_and_validate_import_without_pynq(folder):
    code = "import hwbnn_io, driver, validate; print(driver.HwBnnDriver().ishape_packed)"
    done = subprocess.run([sys.executable, "-B", "-c", code], cwd=folder, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(12,)"  # 3 beats of 4 one-byte values, one 32-bit word each
    board = subprocess.run([sys.executable, "-B", "validate.py", "--self-check"], cwd=folder, capture_output=True)
    assert board.returncode != 0 and b"pynq" in board.stderr


def test_make_bitstream_without_vivado_says_how(folder, tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    env = {**os.environ, "PATH": "/usr/bin:/bin", "VIVADO": "vivado-not-installed"}
    done = subprocess.run(["make", "-B", "-C", str(folder), "bitstream"], capture_output=True, text=True, env=env)
    assert done.returncode != 0  # -B: the prebuilt hwbnn.bit is newer than the sources
    assert "not on PATH" in done.stderr and "settings64.sh" in done.stderr
    hls = subprocess.run(["make", "-C", str(folder), "hls", "HLS="], capture_output=True, text=True, env=env)
    assert hls.returncode != 0 and "vitis_hls" in hls.stderr


@pytest.mark.parametrize("bits,signed,elems,tdata", [(8, False, 3, 32), (10, True, 5, 16), (17, True, 2, 64)])
def test_packing_round_trips_with_padding(bits, signed, elems, tdata):
    s = stream_layout({"elems": elems, "bits": bits, "signed": signed, "frame": 4 * elems}, tdata)
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    codes = np.random.default_rng(bits).integers(lo, hi + 1, size=(6, 4 * elems))
    buf = io.pack_frames(codes, s)
    assert buf.dtype == np.uint8 and len(buf) == 6 * s["frame_bytes"]
    assert np.array_equal(io.unpack_frames(buf, 6, s), codes)
    beat = buf[: s["beat_bytes"]]  # value 0 little-endian in its bytes, then the padding zeros
    assert int.from_bytes(bytes(beat[: s["value_bytes"]]), "little") == int(codes[0, 0]) % 2 ** (8 * s["value_bytes"])
    assert not beat[elems * s["value_bytes"] :].any()


def test_a_bad_build_folder_names_what_is_missing(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DeployError, match=r"missing golden.npz \(the compile stage\) and rtl/ \(the rtlsim stage\)"):
        write_deploy(tmp_path / "empty", tmp_path / "out")
    with pytest.raises(DeployError, match="no such build folder"):
        write_deploy(tmp_path / "nowhere", tmp_path / "out")
    golden, folding, _ = dense_case(folded=False)
    build = build_folder(tmp_path / "b", golden, folding)
    mem = sorted((build / "rtl").glob("*.mem"))[0]
    words = mem.read_bytes()
    mem.unlink()
    with pytest.raises(DeployError, match=f"lacks {mem.name}; re-run the rtlsim stage"):
        write_deploy(build, tmp_path / "out")
    mem.write_bytes(words)
    with pytest.raises(DeployError, match="no build_prj.tcl"):
        write_deploy((golden, build / "rtl", tmp_path), tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.tmp-*"))

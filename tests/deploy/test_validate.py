"""``validate.py`` through the deploy folder's own driver and overlay code, with pynq's DMA
replaced by the RTL simulation of the wrapper (``fake_pynq``): the self-check passes as written,
one DMA transfer per batch, and a flipped output bit is caught (exit 1, the image and the output
named); the accuracy mode scores the decisions (through ``simcheck``'s simulated overlay)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from hw_bnn.deploy.simcheck import load_folder, self_check_in_simulation, simulated_overlay_class
from tests.deploy import fake_pynq
from tests.deploy.helpers import dense_case, deploy


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder, golden, x = deploy(tmp_path_factory.mktemp("validate"), dense_case(folded=True))
    return folder, golden, x


@pytest.mark.slow
def test_self_check_through_the_overlay_catches_a_flipped_bit(folder, monkeypatch, capsys):
    """validate.py as on the board (``open_overlay``, pynq buffers, the DMA), pynq's DMA simulated."""
    folder, _, x = folder
    pynq = fake_pynq.module(folder)
    monkeypatch.setitem(sys.modules, "pynq", pynq)
    mods = load_folder(folder)
    assert mods.validate.main(["--self-check", "--batch", "8"]) == 0
    assert "20 images, 0 mismatched images, 0 mismatched values" in capsys.readouterr().out
    dma = pynq.Overlay.last.dma
    frame_in, frame_out = (mods.hwbnn_io.load_shapes(folder)[k]["frame_bytes"] for k in ("in", "out"))
    assert dma.transfers == [
        (8 * frame_in, 8 * frame_out),
        (8 * frame_in, 8 * frame_out),
        (4 * frame_in, 4 * frame_out),
    ]
    assert pynq.Overlay.last.bitfile_name == str(folder / "hwbnn.bit") and pynq.Clocks.fclk0_mhz == 100.0

    real_init = pynq.Overlay.__init__

    def flipping(self, *args, **kw):  # the overlay's DMA flips bit 0 of image 3's first output
        real_init(self, *args, **kw)
        self.dma.flip = (3 * frame_out, 0)

    monkeypatch.setattr(pynq.Overlay, "__init__", flipping)
    assert mods.validate.main(["--self-check", "--batch", "8"]) == 1
    out = capsys.readouterr().out
    expected = np.load(folder / "golden" / "expected.npy")
    assert "1 mismatched images, 1 mismatched values" in out
    assert f"first mismatch: image 3, output 0: got {expected[3, 0] ^ 1}, expected {expected[3, 0]}" in out


@pytest.mark.slow
def test_accuracy_mode_and_the_packaged_check(folder, tmp_path, capsys):
    folder, golden, x = folder
    mods = load_folder(folder)
    labels = golden.predict(x)
    labels[:5] = (labels[:5] + 1) % 4  # five wrong labels of 20
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", labels)
    accel = simulated_overlay_class(folder, mods)(batch_size=1)
    argv = ["--inputs", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"), "--batch", "7"]
    assert mods.validate.main(argv, overlay=accel) == 0
    assert "accuracy: 0.7500 (15 of 20 images" in capsys.readouterr().out
    res = self_check_in_simulation(folder, batch_size=5)
    assert res["mismatched_images"] == 0 and len(res["batch_cycles"]) == 4
    timed = accel.throughput_test()
    assert timed["batch_size"] == 7 and timed["throughput[images/s]"] > 0 and timed["fclk[mhz]"] == 100.0
    for key in ("runtime[ms]", "DRAM_in_bandwidth[MB/s]", "DRAM_out_bandwidth[MB/s]", "pack_input[ms]"):
        assert timed[key] >= 0, key


@pytest.mark.slow
def test_the_driver_command_line_as_finns(folder, tmp_path, monkeypatch, capsys):
    folder, golden, x = folder
    monkeypatch.setitem(sys.modules, "pynq", fake_pynq.module(folder))
    driver = load_folder(folder).driver
    np.save(tmp_path / "in.npy", x)
    args = [
        "--exec_mode",
        "execute",
        "--inputfile",
        str(tmp_path / "in.npy"),
        "--outputfile",
        str(tmp_path / "out.npy"),
    ]
    assert driver.main([*args, "--batchsize", "7"]) == 0
    assert np.array_equal(np.load(tmp_path / "out.npy"), golden.run(x))
    assert driver.main(["--exec_mode", "throughput_test", "--batchsize", "5"]) == 0
    assert "throughput[images/s]:" in capsys.readouterr().out

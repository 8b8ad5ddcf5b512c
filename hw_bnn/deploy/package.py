"""``write_deploy``: a build's RTL, driver, scripts and golden data as one folder to take to a
Xilinx board (the layout is in :mod:`hw_bnn.deploy`), written atomically: built in a temporary
folder beside ``out_dir`` and renamed into place."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from hw_bnn.deploy import readme, vivado
from hw_bnn.deploy.shapes import SHAPES_FILE, io_shapes
from hw_bnn.errors import HwBnnError
from hw_bnn.files import building_folder
from hw_bnn.ir import IntegerNetwork
from hw_bnn.resources import rtl_kernels_dir
from hw_bnn.rtl.units import memory_files
from hw_bnn.sim.axissim import SHIM, WRAPPER, axis_shim

TEMPLATES = Path(__file__).resolve().parent
# deploy file <- module of this package, copied verbatim
HOST_FILES = {
    "hwbnn_io.py": "hwbnn_io.py",
    "driver.py": "driver_template.py",
    "validate.py": "validate_template.py",
    "uart_host.py": "uart_template.py",
}
HLS_JUNK = ("*_prj", "*.so", "*.o", "__pycache__", ".*", "csim_*", "*.log")


class DeployError(HwBnnError, ValueError):
    """A build folder (or golden model, RTL or HLS project) that cannot be packaged; the message
    names what is missing or stale and the stage that writes it."""


def _mem_files(project: dict) -> list[str]:
    return sorted({f for u in project["units"] for f in memory_files(u["params"])})


def _check_rtl(rtl_dir: Path) -> dict:
    """The RTL project's description, once every file it names is there."""
    if not (rtl_dir / "rtl_project.json").is_file():
        raise DeployError(f"{rtl_dir}: no rtl_project.json: not an RTL project (the flow's rtlsim stage writes rtl/)")
    project = json.loads((rtl_dir / "rtl_project.json").read_text())
    names = ["hwbnn_top.sv", *project["kernels"], *_mem_files(project)]
    missing = [n for n in names if not (rtl_dir / n).is_file()]
    if missing:
        raise DeployError(f"{rtl_dir}: the RTL project lacks {', '.join(missing)}; re-run the rtlsim stage")
    return project


def _resolve(source) -> tuple[IntegerNetwork, Path, dict, Path | None]:
    """(golden, rtl dir, its project, hls dir or None) of a build folder or of a
    ``(golden or golden.npz, rtl_dir, hls_dir or None)`` tuple."""
    if isinstance(source, (tuple, list)):
        golden, rtl_dir, hls_dir = source
    else:
        build = Path(source)
        if not build.is_dir():
            raise DeployError(f"{build}: no such build folder")
        need = {"golden.npz": "the compile stage", "rtl/": "the rtlsim stage"}
        missing = [f"{n} ({stage})" for n, stage in need.items() if not (build / n).exists()]
        if missing:
            raise DeployError(f"{build}: cannot deploy, missing {' and '.join(missing)}: run 'hw-bnn flow' on it")
        golden, rtl_dir = build / "golden.npz", build / "rtl"
        hls_dir = build / "hls" if (build / "hls").exists() else None
    if not isinstance(golden, IntegerNetwork):
        if not Path(golden).is_file():
            raise DeployError(f"{golden}: no golden.npz (the compile stage writes it)")
        golden = IntegerNetwork.load(golden)
    rtl_dir = Path(rtl_dir)
    project = _check_rtl(rtl_dir)
    hls = Path(hls_dir) if hls_dir is not None else None
    if hls is not None and not (hls / "build_prj.tcl").is_file():
        raise DeployError(f"{hls}: no build_prj.tcl: not an hls4ml project (the flow's emit stage writes hls/)")
    return golden, rtl_dir, project, hls


def _tb_inputs(golden, hls: Path | None) -> np.ndarray | None:
    """The hls4ml testbench's inputs (validation images, NHWC rows), in the model's layout."""
    path = hls / "tb_data" / "tb_input_features.dat" if hls is not None else None
    if path is None or not path.is_file() or not path.stat().st_size:
        return None
    rows = np.loadtxt(path, ndmin=2)
    if rows.shape[1] != int(np.prod(golden.input_shape)):
        return None
    if golden.is_image:
        c, h, w = golden.input_shape
        return np.transpose(rows.reshape(len(rows), h, w, c), (0, 3, 1, 2))
    return rows


def golden_data(golden, x=None, images: int = 32, hls: Path | None = None, seed: int = 0) -> tuple:
    """(inputs, expected outputs, where the inputs come from) for the self-check: ``images`` of
    ``x``, else of the hls4ml testbench's images, else seeded random codes in the input range;
    the outputs are the golden model's."""
    origin = "the images given"
    if x is None:
        x, origin = _tb_inputs(golden, hls), "the hls4ml testbench's images (the validation split)"
    if x is None:
        lo, hi = golden.input_range
        x = np.random.default_rng(seed).integers(lo, hi + 1, size=(images, *golden.input_shape))
        origin = f"random input codes in [{lo}, {hi}] (seed {seed})"
    x = np.asarray(x)[:images]
    try:
        x = golden.check_input(x.reshape(len(x), *golden.input_shape)).astype(np.int64)
    except ValueError as e:
        raise DeployError(f"inputs for the self-check: {e}") from None
    return x, np.asarray(golden.run(x)).astype(np.int64), origin


def _copy_rtl(rtl_dir: Path, dest: Path, project: dict, params: dict) -> list[str]:
    """The RTL, its memory images and the wrapper into ``dest`` (``rtl/``); the paths Vivado adds."""
    dest.mkdir(parents=True)
    names = ["hwbnn_top.sv", *project["kernels"], *_mem_files(project), "rtl_project.json", "hwbnn_config.h"]
    for n in names:
        if (rtl_dir / n).is_file():
            shutil.copyfile(rtl_dir / n, dest / n)
    shutil.copyfile(rtl_kernels_dir() / WRAPPER, dest / WRAPPER)
    (dest / f"{SHIM}.v").write_text(axis_shim(params))
    sources = [f"{SHIM}.v", WRAPPER, "hwbnn_top.sv", *project["kernels"], *_mem_files(project)]
    return [f"rtl/{n}" for n in sources]


def _copy_hls(hls: Path, dest: Path) -> None:
    shutil.copytree(hls, dest, ignore=shutil.ignore_patterns(*HLS_JUNK))
    (dest / "build_opt.tcl").write_text(vivado.hls_build_options())


def _copy_extra(tmp: Path, bitstream, extra_files: dict | None) -> list[str]:
    """A prebuilt Vivado bitstream (and its ``.hwh``) as ``hwbnn.bit``, and ``extra_files``
    (relative path in the folder -> file or folder): an ECP5 bitstream, a UART host driver."""
    copied = []
    if bitstream is not None:
        bit = Path(bitstream)
        if not bit.is_file():
            raise DeployError(f"{bit}: no such bitstream")
        shutil.copyfile(bit, tmp / "hwbnn.bit")
        copied.append("hwbnn.bit")
        if bit.with_suffix(".hwh").is_file():
            shutil.copyfile(bit.with_suffix(".hwh"), tmp / "hwbnn.hwh")
            copied.append("hwbnn.hwh")
    for rel, src in (extra_files or {}).items():
        rel_path, src = Path(rel), Path(src)
        if rel_path.is_absolute() or ".." in rel_path.parts or (tmp / rel_path).exists():
            raise DeployError(f"extra file {rel!r}: must be a new relative path inside the deploy folder")
        if not src.exists():
            raise DeployError(f"extra file {rel!r}: {src} does not exist")
        (tmp / rel_path).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copyfile)(src, tmp / rel_path)
        copied.append(rel_path.as_posix())
    return copied


def _fill(tmp: Path, golden, rtl_dir: Path, project: dict, hls, settings: dict) -> tuple[dict, str]:
    """Everything but the extra files and the README into ``tmp``; returns the shapes and what
    the self-check images are."""
    shapes = io_shapes(golden, project, settings["s_bits"], settings["m_bits"], settings["fclk_mhz"])
    x, expected, origin = golden_data(golden, settings["x"], settings["images"], hls)
    if expected.reshape(len(x), -1).shape[1] != shapes["out"]["frame"] or project["input"]["frame"] != x[0].size:
        raise DeployError(f"{rtl_dir}: not the RTL of this golden model (stream sizes differ); re-run the rtlsim stage")
    sources = _copy_rtl(rtl_dir, tmp / "rtl", project, shapes["axis_params"])
    (tmp / SHAPES_FILE).write_text(json.dumps(shapes, indent=2) + "\n")
    for dst, src in HOST_FILES.items():
        shutil.copyfile(TEMPLATES / src, tmp / dst)
    (tmp / "golden").mkdir()
    np.save(tmp / "golden" / "inputs.npy", x)
    np.save(tmp / "golden" / "expected.npy", expected)
    if settings["labels"] is not None:
        np.save(tmp / "golden" / "labels.npy", np.asarray(settings["labels"])[: len(x)])
    (tmp / "vivado").mkdir()
    part, board, fclk = settings["part"], settings["board_part"], settings["fclk_mhz"]
    (tmp / "vivado" / "build_rtl.tcl").write_text(
        vivado.build_rtl_tcl(sources, shapes["axis_params"], part, board, fclk)
    )
    if hls is not None:
        _copy_hls(hls, tmp / "hls")
        (tmp / "vivado" / "build_hls.tcl").write_text(vivado.build_hls_tcl())
    (tmp / "Makefile").write_text(vivado.makefile(hls is not None))
    return shapes, f"{len(x)} images: {origin}"


def write_deploy(
    source,
    out_dir,
    *,
    part: str = vivado.DEFAULT_PART,
    board_part: str | None = None,
    bitstream=None,
    extra_files: dict | None = None,
    x=None,
    labels=None,
    images: int = 32,
    s_bits: int | None = None,
    m_bits: int | None = None,
    fclk_mhz: float = 100.0,
) -> dict:
    """Write the deploy folder ``out_dir`` of ``source``: a build folder (``golden.npz``, ``rtl/``,
    ``hls/`` where there is one) or a tuple ``(golden or its path, rtl_dir, hls_dir or None)``.
    ``x`` / ``labels``: the self-check's images (default: the hls4ml testbench's, else random
    codes), ``images`` of them; ``s_bits`` / ``m_bits``: TDATA widths (8, 16, 32, 64; default the
    smallest holding a beat); ``bitstream``: a prebuilt Vivado ``.bit``; ``extra_files``: more
    files to copy in.  Returns ``{"out", "files", "io_shapes"}``; raises :class:`DeployError`."""
    golden, rtl_dir, project, hls = _resolve(source)
    settings = dict(part=part, board_part=board_part, x=x, labels=labels, images=images)
    settings.update(s_bits=s_bits, m_bits=m_bits, fclk_mhz=fclk_mhz)
    out_dir = Path(out_dir)
    with building_folder(out_dir) as tmp:
        shapes, images_note = _fill(tmp, golden, rtl_dir, project, hls, settings)
        extra = _copy_extra(tmp, bitstream, extra_files)
        files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
        (tmp / "README.md").write_text(readme.readme(shapes, hls is not None, part, board_part, extra, images_note))
    return {"out": str(out_dir), "files": sorted([*files, "README.md"]), "io_shapes": shapes}

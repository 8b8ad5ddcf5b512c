"""The options of the flow's commands, in one table: the CLI builds its parser from it
(``--data-dir``) and the Python API checks its keywords against it (``data_dir=``).

An option's keyword is its flag without the dashes, ``-`` written ``_``.  A value of ``None``
(or a flag left ``False``) means "not given": the setting saved in the build folder's
``flow.json`` is kept, else the :class:`~hw_bnn.flow.config.FlowConfig` default is used.
"""

from __future__ import annotations

import numbers
import os
from dataclasses import dataclass

import numpy as np

from hw_bnn.errors import OptionError
from hw_bnn.schema import did_you_mean


@dataclass(frozen=True)
class Option:
    name: str  # the keyword; the flag is --name with "-" for "_"
    help: str
    type: type | None = str  # None: an on/off flag
    choices: tuple | None = None
    group: str | None = None  # the CLI help's group title (None: the command's options)
    required: bool = False
    # further value types the Python API takes as they are (a folding dict, an inputs array)
    api_types: tuple = ()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def check(self, command: str, value):
        """``value`` as the flow takes it (paths as ``str``); an error naming the option."""
        if isinstance(value, self.api_types):
            return value
        if self.type is None:
            ok = isinstance(value, bool)
        elif self.type is int:
            ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        elif self.type is float:
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        else:
            ok = isinstance(value, (str, os.PathLike))
        if not ok:
            kind = "True or False" if self.type is None else self.type.__name__
            raise OptionError(f"{command}: {self.name}={value!r}: expected {kind}")
        value = os.fspath(value) if self.type is str else (value if self.type is None else self.type(value))
        if self.choices is not None and value not in self.choices:
            raise OptionError(f"{command}: {self.name}={value!r}: expected one of {', '.join(self.choices)}")
        return value


FIXED_GROUP = "fixed-point shortcuts (networks with residual adds, e.g. reactnet-mnist)"
ACC_BITS_HELP = "maximum accumulator/threshold width; a layer needing more is an error"

OUT = Option("out", "build folder (created if missing)", required=True)
MODEL = (
    Option("model", "recipe name from models/ (e.g. tfc-w1a1) or a path to a recipe .yaml"),
    Option("epochs", "override the recipe's number of training epochs", int),
)
COMMON = (
    Option(
        "data_dir",
        "folder with MNIST/Fashion-MNIST IDX files (t10k-*, and train-* for the mnist / fashion-mnist "
        "datasets) or CIFAR-10 python batches; adds held-out test accuracy and checks on every test image",
    ),
    Option("verify_limit", "check at most this many images per split (default: all)", int),
    Option(
        "csim_limit",
        "compare the C simulation on at most this many images per split (default: all; the golden "
        "model still scores every image)",
        int,
    ),
    Option(
        "rtlsim_limit",
        "compare the RTL simulation on at most this many images per split (default: all)",
        int,
    ),
    Option("force", "re-run the stage(s) even if their inputs are unchanged", None),
    Option(
        "protect_edits",
        "an artifact changed by hand since its stage wrote it is an error instead of being rebuilt",
        None,
    ),
    Option("quiet", "no progress bars or stage messages", None),
)
HLS = (
    Option("backend", "hls4ml backend (default Vitis)", choices=("Vitis", "Vivado")),
    Option("reuse_factor", "hls4ml ReuseFactor for every layer (default 1: fully parallel)", int),
    Option(
        "folding",
        "JSON with PE/SIMD per matrix layer, e.g. the folding.json of hw-bnn fold; 'none' clears a "
        "saved folding (default: fully parallel)",
        api_types=(dict,),
    ),
    Option("part", "FPGA part (default xc7z020clg400-1, PYNQ-Z1/Z2)"),
    Option("clock_period", "clock period in ns (default 10)", float),
)
ACC_BITS = Option("acc_bits", ACC_BITS_HELP, int)
FIXED = (
    Option("fixed_frac", "fraction bits of every shortcut tensor (default 12)", int, group=FIXED_GROUP),
    Option(
        "fixed_width",
        "total bits of every shortcut tensor (default: chosen per tensor from its exact value range)",
        int,
        group=FIXED_GROUP,
    ),
    Option(
        "fixed_rounding",
        "ap_fixed quantization mode (default rnd_conv = AP_RND_CONV)",
        choices=("rnd_conv", "rnd", "trn"),
        group=FIXED_GROUP,
    ),
    Option(
        "fixed_overflow", "ap_fixed overflow mode (default sat = AP_SAT)", choices=("sat", "wrap"), group=FIXED_GROUP
    ),
)
NO_RTLSIM = Option("no_rtlsim", "skip the RTL simulation stage in this run", None)
ONNX = Option("onnx", "compile this QONNX file instead of <out>/exported.onnx (no equivalence check)")
INPUT_DOMAIN = Option(
    "input_domain",
    "the model's input x from the integer pixels p: 'pixels' (x = p, default), 'unit' (x = p / 255, "
    "ToTensor), 'divisor=D', then ':mean=M[,M..]:std=S[,S..]' (Normalize), absorbed exactly into the first thresholds",
)
IMPORT_ONNX = Option("onnx", "the QONNX file to import (Brevitas export_qonnx)", required=True)
IMPORT_INPUTS = Option(
    "inputs",
    "a .npy of integer pixels, (N, features) or (N, C, H, W), or an .npz with x (and labels y); "
    "default: 16 random images (seed 0)",
    api_types=(np.ndarray, list, tuple),
)
IMPORT_DATA_DIR = Option(
    "data_dir",
    "instead of --inputs: the test set of this folder (MNIST / Fashion-MNIST IDX t10k-*, or CIFAR-10 "
    "test_batch) with its labels, in the model's input shape",
)
LABELS = Option(
    "labels", "a .npy of the inputs' integer labels (accuracy in the report)", api_types=(np.ndarray, list, tuple)
)
INPUTS = Option(
    "inputs",
    "a .npy array of integer inputs, (N, features) for MLPs or (N, C, H, W) for CNNs, to verify instead of "
    "the data splits",
    api_types=(np.ndarray, list, tuple),  # the Python API also takes the array itself
)

SYNTH = Option(
    "synth",
    "Yosys synthesis targets, comma-separated: xc7 (7-series, e.g. xc7z020), xcup (UltraScale+), ecp5 "
    "(Lattice ECP5); in 'flow' the synth stage runs only when given (default of 'hw-bnn synth': xc7,ecp5)",
)
BOARD = Option(
    "board", "ECP5 board from boards/ (ulx3s-85f, ulx3s-25f, orangecrab-25f) or a board .yaml", required=True
)
CLOCK_MHZ = Option("clock_mhz", "core clock to aim for in MHz (default: the board file's target_mhz, 100)", float)
OUT_OR_MODEL = Option("out", "build folder (default: build/<model>)")

# the Python API's function of a command, where its name is not the command's
API_FUNCTION = {"flow": "run", "import": "import_model"}

# command -> (one-line help, its options in the order of its --help)
COMMANDS: dict[str, tuple[str, tuple[Option, ...]]] = {
    "flow": (
        "run every stage (train, export, compile, emit, verify, rtlsim, report)",
        (OUT, *MODEL, *COMMON, *HLS, ACC_BITS, *FIXED, NO_RTLSIM, SYNTH),
    ),
    "train": ("train a recipe with Brevitas", (OUT, *MODEL, *COMMON)),
    "export": ("export the checkpoint to QONNX and check it against PyTorch", (OUT, *COMMON)),
    "compile": (
        "compile the QONNX model into an integer-only graph",
        (OUT, *COMMON, ONNX, INPUT_DOMAIN, ACC_BITS, *FIXED),
    ),
    "import": (
        "a model of your own (QONNX): compile, emit, C and RTL simulation, report, on your inputs",
        (OUT, IMPORT_ONNX, IMPORT_INPUTS, LABELS, IMPORT_DATA_DIR, INPUT_DOMAIN, *COMMON[1:], *HLS, ACC_BITS, *FIXED)
        + (NO_RTLSIM,),
    ),
    "emit": ("write the hls4ml project (hls/)", (OUT, *COMMON, *HLS)),
    "verify": ("golden model vs hls4ml C simulation, bit for bit, on every image", (OUT, *COMMON, INPUTS)),
    "rtlsim": (
        "write the RTL (rtl/) and compare its Verilator simulation with the golden model, bit for bit",
        (OUT, *COMMON, *HLS),
    ),
    "synth": (
        "Yosys synthesis of the RTL (rtl/): measured LUT/FF/BRAM/DSP per layer beside the cost model",
        (OUT, *COMMON, SYNTH),
    ),
    "bitstream": (
        "an ECP5 bitstream for a board: the network behind a UART, board simulation, Yosys, nextpnr, ecppack",
        (OUT_OR_MODEL, *MODEL, *COMMON, HLS[2], BOARD, CLOCK_MHZ),
    ),
    "deploy": (
        "the deploy/ folder: Vivado scripts, PYNQ driver, validate.py, golden self-check, ECP5 bitstreams",
        (OUT, *COMMON, HLS[3]),
    ),
    "report": ("write report.json and report.md", (OUT, *COMMON)),
}


def check_options(command: str, given: dict) -> dict:
    """The keywords ``given`` to the Python API for ``command``, checked against the table:
    every name is one of the command's options, every value of its type (``None``: not given).
    Returns ``{name: value}`` for every option of the command (``None``/``False`` if not given)."""
    options = {o.name: o for o in COMMANDS[command][1]}
    unknown = [k for k in given if k not in options]
    if unknown:
        name = unknown[0]
        hint = did_you_mean(name, options)
        raise OptionError(f"{command}: unknown option {name!r}{hint}; it takes {', '.join(options)}")
    out = {}
    for name, opt in options.items():
        value = given.get(name)
        if value is None:
            if opt.required:
                raise OptionError(f"{command}: {name}= is required ({opt.help})")
            value = False if opt.type is None else None
        else:
            value = opt.check(command, value)
        out[name] = value
    return out

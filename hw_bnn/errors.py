"""Every error a user can see: one hierarchy, each message one clear line.

The CLI prints an :class:`HwBnnError` without a traceback and exits non-zero. Each message names
the file, node or layer and says what was expected. The subclasses tell which stage refused:

========================  =========================================================
``RecipeError``           a recipe or training setting (``models/*.yaml``, CLI overrides)
``DataError``             a data file or folder (IDX, CIFAR-10 batches, ``--inputs``)
``ExportError``           a checkpoint, or the QONNX export and its check against PyTorch
``IRError``               an integer network or ``golden.npz`` that breaks the IR's rules
``OptionError``           an option of the Python API that the command does not take
``CompileError``          a graph the compiler cannot turn into the exact integer form
``NonMonotoneError``      a quantizer chain that is not monotone in its accumulator
``EmitError``             an integer network (or a value in it) the hls4ml layers cannot take
``HeaderError``           the C++ kernels (``hw_bnn_layers.h``) are not where they should be
``CsimError``             C-simulation inputs, a non-integer result, a stale emitted project
``VerifyError``           verification inputs that do not match the model
``FoldingError``          a PE/SIMD folding the hardware cannot take
``InfeasibleTargetError`` a throughput target or budget that no folding meets
``DeviceError``           an unknown FPGA part or board
``SpecError``             a design-space sweep spec that cannot be run
``BuildFolderError``      a build folder from an older hw-bnn, or one in use
========================  =========================================================

Many also derive from ``ValueError``, as the bad-value errors they are.
"""


class HwBnnError(Exception):
    """A user-facing error.  The message names the file, node or layer and what was expected."""


class RecipeError(HwBnnError, ValueError):
    """A recipe or a training setting that cannot be used."""


class DataError(HwBnnError, ValueError):
    """A data file or folder that is missing or malformed."""


class ExportError(HwBnnError):
    """A checkpoint that cannot be exported, or an export that disagrees with PyTorch."""


class IRError(HwBnnError, ValueError):
    """An integer network, its inputs or its ``golden.npz`` break the IR's rules; names the layer."""


class OptionError(HwBnnError, TypeError):
    """A keyword of the Python API (``hw_bnn.flow``) that the command does not take, or a bad value."""


class CompileError(HwBnnError):
    """The compiler cannot turn a graph into the exact integer form."""


class NonMonotoneError(CompileError, ValueError):
    """A quantizer chain that is not monotone in its integer input (``channel`` names it)."""

    def __init__(self, channel: int, reason: str):
        super().__init__(reason)
        self.channel = channel
        self.reason = reason


class EmitError(HwBnnError, ValueError):
    """An integer network (or a value in it) does not fit the hls4ml layers; names the layer."""


class HeaderError(EmitError, FileNotFoundError):
    """The C++ kernels ``hw_bnn_layers.h`` are missing from the folder the backend reads."""


class CsimError(HwBnnError, ValueError):
    """Bad inputs for the C simulation, a non-integer result, or a stale emitted project."""


class VerifyError(HwBnnError):
    """Verification inputs are not what the model expects."""


class FoldingError(HwBnnError, ValueError):
    """A folding that the hardware cannot take (PE/SIMD that do not divide, unknown layers), or a
    target that no folding reaches.  The message names the layer and what was expected."""


class InfeasibleTargetError(FoldingError):
    """No legal folding meets the target (the message names the bottleneck unit and its minimum)."""


class DeviceError(HwBnnError, ValueError):
    """An unknown device name (the message lists the known ones)."""


class SpecError(HwBnnError, ValueError):
    """A sweep spec that cannot be run; the message names the file, the key and what was expected."""


class BuildFolderError(HwBnnError):
    """A build folder written by an older hw-bnn (re-run the flow), or one another run holds."""

"""The compiler: QONNX (as exported by Brevitas) -> the integer graph (``integer.onnx``).

:func:`compile_steps` is the whole compiler as one list.  A :class:`Once` step is a qonnx
``model.transform`` (the pass is applied until it reports no change, then qonnx cleans the
graph up); an :class:`UntilFixedPoint` step applies its passes in turn, inferring shapes after
every change, until none of them changes anything.  With power-of-two scales (weights,
activations, input) the exported float graph computes its sums without rounding, exactly as the
integer graph does.  Other scales (learned float scales) are recorded in the metadata; the integer
graph then computes the model's integer semantics, and the export equals it up to rounding ties
that :mod:`hw_bnn.compile.near_ties` proves one by one.

The integer graph is executable by qonnx ``execute_onnx`` (batched: :func:`hw_bnn.compile.qonnx_run.run_qonnx`) and is
lowered to the IR by :func:`hw_bnn.compile.lower.lower_to_ir`.  Its hardware layers:

* ``MultiThreshold`` on the graph input: the input quantizer (MLPs);
* ``XnorPopcountMatMul(bits, weight bits)`` -> popcount ``p``: XNOR dense layer;
* ``MatMul(codes, integer W)``: integer dense layer;
* ``[Pad(code)] Conv(codes, integer W)``: integer convolution (NCHW; the hardware is NHWC);
* ``Conv(bits, +-1 W)`` then ``Add(n_minus)``: XNOR convolution.  With bits ``b`` and
  ``n_minus[c]`` the number of -1 weights of channel ``c``, ``Conv(b, W) + n_minus = p``, the
  popcount of ``xnor(b, W bits)``; zero padding of bits is the bit 0, which codes -1;
* each followed by a ``MultiThreshold`` (codes of the next layer) or, last, the output;
* ``MaxPool`` and ``Flatten`` on codes; ``FixedChain`` / ``FixedAdd`` (fixed-point shortcuts)
  and ``IntConcat`` (concatenations) of the domain ``hw_bnn.custom_op``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation
from qonnx.transformation.general import GiveUniqueNodeNames, SortGraph
from qonnx.transformation.infer_shapes import InferShapes

from hw_bnn.compile.fixed_config import FixedPointConfig
from hw_bnn.compile.input_domain import InputDomain, insert_input_domain
from hw_bnn.compile.lower import lower_to_ir
from hw_bnn.compile.passes import (
    AbsorbOutputChain,
    AbsorbQuantizerChains,
    AbsorbWeightQuantizers,
    AvgPoolAsConv,
    CheckIntegerOnly,
    CheckSupportedOps,
    GemmAsMatMul,
    IntegerizeLinear,
    LowerConcat,
    LowerFixedPoint,
    SetInputDatatype,
    SimplifyLayout,
)
from hw_bnn.errors import CompileError

__all__ = ["Once", "UntilFixedPoint", "compile_model", "compile_steps", "load_onnx"]


@dataclass(frozen=True)
class Once:
    """``model.transform(t)``: qonnx applies ``t`` until it reports no change."""

    transformation: Transformation

    def run(self, model: ModelWrapper) -> ModelWrapper:
        return model.transform(self.transformation)


@dataclass(frozen=True)
class UntilFixedPoint:
    """Apply every pass in turn (shapes inferred after each change) until none changes the graph."""

    passes: tuple

    def run(self, model: ModelWrapper) -> ModelWrapper:
        changed = True
        while changed:
            changed = False
            for p in self.passes:
                model, c = p.apply(model)
                if c:
                    model = model.transform(InferShapes())
                changed |= c
        return model


def compile_steps(input_dtype: str = "UINT8", fixed: FixedPointConfig | None = None) -> list:
    """The passes in the order they run (fresh instances: some keep state over one run)."""
    from qonnx.transformation.extract_conv_bias import ExtractBiasFromConv

    fixed = fixed or FixedPointConfig()
    return [
        Once(SetInputDatatype(input_dtype)),  # the integer input domain (8-bit pixels by default)
        Once(GemmAsMatMul()),  # QuantLinear with a bias: MatMul, then the bias as a chain step
        Once(AvgPoolAsConv()),  # average pooling: a sum Conv, then Div(window size)
        UntilFixedPoint((SimplifyLayout(),)),  # layout-only ops out of the computation's way
        Once(CheckSupportedOps()),  # refuse what the hardware cannot do, naming the node
        Once(ExtractBiasFromConv()),
        UntilFixedPoint((AbsorbWeightQuantizers(),)),  # integer weights, scales after the op
        UntilFixedPoint(
            (
                AbsorbQuantizerChains(),  # accumulator -> chain -> quantizer ==> MultiThreshold
                IntegerizeLinear(),  # MatMul / Conv on codes, plus the exact correction
                LowerFixedPoint(fixed),  # residual shortcuts -> fixed point
                LowerConcat(),  # Concat -> IntConcat of integer tensors
            )
        ),
        UntilFixedPoint((AbsorbOutputChain(),)),  # integer output plus the output affine
        Once(CheckIntegerOnly()),  # anything left in float is an error naming it
        Once(SortGraph()),
        Once(GiveUniqueNodeNames()),
        Once(InferShapes()),
    ]


def _short_reason(e: Exception) -> str:
    """One short line for a parse error (protobuf's messages repeat the message type)."""
    text = (str(e).strip().splitlines() or [""])[0]
    if text.startswith("Error parsing message"):
        text = text.rpartition(":")[2].strip() or "the protobuf does not parse"
    text = text or type(e).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def _looks_like_text(head: bytes) -> bool:
    """True when the first bytes are printable text (an ONNX file starts with binary field tags)."""
    try:
        s = head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 3:  # not a character cut at the end of the head
            return False
        s = head[: e.start].decode("utf-8")
    return all(c.isprintable() or c in "\t\n\r" for c in s)


def load_onnx(path) -> ModelWrapper:
    """An ONNX file as a qonnx ``ModelWrapper``; :class:`CompileError` naming the file and what
    was wrong otherwise (missing, a folder, empty, text, truncated or corrupt, no graph nodes)."""
    import onnx

    path = Path(path)
    if not path.exists():
        raise CompileError(f"{path}: file does not exist (expected an ONNX model)")
    if path.is_dir():
        raise CompileError(f"{path}: is a directory, not an ONNX model file")
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError as e:
        raise CompileError(f"{path}: cannot read the ONNX file ({e.strerror or e})") from None
    if not head:
        raise CompileError(f"{path}: not an ONNX model (0 bytes)")
    if _looks_like_text(head):
        start = head[:40].decode("utf-8", errors="replace")
        raise CompileError(f"{path}: not an ONNX model (a text file, starting {start!r})")
    try:
        proto = onnx.load(str(path))
    except Exception as e:  # noqa: BLE001 - protobuf errors come in several types
        raise CompileError(f"{path}: not a valid ONNX model (truncated or corrupt: {_short_reason(e)})") from None
    if not proto.HasField("graph") or not proto.opset_import:
        raise CompileError(f"{path}: not a valid ONNX model (truncated or corrupt: no graph or no opset import)")
    if not proto.graph.node:
        raise CompileError(f"{path}: the ONNX graph has no nodes (expected an exported network)")
    return ModelWrapper(proto)


def compile_model(
    model: ModelWrapper,
    input_dtype: str = "UINT8",
    acc_bits: int | None = None,
    fixed: FixedPointConfig | None = None,
    domain: InputDomain | None = None,
) -> ModelWrapper:
    """Exported QONNX -> the integer-only graph.  ``acc_bits`` caps the accumulator and
    threshold width: a layer that needs more raises :class:`CompileError` naming it.
    ``fixed`` sets how real-valued shortcuts become fixed point (networks with residual adds).
    ``domain``: the model's input as a function of the integer pixels (default ``x = p``;
    :mod:`hw_bnn.compile.input_domain`), absorbed into the first thresholds."""
    fixed = fixed or FixedPointConfig()
    fixed.check()
    from qonnx.util.cleanup import cleanup_model

    model = cleanup_model(model)
    inits = {i.name for i in model.graph.initializer}
    inputs = [i.name for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1 or len(model.graph.output) != 1:
        raise CompileError(
            f"the model must have exactly one input and one output (found inputs {inputs}, "
            f"outputs {[o.name for o in model.graph.output]})"
        )
    model = insert_input_domain(model, domain or InputDomain())
    for step in compile_steps(input_dtype, fixed):
        model = step.run(model)
    model.graph.name = "hw_bnn_integer"
    lower_to_ir(model, acc_bits=acc_bits)  # validates the structure and the bit widths
    return model

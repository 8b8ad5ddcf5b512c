"""The layers of the integer IR: what each computes, on integer codes, bit for bit.

This module imports NumPy only (no torch, onnx or onnxruntime), so it can be
shipped next to a hardware build and trusted as the reference.  It runs the
integer graph that the compiler writes (``integer.onnx``), in the plain form the
compiler also writes next to it (``golden.npz``).

Activations between layers are unsigned integer *codes* ``0..L`` (``L`` = number of
thresholds of the layer that made them; bits for ``L = 1``).  What a code means in the
exported float model (``value = alpha * code + beta``) is absorbed into the next layer's
thresholds by the compiler, so the hardware never sees it.  Layer semantics:

``threshold``  (the input quantizer; in graphs also the sign of a stored tensor)
    ``y[n, c] = sum_k [x[n, c] >= T[c, k]]`` for integer inputs ``x``
    (8-bit pixels for the built-in networks).  ``T`` has shape ``(C, L)`` or
    ``(1, L)`` (one set of thresholds shared by every channel).  Channels flagged in
    ``negate`` compare ``-x`` instead (a chain that decreases in a tensor other layers read).

``xnor_dense``  (binary matrix-vector unit, XNOR-popcount)
    Input bits ``x in {0,1}^MW`` (1 codes +1, 0 codes -1), weight bits
    ``W in {0,1}^(MW x MH)``.  ``p[j] = popcount(xnor(x, W[:, j]))`` is in
    ``[0, MW]`` and the bipolar accumulator is ``a[j] = 2 p[j] - MW``.
    With thresholds ``T`` (shape ``(MH, L)``, on the popcount domain) the layer
    outputs ``y[j] = sum_k [p[j] >= T[j, k]]``; without thresholds it outputs
    the signed accumulator ``a``.

``int_dense``  (integer matrix-vector unit)
    Input codes ``x in [0, L_in]^MW``, signed integer weights ``W (MW x MH)``:
    ``a[j] = sum_i x[i] W[i, j]``; thresholds ``T (MH, L)`` on ``a`` give codes, or ``a`` is
    the output.

``conv``  (sliding window + matrix-vector unit, NHWC)
    Input ``(H, W, C)`` codes, square kernel ``k``, stride ``s``, symmetric padding ``pad``
    filled with the input code ``pad_value``.  The window of output pixel ``(oh, ow)`` is
    flattened in ``(kh, kw, c)`` order into a vector of ``K = k*k*C`` and multiplied with
    ``W (K x C_out)``: XNOR-popcount when ``xnor`` (bits, and ``pad_value`` 0 codes -1), else
    integer.  Thresholds / accumulator output as for the dense layers.

``maxpool``  (NHWC, square kernel and stride, no padding, floor)
    Max of codes; on bits this is an OR.  Codes are monotone in the values they stand for,
    so this equals max pooling of the values.

``flatten``
    ``(H, W, C) -> H*W*C`` in ``(h, w, c)`` order (the compiler permutes the next dense
    layer's weight rows from the exported ``(c, h, w)`` order).

``fixed_chain``  (real-valued tensors in fixed point: ReActNet-style shortcuts)
    Input: integers ``x`` that stand for ``x * 2**-in_frac`` (an accumulator: ``in_frac = 0``;
    a fixed-point tensor: ``in_frac = frac``).  Per channel ``c``, a one-breakpoint piecewise
    linear function with integer parameters, computed exactly as ``ap_fixed`` does::

        t = x * 2**(frac - in_frac) - G[c]                       (frac bits: frac)
        p = t * (P[c] if t >= 0 else N[c]) + Z[c] * 2**slope_frac   (frac + slope_frac)
        y = overflow(round(p / 2**slope_frac))                    (frac bits: frac)

    ``round`` is the quantization mode (``rnd_conv``: AP_RND_CONV, half to even; ``rnd``:
    AP_RND, half towards +inf; ``trn``: AP_TRN, floor) and ``overflow`` the overflow mode
    (``sat``: AP_SAT, clip to the signed ``width``-bit range; ``wrap``: AP_WRAP, two's
    complement wrap-around).  ``y`` is an ``ap_fixed<width, width - frac>`` code.  A BatchNorm
    (one slope), an RPReLU, an FPReLU or a PReLU after one are all this function.

``concat``  (BinaryDenseNet's concatenation: a stream merge)
    The channels of its ``inputs`` side by side, in order (``(H, W, C1 + C2 + ...)``).  Each
    channel keeps its own integer meaning; the next layer's per-channel thresholds take it.

``fixed_add``  (the shortcut add: a stream merge of two fixed-point tensors)
    ``y = overflow(a + b)`` with both inputs and the output at the same ``frac``.

A layer reads the previous layer's output unless it names its ``inputs`` (layer names):
residual networks are a graph, run in list order.

Images enter in the exported model's NCHW layout; the model works in NHWC (as the
streaming hardware does) and every traced 4-D output is NHWC.

The documented output affine maps the last layer's integer accumulators back to
the exported model's float outputs: ``y = float32(float32(a * scale) + bias)``; for
multi-bit inputs of the last layer an exact prefix comes first:
``y = float32(float32((a * pre_scale + pre_offset) * scale) + bias)``.

Implementation: products are float32 BLAS products of +-1 or small integer matrices.
Every partial sum is an integer of magnitude below ``2**24`` (checked per layer), so the
results are exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hw_bnn.errors import IRError
from hw_bnn.ir.fixed import OVERFLOW_MODES, ROUNDING_MODES, ap_overflow, ap_round_shift
from hw_bnn.ir.ranges import (
    FLOAT32_EXACT_LIMIT,
    MAX_SLOPE_FRAC,
    int_acc_range,
    partial_sum_bound,
    signed_range,
    xnor_acc_range,
)

BATCH_ROWS = 4096  # im2col rows per chunk: small enough to stay in cache (2x faster than 1 << 17)


def _threshold_codes(acc: np.ndarray, t_acc: np.ndarray) -> np.ndarray:
    """``sum_k [acc[..., c] >= t_acc[c, k]]`` as float32 codes."""
    if t_acc.shape[1] == 1:
        return (acc >= t_acc[:, 0]).astype(np.float32)
    out = np.zeros(acc.shape, dtype=np.float32)
    for k in range(t_acc.shape[1]):
        out += acc >= t_acc[:, k]
    return out


@dataclass
class ThresholdLayer:
    """Elementwise multi-threshold on integer inputs (the input quantizer)."""

    name: str
    thresholds: np.ndarray  # int64, (C, L) or (1, L)
    in_range: tuple[int, int] = (0, 255)
    inputs: tuple = ()
    # (C,) bool or None: these channels compare -x (a chain that decreases in its input)
    negate: np.ndarray | None = None
    kind: str = field(default="threshold", init=False)

    @property
    def levels(self) -> int:
        return int(self.thresholds.shape[1])

    def out_range(self) -> tuple[int, int]:
        return 0, self.levels

    def acc_range(self) -> tuple[int, int]:
        return self.in_range

    def _signed(self, x: np.ndarray) -> np.ndarray:
        if self.negate is None or not np.any(self.negate):
            return x
        return np.where(np.asarray(self.negate, dtype=bool), -x, x)

    def pm1(self, x: np.ndarray) -> np.ndarray:
        """One-level output as +-1 float32 (the next XNOR layer's operand)."""
        lo, hi = self.in_range
        x = self._signed(x)
        if self.thresholds.shape[0] == 1 and hi - lo < 65536 and (self.negate is None or not np.any(self.negate)):
            # shared threshold over a small integer domain: a lookup table
            lut = np.where(np.arange(lo, hi + 1) >= self.thresholds[0, 0], np.float32(1), np.float32(-1))
            idx = x if np.issubdtype(x.dtype, np.integer) else x.astype(np.int64)
            return lut[idx - lo] if lo else lut[idx]
        return np.where(x >= self.thresholds[:, 0], np.float32(1), np.float32(-1))

    def run(self, x: np.ndarray) -> np.ndarray:
        t = self.thresholds
        x = self._signed(x)
        if t.shape[1] == 1:
            return (x >= t[:, 0]).astype(np.int32)
        return np.sum(x[..., None] >= t, axis=-1, dtype=np.int32)


class _MatrixUnit:
    """Shared part of the dense and conv matrix-vector units (XNOR or integer)."""

    weights: np.ndarray
    thresholds: np.ndarray | None
    xnor: bool
    in_levels: int

    def __post_init__(self):
        self._prepare()

    def _prepare(self):
        k = self.weights.shape[0]
        if self.xnor:
            w = np.asarray(self.weights)
            if np.any((w != 0) & (w != 1)):
                raise IRError(f"layer {self.name}: XNOR weights must be bits (0/1)")
            self._w = (2.0 * w.astype(np.float32) - 1.0).astype(np.float32)
            bound = k
        else:
            self._w = np.asarray(self.weights).astype(np.float32)
            bound = partial_sum_bound(self.weights, max(1, self.in_levels))
        if bound >= FLOAT32_EXACT_LIMIT:
            raise IRError(f"layer {self.name}: accumulators up to {bound} are too large for the exact float32 path")
        if self.thresholds is not None:
            t = self.thresholds.astype(np.int64)
            # XNOR: p >= T  <=>  a >= 2T - K  (a = 2p - K); compare in the accumulator domain.
            self.acc_thresholds = ((2 * t - k) if self.xnor else t).astype(np.float32)

    @property
    def fan_in(self) -> int:
        return int(self.weights.shape[0])

    @property
    def n_out(self) -> int:
        return int(self.weights.shape[1])

    @property
    def mw(self) -> int:
        """Matrix width: the inputs of one dot product (FINN's MW)."""
        return self.fan_in

    @property
    def mh(self) -> int:
        """Matrix height: the outputs (FINN's MH)."""
        return self.n_out

    @property
    def levels(self) -> int:
        return 0 if self.thresholds is None else int(self.thresholds.shape[1])

    def acc_range(self, in_hi: int | None = None) -> tuple[int, int]:
        """Range of the hardware accumulator.  XNOR: the popcount ``[0, MW]`` when thresholded, else
        the bipolar sum ``[-MW, MW]``; integer: ``a = x @ W`` over input codes ``x in [0, in_hi]``
        (default: the layer's ``[0, max(1, in_levels)]``)."""
        if self.xnor:
            return xnor_acc_range(self.fan_in, popcount=self.thresholds is not None)
        return int_acc_range(self.weights, max(1, self.in_levels) if in_hi is None else in_hi)

    def out_range(self) -> tuple[int, int]:
        if self.thresholds is not None:
            return 0, self.levels
        return self.acc_range()

    def _operand(self, x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32, copy=False)
        return (2.0 * x - 1.0).astype(np.float32) if self.xnor else x

    def apply_thresholds(self, acc: np.ndarray) -> np.ndarray:
        """Codes ``sum_k [a >= T_k]`` (float32) on bipolar / integer accumulators ``a`` (thresholds in
        the accumulator domain: ``acc_thresholds``), or ``a`` itself when the layer has none."""
        if self.thresholds is None:
            return acc
        return _threshold_codes(acc, self.acc_thresholds)

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x).astype(np.int32)


@dataclass
class XnorDenseLayer(_MatrixUnit):
    """Binary matrix-vector unit: XNOR-popcount, then thresholds or raw accumulators."""

    name: str
    weights: np.ndarray  # uint8 bits, (MW, MH)
    thresholds: np.ndarray | None = None  # int64, (MH, L), popcount domain
    inputs: tuple = ()
    kind: str = field(default="xnor_dense", init=False)
    xnor: bool = field(default=True, init=False)
    in_levels: int = field(default=1, init=False)

    def accumulate(self, x_pm1: np.ndarray) -> np.ndarray:
        """Bipolar accumulators (float32 holding exact integers) from +-1 inputs."""
        return x_pm1 @ self._w

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.apply_thresholds(self.accumulate(self._operand(x.reshape(len(x), -1))))


@dataclass
class IntDenseLayer(_MatrixUnit):
    """Integer matrix-vector unit on codes: ``a = x @ W``, then thresholds or ``a``."""

    name: str
    weights: np.ndarray  # int8, (MW, MH)
    thresholds: np.ndarray | None = None  # int64, (MH, L), accumulator domain
    in_levels: int = 1  # input codes are in [0, in_levels]
    inputs: tuple = ()
    kind: str = field(default="int_dense", init=False)
    xnor: bool = field(default=False, init=False)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.apply_thresholds(self._operand(x.reshape(len(x), -1)) @ self._w)


def conv_out_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """``floor((size + 2 pad - kernel) / stride) + 1`` (no padding for max pooling)."""
    return (size + 2 * pad - kernel) // stride + 1


def im2col(x: np.ndarray, kernel: int, stride: int, pad: int, pad_value: float) -> np.ndarray:
    """NHWC ``x`` -> ``(N, Ho, Wo, kernel*kernel*C)`` windows in ``(kh, kw, c)`` order."""
    if pad:
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), constant_values=pad_value)
    n, h, w, c = x.shape
    ho, wo = (h - kernel) // stride + 1, (w - kernel) // stride + 1
    cols = np.empty((n, ho, wo, kernel, kernel, c), dtype=x.dtype)
    for i in range(kernel):
        for j in range(kernel):
            cols[:, :, :, i, j, :] = x[
                :, i : i + stride * (ho - 1) + 1 : stride, j : j + stride * (wo - 1) + 1 : stride, :
            ]
    return cols.reshape(n, ho, wo, kernel * kernel * c)


@dataclass
class ConvLayer(_MatrixUnit):
    """Convolution: sliding window over NHWC codes + XNOR or integer matrix-vector unit."""

    name: str
    in_shape: tuple[int, int, int]  # (H, W, C)
    kernel: int
    stride: int
    pad: int
    pad_value: int  # input code written into the border (XNOR: 0, which codes -1)
    weights: np.ndarray  # (k*k*C, C_out): uint8 bits when xnor, else int8
    xnor: bool
    thresholds: np.ndarray | None = None  # int64 (C_out, L): popcount (xnor) or accumulator domain
    in_levels: int = 1
    inputs: tuple = ()
    kind: str = field(default="conv", init=False)

    def __post_init__(self):
        self.in_shape = tuple(int(v) for v in self.in_shape)
        _h, _w, c = self.in_shape
        if self.weights.shape[0] != self.kernel * self.kernel * c:
            raise IRError(
                f"layer {self.name}: weights have {self.weights.shape[0]} rows, expected "
                f"kernel*kernel*C = {self.kernel * self.kernel * c}"
            )
        if not 0 <= self.pad_value <= max(1, self.in_levels):
            raise IRError(
                f"layer {self.name}: pad code {self.pad_value} is outside the input codes 0..{self.in_levels}"
            )
        super().__post_init__()

    @property
    def out_shape(self) -> tuple[int, int, int]:
        h, w, _ = self.in_shape
        return (
            conv_out_size(h, self.kernel, self.stride, self.pad),
            conv_out_size(w, self.kernel, self.stride, self.pad),
            self.n_out,
        )

    def acc_range(self, in_hi: int | None = None) -> tuple[int, int]:
        """As for the dense units; the pad code is an input value too (``in_hi`` is raised to it)."""
        if in_hi is not None and self.pad:
            in_hi = max(int(in_hi), int(self.pad_value))
        return super().acc_range(in_hi)

    def forward(self, x: np.ndarray) -> np.ndarray:
        n = len(x)
        ho, wo, co = self.out_shape
        # pad in the operand domain: XNOR operands are +-1 and the pad bit 0 codes -1
        pad_operand = (2.0 * self.pad_value - 1.0) if self.xnor else float(self.pad_value)
        out = np.empty((n, ho, wo, co), dtype=np.float32)
        per_image = ho * wo
        step = max(1, BATCH_ROWS // max(1, per_image))
        for i in range(0, n, step):
            cols = im2col(self._operand(x[i : i + step]), self.kernel, self.stride, self.pad, pad_operand)
            acc = cols.reshape(-1, cols.shape[-1]) @ self._w
            out[i : i + step] = self.apply_thresholds(acc).reshape(-1, ho, wo, co)
        return out


@dataclass
class MaxPoolLayer:
    """Max pooling of codes (NHWC, square kernel and stride, no padding, floor)."""

    name: str
    in_shape: tuple[int, int, int]
    kernel: int
    stride: int
    in_levels: int = 1  # largest input code
    in_lo: int = 0  # smallest input code (negative for fixed-point tensors)
    inputs: tuple = ()
    kind: str = field(default="maxpool", init=False)

    def __post_init__(self):
        self.in_shape = tuple(int(v) for v in self.in_shape)

    @property
    def out_shape(self) -> tuple[int, int, int]:
        h, w, c = self.in_shape
        return conv_out_size(h, self.kernel, self.stride, 0), conv_out_size(w, self.kernel, self.stride, 0), c

    def acc_range(self) -> tuple[int, int]:
        return self.in_lo, self.in_levels

    def out_range(self) -> tuple[int, int]:
        return self.in_lo, self.in_levels

    def forward(self, x: np.ndarray) -> np.ndarray:
        k, s = self.kernel, self.stride
        ho, wo, _ = self.out_shape
        if k == s:
            n, _, _, c = x.shape
            return x[:, : ho * k, : wo * k, :].reshape(n, ho, k, wo, k, c).max(axis=(2, 4))
        out = None
        for i in range(k):
            for j in range(k):
                v = x[:, i : i + s * (ho - 1) + 1 : s, j : j + s * (wo - 1) + 1 : s, :]
                out = v.copy() if out is None else np.maximum(out, v)
        return out

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x).astype(np.int32)


@dataclass
class FlattenLayer:
    """``(H, W, C) -> H*W*C`` in ``(h, w, c)`` order."""

    name: str
    in_shape: tuple[int, int, int]
    in_levels: int = 1
    inputs: tuple = ()
    kind: str = field(default="flatten", init=False)

    def __post_init__(self):
        self.in_shape = tuple(int(v) for v in self.in_shape)

    @property
    def out_shape(self) -> tuple[int]:
        h, w, c = self.in_shape
        return (h * w * c,)

    def acc_range(self) -> tuple[int, int]:
        return 0, self.in_levels

    def out_range(self) -> tuple[int, int]:
        return 0, self.in_levels

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(len(x), -1)

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x).astype(np.int32)


@dataclass
class FixedChainLayer:
    """Per-channel piecewise linear function into fixed point (see the module docstring)."""

    name: str
    shape: tuple[int, ...]  # (H, W, C) or (C,)
    breakpoint: np.ndarray  # G (C,) int64, frac bits: frac
    pos_slope: np.ndarray  # P (C,) int64, frac bits: slope_frac
    neg_slope: np.ndarray  # N (C,)
    offset: np.ndarray  # Z (C,) int64, frac bits: frac
    in_frac: int
    frac: int
    slope_frac: int
    width: int
    in_range: tuple[int, int]
    rounding: str = "rnd_conv"
    overflow: str = "sat"
    inputs: tuple = ()
    kind: str = field(default="fixed_chain", init=False)

    def __post_init__(self):
        self.shape = tuple(int(v) for v in self.shape)
        self.in_range = tuple(int(v) for v in self.in_range)
        for f in ("breakpoint", "pos_slope", "neg_slope", "offset"):
            setattr(self, f, np.asarray(getattr(self, f), dtype=np.int64).reshape(-1))
        if self.frac < self.in_frac:
            raise IRError(f"layer {self.name}: frac {self.frac} must be >= in_frac {self.in_frac}")
        if not 0 <= self.frac < self.width or not 0 <= self.slope_frac <= MAX_SLOPE_FRAC:
            raise IRError(f"layer {self.name}: need 0 <= frac < width and 0 <= slope_frac <= {MAX_SLOPE_FRAC}")
        ROUNDING_MODES[self.rounding], OVERFLOW_MODES[self.overflow]  # noqa: B018 - validates

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.shape

    def acc_range(self) -> tuple[int, int]:
        return self.in_range

    def out_range(self) -> tuple[int, int]:
        return signed_range(self.width)

    def forward(self, x: np.ndarray) -> np.ndarray:
        t = (np.asarray(x).astype(np.int64) << (self.frac - self.in_frac)) - self.breakpoint
        prod = t * np.where(t >= 0, self.pos_slope, self.neg_slope) + (self.offset << self.slope_frac)
        y = ap_overflow(ap_round_shift(prod, self.slope_frac, self.rounding), self.width, self.overflow)
        return y.astype(np.float32)

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x).astype(np.int32)


class _ShapedLayer:
    """A graph layer that declares its output ``shape``; its accumulator is its output."""

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.shape

    def acc_range(self) -> tuple[int, int]:
        return self.out_range()


@dataclass
class FixedAddLayer(_ShapedLayer):
    """``overflow(a + b)`` of two fixed-point tensors with the same frac bits."""

    name: str
    shape: tuple[int, ...]
    width: int
    inputs: tuple  # two layer names
    overflow: str = "sat"
    kind: str = field(default="fixed_add", init=False)

    def __post_init__(self):
        self.shape = tuple(int(v) for v in self.shape)
        self.inputs = tuple(str(v) for v in self.inputs)
        if len(self.inputs) != 2:
            raise IRError(f"layer {self.name}: a fixed-point add takes two inputs, got {self.inputs}")

    def out_range(self) -> tuple[int, int]:
        return signed_range(self.width)

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        s = np.asarray(a).astype(np.int64) + np.asarray(b).astype(np.int64)
        return ap_overflow(s, self.width, self.overflow).astype(np.float32)


@dataclass
class ConcatLayer(_ShapedLayer):
    """Channel concatenation of the named input layers' outputs (a stream merge)."""

    name: str
    shape: tuple[int, ...]  # output (H, W, C_total)
    inputs: tuple
    in_ranges: np.ndarray  # (n_inputs, 2) int64: the integer range of each input
    kind: str = field(default="concat", init=False)

    def __post_init__(self):
        self.shape = tuple(int(v) for v in self.shape)
        self.inputs = tuple(str(v) for v in self.inputs)
        self.in_ranges = np.asarray(self.in_ranges, dtype=np.int64).reshape(-1, 2)
        if len(self.inputs) < 2 or len(self.inputs) != len(self.in_ranges):
            raise IRError(f"layer {self.name}: a concatenation takes two or more inputs with one range each")

    def out_range(self) -> tuple[int, int]:
        return int(self.in_ranges[:, 0].min()), int(self.in_ranges[:, 1].max())

    def forward(self, *xs: np.ndarray) -> np.ndarray:
        return np.concatenate([np.asarray(x, dtype=np.float32) for x in xs], axis=-1)


Layer = (
    ThresholdLayer
    | XnorDenseLayer
    | IntDenseLayer
    | ConvLayer
    | MaxPoolLayer
    | FlattenLayer
    | FixedChainLayer
    | FixedAddLayer
    | ConcatLayer
)
SPATIAL_KINDS = ("conv", "maxpool", "flatten", "fixed_chain", "fixed_add", "concat")

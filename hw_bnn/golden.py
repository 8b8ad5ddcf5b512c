"""Bit-accurate NumPy golden model of a folded hw-bnn network.

This module imports NumPy only (no torch, onnx or onnxruntime), so it can be
shipped next to a hardware build and trusted as the reference.  It runs the
integer graph that the compiler writes (``folded.onnx``), in the plain form the
compiler also writes next to it (``golden.npz``; see ``hw_bnn.folded_io``).

Layer semantics (all integer; the hardware computes exactly the same):

``threshold``  (the input quantizer)
    ``y[n, c] = sum_k [x[n, c] >= T[c, k]]`` for integer inputs ``x``
    (8-bit pixels for the built-in networks).  ``T`` has shape ``(C, L)`` or
    ``(1, L)`` (one set of thresholds shared by every channel).

``xnor_dense``  (binary matrix-vector unit, XNOR-popcount)
    Input bits ``x in {0,1}^MW`` (1 codes +1, 0 codes -1), weight bits
    ``W in {0,1}^(MW x MH)``.  ``p[j] = popcount(xnor(x, W[:, j]))`` is in
    ``[0, MW]`` and the bipolar accumulator is ``a[j] = 2 p[j] - MW``.
    With thresholds ``T`` (shape ``(MH, L)``, on the popcount domain) the layer
    outputs ``y[j] = sum_k [p[j] >= T[j, k]]``; without thresholds it outputs
    the signed accumulator ``a``.

The documented output affine maps the last layer's integer accumulators back to
the exported model's float outputs: ``y = float32(float32(a * scale) + bias)``.

Implementation: the XNOR-popcount product is computed as a float32 BLAS product
of +-1 matrices.  Every product is +-1 and every partial sum is an integer of
magnitude at most ``MW``, so the result is exact while ``MW < 2**24`` (checked).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FLOAT32_EXACT_LIMIT = 2**24


def bits_for_range(lo: int, hi: int) -> tuple[int, bool]:
    """Smallest two's-complement (signed) or unsigned width holding [lo, hi]."""
    lo, hi = int(lo), int(hi)
    if lo >= 0:
        return max(1, int(hi).bit_length()), False
    width = 1
    while not (-(2 ** (width - 1)) <= lo and hi <= 2 ** (width - 1) - 1):
        width += 1
    return width, True


@dataclass
class ThresholdLayer:
    """Elementwise multi-threshold on integer inputs (the input quantizer)."""

    name: str
    thresholds: np.ndarray  # int64, (C, L) or (1, L)
    in_range: tuple[int, int] = (0, 255)
    kind: str = field(default="threshold", init=False)

    @property
    def levels(self) -> int:
        return int(self.thresholds.shape[1])

    def out_range(self) -> tuple[int, int]:
        return 0, self.levels

    def acc_range(self) -> tuple[int, int]:
        return self.in_range

    def pm1(self, x: np.ndarray) -> np.ndarray:
        """One-level output as +-1 float32 (the next XNOR layer's operand)."""
        lo, hi = self.in_range
        if self.thresholds.shape[0] == 1 and hi - lo < 65536:
            # shared threshold over a small integer domain: a lookup table
            lut = np.where(np.arange(lo, hi + 1) >= self.thresholds[0, 0], np.float32(1), np.float32(-1))
            idx = x if np.issubdtype(x.dtype, np.integer) else x.astype(np.int64)
            return lut[idx - lo] if lo else lut[idx]
        return np.where(x >= self.thresholds[:, 0], np.float32(1), np.float32(-1))

    def run(self, x: np.ndarray) -> np.ndarray:
        t = self.thresholds
        if t.shape[1] == 1:
            return (x >= t[:, 0]).astype(np.int32)
        return np.sum(x[..., None] >= t, axis=-1, dtype=np.int32)


@dataclass
class XnorDenseLayer:
    """Binary matrix-vector unit: XNOR-popcount, then thresholds or raw accumulators."""

    name: str
    weights: np.ndarray  # uint8 bits, (MW, MH)
    thresholds: np.ndarray | None = None  # int64, (MH, L), popcount domain
    kind: str = field(default="xnor_dense", init=False)

    def __post_init__(self):
        mw = self.weights.shape[0]
        if mw >= FLOAT32_EXACT_LIMIT:
            raise ValueError(f"layer {self.name}: fan-in {mw} too large for the exact float32 path")
        self._w_pm1 = (2.0 * self.weights.astype(np.float32) - 1.0).astype(np.float32)
        if self.thresholds is not None:
            # p >= T  <=>  a >= 2T - MW  (a = 2p - MW); compare in the accumulator domain.
            self._t_acc = (2 * self.thresholds.astype(np.int64) - mw).astype(np.float32)

    @property
    def mw(self) -> int:
        return int(self.weights.shape[0])

    @property
    def mh(self) -> int:
        return int(self.weights.shape[1])

    @property
    def levels(self) -> int:
        return 0 if self.thresholds is None else int(self.thresholds.shape[1])

    def acc_range(self) -> tuple[int, int]:
        return -self.mw, self.mw

    def out_range(self) -> tuple[int, int]:
        return (0, self.levels) if self.thresholds is not None else self.acc_range()

    def accumulate(self, x_pm1: np.ndarray) -> np.ndarray:
        """Bipolar accumulators (float32 holding exact integers) from +-1 inputs."""
        return x_pm1 @ self._w_pm1

    def run(self, x: np.ndarray) -> np.ndarray:
        x_pm1 = 2.0 * x.astype(np.float32) - 1.0
        return self._finish(self.accumulate(x_pm1))

    def _finish(self, acc: np.ndarray) -> np.ndarray:
        if self.thresholds is None:
            return acc.astype(np.int32)
        if self.levels == 1:
            return (acc >= self._t_acc[:, 0]).astype(np.int32)
        return np.sum(acc[..., None] >= self._t_acc, axis=-1, dtype=np.int32)


Layer = ThresholdLayer | XnorDenseLayer


@dataclass
class GoldenModel:
    """A chain of integer layers plus the documented output affine."""

    layers: list
    output_scale: np.ndarray | None = None  # float32 (C,) or (1,)
    output_bias: np.ndarray | None = None
    input_shape: tuple[int, ...] = ()
    input_range: tuple[int, int] = (0, 255)

    def check_input(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if self.input_shape and tuple(x.shape[1:]) != tuple(self.input_shape):
            raise ValueError(
                f"golden model: input shape {tuple(x.shape)} does not match the model's "
                f"input (N, {', '.join(map(str, self.input_shape))})"
            )
        if x.size:
            lo, hi = self.input_range
            integral = np.issubdtype(x.dtype, np.integer) or bool(np.all(x == np.round(x)))
            if not integral or x.min() < lo or x.max() > hi:
                raise ValueError(f"golden model: inputs must be integers in [{lo}, {hi}]")
        return x

    def run(self, x: np.ndarray, trace: bool = False):
        """Integer outputs of the last layer; with ``trace`` a dict of every layer's output."""
        x = self.check_input(x)
        outs = {}
        cur = x
        pm1 = None  # +-1 float32 view of the current bits, reused by the next xnor layer
        for i, layer in enumerate(self.layers):
            feeds_xnor = i + 1 < len(self.layers) and isinstance(self.layers[i + 1], XnorDenseLayer)
            if isinstance(layer, XnorDenseLayer):
                if pm1 is None:
                    pm1 = 2.0 * cur.astype(np.float32) - 1.0
                acc = layer.accumulate(pm1)
                if layer.levels == 1 and feeds_xnor and not trace:
                    # fast path: the next layer only needs +-1 values
                    pm1 = np.where(acc >= layer._t_acc[:, 0], np.float32(1), np.float32(-1))
                    cur = None
                    continue
                cur = layer._finish(acc)
            elif isinstance(layer, ThresholdLayer) and layer.levels == 1 and feeds_xnor and not trace:
                pm1 = layer.pm1(cur)
                cur = None
                continue
            else:
                if cur is None:
                    cur = (pm1 > 0).astype(np.int32)
                cur = layer.run(cur)
            pm1 = None
            if trace:
                outs[layer.name] = cur
        if cur is None:
            cur = (pm1 > 0).astype(np.int32)
        return outs if trace else cur

    def apply_output_affine(self, acc: np.ndarray) -> np.ndarray:
        if self.output_scale is None:
            return acc.astype(np.float32)
        y = acc.astype(np.float32) * self.output_scale.astype(np.float32)
        return (y + self.output_bias.astype(np.float32)).astype(np.float32)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class decisions (argmax of the integer outputs; the affine keeps the order only
        when every scale is positive, so the affine is applied first)."""
        return np.argmax(self.apply_output_affine(self.run(x)), axis=-1)

    # --- persistence (plain .npz, readable with NumPy alone) -------------------------
    def save(self, path) -> None:
        arrays = {
            "meta_input_shape": np.asarray(self.input_shape, dtype=np.int64),
            "meta_input_range": np.asarray(self.input_range, dtype=np.int64),
            "meta_names": np.asarray([layer.name for layer in self.layers]),
            "meta_kinds": np.asarray([layer.kind for layer in self.layers]),
        }
        if self.output_scale is not None:
            arrays["out_scale"] = self.output_scale
            arrays["out_bias"] = self.output_bias
        for i, layer in enumerate(self.layers):
            if isinstance(layer, ThresholdLayer):
                arrays[f"l{i}_thresholds"] = layer.thresholds
                arrays[f"l{i}_in_range"] = np.asarray(layer.in_range, dtype=np.int64)
            else:
                arrays[f"l{i}_weights"] = layer.weights
                if layer.thresholds is not None:
                    arrays[f"l{i}_thresholds"] = layer.thresholds
        with open(path, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path) -> "GoldenModel":
        with np.load(path, allow_pickle=False) as z:
            layers = []
            for i, (name, kind) in enumerate(zip(z["meta_names"], z["meta_kinds"])):
                name, kind = str(name), str(kind)
                if kind == "threshold":
                    layers.append(ThresholdLayer(name, z[f"l{i}_thresholds"], tuple(int(v) for v in z[f"l{i}_in_range"])))
                elif kind == "xnor_dense":
                    t = z[f"l{i}_thresholds"] if f"l{i}_thresholds" in z else None
                    layers.append(XnorDenseLayer(name, z[f"l{i}_weights"], t))
                else:
                    raise ValueError(f"{path}: unknown layer kind {kind!r} for layer {name}")
            scale = z["out_scale"] if "out_scale" in z else None
            bias = z["out_bias"] if "out_bias" in z else None
            return cls(
                layers,
                scale,
                bias,
                tuple(int(v) for v in z["meta_input_shape"]),
                tuple(int(v) for v in z["meta_input_range"]),
            )

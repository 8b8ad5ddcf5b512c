"""The integer network: the IR's layer list, its NumPy execution (the golden model) and
its ``golden.npz`` form.

``IntegerNetwork.run`` executes the layers in list order on integer inputs, bit for bit as
the hardware does (the layer semantics are in :mod:`hw_bnn.ir.layers`); ``predict`` applies
the documented output affine ``y = float32(float32(a * scale) + bias)`` (or the output steps:
``u = float32(a)``, then ``u = float32(u op c)`` per step) and takes the argmax.
``save`` / ``load`` write and read a plain ``.npz`` that NumPy alone reads.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass

import numpy as np

from hw_bnn.errors import IRError
from hw_bnn.ir.layers import (
    SPATIAL_KINDS,
    ConcatLayer,
    ConvLayer,
    FixedAddLayer,
    FixedChainLayer,
    FlattenLayer,
    IntDenseLayer,
    MaxPoolLayer,
    ThresholdLayer,
    XnorDenseLayer,
)

STEP_OPS = {"Mul": np.multiply, "Add": np.add, "Sub": np.subtract, "Div": np.divide}
STEPS_FORMULA = "u = float32(acc), then u = float32(u op c) for each step"


def steps_json(steps) -> list[dict]:
    """Output steps ``((op, c), ...)`` as JSON: ``[{"op": op, "const": [float32, ...]}, ...]``."""
    return [{"op": op, "const": np.asarray(c, dtype=np.float32).reshape(-1).tolist()} for op, c in steps]


def apply_output_steps(acc: np.ndarray, steps) -> np.ndarray:
    """``u = float32(acc)``, then ``u = float32(u op c)`` for every step ``(op, c)``, ``c`` per
    channel (the last axis) or one value: the exported output chain, rounded as it rounds."""
    u = np.asarray(acc).astype(np.float32)
    for op, c in steps:
        if op not in STEP_OPS:
            raise IRError(f"golden model: unknown output step {op!r} (expected {', '.join(STEP_OPS)})")
        u = STEP_OPS[op](u, np.asarray(c, dtype=np.float32).reshape(-1)).astype(np.float32)
    return u


@dataclass
class IntegerNetwork:
    """A chain of integer layers plus the documented output affine."""

    layers: list
    output_scale: np.ndarray | None = None  # float32 (C,) or (1,)
    output_bias: np.ndarray | None = None
    input_shape: tuple[int, ...] = ()
    input_range: tuple[int, int] = (0, 255)
    output_pre: tuple | None = None  # (pre_scale, pre_offset (C,)): exact, applied first
    # ((op, c float32 (C,) or (1,)), ...) with op Mul / Add / Sub / Div, in place of scale and bias
    output_steps: tuple | None = None

    def check_input(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if self.input_shape and tuple(x.shape[1:]) != tuple(self.input_shape):
            raise IRError(
                f"golden model: input shape {tuple(x.shape)} does not match the model's "
                f"input (N, {', '.join(map(str, self.input_shape))})"
            )
        if x.size:
            lo, hi = self.input_range
            integral = np.issubdtype(x.dtype, np.integer) or bool(np.all(x == np.round(x)))
            if not integral or x.min() < lo or x.max() > hi:
                raise IRError(f"golden model: inputs must be integers in [{lo}, {hi}]")
        return x

    @property
    def is_image(self) -> bool:
        return len(self.input_shape) == 3

    def to_hardware_layout(self, x: np.ndarray) -> np.ndarray:
        """Images NCHW -> NHWC (the order the streaming hardware reads pixels in)."""
        return np.ascontiguousarray(np.transpose(x, (0, 2, 3, 1))) if self.is_image else x

    def run(self, x: np.ndarray, trace: bool = False):
        """Integer outputs of the last layer; with ``trace`` a dict of every layer's output
        (NHWC for images)."""
        x = self.to_hardware_layout(self.check_input(x))
        if not any(layer.kind in SPATIAL_KINDS for layer in self.layers) and not self.is_image:
            return self._run_dense(x, trace)
        outs = {}
        graph = any(getattr(layer, "inputs", ()) for layer in self.layers)
        vals = {}  # layer outputs a later layer reads by name
        cur = x.astype(np.float32)
        for layer in self.layers:
            ins = tuple(getattr(layer, "inputs", ()))
            if ins:
                missing = [n for n in ins if n not in vals]
                if missing:
                    raise IRError(f"golden model: layer {layer.name} reads {missing}, which no earlier layer makes")
                args = [vals[n] for n in ins]
            else:
                args = [cur]
            if isinstance(layer, ThresholdLayer):
                cur = layer.run(args[0]).astype(np.float32)
            else:
                cur = layer.forward(*args)
            if graph:
                vals[layer.name] = cur
            if trace:
                outs[layer.name] = cur.astype(np.int32)
        return outs if trace else cur.astype(np.int32)

    def _run_dense(self, x: np.ndarray, trace: bool):
        """MLP path that keeps +-1 operands between XNOR layers (no bit round trips)."""
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
                    pm1 = np.where(acc >= layer.acc_thresholds[:, 0], np.float32(1), np.float32(-1))
                    cur = None
                    continue
                cur = layer.apply_thresholds(acc).astype(np.int32)
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
        if self.output_steps is not None:
            return apply_output_steps(acc, self.output_steps)
        if self.output_scale is None:
            return acc.astype(np.float32)
        u = acc.astype(np.float32)
        if self.output_pre is not None:
            # exact: a power-of-two scale and an integer (or half-integer) offset on small integers
            u = (u * np.float32(self.output_pre[0]) + np.asarray(self.output_pre[1], dtype=np.float32)).astype(
                np.float32
            )
        y = u * self.output_scale.astype(np.float32)
        return (y + self.output_bias.astype(np.float32)).astype(np.float32)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class decisions (argmax of the integer outputs; the affine keeps the order only
        when every scale is positive, so the affine is applied first)."""
        return np.argmax(self.apply_output_affine(self.run(x)), axis=-1)

    # --- persistence (plain .npz, readable with NumPy alone) -------------------------
    _FIELDS = {
        "threshold": ("thresholds", "in_range", "inputs", "negate"),
        "concat": ("shape", "inputs", "in_ranges"),
        "xnor_dense": ("weights", "thresholds", "inputs"),
        "int_dense": ("weights", "thresholds", "in_levels", "inputs"),
        "conv": (
            "in_shape",
            "kernel",
            "stride",
            "pad",
            "pad_value",
            "weights",
            "xnor",
            "thresholds",
            "in_levels",
            "inputs",
        ),
        "maxpool": ("in_shape", "kernel", "stride", "in_levels", "in_lo", "inputs"),
        "fixed_chain": (
            "shape",
            "breakpoint",
            "pos_slope",
            "neg_slope",
            "offset",
            "in_frac",
            "frac",
            "slope_frac",
            "width",
            "in_range",
            "rounding",
            "overflow",
            "inputs",
        ),
        "fixed_add": ("shape", "width", "inputs", "overflow"),
        "flatten": ("in_shape", "in_levels", "inputs"),
    }
    _CLASSES = {
        "threshold": ThresholdLayer,
        "xnor_dense": XnorDenseLayer,
        "int_dense": IntDenseLayer,
        "conv": ConvLayer,
        "maxpool": MaxPoolLayer,
        "flatten": FlattenLayer,
        "fixed_chain": FixedChainLayer,
        "fixed_add": FixedAddLayer,
        "concat": ConcatLayer,
    }

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
        if self.output_pre is not None:
            arrays["out_pre_scale"] = np.asarray(self.output_pre[0], dtype=np.float32)
            arrays["out_pre_offset"] = np.asarray(self.output_pre[1], dtype=np.float32)
        if self.output_steps is not None:
            arrays["out_step_ops"] = np.asarray([op for op, _ in self.output_steps])
            for i, (_, c) in enumerate(self.output_steps):
                arrays[f"out_step{i}"] = np.asarray(c, dtype=np.float32)
        for i, layer in enumerate(self.layers):
            for f in self._FIELDS[layer.kind]:
                v = getattr(layer, f)
                if v is not None and not (f == "inputs" and not v):
                    arrays[f"l{i}_{f}"] = np.asarray(v)
        with open(path, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path) -> IntegerNetwork:
        """The network saved in ``path`` (:meth:`save`); an :class:`IRError` names a file that is
        not one (missing, truncated, another kind of ``.npz``)."""
        try:
            return cls._load(path)
        except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as e:
            if isinstance(e, IRError):
                raise
            raise IRError(
                f"{path}: not a readable golden.npz ({type(e).__name__}: {e}); re-run the compile stage"
            ) from None

    @classmethod
    def _load(cls, path) -> IntegerNetwork:
        with np.load(path, allow_pickle=False) as z:
            layers = []
            for i, (name, kind) in enumerate(zip(z["meta_names"], z["meta_kinds"])):
                name, kind = str(name), str(kind)
                if kind not in cls._FIELDS:
                    raise IRError(f"{path}: unknown layer kind {kind!r} for layer {name}")
                kw = {}
                for f in cls._FIELDS[kind]:
                    key = f"l{i}_{f}"
                    if key not in z:
                        continue
                    v = z[key]
                    if f in ("in_shape", "in_range", "shape"):
                        v = tuple(int(e) for e in v)
                    elif f == "inputs":
                        v = tuple(str(e) for e in v)
                    elif f in ("rounding", "overflow"):
                        v = str(v)
                    elif f in (
                        "kernel",
                        "stride",
                        "pad",
                        "pad_value",
                        "in_levels",
                        "in_lo",
                        "in_frac",
                        "frac",
                        "slope_frac",
                        "width",
                    ):
                        v = int(v)
                    elif f == "xnor":
                        v = bool(v)
                    kw[f] = v
                layers.append(cls._CLASSES[kind](name, **kw))
            scale = z.get("out_scale", None)
            bias = z.get("out_bias", None)
            pre = (z["out_pre_scale"][()], z["out_pre_offset"]) if "out_pre_scale" in z else None
            steps = None
            if "out_step_ops" in z:
                steps = tuple((str(op), z[f"out_step{i}"]) for i, op in enumerate(z["out_step_ops"]))
            return cls(
                layers,
                scale,
                bias,
                tuple(int(v) for v in z["meta_input_shape"]),
                tuple(int(v) for v in z["meta_input_range"]),
                pre,
                steps,
            )

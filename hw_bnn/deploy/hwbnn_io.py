"""Host-side data layout of a hw-bnn accelerator: NumPy only (no pynq, no hw_bnn), so it runs
on the board, on a PC, and in the tests alike.  Copied verbatim into a deploy folder as
``hwbnn_io.py``; the shapes are that folder's ``io_shapes.json``.

Inputs are in the model's layout, ``(N, *input_shape)`` integer codes in ``input_range``
(``(N, C, H, W)`` for images, streamed as NHWC pixels).  A stream's buffer (``io_shapes.json``
``in`` / ``out``): per frame ``beats`` beats; per beat ``elems`` values, value k at bytes
``[k * value_bytes, (k + 1) * value_bytes)``, little-endian, two's complement where signed; then
zero bytes up to ``beat_bytes`` (whole TDATA words).  Frame n starts at byte
``n * frame_bytes``.  Outputs come back as ``(N, *output_shape)`` integers (NHWC for feature
maps), the golden model's ``run``; :func:`predict` applies the output affine and the argmax.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SHAPES = "io_shapes.json"


def load_shapes(path=None) -> dict:
    """The shapes of a deploy folder: ``path`` is ``io_shapes.json`` or its folder (default: the
    folder of this file)."""
    p = Path(path) if path is not None else Path(__file__).resolve().parent
    if p.is_dir():
        p = p / SHAPES
    return json.loads(p.read_text())


def to_stream_order(x, shapes: dict) -> np.ndarray:
    """Model-layout inputs ``(N, *input_shape)`` (or flat ``(N, values)``) -> ``(N, frame)``
    int64 codes in stream order; raises ``ValueError`` for a wrong shape or a code out of range."""
    x = np.asarray(x)
    shape = tuple(shapes["input_shape"])
    n_values = int(np.prod(shape))
    if x.ndim == len(shape):
        x = x[None]
    if x.ndim == 2 and x.shape[1] == n_values:
        x = x.reshape(len(x), *shape)
    if tuple(x.shape[1:]) != shape:
        raise ValueError(f"inputs of shape {x.shape}: the accelerator takes (N, {', '.join(map(str, shape))})")
    lo, hi = shapes["input_range"]
    if x.size and (not np.all(x == np.round(x)) or x.min() < lo or x.max() > hi):
        raise ValueError(f"inputs must be integers in [{lo}, {hi}]")
    if len(shape) == 3:
        x = np.transpose(x, (0, 2, 3, 1))  # NCHW -> NHWC: pixel by pixel, channels within a pixel
    return np.ascontiguousarray(x).reshape(len(x), -1).astype(np.int64)


def pack_frames(codes, stream: dict) -> np.ndarray:
    """``(N, frame)`` integer codes -> the stream's buffer, ``N * frame_bytes`` uint8."""
    codes = np.asarray(codes, dtype=np.int64)
    n, vb = len(codes), stream["value_bytes"]
    beats = codes.reshape(n, stream["beats"], stream["elems"])
    raw = beats.astype("<i8").view(np.uint8).reshape(n, stream["beats"], stream["elems"], 8)[..., :vb]
    out = np.zeros((n, stream["beats"], stream["beat_bytes"]), dtype=np.uint8)
    out[:, :, : stream["elems"] * vb] = raw.reshape(n, stream["beats"], -1)
    return out.reshape(-1)


def unpack_frames(buf, n: int, stream: dict) -> np.ndarray:
    """The stream's buffer (at least ``n * frame_bytes`` bytes) -> ``(n, frame)`` int64 values
    (the low ``bits`` bits of each value's bytes, sign-extended where ``signed``)."""
    vb, elems = stream["value_bytes"], stream["elems"]
    raw = np.asarray(buf, dtype=np.uint8).reshape(-1)[: n * stream["frame_bytes"]]
    raw = raw.reshape(n, stream["beats"], stream["beat_bytes"])[:, :, : elems * vb]
    wide = np.zeros((n, stream["beats"], elems, 8), dtype=np.uint8)
    wide[..., :vb] = raw.reshape(n, stream["beats"], elems, vb)
    v = wide.view("<u8").reshape(n, -1).astype(np.int64)
    bits = stream["bits"]
    v &= (1 << bits) - 1
    if stream["signed"]:
        v -= (v >> (bits - 1)) << bits
    return v


def pack_input(x, shapes: dict) -> np.ndarray:
    """Model-layout inputs -> the input buffer (uint8)."""
    return pack_frames(to_stream_order(x, shapes), shapes["in"])


def unpack_output(buf, n: int, shapes: dict) -> np.ndarray:
    """The output buffer of ``n`` frames -> ``(n, *output_shape)`` int64."""
    return unpack_frames(buf, n, shapes["out"]).reshape(n, *shapes["output_shape"])


def output_scores(outputs, shapes: dict) -> np.ndarray:
    """The documented output affine on integer outputs (float32), as the golden model applies it."""
    u = np.asarray(outputs).astype(np.float32)
    affine = shapes.get("output_affine")
    if not affine:
        return u
    if affine.get("steps") is not None:  # u = float32(u op c), step after step
        ops = {"Mul": np.multiply, "Add": np.add, "Sub": np.subtract, "Div": np.divide}
        for step in affine["steps"]:
            u = ops[step["op"]](u, np.asarray(step["const"], dtype=np.float32)).astype(np.float32)
        return u
    if affine.get("pre_scale") is not None:
        pre = np.float32(affine["pre_scale"])
        u = (u * pre + np.asarray(affine["pre_offset"], dtype=np.float32)).astype(np.float32)
    y = u * np.asarray(affine["scale"], dtype=np.float32)
    return (y + np.asarray(affine["bias"], dtype=np.float32)).astype(np.float32)


def predict(outputs, shapes: dict) -> np.ndarray:
    """Class decisions, as the golden model's ``predict``: the argmax of the scores over the
    last axis (the classes; per pixel for a feature map)."""
    return np.argmax(output_scores(outputs, shapes), axis=-1)

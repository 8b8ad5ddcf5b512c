"""``io_shapes.json`` of a deploy folder: what the driver needs to pack inputs and unpack outputs
without hw_bnn (read by ``hwbnn_io.py``).

=====================  ================================================================
``input_shape``        the model's input per frame (``[C, H, W]`` images, ``[n]`` vectors)
``input_range``        ``[lo, hi]`` of the integer input codes
``output_shape``       the golden model's output per frame (NHWC for feature maps)
``in`` / ``out``       the streams' layouts (:func:`hw_bnn.sim.axissim.stream_layout`): elems,
                       bits, signed, frame, beats, value_bytes, tdata_bits, words_per_beat,
                       beat_bytes, frame_bytes
``axis_params``        the parameters of ``hwbnn_axis`` (``rtl/hwbnn_axis_bd.v`` fixes them)
``output_affine``      scale, bias (and pre_scale, pre_offset) of the documented output affine,
                       or its float32 ``steps`` ([{op, const}], in place of scale and bias),
                       or null: the decision is the argmax of the affine's scores
``max_transfer_bytes`` the most one DMA transfer moves (the DMA's 26-bit length register)
``fclk_mhz``, ``dma``  the fabric clock the bitstream is built for; the DMA's name in the design
=====================  ================================================================
"""

from __future__ import annotations

import numpy as np

from hw_bnn.ir.network import steps_json
from hw_bnn.sim.axissim import axis_params, stream_layout

SHAPES_FILE = "io_shapes.json"
LENGTH_BITS = 26  # the AXI DMA's buffer length register (c_sg_length_width), its largest


def _affine(golden) -> dict | None:
    if golden.output_steps is not None:
        return {"steps": steps_json(golden.output_steps)}
    if golden.output_scale is None:
        return None
    out = {
        "scale": np.asarray(golden.output_scale, dtype=np.float32).reshape(-1).tolist(),
        "bias": np.asarray(golden.output_bias, dtype=np.float32).reshape(-1).tolist(),
    }
    if golden.output_pre is not None:
        out["pre_scale"] = float(np.float32(golden.output_pre[0]))
        out["pre_offset"] = np.asarray(golden.output_pre[1], dtype=np.float32).reshape(-1).tolist()
    return out


def output_shape(golden) -> list[int]:
    """The golden model's output per frame, from one frame of the lowest input code."""
    lo = golden.input_range[0]
    return list(np.asarray(golden.run(np.full((1, *golden.input_shape), lo))).shape[1:])


def io_shapes(golden, project: dict, s_bits=None, m_bits=None, fclk_mhz: float = 100.0) -> dict:
    """``io_shapes.json`` for ``golden`` and its RTL project ``project`` (``rtl_project.json``),
    TDATA widths ``s_bits`` / ``m_bits`` (default: the smallest that holds a beat, at most 64)."""
    params = axis_params(project, s_bits, m_bits)
    return {
        "format": 1,
        "input_shape": [int(v) for v in golden.input_shape],
        "input_range": [int(v) for v in golden.input_range],
        "output_shape": [int(v) for v in output_shape(golden)],
        "in": stream_layout(project["input"], params["S_W"]),
        "out": stream_layout(project["units"][-1]["out"], params["M_W"]),
        "axis_params": params,
        "output_affine": _affine(golden),
        "max_transfer_bytes": 2**LENGTH_BITS - 1,
        "fclk_mhz": float(fclk_mhz),
        "dma": "dma",
    }

"""Verification: the golden model against a simulation of the hardware, integer by integer.

For a split of images ``x`` the golden model's outputs ``g = golden.run(x)`` and the
simulation's ``h`` must be equal element for element; an image is mismatched when any of its
outputs differ.  For the first mismatched image the per-layer traces of both are compared in the
golden layer order (a topological order of the graph), and the first layer whose output differs
is named with its first differing element: the layers before it agree, so the error is in it.
"""

from __future__ import annotations

import time

import numpy as np

from hw_bnn.errors import VerifyError


def check_inputs(x, golden, source: str = "inputs") -> np.ndarray:
    """Inputs to verify on, checked against the golden model: a non-empty integer array of shape
    ``(N, *golden.input_shape)`` with every value in ``golden.input_range``; as int64.  A
    :class:`VerifyError` naming ``source`` says what is wrong and where."""
    try:
        x = np.asarray(x)
    except (ValueError, TypeError) as e:
        raise VerifyError(f"{source}: not an array ({e})") from None
    want = tuple(golden.input_shape)
    shape = f"(N, {', '.join(map(str, want))})"
    if not (np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_):
        raise VerifyError(f"{source}: has dtype {x.dtype}; expected an integer array {shape} (e.g. x.astype(np.int64))")
    if x.ndim != 1 + len(want) or tuple(x.shape[1:]) != want:
        raise VerifyError(f"{source}: has shape {tuple(x.shape)}; the model takes {shape}")
    if len(x) == 0:
        raise VerifyError(f"{source}: holds no inputs (shape {tuple(x.shape)}); expected at least one")
    lo, hi = golden.input_range
    bad = np.flatnonzero(((x < lo) | (x > hi)).reshape(len(x), -1).any(axis=1))
    if len(bad):
        raise VerifyError(
            f"{source}: values must lie in [{lo}, {hi}] (the model's input range); "
            f"{len(bad)} inputs do not, the first is input {int(bad[0])} (min {x[bad[0]].min()}, max {x[bad[0]].max()})"
        )
    return x.astype(np.int64)


def mismatched_images(golden_out: np.ndarray, sim_out: np.ndarray) -> np.ndarray:
    """Indices of the images whose outputs differ anywhere (outputs ``(N, ...)``)."""
    n = len(golden_out)
    return np.flatnonzero(np.any((np.asarray(golden_out) != np.asarray(sim_out)).reshape(n, -1), axis=1))


def first_divergent_layer(layers, golden_trace: dict, sim_trace: dict, sim: str = "csim") -> dict:
    """The first of ``layers`` (golden order) whose traced output differs between the golden
    model and the simulation ``sim``, for one image: ``{"layer", "element", "golden", sim}``,
    or ``{"layer", "element": None, "golden_shape", sim + "_shape"}`` when the shapes differ,
    or ``{"layer": None}`` when every layer agrees."""
    for layer in layers:
        a = np.asarray(golden_trace[layer.name]).reshape(-1)
        b = np.asarray(sim_trace[layer.name]).reshape(-1)
        if a.shape != b.shape:
            return {"layer": layer.name, "element": None, "golden_shape": list(a.shape), f"{sim}_shape": list(b.shape)}
        if np.any(a != b):
            e = int(np.flatnonzero(a != b)[0])
            return {"layer": layer.name, "element": e, "golden": int(a[e]), sim: int(b[e])}
    return {"layer": None}


def first_divergence(golden, hls_model, x_one: np.ndarray) -> dict:
    """:func:`first_divergent_layer` of the C simulation ``hls_model`` for one image ``x_one``
    (golden input layout), from both per-layer traces (``csim_trace`` costs one more g++ build)."""
    from hw_bnn.sim.csim import csim_trace

    g = golden.run(x_one[None], trace=True)
    h = csim_trace(hls_model, x_one[None])
    return first_divergent_layer(golden.layers, g, h, "csim")


def verify_split(golden, hls_model, x: np.ndarray, y: np.ndarray, csim_limit: int | None = None) -> dict:
    """Golden model vs C simulation on one split: the golden model scores every image of ``x``
    (``accuracy``, when the labels ``y`` are known, i.e. not negative), the C simulation runs
    on the first ``csim_limit`` (default all) and must give the same integers."""
    from hw_bnn.sim.csim import csim_predict

    xc = x[: csim_limit or None]
    t0 = time.time()
    g_all = golden.run(x)
    t_golden = time.time() - t0
    g = g_all[: len(xc)]
    t0 = time.time()
    h = csim_predict(hls_model, xc)
    t_csim = time.time() - t0
    bad = mismatched_images(g, h)
    entry = {
        "images": len(xc),
        "scored_images": len(x),
        "mismatched_images": len(bad),
        "mismatched_elements": int((g != h).sum()),
        "golden_seconds": round(t_golden, 3),
        "csim_seconds": round(t_csim, 3),
    }
    if y.min() >= 0:
        entry["accuracy"] = float((np.argmax(golden.apply_output_affine(g_all), axis=-1) == y).mean())
    if len(bad):
        entry["first_mismatch"] = {"image": int(bad[0]), **first_divergence(golden, hls_model, x[bad[0]])}
    return entry

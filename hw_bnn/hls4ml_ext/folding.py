"""How the emitted kernels are scheduled: PE / SIMD folding of the matrix-vector units (checked,
per layer: ``resolve_folding``), their weight memory, and the reuse-factor schedule of the other
layers (no hls4ml import).

Folding (matrix-vector units: ``MW`` inputs, ``MH`` outputs; a conv has ``MW = k * k * C_in``
and ``MH = C_out`` per output pixel), as FINN's MVAU: ``PE`` outputs and ``SIMD`` inputs in
parallel, ``NF = ceil(MH / PE)`` neuron folds of ``SF = MW / SIMD`` synapse folds, ``NF * SF``
II=1 steps per vector.  SIMD must divide MW; an explicit PE must divide MH.

Reuse factor (hls4ml's ReuseFactor ``RF``): ``n_pe = ceil(n / RF)`` of ``n`` units work in
parallel and ``n_fold = ceil(n / n_pe) <= RF`` sequential steps cover them (the C++ config's
``n_pe`` / ``n_fold``).  The multi-threshold schedules its channels so; a matrix-vector unit
that names no PE / SIMD takes ``PE = n_pe`` of its ``MH`` outputs and ``SIMD = MW`` (the last
neuron fold may then have idle PEs).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from hw_bnn.errors import EmitError
from hw_bnn.ir import MATRIX_KINDS, divisors

XNOR_WORD_BITS = 32  # packed XNOR words (weights are written as text: values stay exact below 2**53)
FOLDING_KEYS = ("PE", "SIMD")


def reuse_factor_schedule(n_units: int, reuse_factor: int) -> tuple[int, int]:
    """``(n_pe, n_fold)`` of ``n_units`` units under a reuse factor ``RF``: ``n_pe = ceil(n / RF)``
    in parallel, ``n_fold = ceil(n / n_pe) <= RF`` sequential steps (an II=1 pipelined loop)."""
    rf = int(reuse_factor)
    if rf < 1:
        raise EmitError(f"ReuseFactor must be a positive integer, got {reuse_factor!r}")
    n_units = max(1, int(n_units))
    n_pe = math.ceil(n_units / rf)
    n_fold = math.ceil(n_units / n_pe)
    return n_pe, n_fold


def mvu_folds(mw: int, mh: int, pe: int, simd: int) -> tuple[int, int]:
    """(nf, sf): neuron folds ``ceil(MH / PE)`` and synapse folds ``MW / SIMD``."""
    return math.ceil(int(mh) / int(pe)), int(mw) // int(simd)


def check_mvu_folding(name: str, mw: int, mh: int, pe, simd, ragged_pe: bool = False, mw_what: str = "") -> None:
    """Raise ``EmitError`` naming the layer unless ``1 <= PE <= MH`` divides MH (any PE with
    ``ragged_pe``: the reuse-factor schedule) and ``1 <= SIMD <= MW`` divides MW.  ``mw_what`` says
    what MW counts (e.g. ``" = 3*3*8 (kernel*kernel*C_in)"``)."""
    for key, v, dim, n, what in (("PE", pe, "MH", mh, ""), ("SIMD", simd, "MW", mw, mw_what)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) < 1:
            raise EmitError(f"layer {name!r}: {key} must be a positive integer, got {v!r}")
        v, n = int(v), int(n)
        if v > n or (n % v and not (ragged_pe and key == "PE")):
            divs = divisors(n)
            shown = ", ".join(map(str, divs[:24])) + (", ..." if len(divs) > 24 else "")
            why = f"exceeds {dim}={n}" if v > n else f"does not divide {dim}={n}"
            raise EmitError(f"layer {name!r}: {key}={v} {why}{what}; {key} must be a divisor of {dim}: {shown}")


def xnor_words(simd: int) -> tuple[int, int]:
    """(word_bits, chunk_words) of a packed XNOR slice of ``simd`` bits: bit i -> word i // B, bit i % B."""
    bits = max(1, min(int(simd), XNOR_WORD_BITS))
    return bits, math.ceil(int(simd) / bits)


def mvu_weight_memory(weights, pe: int, simd: int, xnor: bool) -> tuple[np.ndarray, int, int]:
    """Weights ``W (MW, MH)`` of a matrix-vector unit -> ``(memory, word_bits, chunk_words)``.

    ``memory[((n * sf + s) * PE + k) * chunk_words + q]`` is word ``q`` of the weights PE ``k``
    reads at neuron fold ``n``, synapse fold ``s``: the column ``j = n * PE + k`` over the rows
    ``s * SIMD .. s * SIMD + SIMD - 1``.  Integer: ``chunk_words = SIMD`` single weights.  XNOR:
    those SIMD bits packed into ``chunk_words`` words of ``word_bits = min(SIMD, 32)`` bits (row
    ``s * SIMD + q * word_bits + b`` -> bit ``b``; unused high bits 0).  Columns ``j >= MH`` (idle
    PEs of a ragged last neuron fold) are zero.  With ``SIMD = MW`` the integer layout is the
    neuron-major ``memory[j * MW + i] = W[i, j]``.
    """
    w = np.asarray(weights, dtype=np.int64)
    mw, mh = w.shape
    nf, sf = mvu_folds(mw, mh, pe, simd)
    wp = np.zeros((mw, nf * pe), dtype=np.int64)
    wp[:, :mh] = w
    t = wp.reshape(sf, simd, nf, pe).transpose(2, 0, 3, 1)  # (n, s, k, i)
    if not xnor:
        return np.ascontiguousarray(t).reshape(-1), 1, int(simd)
    bits, words = xnor_words(simd)
    padded = np.zeros((nf, sf, pe, words * bits), dtype=np.int64)
    padded[..., :simd] = t
    shifts = np.arange(bits, dtype=np.int64)
    packed = (padded.reshape(nf, sf, pe, words, bits) << shifts).sum(axis=-1)
    return np.ascontiguousarray(packed).reshape(-1), bits, words


def reuse_factor_for(reuse_factor, name: str) -> int:
    """The reuse factor of layer ``name``: ``reuse_factor`` itself, or its entry for ``name`` (else
    ``"default"``, else 1) when it is a mapping; a positive integer."""
    if isinstance(reuse_factor, Mapping):
        rf = reuse_factor.get(name, reuse_factor.get("default", 1))
    else:
        rf = reuse_factor
    if isinstance(rf, bool) or not isinstance(rf, (int, np.integer)) or int(rf) < 1:
        raise EmitError(f"layer {name!r}: ReuseFactor must be a positive integer, got {rf!r}")
    return int(rf)


# --------------------------------------------------------------------------------------------
# PE / SIMD folding


def _check_folding_names(infos: dict, mvus: list, folding, reuse_factor) -> None:
    if not isinstance(folding, Mapping):
        raise EmitError(
            f"folding must be a mapping {{layer name: {{'PE': p, 'SIMD': s}}}}, got {type(folding).__name__}"
        )
    listing = ", ".join(repr(n) for n in mvus) or "none"
    unknown = [n for n in folding if n not in infos]
    if unknown:
        raise EmitError(f"folding names unknown layers {unknown}; the matrix-vector layers are: {listing}")
    for name in folding:
        if name not in mvus:
            raise EmitError(
                f"layer {name!r}: folding (PE/SIMD) applies to matrix-vector layers ({', '.join(MATRIX_KINDS)}), not "
                f"to a {infos[name]['kind']} layer; the matrix-vector layers are: {listing}"
            )
        if isinstance(reuse_factor, Mapping) and name in reuse_factor:
            raise EmitError(
                f"layer {name!r}: named by both folding and reuse_factor (its ReuseFactor follows from the folding: "
                "NF * SF); give one of them"
            )


def _unit_folding(info: dict, rf: int, folding: Mapping) -> dict:
    """The folding of one matrix-vector unit: from its ``folding`` entry, else its reuse factor."""
    name, mw, mh = info["name"], int(info["mw"]), int(info["mh"])
    if name in folding:
        entry = folding[name]
        if not isinstance(entry, Mapping) or not entry or set(entry) - set(FOLDING_KEYS):
            raise EmitError(f"layer {name!r}: a folding entry is a mapping with keys 'PE' and/or 'SIMD', got {entry!r}")
        pe, simd = entry.get("PE", mh), entry.get("SIMD", mw)
        what = (
            f" (= {info['kernel']}*{info['kernel']}*{info['in_shape'][-1]}, kernel*kernel*C_in)"
            if info["kind"] == "conv"
            else ""
        )
        check_mvu_folding(name, mw, mh, pe, simd, mw_what=what)
        src = "folding"
    else:
        pe, simd, src = reuse_factor_schedule(mh, rf)[0], mw, "reuse_factor"
    nf, sf = mvu_folds(mw, mh, pe, simd)
    pixels = int(np.prod(info["out_shape"][:-1])) if info["kind"] == "conv" else 1
    return {
        "PE": int(pe),
        "SIMD": int(simd),
        "MH": mh,
        "MW": mw,
        "NF": nf,
        "SF": sf,
        "reuse_factor": nf * sf if src == "folding" else rf,
        "cycles_per_frame": nf * sf * pixels,
        "from": src,
    }


def resolve_folding(plan: dict, reuse_factor=1, folding=None) -> dict:
    """PE / SIMD of every matrix-vector layer of ``plan`` (``plan_network``), checked.

    ``folding``: ``None`` or a mapping ``{golden layer name: {"PE": p, "SIMD": s}}`` naming
    matrix-vector layers only; a missing key is fully parallel (PE = MH, SIMD = MW).  PE must
    divide MH and SIMD must divide MW (a conv's MW is kernel * kernel * C_in: any divisor of it).
    Layers it does not name take the reuse-factor schedule of ``reuse_factor`` (an int, or
    ``{name: int, "default": int}``): PE = ceil(MH / RF), SIMD = MW.  A layer may not be named by
    both mappings.

    Returns ``{name: {"PE", "SIMD", "MH", "MW", "NF", "SF", "reuse_factor", "cycles_per_frame",
    "from"}}`` in network order: NF = ceil(MH / PE), SF = MW / SIMD, ``reuse_factor``: hls4ml's
    ReuseFactor of the layer (NF * SF when ``folding`` names it, else the ``reuse_factor``
    argument's), cycles per frame NF * SF (times the output pixels of a conv), ``from``:
    ``"folding"`` or ``"reuse_factor"``.
    Raises ``EmitError`` naming the layer, the value and what was expected.
    """
    infos = {info["name"]: info for info in plan["layers"]}
    mvus = [info["name"] for info in plan["layers"] if info["kind"] in MATRIX_KINDS]
    folding = {} if folding is None else folding
    _check_folding_names(infos, mvus, folding, reuse_factor)
    return {name: _unit_folding(infos[name], reuse_factor_for(reuse_factor, name), folding) for name in mvus}

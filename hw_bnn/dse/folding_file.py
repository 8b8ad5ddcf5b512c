"""``folding.json``: the folding ``hw-bnn fold`` writes and ``hw-bnn flow --folding`` reads.

The file is either ``hw-bnn fold``'s document (the folding under its ``"folding"`` key, beside
the cost and the fit) or a bare ``{layer: {"PE": p, "SIMD": s}}`` mapping.  Each layer is checked
against :class:`LayerFolding` (PE and SIMD ints >= 1, either may be left out: fully parallel);
whether they divide the layer's dimensions is :func:`hw_bnn.dse.units.check_folding`'s job.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, ValidationError

from hw_bnn.errors import FoldingError
from hw_bnn.schema import Strict, describe, read_document

FOLDING_FILE = "folding.json"
SHAPE = '{"layer": {"PE": int, "SIMD": int}, ...}'


def _at_least_one(v: int) -> int:
    if v < 1:
        raise ValueError("expected an int >= 1")
    return v


Factor = Annotated[int, AfterValidator(_at_least_one)]


class LayerFolding(Strict):
    """One layer's folding: PE (output rows computed in parallel), SIMD (inputs per cycle)."""

    PE: Factor = None  # left out: fully parallel (null is not taken)
    SIMD: Factor = None


def check_folding(folding: dict, source: str) -> dict[str, dict[str, int]]:
    """``folding`` (``{layer: {"PE": p, "SIMD": s}}``) checked, as a plain dict with the keys as
    given; a :class:`FoldingError` names ``source`` and each bad ``layer.key``."""
    if not isinstance(folding, dict):
        raise FoldingError(f"{source}: expected {SHAPE} (or hw-bnn fold's folding.json), got {type(folding).__name__}")
    out, problems = {}, []
    for name, layer in folding.items():
        if not isinstance(name, str) or not name.strip():
            problems.append(f"{name!r}: expected a layer name (a non-empty string)")
        elif not isinstance(layer, dict):
            problems.append(f'{name}: expected {{"PE": int, "SIMD": int}} (got {layer!r})')
        else:
            try:
                out[name] = LayerFolding.model_validate(layer).model_dump(exclude_unset=True)
            except ValidationError as e:
                problems += [f"{name}.{describe(LayerFolding, err)}" for err in e.errors()]
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise FoldingError(f"{source}: " + "; ".join(problems[:3]) + more)
    return out


def load_folding(path) -> dict[str, dict[str, int]]:
    """The folding of a ``folding.json`` (as ``hw-bnn fold`` writes it) or a bare
    ``{layer: {"PE": p, "SIMD": s}}`` JSON file, checked by :func:`check_folding`."""
    hint = " (write one with hw-bnn fold --out BUILD ...)"
    doc = read_document(path, FoldingError, "folding file", fmt="json", hint=hint)
    return check_folding(doc.get("folding", doc) if isinstance(doc, dict) else doc, str(path))

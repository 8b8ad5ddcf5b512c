"""``folding.json``: the folding ``hw-bnn fold`` writes and ``hw-bnn flow --folding`` reads.

The file is either ``hw-bnn fold``'s document (the folding under its ``"folding"`` key, beside
the cost and the fit) or a bare ``{layer: {"PE": p, "SIMD": s}}`` mapping.
"""

from __future__ import annotations

import json
from pathlib import Path

from hw_bnn.errors import FoldingError

FOLDING_FILE = "folding.json"


def load_folding(path) -> dict:
    """The ``folding`` of a ``folding.json`` (as ``hw-bnn fold`` writes it) or a bare
    ``{layer: {"PE": p, "SIMD": s}}`` JSON file; errors name the file."""
    p = Path(path)
    if not p.is_file():
        raise FoldingError(f"{p}: folding file does not exist (write one with hw-bnn fold --out BUILD ...)")
    try:
        doc = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise FoldingError(f"{p}: not JSON ({e})") from None
    folding = doc.get("folding", doc) if isinstance(doc, dict) else None
    if not isinstance(folding, dict) or not all(
        isinstance(v, dict) and set(v) <= {"PE", "SIMD"} and all(isinstance(x, int) and x > 0 for x in v.values())
        for v in folding.values()
    ):
        raise FoldingError(
            f'{p}: expected {{"layer": {{"PE": int, "SIMD": int}}, ...}} (or hw-bnn fold\'s folding.json)'
        )
    return folding

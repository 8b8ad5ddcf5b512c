"""The JSON records a sweep keeps on disk, and the content keys that decide what is reused.

A key is ``sha256`` of the canonical JSON (sorted keys) of what determines a result: a network
point's settings (with the code of the cost model and the search), or a folding.  Equal keys
mean equal results, so a finished point or a verified folding with the same key is not redone.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from hw_bnn.files import write_text_atomic


def json_default(o):
    """JSON for NumPy scalars and paths (everything else is an error)."""
    if hasattr(o, "item"):  # numpy scalars
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def write_json(path: Path, obj) -> None:
    """``obj`` as indented JSON with a final newline, written atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2, default=json_default) + "\n")


def content_key(obj) -> str:
    """``sha256`` (hex) of ``obj`` as canonical JSON."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=json_default).encode()).hexdigest()

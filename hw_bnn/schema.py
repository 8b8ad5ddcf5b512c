"""Schemas for the files and settings a user writes: recipes, sweep specs, folding files and the
flow config, each a pydantic model.

:func:`validate` checks a mapping against a model and turns pydantic's report into one line per
problem that names the file and the key (``models/x.yaml: hiden: unknown key (did you mean
hidden?)``), raised as the caller's error class.  A model takes no unknown keys
(:class:`Strict`), and its field types do not coerce (``"abc"`` is not an int, ``1.5`` is not
an int, ``true`` is not an int).
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from hw_bnn.errors import HwBnnError

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """A schema that rejects unknown keys and does not coerce types (``"3"`` is not an int)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=False)


def _path(loc: tuple) -> str:
    """pydantic's error location as a key path: ``train.epochs``, ``hidden[2]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and not part.startswith(("function-", "constrained-")):
            out += ("." if out else "") + part
    return out or "(top level)"


def _fields(model) -> dict:
    """A pydantic model's or pydantic dataclass's fields."""
    return getattr(model, "model_fields", None) or getattr(model, "__pydantic_fields__", {})


def _known_keys(model, loc: tuple) -> list[str]:
    """The keys the mapping at ``loc`` (the unknown key's parent) takes, for a hint."""
    m = model
    for part in loc[:-1]:
        field = _fields(m).get(part) if isinstance(part, str) else None
        ann = getattr(field, "annotation", None)
        if isinstance(ann, type) and _fields(ann):
            m = ann
        else:
            return []
    return [f.alias or name for name, f in _fields(m).items()]


def did_you_mean(name: str, known) -> str:
    """`` (did you mean X?)`` for the known name closest to ``name``, or ``""``."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def describe(model: type[BaseModel], err: dict) -> str:
    """One pydantic error as ``key: what is wrong``, with "did you mean" for an unknown key."""
    key = _path(err["loc"])
    if err["type"] == "extra_forbidden":
        return f"{key}: unknown key{did_you_mean(str(err['loc'][-1]), _known_keys(model, err['loc']))}"
    if err["type"] == "missing":
        return f"{key}: required key is missing"
    msg = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    got = err.get("input")
    shown = repr(got) if not isinstance(got, (dict, list)) or len(repr(got)) < 60 else type(got).__name__
    return f"{key}: {msg} (got {shown})"


def validate(model: type[M], data, source: str, error: type[HwBnnError]) -> M:
    """``data`` checked against ``model``; an ``error`` naming ``source`` and each bad key."""
    if not isinstance(data, dict):
        raise error(f"{source}: expected a mapping of keys, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        problems = [describe(model, err) for err in e.errors()]
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise error(f"{source}: " + "; ".join(problems[:3]) + more) from None


def read_document(path, error: type[HwBnnError], what: str, fmt: str = "yaml", hint: str = ""):
    """The parsed YAML or JSON (``fmt``) of ``path``; an ``error`` naming the file when it is
    missing, unreadable or does not parse (``hint`` follows a missing file's message)."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise error(f"{p}: {what} does not exist{hint}")
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise error(f"{p}: cannot read the {what} ({e})") from None
    try:
        return json.loads(text) if fmt == "json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise error(f"{p}: not valid {fmt.upper()} ({e})") from None

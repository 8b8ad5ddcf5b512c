"""The sweep spec: its keys, its validation, and its expansion into network points.

A spec (YAML or a dict; the keys are :data:`SPEC_KEYS`, examples in ``models/sweeps/``) declares
the axes of a sweep.  :func:`load_spec` validates it against :class:`SpecFile` (errors are
:class:`SpecError` naming the file and the key: ``sweep.yaml: widths[1]: ...``) and
:meth:`SweepSpec.points` expands the product

    network points = recipes x bits x hidden shapes    (hidden shapes = widths x depths)

into JSON-ready dicts, each with the recipe it trains and the key (:func:`point_key`) that says
whether a stored result of it can be reused.  An axis takes one value or a list of them.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints, model_validator

from hw_bnn.dse.devices import get_device
from hw_bnn.dse.folding import target_cycles_from_fps
from hw_bnn.errors import HwBnnError, SpecError
from hw_bnn.explore.measured import MAX_MEASURED_LANES
from hw_bnn.explore.records import content_key
from hw_bnn.explore.results import COLUMNS
from hw_bnn.schema import Strict, read_document, validate
from hw_bnn.train.recipes import load_recipe, recipe_from_mapping

BITS_RE = re.compile(r"w([12])a([12])")


# --------------------------------------------------------------------------------------
# the schema


def _listed(v):
    """One value as a one-item list (an axis takes one value or a list)."""
    return v if v is None or isinstance(v, list) else [v]


def _unique(v: list) -> list:
    return list(dict.fromkeys(v))


def _bits(v: str) -> str:
    """A bits string, normalized: ``' W2A2'`` -> ``'w2a2'``."""
    v = v.strip().lower()
    if not BITS_RE.fullmatch(v):
        raise ValueError("expected 'w<W>a<A>' with W, A in 1, 2")
    return v


def _width(v):
    """A width: one int >= 1 (every hidden layer) or a list of ints >= 1 (the layers)."""
    ok = lambda x: type(x) is int and x >= 1  # noqa: E731
    if ok(v) or (isinstance(v, list) and all(map(ok, v))):
        return v
    raise ValueError("expected an int >= 1 (every hidden layer) or a list of ints >= 1 (the layers)")


def _recipe_entry(v):
    """A recipe name or path (stripped), or an inline recipe mapping with a ``name``."""
    if isinstance(v, str) and v.strip():
        return v.strip()
    if isinstance(v, dict) and isinstance(v.get("name"), str) and v["name"]:
        return v
    raise ValueError("expected a recipe name, a recipe .yaml path or an inline recipe mapping with a 'name'")


def _axis(item, unique: bool = True):
    """One ``item`` or a non-empty list of them, as a list (duplicates dropped with ``unique``)."""
    after = (AfterValidator(_unique),) if unique else ()
    return Annotated[(list[item], BeforeValidator(_listed), Field(min_length=1), *after)]


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
PosInt = Annotated[int, Field(ge=1)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Recipes = _axis(Annotated[Any, AfterValidator(_recipe_entry)], unique=False)
Bits = _axis(Annotated[str, AfterValidator(_bits)])
Widths = _axis(Annotated[Any, AfterValidator(_width)], unique=False)
Depths = _axis(Annotated[int, Field(ge=0)])
Cycles = _axis(PosInt)
Rates = _axis(Positive)
Devices = _axis(Annotated[str, AfterValidator(lambda v: get_device(v).name)])  # DeviceError is a ValueError


class Targets(Strict):
    """The throughput targets: cycle targets, then frame rates (``cycles = floor(clock_hz / fps)``)."""

    cycles: Cycles | None = Field(None, description="cycles per frame")
    fps: Rates | None = Field(None, description="frames per second")
    clock_mhz: Positive = Field(100.0, description="the clock (MHz) for frame rates and latency")

    @model_validator(mode="after")
    def _some_target(self):
        if self.cycles is None and self.fps is None:
            raise ValueError("expected 'cycles' and/or 'fps', got neither")
        return self


class SpecFile(Strict):
    """A sweep spec as written; the descriptions are :data:`SPEC_KEYS`."""

    name: Text | None = Field(None, description="a short name for the sweep (default: the file name)")
    description: str | None = Field(None, description="free text for the report")
    recipes: Recipes = Field(
        description="one or a list of recipe names (models/), recipe .yaml paths or inline recipe mappings"
    )
    bits: Bits | None = Field(
        None, description="one or a list of 'w<W>a<A>' strings with W, A in 1, 2 (e.g. [w1a1, w1a2, w2a2])"
    )
    widths: Widths | None = Field(
        None,
        description="one or a list of hidden-layer widths, each an int (every layer) or a list of ints (the layers)",
    )
    depths: Depths | None = Field(None, description="one or a list of ints >= 0: numbers of hidden layers")
    epochs: PosInt | None = Field(None, description="an int >= 1: training epochs of every network")
    targets: Targets = Field(
        description="a mapping with 'cycles' and/or 'fps' (an int / number or a list), optional 'clock_mhz'"
    )
    devices: Devices = Field(description="one or a list of device names (hw_bnn.dse.devices: parts or boards)")
    utilization_limit: Annotated[float, Field(gt=0, le=1)] = Field(
        1.0, description="a number in (0, 1]: usable fraction of each device resource"
    )
    csim_limit: Annotated[int, Field(ge=0)] = Field(
        100, description="an int >= 0: C-simulation images per split per folding (0: no C simulation)"
    )
    verify_limit: PosInt | None = Field(
        None, description="an int >= 1 or null: images per split for the compile checks (null: every image)"
    )
    data_dir: Text | None = Field(None, description="a folder (string) or null: IDX / CIFAR-10 files for a test split")
    threads_per_point: PosInt = Field(1, description="an int >= 1: torch threads of one network point")


SPEC_KEYS = {k: f.description for k, f in SpecFile.model_fields.items()}
DEFAULT_COST = {"model": "calibrated", "max_parallel": None, "max_measured_lanes": MAX_MEASURED_LANES}
TARGET_KEYS = tuple(Targets.model_fields)


def model_code_key() -> str:
    """A hash of the matrix units, the cost model and its calibration, the device catalogue and
    the folding search: results computed under another version of them are not reused (the
    flow's own stages still skip whatever is unchanged, so a re-run after such a change retrains
    nothing)."""
    from hw_bnn.dse import calibration, cost, devices, folding, units

    texts = [Path(m.__file__).read_text() for m in (units, cost, calibration, devices, folding)]
    return content_key([*texts, calibration.CALIBRATION_FILE.read_text()])


def point_key(point: dict) -> str:
    """The key of a network point: its settings, :func:`model_code_key` and the table's columns
    (a result stored under other columns is not reused)."""
    return content_key({**point, "model": model_code_key(), "columns": list(COLUMNS)})


def number_label(v) -> str:
    """A number as a short label: 1000000 -> '1000000', 2.5e6 -> '2500000', 1.5 -> '1.5'."""
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


@dataclass
class SweepSpec:
    """A validated sweep spec (see the module docstring); ``points()`` expands it."""

    name: str
    source: str
    recipes: list[dict]  # {"label": str, "recipe": recipe dict (Recipe.to_dict())}
    bits: list[str] | None
    widths: list | None
    depths: list[int] | None
    epochs: int | None
    targets: list[dict]  # {"label", "cycles", "clock_mhz", "fps"}
    devices: list[str]
    utilization_limit: float = 1.0
    csim_limit: int = 100
    verify_limit: int | None = None
    data_dir: str | None = None
    threads_per_point: int = 1
    description: str = ""
    raw: dict = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict:
        """The spec as given (normalized: device names canonical, paths absolute)."""
        d = {
            "name": self.name,
            "description": self.description or None,
            "recipes": [r["label"] for r in self.recipes],
            "bits": self.bits,
            "widths": self.widths,
            "depths": self.depths,
            "epochs": self.epochs,
            "targets": self.raw.get("targets"),
            "devices": self.devices,
            "utilization_limit": self.utilization_limit,
            "csim_limit": self.csim_limit,
            "verify_limit": self.verify_limit,
            "data_dir": self.data_dir,
            "threads_per_point": self.threads_per_point,
        }
        return {k: v for k, v in d.items() if v is not None}

    def hidden_options(self, recipe: dict, where: str) -> list[list[int]]:
        """The hidden-layer lists of one recipe: ``[w] * depth`` for every width and depth, a
        width list as given, or the recipe's own layers when neither axis is set."""
        base = list(recipe["hidden"])
        if self.widths is None and self.depths is None:
            return [base]
        if self.depths is None:
            return [[w] * len(base) if isinstance(w, int) else list(w) for w in self.widths]
        if self.widths is None:
            if not base:
                raise SpecError(
                    f"{self.source}: depths: recipe {where} has no hidden layers to repeat; "
                    "give int 'widths' with 'depths'"
                )
            return [[base[0]] * d for d in self.depths]
        return [[w] * d for w in self.widths for d in self.depths]

    def points(self, cost: dict | None = None) -> list[dict]:
        """Every network point, as a JSON-ready dict (what a Ray task receives).  ``cost``: the
        cost model of its hardware points (``{"model": "calibrated" | "finn" | "measured",
        "max_parallel": int | None, "max_measured_lanes": int}``, part of its key; default calibrated)."""
        cost = {**DEFAULT_COST, **(cost or {})}
        out, seen = [], {}
        for r in self.recipes:
            recipe = r["recipe"]
            stem = re.sub(r"-w\d+a\d+$", "", recipe["name"])
            for bits in self.bits or [f"w{recipe['weight_bits']}a{recipe['act_bits']}"]:
                w, a = (int(v) for v in BITS_RE.fullmatch(bits).groups())
                for hidden in self.hidden_options(recipe, r["label"]):
                    pid = self._point_id(stem, bits, hidden)
                    if pid in seen:
                        raise SpecError(
                            f"{self.source}: recipes: {seen[pid]!r} and {r['label']!r} both give the network "
                            f"point {pid!r}; rename one recipe (its 'name')"
                        )
                    seen[pid] = r["label"]
                    out.append(self._point(pid, r["label"], recipe, bits, (w, a), hidden, cost))
        return out

    def _point_id(self, stem: str, bits: str, hidden: list[int]) -> str:
        pid = f"{stem}-{bits}"
        if self.widths is not None or self.depths is not None:
            pid += "-h" + ("x".join(str(h) for h in hidden) or "0")
        return re.sub(r"[^A-Za-z0-9._-]", "_", pid)

    def _point(
        self, pid: str, label: str, recipe: dict, bits: str, wa: tuple[int, int], hidden: list[int], cost: dict
    ) -> dict:
        """One network point: the recipe with the point's name, bits and hidden layers."""
        w, a = wa
        rec = copy.deepcopy(recipe)
        rec.update(name=pid, weight_bits=w, act_bits=a, hidden=list(hidden))
        if self.epochs is not None:
            rec["train"]["epochs"] = int(self.epochs)
        check_recipe_dict(rec, f"{self.source}: network point {pid!r}")
        p = {
            "id": pid,
            "recipe_label": label,
            "recipe": rec,
            "bits": bits,
            "targets": self.targets,
            "devices": self.devices,
            "utilization_limit": self.utilization_limit,
            "csim_limit": self.csim_limit,
            "verify_limit": self.verify_limit,
            "data_dir": self.data_dir,
            "threads": self.threads_per_point,
            "cost": dict(cost),
        }
        p["key"] = point_key(p)
        return p


# --------------------------------------------------------------------------------------
# loading


def load_recipe_mapping(d: dict, name: str, where: str):
    """The recipe of a mapping (:func:`hw_bnn.train.recipes.recipe_from_mapping`); an error is a
    :class:`SpecError` at ``where`` that calls the mapping ``name``."""
    try:
        return recipe_from_mapping(d, f"{where}: {name}")
    except HwBnnError as e:
        raise SpecError(str(e)) from None


def check_recipe_dict(d: dict, where: str) -> None:
    """Validate a recipe mapping with :func:`hw_bnn.train.recipes.load_recipe`."""
    load_recipe_mapping(d, "recipe", where)


def resolve_path(value: str, spec_dir: Path | None) -> Path:
    """A path of the spec: as given when it exists (or is absolute), else beside the spec file."""
    p = Path(value).expanduser()
    if p.is_absolute() or p.exists() or spec_dir is None:
        return p.resolve()
    alt = spec_dir / p
    return alt.resolve() if alt.exists() else p.resolve()


def load_base_recipe(entry, i: int, source: str, spec_dir: Path | None) -> dict:
    """Entry ``i`` of ``recipes`` (a name, a path or an inline mapping) as ``{"label", "recipe"}``."""
    where = f"{source}: recipes[{i}]"
    if isinstance(entry, dict):
        r = load_recipe_mapping(entry, "inline recipe", where)
        return {"label": r.name, "recipe": r.to_dict()}
    arg = str(resolve_path(entry, spec_dir)) if Path(entry).suffix else entry
    try:
        r = load_recipe(arg)
    except HwBnnError as e:
        raise SpecError(f"{where}: {e}") from None
    return {"label": entry, "recipe": r.to_dict()}


def _targets(t: Targets, source: str) -> list[dict]:
    """The targets as ``{"label", "cycles", "clock_mhz", "fps"}``: the cycle targets, then the rates."""
    out = [{"label": f"{c}cyc", "cycles": c, "clock_mhz": t.clock_mhz, "fps": None} for c in t.cycles or []]
    for f in t.fps or []:
        try:
            c = target_cycles_from_fps(f, t.clock_mhz)
        except HwBnnError as e:
            raise SpecError(f"{source}: targets.fps: {e}") from None
        out.append({"label": f"{number_label(f)}fps", "cycles": c, "clock_mhz": t.clock_mhz, "fps": f})
    return out


def _data_dir(value: str | None, source: str, spec_dir: Path | None) -> str | None:
    """``data_dir`` as an absolute folder (beside the spec file when relative); it must exist."""
    if value is None:
        return None
    p = resolve_path(value, spec_dir)
    if not p.is_dir():
        raise SpecError(f"{source}: data_dir: {value!r} is not a folder (looked at {p})")
    return str(p)


def _read_raw(spec) -> tuple[dict, str, str, Path | None]:
    """``(raw mapping, source name, default sweep name, folder of the spec file)`` of a dict or a
    YAML file."""
    if isinstance(spec, dict):
        return copy.deepcopy(spec), "sweep spec", "sweep", None
    path = Path(spec)
    raw = read_document(path, SpecError, "sweep spec file")
    return raw, str(path), path.stem, path.resolve().parent


def load_spec(spec) -> SweepSpec:
    """A sweep spec from a YAML file (path) or a dict, validated against :class:`SpecFile`; errors
    are :class:`SpecError` naming the file and the key."""
    if isinstance(spec, SweepSpec):
        return spec
    raw, source, default_name, spec_dir = _read_raw(spec)
    m = validate(SpecFile, raw, source, SpecError)
    if m.depths is not None and m.widths is not None and not all(isinstance(w, int) for w in m.widths):
        raise SpecError(
            f"{source}: widths: with 'depths' every width must be one int (a list of layers fixes the depth) "
            f"(got {m.widths!r})"
        )
    s = SweepSpec(
        name=m.name or default_name,
        source=source,
        recipes=[load_base_recipe(e, i, source, spec_dir) for i, e in enumerate(m.recipes)],
        bits=m.bits,
        widths=m.widths,
        depths=m.depths,
        epochs=m.epochs,
        targets=_targets(m.targets, source),
        devices=m.devices,
        utilization_limit=m.utilization_limit,
        csim_limit=m.csim_limit,
        verify_limit=m.verify_limit,
        data_dir=_data_dir(m.data_dir, source, spec_dir),
        threads_per_point=m.threads_per_point,
        description=m.description or "",
        raw=raw,
    )
    s.points()  # every network point is a valid recipe, and the ids are unique
    return s

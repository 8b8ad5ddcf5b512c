"""The sweep spec: its keys, its validation, and its expansion into network points.

A spec (YAML or a dict; the keys are :data:`SPEC_KEYS`, examples in ``models/sweeps/``) declares
the axes of a sweep.  :func:`load_spec` validates every key (errors are :class:`SpecError` naming
the file, the key and what was expected) and :meth:`SweepSpec.points` expands the product

    network points = recipes x bits x hidden shapes    (hidden shapes = widths x depths)

into JSON-ready dicts, each with the recipe it trains and the key (:func:`point_key`) that says
whether a stored result of it can be reused.
"""

from __future__ import annotations

import copy
import math
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hw_bnn.dse.devices import get_device
from hw_bnn.dse.folding import target_cycles_from_fps
from hw_bnn.errors import DeviceError, HwBnnError, SpecError
from hw_bnn.explore.records import content_key
from hw_bnn.explore.results import COLUMNS
from hw_bnn.train.recipes import load_recipe

SPEC_KEYS = {
    "name": "a short name for the sweep (default: the file name)",
    "description": "free text for the report",
    "recipes": "a list of recipe names (models/), recipe .yaml paths or inline recipe mappings",
    "bits": "a list of 'w<W>a<A>' strings with W, A in 1, 2 (e.g. [w1a1, w1a2, w2a2])",
    "widths": "a list of hidden-layer widths: an int (every hidden layer) or a list of ints (the layers)",
    "depths": "a list of ints >= 0: numbers of hidden layers",
    "epochs": "an int >= 1: training epochs of every network",
    "targets": "a mapping with 'cycles' and/or 'fps' (an int / number or a list), optional 'clock_mhz'",
    "devices": "a list of device names (hw_bnn.dse.devices: parts or boards)",
    "utilization_limit": "a number in (0, 1]: usable fraction of each device resource",
    "csim_limit": "an int >= 0: C-simulation images per split per folding (0: no C simulation)",
    "verify_limit": "an int >= 1 or null: images per split for the compile checks (null: every image)",
    "data_dir": "a folder (string) or null: IDX / CIFAR-10 files for a test split",
    "threads_per_point": "an int >= 1: torch threads of one network point",
}
TARGET_KEYS = ("cycles", "fps", "clock_mhz")
BITS_RE = re.compile(r"w([12])a([12])")


def model_code_key() -> str:
    """A hash of the matrix units, the cost model, the device catalogue and the folding search:
    results computed under another version of them are not reused (the flow's own stages still
    skip whatever is unchanged, so a re-run after such a change retrains nothing)."""
    from hw_bnn.dse import cost, devices, folding, units

    return content_key([Path(m.__file__).read_text() for m in (units, cost, devices, folding)])


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
                    f"{self.source}: key 'depths': recipe {where} has no hidden layers to repeat; "
                    "give int 'widths' with 'depths'"
                )
            return [[base[0]] * d for d in self.depths]
        return [[w] * d for w in self.widths for d in self.depths]

    def points(self) -> list[dict]:
        """Every network point, as a JSON-ready dict (what a Ray task receives)."""
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
                            f"{self.source}: key 'recipes': {seen[pid]!r} and {r['label']!r} both give the network "
                            f"point {pid!r}; rename one recipe (its 'name')"
                        )
                    seen[pid] = r["label"]
                    out.append(self._point(pid, r["label"], recipe, bits, (w, a), hidden))
        return out

    def _point_id(self, stem: str, bits: str, hidden: list[int]) -> str:
        pid = f"{stem}-{bits}"
        if self.widths is not None or self.depths is not None:
            pid += "-h" + ("x".join(str(h) for h in hidden) or "0")
        return re.sub(r"[^A-Za-z0-9._-]", "_", pid)

    def _point(self, pid: str, label: str, recipe: dict, bits: str, wa: tuple[int, int], hidden: list[int]) -> dict:
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
        }
        p["key"] = point_key(p)
        return p


# --------------------------------------------------------------------------------------
# recipes


def load_recipe_mapping(d: dict, name: str, where: str):
    """:func:`hw_bnn.train.recipes.load_recipe` of a mapping, through a temporary file; an error
    is a :class:`SpecError` at ``where`` that calls the mapping ``name`` (not the temporary file)."""
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "recipe.yaml"
        p.write_text(yaml.safe_dump(d, sort_keys=False))
        try:
            return load_recipe(str(p))
        except HwBnnError as e:
            raise SpecError(f"{where}: {str(e).replace(str(p), name)}") from None


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
    where = f"{source}: key 'recipes[{i}]'"
    if isinstance(entry, dict):
        if not isinstance(entry.get("name"), str) or not entry["name"]:
            raise SpecError(f"{where}: an inline recipe needs a 'name' (string)")
        r = load_recipe_mapping(entry, "inline recipe", where)
        return {"label": r.name, "recipe": r.to_dict()}
    if not isinstance(entry, str) or not entry.strip():
        raise SpecError(
            f"{where}: expected a recipe name, a path to a recipe .yaml or an inline recipe mapping, got {entry!r}"
        )
    arg = entry.strip()
    if Path(arg).suffix:
        arg = str(resolve_path(arg, spec_dir))
    try:
        r = load_recipe(arg)
    except HwBnnError as e:
        raise SpecError(f"{where}: {e}") from None
    return {"label": entry.strip(), "recipe": r.to_dict()}


# --------------------------------------------------------------------------------------
# the keys


def int_list(raw, key: str, source: str, lo: int, allow_scalar: bool = False) -> list[int]:
    """A non-empty list of ints ``>= lo`` (one int too with ``allow_scalar``), duplicates dropped."""
    if allow_scalar and not isinstance(raw, list):
        raw = [raw]
    if (
        not isinstance(raw, list)
        or not raw
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= lo for v in raw)
    ):
        what = f"a non-empty list of ints >= {lo}" + (" (or one int)" if allow_scalar else "")
        raise SpecError(f"{source}: key '{key}': expected {what}, got {raw!r}")
    return list(dict.fromkeys(raw))


def parse_targets(raw, source: str) -> list[dict]:
    """``targets`` as ``{"label", "cycles", "clock_mhz", "fps"}`` dicts: the cycle targets, then
    the frame rates as ``cycles = floor(clock_hz / fps)``."""
    if not isinstance(raw, dict):
        raise SpecError(
            f"{source}: key 'targets': expected a mapping with 'cycles' and/or 'fps' (and 'clock_mhz'), got {raw!r}"
        )
    unknown = sorted(set(raw) - set(TARGET_KEYS))
    if unknown:
        raise SpecError(
            f"{source}: key 'targets.{unknown[0]}': unknown; known keys of 'targets': {', '.join(TARGET_KEYS)}"
        )
    if raw.get("cycles") is None and raw.get("fps") is None:
        raise SpecError(f"{source}: key 'targets': expected 'cycles' and/or 'fps', got neither")
    clock = raw.get("clock_mhz", 100.0)
    if isinstance(clock, bool) or not isinstance(clock, (int, float)) or not clock > 0 or not math.isfinite(clock):
        raise SpecError(f"{source}: key 'targets.clock_mhz': expected a positive number (MHz), got {clock!r}")
    clock = float(clock)
    out = []
    if raw.get("cycles") is not None:
        for c in int_list(raw["cycles"], "targets.cycles", source, 1, allow_scalar=True):
            out.append({"label": f"{c}cyc", "cycles": c, "clock_mhz": clock, "fps": None})
    if raw.get("fps") is not None:
        fps = raw["fps"] if isinstance(raw["fps"], list) else [raw["fps"]]
        if not fps or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 and math.isfinite(v) for v in fps
        ):
            raise SpecError(
                f"{source}: key 'targets.fps': expected a positive number or a non-empty list of them, "
                f"got {raw['fps']!r}"
            )
        for f in dict.fromkeys(fps):
            try:
                c = target_cycles_from_fps(float(f), clock)
            except HwBnnError as e:
                raise SpecError(f"{source}: key 'targets.fps': {e}") from None
            out.append({"label": f"{number_label(f)}fps", "cycles": c, "clock_mhz": clock, "fps": float(f)})
    return out


def _read_raw(spec) -> tuple[dict, str, str, Path | None]:
    """``(raw mapping, source name, default sweep name, folder of the spec file)`` of a dict or a
    YAML file; the mapping's keys are checked (unknown keys, missing required ones)."""
    spec_dir = None
    if isinstance(spec, dict):
        raw, source, default_name = copy.deepcopy(spec), "sweep spec", "sweep"
    else:
        path = Path(spec)
        source = str(path)
        if not path.is_file():
            raise SpecError(f"{path}: sweep spec file does not exist")
        try:
            raw = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            raise SpecError(f"{path}: not valid YAML ({e})") from None
        spec_dir, default_name = path.resolve().parent, path.stem
    if not isinstance(raw, dict):
        raise SpecError(
            f"{source}: expected a mapping of sweep keys ({', '.join(SPEC_KEYS)}), got {type(raw).__name__}"
        )
    unknown = [k for k in raw if k not in SPEC_KEYS]
    if unknown:
        raise SpecError(f"{source}: key '{unknown[0]}': unknown key; known keys: {', '.join(SPEC_KEYS)}")
    for k in ("recipes", "targets", "devices"):
        if raw.get(k) is None:
            raise SpecError(f"{source}: key '{k}': missing; expected {SPEC_KEYS[k]}")
    return raw, source, default_name, spec_dir


def _parse_name(raw: dict, source: str, default_name: str) -> tuple[str, str]:
    name = raw.get("name", default_name)
    if not isinstance(name, str) or not name.strip():
        raise SpecError(f"{source}: key 'name': expected a non-empty string, got {name!r}")
    description = raw.get("description") or ""
    if not isinstance(description, str):
        raise SpecError(f"{source}: key 'description': expected a string, got {description!r}")
    return name.strip(), description


def _parse_recipes(raw: dict, source: str, spec_dir: Path | None) -> list[dict]:
    recipes = raw["recipes"]
    if isinstance(recipes, (str, dict)):
        recipes = [recipes]
    if not isinstance(recipes, list) or not recipes:
        raise SpecError(f"{source}: key 'recipes': expected {SPEC_KEYS['recipes']}, got {raw['recipes']!r}")
    return [load_base_recipe(e, i, source, spec_dir) for i, e in enumerate(recipes)]


def _parse_bits(raw: dict, source: str) -> list[str] | None:
    bits = raw.get("bits")
    if bits is None:
        return None
    if isinstance(bits, str):
        bits = [bits]
    if (
        not isinstance(bits, list)
        or not bits
        or not all(isinstance(b, str) and BITS_RE.fullmatch(b.strip().lower()) for b in bits)
    ):
        raise SpecError(f"{source}: key 'bits': expected {SPEC_KEYS['bits']}, got {raw['bits']!r}")
    return list(dict.fromkeys(b.strip().lower() for b in bits))


def _parse_hidden_axes(raw: dict, source: str) -> tuple[list | None, list[int] | None]:
    """``widths`` and ``depths`` (with ``depths``, every width is one int)."""
    widths = raw.get("widths")
    if widths is not None:
        ok = (
            isinstance(widths, list)
            and widths
            and all(
                (isinstance(w, int) and not isinstance(w, bool) and w >= 1)
                or (isinstance(w, list) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in w))
                for w in widths
            )
        )
        if not ok:
            raise SpecError(f"{source}: key 'widths': expected {SPEC_KEYS['widths']} (each >= 1), got {widths!r}")
    depths = raw.get("depths")
    if depths is not None:
        depths = int_list(depths, "depths", source, 0)
        if widths is not None and not all(isinstance(w, int) for w in widths):
            raise SpecError(
                f"{source}: key 'widths': with 'depths' every width must be one int (a list of layers fixes the depth)"
            )
    return widths, depths


def _parse_devices(raw: dict, source: str) -> list[str]:
    """``devices`` as canonical part names (hw_bnn.dse.devices), duplicates dropped."""
    devices = raw["devices"]
    if isinstance(devices, str):
        devices = [devices]
    if not isinstance(devices, list) or not devices or not all(isinstance(d, str) for d in devices):
        raise SpecError(f"{source}: key 'devices': expected a non-empty list of device names, got {raw['devices']!r}")
    canon = []
    for d in devices:
        try:
            canon.append(get_device(d).name)
        except DeviceError as e:
            raise SpecError(f"{source}: key 'devices': {e}") from None
    return list(dict.fromkeys(canon))


def _bad_int(v, lo: int) -> bool:
    return isinstance(v, bool) or not isinstance(v, int) or v < lo


def _parse_run_settings(raw: dict, source: str, spec_dir: Path | None) -> dict:
    """The settings every point shares: utilization limit, C-sim and verify limits, data folder,
    threads per point."""
    limit = raw.get("utilization_limit", 1.0)
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not 0 < limit <= 1:
        raise SpecError(f"{source}: key 'utilization_limit': expected {SPEC_KEYS['utilization_limit']}, got {limit!r}")
    csim_limit = raw.get("csim_limit", 100)
    if _bad_int(csim_limit, 0):
        raise SpecError(f"{source}: key 'csim_limit': expected {SPEC_KEYS['csim_limit']}, got {csim_limit!r}")
    verify_limit = raw.get("verify_limit")
    if verify_limit is not None and _bad_int(verify_limit, 1):
        raise SpecError(f"{source}: key 'verify_limit': expected {SPEC_KEYS['verify_limit']}, got {verify_limit!r}")
    data_dir = raw.get("data_dir")
    if data_dir is not None:
        if not isinstance(data_dir, str) or not data_dir.strip():
            raise SpecError(f"{source}: key 'data_dir': expected {SPEC_KEYS['data_dir']}, got {data_dir!r}")
        p = resolve_path(data_dir.strip(), spec_dir)
        if not p.is_dir():
            raise SpecError(f"{source}: key 'data_dir': {data_dir!r} is not a folder (looked at {p})")
        data_dir = str(p)
    threads = raw.get("threads_per_point", 1)
    if _bad_int(threads, 1):
        raise SpecError(
            f"{source}: key 'threads_per_point': expected {SPEC_KEYS['threads_per_point']}, got {threads!r}"
        )
    return {
        "utilization_limit": float(limit),
        "csim_limit": csim_limit,
        "verify_limit": verify_limit,
        "data_dir": data_dir,
        "threads_per_point": threads,
    }


def load_spec(spec) -> SweepSpec:
    """A sweep spec from a YAML file (path) or a dict, validated.  Errors are :class:`SpecError`
    naming the file, the key and what was expected; unknown keys are errors."""
    if isinstance(spec, SweepSpec):
        return spec
    raw, source, default_name, spec_dir = _read_raw(spec)
    name, description = _parse_name(raw, source, default_name)
    recipes = _parse_recipes(raw, source, spec_dir)
    bits = _parse_bits(raw, source)
    widths, depths = _parse_hidden_axes(raw, source)
    epochs = raw.get("epochs")
    if epochs is not None and _bad_int(epochs, 1):
        raise SpecError(f"{source}: key 'epochs': expected {SPEC_KEYS['epochs']}, got {epochs!r}")
    targets = parse_targets(raw["targets"], source)
    devices = _parse_devices(raw, source)
    s = SweepSpec(
        name=name,
        source=source,
        recipes=recipes,
        bits=bits,
        widths=widths,
        depths=depths,
        epochs=epochs,
        targets=targets,
        devices=devices,
        **_parse_run_settings(raw, source, spec_dir),
        description=description,
        raw=raw,
    )
    s.points()  # every network point is a valid recipe, and the ids are unique
    return s

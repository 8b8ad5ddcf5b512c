"""``hw-bnn explore``: hardware-aware design-space exploration, a sweep of networks and foldings.

A *sweep spec* (YAML, examples in ``models/sweeps/``) declares the axes::

    name: mnist-fc
    recipes: [tfc-w1a1, sfc-w1a1]      # names in models/, paths to recipe .yaml, or inline recipes
    bits: [w1a1, w1a2, w2a2]           # weight_bits / act_bits overrides (default: the recipe's own)
    widths: [64, 256]                  # hidden layers: an int sets every hidden layer, a list is the layers
    depths: [1, 3]                     # number of hidden layers (with int widths: [w] * depth)
    epochs: 10                         # override the recipes' epochs
    targets: {cycles: [64], fps: [100000, 1000000], clock_mhz: 100}
    devices: [xc7z020, xczu7ev]        # hw_bnn.dse.devices names (parts or boards)
    utilization_limit: 1.0             # usable fraction of each device resource
    csim_limit: 100                    # C-simulation images per split for every folding (0: no C-sim)
    verify_limit: null                 # images per split for the compile checks (null: all)
    data_dir: null                     # IDX / CIFAR folder: test split and test accuracy
    threads_per_point: 1               # torch threads of one network point (and Ray CPUs per task)

A *network point* (recipe x bits x width) is trained, exported and compiled by the flow in
``<out>/nets/<id>/`` (the flow's stage stamps make re-runs reuse every unchanged artifact).
Each *hardware point* (network point x target x device) then takes the matrix units of the
golden model (:func:`hw_bnn.dse.cost.mvu_layers`), the fewest-LUT folding that meets the target
and fits the device (:func:`hw_bnn.dse.folding.fold_for_target`), its cost
(:func:`hw_bnn.dse.cost.network_cost`) and fit (:func:`hw_bnn.dse.devices.fit`), and the golden model
is checked against the hls4ml C simulation of that folding (emit + verify in
``<out>/nets/<id>/fold-<hash>/``; a folding already verified for the network is reused).

Engines: Ray (one task per network point, ``num_cpus = threads_per_point``) when it is
installed, a local embedded instance unless ``address`` names a cluster; or serially in this
process.  Both run the same function :func:`run_net_point` with torch on a fixed number of
threads, so ``results.csv`` is identical under both.

Resumability: every network point writes ``<out>/nets/<id>/result.json`` when it is done.
A re-run reuses the result of a point whose status is ``ok`` or ``infeasible`` and whose
settings are unchanged (finished points are never redone, unless ``force``); ``failed``
points are run again.  A failure inside a point (an exception, or a crashed Ray worker) is
recorded with its error; the sweep goes on.
"""

from __future__ import annotations

import argparse
import base64
import copy
import csv
import hashlib
import html
import io
import json
import math
import os
import re
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from hw_bnn.errors import HwBnnError, SpecError
from hw_bnn.files import write_bytes_atomic, write_text_atomic

__all__ = [
    "COLUMNS",
    "SpecError",
    "SweepSpec",
    "SweepResult",
    "load_spec",
    "run_net_point",
    "run_sweep",
    "pareto_front",
    "add_explore_parser",
    "cmd_explore",
]

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

# the table: one row per hardware point, these columns in this order (no timings, no
# absolute paths: the table of a sweep is the same under every engine and in every folder)
COLUMNS = (
    "point",
    "net",
    "recipe",
    "bits",
    "weight_bits",
    "act_bits",
    "hidden",
    "epochs",
    "target",
    "target_cycles",
    "clock_mhz",
    "device",
    "status",
    "error",
    "accuracy",
    "val_acc",
    "val_images",
    "test_acc",
    "test_images",
    "lut",
    "bram18",
    "dsp",
    "fps",
    "latency_us",
    "max_cycles",
    "latency_cycles",
    "bottleneck",
    "weight_memory_bits",
    "fits",
    "lut_util_pct",
    "bram18_util_pct",
    "dsp_util_pct",
    "utilization_pct",
    "csim_images",
    "csim_mismatches",
    "golden_vs_folded_mismatches",
    "pareto_lut",
    "pareto_fps",
    "build",
    "folding",
)
STATUSES = ("ok", "infeasible", "failed")
FINISHED = ("ok", "infeasible")  # a network point with this status is never redone


# --------------------------------------------------------------------------------------
# small helpers


def _write_json(path: Path, obj) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(o):
    if hasattr(o, "item"):  # numpy scalars
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def _key(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=_json_default).encode()).hexdigest()


def _model_code_key() -> str:
    """A hash of the cost model, the device catalogue and the folding search: results computed
    under another version of them are not reused (the flow's own stages still skip whatever is
    unchanged, so a re-run after such a change retrains nothing)."""
    from hw_bnn.dse import cost, devices, folding

    return _key([Path(m.__file__).read_text() for m in (cost, devices, folding)])


def _error_text(e: BaseException) -> str:
    msg = str(e).strip()
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


def _num(v) -> str:
    """A number as a short label: 1000000 -> '1000000', 2.5e6 -> '2500000', 1.5 -> '1.5'."""
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


# --------------------------------------------------------------------------------------
# the spec


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
        base = list(recipe["hidden"])
        if self.widths is None and self.depths is None:
            return [base]
        if self.depths is None:
            return [[w] * len(base) if isinstance(w, int) else list(w) for w in self.widths]
        if self.widths is None:
            if not base:
                raise SpecError(
                    f"{self.source}: key 'depths': recipe {where} has no hidden layers to repeat; give int 'widths' with 'depths'"
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
                    pid = f"{stem}-{bits}"
                    if self.widths is not None or self.depths is not None:
                        pid += "-h" + ("x".join(str(h) for h in hidden) or "0")
                    pid = re.sub(r"[^A-Za-z0-9._-]", "_", pid)
                    if pid in seen:
                        raise SpecError(
                            f"{self.source}: key 'recipes': {seen[pid]!r} and {r['label']!r} both give the network point {pid!r}; "
                            f"rename one recipe (its 'name')"
                        )
                    seen[pid] = r["label"]
                    rec = copy.deepcopy(recipe)
                    rec.update(name=pid, weight_bits=w, act_bits=a, hidden=list(hidden))
                    if self.epochs is not None:
                        rec["train"]["epochs"] = int(self.epochs)
                    _check_recipe_dict(rec, f"{self.source}: network point {pid!r}")
                    p = {
                        "id": pid,
                        "recipe_label": r["label"],
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
                    p["key"] = _key({**p, "model": _model_code_key()})
                    out.append(p)
        return out


def _check_recipe_dict(d: dict, where: str) -> None:
    """Validate a recipe mapping with :func:`hw_bnn.train.recipes.load_recipe` (via a temporary file)."""
    from hw_bnn.train.recipes import load_recipe

    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "recipe.yaml"
        p.write_text(yaml.safe_dump(d, sort_keys=False))
        try:
            load_recipe(str(p))
        except HwBnnError as e:
            raise SpecError(f"{where}: {str(e).replace(str(p), 'recipe')}") from None


def _resolve_path(value: str, spec_dir: Path | None) -> Path:
    p = Path(value).expanduser()
    if p.is_absolute() or p.exists() or spec_dir is None:
        return p.resolve()
    alt = spec_dir / p
    return alt.resolve() if alt.exists() else p.resolve()


def _load_base_recipe(entry, i: int, source: str, spec_dir: Path | None) -> dict:
    from hw_bnn.train.recipes import load_recipe

    where = f"{source}: key 'recipes[{i}]'"
    if isinstance(entry, dict):
        if not isinstance(entry.get("name"), str) or not entry["name"]:
            raise SpecError(f"{where}: an inline recipe needs a 'name' (string)")
        with tempfile.TemporaryDirectory() as tmp:
            p = Path(tmp) / "recipe.yaml"
            p.write_text(yaml.safe_dump(entry, sort_keys=False))
            try:
                r = load_recipe(str(p))
            except HwBnnError as e:
                raise SpecError(f"{where}: {str(e).replace(str(p), 'inline recipe')}") from None
        return {"label": r.name, "recipe": r.to_dict()}
    if not isinstance(entry, str) or not entry.strip():
        raise SpecError(
            f"{where}: expected a recipe name, a path to a recipe .yaml or an inline recipe mapping, got {entry!r}"
        )
    arg = entry.strip()
    if Path(arg).suffix:
        arg = str(_resolve_path(arg, spec_dir))
    try:
        r = load_recipe(arg)
    except HwBnnError as e:
        raise SpecError(f"{where}: {e}") from None
    return {"label": entry.strip(), "recipe": r.to_dict()}


def _int_list(raw, key: str, source: str, lo: int, allow_scalar: bool = False) -> list[int]:
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


def _targets(raw, source: str) -> list[dict]:
    from hw_bnn.dse.folding import target_cycles_from_fps

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
        for c in _int_list(raw["cycles"], "targets.cycles", source, 1, allow_scalar=True):
            out.append({"label": f"{c}cyc", "cycles": c, "clock_mhz": clock, "fps": None})
    if raw.get("fps") is not None:
        fps = raw["fps"] if isinstance(raw["fps"], list) else [raw["fps"]]
        if not fps or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 and math.isfinite(v) for v in fps
        ):
            raise SpecError(
                f"{source}: key 'targets.fps': expected a positive number or a non-empty list of them, got {raw['fps']!r}"
            )
        for f in dict.fromkeys(fps):
            try:
                c = target_cycles_from_fps(float(f), clock)
            except HwBnnError as e:
                raise SpecError(f"{source}: key 'targets.fps': {e}") from None
            out.append({"label": f"{_num(f)}fps", "cycles": c, "clock_mhz": clock, "fps": float(f)})
    return out


def load_spec(spec) -> SweepSpec:
    """A sweep spec from a YAML file (path) or a dict, validated.  Errors are :class:`SpecError`
    naming the file, the key and what was expected; unknown keys are errors."""
    from hw_bnn.dse.devices import DeviceError, get_device

    spec_dir = None
    if isinstance(spec, SweepSpec):
        return spec
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

    name = raw.get("name", default_name)
    if not isinstance(name, str) or not name.strip():
        raise SpecError(f"{source}: key 'name': expected a non-empty string, got {name!r}")
    description = raw.get("description") or ""
    if not isinstance(description, str):
        raise SpecError(f"{source}: key 'description': expected a string, got {description!r}")

    recipes = raw["recipes"]
    if isinstance(recipes, (str, dict)):
        recipes = [recipes]
    if not isinstance(recipes, list) or not recipes:
        raise SpecError(f"{source}: key 'recipes': expected {SPEC_KEYS['recipes']}, got {raw['recipes']!r}")
    bases = [_load_base_recipe(e, i, source, spec_dir) for i, e in enumerate(recipes)]

    bits = raw.get("bits")
    if bits is not None:
        if isinstance(bits, str):
            bits = [bits]
        if (
            not isinstance(bits, list)
            or not bits
            or not all(isinstance(b, str) and BITS_RE.fullmatch(b.strip().lower()) for b in bits)
        ):
            raise SpecError(f"{source}: key 'bits': expected {SPEC_KEYS['bits']}, got {raw['bits']!r}")
        bits = list(dict.fromkeys(b.strip().lower() for b in bits))

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
        depths = _int_list(depths, "depths", source, 0)
        if widths is not None and not all(isinstance(w, int) for w in widths):
            raise SpecError(
                f"{source}: key 'widths': with 'depths' every width must be one int (a list of layers fixes the depth)"
            )

    epochs = raw.get("epochs")
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise SpecError(f"{source}: key 'epochs': expected {SPEC_KEYS['epochs']}, got {epochs!r}")

    targets = _targets(raw["targets"], source)

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
    devices = list(dict.fromkeys(canon))

    limit = raw.get("utilization_limit", 1.0)
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not 0 < limit <= 1:
        raise SpecError(f"{source}: key 'utilization_limit': expected {SPEC_KEYS['utilization_limit']}, got {limit!r}")
    csim_limit = raw.get("csim_limit", 100)
    if isinstance(csim_limit, bool) or not isinstance(csim_limit, int) or csim_limit < 0:
        raise SpecError(f"{source}: key 'csim_limit': expected {SPEC_KEYS['csim_limit']}, got {csim_limit!r}")
    verify_limit = raw.get("verify_limit")
    if verify_limit is not None and (
        isinstance(verify_limit, bool) or not isinstance(verify_limit, int) or verify_limit < 1
    ):
        raise SpecError(f"{source}: key 'verify_limit': expected {SPEC_KEYS['verify_limit']}, got {verify_limit!r}")
    data_dir = raw.get("data_dir")
    if data_dir is not None:
        if not isinstance(data_dir, str) or not data_dir.strip():
            raise SpecError(f"{source}: key 'data_dir': expected {SPEC_KEYS['data_dir']}, got {data_dir!r}")
        p = _resolve_path(data_dir.strip(), spec_dir)
        if not p.is_dir():
            raise SpecError(f"{source}: key 'data_dir': {data_dir!r} is not a folder (looked at {p})")
        data_dir = str(p)
    threads = raw.get("threads_per_point", 1)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise SpecError(
            f"{source}: key 'threads_per_point': expected {SPEC_KEYS['threads_per_point']}, got {threads!r}"
        )

    s = SweepSpec(
        name=name.strip(),
        source=source,
        recipes=bases,
        bits=bits,
        widths=widths,
        depths=depths,
        epochs=epochs,
        targets=targets,
        devices=devices,
        utilization_limit=float(limit),
        csim_limit=csim_limit,
        verify_limit=verify_limit,
        data_dir=data_dir,
        threads_per_point=threads,
        description=description,
        raw=raw,
    )
    s.points()  # every network point is a valid recipe, and the ids are unique
    return s


# --------------------------------------------------------------------------------------
# one network point (train + compile + every hardware point)


def _net_dir(out, pid: str) -> Path:
    return Path(out) / "nets" / pid


def _rel(path: Path, out) -> str:
    return Path(os.path.relpath(path, out)).as_posix()


def _base_row(point: dict, tgt: dict, dev: str) -> dict:
    rec = point["recipe"]
    row = dict.fromkeys(COLUMNS)
    row.update(
        point=f"{point['id']}/{tgt['label']}/{dev}",
        net=point["id"],
        recipe=point["recipe_label"],
        bits=point["bits"],
        weight_bits=rec["weight_bits"],
        act_bits=rec["act_bits"],
        hidden=json.dumps(rec["hidden"]),
        epochs=int(rec["train"]["epochs"]),
        target=tgt["label"],
        target_cycles=tgt["cycles"],
        clock_mhz=tgt["clock_mhz"],
        device=dev,
        error="",
    )
    return row


def _flow_config(point: dict, recipe_path: Path, out: Path, **kw):
    from hw_bnn.flow.stages import FlowConfig

    return FlowConfig(
        model=str(recipe_path),
        out=str(out),
        data_dir=point["data_dir"],
        verify_limit=point["verify_limit"],
        csim_limit=point["csim_limit"] or None,
        progress=False,
        **kw,
    )


def _golden_accuracy(cfg, golden) -> dict:
    """Accuracy of the golden model (what the hardware computes) on every image of each split."""
    import numpy as np

    from hw_bnn.flow.stages import _eval_splits

    out = {}
    for name, s in _eval_splits(replace(cfg, verify_limit=None, log=[])).items():
        pred = np.concatenate(
            [
                np.argmax(golden.apply_output_affine(golden.run(s.x[i : i + 1000])), axis=-1)
                for i in range(0, len(s.x), 1000)
            ]
        )
        out[f"{name}_acc"] = float((pred == s.y).mean())
        out[f"{name}_images"] = int(len(s.x))
    return out


def _build_network(point: dict, net_dir: Path, timings: dict) -> dict:
    """train, export, compile (the flow skips every stage whose inputs are unchanged)."""
    from hw_bnn.dse.cost import mvu_layers
    from hw_bnn.flow.stages import run_flow
    from hw_bnn.ir import IntegerNetwork

    net_dir.mkdir(parents=True, exist_ok=True)
    recipe_path = net_dir / "recipe.yaml"
    text = yaml.safe_dump(point["recipe"], sort_keys=False)
    if not recipe_path.is_file() or recipe_path.read_text() != text:
        write_text_atomic(recipe_path, text)
    cfg = _flow_config(point, recipe_path, net_dir)
    for stage in ("train", "export", "compile"):
        t0 = time.perf_counter()
        run_flow(cfg, (stage,))
        timings[f"{stage}_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    golden = IntegerNetwork.load(net_dir / "golden.npz")
    check = json.loads((net_dir / "compile_check.json").read_text())
    acc = _golden_accuracy(cfg, golden)
    timings["accuracy_s"] = round(time.perf_counter() - t0, 3)
    layers = mvu_layers(golden)
    if not layers:
        raise HwBnnError(f"{net_dir / 'golden.npz'}: the network has no matrix units to fold")
    return {
        "recipe_path": recipe_path,
        "golden": golden,
        "layers": layers,
        "acc": acc,
        "golden_vs_folded": sum(int(v.get("golden_vs_folded_mismatches", 0)) for v in check.values()),
    }


def _verify_folding(point: dict, net: dict, folding: dict, fold_dir: Path) -> dict:
    """emit + verify of one folding in its own build folder (the flow skips what is unchanged)."""
    from hw_bnn.flow.stages import run_flow

    fold_dir.mkdir(parents=True, exist_ok=True)
    src = fold_dir.parent / "golden.npz"
    dst = fold_dir / "golden.npz"
    data = src.read_bytes()
    if not dst.is_file() or dst.read_bytes() != data:
        write_bytes_atomic(dst, data)
    _write_json(fold_dir / "folding.json", {"folding": folding})
    cfg = _flow_config(point, net["recipe_path"], fold_dir, folding=folding)
    run_flow(cfg, ("emit", "verify"))
    res = json.loads((fold_dir / "verify.json").read_text())
    images = sum(int(e["images"]) for e in res["splits"].values())
    mism = int(res["mismatches"])
    error = ""
    if mism:
        firsts = [
            f"{k}: image {e['first_mismatch']['image']}, layer {e['first_mismatch'].get('layer')}"
            for k, e in res["splits"].items()
            if "first_mismatch" in e
        ]
        error = (
            f"VerifyError: golden vs C simulation: {mism} mismatched images of {images} (first: {'; '.join(firsts)})"
        )
    return {"images": images, "mismatches": mism, "error": error}


def _hardware_point(point: dict, net: dict, tgt: dict, dev: str, verified: dict, net_dir: Path, out: Path) -> dict:
    from hw_bnn.dse.cost import FoldingError, network_cost
    from hw_bnn.dse.devices import fit
    from hw_bnn.dse.folding import InfeasibleTargetError, fold_for_target

    row = _base_row(point, tgt, dev)
    row.update(net["acc"])
    row["accuracy"] = row["test_acc"] if row.get("test_acc") is not None else row["val_acc"]
    row["golden_vs_folded_mismatches"] = net["golden_vs_folded"]
    row["build"] = _rel(net_dir, out)
    layers, limit = net["layers"], point["utilization_limit"]
    status = "ok"
    try:
        folding = fold_for_target(layers, tgt["cycles"], dev, limit=limit)
    except InfeasibleTargetError as e:  # even full parallelism is too slow: no cost to show
        row.update(status="infeasible", error=str(e))
        return row
    except FoldingError as e:  # the target is reachable, but no such folding fits the device
        status, row["error"] = "infeasible", str(e)
        folding = fold_for_target(layers, tgt["cycles"])  # the cheapest one, for the record
    cost = network_cost(layers, folding, tgt["clock_mhz"])
    full = fit(cost, dev)  # utilization of the whole device
    row.update(
        lut=cost.lut,
        bram18=cost.bram18,
        dsp=cost.dsp,
        fps=cost.fps,
        latency_us=cost.latency_us,
        max_cycles=cost.max_cycles,
        latency_cycles=cost.latency_cycles,
        bottleneck=cost.bottleneck,
        weight_memory_bits=sum(u.weight_memory_bits for u in layers),
        fits=fit(cost, dev, limit).fits,
        lut_util_pct=round(full["LUT"].utilization, 4),
        bram18_util_pct=round(full["BRAM18"].utilization, 4),
        dsp_util_pct=round(full["DSP"].utilization, 4),
        folding=json.dumps(folding, separators=(",", ":")),
    )
    row["utilization_pct"] = max(row["lut_util_pct"], row["bram18_util_pct"], row["dsp_util_pct"])
    if status != "ok" or not point["csim_limit"]:
        row["status"] = status
        return row
    fkey = _key(folding)[:12]
    fold_dir = net_dir / f"fold-{fkey}"
    if fkey not in verified:
        t0 = time.perf_counter()
        try:
            verified[fkey] = _verify_folding(point, net, folding, fold_dir)
        except Exception as e:  # noqa: BLE001 - recorded, the sweep goes on
            verified[fkey] = {"images": None, "mismatches": None, "error": _error_text(e)}
        verified[fkey]["seconds"] = round(time.perf_counter() - t0, 3)
    v = verified[fkey]
    row.update(csim_images=v["images"], csim_mismatches=v["mismatches"], build=_rel(fold_dir, out))
    row["status"] = "failed" if v["error"] else "ok"
    row["error"] = v["error"]
    return row


def _net_status(rows: list[dict]) -> str:
    st = {r["status"] for r in rows}
    return "failed" if "failed" in st else ("ok" if "ok" in st else "infeasible")


def _failed_result(point: dict, out, error: str, timings: dict | None = None) -> dict:
    net_dir = _net_dir(out, point["id"])
    rows = []
    for tgt in point["targets"]:
        for dev in point["devices"]:
            row = _base_row(point, tgt, dev)
            row.update(status="failed", error=error, build=_rel(net_dir, out))
            rows.append(row)
    return {
        "id": point["id"],
        "key": point["key"],
        "status": "failed",
        "error": error,
        "rows": rows,
        "timings": timings if timings is not None else {},
    }


def run_net_point(point: dict, out: str) -> dict:
    """Train, export and compile one network point, then fold, cost, fit and verify each of its
    hardware points.  Never raises for a failure inside the point: the result (also written to
    ``<out>/nets/<id>/result.json``) records it.  torch runs on ``point["threads"]`` threads."""
    import torch

    t_start = time.perf_counter()
    out = Path(out)
    net_dir = _net_dir(out, point["id"])
    timings: dict = {}
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(int(point["threads"]))
    try:
        try:
            net = _build_network(point, net_dir, timings)
        except Exception as e:  # noqa: BLE001 - recorded, the sweep goes on
            result = _failed_result(point, out, _error_text(e), timings)
        else:
            verified: dict = {}
            rows = []
            t0 = time.perf_counter()
            for tgt in point["targets"]:
                for dev in point["devices"]:
                    try:
                        rows.append(_hardware_point(point, net, tgt, dev, verified, net_dir, out))
                    except Exception as e:  # noqa: BLE001
                        row = _base_row(point, tgt, dev)
                        row.update(status="failed", error=_error_text(e), build=_rel(net_dir, out))
                        rows.append(row)
            timings["verify_s"] = round(sum(v["seconds"] for v in verified.values()), 3)
            timings["hardware_s"] = round(time.perf_counter() - t0, 3)
            timings["foldings_verified"] = len(verified)
            errors = [r["error"] for r in rows if r["status"] == "failed"]
            result = {
                "id": point["id"],
                "key": point["key"],
                "status": _net_status(rows),
                "error": errors[0] if errors else "",
                "rows": rows,
                "timings": timings,
            }
    finally:
        torch.set_num_threads(prev_threads)
    timings["total_s"] = round(time.perf_counter() - t_start, 3)
    timings["pid"] = os.getpid()
    try:
        _write_json(net_dir / "result.json", result)
    except OSError:
        pass  # e.g. a cluster node without the shared folder: the driver writes it too
    return result


def _load_finished(point: dict, out) -> dict | None:
    """The stored result of a finished point with unchanged settings, else None."""
    path = _net_dir(out, point["id"]) / "result.json"
    try:
        res = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(res, dict) or res.get("key") != point["key"] or res.get("status") not in FINISHED:
        return None
    return res


# --------------------------------------------------------------------------------------
# engines


def _resolve_engine(engine: str, address: str | None) -> str:
    if engine not in ("auto", "ray", "serial"):
        raise HwBnnError(f"explore: engine {engine!r} is not auto, ray or serial")
    if engine == "serial":
        if address:
            raise HwBnnError("explore: --address connects to a Ray cluster; it needs --engine ray (or auto)")
        return "serial"
    try:
        import ray  # noqa: F401
    except ImportError:
        if engine == "ray" or address:
            raise HwBnnError(
                "explore: Ray is not installed (pip install 'ray>=2.9', or the project's ray extra); "
                "use --engine serial to run the sweep in this process"
            ) from None
        return "serial"
    return "ray"


def _run_serial(todo: list[dict], out: Path, on_done) -> None:
    for p in todo:
        on_done(p, run_net_point(p, str(out)))


def _run_ray(todo: list[dict], out: Path, on_done, address: str | None, workers: int | None, threads: int) -> dict:
    import logging

    import ray

    info = {}
    started = False
    if not ray.is_initialized():
        kw = {
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.ERROR,
            "configure_logging": True,
        }
        if address:
            kw["address"] = address
        ray.init(**kw)
        started = True
    try:
        info["ray_cpus"] = ray.cluster_resources().get("CPU")
        task = ray.remote(num_cpus=threads, max_retries=0)(run_net_point)
        queue = list(todo)
        pending: dict = {}
        cap = workers or len(queue)
        while queue or pending:
            while queue and len(pending) < cap:
                p = queue.pop(0)
                pending[task.remote(p, str(out))] = p
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                p = pending.pop(ref)
                try:
                    res = ray.get(ref)
                except Exception as e:  # noqa: BLE001 - a crashed worker, a lost node, ...
                    res = _failed_result(p, out, _error_text(e))
                on_done(p, res)
    finally:
        if started:
            ray.shutdown()
    return info


# --------------------------------------------------------------------------------------
# the sweep


@dataclass
class SweepResult:
    """What :func:`run_sweep` did: the table, failures, and where everything is."""

    rows: list[dict]
    failed: int  # hardware points with status "failed"
    failed_nets: list[str]
    ran: list[str]  # network points run now
    reused: list[str]  # finished network points taken from their result.json
    paths: dict[str, Path]
    engine: str
    seconds: float

    def count(self, status: str) -> int:
        return sum(r["status"] == status for r in self.rows)


def pareto_front(rows: list[dict], x: str, maximize_x: bool) -> set[str]:
    """Points of ``rows`` (status ok) not dominated in (accuracy up, ``x`` down or up)."""
    pts = [r for r in rows if r["status"] == "ok" and r.get("accuracy") is not None and r.get(x) is not None]
    sign = -1.0 if maximize_x else 1.0
    front = set()
    for r in pts:
        a, c = r["accuracy"], sign * r[x]
        if not any(q["accuracy"] >= a and sign * q[x] <= c and (q["accuracy"] > a or sign * q[x] < c) for q in pts):
            front.add(r["point"])
    return front


def run_sweep(
    spec,
    out,
    engine: str = "auto",
    address: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    force: bool = False,
) -> SweepResult:
    """Run a sweep (a spec file path, a dict or a :class:`SweepSpec`) into the folder ``out``.

    ``engine``: ``"ray"`` (Ray: a local embedded instance using every core, or the cluster at
    ``address``), ``"serial"`` (this process) or ``"auto"`` (Ray when importable).  ``workers``
    caps the network points in flight.  Finished points (``ok`` / ``infeasible`` with the same
    settings) are reused unless ``force``; failed points are run again.  Writes
    ``results.csv`` (+ ``results.parquet`` with pyarrow), ``results.json``, ``pareto_lut.png``,
    ``pareto_fps.png``, ``report.md``, ``report.html`` and ``spec.yaml``, each atomically."""
    from tqdm import tqdm

    t0 = time.perf_counter()
    s = load_spec(spec)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise HwBnnError(f"explore: workers must be an int >= 1, got {workers!r}")
    used = _resolve_engine(engine, address)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "spec.yaml", yaml.safe_dump(s.to_dict(), sort_keys=False))
    points = s.points()
    results: dict[str, dict] = {}
    todo = []
    for p in points:
        done = None if force else _load_finished(p, out)
        if done is not None:
            results[p["id"]] = done
        else:
            todo.append(p)
    reused = sorted(results)

    bar = tqdm(total=len(points), initial=len(reused), desc=f"explore {s.name}", unit="net", disable=not progress)

    def on_done(p: dict, res: dict) -> None:
        _write_json(_net_dir(out, p["id"]) / "result.json", res)
        results[p["id"]] = res
        if res["status"] == "failed" and progress:
            bar.write(f"[explore] {p['id']}: failed: {res['error']}")
        bar.set_postfix_str(f"{p['id']}: {res['status']}", refresh=False)
        bar.update(1)

    info: dict = {}
    try:
        if todo:
            if used == "ray":
                info = _run_ray(todo, out, on_done, address, workers, s.threads_per_point)
            else:
                _run_serial(todo, out, on_done)
    finally:
        bar.close()
    rows = sorted((r for res in results.values() for r in res["rows"]), key=lambda r: r["point"])
    for r in rows:
        for k in COLUMNS:
            r.setdefault(k, None)
    front_lut, front_fps = pareto_front(rows, "lut", False), pareto_front(rows, "fps", True)
    for r in rows:
        r["pareto_lut"] = r["point"] in front_lut
        r["pareto_fps"] = r["point"] in front_fps
    rows = [{k: r[k] for k in COLUMNS} for r in rows]
    seconds = time.perf_counter() - t0
    failed_nets = sorted(pid for pid, res in results.items() if res["status"] == "failed")
    timings = {
        "sweep_s": round(seconds, 3),
        "engine": used,
        "workers": workers,
        **info,
        "points": {pid: {**results[pid].get("timings", {}), "reused": pid in reused} for pid in sorted(results)},
    }
    paths = _write_outputs(s, out, rows, timings, failed_nets)
    return SweepResult(
        rows,
        sum(r["status"] == "failed" for r in rows),
        failed_nets,
        sorted(p["id"] for p in todo),
        reused,
        paths,
        used,
        seconds,
    )


# --------------------------------------------------------------------------------------
# outputs


def _csv_value(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _write_outputs(s: SweepSpec, out: Path, rows: list[dict], timings: dict, failed_nets: list[str]) -> dict[str, Path]:
    paths = {}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([_csv_value(r[k]) for k in COLUMNS])
    paths["csv"] = out / "results.csv"
    write_text_atomic(paths["csv"], buf.getvalue())
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        pass
    else:
        paths["parquet"] = out / "results.parquet"
        fd, tmp = tempfile.mkstemp(dir=out, prefix=".results.parquet.")
        os.close(fd)
        try:
            pq.write_table(pa.Table.from_pylist(rows), tmp)
            os.replace(tmp, paths["parquet"])
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    counts = {st: sum(r["status"] == st for r in rows) for st in STATUSES}
    paths["json"] = out / "results.json"
    _write_json(
        paths["json"],
        {
            "spec": s.to_dict(),
            "source": s.source,
            "columns": list(COLUMNS),
            "counts": counts,
            "failed_nets": failed_nets,
            "rows": rows,
            "timings": timings,
        },
    )
    paths["pareto_lut"] = out / "pareto_lut.png"
    _plot(rows, "lut", paths["pareto_lut"], "estimated LUTs", False, s.name)
    paths["pareto_fps"] = out / "pareto_fps.png"
    _plot(rows, "fps", paths["pareto_fps"], "frames per second (estimate)", True, s.name)
    paths["report_md"] = out / "report.md"
    write_text_atomic(paths["report_md"], _report_md(s, out, rows, counts))
    paths["report_html"] = out / "report.html"
    write_text_atomic(paths["report_html"], _report_html(s, out, rows, counts, paths))
    return paths


MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _plot(rows: list[dict], x: str, path: Path, xlabel: str, maximize_x: bool, title: str) -> None:
    from matplotlib.figure import Figure

    flag = "pareto_fps" if maximize_x else "pareto_lut"
    ok = [r for r in rows if r["status"] == "ok" and r.get(x) is not None and r.get("accuracy") is not None]
    devices = list(dict.fromkeys(r["device"] for r in rows))
    fig = Figure(figsize=(7.5, 4.8))
    ax = fig.subplots()
    for i, dev in enumerate(devices):
        pts = [r for r in ok if r["device"] == dev]
        if not pts:
            continue
        m = MARKERS[i % len(MARKERS)]
        rest = [r for r in pts if not r[flag]]
        front = [r for r in pts if r[flag]]
        size = max(90 - 28 * i, 20)  # devices often share a point: later markers drawn smaller, inside
        if rest:
            ax.scatter(
                [r[x] for r in rest],
                [r["accuracy"] for r in rest],
                marker=m,
                s=size,
                facecolors="none",
                edgecolors="0.45",
                label=f"{dev}",
                zorder=2 + i,
            )
        if front:
            ax.scatter(
                [r[x] for r in front],
                [r["accuracy"] for r in front],
                marker=m,
                s=size,
                facecolors="tab:red",
                edgecolors="darkred",
                label=f"{dev} (Pareto)",
                zorder=10 + i,
            )
    front = sorted((r for r in ok if r[flag]), key=lambda r: r[x])
    if front:
        ax.step(
            [r[x] for r in front],
            [r["accuracy"] for r in front],
            where="pre" if maximize_x else "post",
            color="tab:red",
            linewidth=1,
            alpha=0.7,
        )
        for r in front:
            ax.annotate(
                f"{r['net']} {r['target']}",
                (r[x], r["accuracy"]),
                fontsize=6,
                xytext=(3, 3),
                textcoords="offset points",
            )
    if not ok:
        ax.text(0.5, 0.5, "no feasible points", transform=ax.transAxes, ha="center", va="center")
    else:
        ax.set_xscale("log")
        ax.margins(x=0.12, y=0.08)
        ax.legend(fontsize=7, loc="best")
    acc_name = "test accuracy" if any(r.get("test_acc") is not None for r in ok) else "validation accuracy"
    ax.set_xlabel(xlabel + (" (higher is better)" if maximize_x else " (lower is better)"))
    ax.set_ylabel(acc_name)
    ax.set_title(f"{title}: {acc_name} vs {x.upper()}, {len(ok)} feasible hardware points")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    write_bytes_atomic(path, buf.getvalue())


def _fmt(v, kind: str = "") -> str:
    if v is None or v == "":
        return ""
    if kind == "acc":
        return f"{v:.4f}"
    if kind == "int":
        return f"{int(v):,}"
    if kind == "float":
        return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


TABLE = (  # (header, column, format)
    ("Pareto", None, ""),
    ("point", "point", ""),
    ("bits", "bits", ""),
    ("hidden", "hidden", ""),
    ("accuracy", "accuracy", "acc"),
    ("LUT", "lut", "int"),
    ("BRAM18", "bram18", "int"),
    ("DSP", "dsp", "int"),
    ("FPS", "fps", "float"),
    ("latency us", "latency_us", "float"),
    ("util %", "utilization_pct", "float"),
    ("fits", "fits", ""),
    ("C-sim mism.", "csim_mismatches", ""),
    ("status", "status", ""),
    ("build", "build", ""),
)


def _cells(r: dict) -> list[str]:
    out = []
    for _, col, kind in TABLE:
        if col is None:
            out.append(("L" if r["pareto_lut"] else "") + ("F" if r["pareto_fps"] else ""))
        else:
            out.append(_fmt(r[col], kind))
    return out


def _summary_line(s: SweepSpec, rows: list[dict], counts: dict) -> str:
    nets = len({r["net"] for r in rows})
    return (
        f"{nets} network points x {len(s.targets)} targets x {len(s.devices)} devices = {len(rows)} hardware points: "
        f"{counts['ok']} ok, {counts['infeasible']} infeasible, {counts['failed']} failed"
    )


def _report_md(s: SweepSpec, out: Path, rows: list[dict], counts: dict) -> str:
    md = [f"# Design-space exploration: {s.name}", ""]
    if s.description:
        md += [s.description, ""]
    md += [
        f"Spec: `{s.source}`. {_summary_line(s, rows, counts)}.",
        "",
        "Accuracy is the golden model's (bit-exact with the hardware) on every image of the test split when `data_dir` "
        "is given, else of the validation split. LUT / BRAM18 / DSP / FPS / latency are the FINN-R cost model's estimates "
        "(`hw_bnn.dse.cost`) of the fewest-LUT folding that meets the target and fits the device (`hw_bnn.dse.folding`). "
        "Pareto: **L** on the accuracy-vs-LUT front, **F** on the accuracy-vs-FPS front.",
        "",
        "## Sweep spec",
        "",
        "```yaml",
        yaml.safe_dump(s.to_dict(), sort_keys=False).rstrip(),
        "```",
        "",
        "## Pareto fronts",
        "",
        "![accuracy vs LUT](pareto_lut.png)",
        "",
        "![accuracy vs FPS](pareto_fps.png)",
        "",
        "## Points",
        "",
        "| " + " | ".join(h for h, _, _ in TABLE) + " |",
        "| " + " | ".join("---" for _ in TABLE) + " |",
    ]
    for r in rows:
        md.append("| " + " | ".join(c.replace("|", "\\|") for c in _cells(r)) + " |")
    bad = [r for r in rows if r["status"] != "ok"]
    if bad:
        md += ["", "## Infeasible and failed points", ""]
        for r in bad:
            md.append(f"- `{r['point']}` ({r['status']}): {r['error']}")
    md += [
        "",
        "## Picking a point",
        "",
        f"Every path in the `build` column is relative to `{out}`. A network point's folder `nets/<id>/` holds its recipe "
        "(`recipe.yaml`), `checkpoint.pt`, `exported.onnx`, `integer.onnx` and `golden.npz`; a verified folding's folder "
        "`nets/<id>/fold-<hash>/` holds `folding.json`, the hls4ml project `hls/` with that PE / SIMD and `verify.json` "
        "(golden vs C simulation). To take a point through the whole flow into a build of its own:",
        "",
        "```sh",
        "hw-bnn flow --model <out>/nets/<id>/recipe.yaml --out build/<id> --folding <out>/<build>/folding.json",
        "```",
        "",
    ]
    return "\n".join(md)


def _report_html(s: SweepSpec, out: Path, rows: list[dict], counts: dict, paths: dict) -> str:
    def img(p: Path) -> str:
        return f'<img alt="{p.name}" src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}">'

    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h, _, _ in TABLE)
    body = []
    for r in rows:
        cls = (
            ' class="pareto"'
            if r["pareto_lut"] or r["pareto_fps"]
            else (' class="failed"' if r["status"] == "failed" else "")
        )
        title = f' title="{e(r["error"])}"' if r["error"] else ""
        body.append(f"<tr{cls}{title}>" + "".join(f"<td>{e(c)}</td>" for c in _cells(r)) + "</tr>")
    errors = "".join(
        f"<li><code>{e(r['point'])}</code> ({e(r['status'])}): {e(r['error'])}</li>"
        for r in rows
        if r["status"] != "ok"
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>hw-bnn explore: {e(s.name)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }} table {{ border-collapse: collapse; font-size: 13px; }}
td, th {{ border: 1px solid #ccc; padding: 2px 6px; text-align: right; }} th {{ background: #eee; }}
tr.pareto {{ background: #fde8e8; }} tr.failed {{ color: #999; }} img {{ max-width: 48%; margin-right: 1%; }}
pre {{ background: #f6f6f6; padding: 0.5em; }}
</style></head><body>
<h1>Design-space exploration: {e(s.name)}</h1>
<p>{e(s.description)}</p>
<p>Spec: <code>{e(s.source)}</code>. {e(_summary_line(s, rows, counts))}. Rows on a Pareto front are shaded
(L: accuracy vs LUT, F: accuracy vs FPS). Build paths are relative to <code>{e(str(out))}</code>.</p>
<div>{img(paths["pareto_lut"])}{img(paths["pareto_fps"])}</div>
<h2>Points</h2>
<table><tr>{head}</tr>
{chr(10).join(body)}
</table>
{f"<h2>Infeasible and failed points</h2><ul>{errors}</ul>" if errors else ""}
<h2>Sweep spec</h2>
<pre>{e(yaml.safe_dump(s.to_dict(), sort_keys=False))}</pre>
</body></html>
"""


# --------------------------------------------------------------------------------------
# command line


EPILOG = """\
Examples:
  hw-bnn explore models/sweeps/mlp-digits.yaml --out build/sweep-digits
  hw-bnn explore models/sweeps/mnist-fc.yaml --out build/sweep --workers 4
  hw-bnn explore models/sweeps/mnist-fc.yaml --out /shared/sweep --address ray://head:10001

Outputs in --out: results.csv (+ results.parquet with pyarrow), results.json, pareto_lut.png,
pareto_fps.png, report.md, report.html, and nets/<point>/ (one flow build folder per network
point, fold-<hash>/ per verified folding).

Re-running the same command resumes: finished points (status ok or infeasible, same settings)
are never redone; failed points are re-tried.  --force redoes finished points too (their flow
stages are still skipped where the inputs are unchanged: delete nets/<point> to retrain).
The exit status is 1 when any point failed (after every point ran and every output is written).
"""


def add_explore_parser(sub) -> None:
    """Register ``hw-bnn explore`` on the CLI's subparsers."""
    p = sub.add_parser(
        "explore",
        help="design-space exploration: sweep recipes x bits x widths x targets x devices (Ray), Pareto fronts",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("spec", help="sweep spec YAML (examples: models/sweeps/*.yaml)")
    p.add_argument("--out", help="sweep folder (default: build/sweeps/<spec name>)")
    p.add_argument(
        "--engine",
        choices=["auto", "ray", "serial"],
        default="auto",
        help="auto (default): Ray when installed, else serial; ray: one Ray task per network point; serial: this process",
    )
    p.add_argument(
        "--address",
        help="Ray cluster address (e.g. ray://head:10001 or auto); default: a local Ray instance on every core",
    )
    p.add_argument(
        "--workers", type=int, help="at most this many network points at once (default: as many as Ray has CPUs)"
    )
    p.add_argument("--force", action="store_true", help="redo finished points too (failed points are always re-tried)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def cmd_explore(args) -> int:
    """``hw-bnn explore``: 0 when every point is ok or infeasible, 1 when any failed."""
    spec = load_spec(args.spec)
    out = args.out or str(Path("build") / "sweeps" / re.sub(r"[^A-Za-z0-9._-]", "_", spec.name))
    if args.workers is not None and args.workers < 1:
        raise HwBnnError(f"explore: --workers must be >= 1, got {args.workers}")
    res = run_sweep(
        spec,
        out,
        engine=args.engine,
        address=args.address,
        workers=args.workers,
        progress=not args.quiet,
        force=args.force,
    )
    counts = {st: res.count(st) for st in STATUSES}
    print(
        f"{spec.name}: {len(res.rows)} hardware points ({counts['ok']} ok, {counts['infeasible']} infeasible, "
        f"{counts['failed']} failed); {len(res.ran)} network points run, {len(res.reused)} reused; engine {res.engine}, "
        f"{res.seconds:.1f} s"
    )
    print(f"results: {res.paths['csv']}")
    print(f"report:  {res.paths['report_md']}")
    if res.failed_nets:
        print(f"failed network points (re-run to retry): {', '.join(res.failed_nets)}")
    return 1 if res.failed else 0

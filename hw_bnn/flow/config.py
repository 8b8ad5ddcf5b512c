"""The flow's settings: one :class:`FlowConfig`, saved as ``flow.json`` in the build folder.

A later command on the same folder starts from ``flow.json`` and applies only the options it is
given, so ``hw-bnn emit --out B --part ...`` keeps the model and data of ``hw-bnn flow --out B``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from hw_bnn.errors import BuildFolderError
from hw_bnn.files import write_text_atomic

STAGES = ("train", "export", "compile", "emit", "verify", "report")

# run-time switches, not settings of the build: never saved in flow.json
_NOT_SAVED = ("log", "force", "progress")


@dataclass
class FlowConfig:
    """Everything the stages need.  Saved as ``flow.json`` in the build folder."""

    model: str = "tfc-w1a1"
    out: str = "build/tfc-w1a1"
    data_dir: str | None = None  # IDX test set (official MNIST t10k) for held-out numbers
    epochs: int | None = None  # override the recipe's epochs
    backend: str = "Vitis"
    reuse_factor: int = 1
    folding: dict | None = None  # {matrix layer: {"PE": p, "SIMD": s}} (hw_bnn.dse.folding; None: fully parallel)
    part: str = "xc7z020clg400-1"
    clock_period: float = 10.0
    acc_bits: int | None = None
    verify_limit: int | None = None  # cap on images per split for every check (None: every image)
    csim_limit: int | None = None  # cap on images per split for the C simulation (None: every image)
    # fixed-point shortcuts (hw_bnn.compile.fixed_config.FixedPointConfig)
    fixed_frac: int = 12
    fixed_width: int | None = None
    fixed_rounding: str = "rnd_conv"
    fixed_overflow: str = "sat"
    force: bool = False
    progress: bool = True
    log: list = field(default_factory=list, repr=False)

    @property
    def build(self) -> Path:
        return Path(self.out)

    def fixed_config(self):
        from hw_bnn.compile.fixed_config import FixedPointConfig

        return FixedPointConfig(
            frac=int(self.fixed_frac),
            width=self.fixed_width,
            rounding=self.fixed_rounding,
            overflow=self.fixed_overflow,
        )

    def recipe(self):
        from hw_bnn.train.recipes import load_recipe

        r = load_recipe(self.model)
        if self.epochs is not None:
            r.train["epochs"] = int(self.epochs)
        return r

    def hls_settings(self) -> dict:
        """The settings of the emitted hls4ml project (``emit_project`` and ``load_csim`` keywords)."""
        return {
            "backend": self.backend,
            "reuse_factor": self.reuse_factor,
            "part": self.part,
            "clock_period": self.clock_period,
            "folding": self.folding,
        }

    def say(self, msg: str) -> None:
        """Record a stage message in ``log``; print it unless ``progress`` is off."""
        self.log.append(msg)
        if self.progress:
            print(msg, flush=True)

    def save(self) -> None:
        d = {k: v for k, v in asdict(self).items() if k not in _NOT_SAVED}
        self.build.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.build / "flow.json", json.dumps(d, indent=2))

    @classmethod
    def load(cls, out: str, **overrides) -> FlowConfig:
        """The config saved in ``<out>/flow.json`` (defaults when there is none), with the
        ``overrides`` that are not None applied."""
        path = Path(out) / "flow.json"
        d = {"out": out}
        if path.exists():
            try:
                d = json.loads(path.read_text())
            except json.JSONDecodeError as e:
                raise BuildFolderError(f"{path}: not JSON ({e}); delete it, or choose a new --out") from None
            known = {f.name for f in fields(cls)} - set(_NOT_SAVED)
            unknown = sorted(set(d) - known) if isinstance(d, dict) else ["(not an object)"]
            if unknown:
                raise BuildFolderError(
                    f"{path}: written by another hw-bnn version (unknown settings {', '.join(unknown)}); "
                    "choose a new --out"
                )
        d.update({k: v for k, v in overrides.items() if v is not None})
        d["out"] = out
        return cls(**d)

"""The flow's settings: one :class:`FlowConfig`, saved as ``flow.json`` in the build folder.

A later command on the same folder starts from ``flow.json`` and applies only the options it is
given, so ``hw-bnn emit --out B --part ...`` keeps the model and data of ``hw-bnn flow --out B``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, field, fields
from pathlib import Path
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator
from pydantic.dataclasses import dataclass

from hw_bnn.errors import BuildFolderError, HwBnnError, OptionError
from hw_bnn.schema import describe, did_you_mean

STAGES = ("train", "export", "compile", "emit", "verify", "rtlsim", "synth", "report")

# run-time switches, not settings of the build: never saved in flow.json
_NOT_SAVED = ("log", "force", "progress", "protect_edits", "read_only", "no_rtlsim")

Count = Annotated[int, Field(ge=1)]


@dataclass(config=ConfigDict(extra="forbid", strict=True, arbitrary_types_allowed=True))
class FlowConfig:
    """Everything the stages need, checked on construction (types and ranges; a bad value is an
    :class:`~hw_bnn.errors.OptionError` naming the setting).  Saved as ``flow.json``."""

    model: str = "tfc-w1a1"
    out: str = "build/tfc-w1a1"
    data_dir: str | None = None  # IDX test set (official MNIST t10k) for held-out numbers
    epochs: Annotated[int, Field(ge=1, le=10000)] | None = None  # override the recipe's epochs
    backend: Literal["Vitis", "Vivado"] = "Vitis"
    reuse_factor: Count = 1
    folding: dict | None = None  # {matrix layer: {"PE": p, "SIMD": s}} (hw_bnn.dse.folding; None: fully parallel)
    part: Annotated[str, Field(min_length=1)] = "xc7z020clg400-1"
    clock_period: Annotated[float, Field(gt=0, le=1000)] = 10.0
    acc_bits: Annotated[int, Field(ge=2, le=64)] | None = None
    input_domain: str = "pixels"  # the model's input from integer pixels (hw_bnn.compile.input_domain)
    verify_limit: Count | None = None  # cap on images per split for every check (None: every image)
    csim_limit: Annotated[int, Field(ge=0)] | None = None  # cap on C-simulated images per split (None: all)
    rtlsim_limit: Annotated[int, Field(ge=0)] | None = None  # cap on RTL-simulated images per split (None: all)
    synth: str | None = None  # Yosys targets of the synth stage, comma-separated (xc7, xcup, ecp5; None: skipped)
    # fixed-point shortcuts (hw_bnn.compile.fixed_config.FixedPointConfig)
    fixed_frac: Annotated[int, Field(ge=0, le=16)] = 12
    fixed_width: Annotated[int, Field(ge=2, le=24)] | None = None
    fixed_rounding: Literal["rnd_conv", "rnd", "trn"] = "rnd_conv"
    fixed_overflow: Literal["sat", "wrap"] = "sat"
    force: bool = False
    progress: bool = True
    protect_edits: bool = False  # an artifact edited by hand is an error, not rebuilt
    read_only: bool = False  # set by the build session for a folder the user cannot write
    no_rtlsim: bool = False  # this run skips the rtlsim stage
    log: list = field(default_factory=list, repr=False)

    @field_validator("out", "data_dir", "model", mode="before")
    @classmethod
    def _path_str(cls, v):
        return os.fspath(v) if isinstance(v, os.PathLike) else v

    @field_validator("input_domain")
    @classmethod
    def _input_domain(cls, v):
        from hw_bnn.compile.input_domain import InputDomain

        try:
            return InputDomain.parse(v).spelling()
        except HwBnnError as e:
            raise ValueError(str(e)) from None

    @field_validator("synth")
    @classmethod
    def _synth(cls, v):
        from hw_bnn.synth.yosys import TARGETS

        bad = [t for t in (v or "").split(",") if t.strip() and t.strip() not in TARGETS]
        if bad:
            raise ValueError(
                f"unknown synthesis target {bad[0]!r}: expected a comma-separated list of {', '.join(TARGETS)}"
            )
        return v

    @field_validator("folding")
    @classmethod
    def _folding(cls, v):
        from hw_bnn.dse.folding_file import check_folding

        return None if v is None else check_folding(v, "folding")

    @property
    def build(self) -> Path:
        return Path(self.out)

    def domain(self):
        """The input domain (:class:`hw_bnn.compile.input_domain.InputDomain`)."""
        from hw_bnn.compile.input_domain import InputDomain

        return InputDomain.parse(self.input_domain)

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

    def settings(self) -> dict:
        """The settings saved in ``flow.json`` (everything but the run-time switches)."""
        return {k: v for k, v in asdict(self).items() if k not in _NOT_SAVED}

    @classmethod
    def load(cls, out: str, **overrides) -> FlowConfig:
        """The config saved in ``<out>/flow.json`` (defaults when there is none), with the
        ``overrides`` that are not None applied; each checked against the schema."""
        path = Path(out) / "flow.json"
        d = {"out": out}
        if path.exists():
            try:
                d = json.loads(path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise BuildFolderError(f"{path}: not JSON ({e}); delete it, or choose a new --out") from None
            if not isinstance(d, dict):
                raise BuildFolderError(f"{path}: expected a mapping of settings; delete it, or choose a new --out")
            saved = cls._checked({**d, "out": os.fspath(out)}, str(path), BuildFolderError, saved=True)
            d = saved.settings()
        d.update({k: v for k, v in overrides.items() if v is not None})
        d["out"] = os.fspath(out)
        return cls._checked(d, "options", OptionError)

    @classmethod
    def _checked(cls, d: dict, source: str, error: type[HwBnnError], saved: bool = False) -> FlowConfig:
        """``cls(**d)``, or ``error`` naming ``source`` and each bad setting (``saved``: ``d`` is
        a ``flow.json``, which holds no run-time switches)."""
        known = {f.name for f in fields(cls)} - (set(_NOT_SAVED) if saved else set())
        unknown = sorted(set(d) - known)
        if unknown:
            said = ", ".join(k + did_you_mean(k, known) for k in unknown)
            hint = "; written by another hw-bnn version? delete it, or choose a new --out" if saved else ""
            raise error(f"{source}: unknown settings {said}{hint}")
        try:
            return cls(**d)
        except ValidationError as e:
            raise error(f"{source}: " + "; ".join(describe(cls, err) for err in e.errors()[:3])) from None
